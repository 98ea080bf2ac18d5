// Parsing each command of the control language, and the errors for bad lines.
#include <catch2/catch.hpp>

#include "control/parse.hpp"
#include "sim/disk/disk.hpp"

using namespace marionette;

namespace {

Command parse_ok(std::string_view line) {
    const ParsedLine parsed = parse_line(line);
    INFO("line: " << line);
    if (parsed.is_error()) INFO("error: " << parsed.error().describe());
    REQUIRE(parsed.is_command());
    return parsed.command();
}

ParseError parse_error(std::string_view line) {
    const ParsedLine parsed = parse_line(line);
    INFO("line: " << line);
    REQUIRE(parsed.is_error());
    return parsed.error();
}

}  // namespace

TEST_CASE("blank and comment lines are neither commands nor errors") {
    CHECK(parse_line("").is_blank());
    CHECK(parse_line("   \t ").is_blank());
    CHECK(parse_line("# crash").is_blank());
}

TEST_CASE("run, hello, status, quit, trace.read") {
    CHECK(parse_ok("run 2s") == Command(Run{Run::Mode::for_duration, 2 * ns_per_s, {}}));
    CHECK(parse_ok("run 150ms") == Command(Run{Run::Mode::for_duration, 150 * ns_per_ms, {}}));
    CHECK(parse_ok("run until idle") == Command(Run{Run::Mode::until_idle, 0, {}}));
    CHECK(parse_ok("run until exit") == Command(Run{Run::Mode::until_exit, 0, {}}));
    CHECK(parse_ok("run until exit client") == Command(Run{Run::Mode::until_exit, 0, "client"}));
    CHECK(parse_ok("run until 5s") == Command(Run{Run::Mode::until_time, 5 * ns_per_s, {}}));
    CHECK(parse_ok("hello") == Command(Hello{}));
    CHECK(parse_ok("hello 1") == Command(Hello{1}));
    CHECK(parse_ok("status") == Command(Status{}));
    CHECK(parse_ok("quit") == Command(Quit{}));
    CHECK(parse_ok("trace.read") == Command(TraceRead{0}));
    CHECK(parse_ok("trace.read since=42") == Command(TraceRead{42}));
}

TEST_CASE("crash, kill, restart with and without a node") {
    CHECK(parse_ok("crash") == Command(Crash{}));
    CHECK(parse_ok("crash db-1") == Command(Crash{"db-1"}));
    CHECK(parse_ok("kill") == Command(Kill{}));
    CHECK(parse_ok("restart n2") == Command(Restart{"n2"}));
    CHECK(parse_ok("crash random within 0..5s") == Command(CrashRandom{0, 5 * ns_per_s, ""}));
    CHECK(parse_ok("crash random within 1s..1s n1") == Command(CrashRandom{ns_per_s, ns_per_s, "n1"}));
}

TEST_CASE("disk commands") {
    const Command c = parse_ok("disk.set_faults crash_torn_write_rate=20% crash_lost_write_rate=always");
    const DiskSetFaults expected{"", {{"crash_lost_write_rate", Rate::always()}, {"crash_torn_write_rate", Rate::percent(20)}}};
    CHECK(c == Command(expected));  // sorted into canonical key order
    CHECK(parse_ok("disk.set_faults node=n1 read_error_rate=1/8") ==
          Command(DiskSetFaults{"n1", {{"read_error_rate", Rate::one_in(8)}}}));
    for (std::string_view key : disk_fault_keys()) {
        const Command one = parse_ok("disk.set_faults " + std::string(key) + "=never");
        CHECK(std::get<DiskSetFaults>(one).faults.at(0).key == key);
    }
    CHECK(parse_ok("disk.corrupt_sector path=data/wal offset=512") ==
          Command(DiskCorruptSector{"", "data/wal", 512}));
    CHECK(parse_ok("disk.corrupt_sector offset=0 path='my dir/f' node=a") ==
          Command(DiskCorruptSector{"a", "my dir/f", 0}));
}

