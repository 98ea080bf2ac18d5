// Typed commands of the control language, and their canonical text.
//
// A scenario line or a control-socket request parses (parse.hpp) into one of
// the structs below, held in the `Command` variant; the launcher executes it
// through CommandExecutor (executor.hpp). `to_string` prints the canonical
// text of a command, which parses back to an equal command — the property the
// unit and fuzz tests check — so traces, logs and the C++ client all show
// commands in one spelling. docs/control-protocol.md is the reference for
// every command and argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/net/options.hpp"
#include "sim/rate.hpp"
#include "sim/time.hpp"

namespace marionette {

/// `hello [<protocol>]`: version handshake, answered by dispatch itself.
struct Hello {
    std::optional<std::uint64_t> protocol;
    friend bool operator==(const Hello&, const Hello&) = default;
};

/// `status`: the run's state as reply fields.
struct Status {
    friend bool operator==(const Status&, const Status&) = default;
};

/// `quit`: end the run (closing the connection only detaches).
struct Quit {
    friend bool operator==(const Quit&, const Quit&) = default;
};

/// `trace.read [since=<event>]`: trace events from index `since_event` on.
struct TraceRead {
    std::uint64_t since_event = 0;
    friend bool operator==(const TraceRead&, const TraceRead&) = default;
};

/// `run <duration>`, `run until idle`, `run until <time>`, `run until exit
/// [<node>]` (until the node's program ends, or nothing can run any more).
struct Run {
    enum class Mode { for_duration, until_idle, until_time, until_exit };
    Mode mode = Mode::for_duration;
    Ns ns = 0;  ///< the duration, or the absolute virtual time; 0 for until_idle and until_exit
    std::string node;  ///< until_exit: the node (empty = the default node)
    friend bool operator==(const Run&, const Run&) = default;
};

/// `crash [<node>]`: power loss of the node (empty = the default node).
struct Crash {
    std::string node;
    friend bool operator==(const Crash&, const Crash&) = default;
};

/// `kill [<node>]`: end the node's processes, leave its disk alone.
struct Kill {
    std::string node;
    friend bool operator==(const Kill&, const Kill&) = default;
};

/// `restart [<node>]`: start the node's command again on its surviving disk.
struct Restart {
    std::string node;
    friend bool operator==(const Restart&, const Restart&) = default;
};

/// `crash random within <from>..<to> [<node>]`: one crash at a seeded
/// virtual time in [from, to].
struct CrashRandom {
    Ns from_ns = 0;
    Ns to_ns = 0;
    std::string node;
    friend bool operator==(const CrashRandom&, const CrashRandom&) = default;
};

/// One `key=rate` of disk.set_faults.
struct DiskFault {
    std::string key;
    Rate rate = Rate::never();
    friend bool operator==(const DiskFault&, const DiskFault&) = default;
};

/// `disk.set_faults [node=<node>] <key>=<rate> ...`; faults sorted in the
/// order of disk_fault_keys(), each key at most once.
struct DiskSetFaults {
    std::string node;
    std::vector<DiskFault> faults;
    friend bool operator==(const DiskSetFaults&, const DiskSetFaults&) = default;
};

/// `disk.corrupt_sector [node=<node>] path=<path> offset=<bytes>`.
struct DiskCorruptSector {
    std::string node;
    std::string path;
    std::uint64_t offset = 0;
    friend bool operator==(const DiskCorruptSector&, const DiskCorruptSector&) = default;
};

/// `net.partition <a,b> <c> ...`: nodes in different groups cannot talk.
struct NetPartition {
    std::vector<std::vector<std::string>> groups;
    friend bool operator==(const NetPartition&, const NetPartition&) = default;
};

/// `net.heal`: remove every partition.
struct NetHeal {
    friend bool operator==(const NetHeal&, const NetHeal&) = default;
};

/// `net.set_faults`, `net.set_lossiness`, `net.set_latency` or
/// `net.set_partition_dynamics` with `key=value ...`: network options of
/// one group of the network model (sim/net/options.hpp decides which keys a
/// group accepts and checks the values). Settings keep their order (later
/// keys may override earlier ones, e.g. stability_ns_min); each key once.
/// The executor applies them with apply_net_options(options, text, group).
struct NetSetOptions {
    NetOptionGroup group = NetOptionGroup::all;
    std::vector<std::pair<std::string, std::string>> settings;
    friend bool operator==(const NetSetOptions&, const NetSetOptions&) = default;

