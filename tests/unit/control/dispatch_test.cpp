// dispatch and handle_line: routing to the executor, hello, exceptions.
#include <catch2/catch.hpp>

#include "control/parse.hpp"
#include "fake_executor.hpp"
#include "random_command.hpp"

using namespace marionette;

namespace {

Command parsed(std::string_view line) {
    const ParsedLine p = parse_line(line);
    REQUIRE(p.is_command());
    return p.command();
}

}  // namespace

TEST_CASE("each command reaches its own executor method") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"run 2s", "run"},
        {"run until idle", "run"},
        {"at 5s crash", "schedule_at"},
        {"after 150 disk.write crash", "schedule_after"},
        {"crash random within 0s..5s", "crash_random"},
        {"crash", "crash"},
        {"kill n1", "kill"},
        {"restart", "restart"},
        {"disk.set_faults crash_lost_write_rate=always", "disk_set_faults"},
        {"disk.corrupt_sector path=data/wal offset=512", "disk_corrupt_sector"},
        {"net.partition a b", "net_partition"},
        {"net.heal", "net_heal"},
        {"net.set_lossiness drop_rate=1%", "net_set_options"},
        {"net.set_latency latency_ns_min=1ms", "net_set_options"},
        {"net.set_faults drop_rate=1% latency_ns_jitter=2ms", "net_set_options"},
        {"net.set_partition_dynamics partition_rate=1%", "net_set_options"},
        {"net.clog a b 1s", "net_clog"},
        {"net.unclog", "net_unclog"},
        {"spawn c -- true", "spawn"},
        {"expect exit 0", "expect_exit"},
        {"expect output c contains ok", "expect_output"},
        {"trace.read", "trace_read"},
        {"status", "status"},
        {"quit", "quit"},
    };
    for (const auto& [line, method] : cases) {
        test::RecordingExecutor executor;
        const Reply reply = dispatch(executor, parsed(line));
        INFO(line);
        REQUIRE(executor.calls.size() == 1);
        CHECK(executor.calls[0] == method + " " + line);
        CHECK(reply == Reply::success({{"method", method}}));
    }
}

TEST_CASE("random commands are routed with their arguments intact") {
    Prng prng(5);
    test::RecordingExecutor executor;
    for (int i = 0; i < 500; ++i) {
        const Command command = test::random_command(prng);
        const Reply reply = dispatch(executor, command);
        if (std::holds_alternative<Hello>(command)) continue;
        REQUIRE(reply.ok);
        REQUIRE(executor.calls.back().substr(executor.calls.back().find(' ') + 1) == to_string(command));
    }
}

TEST_CASE("hello is answered by dispatch with the protocol version") {
    test::RecordingExecutor executor;
    Reply reply = dispatch(executor, Hello{});
    CHECK(reply.ok);
    REQUIRE(reply.find("protocol"));
    CHECK(*reply.find("protocol") == "1");
    CHECK(*reply.find("server") == "marionette");
    CHECK(dispatch(executor, Hello{1}).ok);
    reply = dispatch(executor, Hello{2});
    CHECK(reply.code == ErrorCode::version);
    CHECK(reply.message == "this server speaks control protocol 1, not 2");
    CHECK(executor.calls.empty());
}

TEST_CASE("executor replies pass through; exceptions become error internal") {
    test::RecordingExecutor executor;
    executor.replies["restart"] = Reply::failure(ErrorCode::state, "the node is running; crash or kill it first");
    CHECK(format_reply(dispatch(executor, Restart{})) ==
          "error state the node is running; crash or kill it first");
    executor.throw_on = "crash";
    const Reply reply = dispatch(executor, Crash{"n1"});
    CHECK(reply.code == ErrorCode::internal);
    CHECK(reply.message == "crash failed: boom in crash");
    executor.replies["status"] = Reply::success({{"Bad Key", "x"}});
    CHECK(dispatch(executor, Status{}).code == ErrorCode::internal);
    // Scheduled actions go through the same routing and the same guard.
    CHECK(dispatch_action(executor, Action(Crash{})).code == ErrorCode::internal);
    CHECK(executor.calls.back() == "crash crash");
}

TEST_CASE("handle_line: one reply per line, parse errors never reach the executor") {
    test::RecordingExecutor executor;
    CHECK(handle_line(executor, "# just a comment").reply == Reply::success());
    LineOutcome outcome = handle_line(executor, "crsh");
    CHECK(format_reply(outcome.reply) == "error unknown_command column 1: unknown command 'crsh' (did you mean 'crash'?)");
    outcome = handle_line(executor, "run two");
    CHECK(outcome.reply.code == ErrorCode::bad_argument);
    CHECK(executor.calls.empty());
    outcome = handle_line(executor, "quit");
    CHECK(outcome.quit);
    executor.replies["quit"] = Reply::failure(ErrorCode::state, "not now");
    CHECK_FALSE(handle_line(executor, "quit").quit);
    CHECK_FALSE(handle_line(executor, "status").quit);
}
