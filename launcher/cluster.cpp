#include "launcher/cluster.hpp"
#include "launcher/replay.hpp"

#include <fmt/core.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "control/executor.hpp"
#include "control/lexer.hpp"
#include "control/scenario.hpp"
#include "control/socket.hpp"
#include "coordinator/coordinator.hpp"
#include "coordinator/socket_relay.hpp"
#include "launcher/node.hpp"
#include "launcher/tsc_probe.hpp"
#include "launcher/validate.hpp"
#include "launcher/scenario_run.hpp"
#include "launcher/run_report.hpp"
#include "launcher/session.hpp"
#include "sim/disk/disk_options.hpp"
#include "sim/net/network.hpp"

namespace marionette {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_internal = 3;

bool valid_node_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

/// The --disk directory of node `name`: its own `--disk NAME=DIR`, else
/// the `--disk DIR` of every node ("" if neither).
std::string node_disk_dir(const RunCommandOptions& options, const std::string& name) {
    for (const auto& [node, dir] : options.node_disks) {
        if (node == name) return dir;
    }
    return options.disk_dir;
}

Reply unsupported(std::string_view what) {
    return Reply::failure(ErrorCode::unsupported, std::string(what) + " is not supported in a cluster run yet");
}

/// The nodes, their network and the one session that runs their programs.
class Cluster final : public CommandExecutor {
public:
    Cluster(const RunCommandOptions& options, const ProgramRunOptions& base, Trace& trace, std::vector<ClusterNodeSpec> specs)
        : base_(base),
          trace_(trace),
          start_ns_(base.start_realtime_ns != 0 ? base.start_realtime_ns : 1'767'225'600ULL * ns_per_s),
          clock_(start_ns_),
          network_(clock_, &trace, Prng(base.seed).derive("net")),
          relay_(network_, clock_, trace),
          prng_(Prng(base.seed).derive("scenario")),
          session_(clock_, trace, base.seed, base.wall_timeout_ns, hooks()) {
        trace_.set_clock([this] { return std::max(trace_.summary().final_ns, clock_.now_ns() - start_ns_); });
        if (!options.net_options.empty()) network_.set_faults(options.net_options);
        std::string hosts;
        for (std::size_t i = 0; i < specs.size(); ++i) {
            Node node;
            node.name = specs[i].name;
            node.argv = specs[i].argv;
            node.net = network_.add_node(node.name);
            CoordinatorOptions config;
            config.seed = base.seed;
            config.start_ns = start_ns_;
            config.shared_clock = &clock_;
            config.node_index = i;
            config.mounts = {MountSpec{std::string(simulated_tmpdir), "/tmp"}};
            // Its own disk: the model options of the command line, and its
            // own copy of its --disk directory (docs/disk-model.md).
            for (const auto& [key, value] : options.disk_options) set_disk_option(config.disk, key, value);
            node.disk_dir = node_disk_dir(options, node.name);
            if (!node.disk_dir.empty()) config.mounts.insert(config.mounts.begin(), data_mount(node.disk_dir));
            config.host_view = true;
            config.real_paths = options.real_paths;
            node.mount_lines = shim_mount_lines(config);
            node.coordinator = std::make_unique<Coordinator>(config, trace_);
            hosts += (hosts.empty() ? "" : ",") + node.name + "=" + to_string(network_.node_address(node.net));
            nodes_.push_back(std::move(node));
        }
        hosts_ = hosts;
    }

    ~Cluster() override {
        for (Node& node : nodes_) session_.kill_node(*node.coordinator);
    }

    /// Starts every node's program.
    void start_all() {
        for (Node& node : nodes_) start(node);
    }

    /// The run without a scenario: until the client's program ends.
    int run_to_client(const std::string& client_node, std::optional<Ns> timeout) {
        Node* client = find(client_node);
        if (client == nullptr) throw std::invalid_argument("--client names no node: '" + client_node + "'");
        const std::optional<Ns> until = timeout ? std::optional<Ns>(start_ns_ + *timeout) : std::nullopt;
        const Session::Stop stop = advance(until, client);
        int code = exit_ok;
        switch (stop) {
            case Session::Stop::finished:
            case Session::Stop::idle: {
                if (client->crashed) {
                    fmt::print(stderr, "marionette: node {} lost power before its program ended\n", client->name);
                    outcome = client->name + " crashed";
                    code = exit_failed;
                    break;
                }
                const ProgramRunResult& result = session_.result(*client->main);
                code = result.succeeded() ? exit_ok : exit_failed;
                outcome = client->name + " exit=" + std::to_string(result.exit_status());
                if (!quiet || code != exit_ok) describe(*client, result);
                break;
            }
            case Session::Stop::deadlock:
                fmt::print(stderr, "marionette: DEADLOCK: {}\n", session_.deadlock().value_or("?"));
                trace_.emit("cluster.deadlock", {{"client", client->name}});
                outcome = client->name + " stuck";
                code = exit_failed;
                break;
            case Session::Stop::time_limit:
                fmt::print(stderr, "marionette: the virtual time limit was reached before '{}' finished\n", client->name);
                trace_.emit("cluster.timeout", {{"client", client->name}});
                outcome = client->name + " timeout";
                code = exit_failed;
                break;
            case Session::Stop::wall_timeout:
                fmt::print(stderr, "marionette: the wall-clock limit was reached before '{}' finished\n", client->name);
                outcome = client->name + " wall_timeout";
                code = exit_failed;
                break;
            case Session::Stop::crashed:
                outcome = client->name + " crashed";
                code = exit_failed;
                break;
        }
        for (const Node& node : nodes_) {
            if (!node.main || !session_.finished(*node.main)) continue;
            const ProgramRunResult& result = session_.result(*node.main);
            // Only the client decides the run (docs/cli.md): another node
            // that could not start is reported, and the verdict stays the
            // client's.
            if (&node != client && !result.spawn_error.empty()) {
                fmt::print(stderr, "marionette: node {} did not start (the run went on without it): {}\n", node.name,
                           result.spawn_error);
            }
        }
        end_all();
        return code;
    }

    /// Arms the crash point of the --crash-* option `options` gives (its
    /// text without the `NODE=` that names `node_name`): the same as the
    /// scenario's `at`, `after`, `crash random within` lines; a rate has no
    /// scenario form.
    void arm_crash_point(const std::string& node_name, const RunCommandOptions& options) {
        Node* node = find(node_name);
        if (node == nullptr) throw std::invalid_argument("no node named '" + node_name + "'");
        Reply armed = Reply::success();
        if (!options.crash_at_text.empty()) armed = schedule_at(At{parse_duration(options.crash_at_text), Crash{node_name}});
        if (!options.crash_after_text.empty()) {
            const std::string& text = options.crash_after_text;
            const std::size_t space = text.find(' ');
            armed = schedule_after(After{std::stoull(text.substr(0, space)), text.substr(space + 1), Crash{node_name}});
        }
        if (!options.crash_random_text.empty()) {
            const std::string& text = options.crash_random_text;
            const std::size_t dots = text.find("..");
            armed = crash_random(CrashRandom{parse_duration(text.substr(0, dots)), parse_duration(text.substr(dots + 2)), node_name});
        }
        if (!options.crash_rate_text.empty()) {
            node->coordinator->arm_crash_rate(Rate::parse(options.crash_rate_text),
                                              Prng(base_.seed).derive("crash.rate").derive(node_name));
        }
        if (!armed.ok) throw std::invalid_argument(armed.message);
    }

    /// Ends every node's processes (end of the run).
    void end_all() {
        for (Node& node : nodes_) {
            const bool alive = node.main && !session_.finished(*node.main);
            session_.kill_node(*node.coordinator);
            if (alive) trace_.emit("cluster.node_ended", {{"node", node.name}, {"reason", "end_of_run"}});
        }
    }

    // ---- the control language ------------------------------------------------

    Reply run(const Run& command) override {
        std::optional<Ns> target;
        if (command.mode == Run::Mode::for_duration) target = clock_.now_ns() + command.ns;
        if (command.mode == Run::Mode::until_time) target = start_ns_ + command.ns;
        Node* waited = nullptr;  // run until exit: the node whose program ends the run
        if (command.mode == Run::Mode::until_exit) {
            waited = find(command.node.empty() ? client_name : command.node);
            if (waited == nullptr) return no_node(command.node);
            if (!waited->main) return Reply::failure(ErrorCode::state, "node '" + waited->name + "' runs no program");
            if (timeout_ns) target = start_ns_ + *timeout_ns;  // --timeout, as without a scenario
        }
        const Session::Stop last = advance(target, waited);
        // Everything waits on everything: idle, as far as a run goes (with
        // a target time the scheduler pauses there instead).
        if (last == Session::Stop::deadlock) session_.scheduler().clear_deadlock();
        std::vector<std::pair<std::string, std::string>> fields = {{"now_ns", std::to_string(clock_.now_ns() - start_ns_)}};
        if (waited != nullptr) {
            if (session_.finished(*waited->main)) {
                const ProgramRunResult& r = session_.result(*waited->main);
                const int code = r.exit_status();
                if (!exits_.contains(waited->name)) exits_[waited->name] = code;
                outcome = waited->name + " exit=" + std::to_string(exits_[waited->name]);
                fields.emplace_back("exit", std::to_string(exits_[waited->name]));
            } else {
                outcome = waited->name + (last == Session::Stop::wall_timeout       ? " wall_timeout"
                                          : target && clock_.now_ns() >= *target ? " timeout"
                                                                                 : " stuck");
                fields.emplace_back("running", "true");
            }
        }
        return Reply::success(fields);
    }

    Reply schedule_at(const At& command) override {
        pending_.emplace(start_ns_ + command.at_ns, command.action);
        return Reply::success();
    }
    /// `after <n> <event> crash <node>`: the node loses power right after
    /// the call that caused its n-th such event from now (its own events:
    /// the trace is the run's, the count is the node's).
    Reply schedule_after(const After& command) override {
        const Crash* crash = std::get_if<Crash>(&command.action);
        if (crash == nullptr) return unsupported("after <n> <event> with actions other than crash");
        Node* node = named(crash->node);
        if (node == nullptr) return no_node(crash->node);
        if (!node_call_event(command.event)) {
            return Reply::failure(ErrorCode::bad_argument,
                                  "in a cluster 'after' counts the events of a node's disk and files (disk.*, fs.*), not '" +
                                      command.event + "'");
        }
        if (node->crashed) return Reply::failure(ErrorCode::state, "node '" + node->name + "' is crashed: 'restart' it first");
        node->coordinator->arm_crash_after(command.event, command.count, true);
        return Reply::success();
    }
    /// `crash random within A..B [node]`: a power loss of the node at a
    /// seeded time in the window (from the start of the run), scheduled like
    /// `at <time> crash <node>`.
    Reply crash_random(const CrashRandom& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        const Ns at = prng_.uint_in_range(command.from_ns, command.to_ns);
        pending_.emplace(start_ns_ + at, Crash{node->name});
        crash_randoms_.emplace_back(node->name, at);
        trace_.emit("control.crash_random", {{"node", node->name}, {"crash_at_ns", at}});
        return Reply::success({{"at_ns", std::to_string(at)}});
    }

    /// Power loss of a node: its processes die (by pid), its connections
    /// reset, then its disk's crash model applies (unsynced writes lost or
    /// torn, entries never made durable undone).
    Reply crash(const Crash& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        if (node->crashed) return Reply::failure(ErrorCode::state, "node '" + node->name + "' is already crashed");
        const bool running = node->main && !session_.finished(*node->main);
        // The network first: a dead kernel sends nothing, so its
        // connections vanish without a FIN (peers see a timeout, or a reset
        // once the node is back), not the close a killed process makes.
        network_.crash(node->net);
        const std::size_t killed = session_.kill_node(*node->coordinator);
        const CrashReport report = node->coordinator->crash();
        node->crashed = true;
        ++crashes;
        if (running) exits_[node->name] = -1;
        trace_.emit("node.crash", {{"node", node->name}, {"pending_writes", report.pending}, {"landed", report.landed},
                                   {"lost", report.lost}, {"torn", report.torn}});
        if (!quiet) {
            fmt::print(stderr, "marionette: node {} lost power at {:.3f}ms: {}\n", node->name,
                       static_cast<double>(clock_.now_ns() - start_ns_) / 1e6, describe_power_loss(report));
        }
        return Reply::success({{"killed", std::to_string(killed)}, {"lost", std::to_string(report.lost)},
                               {"torn", std::to_string(report.torn)}});
    }

    Reply kill(const Kill& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        const std::size_t alive = session_.scheduler().real_pids(node->coordinator.get()).size();
        session_.kill_node(*node->coordinator);
        trace_.emit("node.kill", {{"node", node->name}, {"processes", static_cast<std::uint64_t>(alive)}});
        return Reply::success({{"killed", std::to_string(alive)}});
    }

    Reply restart(const Restart& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        session_.kill_node(*node->coordinator);
        if (node->crashed) {
            node->coordinator->restart();
            network_.restart(node->net);
            node->crashed = false;
        }
        trace_.emit("node.restart", {{"node", node->name}, {"incarnation", static_cast<std::uint64_t>(node->incarnation + 1)}});
        exits_.erase(node->name);  // the new incarnation's exit, once it ends
        start(*node);
        return Reply::success();
    }

    Reply disk_set_faults(const DiskSetFaults& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        DiskFaults faults = node->coordinator->disk().options().faults;
        for (const DiskFault& fault : command.faults) {
            Rate* rate = find_fault_rate(faults, fault.key);
            if (rate == nullptr) return Reply::failure(ErrorCode::bad_argument, "unknown disk fault '" + fault.key + "'");
            *rate = fault.rate;
        }
        node->coordinator->disk().set_faults(faults);
        return Reply::success();
    }
    Reply disk_corrupt_sector(const DiskCorruptSector& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        const Route route = node->coordinator->files().route(std::filesystem::absolute(command.path).lexically_normal().string());
        if (!route.simulated()) return Reply::failure(ErrorCode::bad_argument, "'" + command.path + "' is not on the simulated disk");
        const int error = node->coordinator->disk().corrupt_sector(route.disk_path, command.offset);
        if (error != 0) return Reply::failure(ErrorCode::state, "corrupt_sector failed: errno " + std::to_string(error));
        return Reply::success();
    }

    Reply net_partition(const NetPartition& command) override {
        std::vector<std::vector<NodeId>> groups;
        for (const auto& group : command.groups) {
            groups.emplace_back();
            for (const std::string& name : group) {
                Node* node = find(name);
                if (node == nullptr) return no_node(name);
                groups.back().push_back(node->net);
            }
        }
        network_.partition(groups);
        return Reply::success();
    }
    Reply net_heal(const NetHeal&) override {
        network_.heal();
        return Reply::success();
    }
    Reply net_set_options(const NetSetOptions& command) override {
        const std::string text = command.text();
        switch (command.group) {
            case NetOptionGroup::all: network_.set_faults(text); break;
            case NetOptionGroup::lossiness: network_.set_lossiness(text); break;
            case NetOptionGroup::latency: network_.set_latency(text); break;
            case NetOptionGroup::partition_dynamics: network_.set_partition_dynamics(text); break;
        }
        return Reply::success();
    }
    Reply net_clog(const NetClog& command) override {
        return on_link(command.from, command.to, [&](NodeId from, NodeId to) { network_.clog(from, to, command.duration_ns); });
    }
    Reply net_unclog(const NetUnclog& command) override {
        if (command.from.empty()) {
            network_.unclog_all();
            return Reply::success();
        }
        return on_link(command.from, command.to, [&](NodeId from, NodeId to) { network_.unclog(from, to); });
    }

    Reply net_fail_connect(const NetFailConnect& command) override {
        return on_link(command.from, command.to,
                       [&](NodeId from, NodeId to) { network_.set_connect_failure(from, to, command.on); });
    }

    /// `net.force ...`: one recorded random fault, forced (docs/shrinking.md).
    Reply net_force(const NetForce& command) override {
        try {
            const std::string& what = command.what;
            if (what == "only") {
                network_.force_only();
            } else if (what == "partial_write") {
                network_.force_partial_write(command.number, command.amount);
            } else if (what == "heal") {
                network_.force_heal(command.number);
            } else if (what == "partition") {
                std::vector<NodeId> side;
                for (const std::string& name : command.side) {
                    Node* node = find(name);
                    if (node == nullptr) return no_node(name);
                    side.push_back(node->net);
                }
                network_.force_partition(command.number, side);
            } else {
                const ForcedFault kind = what == "drop"        ? ForcedFault::drop
                                         : what == "duplicate" ? ForcedFault::duplicate
                                         : what == "clog"      ? ForcedFault::clog
                                                               : ForcedFault::reset;
                return on_link(command.from, command.to,
                               [&](NodeId from, NodeId to) { network_.force(kind, from, to, command.number); });
            }
        } catch (const std::invalid_argument& e) {
            return Reply::failure(ErrorCode::bad_argument, e.what());
        }
        return Reply::success();
    }

    /// `disk.force ...`: one recorded random disk fault, forced; `only` applies
    /// to every node's disk (docs/shrinking.md).
    Reply disk_force(const DiskForce& command) override {
        try {
            if (command.what == "only") {
                for (Node& node : nodes_) node.coordinator->disk().force_only();
                return Reply::success();
            }
            Node* node = find(command.node);
            if (node == nullptr) return no_node(command.node);
            Disk& disk = node->coordinator->disk();
            if (command.what == "lost" || command.what == "torn") {
                disk.force_crash(command.number, command.position, command.what == "torn" ? command.mask : "");
            } else {
                disk.force_fault(command.what, command.number);
            }
        } catch (const std::invalid_argument& e) {
            return Reply::failure(ErrorCode::bad_argument, e.what());
        }
        return Reply::success();
    }

    /// --record-faults FILE: how the run ended, then every random fault that
    /// fired (`<ns since start> <net.force or disk.force line>`, in time
    /// order), for --shrink.
    void record_faults(const std::string& path, const std::string& failed) const {
        std::ofstream out(path);
        out << "outcome " << outcome << (outcome.empty() || failed.empty() ? "" : " | ") << (failed.empty() ? "" : "failed " + failed)
            << "\n";
        std::vector<FiredFault> fired = network_.fired_faults();
        for (const Node& node : nodes_) {
            for (const DiskFiredFault& fault : node.coordinator->disk().fired_faults()) {
                fired.push_back(FiredFault{fault.at_ns, "disk.force " + fault.what + " " + node.name + " " + fault.args});
            }
        }
        std::stable_sort(fired.begin(), fired.end(), [](const FiredFault& a, const FiredFault& b) { return a.at_ns < b.at_ns; });
        for (const FiredFault& fault : fired) out << (fault.at_ns - start_ns_) << ' ' << fault.line << '\n';
        // The times `crash random within` drew, in scenario order, so the
        // shrink can write them as `at <time> crash <node>`.
        for (const auto& [node, at] : crash_randoms_) out << "crash_random " << node << ' ' << at << '\n';
        if (!out) throw std::runtime_error("cannot write --record-faults '" + path + "'");
    }

    Reply spawn(const Spawn& command) override {
        Node* node = named(command.node);
        if (node == nullptr) return no_node(command.node);
        if (node->crashed) return Reply::failure(ErrorCode::state, "node '" + node->name + "' is crashed: restart it first");
        ProgramRunOptions process = options_for(*node, command.argv);
        process.capture_stdout = true;
        const ProcessId id = session_.launch(*node->coordinator, process, node->name);
        trace_.emit("cluster.spawn", {{"name", command.name}, {"node", node->name}});
        const Session::Stop stop = session_.run(std::nullopt, id);
        if (stop == Session::Stop::deadlock) session_.scheduler().clear_deadlock();
        if (!session_.finished(id)) {
            session_.kill_node(*node->coordinator);
            return Reply::failure(ErrorCode::state, "'" + command.name + "' did not finish (every process blocked)");
        }
        const ProgramRunResult& result = session_.result(id);
        outputs_[command.name] = result.stdout_text;
        exits_[command.name] = result.exit_status();
        trace_.emit("cluster.spawn_exit", {{"name", command.name}, {"code", static_cast<std::uint64_t>(exits_[command.name])}});
        return Reply::success({{"exit", std::to_string(exits_[command.name])}});
    }

    bool quiet = false;  ///< no report lines of Marionette's own (--quiet, the second run of --verify)
    std::string client_name;        ///< the node `run until exit` waits for by default
    std::optional<Ns> timeout_ns;   ///< --timeout: `run until exit` stops there, as run_to_client does
    /// How the deciding program ended: `<node> exit=<code>`, `<node> timeout`,
    /// `<node> stuck` (nothing could run), `deadlock`; "" if not known.
    std::string outcome;
    bool count_expect_failures = false;
    int crashes = 0;  ///< power losses so far (--require-crash)
    int expect_failures = 0;

    Reply expect_exit(const ExpectExit& command) override {
        auto it = exits_.find(command.name);
        if (Node* node = find(command.name); it == exits_.end() && node != nullptr && node->main && session_.finished(*node->main)) {
            const ProgramRunResult& r = session_.result(*node->main);
            exits_[command.name] = r.exit_status();
            it = exits_.find(command.name);
        }
        if (it == exits_.end()) return counted(Reply::failure(ErrorCode::state, "no finished process named '" + command.name + "'"));
        if (it->second != command.code) {
            return counted(Reply::failure(ErrorCode::expect_failed, "'" + command.name + "' exited " + std::to_string(it->second) +
                                                                        ", expected " + std::to_string(command.code)));
        }
        return Reply::success();
    }

    Reply expect_output(const ExpectOutput& command) override {
        auto it = outputs_.find(command.name);
        if (it == outputs_.end()) return counted(Reply::failure(ErrorCode::state, "no finished process named '" + command.name + "'"));
        if (it->second.find(command.text) == std::string::npos) {
            return counted(Reply::failure(ErrorCode::expect_failed, "the output of '" + command.name + "' does not contain '" +
                                                                        command.text + "'"));
        }
        return Reply::success();
    }

    Reply trace_read(const TraceRead& command) override {
        std::string text;
        const auto& events = trace_.events();
        for (std::size_t i = command.since_event; i < events.size(); ++i) text += render_event(events[i], TraceFormat::text) + "\n";
        return Reply::success({{"events", std::to_string(events.size())}, {"trace", text}});
    }

    Reply status(const Status&) override {
        std::vector<std::pair<std::string, std::string>> fields = {{"now_ns", std::to_string(clock_.now_ns() - start_ns_)}};
        for (Node& node : nodes_) {
            const bool running = node.main && !session_.finished(*node.main);
            fields.emplace_back("node_" + node.name, node.crashed ? "crashed" : running ? "running" : "stopped");
        }
        return Reply::success(fields);
    }
    Reply quit(const Quit&) override { return Reply::success(); }

    /// --export-disk DIR: each node with a --disk writes its disk's durable
    /// state (what a power loss now would keep) to DIR/NAME.
    void export_disks(const std::string& dir) {
        for (Node& node : nodes_) {
            if (node.disk_dir.empty()) continue;
            const std::filesystem::path into = std::filesystem::path(dir) / node.name;
            const std::uint64_t entries = node.coordinator->disk().export_durable(into);
            if (!quiet) {
                fmt::print(stderr, "marionette: node {}: durable disk state ({} entries) exported to {}\n", node.name,
                           entries, into.string());
            }
        }
    }

    /// How the processes' messages travelled so far (for --summary).
    TransportStats transport() { return session_.scheduler().transport_stats(); }

private:
    struct Node {
        std::string name;
        std::vector<std::string> argv;
        NodeId net = 0;
        std::unique_ptr<Coordinator> coordinator;
        std::vector<std::string> mount_lines;  ///< MARIONETTE_MOUNTS for its processes
        std::optional<ProcessId> main;
        std::string disk_dir;  ///< its --disk directory ("" if none)
        int incarnation = 0;
        bool crashed = false;
    };

    /// Runs until virtual time `target`, until the program of `waited`
    /// ends, or until nothing can run: scheduled actions happen at their
    /// time, and a node whose crash point is reached loses power there.
    Session::Stop advance(std::optional<Ns> target, Node* waited) {
        for (;;) {
            if (waited != nullptr && session_.finished(*waited->main)) return Session::Stop::finished;
            // Scheduled actions due before the target run at their time.
            std::optional<Ns> stop_at = target;
            if (!pending_.empty() && (!stop_at || pending_.begin()->first <= *stop_at)) stop_at = pending_.begin()->first;
            const Session::Stop stop = waited != nullptr ? session_.run(stop_at, *waited->main) : session_.run(stop_at);
            if (stop == Session::Stop::crashed) {
                crash_reached_point();
                continue;
            }
            if (stop == Session::Stop::time_limit && !pending_.empty() && pending_.begin()->first <= clock_.now_ns()) {
                const Action action = pending_.begin()->second;
                pending_.erase(pending_.begin());
                const Reply reply = dispatch_action(*this, action);
                trace_.emit("control.scheduled", {{"ok", std::string(reply.ok ? "yes" : "no")}});
                continue;
            }
            if (stop == Session::Stop::time_limit && target && clock_.now_ns() < *target) continue;
            return stop;
        }
    }

    /// The power loss of the node whose armed crash point (after <n>
    /// <event>, --crash-rate) a call just reached.
    void crash_reached_point() {
        Coordinator* reached = session_.scheduler().crashed_node();
        for (Node& node : nodes_) {
            if (node.coordinator.get() == reached) {
                (void)crash(Crash{node.name});
                return;
            }
        }
    }

    /// Events a node's own calls cause, which `after` can count in a
    /// cluster: its disk's and its descriptors'.
    static bool node_call_event(const std::string& event) {
        return event.starts_with("disk.") || event.starts_with("fs.");
    }

    SchedulerHooks hooks() {
        SchedulerHooks h;
        h.on_decision = [this] { relay_.pump(); };
        h.on_net = [this](Coordinator& node, const wire::NetRequest& request) { return net_call(node, request); };
        return h;
    }

    NetResponse net_call(Coordinator& coordinator, const wire::NetRequest& request) {
        NetResponse response;
        const Node* node = nullptr;
        for (const Node& n : nodes_) {
            if (n.coordinator.get() == &coordinator) node = &n;
        }
        if (node == nullptr) return response;
        const SockAddr address{Ipv4{request.ipv4}, request.port};
        const bool v6 = (request.flags & wire::net_flag_ipv6) != 0;
        const bool receive = (request.flags & wire::net_flag_receive_buffer) != 0;
        auto put = [&](std::optional<SockAddr> a, SocketId socket) {
            if (a) {
                response.answer.ipv4 = a->ip.value;
                response.answer.port = a->port;
                if (relay_.speaks_v6(socket)) response.answer.flags = wire::net_flag_ipv6;
            }
        };
        switch (request.op) {
            case wire::NetOp::socket: {
                const RelayOpened opened =
                    relay_.open(node->net, request.arg == 2 ? SocketType::datagram : SocketType::stream, v6);
                response.result = -opened.error;
                response.fd = opened.process_fd;
                response.answer.socket = opened.id;
                break;
            }
            case wire::NetOp::bind: response.result = relay_.bind(request.socket, address, v6); break;
            case wire::NetOp::listen: response.result = relay_.listen(request.socket, static_cast<std::uint32_t>(request.arg)); break;
            case wire::NetOp::connect: response.result = relay_.connect(request.socket, address, v6); break;
            case wire::NetOp::set_v6_only: response.result = relay_.set_v6_only(request.socket, request.arg != 0); break;
            case wire::NetOp::get_buffer: response.result = relay_.buffer(request.socket, receive); break;
            case wire::NetOp::set_buffer:
                response.result = relay_.set_buffer(request.socket, receive, static_cast<std::uint64_t>(std::max<std::int64_t>(request.arg, 0)));
                break;
            case wire::NetOp::connect_status: {
                if (relay_.connecting(request.socket)) {
                    response.result = -EINPROGRESS;
                } else {
                    const int error = relay_.pending_error(request.socket);
                    response.result = -error;
                }
                break;
            }
            case wire::NetOp::accept: {
                const RelayOpened opened = relay_.accept(request.socket);
                response.result = -opened.error;
                response.fd = opened.process_fd;
                response.answer.socket = opened.id;
                if (opened.error == 0) put(relay_.peer_address(opened.id), opened.id);
                break;
            }
            case wire::NetOp::getsockname:
                response.result = 0;
                put(relay_.local_address(request.socket), request.socket);
                break;
            case wire::NetOp::getpeername: {
                const std::optional<SockAddr> peer = relay_.peer_address(request.socket);
                response.result = peer ? 0 : -ENOTCONN;
                put(peer, request.socket);
                break;
            }
            case wire::NetOp::take_error: response.result = relay_.pending_error(request.socket); break;
            case wire::NetOp::shutdown: {
                const long how = request.arg;
                response.result = relay_.shutdown(request.socket, how == SHUT_RD || how == SHUT_RDWR, how == SHUT_WR || how == SHUT_RDWR);
                break;
            }
        }
        return response;
    }

    ProgramRunOptions options_for(const Node& node, const std::vector<std::string>& argv) {
        ProgramRunOptions run = base_;
        run.argv = argv;
        run.mount_prefixes = node.mount_lines;
        run.start_realtime_ns = start_ns_;
        const auto index = static_cast<std::size_t>(&node - nodes_.data());
        run.process_env = {{"TMPDIR", std::string(simulated_tmpdir)},
                           {"MARIONETTE_NET", "sim"},
                           {"MARIONETTE_HOSTS", hosts_},
                           {"MARIONETTE_HOSTNAME", node.name},
                           {"MARIONETTE_NODE_INDEX", std::to_string(index)},
                           {"MARIONETTE_PROCESS_INDEX", std::to_string(next_process_index_++)}};
        return run;
    }

    void start(Node& node) {
        ProgramRunOptions run = options_for(node, node.argv);
        run.capture_stdout = true;
        node.main = session_.launch(*node.coordinator, run, node.name);
        ++node.incarnation;
        trace_.emit("cluster.start", {{"node", node.name}, {"address", to_string(network_.node_address(node.net))},
                                      {"program", std::filesystem::path(node.argv.at(0)).filename().string()}});
    }

    void describe(const Node& node, const ProgramRunResult& result) {
        if (!result.spawn_error.empty()) {
            fmt::print(stderr, "marionette: node {}: {}\n", node.name, result.spawn_error);
        } else if (result.signal != 0) {
            fmt::print(stderr, "marionette: node {}: killed by signal {}\n", node.name, result.signal);
        } else {
            fmt::print(stderr, "marionette: node {}: exited with status {}\n", node.name, result.exit_code);
        }
    }

    Node* find(const std::string& name) {
        for (Node& node : nodes_) {
            if (node.name == name) return &node;
        }
        return nullptr;
    }
    /// Applies `change` to the link between two named nodes.
    template <typename Change>
    Reply on_link(const std::string& from_name, const std::string& to_name, Change change) {
        Node* from = find(from_name);
        Node* to = find(to_name);
        if (from == nullptr || to == nullptr) return no_node(from == nullptr ? from_name : to_name);
        change(from->net, to->net);
        return Reply::success();
    }
    /// The node a command names; the first node when it names none.
    Node* named(const std::string& name) { return name.empty() ? &nodes_.front() : find(name); }
    static Reply no_node(const std::string& name) {
        return Reply::failure(ErrorCode::bad_argument, "no node named '" + name + "'");
    }
    Reply counted(Reply reply) {
        if (!reply.ok && reply.code == ErrorCode::expect_failed) ++expect_failures;
        return reply;
    }

    ProgramRunOptions base_;
    Trace& trace_;
    Ns start_ns_;
    EventQueue clock_;
    Network network_;
    SocketRelay relay_;
    std::vector<Node> nodes_;
    std::string hosts_;
    std::uint64_t next_process_index_ = 0;
    std::multimap<Ns, Action> pending_;
    std::map<std::string, std::string> outputs_;
    std::map<std::string, int> exits_;
    Prng prng_;  ///< `crash random within`: the scenario's own stream
    std::vector<std::pair<std::string, Ns>> crash_randoms_;  ///< each `crash random within`: node, time drawn
    // Last: its destructor ends processes that use the members above.
    Session session_;
};

}  // namespace

ClusterNodeSpec parse_node_spec(std::string_view text) {
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) {
        throw std::invalid_argument("invalid --node '" + std::string(text) + "' (expected NAME=COMMAND, e.g. server='./server 7000')");
    }
    ClusterNodeSpec spec;
    spec.name = std::string(text.substr(0, equals));
    if (!valid_node_name(spec.name)) {
        throw std::invalid_argument("invalid node name '" + spec.name + "' (letters, digits, '-' and '_', at most 63)");
    }
    // The control language's word rules: blanks separate words, '...' and
    // "..." quote, a backslash escapes (control/lexer.hpp).
    const SplitLine words = split_words(text.substr(equals + 1));
    if (words.error) throw std::invalid_argument("--node " + spec.name + ": " + words.error->describe());
    for (const Word& word : words.words) spec.argv.push_back(word.text);
    if (spec.argv.empty()) throw std::invalid_argument("--node " + spec.name + " has no command");
    return spec;
}

