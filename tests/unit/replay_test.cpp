// Replay: a run is a function of its seed. Runs the built-in demo
// (launcher/demo.hpp) for many seeds, twice each, and compares trace hashes;
// also checks that the demo's streams stay independent.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "launcher/demo.hpp"
#include "sim/trace.hpp"

using marionette::DemoOptions;
using marionette::Trace;
using marionette::TraceEvent;
using marionette::TraceFormat;
using marionette::TraceHeader;

namespace {

struct DemoRun {
    std::uint64_t hash;
    std::uint64_t replies;
    std::uint64_t events;
};

DemoRun run(std::uint64_t seed, const DemoOptions& options = {}) {
    TraceHeader header;
    header.seed = seed;
    Trace trace(header);
    const std::uint64_t replies = marionette::run_demo(seed, options, trace);
    return {trace.hash(), replies, trace.size()};
}

std::vector<TraceEvent> events_of(std::uint64_t seed, const DemoOptions& options) {
    Trace trace(TraceHeader{}, nullptr, true);
    (void)marionette::run_demo(seed, options, trace);
    return trace.events();
}

}  // namespace

TEST_CASE("1000 seeds: each replays to the same trace hash, seeds differ", "[replay]") {
    constexpr std::uint64_t seeds = 1000;
    std::set<std::uint64_t> distinct;
    for (std::uint64_t i = 0; i < seeds; ++i) {
        // Spread the seeds over the whole 64-bit range as well as small ones.
        const std::uint64_t seed = i % 2 == 0 ? i : i * 0x9E3779B97F4A7C15ULL;
        const DemoRun first = run(seed);
        const DemoRun second = run(seed);
        INFO("seed " << seed);
        REQUIRE(first.hash == second.hash);
        REQUIRE(first.replies == second.replies);
        REQUIRE(first.events == second.events);
        REQUIRE(first.events > 20);
        distinct.insert(first.hash);
    }
    // Each trace carries ~20 jittered send times and latencies drawn from
    // the seed, so two seeds giving the same trace would take a collision of
    // dozens of 64-bit-derived draws: allow none but a hash collision.
    CHECK(distinct.size() >= seeds - 1);
}

TEST_CASE("the demo's text trace parses back with the same hash in both formats", "[replay]") {
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{7}, std::uint64_t{0xdeadbeef}, UINT64_MAX}) {
        INFO("seed " << seed);
        std::uint64_t hashes[2] = {0, 0};
        int k = 0;
        for (const TraceFormat format : {TraceFormat::text, TraceFormat::jsonl}) {
            TraceHeader header;
            header.format = format;
            header.seed = seed;
            header.options = {{"mode", "demo"}};
            std::ostringstream out;
            Trace trace(header, &out);
            const std::uint64_t replies = marionette::run_demo(seed, DemoOptions{}, trace);
            std::istringstream in(out.str());
            const marionette::ParsedTrace parsed = marionette::parse_trace(in);
            CHECK(parsed.header.seed == seed);
            CHECK(parsed.summary.hash == trace.hash());
            CHECK(parsed.summary.by_name.at("demo.reply") == replies);
            CHECK(parsed.events.front().name == "demo.start");
            CHECK(parsed.events.back().name == "demo.end");
            CHECK(parsed.summary.final_ns == DemoOptions{}.duration_ns);
            hashes[k++] = trace.hash();
        }
        CHECK(hashes[0] == hashes[1]);
    }
}

TEST_CASE("changing the loss rate does not move the client's schedule", "[replay]") {
    // The send schedule and the BUGGIFY hook draw from their own streams, so
    // the buggify.roll events (one per tick: time and roll) are identical
    // whatever the loss rate, while the traces as a whole differ.
    DemoOptions lossy;
    lossy.loss_percent = 60;
    DemoOptions clean;
    clean.loss_percent = 0;
    const auto ticks = [](const std::vector<TraceEvent>& events) {
        std::vector<std::string> out;
        for (const TraceEvent& e : events) {
            if (e.name == "buggify.roll") out.push_back(marionette::render_event(e, TraceFormat::text).substr(
                                              std::string("event=").size() + std::to_string(e.index).size()));
        }
        return out;
    };
    const auto a = events_of(11, lossy);
    const auto b = events_of(11, clean);
    CHECK(ticks(a) == ticks(b));
    CHECK(ticks(a).size() >= 18);
    CHECK(a.size() != b.size());
    // No loss: no drops and every sent request got a reply (up to the ones
    // still in flight at the end).
    std::size_t drops = 0;
    for (const TraceEvent& e : b) drops += e.name == "demo.drop" ? 1 : 0;
    CHECK(drops == 0);
    CHECK(run(11, clean).replies + 1 >= ticks(b).size());
    // Total loss: nothing ever gets a reply.
    DemoOptions lost;
    lost.loss_percent = 100;
    CHECK(run(11, lost).replies == 0);
}