TEST_CASE("network commands") {
    CHECK(parse_ok("net.partition a,b c") == Command(NetPartition{{{"a", "b"}, {"c"}}}));
    CHECK(parse_ok("net.heal") == Command(NetHeal{}));
    CHECK(parse_ok("net.set_lossiness drop_rate=10%") ==
          Command(NetSetOptions{NetOptionGroup::lossiness, {{"drop_rate", "10%"}}}));
    CHECK(parse_ok("net.set_lossiness duplicate_rate=1/8 drop_rate=always") ==
          Command(NetSetOptions{NetOptionGroup::lossiness, {{"duplicate_rate", "1/8"}, {"drop_rate", "always"}}}));
    CHECK(parse_ok("net.set_latency latency_ns_min=1ms latency_ns_jitter=500000") ==
          Command(NetSetOptions{NetOptionGroup::latency, {{"latency_ns_min", "1ms"}, {"latency_ns_jitter", "500us"}}}));
    CHECK(parse_ok("net.set_faults drop_rate=10% tcp_mss_bytes=536") ==
          Command(NetSetOptions{NetOptionGroup::all, {{"drop_rate", "10%"}, {"tcp_mss_bytes", "536"}}}));
    CHECK(parse_ok("net.set_partition_dynamics partition_rate=1% partition_mode=uniform_split") ==
          Command(NetSetOptions{NetOptionGroup::partition_dynamics,
                                {{"partition_rate", "1%"}, {"partition_mode", "uniform_split"}}}));
    // The network model decides which keys a group accepts.
    ParseError e = parse_error("net.set_latency drop_rate=1%");
    CHECK(e.code == ErrorCode::bad_argument);
    CHECK(e.column == 17);
    CHECK(e.message.find("unknown network option 'drop_rate'") == 0);
    e = parse_error("net.set_lossiness drop_rat=1%");
    CHECK(e.message.find("(did you mean 'drop_rate'?)") != std::string::npos);
    e = parse_error("net.set_lossiness drop_rate=lots");
    CHECK(e.message.find("invalid rate 'lots'") != std::string::npos);
    // Valid alone but not with the default tcp_rto_ns_max (5s): the run judges.
    CHECK(parse_ok("net.set_faults tcp_rto_ns_min=10000000000") ==
          Command(NetSetOptions{NetOptionGroup::all, {{"tcp_rto_ns_min", "10000000000"}}}));
    e = parse_error("net.set_lossiness drop_rate=1% drop_rate=2%");
    CHECK(e.message == "key 'drop_rate' given twice");
    e = parse_error("net.set_lossiness");
    CHECK(e.message.find("missing <key>=<value>; keys: drop_rate") == 0);
    CHECK(parse_ok("net.clog a b 2s") == Command(NetClog{"a", "b", 2 * ns_per_s}));
    CHECK(parse_ok("net.unclog") == Command(NetUnclog{}));
    CHECK(parse_ok("net.unclog a b") == Command(NetUnclog{"a", "b"}));
}

TEST_CASE("spawn and expect") {
    CHECK(parse_ok("spawn check -- sqlite3 data/db 'pragma integrity_check'") ==
          Command(Spawn{"check", "", {"sqlite3", "data/db", "pragma integrity_check"}}));
    CHECK(parse_ok("spawn w node=n1 -- sh -c \"echo 'hi' -- x\"") ==
          Command(Spawn{"w", "n1", {"sh", "-c", "echo 'hi' -- x"}}));
    CHECK(parse_ok("spawn t -- a -- b") == Command(Spawn{"t", "", {"a", "--", "b"}}));
    CHECK(parse_ok("expect exit 0") == Command(ExpectExit{"", 0}));
    CHECK(parse_ok("expect exit check 3") == Command(ExpectExit{"check", 3}));
    CHECK(parse_ok("expect exit main -1") == Command(ExpectExit{"main", -1}));
    CHECK(parse_ok("expect output check contains ok") == Command(ExpectOutput{"check", "ok"}));
    CHECK(parse_ok("expect output check contains 'rows: 10'") == Command(ExpectOutput{"check", "rows: 10"}));
}

TEST_CASE("at and after schedule actions") {
    CHECK(parse_ok("at 5s crash") == Command(At{5 * ns_per_s, Crash{}}));
    CHECK(parse_ok("at 1ms disk.set_faults write_error_rate=1%") ==
          Command(At{ns_per_ms, DiskSetFaults{"", {{"write_error_rate", Rate::percent(1)}}}}));
    CHECK(parse_ok("after 150 disk.write crash") == Command(After{150, "disk.write", Crash{}}));
    CHECK(parse_ok("after 1 net.deliver net.partition a b") ==
          Command(After{1, "net.deliver", NetPartition{{{"a"}, {"b"}}}}));
}

TEST_CASE("unknown commands name near matches") {
    ParseError e = parse_error("crsh");
    CHECK(e.code == ErrorCode::unknown_command);
    CHECK(e.column == 1);
    CHECK(e.message == "unknown command 'crsh' (did you mean 'crash'?)");
    e = parse_error("  disk.setfaults read_error_rate=1%");
    CHECK(e.column == 3);
    CHECK(e.message == "unknown command 'disk.setfaults' (did you mean 'disk.set_faults'?)");
    e = parse_error("frobnicate");
    CHECK(e.message == "unknown command 'frobnicate'");
    e = parse_error("at 5s crsh");
    CHECK(e.code == ErrorCode::unknown_command);
    CHECK(e.column == 7);
}

