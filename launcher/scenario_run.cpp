#include "launcher/scenario_run.hpp"
#include "launcher/replay.hpp"

#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "control/executor.hpp"
#include "control/scenario.hpp"
#include "control/socket.hpp"
#include "launcher/node.hpp"
#include "launcher/run_report.hpp"
#include "launcher/session.hpp"
#include "sim/disk/disk_options.hpp"
#include "sim/random.hpp"

namespace marionette {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_internal = 3;
constexpr const char* main_name = "main";

Reply unsupported(std::string_view what) {
    return Reply::failure(ErrorCode::unsupported, std::string(what) + " is not supported by a single-node program run yet");
}

/// The exit code `expect exit` compares: -1 for a power loss, 128+N for a
/// signal (as a shell reports it).
int exit_code_of(const ProgramRunResult& result) {
    return result.crashed ? -1 : result.exit_status();
}

/// The control language over one node running the command after `--`.
///
/// One Session lives as long as the executor: the node's command (the
/// "main" incarnation) stays alive, paused, between commands. The session
/// writes into the node's own trace (scheduler, disk and process events in
/// execution order); forward_node_events() moves them into the scenario
/// trace with their times before anything else is traced there.
class ScenarioExecutor final : public CommandExecutor {
public:
    ScenarioExecutor(const RunCommandOptions& options, ProgramRunOptions run, Trace& trace)
        : options_(options), run_(std::move(run)), trace_(trace),
          node_(options, run_.seed,
                run_.start_realtime_ns != 0 ? run_.start_realtime_ns : 1'767'225'600ULL * ns_per_s),
          session_(node_.coordinator().clock(), node_.coordinator().trace(), run_.seed, run_.wall_timeout_ns),
          prng_(Prng(run_.seed).derive("scenario")) {
        use_node_clock();
    }

    Reply run(const Run& command) override {
        if (coordinator().disk().crashed()) {
            return Reply::failure(ErrorCode::state, "the node is crashed: 'restart' it first");
        }
        if (command.mode == Run::Mode::until_exit && !command.node.empty()) {
            return Reply::failure(ErrorCode::bad_argument, "a one-node run has no node names: 'run until exit' alone");
        }
        if (!main_running()) start_incarnation();
        const Ns now = coordinator().clock().now_ns();
        std::optional<Ns> until;
        if (command.mode == Run::Mode::for_duration) until = now + command.ns;
        if (command.mode == Run::Mode::until_time) until = std::max(now, node_.start_ns() + command.ns);
        return advance(until);
    }

    Reply schedule_at(const At& command) override {
        if (!std::holds_alternative<Crash>(command.action)) return unsupported("at <time> with actions other than crash");
        coordinator().arm_crash_at(node_.start_ns() + command.at_ns);
        forward_node_events();
        return Reply::success();
    }

    Reply schedule_after(const After& command) override {
        if (!std::holds_alternative<Crash>(command.action)) return unsupported("after <n> <event> with actions other than crash");
        // Counted from now: the node's trace has counted every event so far.
        const auto& counts = coordinator().trace().summary().by_name;
        const auto seen = counts.find(command.event);
        coordinator().arm_crash_after(command.event, command.count + (seen == counts.end() ? 0 : seen->second));
        forward_node_events();
        return Reply::success();
    }

    Reply crash_random(const CrashRandom& command) override {
        const Ns at = prng_.uint_in_range(command.from_ns, command.to_ns);
        coordinator().arm_crash_at(node_.start_ns() + at);
        forward_node_events();
        return Reply::success({{"at_ns", std::to_string(at)}});
    }

    Reply crash(const Crash&) override {
        if (coordinator().disk().crashed()) return Reply::failure(ErrorCode::state, "the node is already crashed");
        const std::size_t killed = session_.alive(coordinator());
        const CrashReport report = power_loss();
        return Reply::success({{"killed", std::to_string(killed)}, {"lost", std::to_string(report.lost)},
                               {"torn", std::to_string(report.torn)}});
    }

    Reply kill(const Kill&) override {
        // The processes die; the disk keeps their unsynced writes, as the
        // page cache outlives a process.
        const std::size_t killed = session_.kill_node(coordinator());
        finish_main();
        forward_node_events();
        trace_.emit("node.kill", {{"killed", static_cast<std::uint64_t>(killed)}});
        return Reply::success({{"killed", std::to_string(killed)}});
    }

    Reply restart(const Restart&) override {
        if (main_running() || session_.alive(coordinator()) > 0) {
            return Reply::failure(ErrorCode::state, "the node is running; crash or kill it first");
        }
        if (coordinator().disk().crashed()) coordinator().restart();
        forward_node_events();
        trace_.emit("node.restart", {{"incarnation", next_process_index_}});
        start_incarnation();
        return Reply::success({{"incarnation", std::to_string(incarnations_)}});
    }

    Reply disk_set_faults(const DiskSetFaults& command) override {
        DiskFaults faults = coordinator().disk().options().faults;
        for (const DiskFault& fault : command.faults) {
            Rate* rate = find_fault_rate(faults, fault.key);
            if (rate == nullptr) return Reply::failure(ErrorCode::bad_argument, "unknown disk fault '" + fault.key + "'");
            *rate = fault.rate;
        }
        coordinator().disk().set_faults(faults);
        return Reply::success();
    }

    Reply disk_corrupt_sector(const DiskCorruptSector& command) override {
        const std::string path = node_.disk_path(command.path);
        if (path.empty()) return Reply::failure(ErrorCode::bad_argument, "'" + command.path + "' is not on the simulated disk");
        const int error = coordinator().disk().corrupt_sector(path, command.offset);
        forward_node_events();
        if (error != 0) return Reply::failure(ErrorCode::state, "corrupt_sector failed: errno " + std::to_string(error));
        return Reply::success();
    }

    Reply net_partition(const NetPartition&) override { return unsupported("net.partition"); }
    Reply net_heal(const NetHeal&) override { return unsupported("net.heal"); }
    Reply net_set_options(const NetSetOptions&) override { return unsupported("the network"); }
    Reply net_clog(const NetClog&) override { return unsupported("net.clog"); }
    Reply net_unclog(const NetUnclog&) override { return unsupported("net.unclog"); }

    Reply spawn(const Spawn& command) override {
        if (coordinator().disk().crashed()) {
            return Reply::failure(ErrorCode::state, "the node is crashed: 'restart' it first");
        }
        ProgramRunOptions process = run_;
        process.argv = command.argv;
        process.extra_env.emplace_back("MARIONETTE_PROCESS_INDEX", std::to_string(next_process_index_++));
        // Its own session: the main program's processes stay parked (paused)
        // while the helper runs on the same node, disk and clock.
        const ProgramRunResult result = run_process(process, command.name);
        if (result.crashed) {
            // The helper reached the crash point: the whole node loses power.
            const CrashReport report = power_loss();
            return Reply::success({{"exit", std::to_string(exits_[command.name])}, {"crashed", "true"},
                                   {"lost", std::to_string(report.lost)}, {"torn", std::to_string(report.torn)}});
        }
        return Reply::success({{"exit", std::to_string(exits_[command.name])}});
    }

    /// Over the socket a failed expectation is a reply, not the end of the
    /// run; it still decides the exit code.
    bool count_expect_failures = false;
    int expect_failures = 0;

    Reply expect_exit(const ExpectExit& command) override { return counted(check_exit(command)); }
    Reply expect_output(const ExpectOutput& command) override { return counted(check_output(command)); }

    Reply check_exit(const ExpectExit& command) {
        const std::string name = command.name.empty() ? main_name : command.name;
        auto it = exits_.find(name);
        if (it == exits_.end()) return Reply::failure(ErrorCode::state, "no process named '" + name + "' has finished");
        if (it->second != command.code) {
            return Reply::failure(ErrorCode::expect_failed, "'" + name + "' exited " + std::to_string(it->second) +
                                                                ", expected " + std::to_string(command.code));
        }
        return Reply::success();
    }

    Reply check_output(const ExpectOutput& command) {
        auto it = outputs_.find(command.name);
        if (it == outputs_.end()) return Reply::failure(ErrorCode::state, "no process named '" + command.name + "' has run");
        if (it->second.find(command.text) == std::string::npos) {
            return Reply::failure(ErrorCode::expect_failed,
                                  "the output of '" + command.name + "' does not contain '" + command.text + "'");
        }
        return Reply::success();
    }

    Reply trace_read(const TraceRead& command) override {
        std::string text;
        const auto& events = trace_.events();
        for (std::size_t i = command.since_event; i < events.size(); ++i) {
            text += render_event(events[i], TraceFormat::text) + "\n";
        }
        return Reply::success({{"events", std::to_string(events.size())}, {"trace", text}});
    }
    Reply status(const Status&) override {
        const bool crashed = coordinator().disk().crashed();
        const char* state = crashed ? "crashed" : main_running() ? "running" : "idle";
        return Reply::success({{"now_ns", std::to_string(now_ns())}, {"state", state},
                               {"crashed", crashed ? "true" : "false"},
                               {"incarnation", std::to_string(incarnations_)},
                               {"alive", std::to_string(session_.alive(coordinator()))},
                               {"processes_run", std::to_string(next_process_index_)}});
    }
    Reply quit(const Quit&) override { return Reply::success(); }

    /// How the processes' messages travelled so far (for --summary).
    TransportStats transport() { return session_.scheduler().transport_stats(); }

private:
    Coordinator& coordinator() { return node_.coordinator(); }
    Ns now_ns() { return coordinator().clock().now_ns() - node_.start_ns(); }

    Reply counted(Reply reply) {
        if (!reply.ok && reply.code == ErrorCode::expect_failed) ++expect_failures;
        return reply;
    }

    /// True while the current main incarnation has not finished.
    bool main_running() const { return main_ && !session_.finished(*main_); }

    /// Launches a new incarnation of the node's command; it runs at the
    /// next `run`.
    void start_incarnation() {
        forward_node_events();
        ProgramRunOptions process = run_;
        process.capture_stdout = true;
        process.extra_env.emplace_back("MARIONETTE_PROCESS_INDEX", std::to_string(next_process_index_++));
        main_options_ = node_.on_node(process);
        trace_.emit("process.spawn", {{"program", std::filesystem::path(process.argv.at(0)).filename().string()},
                                      {"argc", static_cast<std::uint64_t>(process.argv.size())}});
        main_ = session_.launch(coordinator(), main_options_);
        main_power_lost_ = false;
        main_recorded_ = false;
        ++incarnations_;
    }

    /// Runs the session until `until` (absolute; none: until idle) and
    /// handles how it stopped; replies with the main incarnation's state.
    Reply advance(std::optional<Ns> until) {
        const Session::Stop stop = session_.run(until);
        std::vector<std::pair<std::string, std::string>> fields;
        if (stop == Session::Stop::crashed) add_crash(fields, power_loss());
        if (stop == Session::Stop::deadlock) {
            fields.emplace_back("deadlock", "true");
            session_.kill_node(coordinator());
        }
        if (stop == Session::Stop::idle && until) {
            // Nothing runs, yet time passes; a crash point in the interval
            // is a power loss of the idle node.
            const std::optional<Ns> crash_at = coordinator().crash_at_ns();
            if (crash_at && *crash_at <= *until) {
                coordinator().clock().run_until(std::max(coordinator().clock().now_ns(), *crash_at));
                coordinator().request_crash(0);
                add_crash(fields, power_loss());
            }
            coordinator().clock().run_until(std::max(coordinator().clock().now_ns(), *until));
        }
        // `run until idle` ran everything there was: a crash point it did
        // not reach is forgotten (the next run arms its own).
        if (!until) coordinator().disarm_crash();
        finish_main();
        forward_node_events();
        if (stop == Session::Stop::wall_timeout) {
            return Reply::failure(ErrorCode::state, "the wall-clock limit (" + format_duration(run_.wall_timeout_ns) +
                                                        ") was reached; the node's processes were killed");
        }
        fields.insert(fields.begin(), {"running", main_running() ? "true" : "false"});
        fields.insert(fields.begin(), {"now_ns", std::to_string(now_ns())});
        if (!main_running() && exits_.contains(main_name)) fields.emplace_back("exit", std::to_string(exits_[main_name]));
        return Reply::success(std::move(fields));
    }

    static void add_crash(std::vector<std::pair<std::string, std::string>>& fields, const CrashReport& report) {
        fields.emplace_back("crashed", "true");
        fields.emplace_back("lost", std::to_string(report.lost));
        fields.emplace_back("torn", std::to_string(report.torn));
    }

    /// Power loss of the node: its processes die first (by pid), then the
    /// disk's crash model applies.
    CrashReport power_loss() {
        if (main_running()) main_power_lost_ = true;
        session_.kill_node(coordinator());
        coordinator().disarm_crash();
        const CrashReport report = coordinator().crash();
        forward_node_events();
        finish_main();
        trace_.emit("node.crash", {{"pending_writes", report.pending}, {"landed", report.landed}, {"lost", report.lost},
                                   {"torn", report.torn}});
        return report;
    }

    /// Records the main incarnation's output so far, and its end once it
    /// has finished (once).
    void finish_main() {
        if (!main_) return;
        ProgramRunResult result = session_.result(*main_);
        if (main_power_lost_) result.crashed = true;
        outputs_[main_name] = result.stdout_text;
        if (main_recorded_ || !session_.finished(*main_)) return;
        forward_node_events();
        record_process_end(trace_, main_options_, result);
        use_node_clock();
        exits_[main_name] = exit_code_of(result);
        main_recorded_ = true;
    }

    /// Runs one helper to completion (or the crash point) and records it.
    ProgramRunResult run_process(ProgramRunOptions process, const std::string& name) {
        process.capture_stdout = true;
        forward_node_events();
        ProgramRunResult result = node_.run(process);
        record_run(trace_, process, result);
        use_node_clock();  // record_run stamps with the process's clock, then clears it
        outputs_[name] = result.stdout_text;
        exits_[name] = exit_code_of(result);
        return result;
    }

    /// Control and node events carry the node's virtual time.
    void use_node_clock() {
        trace_.set_clock([this] { return std::max(trace_.summary().final_ns, now_ns()); });
    }

    /// Moves the node's events (scheduler, processes, disk) into the
    /// scenario trace, each at its own time.
    void forward_node_events() {
        for (const TraceEvent& event : node_.take_events()) {
            const Ns at = event.at_ns;
            trace_.set_clock([this, at] { return std::max(trace_.summary().final_ns, at); });
            trace_.emit(event.name, event.fields);
        }
        use_node_clock();
    }

    const RunCommandOptions& options_;
    ProgramRunOptions run_;
    Trace& trace_;
    SimulatedNode node_;
    Session session_;  ///< after node_: its processes end before the node goes
    Prng prng_;
    std::optional<ProcessId> main_;
    ProgramRunOptions main_options_;
    bool main_power_lost_ = false;
    bool main_recorded_ = false;
    std::uint64_t incarnations_ = 0;
    std::uint64_t next_process_index_ = 0;
    std::map<std::string, std::string> outputs_;
    std::map<std::string, int> exits_;
};

}  // namespace

ScenarioOutcome run_traced(CommandExecutor& executor, const Scenario& scenario, Trace& trace) {
    ScenarioOutcome outcome;
    for (const ScenarioStep& step : scenario.steps) {
        trace.emit("control.command", {{"line", step.line}, {"text", to_string(step.command)}});
        const Reply reply = dispatch(executor, step.command);
        ++outcome.steps_run;
        if (!reply.ok) {
            outcome.ok = false;
            outcome.failed_line = step.line;
            outcome.reply = reply;
            trace.emit("control.failed", {{"line", step.line}, {"reply", format_reply(reply)}});
            return outcome;
        }
    }
    return outcome;
}

int run_scenario_command(const RunCommandOptions& options) {
    ScenarioParse parsed;
    if (!options.scenario_path.empty()) {
        parsed = read_scenario_file(options.scenario_path);
        if (!parsed.ok()) {
            fmt::print(stderr, "{}", parsed.format_errors());
            return exit_usage;
        }
    }
    ProgramRunOptions run;
    try {
        run = program_options(options);
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "marionette: {}\n", e.what());
        return exit_internal;
    }
    TraceHeader header;
    header.format = parse_trace_format(options.trace_format_text);
    header.seed = run.seed;
    header.options = {{"mode", "scenario"}, {"program", run.argv.at(0)}, {"scenario", options.scenario_path}};
    if (!options.disk_dir.empty()) header.options.emplace_back("disk", options.disk_dir);
    for (const auto& [key, value] : options.disk_options) header.options.emplace_back(key, value);
    std::unique_ptr<std::ofstream> file;
    if (!options.trace_path.empty()) {
        file = std::make_unique<std::ofstream>(options.trace_path);
        if (!*file) throw std::invalid_argument("cannot write trace file '" + options.trace_path + "'");
    }
    Trace trace(header, file.get(), true);
    ScenarioExecutor executor(options, run, trace);
    const ScenarioOutcome outcome = run_traced(executor, parsed.scenario, trace);
    if (!options.scenario_path.empty()) {
        fmt::print(stderr, "marionette: scenario {}: {}\n", options.scenario_path, outcome.describe(parsed.scenario));
    }
    int code = outcome.ok ? exit_ok : exit_failed;
    if (outcome.ok && !options.control_path.empty()) {
        // Between commands nothing runs: a driven run is as deterministic
        // as a scripted one. A failed `expect` fails the run's exit code.
        ControlServer server(options.control_path);
        fmt::print(stderr, "marionette: serving the control protocol on {}\n", options.control_path);
        executor.count_expect_failures = true;
        server.serve(executor);
        if (executor.expect_failures > 0) code = exit_failed;
    }
    if (file) file->flush();
    if (options.summary) fmt::print(stderr, "{}{}", trace.summary().format(), executor.transport().format());
    write_run_report(options.run_report_path, trace);
    fmt::print(stderr, "marionette: seed={} events={} trace_hash={:016x}{}\n", run.seed, trace.size(), trace.hash(),
               options.trace_path.empty() ? "" : " trace=" + std::filesystem::absolute(options.trace_path).string());
    if (!options.invocation.empty()) {
        fmt::print(stderr, "marionette: replay with: {}{}\n", replay_command_line(options.invocation, run.seed),
                   options.control_path.empty() ? "" : "  (and send the same control commands)");
    }
    return code;
}

}  // namespace marionette
