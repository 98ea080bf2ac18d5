// Timers on the virtual clock: alarm, setitimer(ITIMER_REAL), timerfd
// (see timers.cpp).
#pragma once

#include "interpose/shim_internal.hpp"

namespace marionette::shim {

/// Descriptor bookkeeping for close and dup.
void forget_timer(long fd);
void copy_timer(long from, long to);

#define MARIONETTE_TIMER_HANDLERS(X) \
    X(alarm) X(setitimer) X(getitimer) X(timerfd_create) X(timerfd_settime) X(timerfd_gettime) X(pause) X(rt_sigsuspend) X(rt_sigtimedwait)

#define MARIONETTE_DECLARE_TIMER(name) long handle_##name(SyscallArgs& args);
MARIONETTE_TIMER_HANDLERS(MARIONETTE_DECLARE_TIMER)
#undef MARIONETTE_DECLARE_TIMER

}  // namespace marionette::shim
