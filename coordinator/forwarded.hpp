// The coordinator's handlers for forwarded file syscalls (private).
//
// One small function per syscall, found through a table keyed by syscall
// number (the same numbers as the marshalling table in
// include/marionette/wire.hpp). Each reads its raw arguments and input
// buffers from a CallContext and answers through the process's
// ProcessFiles, writing any output into the context's buffer.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "marionette/wire.hpp"
#include "sim/vfs/vfs.hpp"

namespace marionette::detail {

struct CallContext {
    ProcessFiles& files;
    const wire::SyscallRequest& request;
    std::span<const std::byte> in[2];
    std::vector<std::byte>& out;  ///< sized to the caller's capacity
    std::size_t out_size = 0;     ///< bytes of `out` to send back
    bool passthrough = false;     ///< the path was not simulated after all

    long arg(int i) const { return static_cast<long>(request.args[i]); }
    int fd_arg(int i) const { return static_cast<int>(request.args[i]); }
    /// Input buffer `which` as a path (its trailing NUL dropped); empty if
    /// none was sent.
    std::string_view path(int which) const;
    /// Routes `path` against `dirfd`; marks the call passthrough when the
    /// route is not simulated (the shim then issues it for real).
    Route route(int dirfd, std::string_view path);
    /// True if `r` names a host file the run never changed (the real
    /// kernel serves reads and stats of it).
    bool host_file_unchanged(const Route& r) const;
    /// Copies `bytes` into the output buffer (bounded by its capacity).
    void put(const void* bytes, std::size_t n);
};

/// Runs the handler for request.nr; -ENOSYS if there is none.
long run_forwarded(CallContext& ctx);

}  // namespace marionette::detail
