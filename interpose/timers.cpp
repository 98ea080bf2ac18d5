// Timers on the virtual clock (see wire::TimerOp): alarm and
// setitimer(ITIMER_REAL) ask the scheduler for SIGALRM at a virtual time; a
// timerfd is an eventfd to which the scheduler adds the expirations when
// virtual time reaches them, so read, poll and epoll on it work natively.
// Without a coordinator the real calls run (real time: an escape the docs
// name). ITIMER_VIRTUAL and ITIMER_PROF measure real CPU time and pass
// through.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/timers.hpp"

namespace marionette::shim {
namespace {

constexpr long max_timer_fd = 4096;
constexpr Ns ns_per_second = 1'000'000'000;

struct TimerFd {
    std::atomic<std::uint64_t> id{0};
    std::atomic<int> clock{0};
};
TimerFd timer_fds[max_timer_fd];
std::atomic<std::uint64_t> timer_counter{0};

long raw(const SyscallArgs& a) { return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); }

TimerFd* find(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    if (fd < 0 || fd >= max_timer_fd || timer_fds[fd].id.load(std::memory_order_relaxed) == 0) return nullptr;
    return &timer_fds[fd];
}

Ns to_ns(const timespec& t) { return static_cast<Ns>(t.tv_sec) * ns_per_second + static_cast<Ns>(t.tv_nsec); }
Ns to_ns(const timeval& t) { return static_cast<Ns>(t.tv_sec) * ns_per_second + static_cast<Ns>(t.tv_usec) * 1000; }
timespec to_timespec(Ns ns) { return {static_cast<time_t>(ns / ns_per_second), static_cast<long>(ns % ns_per_second)}; }
timeval to_timeval(Ns ns) {
    return {static_cast<time_t>(ns / ns_per_second), static_cast<suseconds_t>((ns % ns_per_second + 999) / 1000)};
}

long alarm_call(Ns value_ns, Ns interval_ns, bool set, wire::TimerAnswer& previous) {
    wire::TimerRequest request;
    request.op = set ? wire::TimerOp::alarm_set : wire::TimerOp::alarm_get;
    request.value_ns = value_ns;
    request.interval_ns = interval_ns;
    return timer_call(request, -1, previous);
}

}  // namespace

void forget_timer(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    if (fd >= 0 && fd < max_timer_fd) timer_fds[fd].id.store(0, std::memory_order_relaxed);
}

void copy_timer(long from, long to_arg) {
    const long to = static_cast<int>(to_arg);
    if (to < 0 || to >= max_timer_fd) return;
    const TimerFd* source = find(from);
    timer_fds[to].clock.store(source != nullptr ? source->clock.load() : 0, std::memory_order_relaxed);
    timer_fds[to].id.store(source != nullptr ? source->id.load() : 0, std::memory_order_relaxed);
}

long handle_pause(SyscallArgs& a) {
    // Parked until a signal (an alarm, a kill from another process) wakes it.
    if (!coordinated()) return raw(a);
    for (;;) {
        const long woke = block(wire::BlockWhat::signal, 0, 0, nullptr, nullptr, 0);
        if (woke == -ENOSYS) return raw(a);
        if (woke == -EINTR) return -EINTR;
    }
}

long handle_rt_sigsuspend(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    const auto* mask = reinterpret_cast<const std::uint64_t*>(a.a[0]);
    for (;;) {
        // A signal the new mask lets through is pending: the real call
        // returns at once, after its handler.
        std::uint64_t pending = 0;
        raw_syscall(SYS_rt_sigpending, arg(&pending), sizeof pending);
        if (mask == nullptr || (pending & ~*mask) != 0) return raw(a);
        const long woke = block(wire::BlockWhat::signal, 0, 0, nullptr, nullptr, 0);
        if (woke == -ENOSYS) return raw(a);
    }
}

long handle_rt_sigtimedwait(SyscallArgs& a) {
    // sigwait, sigwaitinfo, sigtimedwait: the real call never blocks; in
    // between, the thread is parked until a signal reaches its process or
    // the timeout passes on the virtual clock.
    if (!coordinated()) return raw(a);
    std::uint64_t deadline = 0;
    if (const auto* timeout = reinterpret_cast<const timespec*>(a.a[2]); timeout != nullptr) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000) return -EINVAL;
        deadline = now_realtime_ns() + static_cast<std::uint64_t>(timeout->tv_sec) * 1'000'000'000 +
                   static_cast<std::uint64_t>(timeout->tv_nsec);
    }
    const timespec now_only{0, 0};
    for (;;) {
        const long taken = raw_syscall(SYS_rt_sigtimedwait, a.a[0], a.a[1], arg(&now_only), a.a[3]);
        if (taken != -EAGAIN) return taken;
        if (deadline != 0 && now_realtime_ns() >= deadline) return -EAGAIN;
        const long woke = block(wire::BlockWhat::signal, deadline, 0, nullptr, nullptr, 0);
        if (woke == -ENOSYS) return raw(a);
        if (woke == -EINTR) {
            // Woken by a signal the set does not name: its handler runs.
            const long again = raw_syscall(SYS_rt_sigtimedwait, a.a[0], a.a[1], arg(&now_only), a.a[3]);
            return again == -EAGAIN ? -EINTR : again;
        }
    }
}

