// Tests for sim/buggify: disabled hooks are inert, enabled ones draw one
// rate roll each and trace it, and decisions are a function of the seed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "sim/buggify.hpp"

using marionette::Buggify;
using marionette::Prng;
using marionette::Rate;
using marionette::Trace;

namespace {

std::vector<bool> decisions(std::uint64_t seed, int n) {
    Trace trace;
    Buggify buggify(Prng(seed), trace);
    std::vector<bool> out;
    for (int i = 0; i < n; ++i) out.push_back(buggify.fire("hook", Rate::one_in(4)));
    return out;
}

}  // namespace

TEST_CASE("a disabled buggify never fires and draws nothing", "[buggify]") {
    Buggify off;
    CHECK_FALSE(off.enabled());
    Prng before = off.prng();
    for (int i = 0; i < 1000; ++i) CHECK_FALSE(off.fire("wal.skip_sync", Rate::always()));
    // The stream is where it was: the next draw of a copy taken before the
    // calls equals the next draw of a copy taken after.
    Prng after = off.prng();
    CHECK(before.next_u64() == after.next_u64());
}

TEST_CASE("an enabled buggify traces each decision", "[buggify]") {
    std::ostringstream out;
    Trace trace(marionette::TraceHeader{}, &out, true);
    Buggify buggify(Prng(1), trace);
    CHECK(buggify.enabled());
    CHECK(buggify.fire("wal.skip_sync", Rate::always()));
    CHECK_FALSE(buggify.fire("wal.skip_sync", Rate::never()));
    const bool third = buggify.fire("odd hook=x", Rate::one_in(8));
    REQUIRE(trace.events().size() == 3);

    const auto& e = trace.events();
    CHECK(e[0].name == "buggify.roll");
    CHECK(marionette::render_event(e[0], marionette::TraceFormat::text) ==
          "event=0 buggify.roll at_ns=0 hook=wal.skip_sync rate=1/1 roll=0 fired=true");
    CHECK(marionette::render_event(e[1], marionette::TraceFormat::text) ==
          "event=1 buggify.roll at_ns=0 hook=wal.skip_sync rate=0/1 roll=0 fired=false");
    // The hook is escaped like any value; roll and fired match the decision.
    CHECK(std::get<std::string>(*e[2].find("hook")) == "odd hook=x");
    CHECK(std::get<std::string>(*e[2].find("rate")) == "1/8");
    const std::uint64_t roll = std::get<std::uint64_t>(*e[2].find("roll"));
    CHECK(roll < 8);
    CHECK(std::get<bool>(*e[2].find("fired")) == third);
    CHECK(third == (roll < 1));
    CHECK(out.str().find(" hook=odd%20hook%3Dx rate=1/8 roll=") != std::string::npos);
}

TEST_CASE("each decision is one roll from the buggify stream", "[buggify]") {
    Trace trace(marionette::TraceHeader{}, nullptr, true);
    Buggify buggify(Prng(77), trace);
    Prng shadow(77);
    for (int i = 0; i < 100; ++i) {
        const Rate rate = Rate::ratio(static_cast<std::uint64_t>(i % 5), 4 + static_cast<std::uint64_t>(i % 5));
        const bool fired = buggify.fire("h", rate);
        const auto expected = rate.roll(shadow);
        CHECK(fired == expected.fired);
        CHECK(std::get<std::uint64_t>(*trace.events().back().find("roll")) == expected.roll);
    }
    // Both streams consumed the same draws.
    Prng left = buggify.prng();
    CHECK(left.next_u64() == shadow.next_u64());
}

TEST_CASE("same seed gives the same decisions, other seeds differ", "[buggify]") {
    const std::vector<bool> a = decisions(5, 200);
    CHECK(a == decisions(5, 200));
    CHECK(a != decisions(6, 200));
    // one_in(4) over 200 decisions: some fire, most do not.
    const auto fired = std::count(a.begin(), a.end(), true);
    CHECK(fired > 20);
    CHECK(fired < 80);
}
