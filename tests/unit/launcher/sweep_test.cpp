#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "launcher/sweep.hpp"
#include "launcher/sweep_results.hpp"

using namespace marionette;

namespace {

std::string temp_dir() {
    char pattern[] = "/tmp/marionette-sweep-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    return pattern;
}

}  // namespace

TEST_CASE("sweep seeds follow the Zig fuzz rule", "[sweep]") {
    CHECK(sweep_seed(0, 0) == 0x9E3779B97F4A7C15ULL);
    CHECK(sweep_seed(42, 3) == (42ULL ^ 0x9E3779B97F4A7C15ULL ^ 3ULL));
    CHECK(sweep_seed(7, 1) != sweep_seed(7, 2));
}

TEST_CASE("seed ranges parse inclusively and reject bad text", "[sweep]") {
    CHECK(parse_seed_range("1..3") == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(parse_seed_range("0x10..0x11") == std::vector<std::uint64_t>{16, 17});
    CHECK(parse_seed_range("5..5") == std::vector<std::uint64_t>{5});
    CHECK_THROWS_WITH(parse_seed_range("9..1"), Catch::Contains("end before start"));
    CHECK_THROWS_WITH(parse_seed_range("12"), Catch::Contains("expected A..B"));
    CHECK_THROWS_WITH(parse_seed_range("a..3"), Catch::Contains("invalid seed 'a'"));
    CHECK_THROWS_WITH(parse_seed_range("0..99999999999"), Catch::Contains("more than 10000000"));
}

TEST_CASE("shell_join quotes what a shell would split", "[sweep]") {
    CHECK(shell_join({"marionette-launch", "--seed", "7", "--", "sqlite3", "db", "select 1;"}) ==
          "marionette-launch --seed 7 -- sqlite3 db 'select 1;'");
    CHECK(shell_join({"echo", "it's"}) == "echo 'it'\\''s'");
    CHECK(shell_join({"x", ""}) == "x ''");
}

TEST_CASE("a sweep runs every seed, reports failing ones with replay commands", "[sweep]") {
    SweepOptions options;
    options.seeds = parse_seed_range("1..10");
    options.jobs = 3;
    options.run_argv = {FAKE_RUN_SCRIPT};
    options.log_dir = temp_dir();
    options.display_launcher = "fake_run.sh";
    const SweepResult result = run_sweep(options, nullptr);
    CHECK(result.runs == 10);
    std::vector<std::uint64_t> failed;
    for (const SweepRun& run : result.failures) {
        failed.push_back(run.seed);
        CHECK(run.exit_code == 1);
        std::ifstream log(run.log_path);
        std::string line;
        std::getline(log, line);
        CHECK(line == "fake run seed=" + std::to_string(run.seed));
    }
    CHECK(failed == std::vector<std::uint64_t>{3, 6, 9});
    CHECK(result.exit_code() == 1);
    const std::string report = format_sweep_report(result);
    CHECK_THAT(report, Catch::Contains("10 runs, 7 passed, 3 failed"));
    CHECK_THAT(report, Catch::Contains("replay: fake_run.sh --seed 6"));
    CHECK_THAT(report, Catch::Contains(" [3 seeds] fail, exit 1: program exited with status 1\n  seed=3 "));
    std::filesystem::remove_all(options.log_dir);
}

TEST_CASE("a sweep hands every run to on_result in seed order, with its report", "[sweep]") {
    SweepOptions options;
    options.seeds = parse_seed_range("1..7");
    options.jobs = 3;
    options.run_argv = {FAKE_RUN_SCRIPT, "--crash-at", "5"};
    options.log_dir = temp_dir();
    options.display_launcher = "fake_run.sh";
    std::vector<SweepRun> seen;
    options.on_result = [&](const SweepRun& run) { seen.push_back(run); };
    const SweepResult result = run_sweep(options, nullptr);
    REQUIRE(seen.size() == 7);
    for (std::size_t i = 0; i < seen.size(); ++i) {
        const SweepRun& run = seen[i];
        CHECK(run.seed == i + 1);
        CHECK(run.events == run.seed * 10);
        CHECK(run.trace_hash == run.seed);
        CHECK(run.virtual_duration_ns == run.seed * 1000);
        CHECK(run.replay == "fake_run.sh --seed " + std::to_string(run.seed) + " --crash-at 5");
    }
    CHECK(seen[0].message.empty());
    CHECK(seen[2].message == "program exited with status 1");
    CHECK(seen[4].exit_code == 3);
    CHECK(seen[4].message == "internal error: fake");
    // Two groups: the two program failures first (the bigger group).
    const std::string report = format_sweep_report(result);
    const std::size_t fail = report.find(" [2 seeds] fail, exit 1: program exited with status 1");
    const std::size_t error = report.find(" [1 seed] error, exit 3: internal error: fake");
    CHECK(fail != std::string::npos);
    CHECK(error != std::string::npos);
    CHECK(fail < error);
    std::filesystem::remove_all(options.log_dir);
}

TEST_CASE("progress lines show runs/s, failures and an ETA", "[sweep]") {
    CHECK(format_sweep_progress(10, 40, 2, 5.0) == "marionette sweep: 10/40 runs, 2 failed, 2.0 runs/s, ETA 15s");
    CHECK(format_sweep_progress(10, 1000, 0, 10.0) == "marionette sweep: 10/1000 runs, 0 failed, 1.0 runs/s, ETA 16m30s");
    CHECK(format_sweep_progress(1, 10000, 0, 1.0) == "marionette sweep: 1/10000 runs, 0 failed, 1.0 runs/s, ETA 2h46m");
    CHECK(format_sweep_progress(40, 40, 3, 8.0) == "marionette sweep: 40/40 runs, 3 failed, 5.0 runs/s, done");
    CHECK(parse_sweep_progress("lines") == SweepProgress::lines);
    CHECK_THROWS_WITH(parse_sweep_progress("loud"), Catch::Contains("invalid --progress 'loud'"));
}

TEST_CASE("a Marionette failure in any run makes the sweep exit 3", "[sweep]") {
    SweepOptions options;
    options.seeds = {4, 5};
    options.jobs = 2;
    options.run_argv = {FAKE_RUN_SCRIPT, "--crash-at", "5"};
    options.log_dir = temp_dir();
    const SweepResult result = run_sweep(options, nullptr);
    REQUIRE(result.failures.size() == 1);
    CHECK(result.failures[0].seed == 5);
    CHECK(result.failures[0].exit_code == 3);
    CHECK(result.exit_code() == 3);
    std::filesystem::remove_all(options.log_dir);
}

TEST_CASE("an all-passing sweep exits 0 and its report has no table", "[sweep]") {
    SweepOptions options;
    options.seeds = {1, 2, 4, 5};
    options.run_argv = {FAKE_RUN_SCRIPT};
    options.log_dir = temp_dir();
    const SweepResult result = run_sweep(options, nullptr);
    CHECK(result.failures.empty());
    CHECK(result.exit_code() == 0);
    CHECK_THAT(format_sweep_report(result), !Catch::Contains("failing seeds"));
    std::filesystem::remove_all(options.log_dir);
}
