// marionette-ctl end to end: the real binary against a ControlServer with a
// recording executor; output lines and exit codes (0 ok, 1 error reply,
// 2 usage, 3 connection failure).
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "control/socket.hpp"
#include "fake_executor.hpp"

using namespace marionette;

namespace {

struct CtlResult {
    std::string output;
    int exit_code = -1;
};

// Runs a shell command line (marionette-ctl is $CTL) and captures stdout.
CtlResult run_shell(const std::string& script) {
    const std::string command = std::string("CTL='") + MARIONETTE_CTL_PATH + "'; " + script + " 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    CtlResult result;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
    const int status = ::pclose(pipe);
    REQUIRE(WIFEXITED(status));
    result.exit_code = WEXITSTATUS(status);
    return result;
}

// A server that serves `clients` connections in a background thread.
struct Server {
    std::filesystem::path dir;
    std::string path;
    test::RecordingExecutor executor;
    std::unique_ptr<ControlServer> server;
    std::thread thread;

    explicit Server(int clients) {
        dir = std::filesystem::temp_directory_path() / ("mctl_cli_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        path = (dir / "s").string();
        server = std::make_unique<ControlServer>(path);
        thread = std::thread([this, clients] {
            for (int i = 0; i < clients; ++i) server->serve_one(executor);
        });
    }
    ~Server() {
        if (thread.joinable()) thread.join();
        server.reset();
        std::filesystem::remove_all(dir);
    }
    void wait() { thread.join(); }
};

}  // namespace

TEST_CASE("marionette-ctl sends one command from its arguments") {
    Server server(2);
    CtlResult r = run_shell("$CTL " + server.path + " run 2s");
    CHECK(r.output == "ok method=run\n");
    CHECK(r.exit_code == 0);
    r = run_shell("$CTL " + server.path + " spawn check -- sqlite3 data/db 'pragma integrity_check'");
    CHECK(r.exit_code == 0);
    server.wait();
    CHECK(server.executor.calls == std::vector<std::string>{
                                       "run run 2s", "spawn spawn check -- sqlite3 data/db 'pragma integrity_check'"});
}

TEST_CASE("marionette-ctl: -c lines and stdin lines; an error reply gives exit code 1") {
    Server server(2);
    CtlResult r = run_shell("$CTL " + server.path + " -c 'run 1s' -c crsh -c status");
    CHECK(r.output ==
          "ok method=run\nerror unknown_command column 1: unknown command 'crsh' (did you mean 'crash'?)\nok method=status\n");
    CHECK(r.exit_code == 1);
    r = run_shell("printf 'crash\\n# comment\\n\\nrestart n1\\n' | $CTL " + server.path);
    CHECK(r.output == "ok method=crash\nok method=restart\n");
    CHECK(r.exit_code == 0);
    server.wait();
    CHECK(server.executor.calls.size() == 4);
}

TEST_CASE("marionette-ctl: usage errors exit 2, connection failures exit 3") {
    CHECK(run_shell("$CTL").exit_code == 2);
    const CtlResult help = run_shell("$CTL --help");
    CHECK(help.exit_code == 0);
    CHECK(help.output.find("Exit codes: 0 all replies ok") != std::string::npos);
    CHECK(help.output.find("disk.set_faults [node=<node>] <key>=<rate> ...") != std::string::npos);
    CHECK(run_shell("$CTL /nonexistent/dir/run.sock status").exit_code == 3);
}
