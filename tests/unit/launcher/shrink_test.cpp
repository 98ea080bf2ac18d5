// delta_debug (launcher/shrink.hpp): the search --shrink runs over fault
// sets, against predicates whose minimal failing sets are known.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

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

namespace {

/// delta_debug through a Lookahead running `jobs` tests at a time: the sets
/// kept, the sets consumed in order, and how many runs were started.
struct Searched {
    std::vector<std::size_t> kept;
    std::vector<std::string> consumed;
    std::uint64_t runs = 0;
    std::uint64_t started = 0;
    std::size_t largest_batch = 0;
};

std::string key_of(const std::vector<std::size_t>& kept) {
    std::string out;
    for (std::size_t i : kept) out += std::to_string(i) + ",";
    return out;
}

Searched search(std::size_t jobs, std::uint64_t budget, const std::set<std::size_t>& needed, std::size_t count) {
    Searched out;
    std::map<std::string, bool> truth;  // the result of each set, by key
    Lookahead lookahead(jobs, budget, 1, [&](const std::vector<std::string>& keys) {
        out.largest_batch = std::max(out.largest_batch, keys.size());
        std::vector<bool> results;
        for (const std::string& key : keys) results.push_back(truth.at(key));
        return results;
    });
    auto fails = [&](const std::vector<std::size_t>& kept) {
        const std::string key = key_of(kept);
        truth[key] = std::all_of(needed.begin(), needed.end(),
                                 [&](std::size_t i) { return std::find(kept.begin(), kept.end(), i) != kept.end(); });
        const bool fresh = !lookahead.consumed(key);
        const std::optional<bool> result = lookahead.test(key);
        if (result && fresh) out.consumed.push_back(key);
        return result;
    };
    auto plan = [&](const std::vector<std::vector<std::size_t>>& upcoming) {
        std::vector<std::string> keys;
        for (const std::vector<std::size_t>& kept : upcoming) {
            keys.push_back(key_of(kept));
            truth[keys.back()] = std::all_of(needed.begin(), needed.end(), [&](std::size_t i) {
                return std::find(kept.begin(), kept.end(), i) != kept.end();
            });
        }
        lookahead.plan(std::move(keys));
    };
    out.kept = delta_debug(count, fails, plan);
    out.runs = lookahead.runs();
    out.started = lookahead.started();
    return out;
}

}  // namespace

TEST_CASE("tests run several at a time give the same search, runs and result for every number of jobs") {
    for (const std::set<std::size_t>& needed : std::vector<std::set<std::size_t>>{{7}, {0, 31}, {3, 4, 17}}) {
        for (std::uint64_t budget : {200, 12, 5}) {
            const Searched one = search(1, budget, needed, 32);
            CHECK(one.started == one.runs - 1);  // one at a time: nothing speculative (the first run is not a test)
            CHECK(one.largest_batch == 1);
            for (std::size_t jobs : {2, 3, 4, 8}) {
                INFO("jobs " << jobs << ", budget " << budget);
                const Searched many = search(jobs, budget, needed, 32);
                CHECK(many.kept == one.kept);
                CHECK(many.consumed == one.consumed);
                CHECK(many.runs == one.runs);
                CHECK(many.runs <= budget);
                CHECK(many.started >= many.runs - 1);
                CHECK(many.largest_batch <= jobs);
            }
            if (budget == 200) CHECK(std::set<std::size_t>(one.kept.begin(), one.kept.end()) == needed);
        }
    }
    // With 4 jobs some batches are really 4 wide.
    CHECK(search(4, 200, {3, 4, 17}, 32).largest_batch == 4);
}

TEST_CASE("bisection finds the earliest failing time, the same with lookahead") {
    // Fails from time 3700 on.
    std::vector<std::uint64_t> asked;
    auto fails = [&](std::uint64_t t) -> std::optional<bool> {
        asked.push_back(t);
        return t >= 3700;
    };
    CHECK(bisect_earliest(0, 10000, 100, fails) == 3700);
    const std::vector<std::uint64_t> sequential = asked;
    CHECK(sequential.size() <= 8);
    for (std::uint64_t t : sequential) CHECK(t % 100 == 0);  // round times at the resolution

    asked.clear();
    std::vector<std::vector<std::uint64_t>> plans;
    CHECK(bisect_earliest(0, 10000, 100, fails, [&](const std::vector<std::uint64_t>& p) { plans.push_back(p); }, 3) ==
          3700);
    CHECK(asked == sequential);
    REQUIRE(!plans.empty());
    CHECK(plans.front().size() == 3);
    CHECK(plans.front().front() == sequential.front());  // the next test first, then both of its successors
    CHECK(std::find(plans.front().begin(), plans.front().end(), sequential.at(1)) != plans.front().end());

    // A spent budget stops at the earliest failing time found so far.
    std::size_t calls = 0;
    auto limited = [&](std::uint64_t t) -> std::optional<bool> {
        if (++calls > 2) return std::nullopt;
        return t >= 3700;
    };
    const std::uint64_t early = bisect_earliest(0, 10000, 100, limited);
    CHECK(early >= 3700);
    CHECK(early < 10000);
}
