// Running one unmodified program under the preload shim.
//
// The launcher side of the interposer: spawns the program with
// libmarionette.so preloaded and its configuration in the environment
// (docs/interposer.md), ASLR off, stdout/stderr forwarded through pipes and
// hashed, the shim's trace lines read from a pipe, a wall-clock guard that
// kills the child by pid. The result is turned into trace events in a fixed
// order (spawn, the shim's events, outputs, exit) so a run's trace is a
// function of its seed even though pipes are read as data arrives. Later the
// launcher becomes the coordinator of many processes; this is its
// one-process form.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordinator/transport_stats.hpp"
#include "sim/time.hpp"
#include "sim/trace.hpp"

namespace marionette {

class Coordinator;

/// How to run the program.
struct ProgramRunOptions {
    /// Program and arguments; argv[0] is looked up in PATH.
    std::vector<std::string> argv;
    std::uint64_t seed = 0;
    /// CLOCK_REALTIME at start (ns since the Unix epoch); 0 = the shim's
    /// default, 2026-01-01T00:00:00Z.
    Ns start_realtime_ns = 0;
    /// Path of libmarionette.so.
    std::string preload_path;
    /// The child is killed (SIGKILL, by pid) after this much wall time.
    Ns wall_timeout_ns = 60 * ns_per_s;
    /// Copy the program's stdout/stderr to ours (off for a verify re-run).
    bool forward_output = true;
    /// Extra environment for the shim (e.g. MARIONETTE_SECCOMP=0).
    std::vector<std::pair<std::string, std::string>> extra_env;
    /// The node's coordinator when files are simulated (--disk): the child
    /// gets a connection to it and the host prefixes below are routed there.
    /// Null: every file call reaches the real kernel.
    Coordinator* coordinator = nullptr;
    std::vector<std::string> mount_prefixes;
    /// Virtual time already elapsed in the run when this process starts.
    Ns start_elapsed_ns = 0;
    /// --timeout: the run's virtual time limit (0: none); a process that
    /// reaches it exits with status 124.
    Ns virtual_timeout_ns = 0;
    /// Keep the program's stdout text in the result (for checks).
    bool capture_stdout = false;
    /// Extra environment for this process only (e.g. for a check).
    std::vector<std::pair<std::string, std::string>> process_env;
};

/// Size and FNV-1a hash of everything a stream carried.
struct StreamDigest {
    std::uint64_t bytes = 0;
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    void add(std::string_view data);
};

/// What happened.
struct ProgramRunResult {
    /// Events the shim reported, in order, `at_ns` made non-decreasing
    /// across exec'd images (each image's clock restarts).
    std::vector<TraceEvent> shim_events;
    /// Events of the node (disk, descriptors) the coordinator recorded,
    /// `at_ns` on the same clock as the shim's.
    std::vector<TraceEvent> node_events;
    StreamDigest stdout_digest;
    StreamDigest stderr_digest;
    int exit_code = -1;  ///< exit status if the program exited
    int signal = 0;      ///< terminating signal, 0 if it exited
    bool timed_out = false;
    /// The coordinator reached its crash point: the node lost power and the
    /// program was killed (by pid) without an answer to its last call.
    bool crashed = false;
    /// stdout as text when capture_stdout was set.
    std::string stdout_text;
    /// Non-empty if the program could not be started (e.g. not found).
    std::string spawn_error;
    /// Non-empty if every process blocked for good while the program still
    /// ran: what each one waited for.
    std::string deadlock;
    /// How the processes' messages travelled (for --summary).
    TransportStats transport;

