// Tests for sim/assert.hpp: MARIONETTE_ASSERT is on in this (NDEBUG-free)
// build, a holding condition costs nothing but its evaluation, and a failing
// one prints file, line, condition and message on stderr and ends the process
// with SIGABRT, in both reports: the stdio one (sim/assert.cpp) and the raw
// one of the preload .so (interpose/assert_raw.cpp, run as a helper program).
// Catch2 v2 has no death tests: each failure runs in a forked child.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "sim/assert.hpp"

namespace {

struct Death {
    int status = 0;
    std::string stderr_text;
};

/// Runs `body` in a forked child whose stderr goes to a pipe; returns how the
/// child ended and what it wrote.
Death run_child(const std::function<void()>& body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);  // an expected abort leaves no core file
        ::dup2(fds[1], 2);
        ::close(fds[0]);
        ::close(fds[1]);
        body();
        ::_exit(0);
    }
    ::close(fds[1]);
    Death death;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) death.stderr_text.append(buffer, static_cast<std::size_t>(n));
    ::close(fds[0]);
    REQUIRE(::waitpid(pid, &death.status, 0) == pid);
    return death;
}

void fail_arithmetic(int two) { MARIONETTE_ASSERT(two + 2 == 5, "arithmetic still works"); }
constexpr int failing_line = __LINE__ - 1;

int message_evaluations = 0;

const char* counted_message() {
    ++message_evaluations;
    return "counted";
}

}  // namespace

TEST_CASE("a holding MARIONETTE_ASSERT does nothing and never builds its message", "[assert]") {
    message_evaluations = 0;
    int evaluations = 0;
    MARIONETTE_ASSERT(++evaluations == 1, counted_message());
    CHECK(evaluations == 1);  // the condition is evaluated exactly once
    CHECK(message_evaluations == 0);
}

TEST_CASE("a failing MARIONETTE_ASSERT reports file, line, condition and message, then aborts", "[assert]") {
    const Death death = run_child([] { fail_arithmetic(2); });
    INFO(death.stderr_text);
    REQUIRE(WIFSIGNALED(death.status));
    CHECK(WTERMSIG(death.status) == SIGABRT);
    CHECK(death.stderr_text == std::string("marionette: assertion failed at ") + __FILE__ + ":" +
                                   std::to_string(failing_line) + ": two + 2 == 5: arithmetic still works\n");
}

TEST_CASE("the preload .so's raw report says the same and aborts despite a SIGABRT handler", "[assert]") {
    const Death death = run_child([] {
        char* const argv[] = {const_cast<char*>(MARIONETTE_ASSERT_RAW_HELPER), nullptr};
        ::execv(argv[0], argv);
        ::_exit(127);
    });
    INFO(death.stderr_text);
    REQUIRE(WIFSIGNALED(death.status));
    CHECK(WTERMSIG(death.status) == SIGABRT);
    CHECK(death.stderr_text.starts_with("marionette: assertion failed at "));
    CHECK(death.stderr_text.find("assert_raw_helper.cpp:") != std::string::npos);
    CHECK(death.stderr_text.ends_with(": argc == 0: the raw report\n"));
}
