// The run API: a case is init + scenario + checks, run from a seed, twice.
//
// `run_case` builds a fresh World from the case's seed, calls `init(world)`
// (which calls world.simulate(...) and builds the harness: the code under
// test plus the Control handle), runs `scenario(harness)`, then each of
// `checks` on the final state. It does all of that twice and compares the
// two traces' hashes: a difference is a failure of its own kind
// (determinism_mismatch), because a failure that does not replay from its
// seed is not worth a seed. `expect_pass`, `expect_failure` and
// `expect_fuzz` turn reports into exceptions with a one-line summary and a
// replay hint; the names and the fuzz seed schedule are the Zig library's.
//
// Environment: MARIONETTE_SEED=<seed> makes expect_* run that seed instead
// (the replay of a printed failure); MARIONETTE_TRACE_OUT=<file> writes the
// text trace of the first run of every case run to <file>.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "marionette/world.hpp"
#include "sim/trace.hpp"

namespace marionette {

enum class FailureKind { scenario_error, check_failed, determinism_mismatch };

/// `scenario_error`, `check_failed`, `determinism_mismatch`.
std::string_view to_string(FailureKind kind);

/// Why a case failed, with what is needed to replay it.
struct Failure {
    FailureKind kind = FailureKind::scenario_error;
    std::uint64_t seed = 0;
    std::string name;
    std::uint64_t first_events = 0;
    std::uint64_t second_events = 0;
    /// determinism_mismatch: index of the first event that differs.
    std::optional<std::uint64_t> first_difference;
    /// The exception message of the failing scenario or check.
    std::string error;
    /// The failing check's name (check_failed).
    std::string check;

    /// `marionette failure: kind=<k> seed=<dec> name=<n> first_events=<n>
    /// second_events=<n> error=<e> check=<c>` (values escaped as in traces).
    std::string summary() const;
    /// How to run this seed again.
    std::string replay_hint() const;
};

/// The outcome of run_case.
struct RunReport {
    std::uint64_t seed = 0;
    std::string name;
    std::optional<Failure> failure;
    /// The first run's trace: its events, their count and hash.
    std::vector<TraceEvent> events;
    std::uint64_t trace_hash = 0;

    bool passed() const { return !failure.has_value(); }
    /// The first run's events rendered as text trace lines.
    std::string trace_text() const;
};

/// A named invariant over the final state of a harness. A check fails by
/// throwing (any exception; `require` is the convenient way).
template <typename Harness>
struct StateCheck {
    std::string name;
    std::function<void(Harness&)> check;
};

/// A test case. Designated initialisers read like the Zig library's:
/// `{.seed = 0xC0FFEE, .init = ..., .scenario = ..., .checks = {...}}`.
template <typename Harness>
struct Case {
    std::uint64_t seed = 0;
    /// Builds the harness; calls world.simulate(...).
    std::function<Harness(World&)> init;
    /// Drives the harness; injects faults through its Control.
    std::function<void(Harness&)> scenario;
    std::vector<StateCheck<Harness>> checks;
    std::string name = "case";
    /// expect_fuzz only: how many seeds to sweep.
    std::uint64_t seeds = 1;
    WorldOptions world{};
};

/// What a check throws; any other exception fails a check just as well.
class CheckFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Throws CheckFailure(message) unless `condition` holds.
inline void require(bool condition, std::string_view message) {
    if (!condition) throw CheckFailure(std::string(message));
}

/// Thrown by expect_* when the expectation does not hold; what() holds the
/// summary line and the replay hint, report() the whole report.
class ExpectationFailed : public std::runtime_error {
public:
    ExpectationFailed(const std::string& message, RunReport report)
        : std::runtime_error(message), report_(std::move(report)) {}
    const RunReport& report() const { return report_; }

private:
    RunReport report_;
};

/// The outcome of a fuzz sweep.
struct FuzzReport {
    std::uint64_t iterations = 0;  ///< seeds run (up to and including a failure)
    std::optional<std::uint64_t> failing_iteration;
    std::optional<RunReport> failure;  ///< the first failing seed's report
};

namespace detail {

/// The steps of one run, type-erased so the template below stays small.
class CaseRun {
public:
    explicit CaseRun(World& world) : world_(&world) {}
    /// Runs init or the scenario; false (and the failure noted) if it threw.
    bool scenario_step(const std::function<void()>& body);
    /// Runs one check; false (and the failure noted) if it threw.
    bool check_step(const std::string& name, const std::function<void()>& body);

