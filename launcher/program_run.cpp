#include "launcher/program_run.hpp"
#include "launcher/replay.hpp"
#include "launcher/validate.hpp"

#include <fmt/core.h>

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "coordinator/coordinator.hpp"
#include "coordinator/scheduler.hpp"
#include "launcher/run_report.hpp"
#include "launcher/session.hpp"
#include "launcher/tsc_probe.hpp"
#include "launcher/node.hpp"
#include "launcher/sweep.hpp"
#include "sim/disk/disk_options.hpp"
#include "sim/random.hpp"
#include "sim/rate.hpp"
#include "sim/seed.hpp"

extern char** environ;

namespace marionette {
namespace {

std::string fmt_hash(std::uint64_t hash) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
    return text;
}

}  // namespace

void StreamDigest::add(std::string_view data) {
    bytes += data.size();
    hash = fnv1a64(data, hash);
}

TraceEvent parse_shim_line(std::string_view line) {
    TraceEvent event;
    std::size_t position = 0;
    auto next_token = [&]() {
        const std::size_t end = std::min(line.find(' ', position), line.size());
        const std::string_view token = line.substr(position, end - position);
        position = end + 1;
        return token;
    };
    event.name = std::string(next_token());
    if (!valid_event_name(event.name)) throw TraceError(0, "shim sent a malformed event name: " + std::string(line));
    bool have_time = false;
    while (position < line.size()) {
        const std::string_view token = next_token();
        const std::size_t equals = token.find('=');
        if (equals == std::string_view::npos) throw TraceError(0, "shim sent a field without '=': " + std::string(line));
        const std::string key(token.substr(0, equals));
        const std::string value = unescape_value(token.substr(equals + 1));
        if (key == "at_ns") {
            event.at_ns = std::stoull(value);
            have_time = true;
        } else {
            if (!valid_field_key(key)) throw TraceError(0, "shim sent a malformed key: " + std::string(line));
            // Canonical decimals become numbers (typed in JSON Lines; the
            // text rendering, and so the hash, is the same either way).
            const bool canonical_number = !value.empty() && value.size() <= 19 &&
                                          value.find_first_not_of("0123456789") == std::string::npos &&
                                          (value == "0" || value[0] != '0');
            if (canonical_number) {
                event.fields.emplace_back(key, static_cast<std::uint64_t>(std::stoull(value)));
            } else {
                event.fields.emplace_back(key, value);
            }
        }
    }
    if (!have_time) throw TraceError(0, "shim event without at_ns: " + std::string(line));
    return event;
}

ProgramRunResult run_program(const ProgramRunOptions& options) {
    if (options.argv.empty()) throw std::invalid_argument("no program given");
    if (options.coordinator == nullptr) throw std::logic_error("run_program needs the node's coordinator");
    Coordinator& node = *options.coordinator;
    Session session(node.clock(), node.trace(), options.seed, options.wall_timeout_ns);
    const ProcessId id = session.launch(node, options);
    for (;;) {
        const Session::Stop stop = session.run();
        if (stop == Session::Stop::crashed) {
            // Power loss: every process of the node dies mid-call, by pid.
            session.kill_node(node);
            continue;
        }
        if (stop == Session::Stop::deadlock) {
            session.kill_node(node);
            continue;
        }
        break;
    }
    ProgramRunResult result = session.result(id);
    result.transport = session.scheduler().transport_stats();
    return result;
}

