// The run API: a case runs twice from its seed; passing, a scenario error, a
// failed check and a determinism mismatch are told apart; expect_* throw
// with the summary; expect_fuzz derives its seeds as the Zig library does.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "marionette/run.hpp"

using namespace marionette;

namespace {

struct Harness {
    Env env;
    Control control;
    int writes = 0;

    static Harness init(World& world) {
        Simulation sim = world.simulate();
        return Harness{sim.env(), sim.control()};
    }

    void write_random() {
        unsigned char byte = 0;
        REQUIRE(::getrandom(&byte, 1, 0) == 1);
        const int fd = ::open(env.path("f").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, &byte, 1) == 1);
        ::close(fd);
        env.recorder().record("harness.write", {{"byte", static_cast<unsigned>(byte)}});
        ++writes;
    }
};

Case<Harness> base_case() {
    return Case<Harness>{
        .seed = 11,
        .init = Harness::init,
        .scenario = [](Harness& h) { h.write_random(); },
        .checks = {{"one write", [](Harness& h) { require(h.writes == 1, "writes != 1"); }}},
        .name = "run_test",
    };
}

}  // namespace

TEST_CASE("a passing case reports its trace, the same for the same seed") {
    const RunReport a = run_case(base_case());
    CHECK(a.passed());
    CHECK(a.seed == 11);
    CHECK(a.events.size() > 3);
    CHECK(a.trace_text().find("harness.write") != std::string::npos);
    CHECK(a.trace_text().find("run.check") != std::string::npos);
    CHECK(run_case(base_case()).trace_hash == a.trace_hash);
    CHECK(run_case(base_case(), 12).trace_hash != a.trace_hash);
    CHECK_NOTHROW(expect_pass(base_case()));
}

TEST_CASE("a failing check is check_failed with the check's name") {
    Case<Harness> c = base_case();
    c.checks.push_back({"never", [](Harness&) { require(false, "the invariant broke"); }});
    const RunReport report = run_case(c);
    REQUIRE_FALSE(report.passed());
    CHECK(report.failure->kind == FailureKind::check_failed);
    CHECK(report.failure->check == "never");
    CHECK(report.failure->error == "the invariant broke");
    const std::string summary = report.failure->summary();
    CHECK(summary.rfind("marionette failure: kind=check_failed seed=11 name=run_test first_events=", 0) == 0);
    CHECK(summary.find(" check=never") != std::string::npos);
    CHECK(summary.find(" error=the%20invariant%20broke") != std::string::npos);
    CHECK(report.failure->replay_hint().find("MARIONETTE_SEED=11") != std::string::npos);
    CHECK_THROWS_AS(expect_pass(c), ExpectationFailed);
    CHECK(expect_failure(c).failure->kind == FailureKind::check_failed);
}

TEST_CASE("an exception from the scenario is scenario_error and skips the checks") {
    Case<Harness> c = base_case();
    c.scenario = [](Harness&) { throw std::runtime_error("boom"); };
    const RunReport report = run_case(c);
    REQUIRE_FALSE(report.passed());
    CHECK(report.failure->kind == FailureKind::scenario_error);
    CHECK(report.failure->error == "boom");
    CHECK(report.trace_text().find("run.check") == std::string::npos);
}

TEST_CASE("a harness whose behaviour depends on something outside the seed is a determinism mismatch") {
    static int runs = 0;
    Case<Harness> c = base_case();
    c.scenario = [](Harness& h) {
        h.write_random();
        if (++runs % 2 == 0) h.write_random();  // only on the second run
    };
    c.checks.clear();
    const RunReport report = run_case(c);
    REQUIRE_FALSE(report.passed());
    CHECK(report.failure->kind == FailureKind::determinism_mismatch);
    CHECK(report.failure->first_events < report.failure->second_events);
    REQUIRE(report.failure->first_difference.has_value());
    CHECK(*report.failure->first_difference < report.failure->second_events);
    runs = 1;  // the next run_case's first run is then an even one
    CHECK_THROWS_AS(expect_failure(c), ExpectationFailed);
}

TEST_CASE("expect_failure throws when the case passes") {
    CHECK_THROWS_AS(expect_failure(base_case()), ExpectationFailed);
}

TEST_CASE("expect_fuzz sweeps base ^ 0x9E3779B97F4A7C15 ^ i and stops at the first failure") {
    CHECK(detail::fuzz_seed(0, 0) == 0x9E3779B97F4A7C15ULL);
    CHECK(detail::fuzz_seed(5, 3) == (5ULL ^ 0x9E3779B97F4A7C15ULL ^ 3ULL));

    Case<Harness> c = base_case();
    c.seeds = 5;
    CHECK(expect_fuzz(c).iterations == 5);

    // Fails on the seeds whose first random byte is odd: found quickly, and
    // the report names the failing seed, which replays alone.
    c.seeds = 64;
    c.checks = {{"first byte even", [](Harness& h) {
                     std::string bytes(1, '\0');
                     const int fd = ::open(h.env.path("f").c_str(), O_RDONLY);
                     REQUIRE(::read(fd, bytes.data(), 1) == 1);
                     ::close(fd);
                     require(static_cast<unsigned char>(bytes[0]) % 2 == 0, "odd");
                 }}};
    const FuzzReport report = fuzz(c);
    REQUIRE(report.failure.has_value());
    CHECK(report.failure->seed == detail::fuzz_seed(c.seed, *report.failing_iteration));
    CHECK(report.iterations == *report.failing_iteration + 1);
    CHECK_FALSE(run_case(c, report.failure->seed).passed());
    CHECK_THROWS_AS(expect_fuzz(c), ExpectationFailed);
}

TEST_CASE("MARIONETTE_SEED replaces the case's seed in expect_*") {
    REQUIRE(::setenv("MARIONETTE_SEED", "77", 1) == 0);
    const RunReport report = expect_pass(base_case());
    ::unsetenv("MARIONETTE_SEED");
    CHECK(report.seed == 77);
}
