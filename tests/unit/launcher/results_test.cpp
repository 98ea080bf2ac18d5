// Sweep results (launcher/sweep_results.hpp): JSON lines that read back to
// the same runs, a merge that refuses duplicates and names missing seeds,
// and a results path checked before anything runs.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "launcher/sweep_results.hpp"

using namespace marionette;

namespace {

std::string temp_dir() {
    char pattern[] = "/tmp/marionette-results-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    return pattern;
}

SweepRun sample(std::uint64_t seed, int exit_code) {
    SweepRun run;
    run.seed = seed;
    run.exit_code = exit_code;
    run.message = exit_code == 0 ? "" : "program exited with status 1";
    run.events = 120 + seed;
    run.trace_hash = 0xfedcba9876543210ULL ^ seed;
    run.virtual_duration_ns = 5'000'000;
    run.wall_time_ms = 42;
    run.replay = "marionette-launch --seed " + std::to_string(seed) + " -- sh -c 'exit \"$x\"'";
    return run;
}

void write(const std::string& path, const std::vector<SweepRun>& runs) {
    std::ofstream out(path);
    for (const SweepRun& run : runs) out << format_result_line(run) << "\n";
}

}  // namespace

TEST_CASE("a results line has every field and reads back the same", "[results]") {
    const SweepRun run = sample(18446744073709551615ULL, 1);
    const std::string line = format_result_line(run);
    CHECK(line ==
          "{\"seed\":18446744073709551615,\"verdict\":\"fail\",\"exit_code\":1,\"message\":\"program exited with status "
          "1\",\"virtual_duration_ns\":5000000,\"wall_time_ms\":42,\"events\":119,\"trace_hash\":\"0123456789abcdef\","
          "\"replay\":\"marionette-launch --seed 18446744073709551615 -- sh -c 'exit \\\"$x\\\"'\"}");
    const SweepRun back = parse_result_line(line);
    CHECK(back.seed == run.seed);
    CHECK(back.exit_code == 1);
    CHECK(back.message == run.message);
    CHECK(back.events == run.events);
    CHECK(back.trace_hash == run.trace_hash);
    CHECK(back.virtual_duration_ns == run.virtual_duration_ns);
    CHECK(back.replay == run.replay);
    CHECK(format_result_line(back) == line);
}

TEST_CASE("a run that reported nothing has no events, hash or duration", "[results]") {
    SweepRun run;
    run.seed = 3;
    run.exit_code = 137;
    run.replay = "x";
    const std::string line = format_result_line(run);
    CHECK(line == "{\"seed\":3,\"verdict\":\"killed\",\"exit_code\":137,\"message\":\"\",\"wall_time_ms\":0,\"replay\":\"x\"}");
    const SweepRun back = parse_result_line(line);
    CHECK(!back.events);
    CHECK(!back.trace_hash);
    CHECK(format_result_line(back) == line);
}

TEST_CASE("malformed results lines are errors saying what is wrong", "[results]") {
    CHECK_THROWS_WITH(parse_result_line("not json"), Catch::Contains("JSON column 1"));
    CHECK_THROWS_WITH(parse_result_line("{\"seed\":1}"), Catch::Contains("'exit_code'"));
    CHECK_THROWS_WITH(
        parse_result_line("{\"seed\":1,\"verdict\":\"pass\",\"exit_code\":1,\"message\":\"\",\"wall_time_ms\":0,\"replay\":\"x\"}"),
        Catch::Contains("'verdict' does not match"));
}

TEST_CASE("merging shard files gives the whole sweep; duplicates and gaps are named", "[results]") {
    const std::string dir = temp_dir();
    write(dir + "/1.jsonl", {sample(1, 0), sample(2, 1), sample(3, 0)});
    write(dir + "/2.jsonl", {sample(4, 3), sample(5, 1)});
    const std::vector<std::uint64_t> range = {1, 2, 3, 4, 5, 6};
    MergedResults merged = merge_results({dir + "/1.jsonl", dir + "/2.jsonl"}, &range);
    CHECK(merged.result.runs == 5);
    REQUIRE(merged.result.failures.size() == 3);
    CHECK(merged.result.failures[0].seed == 2);
    CHECK(merged.result.failures[2].seed == 5);
    CHECK(merged.result.exit_code() == 3);
    CHECK(merged.duplicates.empty());
    CHECK(merged.missing == std::vector<std::uint64_t>{6});
    const std::string report = format_merge_report(merged);
    CHECK_THAT(report, Catch::Contains("5 runs, 2 passed, 3 failed (merged from 2 results files"));
    CHECK_THAT(report, Catch::Contains(" [2 seeds] fail, exit 1: program exited with status 1"));
    CHECK_THAT(report, Catch::Contains("1 seed of the range missing (a shard not run or not finished): 6"));

    merged = merge_results({dir + "/1.jsonl", dir + "/1.jsonl"}, nullptr);
    CHECK(merged.result.runs == 3);
    REQUIRE(merged.duplicates.size() == 3);
    CHECK(merged.duplicates[0] == "seed 1 in " + dir + "/1.jsonl:1 and " + dir + "/1.jsonl:1");

    std::ofstream(dir + "/bad.jsonl") << format_result_line(sample(7, 0)) << "\n\n{\"seed\":8\n";
    CHECK_THROWS_WITH(merge_results({dir + "/bad.jsonl"}, nullptr), Catch::Contains("bad.jsonl:3: not a results line"));
    CHECK_THROWS_WITH(merge_results({dir + "/none.jsonl"}, nullptr), Catch::Contains("cannot read results file"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a results path is checked before anything runs", "[results]") {
    const std::string dir = temp_dir();
    CHECK_THROWS_WITH(open_results_file(dir), Catch::Contains("is a directory"));
    CHECK_THROWS_WITH(open_results_file(dir + "/no/such/r.jsonl"), Catch::Contains("no directory '" + dir + "/no/such'"));
    std::FILE* file = open_results_file(dir + "/r.jsonl");
    REQUIRE(file != nullptr);
    std::fclose(file);
    CHECK(std::filesystem::exists(dir + "/r.jsonl"));
    std::filesystem::remove_all(dir);
}