void record_process_end(Trace& trace, const ProgramRunOptions& options, const ProgramRunResult& result) {
    trace.emit("process.output", {{"stream", "stdout"}, {"bytes", result.stdout_digest.bytes},
                                  {"hash", fmt_hash(result.stdout_digest.hash)}});
    trace.emit("process.output", {{"stream", "stderr"}, {"bytes", result.stderr_digest.bytes},
                                  {"hash", fmt_hash(result.stderr_digest.hash)}});
    if (!result.spawn_error.empty()) {
        trace.emit("process.spawn_failed", {{"error", result.spawn_error}});
    } else if (result.timed_out) {
        trace.emit("process.timeout", {{"wall_timeout_ns", options.wall_timeout_ns}});
    } else if (!result.deadlock.empty()) {
        trace.emit("process.deadlock", {{"reason", "every process blocked, nothing scheduled"}});
    } else if (result.crashed) {
        trace.emit("process.crash", {{"reason", "node_power_loss"}});
    } else if (result.signal != 0) {
        trace.emit("process.signal", {{"signal", static_cast<std::uint64_t>(result.signal)},
                                      {"name", std::string(sigabbrev_np(result.signal) ? sigabbrev_np(result.signal) : "?")}});
    } else {
        trace.emit("process.exit", {{"code", static_cast<std::uint64_t>(result.exit_code)}});
    }
}

void record_run(Trace& trace, const ProgramRunOptions& options, const ProgramRunResult& result) {
    // A trace's time never goes back: a later process of the run starts at
    // the time the trace has reached.
    Ns now = trace.summary().final_ns;
    trace.set_clock([&now] { return now; });
    trace.emit("process.spawn", {{"program", std::filesystem::path(options.argv.at(0)).filename().string()},
                                 {"argc", static_cast<std::uint64_t>(options.argv.size())}});
    // The shim's events and the node's (disk, descriptors) share one clock;
    // merged by time, the shim's first at equal times: both sequences are
    // deterministic, so the merge is too.
    std::size_t node = 0;
    auto emit_node_until = [&](Ns limit, bool inclusive) {
        while (node < result.node_events.size() &&
               (result.node_events[node].at_ns < limit || (inclusive && result.node_events[node].at_ns == limit))) {
            now = std::max(now, result.node_events[node].at_ns);
            trace.emit(result.node_events[node].name, std::span<const TraceField>(result.node_events[node].fields));
            ++node;
        }
    };
    for (const TraceEvent& event : result.shim_events) {
        emit_node_until(event.at_ns, false);
        now = std::max(now, event.at_ns);  // an exec'd image's clock may lag
        trace.emit(event.name, std::span<const TraceField>(event.fields));
    }
    emit_node_until(UINT64_MAX, true);
    record_process_end(trace, options, result);
    trace.set_clock({});
}

std::string find_preload_library() {
    if (const char* path = std::getenv("MARIONETTE_PRELOAD"); path != nullptr && *path != '\0') {
        if (!std::filesystem::exists(path)) throw std::runtime_error(std::string("MARIONETTE_PRELOAD names a missing file: ") + path);
        return path;
    }
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) {
        const auto dir = self.parent_path();
        // Installed: bin/marionette-launch and lib/marionette/libmarionette.so
        // (cmake/install_tools.cmake); in a build tree: launcher/ and interpose/.
        for (const auto& candidate : {dir / "libmarionette.so", dir / ".." / "lib" / "marionette" / "libmarionette.so",
                                      dir / ".." / "interpose" / "libmarionette.so", dir / ".." / "lib" / "libmarionette.so"}) {
            if (std::filesystem::exists(candidate)) return std::filesystem::canonical(candidate).string();
        }
#ifdef MARIONETTE_PRELOAD_PATH
        // Test executables elsewhere in the build tree use the build's copy;
        // an installed launcher never looks into the tree it was built in.
        const std::string build_dir = MARIONETTE_BUILD_DIR;
        if (self.string().rfind(build_dir + "/", 0) == 0 && std::filesystem::exists(MARIONETTE_PRELOAD_PATH)) {
            return MARIONETTE_PRELOAD_PATH;
        }
#endif
    }
    throw std::runtime_error("cannot find libmarionette.so (set MARIONETTE_PRELOAD)");
}