    /// The status a shell would report: 128+N if killed by signal N, else
    /// the exit status.
    int exit_status() const { return signal != 0 ? 128 + signal : exit_code; }
    /// True if the program exited with status 0.
    bool succeeded() const {
        return spawn_error.empty() && deadlock.empty() && !timed_out && !crashed && signal == 0 && exit_code == 0;
    }
};

/// Spawns and waits for the program. Throws std::runtime_error when
/// Marionette itself fails (pipes, fork, a malformed shim line).
ProgramRunResult run_program(const ProgramRunOptions& options);

/// Parses one shim line `name at_ns=<t> key=value ...` (values escaped as in
/// the text trace). Throws TraceError on a malformed line.
TraceEvent parse_shim_line(std::string_view line);

/// Records a finished run into `trace`: process.spawn, the shim's events,
/// process.output per stream, then process.exit / process.signal /
/// process.timeout.
void record_run(Trace& trace, const ProgramRunOptions& options, const ProgramRunResult& result);

/// The end of a run as record_run records it: process.output per stream,
/// then how it ended (process.exit, .signal, .crash, ...).
void record_process_end(Trace& trace, const ProgramRunOptions& options, const ProgramRunResult& result);

/// libmarionette.so: $MARIONETTE_PRELOAD, else next to the launcher binary
/// (../lib/marionette/ when installed, ../interpose/ in a build tree), else,
/// for executables inside the build tree only, the path compiled in. Throws
/// std::runtime_error if none exists.
std::string find_preload_library();

/// Parses --start-time: `YYYY-MM-DDTHH:MM:SSZ` or Unix seconds. Throws
/// std::invalid_argument naming the text.
Ns parse_start_time(std::string_view text);

// ---- The `marionette-launch [options] -- program args` command: one run,
// or two with --verify, reported with the seed and the replay command.

/// Options of a program run as given on the command line.
struct RunCommandOptions {
    std::vector<std::string> command;
    std::string seed_text = "0";
    std::string trace_path;
    std::string trace_format_text = "text";
    std::string start_time_text;
    std::string wall_timeout_text = "60s";
    std::string timeout_text;
    bool summary = false;
    bool verify = false;
    bool quiet = false;
    /// --disk DIR: the program sees DIR (and /tmp) on the simulated disk,
    /// starting from a copy of DIR's contents; DIR itself is never written.
    std::string disk_dir;
    /// Cluster runs: the node that each `--disk NAME=DIR` names, with its
    /// DIR; `disk_dir` (a `--disk DIR` without a node name) is every other
    /// node's. Each node's disk starts from its own copy.
    std::vector<std::pair<std::string, std::string>> node_disks;
    /// --real-path PATH (repeatable): host paths the program reaches for
    /// real, outside the copy-on-write view of the host (an escape).
    std::vector<std::string> real_paths;
    /// --export-disk DIR: where the durable state is written after the run.
    std::string export_disk_dir;
    /// Crash points (with --disk): virtual time since start, `<n> <event>`,
    /// a seeded time in `<from>..<to>`, or a Rate per forwarded call.
    std::string crash_at_text;
    std::string crash_after_text;
    std::string crash_random_text;
    std::string crash_rate_text;
    /// --after-crash CMD: run on the surviving disk after the crash (or after
    /// the program ends, if the crash point was never reached); its exit code
    /// is the run's verdict. It finds the program's stdout in the file named
    /// by $MARIONETTE_PROGRAM_OUTPUT. Given as one string, split into words
    /// as a --node command is (control/lexer.hpp).
    std::vector<std::string> check_command;
    /// --scenario FILE: drive the run with the control language.
    std::string scenario_path;
    /// --control SOCKET: then serve the same language on a Unix socket until
    /// a client sends `quit`.
    std::string control_path;
    /// Disk model options by name (`crash_torn_write_rate` -> `20%`).
    std::vector<std::pair<std::string, std::string>> disk_options;
    /// Cluster runs: `--node NAME=COMMAND` in order, the node whose program
    /// decides the run (`--client`, default the last), and network options
    /// (`--net 'key=value ...'`, sim/net/options.hpp keys).
    std::vector<std::string> nodes;
    std::string client_node;
    std::string net_options;
    /// Hidden --run-report FILE: where a sweep's run writes its end report
    /// (launcher/run_report.hpp).
    std::string run_report_path;
    /// Hidden --record-faults FILE (cluster runs, for --shrink): the random
    /// faults that fired, as `net.force` lines, and how the run ended
    /// (launcher/shrink.hpp reads it).
    std::string record_faults_path;
    /// --require-crash: a run whose crash point was never reached fails.
    bool require_crash = false;
    /// The launcher's command line as given (argv[0] first), for the replay
    /// command a run prints (launcher/replay.hpp). Empty: built from the
    /// options above.
    std::vector<std::string> invocation;
};

/// Parses --seed, --start-time, --wall-timeout and finds the preload: the
/// options of one program run. Throws std::invalid_argument on bad values
/// and std::runtime_error if the preload library is missing.
ProgramRunOptions program_options(const RunCommandOptions& options);

/// Crash options name at most one crash point, in well-formed text (in a
/// cluster, once take_crash_node removed the node); a usage error
/// (std::invalid_argument) names what is wrong.
void validate_crash_options(const RunCommandOptions& options);

/// Compares two runs' traces event by event; false after printing the
/// first divergence (`marionette: VERIFY FAILED: ...`) to stderr.
bool same_traces(const Trace& first, const Trace& second);

struct CrashReport;
/// What a power loss did to a disk, for the launcher's report line
/// ("3 unsynced writes (1 landed, 2 lost, 0 torn); ...").
std::string describe_power_loss(const CrashReport& report);

/// Runs the command; returns the launcher's exit code (0 ok, 1 the program
/// failed or --verify found a divergence, 3 Marionette failed). Throws
/// std::invalid_argument on bad option values.
int run_command(const RunCommandOptions& options);

}  // namespace marionette
