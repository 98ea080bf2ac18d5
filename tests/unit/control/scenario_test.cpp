// Scenario files: whole-file parsing with line numbers, running in order.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "control/scenario.hpp"
#include "fake_executor.hpp"

using namespace marionette;

namespace {

constexpr std::string_view sqlite_scenario =
    "# SQLite crash test\n"
    "disk.set_faults crash_lost_write_rate=always crash_torn_write_rate=20%\n"
    "\n"
    "run 2s\r\n"
    "crash\n"
    "restart\n"
    "run until idle\n"
    "expect exit 0\n"
    "spawn check -- sqlite3 data/db 'pragma integrity_check'\n"
    "run until idle\n"
    "expect output check contains ok";  // no final newline

}  // namespace

TEST_CASE("a valid scenario parses into steps with their line numbers") {
    const ScenarioParse parsed = parse_scenario(sqlite_scenario, "sqlite.txt");
    REQUIRE(parsed.ok());
    CHECK(parsed.scenario.file == "sqlite.txt");
    REQUIRE(parsed.scenario.steps.size() == 9);
    CHECK(parsed.scenario.steps[0].line == 2);
    CHECK(parsed.scenario.steps[1] == ScenarioStep{4, Run{Run::Mode::for_duration, 2 * ns_per_s, {}}});
    CHECK(parsed.scenario.steps[8].line == 11);
    CHECK(parsed.scenario.steps[8].command == Command(ExpectOutput{"check", "ok"}));
}

TEST_CASE("every malformed line is reported as file:line:column") {
    const ScenarioParse parsed = parse_scenario("run 2s\n\ncrsh\nrun 2s\nrun\n  disk.set_faults x=1\n", "scenario.txt");
    REQUIRE(parsed.errors.size() == 3);
    CHECK(parsed.errors[0].format() == "scenario.txt:3:1: unknown command 'crsh' (did you mean 'crash'?)");
    CHECK(parsed.errors[1].line == 5);
    CHECK(parsed.errors[1].format().rfind("scenario.txt:5:4: missing <duration>", 0) == 0);
    CHECK(parsed.errors[2].format().rfind("scenario.txt:6:19: unknown key 'x'", 0) == 0);
    CHECK(parsed.format_errors().find("scenario.txt:3:1:") == 0);
    CHECK(parsed.scenario.steps.size() == 2);  // the good lines are still there
}

TEST_CASE("oversized and binary lines in a file are errors, not crashes") {
    std::string text = "run 1s\n" + std::string(max_request_line_bytes + 10, 'x') + "\nrun \x01\n";
    text += std::string("crash\0\n", 7);
    const ScenarioParse parsed = parse_scenario(text, "f");
    REQUIRE(parsed.errors.size() == 3);
    CHECK(parsed.errors[0].error.code == ErrorCode::too_long);
    CHECK(parsed.errors[0].line == 2);
    CHECK(parsed.errors[1].error.code == ErrorCode::encoding);
    CHECK(parsed.errors[2].error.code == ErrorCode::encoding);
    CHECK(parsed.errors[2].line == 4);
}

TEST_CASE("running a scenario dispatches in order and stops at the first error") {
    const ScenarioParse parsed = parse_scenario(sqlite_scenario, "sqlite.txt");
    REQUIRE(parsed.ok());
    test::RecordingExecutor executor;
    ScenarioOutcome outcome = run_scenario(executor, parsed.scenario);
    CHECK(outcome.ok);
    CHECK(outcome.steps_run == 9);
    REQUIRE(executor.calls.size() == 9);
    CHECK(executor.calls[0] == "disk_set_faults disk.set_faults crash_lost_write_rate=always crash_torn_write_rate=20%");
    CHECK(executor.calls[2] == "crash crash");

    test::RecordingExecutor failing;
    failing.replies["expect_exit"] = Reply::failure(ErrorCode::expect_failed, "main exited with 1, expected 0");
    outcome = run_scenario(failing, parsed.scenario);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.steps_run == 6);
    CHECK(outcome.failed_line == 8);
    CHECK(failing.calls.size() == 6);
    CHECK(outcome.describe(parsed.scenario) ==
          "sqlite.txt:8: expect exit 0: error expect_failed main exited with 1, expected 0");
}

TEST_CASE("quit ends a scenario") {
    const ScenarioParse parsed = parse_scenario("run 1s\nquit\nrun 1s\n");
    test::RecordingExecutor executor;
    const ScenarioOutcome outcome = run_scenario(executor, parsed.scenario);
    CHECK(outcome.ok);
    CHECK(outcome.quit);
    CHECK(executor.calls.size() == 2);
}

TEST_CASE("scenario files are read from disk") {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("marionette_scenario_" + std::to_string(::getpid()) + ".txt")).string();
    {
        std::ofstream out(path, std::ios::binary);
        out << "run 1s\ncrash\n";
    }
    const ScenarioParse parsed = read_scenario_file(path);
    std::remove(path.c_str());
    CHECK(parsed.ok());
    CHECK(parsed.scenario.file == path);
    CHECK(parsed.scenario.steps.size() == 2);
    CHECK_THROWS_AS(read_scenario_file("/nonexistent/dir/scenario.txt"), std::runtime_error);
}