TEST_CASE("disk.force: only, I/O faults by roll, crash decisions by power loss and change") {
    CHECK(parse_ok("disk.force only") == Command(DiskForce{"only", {}, 0, 0, {}}));
    CHECK(parse_ok("disk.force read_error server 7") == Command(DiskForce{"read_error", "server", 7, 0, {}}));
    CHECK(parse_ok("disk.force lost server 1 3") == Command(DiskForce{"lost", "server", 1, 3, {}}));
    CHECK(parse_ok("disk.force torn n1 2 4 0110") == Command(DiskForce{"torn", "n1", 2, 4, "0110"}));
    CHECK(to_string(parse_ok("disk.force  torn n1 2 4 0110")) == "disk.force torn n1 2 4 0110");
    for (std::string_view kind : disk_forced_fault_kinds()) {
        CHECK(std::get<DiskForce>(parse_ok("disk.force " + std::string(kind) + " a 1")).what == kind);
    }
    ParseError e = parse_error("disk.force lose server 1 3");
    CHECK(e.code == ErrorCode::bad_argument);
    CHECK(e.message.find("unknown forced disk fault 'lose'") == 0);
    CHECK(e.message.find("did you mean 'lost'") != std::string::npos);
    CHECK(parse_error("disk.force torn server 1 3 012").message.find("0s and 1s") != std::string::npos);
    CHECK(parse_error("disk.force torn server 1 3").message.find("missing <mask>") == 0);
    CHECK(parse_error("disk.force lost server 0 3").message.find("crash counts from 1") != std::string::npos);
    CHECK(parse_error("disk.force lost server 1").message.find("missing <change>") == 0);
    CHECK(parse_error("disk.force read_error server 1 2").message.find("unexpected argument '2'") == 0);
    CHECK(parse_error("disk.force only x").message.find("unexpected argument 'x'") == 0);
}

TEST_CASE("missing, extra and mistyped arguments are bad_argument with a column") {
    ParseError e = parse_error("run");
    CHECK(e.code == ErrorCode::bad_argument);
    CHECK(e.column == 4);
    CHECK(e.message.find("missing <duration>") == 0);
    CHECK(e.message.find("usage: run <duration>") != std::string::npos);

    e = parse_error("run 2x");
    CHECK(e.column == 5);
    CHECK(e.message.find("invalid duration '2x'") == 0);

    e = parse_error("run 2s 3s");
    CHECK(e.column == 8);
    CHECK(e.message.find("unexpected argument '3s'") == 0);

    e = parse_error("disk.set_faults crash_lost_writes_rate=always");
    CHECK(e.column == 17);
    CHECK(e.message == "unknown key 'crash_lost_writes_rate' for disk.set_faults (did you mean 'crash_lost_write_rate'?)");

    e = parse_error("disk.set_faults read_error_rate=sometimes");
    CHECK(e.column == 17);
    CHECK(e.message.find("invalid rate 'sometimes'") == 0);

    e = parse_error("disk.set_faults read_error_rate=1% read_error_rate=2%");
    CHECK(e.message == "key 'read_error_rate' given twice");

    e = parse_error("disk.set_faults");
    CHECK(e.message.find("missing <key>=<rate>") == 0);

    e = parse_error("disk.corrupt_sector path=x offset=-1");
    CHECK(e.message.find("invalid offset '-1'") == 0);
    e = parse_error("disk.corrupt_sector path=x offset=0512");
    CHECK(e.message.find("leading zeros") != std::string::npos);
    e = parse_error("disk.corrupt_sector path=x offset=18446744073709551616");
    CHECK(e.message.find("too large") != std::string::npos);
    CHECK(parse_ok("disk.corrupt_sector path=x offset=18446744073709551615") ==
          Command(DiskCorruptSector{"", "x", 18446744073709551615ull}));
    e = parse_error("disk.corrupt_sector offset=1");
    CHECK(e.message.find("missing path=") == 0);
    e = parse_error("disk.corrupt_sector path=x 512");
    CHECK(e.message.find("expected key=value, got '512'") == 0);

    e = parse_error("crash random within 5s..1s");
    CHECK(e.message.find("empty time range") == 0);
    e = parse_error("crash random within 1s-5s");
    CHECK(e.message.find("expected a time range") == 0);
    e = parse_error("crash random around 1s..5s");
    CHECK(e.message.find("expected 'within'") == 0);
    e = parse_error("crash random within 1s..5q");
    CHECK(e.column == 25);

    e = parse_error("crash 'bad name'");
    CHECK(e.message.find("invalid node name 'bad name'") == 0);
    e = parse_error("net.partition a,b a");
    CHECK(e.message == "node 'a' appears in more than one group");
    e = parse_error("net.partition a,b");
    CHECK(e.message.find("at least two groups") != std::string::npos);
    e = parse_error("net.partition a,,b c");
    CHECK(e.message.find("invalid node name in group 'a,,b'") == 0);
    e = parse_error("net.clog a a 1s");
    CHECK(e.message == "a clog needs two different nodes");
    e = parse_error("net.unclog a");
    CHECK(e.message.find("missing <to> node") == 0);
    e = parse_error("net.set_latency");
    CHECK(e.message.find("missing <key>=<value>; keys: latency_ns_min latency_ns_jitter") == 0);

    e = parse_error("spawn x sqlite3");
    CHECK(e.message.find("expected '--'") == 0);
    e = parse_error("spawn x --");
    CHECK(e.message == "missing program after '--'");

    e = parse_error("expect exit 256");
    CHECK(e.message == "exit code must be 0..255, or -1 (a power loss)");
    e = parse_error("expect exit -2");
    CHECK(e.message.find("invalid exit code '-2'") == 0);
    e = parse_error("expect output c contains two words");
    CHECK(e.message.find("quote text with spaces") != std::string::npos);
    e = parse_error("expect exti 0");
    CHECK(e.message.find("unknown expectation 'exti' (did you mean 'exit'?)") == 0);

    e = parse_error("after 0 disk.write crash");
    CHECK(e.message == "count must be at least 1");
    e = parse_error("after 3 diskwrite crash");
    CHECK(e.message.find("invalid event name 'diskwrite'") == 0);
    e = parse_error("at 1s run 2s");
    CHECK(e.code == ErrorCode::bad_argument);
    CHECK(e.column == 7);
    CHECK(e.message.find("'run' cannot be scheduled with 'at'") == 0);
    e = parse_error("at 1s crash random within 0..1s");
    CHECK(e.message.find("'crash random' cannot be scheduled") == 0);
    e = parse_error("at 1s");
    CHECK(e.message.find("missing <action>") == 0);
    e = parse_error("hello one");
    CHECK(e.message.find("invalid protocol version 'one'") == 0);
}

