// Calls that can block, under the scheduler (see blocking.hpp).
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include "interpose/blocking.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/sockets.hpp"

namespace marionette::shim {
namespace {

constexpr int max_external = 8;
struct FileId {
    unsigned long dev = 0;
    unsigned long ino = 0;
};
FileId external_files[max_external];
int external_count = 0;

long raw(const SyscallArgs& a) { return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); }

bool external(long fd) {
    struct stat st {};
    if (raw_syscall(SYS_fstat, fd, arg(&st)) != 0) return false;
    for (int i = 0; i < external_count; ++i) {
        if (external_files[i].dev == st.st_dev && external_files[i].ino == st.st_ino) return true;
    }
    return false;
}

bool nonblocking(long fd) {
    const long flags = raw_syscall(SYS_fcntl, fd, F_GETFL);
    return flags < 0 || (flags & O_NONBLOCK) != 0;
}

bool ready(long fd, short events) {
    pollfd p{static_cast<int>(fd), events, 0};
    return raw_syscall(SYS_poll, arg(&p), 1, 0) != 0;
}

/// Parks until `fd` may be ready for `events`; false if the wait cannot be
/// scheduled (the caller then blocks natively).
bool park_on(long fd, short events, wire::BlockWhat what) {
    const int descriptor = static_cast<int>(fd);
    return block(what, 0, 0, &descriptor, &events, 1) != -ENOSYS;
}

std::uint64_t deadline_after_ms(long timeout_ms) {
    if (timeout_ms < 0) return 0;
    return now_realtime_ns() + static_cast<std::uint64_t>(timeout_ms) * 1'000'000;
}

std::uint64_t deadline_after(const timespec* timeout) {
    if (timeout == nullptr) return 0;
    return now_realtime_ns() + static_cast<std::uint64_t>(timeout->tv_sec) * 1'000'000'000 +
           static_cast<std::uint64_t>(timeout->tv_nsec);
}

bool past(std::uint64_t deadline_ns) { return deadline_ns != 0 && now_realtime_ns() >= deadline_ns; }

/// Waits on a poll set through the scheduler: `check` is the call with a
/// zero timeout, returning non-zero when done.
template <typename Check>
long wait_for_set(const pollfd* set, unsigned long count, std::uint64_t deadline_ns, Check check) {
    int fds[wire::max_block_fds];
    short events[wire::max_block_fds];
    std::uint32_t n = 0;
    for (unsigned long i = 0; i < count; ++i) {
        if (set[i].fd < 0) continue;
        // Something outside the node can make it ready: wait natively.
        if (n == wire::max_block_fds || external(set[i].fd)) return -ENOSYS;
        fds[n] = set[i].fd;
        events[n] = static_cast<short>(set[i].events | POLLHUP | POLLERR);
        ++n;
    }
    for (;;) {
        const long woke = block(wire::BlockWhat::poll, deadline_ns, 0, fds, events, n);
        if (woke == -ENOSYS) return -ENOSYS;
        const long result = check();
        if (result != 0) return result;
        if (woke == -EINTR) return -EINTR;
        if (past(deadline_ns)) return 0;
    }
}

}  // namespace

void blocking_init() {
    // "dev:ino,dev:ino": the launcher's stdin and output pipes.
    const char* text = std::getenv("MARIONETTE_EXTERNAL_FILES");
    while (text != nullptr && *text != '\0' && external_count < max_external) {
        char* end = nullptr;
        const unsigned long dev = std::strtoul(text, &end, 10);
        if (end == nullptr || *end != ':') break;
        const unsigned long ino = std::strtoul(end + 1, &end, 10);
        external_files[external_count++] = {dev, ino};
        if (end == nullptr || *end != ',') break;
        text = end + 1;
    }
}

namespace {

/// Parks until `fd` is readable, unless it is non-blocking or fed from
/// outside the node (then the caller's call blocks, or not, natively).
void wait_readable(long fd) {
    if (!coordinated()) return;
    const bool sim = simulated_socket(fd);  // never external
    while (!ready(fd, POLLIN) && !nonblocking(fd) && (sim || !external(fd))) {
        if (!park_on(fd, POLLIN, wire::BlockWhat::read)) return;
    }
}

}  // namespace

long read_when_ready(SyscallArgs& a, long fd) {
    wait_readable(fd);
    // read(2)/readv(2) on a simulated socket: a reset says so at the end of
    // a stream; a datagram loses its address header.
    if ((a.nr == SYS_read || a.nr == SYS_readv) && simulated_socket(fd)) return sim_read(a);
    return raw(a);
}

