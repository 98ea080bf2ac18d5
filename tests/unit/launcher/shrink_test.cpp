// delta_debug (launcher/shrink.hpp): the search --shrink runs over fault
// sets, against predicates whose minimal failing sets are known.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "launcher/shrink.hpp"

using namespace marionette;

namespace {

/// Fails when every index of `needed` is kept; counts the calls.
struct Needs {
    std::set<std::size_t> needed;
    std::size_t calls = 0;
    std::optional<bool> operator()(const std::vector<std::size_t>& kept) {
        ++calls;
        return std::all_of(needed.begin(), needed.end(),
                           [&](std::size_t i) { return std::find(kept.begin(), kept.end(), i) != kept.end(); });
    }
};

}  // namespace

TEST_CASE("delta debugging finds the faults a failure needs") {
    for (const std::set<std::size_t>& needed : std::vector<std::set<std::size_t>>{{7}, {0, 31}, {3, 4, 17}, {12}}) {
        Needs predicate{needed};
        const std::vector<std::size_t> kept = delta_debug(32, std::ref(predicate));
        CHECK(std::set<std::size_t>(kept.begin(), kept.end()) == needed);
        CHECK(predicate.calls < 120);  // far fewer than the 2^32 subsets
    }
}

TEST_CASE("a failure that needs no fault shrinks to nothing, and nothing to shrink stays nothing") {
    Needs always{{}};
    CHECK(delta_debug(10, std::ref(always)).empty());
    CHECK(always.calls == 1);
    Needs unused{{}};
    CHECK(delta_debug(0, std::ref(unused)).empty());
    CHECK(unused.calls == 0);
}

TEST_CASE("the result is 1-minimal when the failure needs any one of two groups") {
    // Fails with {1,2} or with {5}: either is a valid 1-minimal answer.
    auto fails = [](const std::vector<std::size_t>& kept) -> std::optional<bool> {
        auto has = [&](std::size_t i) { return std::find(kept.begin(), kept.end(), i) != kept.end(); };
        return (has(1) && has(2)) || has(5);
    };
    const std::vector<std::size_t> kept = delta_debug(8, fails);
    REQUIRE(fails(kept).value());
    for (std::size_t i = 0; i < kept.size(); ++i) {
        std::vector<std::size_t> fewer = kept;
        fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(i));
        CHECK_FALSE(fails(fewer).value());
    }
}

TEST_CASE("a spent budget returns the smallest failing set found so far") {
    std::size_t calls = 0;
    auto limited = [&](const std::vector<std::size_t>& kept) -> std::optional<bool> {
        if (++calls > 3) return std::nullopt;
        return std::find(kept.begin(), kept.end(), std::size_t{9}) != kept.end();
    };
    const std::vector<std::size_t> kept = delta_debug(16, limited);
    CHECK(std::find(kept.begin(), kept.end(), std::size_t{9}) != kept.end());
    CHECK(kept.size() < 16);
}
