// The embedded API's time and randomness calls: clock_gettime,
// clock_getres, gettimeofday, time, nanosleep, clock_nanosleep, sleep,
// usleep, getrandom and getentropy. In a simulation the clocks read the
// World's virtual clock (REALTIME from the world's start time, MONOTONIC
// from a fixed uptime, each call costing `call_cost_ns`), sleeps advance it
// at once (running due events), and random bytes come from the seed
// (`random.getrandom bytes=<n>` in the trace). Otherwise glibc answers.
//
// Note: glibc's own clock_gettime is normally reached through the vDSO
// without a syscall; these definitions catch the calls made through the
// symbol, which is every direct call from the test and the code it links.
#undef _FORTIFY_SOURCE
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "embed/posix_common.hpp"
#include "embed/real_libc.hpp"

using namespace marionette;
using namespace marionette::detail;

namespace {

/// The virtual value of `clock_id`, or false for a clock we do not know.
bool read_clock(SimState& s, clockid_t clock_id, Ns& out) {
    switch (clock_id) {
        case CLOCK_REALTIME:
        case CLOCK_REALTIME_COARSE:
        case CLOCK_REALTIME_ALARM:
            out = s.now_ns();
            return true;
        case CLOCK_TAI:
            out = s.now_ns() + 37 * ns_per_s;
            return true;
        case CLOCK_MONOTONIC:
        case CLOCK_MONOTONIC_RAW:
        case CLOCK_MONOTONIC_COARSE:
        case CLOCK_BOOTTIME:
        case CLOCK_BOOTTIME_ALARM:
            out = s.monotonic_ns();
            return true;
        case CLOCK_PROCESS_CPUTIME_ID:
        case CLOCK_THREAD_CPUTIME_ID:
            out = s.elapsed_ns();
            return true;
        default:
            return false;
    }
}

timespec to_timespec(Ns value) {
    return timespec{static_cast<time_t>(value / ns_per_s), static_cast<long>(value % ns_per_s)};
}

bool valid(const timespec& t) { return t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < static_cast<long>(ns_per_s); }

Ns to_ns(const timespec& t) { return static_cast<Ns>(t.tv_sec) * ns_per_s + static_cast<Ns>(t.tv_nsec); }

/// Sleeps `duration_ns` of virtual time: the clock jumps, due events run.
void sleep_for(SimState& s, Ns duration_ns) {
    sim_call<int>(s, [&] {
        s.trace().emit("time.sleep", {{"duration_ns", duration_ns}});
        s.advance(duration_ns);
        return 0;
    });
}

}  // namespace

extern "C" {

int clock_gettime(clockid_t clock_id, struct timespec* out) noexcept {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(clock_gettime)(clock_id, out);
    return sim_call<int>(*s, [&]() -> long {
        Ns value = 0;
        if (!read_clock(*s, clock_id, value)) return -EINVAL;
        *out = to_timespec(value);
        return 0;
    });
}

int clock_getres(clockid_t clock_id, struct timespec* out) noexcept {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(clock_getres)(clock_id, out);
    Ns ignored = 0;
    if (!read_clock(*s, clock_id, ignored)) {
        errno = EINVAL;
        return -1;
    }
    if (out != nullptr) *out = timespec{0, 1};
    return 0;
}

int gettimeofday(struct timeval* out, void* zone) noexcept {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(gettimeofday)(out, zone);
    return sim_call<int>(*s, [&] {
        if (out != nullptr) {
            const Ns now = s->now_ns();
            out->tv_sec = static_cast<time_t>(now / ns_per_s);
            out->tv_usec = static_cast<suseconds_t>((now % ns_per_s) / ns_per_us);
        }
        return 0;
    });
}

time_t time(time_t* out) noexcept {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(time)(out);
    const time_t now = sim_call<time_t>(*s, [&] { return static_cast<long>(s->now_ns() / ns_per_s); });
    if (out != nullptr) *out = now;
    return now;
}

int nanosleep(const struct timespec* request, struct timespec* remaining) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(nanosleep)(request, remaining);
    if (request == nullptr || !valid(*request)) {
        errno = EINVAL;
        return -1;
    }
    sleep_for(*s, to_ns(*request));
    if (remaining != nullptr) *remaining = timespec{0, 0};
    return 0;
}

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec* request, struct timespec* remaining) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(clock_nanosleep)(clock_id, flags, request, remaining);
    // Returns the error number instead of setting errno.
    Ns now = 0;
    if (request == nullptr || !valid(*request) || !read_clock(*s, clock_id, now)) return EINVAL;
    const Ns target = to_ns(*request);
    const Ns duration = (flags & TIMER_ABSTIME) != 0 ? (target > now ? target - now : 0) : target;
    sleep_for(*s, duration);
    if (remaining != nullptr) *remaining = timespec{0, 0};
    return 0;
}

unsigned int sleep(unsigned int seconds) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(sleep)(seconds);
    sleep_for(*s, static_cast<Ns>(seconds) * ns_per_s);
    return 0;
}

int usleep(useconds_t microseconds) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(usleep)(microseconds);
    sleep_for(*s, static_cast<Ns>(microseconds) * ns_per_us);
    return 0;
}

ssize_t getrandom(void* buffer, size_t length, unsigned int flags) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(getrandom)(buffer, length, flags);
    return sim_call<ssize_t>(*s, [&]() -> long {
        if ((flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) != 0) return -EINVAL;
        s->random_stream().fill(bytes(buffer, length));
        s->trace().emit("random.getrandom", {{"bytes", length}, {"flags", flags}});
        return static_cast<long>(length);
    });
}

int getentropy(void* buffer, size_t length) {
    SimState* s = enter();
    if (s == nullptr) return MARIONETTE_REAL(getentropy)(buffer, length);
    if (length > 256) {
        errno = EIO;
        return -1;
    }
    return getrandom(buffer, length, 0) < 0 ? -1 : 0;
}

}  // extern "C"
