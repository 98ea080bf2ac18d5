#include "control/parse.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "control/parse_args.hpp"
#include "sim/disk/disk.hpp"
#include "sim/trace.hpp"

namespace marionette {
namespace {

using namespace detail;

DiskSetFaults parse_disk_set_faults(Cursor& args) {
    std::vector<std::string_view> keys = disk_fault_keys();
    keys.push_back("node");
    const std::vector<KeyValue> kvs = key_values(args, keys);
    DiskSetFaults out;
    out.node = kv_node(kvs);
    for (std::string_view key : disk_fault_keys()) {
        if (const KeyValue* kv = find_key(kvs, key)) out.faults.push_back({kv->key, parse_rate(*kv->word, kv->value)});
    }
    if (out.faults.empty()) {
        std::string known;
        for (std::string_view key : disk_fault_keys()) known += " " + std::string(key);
        fail(ErrorCode::bad_argument, args.end_column(), "missing <key>=<rate>; keys:" + known);
    }
    return out;
}

DiskCorruptSector parse_disk_corrupt_sector(Cursor& args) {
    const std::vector<KeyValue> kvs = key_values(args, {"node", "path", "offset"});
    DiskCorruptSector out;
    out.node = kv_node(kvs);
    const KeyValue& path = require_key(kvs, "path", args);
    if (path.value.empty()) fail(ErrorCode::bad_argument, path.word->column, "empty path");
    out.path = path.value;
    const KeyValue& offset = require_key(kvs, "offset", args);
    out.offset = parse_u64(Word{offset.value, offset.word->column, true}, "offset");
    return out;
}

NetPartition parse_net_partition(Cursor& args) {
    NetPartition out;
    std::set<std::string> seen;
    while (!args.done()) {
        const Word& word = args.next("group");
        std::vector<std::string> group;
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = std::min(word.text.find(',', start), word.text.size());
            const std::string name = word.text.substr(start, comma - start);
            node_name(Word{name, word.column, true}, "node name in group '" + word.text + "'");
            if (!seen.insert(name).second) {
                fail(ErrorCode::bad_argument, word.column, "node '" + name + "' appears in more than one group");
            }
            group.push_back(name);
            if (comma == word.text.size()) break;
            start = comma + 1;
        }
        out.groups.push_back(std::move(group));
    }
    if (out.groups.size() < 2) {
        fail(ErrorCode::bad_argument, args.end_column(),
             "a partition needs at least two groups (usage: " + std::string(usage_of("net.partition")) + ")");
    }
    return out;
}

// The keys a network option group accepts, found by asking the network
// model itself (each described key, set to its default, either applies in
// the group or not), so the parser never keeps its own copy of the list.
const std::vector<std::string>& net_group_keys(NetOptionGroup group) {
    static const auto keys_for = [](NetOptionGroup g) {
        std::vector<std::string> out;
        for (const auto& [key, value] : describe_net_options(NetOptions{})) {
            NetOptions scratch;
            try {
                apply_net_options(scratch, key + "=" + value, g);
            } catch (const std::invalid_argument&) {
                continue;
            }
            out.push_back(key);
        }
        return out;
    };
    static const std::vector<std::string> all = keys_for(NetOptionGroup::all);
    static const std::vector<std::string> lossiness = keys_for(NetOptionGroup::lossiness);
    static const std::vector<std::string> latency = keys_for(NetOptionGroup::latency);
    static const std::vector<std::string> dynamics = keys_for(NetOptionGroup::partition_dynamics);
    switch (group) {
        case NetOptionGroup::lossiness: return lossiness;
        case NetOptionGroup::latency: return latency;
        case NetOptionGroup::partition_dynamics: return dynamics;
        case NetOptionGroup::all: break;
    }
    return all;
}

// The model renders durations in nanoseconds and rates as n/d; by the
// project's naming rule (units last: `_ns`, `_rate`) the canonical text
// uses the forms people type instead (`2ms`, `always`, `20%`).
std::string readable_value(std::string_view key, const std::string& value) {
    const bool duration = key.ends_with("_ns") || key.find("_ns_") != std::string_view::npos;
    try {
        if (duration) return format_duration(parse_duration(value));
        if (key.ends_with("_rate")) return rate_text(Rate::parse(value));
    } catch (const std::invalid_argument&) {
    }
    return value;
}

// One setting checked by the network model on default options; the value
// kept is the model's own rendering of it when it has one (canonical text).
std::pair<std::string, std::string> net_setting(const Word& word, NetOptionGroup group) {
    const std::size_t eq = word.text.find('=');
    if (eq == std::string::npos || eq == 0) {
        fail(ErrorCode::bad_argument, word.column, "expected key=value, got '" + word.text + "'");
    }
    const std::string key = word.text.substr(0, eq);
    NetOptions scratch;
    try {
        apply_net_options(scratch, word.text, group);
    } catch (const std::invalid_argument& e) {
        // Unknown keys and malformed values are the parser's to report.
        // Anything else is a cross-option check against the defaults (e.g.
        // tcp_rto_ns_min above the default maximum), which only the run,
        // knowing its current options, can judge: keep the text as given.
        const std::string message = e.what();
        if (!message.starts_with("unknown network option") && !message.starts_with("network option")) {
            return {key, word.text.substr(eq + 1)};
        }
        const std::vector<std::string>& keys = net_group_keys(group);
        fail(ErrorCode::bad_argument, word.column,
             message + did_you_mean(key, std::vector<std::string_view>(keys.begin(), keys.end())));
    }
    for (const auto& [k, v] : describe_net_options(scratch)) {
        if (k == key) return {key, readable_value(key, v)};
    }
    return {key, word.text.substr(eq + 1)};
}

NetSetOptions parse_net_set_options(Cursor& args, NetOptionGroup group) {
    NetSetOptions out;
    out.group = group;
    while (!args.done()) {
        const Word& word = args.next("key=value");
        auto setting = net_setting(word, group);
        for (const auto& seen : out.settings) {
            if (seen.first == setting.first) {
                fail(ErrorCode::bad_argument, word.column, "key '" + setting.first + "' given twice");
            }
        }
        out.settings.push_back(std::move(setting));
    }
    if (out.settings.empty()) {
        std::string known;
        for (const std::string& key : net_group_keys(group)) known += " " + key;
        fail(ErrorCode::bad_argument, args.end_column(), "missing <key>=<value>; keys:" + known);
    }
    return out;
}

/// `<from> <to>`: two different node names; `what` names the command's
/// object in the error ("a clog needs two different nodes").
std::pair<std::string, std::string> parse_node_pair(Cursor& args, const char* what) {
    std::string from = node_name(args.next("<from> node"), "node name");
    const Word& to_word = args.next("<to> node");
    std::string to = node_name(to_word, "node name");
    if (to == from) fail(ErrorCode::bad_argument, to_word.column, std::string(what) + " needs two different nodes");
    return {std::move(from), std::move(to)};
}

NetClog parse_net_clog(Cursor& args) {
    NetClog out;
    std::tie(out.from, out.to) = parse_node_pair(args, "a clog");
    out.duration_ns = parse_time(args.next("<duration>"));
    args.finish();
    return out;
}

NetUnclog parse_net_unclog(Cursor& args) {
    NetUnclog out;
    if (!args.done()) {
        out.from = node_name(args.next("<from> node"), "node name");
        out.to = node_name(args.next("<to> node"), "node name");
    }
    args.finish();
    return out;
}

NetFailConnect parse_net_fail_connect(Cursor& args) {
    NetFailConnect out;
    std::tie(out.from, out.to) = parse_node_pair(args, "a connect failure");
    const Word& state = args.next("on|off");
    if (state.text != "on" && state.text != "off") fail(ErrorCode::bad_argument, state.column, "expected on or off, got '" + state.text + "'");
    out.on = state.text == "on";
    args.finish();
    return out;
}

DiskForce parse_disk_force(Cursor& args) {
    DiskForce out;
    std::vector<std::string_view> kinds = disk_forced_fault_kinds();
    kinds.insert(kinds.begin(), {"only", "lost", "torn"});
    const Word& what = args.next("what to force (only, lost, torn, or an I/O fault: read_error, write_error, ...)");
    out.what = what.text;
    auto count = [&](std::string_view name) {
        const Word& word = args.next("<" + std::string(name) + ">");
        const std::uint64_t value = parse_u64(word, std::string(name));
        if (value == 0) fail(ErrorCode::bad_argument, word.column, std::string(name) + " counts from 1");
        return value;
    };
    if (std::find(kinds.begin(), kinds.end(), out.what) == kinds.end()) {
        fail(ErrorCode::bad_argument, what.column,
             "unknown forced disk fault '" + what.text + "'" + did_you_mean(what.text, kinds) +
                 " (usage: " + std::string(usage_of("disk.force")) + ")");
    }
    if (out.what != "only") {
        out.node = node_name(args.next("<node>"), "node name");
        if (out.what == "lost" || out.what == "torn") {
            out.number = count("crash");
            out.position = count("change");
        } else {
            out.number = count("roll");
        }
        if (out.what == "torn") {
            const Word& mask = args.next("<mask> (which sectors survive: 0s and 1s, first sector first)");
            if (mask.text.empty() || mask.text.find_first_not_of("01") != std::string::npos) {
                fail(ErrorCode::bad_argument, mask.column, "a sector mask is 0s and 1s, got '" + mask.text + "'");
            }
            out.mask = mask.text;
        }
    }
    args.finish();
    return out;
}

NetForce parse_net_force(Cursor& args) {
    NetForce out;
    const Word& what = args.next("what to force (only, drop, duplicate, clog, reset, partial_write, partition, heal)");
    out.what = what.text;
    auto count = [&](std::string_view name) {
        const Word& word = args.next("<" + std::string(name) + ">");
        const std::uint64_t value = parse_u64(word, std::string(name));
        if (value == 0) fail(ErrorCode::bad_argument, word.column, std::string(name) + " counts from 1");
        return value;
    };
    if (out.what == "only") {
        // nothing more
    } else if (out.what == "drop" || out.what == "duplicate" || out.what == "clog" || out.what == "reset") {
        std::tie(out.from, out.to) = parse_node_pair(args, "a forced fault");
        out.number = count("packet");
    } else if (out.what == "partial_write") {
        out.number = count("send");
        out.amount = count("bytes");
    } else if (out.what == "partition" || out.what == "heal") {
        out.number = count("tick");
        if (out.what == "partition") {
            const Word& side = args.next("<a,b> (the nodes cut off)");
            std::size_t start = 0;
            while (start <= side.text.size()) {
                const std::size_t comma = std::min(side.text.find(',', start), side.text.size());
                out.side.push_back(node_name(Word{side.text.substr(start, comma - start), side.column, true}, "node name"));
                start = comma + 1;
            }
        }
    } else {
        fail(ErrorCode::bad_argument, what.column,
             "unknown forced fault '" + what.text + "'" +
                 did_you_mean(what.text, {"only", "drop", "duplicate", "clog", "reset", "partial_write", "partition", "heal"}) +
                 " (usage: " + std::string(usage_of("net.force")) + ")");
    }
    args.finish();
    return out;
}

Spawn parse_spawn(Cursor& args) {
    Spawn out;
    out.name = node_name(args.next("<name>"), "process name");
    const Word* separator = &args.next("'--' before the program's arguments");
    if (separator->text.rfind("node=", 0) == 0) {
        out.node = separator->text.substr(5);
        node_name(Word{out.node, separator->column, true}, "node name");
        separator = &args.next("'--' before the program's arguments");
    }
    if (separator->text != "--") {
        fail(ErrorCode::bad_argument, separator->column,
             "expected '--' before the program's arguments, got '" + separator->text + "'");
    }
    while (!args.done()) out.argv.push_back(args.next("argument").text);
    if (out.argv.empty()) fail(ErrorCode::bad_argument, args.end_column(), "missing program after '--'");
    return out;
}

Action parse_action(Cursor& args);

Command parse_schedule(Cursor& args, bool is_at) {
    if (is_at) {
        At out;
        out.at_ns = parse_time(args.next("<time>"));
        out.action = parse_action(args);
        return out;
    }
    After out;
    const Word& count = args.next("<count>");
    out.count = parse_u64(count, "count");
    if (out.count == 0) fail(ErrorCode::bad_argument, count.column, "count must be at least 1");
    const Word& event = args.next("<event.name>");
    if (!valid_event_name(event.text) || event.text.find('.') == std::string::npos || event.text.front() == '.' ||
        event.text.back() == '.') {
        fail(ErrorCode::bad_argument, event.column,
             "invalid event name '" + event.text + "': expected component.action, e.g. disk.write");
    }
    out.event = event.text;
    out.action = parse_action(args);
    return out;
}

Command parse_crash(Cursor& args) {
    if (args.done() || args.peek().text != "random") return Crash{optional_node(args)};
    args.next("random");
    const Word& within = args.next("'within'");
    if (within.text != "within") {
        fail(ErrorCode::bad_argument, within.column, "expected 'within' after 'crash random', got '" + within.text + "'");
    }
    const Word& range = args.next("<t1>..<t2>");
    const std::size_t dots = range.text.find("..");
    if (dots == std::string::npos) {
        fail(ErrorCode::bad_argument, range.column, "expected a time range <t1>..<t2>, got '" + range.text + "'");
    }
    CrashRandom out;
    out.from_ns = parse_time(range.column, std::string_view(range.text).substr(0, dots));
    out.to_ns = parse_time(range.column + dots + 2, std::string_view(range.text).substr(dots + 2));
    if (out.to_ns < out.from_ns) {
        fail(ErrorCode::bad_argument, range.column, "empty time range '" + range.text + "': t2 is before t1");
    }
    out.node = optional_node(args);
    return out;
}

Command parse_run(Cursor& args) {
    const Word& first = args.next("<duration>, 'until idle', 'until <time>' or 'until exit [<node>]'");
    Run out;
    if (first.text == "until") {
        const Word& target = args.next("'idle', 'exit' or <time> after 'until'");
        if (target.text == "idle") {
            out.mode = Run::Mode::until_idle;
        } else if (target.text == "exit") {
            out.mode = Run::Mode::until_exit;
            out.node = optional_node(args);
        } else {
            out.mode = Run::Mode::until_time;
            out.ns = parse_time(target);
        }
    } else {
        out.ns = parse_time(first);
    }
    args.finish();
    return out;
}

Command parse_expect(Cursor& args) {
    const Word& what = args.next("'exit' or 'output'");
    if (what.text == "exit") {
        ExpectExit out;
        const Word& first = args.next("<code>");
        const Word* code = &first;
        if (!args.done()) {
            out.name = node_name(first, "process name");
            code = &args.next("<code>");
        }
        if (code->text == "-1") {
            out.code = -1;  // the process died in a power loss
        } else {
            const std::uint64_t value = parse_u64(*code, "exit code");
            if (value > 255) fail(ErrorCode::bad_argument, code->column, "exit code must be 0..255, or -1 (a power loss)");
            out.code = static_cast<int>(value);
        }
        args.finish();
        return out;
    }
    if (what.text == "output") {
        ExpectOutput out;
        out.name = node_name(args.next("<name>"), "process name");
        const Word& contains = args.next("'contains'");
        if (contains.text != "contains") {
            fail(ErrorCode::bad_argument, contains.column, "expected 'contains', got '" + contains.text + "'");
        }
        out.text = args.next("<text> (quote text with spaces)").text;
        if (!args.done()) {
            fail(ErrorCode::bad_argument, args.peek().column,
                 "expected one <text> word after 'contains'; quote text with spaces");
        }
        return out;
    }
    fail(ErrorCode::bad_argument, what.column,
         "unknown expectation '" + what.text + "'" + did_you_mean(what.text, {"exit", "output"}) +
             " (usage: " + std::string(usage_of("expect")) + ")");
}

// Commands that are also actions (schedulable); nullopt if `name` is not one.
std::optional<Action> parse_action_named(std::string_view name, Cursor& args) {
    if (name == "crash") {
        if (!args.done() && args.peek().text == "random") return std::nullopt;
        return Crash{optional_node(args)};
    }
    if (name == "kill") return Kill{optional_node(args)};
    if (name == "restart") return Restart{optional_node(args)};
    if (name == "disk.set_faults") return parse_disk_set_faults(args);
    if (name == "disk.corrupt_sector") return parse_disk_corrupt_sector(args);
    if (name == "net.partition") return parse_net_partition(args);
    if (name == "net.heal") return args.finish(), NetHeal{};
    for (NetOptionGroup group : {NetOptionGroup::all, NetOptionGroup::lossiness, NetOptionGroup::latency,
                                 NetOptionGroup::partition_dynamics}) {
        if (name == net_options_command(group)) return parse_net_set_options(args, group);
    }
    if (name == "net.clog") return parse_net_clog(args);
    if (name == "net.fail_connect") return parse_net_fail_connect(args);
    if (name == "net.unclog") return parse_net_unclog(args);
    if (name == "spawn") return parse_spawn(args);
    return std::nullopt;
}

[[noreturn]] void unknown_command(const Word& word) {
    fail(ErrorCode::unknown_command, word.column,
         "unknown command '" + word.text + "'" + did_you_mean(word.text, all_command_names()));
}

Action parse_action(Cursor& outer) {
    const Word& word = outer.next("<action> (crash, kill, restart, disk.*, net.* or spawn)");
    Cursor args = outer.rest_as(word.text);
    if (std::optional<Action> action = parse_action_named(word.text, args)) return std::move(*action);
    const std::vector<std::string_view> names = all_command_names();
    if (std::find(names.begin(), names.end(), word.text) == names.end()) unknown_command(word);
    const std::string what = word.text == "crash" ? "crash random" : word.text;
    fail(ErrorCode::bad_argument, word.column,
         "'" + what + "' cannot be scheduled with '" + std::string(outer.name()) +
             "'; only crash, kill, restart, disk.*, net.* and spawn can");
}

Command parse_words(const std::vector<Word>& words, std::size_t end_column) {
    const Word& word = words.front();
    Cursor args(word.text, words, 1, end_column);
    const std::string& name = word.text;
    if (name == "hello") {
        Hello out;
        if (!args.done()) out.protocol = parse_u64(args.next("<protocol>"), "protocol version");
        args.finish();
        return out;
    }
    if (name == "status") return args.finish(), Status{};
    if (name == "quit") return args.finish(), Quit{};
    if (name == "trace.read") {
        const std::vector<KeyValue> kvs = key_values(args, {"since"});
        TraceRead out;
        if (const KeyValue* kv = find_key(kvs, "since")) {
            out.since_event = parse_u64(Word{kv->value, kv->word->column, true}, "event index");
        }
        return out;
    }
    if (name == "run") return parse_run(args);
    if (name == "at" || name == "after") return parse_schedule(args, name == "at");
    if (name == "expect") return parse_expect(args);
    if (name == "crash") return parse_crash(args);
    if (name == "net.force") return parse_net_force(args);
    if (name == "disk.force") return parse_disk_force(args);
    if (std::optional<Action> action = parse_action_named(name, args)) return to_command(*action);
    unknown_command(word);
}

}  // namespace

ParsedLine parse_line(std::string_view line) {
    if (std::optional<ParseError> error = check_line_bytes(line)) return ParsedLine(std::move(*error));
    SplitLine split = split_words(line);
    if (split.error) return ParsedLine(std::move(*split.error));
    if (split.words.empty()) return ParsedLine();
    try {
        return ParsedLine(parse_words(split.words, line.size() + 1));
    } catch (const Failure& failure) {
        return ParsedLine(failure.error);
    }
}

bool valid_node_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() == '-' || name == "random") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

}  // namespace marionette
