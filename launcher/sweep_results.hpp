// What a sweep found: its final report, its `--results` JSON Lines, and the
// merge of the results of many shards into one report.
//
// `--results FILE` writes one JSON object per seed, in the order of the
// sweep's seeds (so a shard's file, and the `cat` of every shard's file in
// shard order, does not depend on timing):
//   {"seed":7,"verdict":"fail","exit_code":1,"message":"program exited with
//    status 1","virtual_duration_ns":5000000,"wall_time_ms":812,
//    "events":3456,"trace_hash":"0123456789abcdef","replay":"..."}
// `events`, `trace_hash` and `virtual_duration_ns` are missing when the run
// ended before reporting them; `message` is empty for a pass. Everything
// but `wall_time_ms` is the same whichever machine ran the seed (the replay
// command names the launcher as it was typed). `--merge-results FILE...`
// reads such files back (launcher/sweep_command.hpp) and prints the report
// a single-machine sweep prints, refusing duplicate seeds.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/sweep.hpp"

namespace marionette {

/// One results line (no newline) for `run`.
std::string format_result_line(const SweepRun& run);

/// Parses a line written by format_result_line. Throws std::invalid_argument
/// saying what is wrong (not JSON, a missing or mistyped member).
SweepRun parse_result_line(std::string_view line);

/// Opens (creates or truncates) the results file before anything runs;
/// `-` is standard output.
/// Throws std::invalid_argument naming the path and the reason (no such
/// directory, a directory, not writable).
std::FILE* open_results_file(const std::string& path);

/// The final report: totals, then the failing seeds grouped by how they
/// failed (verdict, exit code, message), each with its log and replay
/// command. `totals` is the first line's text after "marionette sweep: ".
std::string format_sweep_report(const std::string& totals, const std::vector<SweepRun>& failures);

/// The report of a finished sweep (totals with time and runs/s).
std::string format_sweep_report(const SweepResult& result);

/// Results read back from one or more files.
struct MergedResults {
    SweepResult result;  ///< runs, failures; wall_seconds is the runs' total
    std::size_t files = 0;
    /// Seeds that appear more than once, each with where ("a.jsonl:3").
    std::vector<std::string> duplicates;
    /// With an expected range: its seeds no file has.
    std::vector<std::uint64_t> missing;
};

/// Reads results files (concatenated shard files are fine; blank lines are
/// skipped). With `expected` (the sweep's seeds), also lists the seeds no
/// file has. Throws std::invalid_argument for an unreadable file or a
/// malformed line (naming file and line).
MergedResults merge_results(const std::vector<std::string>& paths, const std::vector<std::uint64_t>* expected);

/// The merged report, then any duplicate or missing seeds.
std::string format_merge_report(const MergedResults& merged);

}  // namespace marionette