long handle_alarm(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    wire::TimerAnswer previous;
    const long result = alarm_call(static_cast<Ns>(static_cast<unsigned>(a.a[0])) * ns_per_second, 0, true, previous);
    if (result < 0) return result;
    // As Linux: seconds left, rounded to the nearest, but never 0 for a
    // pending alarm.
    const Ns left = previous.remaining_ns;
    long seconds = static_cast<long>(left / ns_per_second) + ((left % ns_per_second) >= ns_per_second / 2 ? 1 : 0);
    if (seconds == 0 && left != 0) seconds = 1;
    return seconds;
}

long handle_setitimer(SyscallArgs& a) {
    if (!coordinated() || static_cast<int>(a.a[0]) != ITIMER_REAL) return raw(a);
    const auto* value = reinterpret_cast<const itimerval*>(a.a[1]);
    auto* old = reinterpret_cast<itimerval*>(a.a[2]);
    wire::TimerAnswer previous;
    const Ns initial = value != nullptr ? to_ns(value->it_value) : 0;
    const Ns interval = value != nullptr ? to_ns(value->it_interval) : 0;
    const long result = alarm_call(initial, interval, true, previous);
    if (result < 0) return result;
    if (old != nullptr) *old = {to_timeval(previous.interval_ns), to_timeval(previous.remaining_ns)};
    return 0;
}

long handle_getitimer(SyscallArgs& a) {
    if (!coordinated() || static_cast<int>(a.a[0]) != ITIMER_REAL) return raw(a);
    auto* current = reinterpret_cast<itimerval*>(a.a[1]);
    wire::TimerAnswer now;
    const long result = alarm_call(0, 0, false, now);
    if (result < 0) return result;
    if (current != nullptr) *current = {to_timeval(now.interval_ns), to_timeval(now.remaining_ns)};
    return 0;
}

long handle_timerfd_create(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    const int clock = static_cast<int>(a.a[0]);
    const long flags = static_cast<int>(a.a[1]);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME && clock != CLOCK_REALTIME_ALARM &&
        clock != CLOCK_BOOTTIME_ALARM) {
        return -EINVAL;
    }
    const long fd = raw_syscall(SYS_eventfd2, 0, ((flags & TFD_NONBLOCK) != 0 ? EFD_NONBLOCK : 0) | ((flags & TFD_CLOEXEC) != 0 ? EFD_CLOEXEC : 0));
    if (fd < 0) return fd;
    if (fd >= max_timer_fd) {
        raw_syscall(SYS_close, fd);
        return -EMFILE;
    }
    // Unique on the node and the same in every run: our virtual pid and a
    // counter.
    const auto pid = static_cast<std::uint64_t>(locked_kernel().pid());
    const std::uint64_t id = (pid << 32) | (timer_counter.fetch_add(1) + 1);
    timer_fds[fd].clock.store(clock, std::memory_order_relaxed);
    timer_fds[fd].id.store(id, std::memory_order_relaxed);
    return fd;
}

long handle_timerfd_settime(SyscallArgs& a) {
    TimerFd* timer = find(a.a[0]);
    if (timer == nullptr) return raw(a);
    const auto* value = reinterpret_cast<const itimerspec*>(a.a[2]);
    auto* old = reinterpret_cast<itimerspec*>(a.a[3]);
    if (value == nullptr) return -EFAULT;
    Ns initial = to_ns(value->it_value);
    if ((a.a[1] & TFD_TIMER_ABSTIME) != 0 && initial != 0) {
        // An absolute time on the timer's clock: how far ahead it is now.
        TimeSpec now;
        locked_kernel().clock().read(timer->clock.load(), now);
        const Ns current = static_cast<Ns>(now.sec) * ns_per_second + static_cast<Ns>(now.nsec);
        initial = initial > current ? initial - current : 1;
    }
    // Re-arming resets the expiration count, as timerfd_settime does.
    std::uint64_t drained;
    const long flags = raw_syscall(SYS_fcntl, a.a[0], F_GETFL);
    raw_syscall(SYS_fcntl, a.a[0], F_SETFL, flags | O_NONBLOCK);
    raw_syscall(SYS_read, a.a[0], arg(&drained), sizeof drained);
    raw_syscall(SYS_fcntl, a.a[0], F_SETFL, flags);
    wire::TimerRequest request;
    request.op = wire::TimerOp::timerfd_set;
    request.timer = timer->id.load();
    request.value_ns = initial;
    request.interval_ns = to_ns(value->it_interval);
    wire::TimerAnswer previous;
    const long result = timer_call(request, static_cast<int>(a.a[0]), previous);
    if (result < 0) return result;
    if (old != nullptr) *old = {to_timespec(previous.interval_ns), to_timespec(previous.remaining_ns)};
    return 0;
}

long handle_timerfd_gettime(SyscallArgs& a) {
    TimerFd* timer = find(a.a[0]);
    if (timer == nullptr) return raw(a);
    auto* current = reinterpret_cast<itimerspec*>(a.a[1]);
    wire::TimerRequest request;
    request.op = wire::TimerOp::timerfd_get;
    request.timer = timer->id.load();
    wire::TimerAnswer now;
    const long result = timer_call(request, -1, now);
    if (result < 0) return result;
    if (current != nullptr) *current = {to_timespec(now.interval_ns), to_timespec(now.remaining_ns)};
    return 0;
}

}  // namespace marionette::shim
