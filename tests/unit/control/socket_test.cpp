// The control socket: serving over socketpairs and a Unix socket path,
// misbehaving peers, and the C++ client against the real server loop.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "control/socket.hpp"
#include "fake_executor.hpp"
#include "marionette/control.hpp"

using namespace marionette;

namespace {

struct SocketPair {
    int server = -1;
    int client = -1;
    SocketPair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        server = fds[0];
        client = fds[1];
    }
    ~SocketPair() {
        if (server >= 0) ::close(server);
        if (client >= 0) ::close(client);
    }
    void close_client() {
        ::close(client);
        client = -1;
    }
};

// Reads reply lines until the server closes its end.
std::vector<std::string> read_all_lines(int fd) {
    std::vector<std::string> lines;
    std::string pending;
    while (std::optional<std::string> line = receive_line(fd, pending, max_reply_line_bytes)) lines.push_back(*line);
    return lines;
}

// A fresh directory for socket paths, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() / ("mctl_" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("a session answers every line in order, across random chunk boundaries") {
    const std::uint64_t seed = GENERATE(1, 2, 3);
    SocketPair pair;
    test::RecordingExecutor executor;
    SessionResult result;
    std::thread server([&] { result = serve_connection(pair.server, executor); ::shutdown(pair.server, SHUT_WR); });
    const std::string stream = "hello 1\nrun 2s\r\n# comment\ncrsh\n" + std::string(5000, 'x') +
                               "\nstatus\nrun 1s\xff\n" + std::string("kill\0\n", 6) + "quit\nrun 9s\n";
    Prng prng(seed);
    for (std::size_t i = 0; i < stream.size();) {
        const std::size_t n = std::min<std::size_t>(stream.size() - i, 1 + prng.uint_less_than(700));
        REQUIRE(send_all(pair.client, std::string_view(stream).substr(i, n)));
        i += n;
    }
    const std::vector<std::string> replies = read_all_lines(pair.client);
    server.join();
    REQUIRE(replies.size() == 9);
    CHECK(replies[0] == "ok protocol=1 server=marionette version=" + *parse_reply(replies[0]).find("version"));
    CHECK(replies[1] == "ok method=run");
    CHECK(replies[2] == "ok");
    CHECK(replies[3].rfind("error unknown_command column 1: unknown command 'crsh'", 0) == 0);
    CHECK(replies[4] == "error too_long line of 5000 bytes is longer than the limit of 4096; ignored");
    CHECK(replies[5] == "ok method=status");
    CHECK(replies[6] == "error encoding column 7: invalid UTF-8 in line");
    CHECK(replies[7] == "error encoding column 5: NUL byte in line");
    CHECK(replies[8] == "ok method=quit");
    // The session ends at quit: the line after it is never executed.
    CHECK(result.end == SessionEnd::quit);
    CHECK(result.requests == 9);
    CHECK(executor.calls == std::vector<std::string>{"run run 2s", "status status", "quit quit"});
}

TEST_CASE("a peer that disconnects mid-command ends the session; the partial line never runs") {
    SocketPair pair;
    test::RecordingExecutor executor;
    REQUIRE(send_all(pair.client, "run 2s\ncras"));
    pair.close_client();
    const SessionResult result = serve_connection(pair.server, executor);
    CHECK(result.end == SessionEnd::peer_closed);
    CHECK(result.requests == 1);
    CHECK(result.dropped_bytes == 4);
    CHECK(executor.calls == std::vector<std::string>{"run run 2s"});
}

TEST_CASE("a peer that leaves without reading its replies does not kill the server") {
    SocketPair pair;
    test::RecordingExecutor executor;
    executor.replies["status"] = Reply::success({{"blob", std::string(1 << 20, 'x')}});
    REQUIRE(send_all(pair.client, "status\nstatus\nstatus\n"));
    pair.close_client();  // replies go nowhere: EPIPE, not SIGPIPE
    const SessionResult result = serve_connection(pair.server, executor);
    CHECK(result.end == SessionEnd::peer_closed);
    CHECK(executor.calls.size() >= 1);
}

TEST_CASE("a server on a socket path serves the C++ client, then quits") {
    TempDir dir;
    const std::string path = (dir.path / "run.sock").string();
    test::RecordingExecutor executor;
    executor.replies["trace_read"] = Reply::success({{"events", "2"}, {"trace", "event=0 a.b at_ns=0\nevent=1 c.d at_ns=5\n"}});
    executor.replies["restart"] = Reply::failure(ErrorCode::state, "node is running; crash or kill it first");
    auto server = std::make_unique<ControlServer>(path);
    std::thread thread([&] { server->serve(executor); });
    {
        // A first client that goes away: the server waits for the next one.
        ControlClient first = ControlClient::connect(path);
        CHECK(*first.hello_reply().find("protocol") == "1");
        first.run_for(std::chrono::milliseconds(150));
    }
    ControlClient client = ControlClient::connect(path);
    client.run_for(2 * ns_per_s);
    client.run_until_idle();
    client.crash();
    client.disk().set_faults({{"crash_lost_write_rate", "always"}, {"crash_torn_write_rate", "20%"}});
    client.disk("n2").corrupt_sector("data/my wal", 512);
    client.spawn("check", {"sqlite3", "data/db", "pragma integrity_check"});
    client.expect_output("check", "ok");
    client.net().partition({{"a", "b"}, {"c"}});
    client.net().set_lossiness({{"drop_rate", "1/8"}});
    client.net().set_latency(ns_per_ms, 0);
    client.at(5 * ns_per_s, "crash n1");
    CHECK(client.read_trace() == "event=0 a.b at_ns=0\nevent=1 c.d at_ns=5\n");
    try {
        client.restart();
        FAIL("restart should have thrown");
    } catch (const ControlError& e) {
        CHECK(e.code() == ErrorCode::state);
        CHECK(e.message() == "node is running; crash or kill it first");
        CHECK(std::string(e.what()) == "state: node is running; crash or kill it first");
    }
    client.quit();
    thread.join();
    server.reset();
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK(executor.calls == std::vector<std::string>{
                                "run run 150ms",
                                "run run 2s",
                                "run run until idle",
                                "crash crash",
                                "disk_set_faults disk.set_faults crash_lost_write_rate=always crash_torn_write_rate=20%",
                                "disk_corrupt_sector disk.corrupt_sector node=n2 path='data/my wal' offset=512",
                                "spawn spawn check -- sqlite3 data/db 'pragma integrity_check'",
                                "expect_output expect output check contains ok",
                                "net_partition net.partition a,b c",
                                "net_set_options net.set_lossiness drop_rate=1/8",
                                "net_set_options net.set_latency latency_ns_min=1ms latency_ns_jitter=0s",
                                "schedule_at at 5s crash n1",
                                "trace_read trace.read",
                                "restart restart",
                                "quit quit",
                            });
}

