// The fast path: exported libc symbols that shadow glibc's for time,
// randomness and identity. Each is a one-line translation to the same
// dispatch the seccomp trap uses (shim_internal.hpp), so behaviour cannot
// differ by path. Signatures and exception specifications match glibc's
// declarations exactly.
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/select.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "interpose/shim.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim_internal.hpp"

using marionette::shim::invoke;
using marionette::shim::libc_result;

namespace {

constexpr long us_per_s = 1'000'000;
constexpr long ns_per_us = 1'000;

int as_int(long value) { return static_cast<int>(value); }

/// Fills `length` bytes through getrandom; arc4random never fails.
void random_bytes(void* buffer, std::size_t length) {
    auto* bytes = static_cast<unsigned char*>(buffer);
    while (length > 0) {
        const long got = invoke(SYS_getrandom, reinterpret_cast<long>(bytes), static_cast<long>(length), 0);
        if (got <= 0) return;
        bytes += got;
        length -= static_cast<std::size_t>(got);
    }
}

}  // namespace

MARIONETTE_EXPORT int clock_gettime(clockid_t clock_id, struct timespec* ts) noexcept {
    return as_int(libc_result(invoke(SYS_clock_gettime, clock_id, reinterpret_cast<long>(ts))));
}

MARIONETTE_EXPORT int clock_getres(clockid_t clock_id, struct timespec* ts) noexcept {
    return as_int(libc_result(invoke(SYS_clock_getres, clock_id, reinterpret_cast<long>(ts))));
}

MARIONETTE_EXPORT int gettimeofday(struct timeval* tv, void* tz) noexcept {
    return as_int(libc_result(invoke(SYS_gettimeofday, reinterpret_cast<long>(tv), reinterpret_cast<long>(tz))));
}

MARIONETTE_EXPORT time_t time(time_t* out) noexcept { return invoke(SYS_time, reinterpret_cast<long>(out)); }

MARIONETTE_EXPORT int nanosleep(const struct timespec* request, struct timespec* remaining) {
    return as_int(libc_result(invoke(SYS_nanosleep, reinterpret_cast<long>(request), reinterpret_cast<long>(remaining))));
}

MARIONETTE_EXPORT int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec* request, struct timespec* remaining) {
    // clock_nanosleep returns the error number instead of setting errno.
    const long result = invoke(SYS_clock_nanosleep, clock_id, flags, reinterpret_cast<long>(request), reinterpret_cast<long>(remaining));
    return result < 0 ? as_int(-result) : 0;
}

MARIONETTE_EXPORT unsigned sleep(unsigned seconds) {
    const timespec request{static_cast<time_t>(seconds), 0};
    timespec left{};
    // Cut short by a signal: the seconds left, rounded as glibc does.
    if (invoke(SYS_nanosleep, reinterpret_cast<long>(&request), reinterpret_cast<long>(&left)) == -EINTR) {
        return static_cast<unsigned>(left.tv_sec + (left.tv_nsec >= 500'000'000L ? 1 : 0));
    }
    return 0;
}

MARIONETTE_EXPORT int usleep(useconds_t microseconds) {
    const timespec request{static_cast<time_t>(microseconds / us_per_s), static_cast<long>(microseconds % us_per_s) * ns_per_us};
    return as_int(libc_result(invoke(SYS_nanosleep, reinterpret_cast<long>(&request), 0)));
}

// poll/select with no descriptors are sleeps (a common idiom); with
// descriptors they go to the same handlers the trap uses (blocking.cpp).
MARIONETTE_EXPORT int poll(struct pollfd* fds, nfds_t count, int timeout_ms) {
    if (count == 0 && timeout_ms >= 0) {
        const timespec request{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * ns_per_us * 1000};
        return as_int(libc_result(invoke(SYS_nanosleep, reinterpret_cast<long>(&request), 0)));
    }
    return as_int(libc_result(invoke(SYS_poll, reinterpret_cast<long>(fds), static_cast<long>(count), timeout_ms)));
}

MARIONETTE_EXPORT int select(int count, fd_set* read_set, fd_set* write_set, fd_set* error_set, struct timeval* timeout) {
    if (count == 0 && timeout != nullptr) {
        const timespec request{timeout->tv_sec, static_cast<long>(timeout->tv_usec) * ns_per_us};
        const long result = invoke(SYS_nanosleep, reinterpret_cast<long>(&request), 0);
        if (result != 0) return as_int(libc_result(result));
        *timeout = timeval{};  // Linux reports the time left: none
        return 0;
    }
    return as_int(libc_result(invoke(SYS_select, count, reinterpret_cast<long>(read_set), reinterpret_cast<long>(write_set),
                                     reinterpret_cast<long>(error_set), reinterpret_cast<long>(timeout))));
}

