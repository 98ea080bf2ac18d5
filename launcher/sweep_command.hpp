// The sweep options of marionette-launch: `--runs`/`--seeds` with `--jobs`,
// `--shard`, `--results` and `--progress`, and `--merge-results`.
//
// main.cpp only declares the options; this module checks how they combine,
// turns the command line into the per-seed run command (the same arguments
// minus the sweep's own), and runs the sweep (launcher/sweep.hpp) or the
// merge of results files (launcher/sweep_results.hpp).
#pragma once

#include <string>
#include <vector>

namespace marionette {

struct SweepCommand {
    std::string seed_text = "0";  ///< --seed: the base of --runs
    std::string runs_text;        ///< --runs N
    std::string seeds_text;       ///< --seeds A..B
    unsigned jobs = 0;            ///< --jobs (0: the number of CPUs)
    std::string shard_text;       ///< --shard K/N or env
    std::string shard_count_text; ///< --shard-count N (with --shard env)
    std::string results_path;     ///< --results FILE
    std::string progress_text;    ///< --progress auto|live|lines|off
    std::vector<std::string> merge_paths;  ///< --merge-results FILE...

    /// True if the command line asks for a sweep (--runs or --seeds).
    bool is_sweep() const { return !runs_text.empty() || !seeds_text.empty(); }
};

/// Throws std::invalid_argument (a usage error) for sweep options that do
/// not fit together: --shard without --seeds, --results or --progress
/// without a sweep, --shard-count without --shard env, a bad --shard or
/// --progress value. Called before anything runs.
void check_sweep_options(const SweepCommand& command);

/// --runs/--seeds: re-executes this launcher once per seed with the same
/// arguments minus the sweep options; prints the report; returns the exit
/// code (0 all passed, 1 a seed failed, 2 or 3 as SweepResult::exit_code).
int run_sweep_command(int argc, char** argv, const SweepCommand& command);

/// --merge-results FILE...: reads results files (with --seeds, checks that
/// every seed of the range is there), prints the sweep report; exit 2 for
/// duplicate or missing seeds, else as the sweep would have exited.
int run_merge_command(const SweepCommand& command);

}  // namespace marionette