int run_cluster_command(const RunCommandOptions& options) {
    std::vector<ClusterNodeSpec> specs;
    for (const std::string& text : options.nodes) {
        specs.push_back(parse_node_spec(text));
        for (std::size_t i = 0; i + 1 < specs.size(); ++i) {
            if (specs[i].name == specs.back().name) throw std::invalid_argument("two nodes named '" + specs.back().name + "'");
        }
    }
    if (!options.command.empty()) throw std::invalid_argument("give the programs with --node NAME=COMMAND, not after --");
    for (const auto& [name, dir] : options.node_disks) {
        const bool known = std::any_of(specs.begin(), specs.end(), [&](const ClusterNodeSpec& s) { return s.name == name; });
        if (!known) throw std::invalid_argument("--disk " + name + "=" + dir + ": no node named '" + name + "'");
    }
    // --crash-at NODE=20ms and the like: the node, and the option's text
    // without it (validate.cpp checked both).
    RunCommandOptions crash_point = options;
    const std::string crash_node = take_crash_node(crash_point);
    ScenarioParse parsed;
    if (!options.scenario_path.empty()) {
        parsed = read_scenario_file(options.scenario_path);
        if (!parsed.ok()) {
            fmt::print(stderr, "{}", parsed.format_errors());
            return 2;
        }
        // A node the scenario names must exist: found now, not halfway
        // through the run.
        for (const ScenarioStep& step : parsed.scenario.steps) {
            for (const std::string& name : named_nodes(step.command)) {
                if (std::any_of(specs.begin(), specs.end(), [&](const ClusterNodeSpec& s) { return s.name == name; })) continue;
                std::string known;
                for (const ClusterNodeSpec& spec : specs) known += (known.empty() ? "" : ", ") + spec.name;
                fmt::print(stderr, "{}:{}: {}: no node named '{}' (the nodes: {})\n", options.scenario_path, step.line,
                           to_string(step.command), name, known);
                return 2;
            }
        }
    }
    RunCommandOptions first = options;
    first.command = specs.front().argv;
    ProgramRunOptions base;
    try {
        base = program_options(first);
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "marionette: {}\n", e.what());
        return exit_internal;
    }
    {
        NetOptions probe;
        if (!options.net_options.empty()) apply_net_options(probe, options.net_options);  // a usage error before anything runs
    }
    const std::string client = options.client_node.empty() ? specs.back().name : options.client_node;
    TraceHeader header;
    header.format = parse_trace_format(options.trace_format_text);
    header.seed = base.seed;
    header.options = {{"mode", "cluster"}};
    std::string nodes;
    for (const ClusterNodeSpec& spec : specs) {
        nodes += (nodes.empty() ? "" : ",") + spec.name + "=" + std::filesystem::path(spec.argv.front()).filename().string();
    }
    header.options.emplace_back("nodes", nodes);
    header.options.emplace_back("tsc", std::string(tsc_trace_value(tsc_mechanism())));
    if (!options.net_options.empty()) header.options.emplace_back("net", options.net_options);
    if (!options.disk_dir.empty()) header.options.emplace_back("disk", options.disk_dir);
    for (const auto& [name, dir] : options.node_disks) header.options.emplace_back("disk", name + "=" + dir);
    for (const auto& [key, value] : options.disk_options) header.options.emplace_back(key, value);
    if (!options.scenario_path.empty()) header.options.emplace_back("scenario", options.scenario_path);
    if (!crash_node.empty()) {
        const std::string point = crash_point_text(options);
        header.options.emplace_back("crash", point);
    }
    std::unique_ptr<std::ofstream> file;
    if (!options.trace_path.empty()) {
        file = std::make_unique<std::ofstream>(options.trace_path);
        if (!*file) throw std::invalid_argument("cannot write trace file '" + options.trace_path + "'");
    }
    Trace trace(header, file.get(), true);
    std::optional<Ns> timeout;
    if (!options.timeout_text.empty()) timeout = parse_duration(options.timeout_text);
    // One run of the cluster into `into`; `again` for the second run of
    // --verify (its verdict and output were already reported).
    auto run_once = [&](Trace& into, const ProgramRunOptions& run_options, bool again, TransportStats& stats) {
        const bool quiet = options.quiet || again;
        int verdict = exit_ok;
        Cluster cluster(options, run_options, into, specs);
        cluster.quiet = quiet;
        cluster.client_name = client;
        cluster.timeout_ns = timeout;
        std::string failed;  // the scenario command that failed, if one did
        cluster.start_all();
        if (options.scenario_path.empty() && options.control_path.empty()) {
            if (!crash_node.empty()) cluster.arm_crash_point(crash_node, crash_point);
            verdict = cluster.run_to_client(client, timeout);
            if (!crash_node.empty() && cluster.crashes == 0) {
                into.emit("coordinator.crash_not_reached", {{"point", crash_point_text(options)}});
                if (!quiet) {
                    fmt::print(stderr, "marionette: crash point not reached: {}{}\n", crash_point_text(options),
                               options.require_crash ? "; --require-crash makes this a failure" : "");
                }
            }
            if (options.require_crash && cluster.crashes == 0) verdict = exit_failed;
        } else {
            const ScenarioOutcome outcome = run_traced(cluster, parsed.scenario, into);
            if (!options.scenario_path.empty() && !again) {
                fmt::print(stderr, "marionette: scenario {}: {}\n", options.scenario_path, outcome.describe(parsed.scenario));
            }
            verdict = outcome.ok ? exit_ok : exit_failed;
            if (!outcome.ok) failed = to_string(parsed.scenario.steps.at(outcome.steps_run - 1).command);
            if (outcome.ok && !options.control_path.empty()) {
                ControlServer server(options.control_path);
                fmt::print(stderr, "marionette: serving the control protocol on {}\n", options.control_path);
                cluster.count_expect_failures = true;
                server.serve(cluster);
                if (cluster.expect_failures > 0) verdict = exit_failed;
            }
            cluster.end_all();
        }
        if (!again && !options.export_disk_dir.empty()) cluster.export_disks(options.export_disk_dir);
        if (!again && !options.record_faults_path.empty()) cluster.record_faults(options.record_faults_path, failed);
        stats = cluster.transport();
        return verdict;
    };
    TransportStats transport;
    int code = run_once(trace, base, false, transport);
    if (options.verify) {
        // The same cluster again, its output not forwarded, compared event
        // by event (validate.cpp rejects --verify with --control).
        ProgramRunOptions again = base;
        again.forward_output = false;
        Trace second(header, nullptr, true);
        TransportStats ignored;
        (void)run_once(second, again, true, ignored);
        if (!same_traces(trace, second)) {
            code = exit_failed;
        } else if (!options.quiet) {
            fmt::print(stderr, "marionette: verify: 2 runs identical ({} events, trace_hash={:016x})\n", trace.size(),
                       trace.hash());
        }
    }
    if (file) file->flush();
    if (options.summary) fmt::print(stderr, "{}{}", trace.summary().format(), transport.format());
    write_run_report(options.run_report_path, trace);
    if (!options.quiet || code != exit_ok) {
        fmt::print(stderr, "marionette: seed={} events={} trace_hash={:016x}{}\n", base.seed, trace.size(), trace.hash(),
                   options.trace_path.empty() ? "" : " trace=" + std::filesystem::absolute(options.trace_path).string());
        if (!options.invocation.empty()) {
            fmt::print(stderr, "marionette: replay with: {}{}\n", replay_command_line(options.invocation, base.seed),
                       options.control_path.empty() ? "" : "  (and send the same control commands)");
        }
    }
    return code;
}

}  // namespace marionette
