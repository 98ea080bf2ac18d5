// Seed sweeps: the same run under many seeds, in parallel, each isolated.
//
// A sweep re-executes marionette-launch once per seed (the exact command a
// user would type, plus `--seed S`), at most `jobs` at a time, each with its
// own output log in the sweep directory, so runs share nothing but the CPU.
// While it runs it shows a live progress line; at the end it prints a table of
// the failing seeds with the command that replays each one. Seeds of
// `--runs N` follow the Zig library's fuzz rule, so a seed printed by
// expect_fuzz and one printed here mean the same thing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace marionette {

/// Seed of iteration `i` of a sweep based on `base`: base ^ 0x9E3779B97F4A7C15 ^ i.
std::uint64_t sweep_seed(std::uint64_t base, std::uint64_t i);

/// Parses `A..B` (inclusive, each a seed as parse_seed reads it). Throws
/// std::invalid_argument naming the text if malformed, empty or reversed,
/// or wider than 10 million seeds.
std::vector<std::uint64_t> parse_seed_range(std::string_view text);

/// A command line as a shell would need it typed (single-quoted where needed).
std::string shell_join(const std::vector<std::string>& argv);

struct SweepOptions {
    std::vector<std::uint64_t> seeds;
    unsigned jobs = 1;
    /// The launcher and its arguments for one run, without any --seed.
    std::vector<std::string> run_argv;
    /// Where per-seed logs go (created).
    std::string log_dir;
    /// How the replay command names the launcher (argv[0] as typed).
    std::string display_launcher = "marionette-launch";
    /// Put before each replay command (`cd DIR && ` when relative paths matter).
    std::string display_prefix;
};

struct SweepRun {
    std::uint64_t seed = 0;
    int exit_code = 0;  ///< 0 pass, 1 program failed, 2 usage, 3 Marionette failed, 128+n signal
    std::string log_path;
};

struct SweepResult {
    std::uint64_t runs = 0;
    std::vector<SweepRun> failures;  ///< in seed order
    double wall_seconds = 0;
    /// 0 all passed; 3 if any run hit a Marionette failure; 2 if a run
    /// reported a usage error; else 1.
    int exit_code() const;
};

/// Runs the sweep; progress goes to `progress` (a live line when it is a
/// terminal, a line per 10% otherwise). Throws std::runtime_error if a run
/// cannot be started at all.
SweepResult run_sweep(const SweepOptions& options, std::FILE* progress);

/// The final report: totals and the failing-seed table with replay commands.
std::string format_sweep_report(const SweepOptions& options, const SweepResult& result);

}  // namespace marionette
