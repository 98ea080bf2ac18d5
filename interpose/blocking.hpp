// Calls that can block, under the scheduler (docs/processes.md).
//
// A process holds the run token while it runs natively; before a call that
// would block in the real kernel it checks (without blocking) whether the
// call can complete. If not, it parks in the coordinator with what it waits
// for — a deadline, a child, descriptors to poll — so another process runs,
// and retries when the scheduler resumes it. Descriptors that can be fed
// from outside the node (the launcher's stdin, stdout and stderr) block
// natively: nothing inside the node can make them ready. Without a
// coordinator every handler is the plain call.
#pragma once

#include "interpose/shim_internal.hpp"
#include "sim/kernel/clock.hpp"

namespace marionette::shim {

/// Reads the descriptors that belong to the outside world.
void blocking_init();

/// read/readv/recvfrom/recvmsg/accept on a real descriptor.
long read_when_ready(SyscallArgs& args, long fd);
/// write/writev on a real descriptor (pipes and sockets inside the node).
long write_when_ready(SyscallArgs& args, long fd);
/// A sleep until `request` on `clock_id`, scheduled. On -EINTR (a signal)
/// `left_ns` is the part of the sleep not slept.
long scheduled_sleep(int clock_id, bool absolute, const TimeSpec& request, Ns& left_ns);

#define MARIONETTE_BLOCKING_HANDLERS(X) \
    X(poll) X(ppoll) X(select) X(pselect6) X(epoll_wait) X(epoll_pwait) X(wait4) X(waitid) X(accept) X(accept4) \
    X(recvfrom) X(recvmsg) X(recvmmsg)

#define MARIONETTE_DECLARE_BLOCKING(name) long handle_##name(SyscallArgs& args);
MARIONETTE_BLOCKING_HANDLERS(MARIONETTE_DECLARE_BLOCKING)
#undef MARIONETTE_DECLARE_BLOCKING

}  // namespace marionette::shim
