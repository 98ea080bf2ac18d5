// Shards (launcher/shard.hpp): every seed of a range in exactly one shard,
// K/N parsing, and K and N read from Slurm, Kubernetes and CI variables.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "launcher/shard.hpp"
#include "launcher/sweep.hpp"

using namespace marionette;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> const char* {
        const auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
}

}  // namespace

TEST_CASE("shards cut a range into contiguous blocks, each seed in exactly one", "[shard]") {
    const std::vector<std::uint64_t> seeds = parse_seed_range("1..30");
    CHECK(shard_slice(seeds, {1, 3}) == parse_seed_range("1..10"));
    CHECK(shard_slice(seeds, {2, 3}) == parse_seed_range("11..20"));
    CHECK(shard_slice(seeds, {3, 3}) == parse_seed_range("21..30"));
    for (const std::uint64_t count : {1u, 2u, 4u, 7u, 29u, 30u, 31u, 100u}) {
        std::multiset<std::uint64_t> all;
        std::size_t smallest = seeds.size(), largest = 0;
        for (std::uint64_t index = 1; index <= count; ++index) {
            const std::vector<std::uint64_t> slice = shard_slice(seeds, {index, count});
            all.insert(slice.begin(), slice.end());
            smallest = std::min(smallest, slice.size());
            largest = std::max(largest, slice.size());
        }
        CHECK(all == std::multiset<std::uint64_t>(seeds.begin(), seeds.end()));
        CHECK(largest - smallest <= 1);
    }
    CHECK(shard_slice(parse_seed_range("5..6"), {2, 3}) == std::vector<std::uint64_t>{5});
    CHECK(shard_slice(parse_seed_range("5..6"), {1, 3}).empty());
}

TEST_CASE("shard K/N parses and rejects shards that do not exist", "[shard]") {
    CHECK(parse_shard("2/3").index == 2);
    CHECK(parse_shard("2/3").count == 3);
    CHECK(parse_shard("1/1").text() == "1/1");
    CHECK_THROWS_WITH(parse_shard("0/3"), Catch::Contains("shard 0 of 3 does not exist"));
    CHECK_THROWS_WITH(parse_shard("4/3"), Catch::Contains("shard 4 of 3 does not exist"));
    CHECK_THROWS_WITH(parse_shard("x"), Catch::Contains("expected K/N"));
    CHECK_THROWS_WITH(parse_shard("1/x"), Catch::Contains("invalid --shard '1/x'"));
    CHECK_THROWS_WITH(parse_shard("-1/3"), Catch::Contains("whole numbers"));
    CHECK_THROWS_WITH(parse_shard("1/0"), Catch::Contains("between 1 and"));
}

TEST_CASE("shard env reads Slurm arrays", "[shard]") {
    CHECK(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}), {}).text() == "1/4");
    CHECK(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "3"},
                                 {"SLURM_ARRAY_TASK_MIN", "1"},
                                 {"SLURM_ARRAY_TASK_MAX", "8"}}),
                         {})
              .text() == "3/8");
    CHECK(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "4"},
                                 {"SLURM_ARRAY_TASK_MIN", "0"},
                                 {"SLURM_ARRAY_TASK_MAX", "6"},
                                 {"SLURM_ARRAY_TASK_STEP", "2"}}),
                         {})
              .text() == "3/4");
    CHECK_THROWS_WITH(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "2"}}), {}),
                      Catch::Contains("neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX"));
    CHECK_THROWS_WITH(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_COUNT", "3"}}), {}),
                      Catch::Contains("shard 8 of 3 does not exist"));
    CHECK_THROWS_WITH(shard_from_env(env_of({{"SLURM_ARRAY_TASK_ID", "one"}, {"SLURM_ARRAY_TASK_COUNT", "3"}}), {}),
                      Catch::Contains("SLURM_ARRAY_TASK_ID='one' is not a non-negative integer"));
}

TEST_CASE("shard env reads Kubernetes Indexed Jobs and MARIONETTE_SHARD and GitLab", "[shard]") {
    CHECK(shard_from_env(env_of({{"JOB_COMPLETION_INDEX", "0"}}), 5).text() == "1/5");
    CHECK(shard_from_env(env_of({{"JOB_COMPLETION_INDEX", "4"}, {"MARIONETTE_SHARD_COUNT", "5"}}), {}).text() == "5/5");
    CHECK(shard_from_env(env_of({{"JOB_COMPLETION_INDEX", "1"}, {"MARIONETTE_SHARD_COUNT", "5"}}), 2).text() == "2/2");
    CHECK_THROWS_WITH(shard_from_env(env_of({{"JOB_COMPLETION_INDEX", "1"}}), {}),
                      Catch::Contains("--shard-count N or set MARIONETTE_SHARD_COUNT"));
    CHECK_THROWS_WITH(shard_from_env(env_of({{"JOB_COMPLETION_INDEX", "5"}}), 5), Catch::Contains("6 of 5"));
    // An explicit MARIONETTE_SHARD wins over what a batch system sets.
    CHECK(shard_from_env(env_of({{"MARIONETTE_SHARD", "2/9"}, {"JOB_COMPLETION_INDEX", "0"}}), 3).text() == "2/9");
    CHECK_THROWS_WITH(shard_from_env(env_of({{"MARIONETTE_SHARD", "9/2"}}), {}), Catch::Contains("MARIONETTE_SHARD"));
    CHECK(shard_from_env(env_of({{"CI_NODE_INDEX", "2"}, {"CI_NODE_TOTAL", "3"}}), {}).text() == "2/3");
    CHECK_THROWS_WITH(shard_from_env(env_of({}), {}), Catch::Contains("no shard in the environment"));
}
