// Shrinking (`marionette-launch --shrink ...` on a failing cluster run):
// from every fault that fired in a failing run to a small set that still
// fails the same way, written as a scenario file that replays it.
//
// The run is re-executed as a child (`/proc/self/exe`, the user's options,
// `--quiet`, the hidden `--record-faults FILE`): first as given, which
// records every random network fault that fired as a `net.force` line
// (sim/net/forced.cpp) and how the run ended; then once per candidate set,
// each a scenario of `net.force only` (random faults off), the candidate's
// `net.force` lines, and the original scenario's lines (its own fault lines
// -- partitions, clogs, connect failures, crashes, kills, corruptions --
// also being candidates), or, for a run without a scenario, `run until exit
// <client>` and `expect exit <client> 0`. A candidate "still fails" when the
// launcher's exit code and the recorded outcome (the deciding program's
// exit, a timeout, the scenario line that failed) equal the full set's.
// The search is delta debugging (ddmin), which ends 1-minimal: removing any
// one kept fault makes the failure go away (or change). docs/shrinking.md
// explains it and its limits.
#pragma once

#include <cstdint>
#include <functional>
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
std::vector<std::size_t> delta_debug(std::size_t count,
                                     const std::function<std::optional<bool>(const std::vector<std::size_t>&)>& fails);

}  // namespace marionette
