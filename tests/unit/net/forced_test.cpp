// Forced faults (sim/net/forced.cpp): a run lists the random faults that
// fired as `net.force` lines; forcing all of them under `force_only` replays
// the run exactly; forcing none is the same run without those faults.
#include <catch2/catch.hpp>

#include "net_fixture.hpp"

using namespace marionette;
using test::bytes_of;
using test::NetFixture;

namespace {

NetOptions lossy() {
    NetOptions o;
    o.latency_ns_min = ns_per_ms;
    o.latency_ns_jitter = ns_per_ms;
    o.drop_rate = Rate::percent(30);
    o.duplicate_rate = Rate::percent(20);
    return o;
}

/// 40 datagrams each way between a and b, one per millisecond; `setup`
/// runs on the fixture first (forcing). Returns the net.* trace lines.
std::vector<std::string> exchange(NetFixture& f) {
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    for (int i = 0; i < 40; ++i) {
        f.net.send_to(a, bytes_of("ping"), f.addr(1, 7000));
        f.net.send_to(b, bytes_of("pong"), f.addr(0, 5000));
        f.queue.run_until(static_cast<Ns>(i + 1) * ns_per_ms);
    }
    f.queue.run_until(100 * ns_per_ms);
    return f.lines();
}

/// Applies recorded lines (`net.force drop a b 3`) to a fixture's network.
void force_lines(NetFixture& f, const std::vector<FiredFault>& faults) {
    f.net.force_only();
    for (const FiredFault& fault : faults) {
        char what[32] = {};
        char from[8] = {};
        char to[8] = {};
        unsigned long long packet = 0;
        REQUIRE(std::sscanf(fault.line.c_str(), "net.force %31s %7s %7s %llu", what, from, to, &packet) == 4);
        const ForcedFault kind = std::string(what) == "drop" ? ForcedFault::drop : ForcedFault::duplicate;
        f.net.force(kind, *f.net.node_named(from), *f.net.node_named(to), packet);
    }
}

std::vector<std::string> without_reason(std::vector<std::string> lines) {
    for (std::string& line : lines) {
        if (const std::size_t at = line.find(" reason=forced"); at != std::string::npos) line.replace(at, 14, " reason=send_drop");
    }
    return lines;
}

}  // namespace

TEST_CASE("the faults a run records, all forced, replay the run exactly") {
    NetFixture recorded(7, lossy());
    const std::vector<std::string> original = exchange(recorded);
    const std::vector<FiredFault> fired = recorded.net.fired_faults();
    REQUIRE(fired.size() >= 10);
    CHECK(recorded.count("net.drop", "reason", "send_drop") + recorded.count("net.duplicate") == fired.size());
    CHECK(fired.front().line.rfind("net.force ", 0) == 0);

    NetFixture replay(7, lossy());
    force_lines(replay, fired);
    const std::vector<std::string> forced = exchange(replay);
    // The same events, drops now traced as forced; nothing new recorded.
    CHECK(replay.count("net.drop", "reason", "forced") == recorded.count("net.drop", "reason", "send_drop"));
    std::vector<std::string> forced_events(forced.begin() + 1, forced.end());  // the first is net.force what=only
    CHECK(forced.front() == "net.force at_ns=0 what=only");
    CHECK(without_reason(forced_events) == original);
    CHECK(replay.net.fired_faults().empty());
}

TEST_CASE("forcing no fault is the run without them; forcing one drops just that packet") {
    NetFixture none(7, lossy());
    none.net.force_only();
    exchange(none);
    CHECK(none.count("net.drop") == 0);
    CHECK(none.count("net.duplicate") == 0);
    CHECK(none.count("net.send") == 80);

    NetFixture one(7, lossy());
    one.net.force_only();
    one.net.force(ForcedFault::drop, 1, 0, 5);  // the 5th packet from b to a
    exchange(one);
    REQUIRE(one.count("net.drop") == 1);
    CHECK(one.count("net.drop", "from", "1") == 1);
    CHECK(one.count("net.drop", "id", "9") == 1);  // packets alternate a->b, b->a: b's 5th is id 9
}

TEST_CASE("forced faults refuse what cannot happen") {
    NetFixture f(1, lossy());
    CHECK_THROWS_AS(f.net.force(ForcedFault::drop, 0, 0, 1), std::invalid_argument);
    CHECK_THROWS_AS(f.net.force(ForcedFault::drop, 0, 5, 1), std::invalid_argument);
    CHECK_THROWS_AS(f.net.force(ForcedFault::drop, 0, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(f.net.force_partition(1, {0, 1}), std::invalid_argument);  // every node on one side
    CHECK_THROWS_AS(f.net.force_heal(0), std::invalid_argument);
}