// The data path of pipes and sockets: direct calls skip the trap (libc's
// own calls still reach the same handlers through it).
MARIONETTE_EXPORT ssize_t write(int fd, const void* buffer, std::size_t length) {
    return libc_result(invoke(SYS_write, fd, reinterpret_cast<long>(buffer), static_cast<long>(length)));
}

// The data path of files, the calls databases make most: also without the
// trap when called directly.
MARIONETTE_EXPORT ssize_t pread(int fd, void* buffer, std::size_t length, off_t offset) {
    return libc_result(invoke(SYS_pread64, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), offset));
}

MARIONETTE_EXPORT ssize_t pread64(int fd, void* buffer, std::size_t length, off_t offset) {
    return libc_result(invoke(SYS_pread64, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), offset));
}

MARIONETTE_EXPORT ssize_t pwrite(int fd, const void* buffer, std::size_t length, off_t offset) {
    return libc_result(invoke(SYS_pwrite64, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), offset));
}

MARIONETTE_EXPORT ssize_t pwrite64(int fd, const void* buffer, std::size_t length, off_t offset) {
    return libc_result(invoke(SYS_pwrite64, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), offset));
}

MARIONETTE_EXPORT int fsync(int fd) { return as_int(libc_result(invoke(SYS_fsync, fd))); }
MARIONETTE_EXPORT int fdatasync(int fd) { return as_int(libc_result(invoke(SYS_fdatasync, fd))); }
MARIONETTE_EXPORT off_t lseek(int fd, off_t offset, int whence) noexcept { return libc_result(invoke(SYS_lseek, fd, offset, whence)); }
MARIONETTE_EXPORT off_t lseek64(int fd, off_t offset, int whence) noexcept { return libc_result(invoke(SYS_lseek, fd, offset, whence)); }

MARIONETTE_EXPORT ssize_t send(int fd, const void* buffer, std::size_t length, int flags) {
    return libc_result(invoke(SYS_sendto, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), flags, 0, 0));
}

MARIONETTE_EXPORT ssize_t recv(int fd, void* buffer, std::size_t length, int flags) {
    return libc_result(invoke(SYS_recvfrom, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), flags, 0, 0));
}

MARIONETTE_EXPORT ssize_t sendto(int fd, const void* buffer, std::size_t length, int flags, const struct sockaddr* to,
                                 socklen_t to_length) {
    return libc_result(invoke(SYS_sendto, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), flags,
                              reinterpret_cast<long>(to), to_length));
}

MARIONETTE_EXPORT ssize_t recvfrom(int fd, void* buffer, std::size_t length, int flags, struct sockaddr* from,
                                   socklen_t* from_length) {
    return libc_result(invoke(SYS_recvfrom, fd, reinterpret_cast<long>(buffer), static_cast<long>(length), flags,
                              reinterpret_cast<long>(from), reinterpret_cast<long>(from_length)));
}

MARIONETTE_EXPORT ssize_t getrandom(void* buffer, std::size_t length, unsigned flags) {
    return libc_result(invoke(SYS_getrandom, reinterpret_cast<long>(buffer), static_cast<long>(length), flags));
}

MARIONETTE_EXPORT int getentropy(void* buffer, std::size_t length) {
    if (length > 256) {
        errno = EIO;
        return -1;
    }
    random_bytes(buffer, length);
    return 0;
}

MARIONETTE_EXPORT std::uint32_t arc4random() noexcept {
    std::uint32_t value = 0;
    random_bytes(&value, sizeof value);
    return value;
}

MARIONETTE_EXPORT void arc4random_buf(void* buffer, std::size_t length) noexcept { random_bytes(buffer, length); }

MARIONETTE_EXPORT std::uint32_t arc4random_uniform(std::uint32_t upper_bound) noexcept {
    if (upper_bound < 2) return 0;
    // Reject the low values that would bias the modulo.
    const std::uint32_t threshold = static_cast<std::uint32_t>(-upper_bound) % upper_bound;
    for (;;) {
        const std::uint32_t value = arc4random();
        if (value >= threshold) return value % upper_bound;
    }
}

MARIONETTE_EXPORT pid_t getpid() noexcept { return as_int(invoke(SYS_getpid)); }
MARIONETTE_EXPORT pid_t getppid() noexcept { return as_int(invoke(SYS_getppid)); }
MARIONETTE_EXPORT pid_t gettid() noexcept { return as_int(invoke(SYS_gettid)); }

// One simulated CPU. sched_getcpu reads glibc's rseq area, which the
// kernel keeps up to date with the real CPU, so it is wrapped too.
MARIONETTE_EXPORT int getcpu(unsigned* cpu, unsigned* node) noexcept {
    return as_int(libc_result(invoke(SYS_getcpu, reinterpret_cast<long>(cpu), reinterpret_cast<long>(node), 0)));
}
MARIONETTE_EXPORT int sched_getcpu() noexcept {
    unsigned cpu = 0;
    invoke(SYS_getcpu, reinterpret_cast<long>(&cpu), 0, 0);
    return static_cast<int>(cpu);
}

