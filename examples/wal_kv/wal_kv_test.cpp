// wal_kv under Marionette: the store's plain POSIX calls run against the
// simulated disk; scenarios crash it, tear its writes and corrupt a sector;
// checks hold it to its promise (synced records survive, nothing that was
// never written comes back). The buggy recovery (magic only) is caught by a
// torn write. The same store code also runs under Production (real files).
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>

#include "marionette/testing.hpp"
#include "marionette/world.hpp"
#include "wal_kv.hpp"

using namespace marionette;

namespace {

struct Harness {
    Env env;
    Control control;
    wal_kv::Recovery mode = wal_kv::Recovery::strict;
    std::unique_ptr<wal_kv::Store> store{};
    std::map<std::uint32_t, std::uint32_t> synced{};   ///< acknowledged as durable
    std::map<std::uint32_t, std::uint32_t> written{};  ///< every put
    std::set<std::uint32_t> unsynced{};
    bool unsynced_must_be_lost = false;

    void put(std::uint32_t key, wal_kv::Sync sync) {
        const auto value = static_cast<std::uint32_t>(env.random_u64());
        store->put(key, value, sync);
        written[key] = value;
        if (sync == wal_kv::Sync::sync) {
            synced[key] = value;
        } else {
            unsynced.insert(key);
        }
    }
};

/// Sector size 8: a 16-byte record spans two sectors, so a crash can tear it.
std::function<Harness(World&)> init(wal_kv::Recovery mode) {
    return [mode](World& world) {
        DiskOptions disk;
        disk.sector_size_bytes = 8;
        Simulation sim = world.simulate({.disk = disk});
        Harness h{sim.env(), sim.control(), mode};
        h.store = std::make_unique<wal_kv::Store>(h.env.path("wal"), h.env.recorder());
        return h;
    };
}

/// The Zig library's WAL scenario: a synced record, an unsynced one, a
/// crash that loses every unsynced write, and a corrupted second slot.
void crash_and_corrupt(Harness& h) {
    h.put(1, wal_kv::Sync::sync);
    h.control.disk().set_faults({.crash_lost_write_rate = Rate::always()});
    h.put(2, wal_kv::Sync::no_sync);
    h.unsynced_must_be_lost = true;
    h.control.disk().crash();
    h.control.disk().restart();
    h.control.disk().corrupt_sector(h.store->path(), wal_kv::record_size);
    h.store->recover(h.mode);
}

/// Three synced records, then rounds of: one unsynced record, a crash that
/// tears it (one of its two sectors lands), recovery. Recovery stops at the
/// first invalid slot, so each round tests the torn record; half the time
/// the half that landed is the one holding the magic.
void torn_writes(Harness& h) {
    for (std::uint32_t key = 1; key <= 3; ++key) h.put(key, wal_kv::Sync::sync);
    h.control.disk().set_faults({.crash_torn_write_rate = Rate::always()});
    for (std::uint32_t key = 10; key < 18; ++key) {
        h.put(key, wal_kv::Sync::no_sync);
        h.control.disk().crash();
        h.control.disk().restart();
        h.store->recover(h.mode);
    }
}

const std::vector<StateCheck<Harness>> checks = {
    {"synced records recover",
     [](Harness& h) {
         for (const auto& [key, value] : h.synced) {
             auto it = h.store->values().find(key);
             require(it != h.store->values().end(), "synced key " + std::to_string(key) + " missing");
             require(it->second == value, "synced key " + std::to_string(key) + " has the wrong value");
         }
     }},
    {"recovered records were written",
     [](Harness& h) {
         for (const auto& [key, value] : h.store->values()) {
             auto it = h.written.find(key);
             require(it != h.written.end() && it->second == value,
                     "recovered key " + std::to_string(key) + "=" + std::to_string(value) + " was never written");
         }
     }},
    {"unsynced records are rejected",
     [](Harness& h) {
         if (!h.unsynced_must_be_lost) return;
         for (std::uint32_t key : h.unsynced) require(!h.store->values().contains(key), "unsynced key recovered");
     }},
};

Case<Harness> wal_case(std::function<void(Harness&)> scenario, wal_kv::Recovery mode, std::string name) {
    return {.seed = 0xC0FFEE, .init = init(mode), .scenario = std::move(scenario), .checks = checks,
            .name = std::move(name)};
}

}  // namespace

TEST_CASE("wal_kv: synced records survive a crash and a corrupted sector, unsynced ones are rejected") {
    const RunReport report = MARIONETTE_REQUIRE_PASS(wal_case(crash_and_corrupt, wal_kv::Recovery::strict, "wal_kv.crash"));
    // The scenario really crashed and corrupted: the trace says so.
    CHECK(report.trace_text().find("disk.crash ") != std::string::npos);
    CHECK(report.trace_text().find("disk.corrupt_sector") != std::string::npos);
}

TEST_CASE("wal_kv: strict recovery survives torn writes on every seed of a sweep") {
    Case<Harness> c = wal_case(torn_writes, wal_kv::Recovery::strict, "wal_kv.torn");
    c.seeds = 16;
    CHECK(MARIONETTE_REQUIRE_FUZZ_PASS(c).iterations == 16);
}

TEST_CASE("wal_kv: a recovery that checks only the magic is caught by a torn write") {
    const RunReport report =
        MARIONETTE_REQUIRE_FAILURE(wal_case(torn_writes, wal_kv::Recovery::magic_only, "wal_kv.buggy"));
    CHECK(report.failure->kind == FailureKind::check_failed);
    CHECK(report.failure->check == "recovered records were written");
    CHECK(report.trace_text().find("result=torn") != std::string::npos);
}

TEST_CASE("wal_kv: the same store code on the real OS (Production parity)") {
    // The fault-free part of the scenario, run on real files and in a
    // simulation: the store's own events must be the same sequence.
    const auto run = [](Env env) {
        wal_kv::Store store(env.path("wal"), env.recorder());
        store.put(1, 41, wal_kv::Sync::sync);
        store.put(2, 99, wal_kv::Sync::no_sync);
        store.recover(wal_kv::Recovery::strict);
        return store.values();
    };
    const auto app_events = [](const Trace& trace) {
        std::vector<std::string> out;
        for (const TraceEvent& e : trace.events()) {
            if (e.name.rfind("wal.", 0) == 0) {
                TraceEvent copy = e;
                copy.index = 0;
                copy.at_ns = 0;
                out.push_back(render_event(copy, TraceFormat::text));
            }
        }
        return out;
    };
    Production production;
    const auto real_values = run(production.env());
    CHECK(real_values == std::map<std::uint32_t, std::uint32_t>{{1, 41}, {2, 99}});
    CHECK_THROWS_AS(production.control().disk().crash(), Unavailable);

    World world(0xC0FFEE);
    const auto simulated_values = run(world.simulate().env());
    CHECK(simulated_values == real_values);
    CHECK(app_events(world.trace()) == app_events(production.trace()));
    CHECK(app_events(production.trace()).size() == 3);
}
