#include "sim/kernel/clock.hpp"

#include <cerrno>

namespace marionette {

bool to_ns(const TimeSpec& time, Ns& out) {
    if (time.sec < 0 || time.nsec < 0 || time.nsec >= static_cast<std::int64_t>(ns_per_s)) return false;
    const auto sec = static_cast<Ns>(time.sec);
    // Saturate instead of overflowing: a sleep of "forever" stays forever.
    if (sec > (UINT64_MAX - static_cast<Ns>(time.nsec)) / ns_per_s) {
        out = UINT64_MAX;
    } else {
        out = sec * ns_per_s + static_cast<Ns>(time.nsec);
    }
    return true;
}

TimeSpec from_ns(Ns value) {
    return TimeSpec{static_cast<std::int64_t>(value / ns_per_s), static_cast<std::int64_t>(value % ns_per_s)};
}

bool VirtualClock::read_ns(int clock_id, Ns& out) const {
    const Ns realtime = options_.start_realtime_ns + elapsed_ns_;
    const Ns monotonic = options_.start_monotonic_ns + elapsed_ns_;
    if (clock_id < 0) {
        // Dynamic clocks: CPU clocks of a pid/tid (low bits 0..2) or an fd
        // clock such as a PTP device (low bits 3), which is not simulated.
        if ((clock_id & 7) == 3) return false;
        out = cpu_ns_;
        return true;
    }
    switch (clock_id) {
        case clock_realtime:
        case clock_realtime_alarm: out = realtime; return true;
        case clock_realtime_coarse: out = realtime - realtime % coarse_resolution_ns; return true;
        case clock_tai: out = realtime + tai_offset_ns; return true;
        case clock_monotonic:
        case clock_monotonic_raw:
        case clock_boottime:
        case clock_boottime_alarm: out = monotonic; return true;
        case clock_monotonic_coarse: out = monotonic - monotonic % coarse_resolution_ns; return true;
        case clock_process_cputime:
        case clock_thread_cputime: out = cpu_ns_; return true;
        default: return false;
    }
}

int VirtualClock::read(int clock_id, TimeSpec& out) const {
    Ns value = 0;
    if (!read_ns(clock_id, value)) return -EINVAL;
    out = from_ns(value);
    return 0;
}

int VirtualClock::resolution(int clock_id, TimeSpec& out) const {
    Ns ignored = 0;
    if (!read_ns(clock_id, ignored)) return -EINVAL;
    const bool coarse = clock_id == clock_realtime_coarse || clock_id == clock_monotonic_coarse;
    out = from_ns(coarse ? coarse_resolution_ns : 1);
    return 0;
}

int VirtualClock::sleep(int clock_id, bool absolute, const TimeSpec& request, Ns& slept_ns) {
    slept_ns = 0;
    Ns request_ns = 0;
    if (!to_ns(request, request_ns)) return -EINVAL;
    // Linux refuses to sleep on the calling thread's own CPU clock.
    if (clock_id == clock_thread_cputime) return -EINVAL;
    Ns now = 0;
    if (!read_ns(clock_id, now)) return -EINVAL;
    Ns duration = request_ns;
    if (absolute) duration = request_ns > now ? request_ns - now : 0;
    if (clock_id == clock_process_cputime || clock_id < 0) {
        // Waiting for CPU time to pass means burning it.
        cpu_ns_ += duration;
    }
    // Cap a sleep of "forever" so realtime = start + elapsed never wraps.
    if (duration > max_elapsed_ns - elapsed_ns_) duration = max_elapsed_ns - elapsed_ns_;
    elapsed_ns_ += duration;
    slept_ns = duration;
    return 0;
}

}  // namespace marionette
