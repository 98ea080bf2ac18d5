#include "control/command.hpp"
#include "control/overloaded.hpp"

#include <algorithm>

#include "control/lexer.hpp"
#include "sim/disk/disk_options.hpp"

namespace marionette {
namespace {

using detail::Overloaded;

// Appends " word" (quoted as needed) to a line being printed.
void add(std::string& out, std::string_view word) {
    out += ' ';
    out += quote_word(word);
}

void add_kv(std::string& out, std::string_view key, std::string_view value) {
    out += ' ';
    out += key;
    out += '=';
    out += quote_word(value);
}

void add_node_kv(std::string& out, const std::string& node) {
    if (!node.empty()) add_kv(out, "node", node);
}

void add_node(std::string& out, const std::string& node) {
    if (!node.empty()) add(out, node);
}

std::string print_action(const Action& action) {
    std::string out;
    std::visit(Overloaded{
                   [&](const Crash& c) { out = "crash", add_node(out, c.node); },
                   [&](const Kill& c) { out = "kill", add_node(out, c.node); },
                   [&](const Restart& c) { out = "restart", add_node(out, c.node); },
                   [&](const DiskSetFaults& c) {
                       out = "disk.set_faults";
                       add_node_kv(out, c.node);
                       for (const DiskFault& f : c.faults) add_kv(out, f.key, rate_text(f.rate));
                   },
                   [&](const DiskCorruptSector& c) {
                       out = "disk.corrupt_sector";
                       add_node_kv(out, c.node);
                       add_kv(out, "path", c.path);
                       add_kv(out, "offset", std::to_string(c.offset));
                   },
                   [&](const NetPartition& c) {
                       out = "net.partition";
                       for (const auto& group : c.groups) {
                           std::string joined;
                           for (const std::string& node : group) joined += (joined.empty() ? "" : ",") + node;
                           add(out, joined);
                       }
                   },
                   [&](const NetHeal&) { out = "net.heal"; },
                   [&](const NetSetOptions& c) {
                       out = net_options_command(c.group);
                       for (const auto& [key, value] : c.settings) add_kv(out, key, value);
                   },
                   [&](const NetClog& c) {
                       out = "net.clog";
                       add(out, c.from);
                       add(out, c.to);
                       add(out, format_duration(c.duration_ns));
                   },
                   [&](const NetUnclog& c) {
                       out = "net.unclog";
                       if (!c.from.empty()) add(out, c.from), add(out, c.to);
                   },
                   [&](const NetFailConnect& c) {
                       out = "net.fail_connect";
                       add(out, c.from);
                       add(out, c.to);
                       add(out, c.on ? "on" : "off");
                   },
                   [&](const Spawn& c) {
                       out = "spawn";
                       add(out, c.name);
                       add_node_kv(out, c.node);
                       out += " --";
                       for (const std::string& arg : c.argv) add(out, arg);
                   },
               },
               action);
    return out;
}

std::string print_run(const Run& run) {
    switch (run.mode) {
        case Run::Mode::for_duration: return "run " + format_duration(run.ns);
        case Run::Mode::until_idle: return "run until idle";
        case Run::Mode::until_time: return "run until " + format_duration(run.ns);
        case Run::Mode::until_exit: {
            std::string out = "run until exit";
            add_node(out, run.node);
            return out;
        }
    }
    return "run";
}

}  // namespace

const std::vector<CommandInfo>& command_table() {
    static const std::vector<CommandInfo> table = {
        {"hello", "hello [<protocol>]", "version handshake; replies ok protocol=<n> ..."},
        {"status", "status", "the run's state as reply fields"},
        {"run", "run <duration> | run until idle | run until <time> | run until exit [<node>]", "advance the simulation"},
        {"at", "at <time> <action>", "schedule an action at an absolute virtual time"},
        {"after", "after <count> <event.name> <action>", "schedule an action after the count-th such trace event"},
        {"crash", "crash [<node>] | crash random within <t1>..<t2> [<node>]", "power loss: processes die, unsynced writes may be lost or torn"},
        {"kill", "kill [<node>]", "end the node's processes; the disk keeps unsynced data"},
        {"restart", "restart [<node>]", "start the node's command again on its surviving disk"},
        {"disk.set_faults", "disk.set_faults [node=<node>] <key>=<rate> ...", "set disk fault rates"},
        {"disk.corrupt_sector", "disk.corrupt_sector [node=<node>] path=<path> offset=<bytes>", "corrupt the sector holding a byte of a file"},
        {"net.partition", "net.partition <a,b> <c> ...", "split the network into groups"},
        {"net.heal", "net.heal", "remove every partition"},
        {"net.set_faults", "net.set_faults <key>=<value> ...", "set any network options (docs/network-model.md)"},
        {"net.set_lossiness", "net.set_lossiness drop_rate=<rate> ...", "set loss options: drop_rate, duplicate_rate, path_clog_rate, path_clog_duration_ns, connection_reset_rate, partial_write_rate"},
        {"net.set_latency", "net.set_latency latency_ns_min=<d> latency_ns_jitter=<d> ...", "set latency options: latency_ns_min, latency_ns_jitter, loopback_latency_ns, latency_tail_rate, latency_tail_ns_max"},
        {"net.set_partition_dynamics", "net.set_partition_dynamics partition_rate=<rate> ...", "set random partition dynamics (partition and stability keys, partition_tick_ns, partition_mode)"},
        {"net.clog", "net.clog <from> <to> <duration>", "hold packets from one node to another for a while"},
        {"net.fail_connect", "net.fail_connect <from> <to> on|off", "refuse connects from one node to another"},
        {"net.unclog", "net.unclog [<from> <to>]", "release one clog, or all"},
        {"net.force", "net.force only | net.force drop|duplicate|clog|reset <from> <to> <packet> | net.force partial_write <send> <bytes> | net.force partition <tick> <a,b> | net.force heal <tick>",
         "force one random network fault (shrinking; docs/shrinking.md)"},
        {"disk.force", "disk.force only | disk.force <fault> <node> <roll> | disk.force lost <node> <crash> <change> | disk.force torn <node> <crash> <change> <mask>",
         "force one random disk fault (shrinking; docs/shrinking.md)"},
        {"spawn", "spawn <name> [node=<node>] -- <argv...>", "start a helper process"},
        {"expect", "expect exit [<name>] <code> | expect output <name> contains <text>", "check a process's outcome"},
        {"trace.read", "trace.read [since=<event>]", "the trace from an event index on"},
        {"quit", "quit", "end the run"},
    };
    return table;
}

const std::vector<std::string_view>& disk_fault_keys() { return disk_fault_rate_names(); }

std::string_view net_options_command(NetOptionGroup group) {
    switch (group) {
        case NetOptionGroup::all: return "net.set_faults";
        case NetOptionGroup::lossiness: return "net.set_lossiness";
        case NetOptionGroup::latency: return "net.set_latency";
        case NetOptionGroup::partition_dynamics: return "net.set_partition_dynamics";
    }
    return "net.set_faults";
}

std::string NetSetOptions::text() const {
    std::string out;
    for (const auto& [key, value] : settings) out += (out.empty() ? "" : " ") + key + "=" + value;
    return out;
}

std::string rate_text(const Rate& rate) {
    if (rate == Rate::never()) return "never";
    if (rate == Rate::always()) return "always";
    if (rate.denominator() == 100) return std::to_string(rate.numerator()) + "%";
    return rate.to_string();
}

Command to_command(const Action& action) {
    return std::visit([](const auto& a) -> Command { return a; }, action);
}

std::string to_string(const Action& action) { return print_action(action); }

std::string_view command_name(const Command& command) {
    return std::visit(Overloaded{
                          [](const Hello&) -> std::string_view { return "hello"; },
                          [](const Status&) -> std::string_view { return "status"; },
                          [](const Quit&) -> std::string_view { return "quit"; },
                          [](const TraceRead&) -> std::string_view { return "trace.read"; },
                          [](const Run&) -> std::string_view { return "run"; },
                          [](const At&) -> std::string_view { return "at"; },
                          [](const After&) -> std::string_view { return "after"; },
                          [](const CrashRandom&) -> std::string_view { return "crash"; },
                          [](const Crash&) -> std::string_view { return "crash"; },
                          [](const Kill&) -> std::string_view { return "kill"; },
                          [](const Restart&) -> std::string_view { return "restart"; },
                          [](const DiskSetFaults&) -> std::string_view { return "disk.set_faults"; },
                          [](const DiskCorruptSector&) -> std::string_view { return "disk.corrupt_sector"; },
                          [](const NetPartition&) -> std::string_view { return "net.partition"; },
                          [](const NetHeal&) -> std::string_view { return "net.heal"; },
                          [](const NetSetOptions& c) -> std::string_view { return net_options_command(c.group); },
                          [](const NetClog&) -> std::string_view { return "net.clog"; },
                          [](const NetUnclog&) -> std::string_view { return "net.unclog"; },
                          [](const NetFailConnect&) -> std::string_view { return "net.fail_connect"; },
                          [](const NetForce&) -> std::string_view { return "net.force"; },
                          [](const DiskForce&) -> std::string_view { return "disk.force"; },
                          [](const Spawn&) -> std::string_view { return "spawn"; },
                          [](const ExpectExit&) -> std::string_view { return "expect"; },
                          [](const ExpectOutput&) -> std::string_view { return "expect"; },
                      },
                      command);
}

std::string to_string(const Command& command) {
    return std::visit(Overloaded{
                          [](const Hello& c) {
                              return c.protocol ? "hello " + std::to_string(*c.protocol) : std::string("hello");
                          },
                          [](const Status&) { return std::string("status"); },
                          [](const Quit&) { return std::string("quit"); },
                          [](const TraceRead& c) {
                              return c.since_event == 0 ? std::string("trace.read")
                                                        : "trace.read since=" + std::to_string(c.since_event);
                          },
                          [](const Run& c) { return print_run(c); },
                          [](const At& c) { return "at " + format_duration(c.at_ns) + " " + print_action(c.action); },
                          [](const After& c) {
                              return "after " + std::to_string(c.count) + " " + c.event + " " + print_action(c.action);
                          },
                          [](const CrashRandom& c) {
                              std::string out = "crash random within " + format_duration(c.from_ns) + ".." +
                                                format_duration(c.to_ns);
                              add_node(out, c.node);
                              return out;
                          },
                          [](const ExpectExit& c) {
                              std::string out = "expect exit";
                              add_node(out, c.name);
                              return out + " " + std::to_string(c.code);
                          },
                          [](const DiskForce& c) {
                              std::string out = "disk.force " + c.what;
                              if (c.what == "only") return out;
                              add(out, c.node);
                              out += " " + std::to_string(c.number);
                              if (c.what == "lost" || c.what == "torn") out += " " + std::to_string(c.position);
                              if (c.what == "torn") out += " " + c.mask;
                              return out;
                          },
                          [](const NetForce& c) {
                              std::string out = "net.force " + c.what;
                              if (c.what == "only") return out;
                              if (c.what == "partial_write") {
                                  return out + " " + std::to_string(c.number) + " " + std::to_string(c.amount);
                              }
                              if (c.what == "partition" || c.what == "heal") {
                                  out += " " + std::to_string(c.number);
                                  std::string joined;
                                  for (const std::string& node : c.side) joined += (joined.empty() ? "" : ",") + node;
                                  if (!joined.empty()) add(out, joined);
                                  return out;
                              }
                              add(out, c.from);
                              add(out, c.to);
                              return out + " " + std::to_string(c.number);
                          },
                          [](const ExpectOutput& c) {
                              std::string out = "expect output";
                              add(out, c.name);
                              out += " contains";
                              add(out, c.text);
                              return out;
                          },
                          [](const auto& action) { return print_action(Action(action)); },
                      },
                      command);
}

std::vector<std::string> named_nodes(const Command& command) {
    std::vector<std::string> names;
    auto add = [&](const std::string& name) {
        if (!name.empty()) names.push_back(name);
    };
    std::visit(Overloaded{
                   [&](const Run& c) { add(c.node); },
                   [&](const At& c) { names = named_nodes(to_command(c.action)); },
                   [&](const After& c) { names = named_nodes(to_command(c.action)); },
                   [&](const CrashRandom& c) { add(c.node); },
                   [&](const Crash& c) { add(c.node); },
                   [&](const Kill& c) { add(c.node); },
                   [&](const Restart& c) { add(c.node); },
                   [&](const DiskSetFaults& c) { add(c.node); },
                   [&](const DiskCorruptSector& c) { add(c.node); },
                   [&](const NetPartition& c) {
                       for (const auto& group : c.groups) std::for_each(group.begin(), group.end(), add);
                   },
                   [&](const NetClog& c) { add(c.from), add(c.to); },
                   [&](const NetUnclog& c) { add(c.from), add(c.to); },
                   [&](const NetFailConnect& c) { add(c.from), add(c.to); },
                   [&](const DiskForce& c) { add(c.node); },
                   [&](const NetForce& c) {
                       add(c.from), add(c.to);
                       std::for_each(c.side.begin(), c.side.end(), add);
                   },
                   [&](const Spawn& c) { add(c.node); },
                   [](const auto&) {},
               },
               command);
    return names;
}

}  // namespace marionette