    std::optional<FailureKind> kind;
    std::string error;
    std::string check;

private:
    World* world_;
};

using CaseBody = std::function<void(World&, CaseRun&)>;

/// Runs `body` twice from `seed` and compares.
RunReport run_twice(std::uint64_t seed, const std::string& name, const WorldOptions& options, const CaseBody& body);

/// Seed of fuzz iteration i: `base ^ 0x9E3779B97F4A7C15 ^ i`.
std::uint64_t fuzz_seed(std::uint64_t base, std::uint64_t iteration);
/// MARIONETTE_SEED, if set (std::invalid_argument if malformed).
std::optional<std::uint64_t> seed_override();
/// Prints the summary, the replay hint and the trace's last events.
void print_failure(const RunReport& report);
[[noreturn]] void throw_failure(const std::string& prefix, RunReport report);
void expect_failed_run(RunReport& report);

}  // namespace detail

/// Runs the case with `seed`, twice.
template <typename Harness>
RunReport run_case(const Case<Harness>& c, std::uint64_t seed) {
    detail::CaseBody body = [&c](World& world, detail::CaseRun& run) {
        std::optional<Harness> harness;  // destroyed before the World
        if (!run.scenario_step([&] { harness.emplace(c.init(world)); })) return;
        if (c.scenario && !run.scenario_step([&] { c.scenario(*harness); })) return;
        for (const StateCheck<Harness>& check : c.checks) {
            if (!run.check_step(check.name, [&] { check.check(*harness); })) return;
        }
    };
    return detail::run_twice(seed, c.name, c.world, body);
}

/// Runs the case with its own seed, twice.
template <typename Harness>
RunReport run_case(const Case<Harness>& c) {
    return run_case(c, c.seed);
}

/// The case must pass (seed: MARIONETTE_SEED or c.seed); throws
/// ExpectationFailed with the summary and replay hint otherwise.
template <typename Harness>
RunReport expect_pass(const Case<Harness>& c) {
    RunReport report = run_case(c, detail::seed_override().value_or(c.seed));
    if (!report.passed()) {
        detail::print_failure(report);
        detail::throw_failure("expected the case to pass", std::move(report));
    }
    return report;
}

/// The case must fail with a scenario error or a failed check (a
/// determinism mismatch is a broken harness, not the bug being shown);
/// returns the report so the test can look at the failure.
template <typename Harness>
RunReport expect_failure(const Case<Harness>& c) {
    RunReport report = run_case(c, detail::seed_override().value_or(c.seed));
    detail::expect_failed_run(report);
    return report;
}

/// Runs c.seeds seeds derived from c.seed; stops at the first failure.
template <typename Harness>
FuzzReport fuzz(const Case<Harness>& c) {
    FuzzReport out;
    for (std::uint64_t i = 0; i < c.seeds; ++i) {
        RunReport report = run_case(c, detail::fuzz_seed(c.seed, i));
        ++out.iterations;
        if (!report.passed()) {
            out.failing_iteration = i;
            out.failure = std::move(report);
            break;
        }
    }
    return out;
}

/// Every seed of the sweep must pass. On a failure prints
/// `marionette fuzz failure: seed=<s> iteration=<i>` and throws. With
/// MARIONETTE_SEED set, runs just that seed (the replay).
template <typename Harness>
FuzzReport expect_fuzz(const Case<Harness>& c) {
    if (auto seed = detail::seed_override()) {
        expect_pass(c);
        return FuzzReport{1, std::nullopt, std::nullopt};
    }
    FuzzReport out = fuzz(c);
    if (out.failure) {
        const std::string line = "marionette fuzz failure: seed=" + std::to_string(out.failure->seed) +
                                 " iteration=" + std::to_string(*out.failing_iteration);
        std::fprintf(stderr, "%s\n", line.c_str());
        detail::print_failure(*out.failure);
        detail::throw_failure(line, std::move(*out.failure));
    }
    return out;
}

}  // namespace marionette