long write_when_ready(SyscallArgs& a, long fd) {
    if (!coordinated()) return raw(a);
    // A simulated socket: never external, always a socket (sockets.cpp).
    if (simulated_socket(fd)) return sim_write(a);
    struct stat st {};
    if (raw_syscall(SYS_fstat, fd, arg(&st)) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return raw(a);
    const long flags = raw_syscall(SYS_fcntl, fd, F_GETFL);
    if (flags < 0 || (flags & O_NONBLOCK) != 0 || external(fd)) return raw(a);
    if (a.nr != SYS_write) {
        // writev: wait until some room, then the real call.
        while (!ready(fd, POLLOUT)) {
            if (!park_on(fd, POLLOUT, wire::BlockWhat::write)) break;
        }
        return raw(a);
    }
    // A write larger than the room in a pipe would block half-way in the
    // kernel, holding the run token: write what fits, park, go on.
    const auto* data = reinterpret_cast<const char*>(a.a[1]);
    const auto length = static_cast<unsigned long>(a.a[2]);
    raw_syscall(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
    unsigned long done = 0;
    long result = 0;
    while (done < length || length == 0) {
        const long n = raw_syscall(SYS_write, fd, arg(data + done), static_cast<long>(length - done));
        if (n > 0) {
            done += static_cast<unsigned long>(n);
            continue;
        }
        if (n == -EAGAIN) {
            // Give the descriptor back its flags while parked: the
            // readers that run meanwhile share this open file description.
            raw_syscall(SYS_fcntl, fd, F_SETFL, flags);
            const bool parked = park_on(fd, POLLOUT, wire::BlockWhat::write);
            raw_syscall(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
            if (parked) continue;
        }
        result = n;
        break;
    }
    raw_syscall(SYS_fcntl, fd, F_SETFL, flags);
    return done > 0 ? static_cast<long>(done) : result;
}

long scheduled_sleep(int clock_id, bool absolute, const TimeSpec& request, Ns& left_ns) {
    Kernel& kernel = locked_kernel();
    const Ns from = kernel.clock().elapsed_ns();
    Ns wake_elapsed = 0;
    const int result = kernel.sleep_until(clock_id, absolute, request, wake_elapsed);
    if (result != 0) return result;
    const std::uint64_t deadline = kernel.clock().options().start_realtime_ns + wake_elapsed;
    long woke = wire::woke_scheduled;
    // Woken early only by a signal; anything else sleeps on.
    while (now_realtime_ns() < deadline) {
        woke = block(wire::BlockWhat::sleep, deadline, 0, nullptr, nullptr, 0);
        if (woke == -EINTR || woke == -ENOSYS) break;
    }
    if (woke == -ENOSYS) {
        // Not scheduled (a thread other than the main one): the clock
        // jumps, and a short real pause keeps a sleeping loop from spinning.
        kernel.catch_up(wake_elapsed);
        const timespec pause{0, 1'000'000};
        raw_syscall(SYS_nanosleep, arg(&pause), 0);
    }
    kernel.note_slept(clock_id, absolute, from);
    const Ns now_elapsed = kernel.clock().elapsed_ns();
    left_ns = wake_elapsed > now_elapsed ? wake_elapsed - now_elapsed : 0;
    return woke == -EINTR ? -EINTR : 0;
}

// --- poll, select, epoll -----------------------------------------------------------

long handle_poll(SyscallArgs& a) {
    auto* set = reinterpret_cast<pollfd*>(a.a[0]);
    const auto count = static_cast<unsigned long>(a.a[1]);
    const long timeout_ms = static_cast<int>(a.a[2]);
    if (!coordinated()) return raw(a);
    const long first = raw_syscall(SYS_poll, a.a[0], a.a[1], 0);
    if (first != 0 || timeout_ms == 0) return first;
    const long result = wait_for_set(set, count, deadline_after_ms(timeout_ms),
                                     [&] { return raw_syscall(SYS_poll, a.a[0], a.a[1], 0); });
    return result == -ENOSYS ? raw(a) : result;
}

long handle_ppoll(SyscallArgs& a) {
    auto* set = reinterpret_cast<pollfd*>(a.a[0]);
    const auto* timeout = reinterpret_cast<const timespec*>(a.a[2]);
    if (!coordinated()) return raw(a);
    const timespec zero{0, 0};
    auto check = [&] { return raw_syscall(SYS_ppoll, a.a[0], a.a[1], arg(&zero), a.a[3], a.a[4]); };
    const long first = check();
    if (first != 0 || (timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) return first;
    const long result = wait_for_set(set, static_cast<unsigned long>(a.a[1]), deadline_after(timeout), check);
    return result == -ENOSYS ? raw(a) : result;
}

namespace {

/// select and pselect6 share this: the sets are kept so each retry starts
/// from what the caller asked.
template <typename Check>
long select_common(SyscallArgs& a, std::uint64_t deadline_ns, bool zero_timeout, Check check) {
    const int count = static_cast<int>(a.a[0]);
    if (count < 0 || count > FD_SETSIZE) return raw(a);
    fd_set* sets[3] = {reinterpret_cast<fd_set*>(a.a[1]), reinterpret_cast<fd_set*>(a.a[2]),
                       reinterpret_cast<fd_set*>(a.a[3])};
    fd_set saved[3];
    for (int i = 0; i < 3; ++i) {
        if (sets[i] != nullptr) saved[i] = *sets[i];
    }
    auto restore = [&] {
        for (int i = 0; i < 3; ++i) {
            if (sets[i] != nullptr) *sets[i] = saved[i];
        }
    };
    const long first = check();
    if (first != 0 || zero_timeout) return first;
    pollfd set[wire::max_block_fds];
    unsigned long n = 0;
    for (int fd = 0; fd < count; ++fd) {
        short events = 0;
        if (sets[0] != nullptr && FD_ISSET(fd, &saved[0])) events |= POLLIN;
        if (sets[1] != nullptr && FD_ISSET(fd, &saved[1])) events |= POLLOUT;
        if (sets[2] != nullptr && FD_ISSET(fd, &saved[2])) events |= POLLPRI;
        if (events == 0) continue;
        if (n == wire::max_block_fds) return restore(), raw(a);
        set[n++] = {fd, events, 0};
    }
    const long result = wait_for_set(set, n, deadline_ns, [&] {
        restore();
        return check();
    });
    if (result == -ENOSYS) {
        restore();
        return raw(a);
    }
    return result;
}

}  // namespace

long handle_select(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    auto* timeout = reinterpret_cast<timeval*>(a.a[4]);
    std::uint64_t deadline = 0;
    if (timeout != nullptr) {
        deadline = now_realtime_ns() + static_cast<std::uint64_t>(timeout->tv_sec) * 1'000'000'000 +
                   static_cast<std::uint64_t>(timeout->tv_usec) * 1000;
    }
    const bool zero = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_usec == 0;
    const long result = select_common(a, deadline, zero, [&] {
        timeval none{0, 0};
        return raw_syscall(SYS_select, a.a[0], a.a[1], a.a[2], a.a[3], arg(&none));
    });
    if (result == 0 && timeout != nullptr) *timeout = timeval{};  // Linux reports the time left
    return result;
}

long handle_pselect6(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    const auto* timeout = reinterpret_cast<const timespec*>(a.a[4]);
    const bool zero = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0;
    return select_common(a, deadline_after(timeout), zero, [&] {
        const timespec none{0, 0};
        return raw_syscall(SYS_pselect6, a.a[0], a.a[1], a.a[2], a.a[3], arg(&none), a.a[5]);
    });
}

namespace {

long epoll_common(SyscallArgs& a, long timeout_ms) {
    if (!coordinated()) return raw(a);
    auto check = [&] {
        return a.nr == SYS_epoll_wait ? raw_syscall(SYS_epoll_wait, a.a[0], a.a[1], a.a[2], 0)
                                      : raw_syscall(SYS_epoll_pwait, a.a[0], a.a[1], a.a[2], 0, a.a[4], a.a[5]);
    };
    const long first = check();
    if (first != 0 || timeout_ms == 0) return first;
    // An epoll descriptor is itself readable when an event is ready.
    const pollfd set{static_cast<int>(a.a[0]), POLLIN, 0};
    const long result = wait_for_set(&set, 1, deadline_after_ms(timeout_ms), check);
    return result == -ENOSYS ? raw(a) : result;
}

}  // namespace

long handle_epoll_wait(SyscallArgs& a) { return epoll_common(a, static_cast<int>(a.a[3])); }
long handle_epoll_pwait(SyscallArgs& a) { return epoll_common(a, static_cast<int>(a.a[3])); }

// --- children ------------------------------------------------------------------------

long handle_wait4(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    const long pid = static_cast<int>(a.a[0]);
    const long options = static_cast<int>(a.a[2]);
    long real_target = pid;
    if (pid > 0) {
        real_target = translate_pid(pid, 0);
        if (real_target < 0) return -ECHILD;
    }
    for (;;) {
        const long got = raw_syscall(SYS_wait4, real_target, a.a[1], options | WNOHANG, a.a[3]);
        if (got > 0) {
            const bool reaped = (options & WNOWAIT) == 0;
            const long pid_seen = translate_pid(got, reaped ? 2 : 1);
            return pid_seen > 0 ? pid_seen : got;
        }
        if (got < 0 || (options & WNOHANG) != 0) return got;
        const long woke = block(wire::BlockWhat::wait_child, 0, pid > 0 ? pid : -1, nullptr, nullptr, 0);
        if (woke == -ENOSYS) return raw(a);
        // A signal's handler has run (restarted as with SA_RESTART).
    }
}

long handle_waitid(SyscallArgs& a) {
    if (!coordinated()) return raw(a);
    const long type = a.a[0];
    const long id = static_cast<int>(a.a[1]);
    auto* info = reinterpret_cast<siginfo_t*>(a.a[2]);
    const long options = static_cast<int>(a.a[3]);
    long real_id = id;
    if (type == P_PID) {
        real_id = translate_pid(id, 0);
        if (real_id < 0) return -ECHILD;
    }
    for (;;) {
        if (info != nullptr) std::memset(info, 0, sizeof *info);
        const long got = raw_syscall(SYS_waitid, type, real_id, a.a[2], options | WNOHANG, a.a[4]);
        if (got < 0) return got;
        if (info != nullptr && info->si_pid != 0) {
            const bool reaped = (options & WNOWAIT) == 0 && (options & WEXITED) != 0;
            const long pid_seen = translate_pid(info->si_pid, reaped ? 2 : 1);
            if (pid_seen > 0) info->si_pid = static_cast<pid_t>(pid_seen);
            return got;
        }
        if ((options & WNOHANG) != 0 || info == nullptr) return got;
        const long woke = block(wire::BlockWhat::wait_child, 0, type == P_PID ? id : -1, nullptr, nullptr, 0);
        if (woke == -ENOSYS) return raw(a);
    }
}

// --- sockets (real ones: loopback between processes of the node) -----------------

long handle_accept(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) return sim_accept(a, 0);
    return read_when_ready(a, a.a[0]);
}

long handle_accept4(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) return sim_accept(a, static_cast<int>(a.a[3]));
    return read_when_ready(a, a.a[0]);
}

namespace {

/// recv on a descriptor: parks until readable unless told not to wait,
/// then the plain call (or the simulated socket's).
long receive(SyscallArgs& a, long flags, long (*simulated)(SyscallArgs&)) {
    if ((flags & MSG_DONTWAIT) == 0) wait_readable(a.a[0]);
    return simulated_socket(a.a[0]) ? simulated(a) : raw(a);
}

}  // namespace

long handle_recvfrom(SyscallArgs& a) { return receive(a, a.a[3], &sim_recvfrom); }

long handle_recvmmsg(SyscallArgs& a) {
    if (!simulated_socket(a.a[0])) {
        if ((a.a[3] & MSG_DONTWAIT) == 0) wait_readable(a.a[0]);
        return raw(a);
    }
    // The simulated socket's recvmsg per message: the first waits as asked,
    // the others take only what is there.
    auto* messages = reinterpret_cast<mmsghdr*>(a.a[1]);
    const auto count = static_cast<unsigned>(a.a[2]);
    unsigned got = 0;
    for (; got < count; ++got) {
        const long flags = got == 0 ? a.a[3] : (a.a[3] | MSG_DONTWAIT);
        SyscallArgs one{SYS_recvmsg, {a.a[0], reinterpret_cast<long>(&messages[got].msg_hdr), flags, 0, 0, 0}, nullptr};
        const long n = receive(one, flags, &sim_recvmsg);
        if (n < 0) return got > 0 ? static_cast<long>(got) : n;
        messages[got].msg_len = static_cast<unsigned>(n);
    }
    return got;
}
long handle_recvmsg(SyscallArgs& a) { return receive(a, a.a[2], &sim_recvmsg); }

}  // namespace marionette::shim
