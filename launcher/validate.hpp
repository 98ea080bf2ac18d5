// Checks of a run's command line made before anything runs.
//
// Every option either applies to the kind of run asked for or is a usage
// error (exit 2) naming the option and the fix: nothing is silently
// ignored, and no user error is found only after the run (a non-empty
// --export-disk directory) or reported as Marionette's own failure (exit 3).
#pragma once

#include <string>
#include <vector>

#include "launcher/program_run.hpp"

namespace marionette {

/// Throws std::invalid_argument naming the first problem: an option that
/// does not apply to this kind of run (a cluster when `options.nodes` is
/// set, a sweep when `sweep`), a path that cannot serve (--disk not a
/// directory, --export-disk not empty, --scenario missing, --control in a
/// missing directory), a duration without a unit, a crash point on an
/// event no run emits.
void validate_run_options(const RunCommandOptions& options, bool sweep);

/// Resolves the --disk options given (`specs`, in order) into
/// `options.disk_dir` and, in a cluster, `options.node_disks`: `NAME=DIR`
/// where NAME is a --node name is that node's, anything else every other
/// node's. Throws std::invalid_argument on two disks for one node or
/// several in a run of one program.
void assign_disks(RunCommandOptions& options, const std::vector<std::string>& specs);

/// In a cluster each --crash-* option names the node that loses power
/// (`--crash-at server=20ms`, `--crash-after 'server=150 disk.write'`):
/// removes `NODE=` from the crash option's text and returns NODE ("" for a
/// run of one program, or no crash option). Throws std::invalid_argument
/// when a cluster's crash option names no node or an unknown one.
std::string take_crash_node(RunCommandOptions& options);

/// Trace events a `--crash-after '<n> <event>'` can count (the node's
/// events: disk, file, process, thread, timer).
const std::vector<std::string>& crash_after_event_names();

/// The crash point options given, as `--flag value` (empty if none).
std::string crash_point_text(const RunCommandOptions& options);

}  // namespace marionette
