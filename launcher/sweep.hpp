// Seed sweeps: the same run under many seeds, in parallel, each isolated.
//
// A sweep re-executes marionette-launch once per seed (the exact command a
// user would type, plus `--seed S`), at most `jobs` at a time, each with its
// own output log in the sweep directory, so runs share nothing but the CPU.
// While it runs it shows progress (runs/s, failures so far, an ETA); at the
// end it prints the failing seeds, grouped by how they failed, with the
// command that replays each one (launcher/sweep_results.hpp formats it and
// writes `--results`). Seeds of
// `--runs N` follow the Zig library's fuzz rule, so a seed printed by
// expect_fuzz and one printed here mean the same thing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
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

/// How progress is shown: `auto` is `live` on a terminal, else `lines`.
enum class SweepProgress { automatic, live, lines, off };

/// Parses `auto`, `live`, `lines` or `off`; throws std::invalid_argument.
SweepProgress parse_sweep_progress(std::string_view text);

struct SweepRun {
    std::uint64_t seed = 0;
    int exit_code = 0;  ///< 0 pass, 1 program failed, 2 usage, 3 Marionette failed, 128+n signal
    std::string log_path;
    /// The run's first diagnostic line (`marionette: program exited with
    /// status 1`), without the prefix; empty for a quiet pass.
    std::string message;
    /// What the run reported at its end (launcher/run_report.hpp); none if
    /// it ended before writing it.
    std::optional<std::uint64_t> events, trace_hash, virtual_duration_ns;
    std::uint64_t wall_time_ms = 0;
    /// The command that replays this seed, shell-quoted.
    std::string replay;
};

struct SweepOptions {
    std::vector<std::uint64_t> seeds;
    unsigned jobs = 1;
    /// The launcher and its arguments for one run, without any --seed.
    std::vector<std::string> run_argv;
    /// Where per-seed logs go (created).
    std::string log_dir;
    /// How the replay command names the launcher (argv[0] as typed).
    std::string display_launcher = "marionette-launch";
    SweepProgress progress = SweepProgress::automatic;
    /// Called with every finished run, in the order of `seeds` (a run that
    /// ends early waits for the ones before it), so what it writes does not
    /// depend on timing.
    std::function<void(const SweepRun&)> on_result;
    /// Put before each replay command (`cd DIR && ` when relative paths matter).
    std::string display_prefix;
};


/// Starts `argv` (argv[0] a path) with standard input from /dev/null and
/// standard output and error into `log_path` (created); returns its pid.
pid_t start_logged(std::vector<std::string> argv, const std::string& log_path);

/// A wait status as the launcher's exit codes read: the exit status, or
/// 128+n when killed by signal n.
int exit_code_of(int status);

/// `pass` (exit 0), `fail` (1: the program failed), `usage` (2), `error`
/// (3 or another code: Marionette failed), `killed` (128+n).
std::string_view verdict_of(int exit_code);

/// The command line that replays `seed` (the launcher as typed, the run's
/// options, `--seed S`), shell-quoted.
std::string replay_command(const SweepOptions& options, std::uint64_t seed);

struct SweepResult {
    std::uint64_t runs = 0;
    std::vector<SweepRun> failures;  ///< in seed order
    double wall_seconds = 0;
    /// 0 all passed; 3 if any run hit a Marionette failure; 2 if a run
    /// reported a usage error; else 1.
    int exit_code() const;
};

/// Runs the sweep; progress goes to `progress` as options.progress says (a
/// live line rewritten in place, or a line per 10% of the runs). Throws
/// std::runtime_error if a run cannot be started at all.
SweepResult run_sweep(const SweepOptions& options, std::FILE* progress);

/// One progress line (no newline): runs done, failures, runs/s and an ETA.
std::string format_sweep_progress(std::uint64_t done, std::uint64_t total, std::size_t failed, double seconds);

}  // namespace marionette
