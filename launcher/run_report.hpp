// The few numbers a sweep keeps of each run, handed from run to sweep.
//
// A sweep re-executes the launcher once per seed (launcher/sweep.hpp); each
// run is told, by the hidden option `--run-report FILE`, to write what only
// it knows at its end: the trace's event count, hash and final virtual
// time. One line, `events=N trace_hash=HEX virtual_duration_ns=N`, so a run
// that dies before writing it leaves no half-read record. The sweep adds
// what it measures itself (exit code, wall time) and writes `--results`
// (launcher/sweep_results.hpp). The option never appears in a replay
// command: a replayed run prints the same numbers on its last line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sim/trace.hpp"

namespace marionette {

struct RunReport {
    std::uint64_t events = 0;
    std::uint64_t trace_hash = 0;
    /// The virtual time of the run's last event (runs start at 0).
    std::uint64_t virtual_duration_ns = 0;
};

/// Writes `trace`'s report to `path`; does nothing if `path` is empty.
/// A report that cannot be written is reported on stderr, never fatal: the
/// run's verdict must not depend on the sweep's bookkeeping.
void write_run_report(const std::string& path, const Trace& trace);

/// Reads a report written by write_run_report; nullopt if the file is
/// missing or malformed (the run died before its end).
std::optional<RunReport> read_run_report(const std::string& path);

}  // namespace marionette