    /// The settings as `key=value key=value` text for apply_net_options.
    std::string text() const;
};

/// `net.clog <from> <to> <duration>`: packets from -> to are held for a while.
struct NetClog {
    std::string from;
    std::string to;
    Ns duration_ns = 0;
    friend bool operator==(const NetClog&, const NetClog&) = default;
};

/// `net.unclog [<from> <to>]`: release one clog, or all when empty.
struct NetUnclog {
    std::string from;
    std::string to;
    friend bool operator==(const NetUnclog&, const NetUnclog&) = default;
};

/// `net.fail_connect <from> <to> on|off`: connects from one node to
/// another are refused (ECONNREFUSED) while on.
struct NetFailConnect {
    std::string from;
    std::string to;
    bool on = true;
    friend bool operator==(const NetFailConnect&, const NetFailConnect&) = default;
};

/// `net.force <what> ...`: one random network fault decision, forced
/// (docs/shrinking.md). `what` is `only` (random faults off from now on:
/// only forced ones fire), `drop`/`duplicate`/`clog`/`reset` (`from`, `to`,
/// `number` = the packet's number on that link, from 1), `partial_write`
/// (`number` = the stream send, `amount` = bytes accepted), `partition`
/// (`number` = the dynamics tick, `side` = the nodes cut off) or `heal`
/// (`number` = the tick).
struct NetForce {
    std::string what;
    std::string from;
    std::string to;
    std::uint64_t number = 0;
    std::uint64_t amount = 0;
    std::vector<std::string> side;
    friend bool operator==(const NetForce&, const NetForce&) = default;
};

/// `disk.force <what> ...`: one random disk fault decision, forced
/// (docs/shrinking.md). `what` is `only` (random disk faults off from now on:
/// only forced ones fire, on every node), an I/O fault kind
/// (disk_forced_fault_kinds(): `node`, `number` = its roll on that disk,
/// from 1), `lost` (`node`, `number` = the node's power loss, from 1,
/// `position` = the unsynced change's place in it, from 1) or `torn` (the
/// same, `mask` = which of its sectors survive, `0`/`1` first sector first).
struct DiskForce {
    std::string what;
    std::string node;
    std::uint64_t number = 0;
    std::uint64_t position = 0;
    std::string mask;
    friend bool operator==(const DiskForce&, const DiskForce&) = default;
};

/// `spawn <name> [node=<node>] -- <argv...>`: start a helper process.
struct Spawn {
    std::string name;
    std::string node;
    std::vector<std::string> argv;
    friend bool operator==(const Spawn&, const Spawn&) = default;
};

/// `expect exit [<name>] <code>`: the process (default: the main program)
/// exited with `code`.
struct ExpectExit {
    std::string name;
    int code = 0;
    friend bool operator==(const ExpectExit&, const ExpectExit&) = default;
};

/// `expect output <name> contains <text>`: the process's output contains text.
struct ExpectOutput {
    std::string name;
    std::string text;
    friend bool operator==(const ExpectOutput&, const ExpectOutput&) = default;
};

/// Commands that can be scheduled with `at` and `after`.
using Action = std::variant<Crash, Kill, Restart, DiskSetFaults, DiskCorruptSector, NetPartition, NetHeal,
                            NetSetOptions, NetClog, NetUnclog, NetFailConnect, Spawn>;

/// `at <time> <action>`: run the action when virtual time reaches `at_ns`.
struct At {
    Ns at_ns = 0;
    Action action;
    friend bool operator==(const At&, const At&) = default;
};

/// `after <count> <event.name> <action>`: run the action right after the
/// `count`-th trace event named `event` from now.
struct After {
    std::uint64_t count = 1;
    std::string event;
    Action action;
    friend bool operator==(const After&, const After&) = default;
};

/// Any command of the language.
using Command = std::variant<Hello, Status, Quit, TraceRead, Run, At, After, CrashRandom, Crash, Kill, Restart,
                             DiskSetFaults, DiskCorruptSector, NetPartition, NetHeal, NetSetOptions,
                             NetClog, NetUnclog, NetFailConnect, NetForce, DiskForce, Spawn, ExpectExit, ExpectOutput>;

/// One entry of the command table: the first word, a usage line, a summary.
struct CommandInfo {
    std::string_view name;
    std::string_view usage;
    std::string_view summary;
};

/// Every command word with its usage, in documentation order.
const std::vector<CommandInfo>& command_table();

/// The disk fault keys accepted by disk.set_faults, in canonical order (the
/// disk model's own list, sim/disk/disk_options.hpp).
const std::vector<std::string_view>& disk_fault_keys();

/// The first word of a command (`disk.set_faults`, `crash`, ...).
std::string_view command_name(const Command& command);

/// Canonical text of a command (no newline); parses back to an equal command.
std::string to_string(const Command& command);
/// Canonical text of a schedulable action.
std::string to_string(const Action& action);

/// An action as a command.
Command to_command(const Action& action);

/// The node names a command refers to (in `at`/`after`, its action's), in
/// order, empty names (the default node) left out; process names of
/// `spawn`/`expect` are not node names. A cluster checks them before it runs.
std::vector<std::string> named_nodes(const Command& command);

/// The command word of a network option group (`net.set_latency`).
std::string_view net_options_command(NetOptionGroup group);

/// Canonical rendering of a rate: `never`, `always` or `n/d`.
std::string rate_text(const Rate& rate);

}  // namespace marionette
