// The embedded API's clock, sleep and randomness: virtual and seeded inside a
// simulation, real outside it.
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>

#include "marionette/world.hpp"

using namespace marionette;

namespace {

Ns read_ns(clockid_t clock) {
    timespec t{};
    REQUIRE(::clock_gettime(clock, &t) == 0);
    return static_cast<Ns>(t.tv_sec) * ns_per_s + static_cast<Ns>(t.tv_nsec);
}

std::array<unsigned char, 16> random_bytes() {
    std::array<unsigned char, 16> out{};
    REQUIRE(::getrandom(out.data(), out.size(), 0) == 16);
    return out;
}

}  // namespace

TEST_CASE("the clocks read virtual time from the world's start") {
    const Ns start = 1'700'000'000ULL * ns_per_s;
    World world(1, {.start_time_ns = start});
    Simulation sim = world.simulate({.call_cost_ns = 1000});
    // Each call costs call_cost_ns before it reads.
    CHECK(read_ns(CLOCK_REALTIME) == start + 1000);
    CHECK(read_ns(CLOCK_REALTIME) == start + 2000);
    const Ns monotonic = read_ns(CLOCK_MONOTONIC);
    CHECK(read_ns(CLOCK_MONOTONIC) == monotonic + 1000);
    sim.control().run_for(5 * ns_per_s);
    CHECK(read_ns(CLOCK_MONOTONIC) == monotonic + 2000 + 5 * ns_per_s);
    CHECK(::time(nullptr) == static_cast<time_t>((start + 5 * ns_per_s) / ns_per_s));
    timespec bad{};
    CHECK(::clock_gettime(static_cast<clockid_t>(99), &bad) == -1);
}

TEST_CASE("sleeping advances virtual time at once and is traced") {
    World world(2);
    world.simulate({.call_cost_ns = 0});
    const Ns before = read_ns(CLOCK_MONOTONIC);
    const auto wall_before = std::chrono::steady_clock::now();
    ::sleep(3600);  // an hour of virtual time
    timespec ten_ms{0, 10'000'000};
    REQUIRE(::nanosleep(&ten_ms, nullptr) == 0);
    ::usleep(5);
    CHECK(read_ns(CLOCK_MONOTONIC) - before == 3600 * ns_per_s + 10 * ns_per_ms + 5 * ns_per_us);
    CHECK(world.trace().summary().by_name.at("time.sleep") == 3);
    (void)wall_before;
}

TEST_CASE("getrandom is seeded: same seed same bytes, other seed other bytes") {
    std::array<unsigned char, 16> a{}, b{}, c{};
    {
        World world(42);
        world.simulate();
        a = random_bytes();
    }
    {
        World world(42);
        world.simulate();
        b = random_bytes();
    }
    {
        World world(43);
        world.simulate();
        c = random_bytes();
    }
    CHECK(a == b);
    CHECK(a != c);
}

TEST_CASE("outside a simulation the clock and randomness are the real OS's") {
    {
        World world(1, {.start_time_ns = 0});
        world.simulate();
        CHECK(read_ns(CLOCK_REALTIME) < ns_per_s);
    }
    // Real time is well past 2020 wherever this runs.
    CHECK(read_ns(CLOCK_REALTIME) > 1'577'836'800ULL * ns_per_s);
    CHECK(random_bytes() != random_bytes());
}

TEST_CASE("Env offers the clock, seeded random numbers and BUGGIFY") {
    World world(9);
    Env env = world.simulate().env();
    CHECK(env.simulated());
    CHECK(env.seed() == 9);
    const std::uint64_t first = env.random_u64();
    CHECK(first != env.random_u64());
    int fired = 0;
    for (int i = 0; i < 100; ++i) fired += env.buggify("test.hook", Rate::percent(50)) ? 1 : 0;
    CHECK(fired > 20);
    CHECK(fired < 80);
    CHECK(world.trace().summary().by_name.at("world.random_u64") == 2);
    CHECK(env.path("wal") == "/marionette/wal");
}