Ns parse_start_time(std::string_view text) {
    const std::string s(text);
    auto bad = [&] { return std::invalid_argument("bad --start-time '" + s + "': expected YYYY-MM-DDTHH:MM:SSZ or Unix seconds"); };
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
        if (s.size() > 11) throw bad();
        return std::stoull(s) * ns_per_s;
    }
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == nullptr || *end != '\0') throw bad();
    const time_t seconds = timegm(&tm);
    if (seconds < 0) throw bad();
    return static_cast<Ns>(seconds) * ns_per_s;
}

}  // namespace marionette

namespace marionette {
namespace {

// ---- run_command: the CLI-level run (see program_run.hpp).

constexpr int exit_program_failed = 1;
constexpr int exit_internal = 3;

/// One argument as a shell needs it typed (sweep.hpp's quoting).
std::string quote(const std::string& arg) { return shell_join({arg}); }

std::string replay_command(const RunCommandOptions& options, std::uint64_t seed) {
    if (!options.invocation.empty()) return replay_command_line(options.invocation, seed);
    std::string line = fmt::format("marionette-launch --seed {}", seed);
    if (!options.start_time_text.empty()) line += " --start-time " + quote(options.start_time_text);
    if (!options.timeout_text.empty()) line += " --timeout " + quote(options.timeout_text);
    if (!options.disk_dir.empty()) line += " --disk " + quote(options.disk_dir);
    if (!options.crash_at_text.empty()) line += " --crash-at " + quote(options.crash_at_text);
    if (!options.crash_after_text.empty()) line += " --crash-after " + quote(options.crash_after_text);
    if (!options.crash_random_text.empty()) line += " --crash-random-within " + quote(options.crash_random_text);
    if (!options.crash_rate_text.empty()) line += " --crash-rate " + quote(options.crash_rate_text);
    if (!options.check_command.empty()) {
        std::string joined;
        for (const auto& arg : options.check_command) joined += (joined.empty() ? "" : " ") + arg;
        line += " --after-crash " + quote(joined);
    }
    for (const auto& [key, value] : options.disk_options) {
        std::string flag = key;
        std::replace(flag.begin(), flag.end(), '_', '-');
        line += " --" + flag + " " + quote(value);
    }
    line += " --";
    for (const auto& arg : options.command) line += " " + quote(arg);
    return line;
}

/// One run recorded into a trace kept in memory (and written to `out`):
/// the program, and with --after-crash the check that followed it.
struct RecordedRun {
    ProgramRunResult result;
    std::optional<ProgramRunResult> check;
    std::optional<CrashReport> crash;
    std::unique_ptr<Trace> trace;
};

/// Arms the crash point the options name (validated by validate_crash_options).
void arm_crash(Coordinator& coordinator, const RunCommandOptions& command, std::uint64_t seed, Ns start_ns) {
    if (!command.crash_at_text.empty()) coordinator.arm_crash_at(start_ns + parse_duration(command.crash_at_text));
    if (!command.crash_after_text.empty()) {
        const std::size_t space = command.crash_after_text.find(' ');
        coordinator.arm_crash_after(command.crash_after_text.substr(space + 1),
                                    std::stoull(command.crash_after_text.substr(0, space)));
    }
    if (!command.crash_random_text.empty()) {
        const std::size_t dots = command.crash_random_text.find("..");
        const Ns from = parse_duration(command.crash_random_text.substr(0, dots));
        const Ns to = parse_duration(command.crash_random_text.substr(dots + 2));
        Prng prng = Prng(seed).derive("crash.point");
        coordinator.arm_crash_at(start_ns + prng.uint_in_range(from, to));
    }
    if (!command.crash_rate_text.empty()) {
        coordinator.arm_crash_rate(Rate::parse(command.crash_rate_text), Prng(seed).derive("crash.rate"));
    }
}

/// Writes the program's stdout where the check finds it; returns the path.
std::string save_program_output(const std::string& text) {
    // Not under /tmp: the check sees /tmp on the simulated disk.
    char pattern[] = "/dev/shm/marionette-output.XXXXXX";
    const int fd = mkstemp(pattern);
    if (fd < 0) throw std::runtime_error("cannot create a file for the program's output");
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    close(fd);
    return pattern;
}

RecordedRun record(ProgramRunOptions run, const RunCommandOptions& command, const TraceHeader& header,
                   std::ostream* out) {
    RecordedRun recorded;
    const Ns start_ns = run.start_realtime_ns != 0 ? run.start_realtime_ns : 1'767'225'600ULL * ns_per_s;
    // Every run has a node: its scheduler runs the program and its children
    // one at a time; with --disk it also serves DIR from the simulated disk.
    auto node = std::make_unique<SimulatedNode>(command, run.seed, start_ns);
    arm_crash(node->coordinator(), command, run.seed, start_ns);
    run.capture_stdout = !command.check_command.empty();
    recorded.result = node->run(run);
    std::vector<TraceEvent> between;
    {
        node->coordinator().disarm_crash();
        if (recorded.result.crashed) {
            // The program is dead (killed and reaped): now the power loss.
            recorded.crash = node->coordinator().crash();
            node->coordinator().restart();
        }
        between = node->take_events();
        if (!command.check_command.empty()) {
            const std::string output_file = save_program_output(recorded.result.stdout_text);
            ProgramRunOptions check = run;
            check.argv = command.check_command;
            check.capture_stdout = false;
            check.process_env = {{"MARIONETTE_PROGRAM_OUTPUT", output_file}, {"MARIONETTE_PROCESS_INDEX", "1"}};
            recorded.check = node->run(check);
            std::filesystem::remove(output_file);
        }
        if (!command.export_disk_dir.empty()) {
            const std::uint64_t entries = node->coordinator().disk().export_durable(command.export_disk_dir);
            if (!command.quiet) {
                fmt::print(stderr, "marionette: durable disk state ({} entries) exported to {}\n", entries,
                           command.export_disk_dir);
            }
        }
    }
    recorded.trace = std::make_unique<Trace>(header, out, true);
    // The crash's own disk events (which writes landed, were lost or torn)
    // belong to the program's run: they happen as it dies.
    recorded.result.node_events.insert(recorded.result.node_events.end(), between.begin(), between.end());
    record_run(*recorded.trace, run, recorded.result);
    Trace* trace = recorded.trace.get();
    trace->set_clock([trace] { return trace->summary().final_ns; });
    if (recorded.crash) {
        recorded.trace->emit("node.crash", {{"pending_writes", recorded.crash->pending}, {"landed", recorded.crash->landed},
                                            {"lost", recorded.crash->lost}, {"torn", recorded.crash->torn}});
    }
    if (!recorded.result.crashed && !crash_point_text(command).empty()) {
        // Said in the trace too, so a sweep's log and a replay show it.
        recorded.trace->emit("coordinator.crash_not_reached", {{"point", crash_point_text(command)}});
    }
    if (recorded.check) {
        ProgramRunOptions check = run;
        check.argv = command.check_command;
        record_run(*recorded.trace, check, *recorded.check);
    }
    return recorded;
}

void describe_outcome(const ProgramRunResult& result, const ProgramRunOptions& run, std::string_view what = "program") {
    if (!result.spawn_error.empty()) {
        fmt::print(stderr, "marionette: {}\n", result.spawn_error);
    } else if (result.timed_out) {
        fmt::print(stderr, "marionette: {} killed after the wall-clock limit ({})\n", what, format_duration(run.wall_timeout_ns));
    } else if (result.crashed) {
        fmt::print(stderr, "marionette: the node lost power at the crash point; the {} was killed mid-call\n", what);
    } else if (!result.deadlock.empty()) {
        fmt::print(stderr, "marionette: DEADLOCK: {}\n", result.deadlock);
    } else if (result.signal != 0) {
        fmt::print(stderr, "marionette: {} killed by signal {} ({})\n", what, result.signal,
                   sigabbrev_np(result.signal) != nullptr ? sigabbrev_np(result.signal) : "?");
    } else if (run.virtual_timeout_ns != 0 && result.exit_code == 124 &&
               std::any_of(result.node_events.begin(), result.node_events.end(),
                           [](const TraceEvent& e) { return e.name == "process.virtual_timeout"; })) {
        fmt::print(stderr, "marionette: {} stopped at the virtual time limit (--timeout {})\n", what,
                   format_duration(run.virtual_timeout_ns));
    } else if (result.exit_code != 0) {
        fmt::print(stderr, "marionette: {} exited with status {}\n", what, result.exit_code);
    }
}

}  // namespace

/// Crash options name at most one crash point, in well-formed text;
/// a usage error (std::invalid_argument) names what is wrong.
void validate_crash_options(const RunCommandOptions& options) {
    const int points = !options.crash_at_text.empty() + !options.crash_after_text.empty() +
                       !options.crash_random_text.empty() + !options.crash_rate_text.empty();
    if (points == 0 && options.check_command.empty()) return;
    if (points > 1) {
        throw std::invalid_argument("give at most one of --crash-at, --crash-after, --crash-random-within, --crash-rate");
    }
    if (!options.crash_rate_text.empty()) {
        try {
            Rate::parse(options.crash_rate_text);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("invalid --crash-rate: ") + e.what());
        }
    }
    if (!options.crash_at_text.empty()) parse_duration(options.crash_at_text);
    if (!options.crash_after_text.empty()) {
        const std::string& text = options.crash_after_text;
        const std::size_t space = text.find(' ');
        const bool count_ok = space != std::string::npos && space > 0 &&
                              text.find_first_not_of("0123456789") == space;
        if (!count_ok || !valid_event_name(text.substr(space + 1))) {
            throw std::invalid_argument("invalid --crash-after '" + text + "' (expected '<count> <event.name>', e.g. '150 disk.write')");
        }
    }
    if (!options.crash_random_text.empty()) {
        const std::string& text = options.crash_random_text;
        const std::size_t dots = text.find("..");
        if (dots == std::string::npos) {
            throw std::invalid_argument("invalid --crash-random-within '" + text + "' (expected <from>..<to>, e.g. 0..50ms)");
        }
        if (parse_duration(text.substr(0, dots)) > parse_duration(text.substr(dots + 2))) {
            throw std::invalid_argument("invalid --crash-random-within '" + text + "': end before start");
        }
    }
}