TEST_CASE("the client rejects bad arguments before sending anything") {
    SocketPair pair;
    test::RecordingExecutor executor;
    std::thread server([&] { serve_connection(pair.server, executor); });
    {
        ControlClient client = ControlClient::adopt(pair.client);
        pair.client = -1;  // owned by the client now
        const auto code_of = [](auto&& call) {
            try {
                call();
            } catch (const ControlError& e) {
                return e.code();
            }
            return ErrorCode::internal;
        };
        CHECK(code_of([&] { client.crash("no spaces allowed"); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.disk().set_faults({{"crash_lost_writes_rate", "always"}}); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.disk().set_faults({{"crash_lost_write_rate", "sometimes"}}); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.net().set_lossiness({{"drop_rate", "200%"}}); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.net().set_latency({{"drop_rate", "1%"}}); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.request("crsh"); }) == ErrorCode::unknown_command);
        CHECK(code_of([&] { client.expect_exit(300); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.at(1, "run 1s"); }) == ErrorCode::bad_argument);
        CHECK(code_of([&] { client.expect_output("c", "two\nlines"); }) == ErrorCode::encoding);
        client.status();
    }  // client closes: the server's session ends
    server.join();
    CHECK(executor.calls == std::vector<std::string>{"status status"});
}

TEST_CASE("connection failures are ControlError(connection)") {
    TempDir dir;
    try {
        ControlClient::connect((dir.path / "nobody.sock").string());
        FAIL("connect should have thrown");
    } catch (const ControlError& e) {
        CHECK(e.code() == ErrorCode::connection);
    }
    // The server vanishes while the client waits for a reply.
    SocketPair pair;
    std::thread server([&] {
        std::string pending;
        std::optional<std::string> hello = receive_line(pair.server, pending, 100);
        send_all(pair.server, "ok protocol=1\n");
        receive_line(pair.server, pending, 100);
        ::close(pair.server);
        pair.server = -1;
    });
    ControlClient client = ControlClient::adopt(pair.client);
    pair.client = -1;
    try {
        client.run_for(1);
        FAIL("run_for should have thrown");
    } catch (const ControlError& e) {
        CHECK(e.code() == ErrorCode::connection);
    }
    server.join();
}

TEST_CASE("socket paths: stale sockets are replaced, live ones and bad paths refused") {
    TempDir dir;
    const std::string path = (dir.path / "ctl.sock").string();
    {
        ControlServer first(path);
        CHECK_THROWS_WITH(ControlServer(path), Catch::Contains("in use by another server"));
        // Simulate a crashed server: keep the file, close the listener.
        ::close(first.fd());
        ControlServer replacement(path);  // the stale file is replaced
        CHECK(std::filesystem::exists(path));
    }
    const std::string file = (dir.path / "plain").string();
    { std::ofstream(file) << "x"; }
    CHECK_THROWS_WITH(ControlServer(file), Catch::Contains("not a socket"));
    CHECK_THROWS_WITH(ControlServer(std::string(200, 'a')), Catch::Contains("must be 1 to 107 bytes"));
}

TEST_CASE("launch starts a run, attaches to its socket, and wait() returns its exit code") {
    TempDir dir;
    const std::string path = (dir.path / "launched.sock").string();
    ControlClient run = ControlClient::launch({MARIONETTE_FAKE_LAUNCHER_PATH, "--control", path}, path);
    run.run_for(std::chrono::seconds(2));
    run.crash();
    run.restart();
    run.quit();
    CHECK(run.wait() == 4);  // the fake launcher exits with its command count
    CHECK_THROWS_AS(run.wait(), ControlError);
}

TEST_CASE("launch reports a run that exits before its socket is up") {
    TempDir dir;
    const std::string path = (dir.path / "never.sock").string();
    try {
        ControlClient::launch({"sh", "-c", "exit 7"}, path);
        FAIL("launch should have thrown");
    } catch (const ControlError& e) {
        CHECK(e.code() == ErrorCode::connection);
        CHECK(e.message().find("exited with status 7") != std::string::npos);
    }
    try {
        ControlClient::launch({"/nonexistent/marionette-launch"}, path);
        FAIL("launch should have thrown");
    } catch (const ControlError& e) {
        CHECK(e.code() == ErrorCode::connection);
    }
}

TEST_CASE("a launched run that is not quit is terminated when the client goes away") {
    TempDir dir;
    const std::string path = (dir.path / "abandoned.sock").string();
    {
        ControlClient run = ControlClient::launch({MARIONETTE_FAKE_LAUNCHER_PATH, "--control", path}, path);
        run.status();
    }  // SIGTERM + reap: must not hang
    SUCCEED("the destructor returned");
}
