// Catch2 (v2) glue for the run API.
//
// The plain expect_* functions (run.hpp) already work in a TEST_CASE: they
// throw ExpectationFailed and Catch2 prints its message. These macros read a
// little better and report at the test's own line, with the failure summary,
// the replay command naming the current test, and the trace's last events:
//
//     TEST_CASE("wal: synced records survive a crash") {
//         MARIONETTE_REQUIRE_PASS(wal_case(0xC0FFEE));
//     }
//     TEST_CASE("wal: a recovery that checks only the magic is caught") {
//         const auto report = MARIONETTE_REQUIRE_FAILURE(buggy_case(0xC0FFEE));
//         CHECK(report.failure->check == "synced records recover");
//     }
//
// The consumer provides Catch2 (find_package(Catch2)); Marionette itself does
// not link it.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "marionette/run.hpp"

namespace marionette::testing {

/// The name of the running Catch2 test ("" outside one).
inline std::string current_test_name() {
    try {
        return Catch::getResultCapture().getCurrentTestName();
    } catch (...) {
        return "";
    }
}

/// Summary, replay command for this test, and the last `tail` trace events.
inline std::string describe(const RunReport& report, std::size_t tail = 12) {
    if (!report.failure) return "passed: seed=" + std::to_string(report.seed) + " name=" + report.name;
    std::string text = report.failure->summary() + "\nreplay: MARIONETTE_SEED=" + std::to_string(report.seed) +
                       " <test binary> \"" + current_test_name() + "\"\nlast trace events:\n";
    const std::size_t begin = report.events.size() > tail ? report.events.size() - tail : 0;
    for (std::size_t i = begin; i < report.events.size(); ++i) {
        text += "  " + render_event(report.events[i], TraceFormat::text) + "\n";
    }
    return text;
}

/// run_case with MARIONETTE_SEED honoured (the replay of a printed seed).
template <typename Harness>
RunReport run_with_override(const Case<Harness>& c) {
    return run_case(c, detail::seed_override().value_or(c.seed));
}

/// fuzz() with MARIONETTE_SEED honoured: then just that seed.
template <typename Harness>
FuzzReport fuzz_with_override(const Case<Harness>& c) {
    if (auto seed = detail::seed_override()) {
        RunReport report = run_case(c, *seed);
        if (report.passed()) return FuzzReport{1, std::nullopt, std::nullopt};
        return FuzzReport{1, 0, std::move(report)};
    }
    return fuzz(c);
}

}  // namespace marionette::testing

/// REQUIREs that the case passes (both runs, same trace); evaluates to the
/// RunReport.
#define MARIONETTE_REQUIRE_PASS(...)                                                                 \
    ([&] {                                                                                           \
        ::marionette::RunReport marionette_report_ = ::marionette::testing::run_with_override(__VA_ARGS__); \
        if (!marionette_report_.passed()) FAIL(::marionette::testing::describe(marionette_report_)); \
        return marionette_report_;                                                                   \
    }())

/// REQUIREs that the case fails with a scenario error or a failed check
/// (a determinism mismatch fails the test); evaluates to the RunReport.
#define MARIONETTE_REQUIRE_FAILURE(...)                                                              \
    ([&] {                                                                                           \
        ::marionette::RunReport marionette_report_ = ::marionette::testing::run_with_override(__VA_ARGS__); \
        if (marionette_report_.passed()) {                                                           \
            FAIL("expected a failure, but the case passed: seed=" << marionette_report_.seed);      \
        }                                                                                            \
        if (marionette_report_.failure->kind == ::marionette::FailureKind::determinism_mismatch) {   \
            FAIL(::marionette::testing::describe(marionette_report_));                               \
        }                                                                                            \
        return marionette_report_;                                                                   \
    }())

/// REQUIREs that every seed of the sweep (`.seeds`) passes; on a failure
/// the message starts `marionette fuzz failure: seed=<s> iteration=<i>`.
#define MARIONETTE_REQUIRE_FUZZ_PASS(...)                                                            \
    ([&] {                                                                                           \
        ::marionette::FuzzReport marionette_fuzz_ = ::marionette::testing::fuzz_with_override(__VA_ARGS__); \
        if (marionette_fuzz_.failure) {                                                              \
            FAIL("marionette fuzz failure: seed=" << marionette_fuzz_.failure->seed << " iteration="  \
                 << *marionette_fuzz_.failing_iteration << "\n"                                      \
                 << ::marionette::testing::describe(*marionette_fuzz_.failure));                     \
        }                                                                                            \
        return marionette_fuzz_;                                                                     \
    }())

/// REQUIREs that the sweep finds a failing seed (a scenario error or failed
/// check); evaluates to the FuzzReport, whose failure names the seed.
#define MARIONETTE_REQUIRE_FUZZ_FINDS_FAILURE(...)                                                   \
    ([&] {                                                                                           \
        ::marionette::FuzzReport marionette_fuzz_ = ::marionette::testing::fuzz_with_override(__VA_ARGS__); \
        if (!marionette_fuzz_.failure) {                                                             \
            FAIL("expected the sweep to find a failing seed; " << marionette_fuzz_.iterations << " seeds passed"); \
        }                                                                                            \
        if (marionette_fuzz_.failure->failure->kind == ::marionette::FailureKind::determinism_mismatch) { \
            FAIL(::marionette::testing::describe(*marionette_fuzz_.failure));                        \
        }                                                                                            \
        return marionette_fuzz_;                                                                     \
    }())