bool same_traces(const Trace& first, const Trace& second) {
    const auto& a = first.events();
    const auto& b = second.events();
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        const std::string line_a = i < a.size() ? render_event(a[i], TraceFormat::text) : "(no event: run 1 ended)";
        const std::string line_b = i < b.size() ? render_event(b[i], TraceFormat::text) : "(no event: run 2 ended)";
        if (line_a != line_b) {
            fmt::print(stderr, "marionette: VERIFY FAILED: the two runs diverge at event {}\n", i);
            fmt::print(stderr, "  run 1: {}\n  run 2: {}\n", line_a, line_b);
            return false;
        }
    }
    return true;
}

ProgramRunOptions program_options(const RunCommandOptions& options) {
    ProgramRunOptions run;
    run.argv = options.command;
    run.seed = parse_seed(options.seed_text);
    if (!options.start_time_text.empty()) run.start_realtime_ns = parse_start_time(options.start_time_text);
    run.wall_timeout_ns = parse_duration(options.wall_timeout_text);
    if (!options.timeout_text.empty()) run.virtual_timeout_ns = parse_duration(options.timeout_text);
    run.preload_path = find_preload_library();
    return run;
}

std::string describe_power_loss(const CrashReport& report) {
    return fmt::format("{} unsynced writes ({} landed, {} lost, {} torn); {} directory entries undone (their change "
                       "was never made durable), {} files gone",
                       report.pending, report.landed, report.lost, report.torn, report.namespace_lost,
                       report.removed_inodes);
}

