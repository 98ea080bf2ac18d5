// Shrinking (`marionette-launch --shrink ...` on a failing cluster run):
// from every fault that fired in a failing run to a small set that still
// fails the same way, written as a scenario file that replays it.
//
// The run is re-executed as a child (`/proc/self/exe`, the user's options,
// `--quiet`, the hidden `--record-faults FILE`): first as given, which
// records every random network fault that fired as a `net.force` line
// (sim/net/forced.cpp), every random disk fault as a `disk.force` line
// (sim/disk/disk_forced.cpp) and how the run ended; then once per candidate
// set, each a scenario of `net.force only` and `disk.force only` (random
// faults off), the candidate's forced lines, and the original scenario's
// lines (`crash random within` written as the time it drew; its own fault lines
// -- partitions, clogs, connect failures, crashes, kills, corruptions --
// also being candidates), or, for a run without a scenario, `run until exit
// <client>` and `expect exit <client> 0`. A candidate "still fails" when the
// launcher's exit code and the recorded outcome (the deciding program's
// exit, a timeout, the scenario line that failed) equal the full set's.
// The search is delta debugging (ddmin), which ends 1-minimal: removing any
// one kept fault makes the failure go away (or change); then each kept
// time-based crash is bisected earlier. With --shrink-jobs N the runs the
// search will make next run N at a time (Lookahead), with the same result.
// docs/shrinking.md explains it and its limits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "launcher/program_run.hpp"

namespace marionette {

/// The shrink options of the command line.
struct ShrinkCommand {
    bool shrink = false;
    std::string out_path;     ///< --shrink-out FILE (default: marionette-shrink-<seed>.scenario)
    std::string budget_text;  ///< --shrink-budget N: at most N runs (default 200)
    std::string jobs_text;    ///< --shrink-jobs N: candidate runs at a time (default 1)
};

/// Throws std::invalid_argument when the shrink options cannot apply to
/// this run (no --shrink with --shrink-out, not a cluster, a sweep, --control,
/// --verify, a bad budget).
void check_shrink_options(const ShrinkCommand& command, const RunCommandOptions& run, bool sweep);

/// Runs the search for the command line `argv`; returns the exit code (0:
/// nothing to shrink, the run passes; 1: shrunk, the failure reproduces with
/// the kept faults; 2 usage; 3 the recorded faults did not reproduce).
int run_shrink_command(int argc, char** argv, const ShrinkCommand& command, const RunCommandOptions& run);

/// Delta debugging over `count` items (indices 0..count-1): returns a subset
/// for which `fails` is true and from which no single item can be removed
/// with `fails` still true, assuming `fails(all)`; stops early (returning
/// the smallest failing set so far) when `fails` returns nullopt (budget).
/// Exposed for the unit test.
/// `plan`, if given, is told before each round the sets the round will test,
/// in the order it tests them (it tests a prefix: up to the first failing).
std::vector<std::size_t> delta_debug(
    std::size_t count, const std::function<std::optional<bool>(const std::vector<std::size_t>&)>& fails,
    const std::function<void(const std::vector<std::vector<std::size_t>>&)>& plan = {});

/// Tests a search is about to make, run `jobs` at a time, while the search
/// consumes their results one by one in its own order: a test the search
/// asks for that has not run yet runs together with the next planned ones
/// (up to `jobs`, within the budget), whose results wait until asked for.
/// A test counts as a run when the search consumes it, so the search, its
/// run count and where the budget stops it are the same for every `jobs`;
/// only started() (processes actually run) grows with speculation. Tests
/// are named by a key (the candidate scenario's text); each runs once.
class Lookahead {
public:
    /// Runs a batch of tests at once; returns whether each fails the same way.
    using Runner = std::function<std::vector<bool>(const std::vector<std::string>&)>;
    Lookahead(std::size_t jobs, std::uint64_t budget, std::uint64_t runs_so_far, Runner runner);
    /// The tests the search will ask for next, in order.
    void plan(std::vector<std::string> upcoming) { upcoming_ = std::move(upcoming); }
    /// The result of `key`; nullopt when the budget is spent.
    std::optional<bool> test(const std::string& key);
    /// Whether `key` was consumed already (its result is cached).
    bool consumed(const std::string& key) const { return done_.contains(key); }
    std::uint64_t runs() const { return runs_; }
    std::uint64_t started() const { return started_; }
    bool ran_out() const { return ran_out_; }

private:
    std::size_t jobs_;
    std::uint64_t budget_;
    std::uint64_t runs_;
    std::uint64_t started_ = 0;
    bool ran_out_ = false;
    Runner runner_;
    std::vector<std::string> upcoming_;
    std::map<std::string, bool> done_;
    std::map<std::string, bool> prefetched_;
};

/// Bisects (lo, hi] for the earliest time that still fails, `hi` failing:
/// `fails(t)` answers for a time (nullopt: budget spent); `plan` is told
/// the times the next steps may test (the next levels of the bisection,
/// up to `lookahead` of them) before each step. Stops when the interval is
/// at most `resolution` wide; returns the earliest failing time tested.
std::uint64_t bisect_earliest(std::uint64_t lo, std::uint64_t hi, std::uint64_t resolution,
                              const std::function<std::optional<bool>(std::uint64_t)>& fails,
                              const std::function<void(const std::vector<std::uint64_t>&)>& plan = {},
                              std::size_t lookahead = 1);

}  // namespace marionette
