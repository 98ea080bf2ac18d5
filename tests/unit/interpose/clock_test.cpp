// The virtual clocks: every clock id, per-call cost, sleeps.
#include <catch2/catch.hpp>

#include <cerrno>

#include "sim/kernel/clock.hpp"

using namespace marionette;

namespace {

Ns read_ns(const VirtualClock& clock, int id) {
    TimeSpec t;
    REQUIRE(clock.read(id, t) == 0);
    Ns ns = 0;
    REQUIRE(to_ns(t, ns));
    return ns;
}

}  // namespace

TEST_CASE("clocks start at the configured epoch and uptime", "[clock]") {
    ClockOptions options;
    options.start_realtime_ns = 1'900'000'000ULL * ns_per_s;
    options.start_monotonic_ns = 50 * ns_per_s;
    const VirtualClock clock(options);
    CHECK(read_ns(clock, clock_realtime) == 1'900'000'000ULL * ns_per_s);
    CHECK(read_ns(clock, clock_monotonic) == 50 * ns_per_s);
    CHECK(read_ns(clock, clock_boottime) == 50 * ns_per_s);
    CHECK(read_ns(clock, clock_monotonic_raw) == 50 * ns_per_s);
    CHECK(read_ns(clock, clock_tai) == 1'900'000'037ULL * ns_per_s);
    CHECK(read_ns(clock, clock_process_cputime) == 0);
}

TEST_CASE("the default epoch is 2026-01-01T00:00:00Z", "[clock]") {
    const VirtualClock clock;
    CHECK(read_ns(clock, clock_realtime) == 1'767'225'600ULL * ns_per_s);
}

TEST_CASE("each call costs elapsed and CPU time, so busy-waits end", "[clock]") {
    ClockOptions options;
    options.call_cost_ns = 250;
    VirtualClock clock(options);
    const Ns start = read_ns(clock, clock_monotonic);
    int calls = 0;
    while (read_ns(clock, clock_monotonic) - start < ns_per_ms) {
        clock.charge_call();
        ++calls;
    }
    CHECK(calls == 4000);
    CHECK(clock.cpu_ns() == 4000 * 250);
}

TEST_CASE("coarse clocks are truncated to their resolution", "[clock]") {
    VirtualClock clock;
    clock.advance(5 * ns_per_ms + 123);
    CHECK(read_ns(clock, clock_monotonic_coarse) % VirtualClock::coarse_resolution_ns == 0);
    CHECK(read_ns(clock, clock_monotonic_coarse) <= read_ns(clock, clock_monotonic));
    CHECK(read_ns(clock, clock_monotonic) - read_ns(clock, clock_monotonic_coarse) < VirtualClock::coarse_resolution_ns);
    TimeSpec resolution;
    REQUIRE(clock.resolution(clock_realtime_coarse, resolution) == 0);
    CHECK(resolution.nsec == 4'000'000);
    REQUIRE(clock.resolution(clock_monotonic, resolution) == 0);
    CHECK(resolution.nsec == 1);
}

TEST_CASE("unknown and fd clocks are EINVAL; per-thread CPU clocks read CPU time", "[clock]") {
    VirtualClock clock;
    clock.charge_call();
    TimeSpec t;
    CHECK(clock.read(42, t) == -EINVAL);
    CHECK(clock.read(-1 * 8 + 3, t) == -EINVAL);  // FD clock encoding (low bits 3)
    REQUIRE(clock.read(-2, t) == 0);              // CPU clock of some thread
    CHECK(t.nsec == 1000);
}

TEST_CASE("a relative sleep jumps elapsed time but not CPU time", "[clock]") {
    VirtualClock clock;
    Ns slept = 0;
    REQUIRE(clock.sleep(clock_monotonic, false, TimeSpec{3600, 0}, slept) == 0);
    CHECK(slept == 3600 * ns_per_s);
    CHECK(clock.elapsed_ns() == 3600 * ns_per_s);
    CHECK(clock.cpu_ns() == 0);
}

TEST_CASE("an absolute sleep wakes at the deadline, never goes back", "[clock]") {
    VirtualClock clock;
    const Ns now = read_ns(clock, clock_realtime);
    const TimeSpec deadline = from_ns(now + 10 * ns_per_s);
    Ns slept = 0;
    REQUIRE(clock.sleep(clock_realtime, true, deadline, slept) == 0);
    CHECK(read_ns(clock, clock_realtime) == now + 10 * ns_per_s);
    REQUIRE(clock.sleep(clock_realtime, true, from_ns(now), slept) == 0);
    CHECK(slept == 0);
    CHECK(read_ns(clock, clock_realtime) == now + 10 * ns_per_s);
}

TEST_CASE("invalid sleeps are EINVAL and do not move the clock", "[clock]") {
    VirtualClock clock;
    Ns slept = 0;
    CHECK(clock.sleep(clock_monotonic, false, TimeSpec{0, 1'000'000'000}, slept) == -EINVAL);
    CHECK(clock.sleep(clock_monotonic, false, TimeSpec{-1, 0}, slept) == -EINVAL);
    CHECK(clock.sleep(clock_thread_cputime, false, TimeSpec{1, 0}, slept) == -EINVAL);
    CHECK(clock.elapsed_ns() == 0);
}

TEST_CASE("sleeping forever saturates instead of wrapping realtime", "[clock]") {
    VirtualClock clock;
    Ns slept = 0;
    REQUIRE(clock.sleep(clock_monotonic, false, TimeSpec{INT64_MAX, 999'999'999}, slept) == 0);
    CHECK(clock.elapsed_ns() == VirtualClock::max_elapsed_ns);
    CHECK(read_ns(clock, clock_realtime) > clock.options().start_realtime_ns);
}
