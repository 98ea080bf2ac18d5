// replicated_register under Marionette: four in-process nodes (three
// replicas, one client) on the simulated network, with loss, latency and a
// partition. The checks: no version commits two values, and every committed
// value was accepted by a quorum. The buggy client (counts nacks as acks) is
// found by a seed sweep; the same cluster also runs on real loopback.
#include <catch2/catch.hpp>
#include <memory>

#include "marionette/testing.hpp"
#include "marionette/world.hpp"
#include "register.hpp"

using namespace marionette;
using replicated_register::Bug;
using replicated_register::Cluster;

namespace {

struct Harness {
    Env env;
    Control control;
    std::unique_ptr<Cluster> cluster{};
};

std::function<Harness(World&)> init(Bug bug) {
    return [bug](World& world) {
        SimulationOptions options;
        options.network.nodes = replicated_register::replica_count + 1;
        options.network.default_node = replicated_register::client_node;
        Simulation sim = world.simulate(options);
        Harness h{sim.env(), sim.control()};
        h.cluster = std::make_unique<Cluster>([env = h.env](std::uint32_t n) { return env.node_address(n); },
                                              h.env.recorder(), bug);
        return h;
    };
}

void lossy(Harness& h) {
    h.control.network().set_lossiness({.drop_rate = Rate::percent(10)});
    h.control.network().set_latency({.latency_ns_min = ns_per_ms, .latency_ns_jitter = 2 * ns_per_ms});
}

/// Replica 0 cut off for the first write; a conflicting write for the same
/// version after the heal must not commit; a newer version then does.
void partition_scenario(Harness& h) {
    lossy(h);
    h.control.network().partition({0}, {1, 2, replicated_register::client_node});
    h.cluster->write(1, 41, 8);
    h.control.network().heal();
    h.cluster->write(1, 42, 8);
    h.cluster->write(2, 43, 8);
}

/// Two writes of the same version with different values, two rounds each.
void conflict_scenario(Harness& h) {
    lossy(h);
    h.cluster->write(1, 41, 2);
    h.cluster->write(1, 42, 2);
}

const std::vector<StateCheck<Harness>> checks = {
    {"no version commits two values",
     [](Harness& h) {
         std::map<std::uint64_t, std::uint64_t> seen;
         for (const auto& replica : h.cluster->replicas()) {
             for (const auto& [version, value] : replica.committed_log) {
                 auto [it, fresh] = seen.emplace(version, value);
                 require(fresh || it->second == value, "version " + std::to_string(version) + " committed both " +
                                                           std::to_string(it->second) + " and " +
                                                           std::to_string(value));
             }
         }
     }},
    {"committed values were accepted by a quorum",
     [](Harness& h) {
         for (const auto& replica : h.cluster->replicas()) {
             for (const auto& [version, value] : replica.committed_log) {
                 std::size_t accepted = 0;
                 for (const auto& other : h.cluster->replicas()) accepted += other.ever_accepted(version, value);
                 require(accepted >= replicated_register::quorum, "committed without an accepting quorum");
             }
         }
     }},
};

Case<Harness> register_case(std::function<void(Harness&)> scenario, Bug bug, std::string name, std::uint64_t seeds) {
    return {.seed = 0xC0FFEE, .init = init(bug), .scenario = std::move(scenario), .checks = checks,
            .name = std::move(name), .seeds = seeds};
}

}  // namespace

TEST_CASE("replicated_register: partition and heal keep the register safe") {
    const RunReport report = MARIONETTE_REQUIRE_PASS(register_case(partition_scenario, Bug::none, "register.partition", 1));
    const std::string trace = report.trace_text();
    CHECK(trace.find("net.partition") != std::string::npos);
    CHECK(trace.find("register.write.quorum") != std::string::npos);
    CHECK(trace.find("register.write.no_quorum") != std::string::npos);  // the conflicting write
}

TEST_CASE("replicated_register: a sweep of seeds finds no unsafe run in the correct cluster") {
    MARIONETTE_REQUIRE_FUZZ_PASS(register_case(partition_scenario, Bug::none, "register.partition", 16));
    MARIONETTE_REQUIRE_FUZZ_PASS(register_case(conflict_scenario, Bug::none, "register.conflict", 32));
}

TEST_CASE("replicated_register: a client that counts nacks as acks is found by the sweep") {
    const FuzzReport found =
        MARIONETTE_REQUIRE_FUZZ_FINDS_FAILURE(register_case(conflict_scenario, Bug::count_nacks, "register.buggy", 64));
    REQUIRE(found.failure.has_value());
    WARN("marionette fuzz failure: seed=" << found.failure->seed << " iteration=" << *found.failing_iteration);
    CHECK(found.failure->failure->kind == FailureKind::check_failed);
    // The failing seed replays on its own.
    CHECK_FALSE(run_case(register_case(conflict_scenario, Bug::count_nacks, "register.buggy", 1), found.failure->seed)
                    .passed());
}

TEST_CASE("replicated_register: the same cluster code on real loopback (Production parity)") {
    const auto run = [](Env env) {
        Cluster cluster([env](std::uint32_t n) { return env.node_address(n); }, env.recorder());
        std::vector<bool> results{cluster.write(1, 41, 3), cluster.write(1, 42, 3), cluster.write(2, 43, 3)};
        std::vector<std::uint64_t> committed;
        for (const auto& replica : cluster.replicas()) committed.push_back(replica.committed_value);
        return std::make_pair(results, committed);
    };
    Production production;
    const auto real = run(production.env());
    CHECK(real.first == std::vector<bool>{true, false, true});
    CHECK(real.second == std::vector<std::uint64_t>{43, 43, 43});
    CHECK_THROWS_AS(production.control().network().heal(), Unavailable);

    World world(0xC0FFEE);
    SimulationOptions options;
    options.network.nodes = replicated_register::replica_count + 1;
    options.network.default_node = replicated_register::client_node;
    CHECK(run(world.simulate(options).env()) == real);
}
