#include "launcher/scenario_run.hpp"

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

/// The control language over one node running the command after `--`.
class ScenarioExecutor final : public CommandExecutor {
public:
    ScenarioExecutor(const RunCommandOptions& options, ProgramRunOptions run, Trace& trace)
        : options_(options), run_(std::move(run)), trace_(trace),
          node_(options, run_.seed,
                run_.start_realtime_ns != 0 ? run_.start_realtime_ns : 1'767'225'600ULL * ns_per_s),
          prng_(Prng(run_.seed).derive("scenario")) {
        use_node_clock();
    }

    Reply run(const Run& command) override {
        if (command.mode != Run::Mode::until_idle) return unsupported("run <duration> (use 'run until idle')");
        if (node_.coordinator().disk().crashed()) {
            return Reply::failure(ErrorCode::state, "the node is crashed: 'restart' it first");
        }
        ProgramRunOptions process = run_;
        process.extra_env.emplace_back("MARIONETTE_PROCESS_INDEX", std::to_string(next_process_index_++));
        const ProgramRunResult result = run_process(process, main_name);
        node_.coordinator().disarm_crash();
        if (result.crashed) {
            const CrashReport report = node_.coordinator().crash();
            trace_.emit("node.crash", {{"pending_writes", report.pending}, {"landed", report.landed},
                                       {"lost", report.lost}, {"torn", report.torn}});
            return Reply::success({{"crashed", "true"}, {"lost", std::to_string(report.lost)},
                                   {"torn", std::to_string(report.torn)}});
        }
        return Reply::success({{"exit", std::to_string(exits_[main_name])}});
    }

    Reply schedule_at(const At& command) override {
        if (!std::holds_alternative<Crash>(command.action)) return unsupported("at <time> with actions other than crash");
        node_.coordinator().arm_crash_at(node_.start_ns() + command.at_ns);
        return Reply::success();
    }

    Reply schedule_after(const After& command) override {
        if (!std::holds_alternative<Crash>(command.action)) return unsupported("after <n> <event> with actions other than crash");
        node_.coordinator().arm_crash_after(command.event, command.count);
        return Reply::success();
    }

    Reply crash_random(const CrashRandom& command) override {
        const Ns at = prng_.uint_in_range(command.from_ns, command.to_ns);
        node_.coordinator().arm_crash_at(node_.start_ns() + at);
        return Reply::success({{"at_ns", std::to_string(at)}});
    }

    Reply crash(const Crash&) override {
        if (node_.coordinator().disk().crashed()) return Reply::failure(ErrorCode::state, "the node is already crashed");
        const CrashReport report = node_.coordinator().crash();
        record_node_events();
        trace_.emit("node.crash", {{"pending_writes", report.pending}, {"landed", report.landed}, {"lost", report.lost},
                                   {"torn", report.torn}});
        return Reply::success({{"lost", std::to_string(report.lost)}, {"torn", std::to_string(report.torn)}});
    }

    Reply kill(const Kill&) override {
        // Between commands no process of the node runs: nothing to kill,
        // and the disk keeps its unsynced data either way.
        return Reply::success({{"killed", "0"}});
    }

    Reply restart(const Restart&) override {
        if (node_.coordinator().disk().crashed()) node_.coordinator().restart();
        record_node_events();
        trace_.emit("node.restart", {{"incarnation", next_process_index_}});
        return Reply::success();
    }

    Reply disk_set_faults(const DiskSetFaults& command) override {
        DiskFaults faults = node_.coordinator().disk().options().faults;
        for (const DiskFault& fault : command.faults) {
            Rate* rate = find_fault_rate(faults, fault.key);
            if (rate == nullptr) return Reply::failure(ErrorCode::bad_argument, "unknown disk fault '" + fault.key + "'");
            *rate = fault.rate;
        }
        node_.coordinator().disk().set_faults(faults);
        return Reply::success();
    }

    Reply disk_corrupt_sector(const DiskCorruptSector& command) override {
        const std::string path = node_.disk_path(command.path);
        if (path.empty()) return Reply::failure(ErrorCode::bad_argument, "'" + command.path + "' is not on the simulated disk");
        const int error = node_.coordinator().disk().corrupt_sector(path, command.offset);
        record_node_events();
        if (error != 0) return Reply::failure(ErrorCode::state, "corrupt_sector failed: errno " + std::to_string(error));
        return Reply::success();
    }

    Reply net_partition(const NetPartition&) override { return unsupported("net.partition"); }
    Reply net_heal(const NetHeal&) override { return unsupported("net.heal"); }
    Reply net_set_options(const NetSetOptions&) override { return unsupported("the network"); }
    Reply net_clog(const NetClog&) override { return unsupported("net.clog"); }
    Reply net_unclog(const NetUnclog&) override { return unsupported("net.unclog"); }

    Reply spawn(const Spawn& command) override {
        if (node_.coordinator().disk().crashed()) {
            return Reply::failure(ErrorCode::state, "the node is crashed: 'restart' it first");
        }
        ProgramRunOptions process = run_;
        process.argv = command.argv;
        process.extra_env.emplace_back("MARIONETTE_PROCESS_INDEX", std::to_string(next_process_index_++));
        run_process(process, command.name);
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
        if (it == exits_.end()) return Reply::failure(ErrorCode::state, "no process named '" + name + "' has run");
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
        return Reply::success({{"crashed", node_.coordinator().disk().crashed() ? "true" : "false"},
                               {"processes_run", std::to_string(next_process_index_)}});
    }
    Reply quit(const Quit&) override { return Reply::success(); }

private:
    Reply counted(Reply reply) {
        if (!reply.ok && reply.code == ErrorCode::expect_failed) ++expect_failures;
        return reply;
    }

    /// Runs one process to completion (or the crash point) and records it.
    ProgramRunResult run_process(ProgramRunOptions process, const std::string& name) {
        process.capture_stdout = true;
        record_node_events();
        ProgramRunResult result = node_.run(process);
        record_run(trace_, process, result);
        use_node_clock();  // record_run stamps with the process's clock, then clears it
        outputs_[name] = result.stdout_text;
        exits_[name] = result.crashed ? -1 : result.signal != 0 ? 128 + result.signal : result.exit_code;
        return result;
    }

    /// Control and node events carry the node's virtual time.
    void use_node_clock() {
        trace_.set_clock([this] {
            return std::max(trace_.summary().final_ns, node_.coordinator().clock().now_ns() - node_.start_ns());
        });
    }

    /// Node events not tied to a process (a crash, a corrupted sector).
    void record_node_events() {
        for (const TraceEvent& event : node_.take_events()) trace_.emit(event.name, event.fields);
    }

    const RunCommandOptions& options_;
    ProgramRunOptions run_;
    Trace& trace_;
    SimulatedNode node_;
    Prng prng_;
    std::uint64_t next_process_index_ = 0;
    std::map<std::string, std::string> outputs_;
    std::map<std::string, int> exits_;
};

/// Traces each step as it is executed, then delegates.
ScenarioOutcome run_traced(ScenarioExecutor& executor, const Scenario& scenario, Trace& trace) {
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

}  // namespace

int run_scenario_command(const RunCommandOptions& options) {
    ScenarioParse parsed;
    if (!options.scenario_path.empty()) {
        parsed = read_scenario_file(options.scenario_path);
        if (!parsed.ok()) {
            fmt::print(stderr, "{}", parsed.format_errors());
            return exit_usage;
        }
    }
    if (options.disk_dir.empty()) throw std::invalid_argument("--scenario and --control need --disk DIR (the node's disk)");
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
    header.options = {{"mode", "scenario"}, {"program", run.argv.at(0)}, {"scenario", options.scenario_path},
                      {"disk", options.disk_dir}};
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
    if (options.summary) fmt::print(stderr, "{}", trace.summary().format());
    fmt::print(stderr, "marionette: seed={} events={} trace_hash={:016x}{}\n", run.seed, trace.size(), trace.hash(),
               options.trace_path.empty() ? "" : " trace=" + std::filesystem::absolute(options.trace_path).string());
    return code;
}

}  // namespace marionette