int run_command(const RunCommandOptions& options) {
    ProgramRunOptions run;
    try {
        run = program_options(options);  // bad values throw std::invalid_argument: a usage error
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "marionette: {}\n", e.what());
        return exit_internal;
    }
    TraceHeader header;
    header.format = parse_trace_format(options.trace_format_text);
    header.seed = run.seed;
    header.options = {{"mode", "program"}, {"program", run.argv.at(0)}, {"tsc", std::string(tsc_trace_value(tsc_mechanism()))}};
    if (!options.start_time_text.empty()) header.options.emplace_back("start_time", options.start_time_text);

    std::unique_ptr<std::ofstream> file;
    if (!options.trace_path.empty()) {
        file = std::make_unique<std::ofstream>(options.trace_path);
        if (!*file) throw std::invalid_argument("cannot write trace file '" + options.trace_path + "'");
    }
    for (const auto& [key, value] : options.disk_options) {
        DiskOptions probe;
        set_disk_option(probe, key, value);  // a bad name or value is a usage error, before anything runs
        header.options.emplace_back(key, value);
    }
    if (!options.disk_dir.empty()) header.options.emplace_back("disk", options.disk_dir);
    validate_crash_options(options);
    if (!options.crash_at_text.empty()) header.options.emplace_back("crash_at", options.crash_at_text);
    if (!options.crash_after_text.empty()) header.options.emplace_back("crash_after", options.crash_after_text);
    if (!options.crash_random_text.empty()) header.options.emplace_back("crash_random_within", options.crash_random_text);
    if (!options.crash_rate_text.empty()) header.options.emplace_back("crash_rate", options.crash_rate_text);
    RecordedRun first = record(run, options, header, file.get());
    if (file) file->flush();
    describe_outcome(first.result, run);
    // A crash at the armed point is the scenario, not a failure; with a
    // check, the check's verdict is the run's.
    int code = first.result.succeeded() || first.result.crashed ? 0 : exit_program_failed;
    if (first.crash && !options.quiet) fmt::print(stderr, "marionette: power loss: {}\n", describe_power_loss(*first.crash));
    if (!first.result.crashed && !crash_point_text(options).empty()) {
        fmt::print(stderr, "marionette: crash point not reached: {} (the run ended at virtual time {}){}\n",
                   crash_point_text(options), format_duration(first.trace->summary().final_ns),
                   options.require_crash ? "; --require-crash makes this a failure" : "");
    }
    if (first.check) {
        describe_outcome(*first.check, run, "check (--after-crash)");
        code = first.check->succeeded() ? 0 : exit_program_failed;
        if (!options.quiet || code != 0) {
            fmt::print(stderr, "marionette: check after the {}: {}\n", first.crash ? "crash" : "run (no crash point reached)",
                       code == 0 ? "passed" : "FAILED");
        }
    }
    if (options.require_crash && !first.result.crashed) code = exit_program_failed;
    if (!first.result.spawn_error.empty()) code = 2;

    if (options.verify && first.result.spawn_error.empty()) {
        ProgramRunOptions again = run;
        again.forward_output = false;
        RunCommandOptions second_command = options;
        second_command.export_disk_dir.clear();
        RecordedRun second = record(again, second_command, header, nullptr);
        if (!same_traces(*first.trace, *second.trace)) {
            code = exit_program_failed;
        } else if (!options.quiet) {
            fmt::print(stderr, "marionette: verify: 2 runs identical ({} events, trace_hash={:016x})\n", first.trace->size(),
                       first.trace->hash());
        }
    }
    if (options.summary) fmt::print(stderr, "{}{}", first.trace->summary().format(), first.result.transport.format());
    write_run_report(options.run_report_path, *first.trace);
    if (!options.quiet || code != 0) {
        fmt::print(stderr, "marionette: seed={} events={} trace_hash={:016x}{}\n", run.seed, first.trace->size(),
                   first.trace->hash(),
                   options.trace_path.empty() ? "" : " trace=" + std::filesystem::absolute(options.trace_path).string());
        fmt::print(stderr, "marionette: replay with: {}\n", replay_command(options, run.seed));
    }
    return code;
}

}  // namespace marionette