MARIONETTE_EXPORT int uname(struct utsname* name) noexcept { return as_int(libc_result(invoke(SYS_uname, reinterpret_cast<long>(name)))); }

MARIONETTE_EXPORT int gethostname(char* name, std::size_t length) noexcept {
    // Through uname, as glibc does, so both report the same nodename.
    utsname uts;
    const long result = invoke(SYS_uname, reinterpret_cast<long>(&uts));
    if (result != 0) return as_int(libc_result(result));
    const char* nodename = uts.nodename;
    const std::size_t size = std::strlen(nodename) + 1;
    if (size > length) {
        errno = ENAMETOOLONG;
        return -1;
    }
    std::memcpy(name, nodename, size);
    return 0;
}

// Timed waits of threads that are not scheduled (threads.cpp): glibc hands
// the absolute deadline to the real futex, which compares it with the real
// clock — a deadline read from the virtual clock would have passed long ago
// (or be far off), and a waiting loop would spin. The deadline is moved to
// the real clock, keeping its distance from the virtual now. The condition
// variable's clock is not visible here, so the clock whose virtual now is
// nearer the deadline is taken. A scheduled thread's futex is emulated on
// the virtual clock: its deadlines stay as they are.
namespace {

bool futex_is_virtual() {
    marionette::shim::Enter enter;
    return enter.entered() && marionette::shim::connection() >= 0 && marionette::shim::scheduled_calls_trapped();
}

timespec real_deadline(const timespec* virtual_deadline) {
    const std::int64_t deadline = static_cast<std::int64_t>(virtual_deadline->tv_sec) * 1'000'000'000 + virtual_deadline->tv_nsec;
    auto distance_on = [&](clockid_t clock, std::int64_t& distance) {
        timespec now{};
        invoke(SYS_clock_gettime, clock, reinterpret_cast<long>(&now));
        distance = deadline - (static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
    };
    std::int64_t on_realtime = 0, on_monotonic = 0;
    distance_on(CLOCK_REALTIME, on_realtime);
    distance_on(CLOCK_MONOTONIC, on_monotonic);
    const bool realtime = (on_realtime < 0 ? -on_realtime : on_realtime) < (on_monotonic < 0 ? -on_monotonic : on_monotonic);
    const std::int64_t distance = realtime ? on_realtime : on_monotonic;
    timespec real_now{};
    marionette::shim::raw_syscall(SYS_clock_gettime, realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, reinterpret_cast<long>(&real_now));
    const std::int64_t real = static_cast<std::int64_t>(real_now.tv_sec) * 1'000'000'000 + real_now.tv_nsec + (distance > 0 ? distance : 0);
    return timespec{static_cast<time_t>(real / 1'000'000'000), static_cast<long>(real % 1'000'000'000)};
}

}  // namespace

MARIONETTE_EXPORT int pthread_cond_timedwait(pthread_cond_t* cond, pthread_mutex_t* mutex, const struct timespec* deadline) {
    using Real = int (*)(pthread_cond_t*, pthread_mutex_t*, const struct timespec*);
    static std::atomic<Real> real{nullptr};
    if (!marionette::shim::initialised() || futex_is_virtual()) {
        return marionette::shim::next_symbol(real, "pthread_cond_timedwait")(cond, mutex, deadline);
    }
    const timespec moved = real_deadline(deadline);
    return marionette::shim::next_symbol(real, "pthread_cond_timedwait")(cond, mutex, &moved);
}

MARIONETTE_EXPORT int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* mutex, clockid_t clock,
                                             const struct timespec* deadline) {
    using Real = int (*)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
    static std::atomic<Real> real{nullptr};
    if (!marionette::shim::initialised() || futex_is_virtual()) {
        return marionette::shim::next_symbol(real, "pthread_cond_clockwait")(cond, mutex, clock, deadline);
    }
    const timespec moved = real_deadline(deadline);
    return marionette::shim::next_symbol(real, "pthread_cond_clockwait")(cond, mutex, clock, &moved);
}

MARIONETTE_EXPORT int sem_timedwait(sem_t* semaphore, const struct timespec* deadline) {
    using Real = int (*)(sem_t*, const struct timespec*);
    static std::atomic<Real> real{nullptr};
    if (!marionette::shim::initialised() || futex_is_virtual()) {
        return marionette::shim::next_symbol(real, "sem_timedwait")(semaphore, deadline);
    }
    const timespec moved = real_deadline(deadline);
    return marionette::shim::next_symbol(real, "sem_timedwait")(semaphore, &moved);
}
