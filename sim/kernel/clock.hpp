// The virtual clocks of one simulated process.
//
// Every clock the Linux kernel offers (realtime, monotonic, boottime, the
// coarse variants, TAI, process and thread CPU time, the dynamic per-thread
// CPU clocks) is derived here from two counters: the virtual time elapsed
// since the run started and the virtual CPU time the process consumed. Each
// intercepted call costs a small fixed amount of both, so a busy-wait loop
// on the clock always terminates; a sleep jumps the elapsed counter without
// touching CPU time and without costing any wall time. Pure computation: no
// OS calls, no allocation, so the preload shim can run it on any path.
#pragma once

#include <cstdint>

#include "sim/time.hpp"

namespace marionette {

/// Seconds and nanoseconds, the shape of struct timespec.
struct TimeSpec {
    std::int64_t sec = 0;
    std::int64_t nsec = 0;
};

/// Linux clock ids (uapi/linux/time.h); kept here so sim/ needs no OS header.
enum ClockId : int {
    clock_realtime = 0,
    clock_monotonic = 1,
    clock_process_cputime = 2,
    clock_thread_cputime = 3,
    clock_monotonic_raw = 4,
    clock_realtime_coarse = 5,
    clock_monotonic_coarse = 6,
    clock_boottime = 7,
    clock_realtime_alarm = 8,
    clock_boottime_alarm = 9,
    clock_tai = 11,
};

/// Configuration of a process's clocks.
struct ClockOptions {
    /// CLOCK_REALTIME at the start of the run, in ns since the Unix epoch.
    /// Default 2026-01-01T00:00:00Z.
    Ns start_realtime_ns = 1'767'225'600ULL * ns_per_s;
    /// CLOCK_MONOTONIC/BOOTTIME at the start: a plausible, fixed uptime.
    Ns start_monotonic_ns = 1000 * ns_per_s;
    /// Virtual time every intercepted call costs (elapsed and CPU).
    Ns call_cost_ns = 1000;
    /// Elapsed virtual time when this process starts: a process started
    /// later in a run (a check after a crash, a restart) continues the
    /// node's clock instead of starting again at 0.
    Ns start_elapsed_ns = 0;
};

/// The virtual clocks. Not thread-safe; the shim serialises access.
class VirtualClock {
public:
    /// Resolution reported for the coarse clocks (one 250 Hz jiffy).
    static constexpr Ns coarse_resolution_ns = 4 * ns_per_ms;
    /// TAI - UTC in 2026.
    static constexpr Ns tai_offset_ns = 37 * ns_per_s;
    /// Elapsed time never passes this (about 146 years).
    static constexpr Ns max_elapsed_ns = Ns{1} << 62;

    explicit VirtualClock(const ClockOptions& options = {}) : options_(options), elapsed_ns_(options.start_elapsed_ns) {}

    /// Charges one intercepted call (elapsed and CPU time).
    void charge_call() {
        elapsed_ns_ += options_.call_cost_ns;
        cpu_ns_ += options_.call_cost_ns;
    }

    /// Reads clock `clock_id` into `out` without charging; -EINVAL for an
    /// unknown or fd-based (PTP) clock.
    int read(int clock_id, TimeSpec& out) const;
    /// Resolution of `clock_id`; -EINVAL for an unknown clock.
    int resolution(int clock_id, TimeSpec& out) const;
    /// The value of `clock_id` in ns; false if the clock is unknown.
    bool read_ns(int clock_id, Ns& out) const;

    /// Sleeps `request`: relative, or until the absolute time `request` on
    /// `clock_id` when `absolute`. Returns 0 or -EINVAL; `slept_ns` receives
    /// how far elapsed time jumped.
    int sleep(int clock_id, bool absolute, const TimeSpec& request, Ns& slept_ns);

    /// Advances elapsed time (modelled latency, a sleep) but not CPU time.
    void advance(Ns duration_ns) { elapsed_ns_ += duration_ns; }

    /// Virtual ns since the run started (the trace's `at_ns`).
    Ns elapsed_ns() const { return elapsed_ns_; }
    /// Virtual CPU time consumed.
    Ns cpu_ns() const { return cpu_ns_; }
    /// A time-stamp counter: 1 tick per virtual ns of monotonic time.
    std::uint64_t tsc() const { return options_.start_monotonic_ns + elapsed_ns_; }
    const ClockOptions& options() const { return options_; }

private:
    ClockOptions options_;
    Ns elapsed_ns_ = 0;
    Ns cpu_ns_ = 0;
};

/// Converts a TimeSpec to ns; false if negative or nsec out of range.
bool to_ns(const TimeSpec& time, Ns& out);
/// Converts ns to a TimeSpec.
TimeSpec from_ns(Ns value);

}  // namespace marionette