TEST_CASE("lexical and encoding errors come through parse_line") {
    ParseError e = parse_error("spawn x -- 'oops");
    CHECK(e.code == ErrorCode::parse);
    e = parse_error(std::string("run 2s\0", 7));
    CHECK(e.code == ErrorCode::encoding);
    CHECK(e.column == 7);
    e = parse_error("run \xff");
    CHECK(e.code == ErrorCode::encoding);
    e = parse_error(std::string(max_request_line_bytes + 1, ' '));
    CHECK(e.code == ErrorCode::too_long);
}

TEST_CASE("node names") {
    CHECK(valid_node_name("n1"));
    CHECK(valid_node_name("Db_2-x"));
    CHECK(valid_node_name(std::string(64, 'a')));
    CHECK_FALSE(valid_node_name(std::string(65, 'a')));
    CHECK_FALSE(valid_node_name(""));
    CHECK_FALSE(valid_node_name("-x"));
    CHECK_FALSE(valid_node_name("random"));
    CHECK_FALSE(valid_node_name("a.b"));
    CHECK_FALSE(valid_node_name("a,b"));
}

TEST_CASE("named_nodes lists the nodes a command refers to, its action's under at/after") {
    using Names = std::vector<std::string>;
    CHECK(named_nodes(parse_ok("after 12 disk.write crash server")) == Names{"server"});
    CHECK(named_nodes(parse_ok("at 5s restart db")) == Names{"db"});
    CHECK(named_nodes(parse_ok("crash random within 1ms..2ms b")) == Names{"b"});
    CHECK(named_nodes(parse_ok("net.partition a,b c")) == Names{"a", "b", "c"});
    CHECK(named_nodes(parse_ok("net.clog a b 10ms")) == Names{"a", "b"});
    CHECK(named_nodes(parse_ok("disk.set_faults node=n1 read_error_rate=1%")) == Names{"n1"});
    CHECK(named_nodes(parse_ok("spawn check node=n2 -- true")) == Names{"n2"});
    CHECK(named_nodes(parse_ok("run until exit client")) == Names{"client"});
    // The default node, and process names, are not node names.
    CHECK(named_nodes(parse_ok("crash")).empty());
    CHECK(named_nodes(parse_ok("expect exit client 0")).empty());
    CHECK(named_nodes(parse_ok("net.unclog")).empty());
}
