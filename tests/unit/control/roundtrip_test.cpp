// Property: the canonical text of any command parses back to that command,
// and printing is a fixed point (print(parse(print(c))) == print(c)).
#include <catch2/catch.hpp>

#include "control/parse.hpp"
#include "random_command.hpp"

using namespace marionette;

TEST_CASE("printing then parsing gives the same command (10000 random commands)") {
    const std::uint64_t seed = GENERATE(1, 2, 3, 4, 5);
    Prng prng(seed);
    for (int i = 0; i < 2000; ++i) {
        const Command command = test::random_command(prng);
        const std::string text = to_string(command);
        INFO("seed " << seed << " iteration " << i << ": " << text);
        const ParsedLine parsed = parse_line(text);
        if (parsed.is_error()) INFO("error: " << parsed.error().describe());
        REQUIRE(parsed.is_command());
        REQUIRE(parsed.command() == command);
        REQUIRE(to_string(parsed.command()) == text);
    }
}

TEST_CASE("the command generator is a function of its seed") {
    Prng a(11), b(11), c(12);
    std::string text_a, text_b, text_c;
    for (int i = 0; i < 50; ++i) {
        text_a += to_string(test::random_command(a)) + "\n";
        text_b += to_string(test::random_command(b)) + "\n";
        text_c += to_string(test::random_command(c)) + "\n";
    }
    CHECK(text_a == text_b);
    CHECK(text_a != text_c);
}

TEST_CASE("canonical spellings") {
    const auto canonical = [](std::string_view line) {
        const ParsedLine parsed = parse_line(line);
        REQUIRE(parsed.is_command());
        return to_string(parsed.command());
    };
    CHECK(canonical("run 2000ms") == "run 2s");
    CHECK(canonical("run   until   idle  # comment") == "run until idle");
    CHECK(canonical("disk.set_faults crash_torn_write_rate=20% crash_lost_write_rate=always") ==
          "disk.set_faults crash_lost_write_rate=always crash_torn_write_rate=20%");
    CHECK(canonical("disk.set_faults read_error_rate=percent(0)") == "disk.set_faults read_error_rate=0%");
    CHECK(canonical("disk.set_faults read_error_rate=ratio(0,1)") == "disk.set_faults read_error_rate=never");
    CHECK(canonical("disk.corrupt_sector offset=512 path=\"data/my wal\"") ==
          "disk.corrupt_sector path='data/my wal' offset=512");
    CHECK(canonical("spawn c -- sh -c \"echo it's\"") == "spawn c -- sh -c \"echo it's\"");
    CHECK(canonical("at 5000ms crash n1") == "at 5s crash n1");
    CHECK(canonical("after 150 disk.write crash") == "after 150 disk.write crash");
    CHECK(canonical("crash random within 0..5s") == "crash random within 0s..5s");
    CHECK(canonical("expect output c contains '#1'") == "expect output c contains '#1'");
    CHECK(canonical("net.set_latency latency_ns_jitter=1000 latency_ns_min=1ms") ==
          "net.set_latency latency_ns_jitter=1us latency_ns_min=1ms");
    CHECK(canonical("net.set_lossiness drop_rate=percent(10) duplicate_rate=one_in(1)") ==
          "net.set_lossiness drop_rate=10% duplicate_rate=always");
}
