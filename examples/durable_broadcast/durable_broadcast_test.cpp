// durable_broadcast under Marionette: the leader's log on the simulated disk,
// the replicas on the simulated network. A crash that loses every unsynced
// write must never lose an operation a quorum acknowledged - unless the
// leader broadcasts before it syncs (the bug, caught on a fixed seed).
#include <catch2/catch.hpp>
#include <memory>

#include "marionette/testing.hpp"
#include "marionette/world.hpp"
#include "service.hpp"

using namespace marionette;
using durable_broadcast::Op;
using durable_broadcast::Service;

namespace {

struct Harness {
    Env env;
    Control control;
    std::unique_ptr<Service> service{};
};

SimulationOptions options() {
    SimulationOptions o;
    o.network.nodes = durable_broadcast::replica_count + 1;
    o.network.default_node = durable_broadcast::leader_node;
    return o;
}

Harness init(World& world) {
    Simulation sim = world.simulate(options());
    Harness h{sim.env(), sim.control()};
    h.service = std::make_unique<Service>([env = h.env](std::uint32_t n) { return env.node_address(n); },
                                          h.env.path("durable_broadcast.wal"), h.env.recorder());
    return h;
}

/// Lossy, jittery network; sync before broadcast; crash losing every
/// unsynced write; recover; re-broadcast.
void scenario(Harness& h) {
    h.control.network().set_lossiness({.drop_rate = Rate::percent(10)});
    h.control.network().set_latency({.latency_ns_min = ns_per_ms, .latency_ns_jitter = 2 * ns_per_ms});
    h.service->submit(Op{1, 41}, 8, true);
    h.control.disk().set_faults({.crash_lost_write_rate = Rate::always()});
    h.control.disk().crash();
    h.control.disk().restart();
    h.service->recover();
    h.service->broadcast_recovered(3);
}

/// The bug: broadcast before sync, then the crash.
void buggy_scenario(Harness& h) {
    h.control.disk().set_faults({.crash_lost_write_rate = Rate::always()});
    h.service->submit(Op{1, 99}, 1, false);
    h.control.disk().crash();
    h.control.disk().restart();
    h.service->recover();
}

const std::vector<StateCheck<Harness>> checks = {
    {"quorum acknowledgements are durable",
     [](Harness& h) {
         if (const auto& op = h.service->last_quorum_op()) {
             require(h.service->durable_op() == op, "a quorum acknowledged op " + std::to_string(op->id) +
                                                        " that the leader's log does not hold");
         }
     }},
    {"replicas hold only durable operations",
     [](Harness& h) {
         for (const auto& accepted : h.service->accepted()) {
             if (accepted) require(h.service->durable_op() == accepted, "a replica accepted an op that is not durable");
         }
     }},
};

Case<Harness> broadcast_case(std::function<void(Harness&)> s, std::string name) {
    return {.seed = 0xC0FFEE, .init = init, .scenario = std::move(s), .checks = checks, .name = std::move(name),
            .seeds = 16};
}

}  // namespace

TEST_CASE("durable_broadcast: sync before broadcast survives a crash") {
    const RunReport report = MARIONETTE_REQUIRE_PASS(broadcast_case(scenario, "durable_broadcast"));
    CHECK(report.trace_text().find("durable.broadcast.quorum") != std::string::npos);
    CHECK(report.trace_text().find("durable.recover.record") != std::string::npos);
    MARIONETTE_REQUIRE_FUZZ_PASS(broadcast_case(scenario, "durable_broadcast"));
}

TEST_CASE("durable_broadcast: broadcasting before the sync loses an acknowledged write") {
    const RunReport report = MARIONETTE_REQUIRE_FAILURE(broadcast_case(buggy_scenario, "durable_broadcast.buggy"));
    CHECK(report.failure->check == "quorum acknowledgements are durable");
    CHECK(report.trace_text().find("durable.recover.reject") != std::string::npos);
}

TEST_CASE("durable_broadcast: the same service on the real OS (Production parity)") {
    const auto run = [](Env env) {
        Service service([env](std::uint32_t n) { return env.node_address(n); }, env.path("durable_broadcast.wal"),
                        env.recorder());
        service.submit(Op{1, 41}, 3, true);
        service.recover();
        return std::make_pair(service.durable_op(), service.last_quorum_op());
    };
    Production production;
    const auto real = run(production.env());
    CHECK(real.first == Op{1, 41});
    CHECK(real.second == Op{1, 41});
    World world(0xC0FFEE);
    CHECK(run(world.simulate(options()).env()) == real);
}
