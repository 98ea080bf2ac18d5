// Forced disk faults (sim/disk/disk_forced.cpp): a run lists the random disk
// faults that fired (I/O faults by kind and roll, crash decisions by power
// loss and change); forcing all of them under force_only() replays the run
// exactly, trace line by trace line; forcing none is the run without them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>

#include "disk_rig.hpp"

using namespace marionette;
using test::bytes;
using test::DiskRig;

namespace {

DiskOptions faulty() {
    DiskOptions o;
    o.sector_size_bytes = 16;
    o.faults.read_error_rate = Rate::percent(10);
    o.faults.write_error_rate = Rate::percent(10);
    o.faults.corrupt_read_rate = Rate::percent(10);
    o.faults.short_io_rate = Rate::percent(10);
    o.faults.fsync_error_rate = Rate::percent(20);
    o.faults.crash_lost_write_rate = Rate::percent(30);
    o.faults.crash_torn_write_rate = Rate::percent(30);
    return o;
}

/// Writes, reads and fsyncs across two files, two power losses; returns the
/// trace lines (without event numbers).
std::vector<std::string> workload(DiskRig& rig) {
    std::vector<std::string> out;
    for (int crash = 0; crash < 2; ++crash) {
        const Ino a = rig.create("/a");
        const Ino b = rig.create("/b");
        const Ino root = rig.disk.open("/", OpenFlags{.directory = true}).value;
        rig.disk.fsync(root);
        for (int i = 0; i < 30; ++i) {
            const std::string line = "record " + std::to_string(i) + " of crash " + std::to_string(crash) + "\n";
            rig.disk.write(i % 2 == 0 ? a : b, static_cast<std::uint64_t>(i) * 40, bytes(line));
            std::vector<std::byte> back(line.size());
            rig.disk.read(i % 2 == 0 ? a : b, static_cast<std::uint64_t>(i) * 40, back);
            if (i % 7 == 6) rig.disk.fsync(a);
            rig.clock.advance(ns_per_ms);
        }
        rig.disk.crash();
        rig.disk.restart();
    }
    for (const TraceEvent& event : rig.trace.events()) {
        std::string line = render_event(event, TraceFormat::text);
        out.push_back(line.substr(line.find(' ') + 1));
    }
    return out;
}

/// Forces recorded faults on a rig, as the cluster does for `disk.force` lines.
void force_all(DiskRig& rig, const std::vector<DiskFiredFault>& faults) {
    rig.disk.force_only();
    for (const DiskFiredFault& fault : faults) {
        unsigned long long number = 0;
        unsigned long long position = 0;
        char mask[64] = {};
        if (fault.what == "lost" || fault.what == "torn") {
            REQUIRE(std::sscanf(fault.args.c_str(), "%llu %llu %63s", &number, &position, mask) >= 2);
            rig.disk.force_crash(number, position, fault.what == "torn" ? mask : "");
        } else {
            REQUIRE(std::sscanf(fault.args.c_str(), "%llu", &number) == 1);
            rig.disk.force_fault(fault.what, number);
        }
    }
}

std::size_t count(const std::vector<DiskFiredFault>& faults, std::string_view what) {
    return static_cast<std::size_t>(
        std::count_if(faults.begin(), faults.end(), [&](const DiskFiredFault& f) { return f.what == what; }));
}

}  // namespace

TEST_CASE("the disk faults a run records, all forced, replay the run exactly") {
    DiskRig recorded(faulty(), 11);
    const std::vector<std::string> original = workload(recorded);
    const std::vector<DiskFiredFault> fired = recorded.disk.fired_faults();
    INFO("fired: " << fired.size());
    // Every kind the workload can hit fired at least once with this seed.
    for (std::string_view what : {"lost", "torn", "read_error", "write_error", "fsync_error"}) {
        INFO(what);
        CHECK(count(fired, what) >= 1);
    }
    CHECK(count(fired, "lost") + count(fired, "torn") ==
          static_cast<std::size_t>(std::count_if(original.begin(), original.end(), [](const std::string& l) {
              return l.starts_with("disk.crash_write") &&
                     (l.find("result=lost") != std::string::npos || l.find("result=torn") != std::string::npos);
          })));

    DiskRig replay(faulty(), 11);
    force_all(replay, fired);
    std::vector<std::string> forced = workload(replay);
    REQUIRE(!forced.empty());
    CHECK(forced.front() == "disk.force at_ns=0 what=only");
    forced.erase(forced.begin());
    CHECK(forced == original);
    CHECK(replay.disk.fired_faults().empty());
}

TEST_CASE("forcing no disk fault is the run without them; one forced crash decision loses just that change") {
    DiskRig none(faulty(), 11);
    none.disk.force_only();
    const std::vector<std::string> lines = workload(none);
    for (const std::string& line : lines) {
        INFO(line);
        CHECK(line.find("fired=true") == std::string::npos);
        CHECK(line.find("result=lost") == std::string::npos);
        CHECK(line.find("result=torn") == std::string::npos);
    }

    DiskRig one(faulty(), 11);
    one.disk.force_only();
    one.disk.force_crash(1, 2, "");       // the second unsynced change of the first power loss
    one.disk.force_crash(2, 1, "01");     // the first of the second, torn: its second sector survives
    one.disk.force_fault("read_error", 3);
    workload(one);
    const std::vector<std::string> crash_writes = one.lines("disk.crash_write");
    std::size_t lost = 0, torn = 0;
    for (const std::string& line : crash_writes) {
        lost += line.find("result=lost") != std::string::npos;
        torn += line.find("result=torn") != std::string::npos;
    }
    CHECK(lost == 1);
    CHECK(torn == 1);
    CHECK(one.lines("disk.crash_write").size() > 2);
    std::size_t errors = 0;
    for (const std::string& line : one.lines("disk.fault")) errors += line.find("fired=true") != std::string::npos;
    CHECK(errors == 1);
}

TEST_CASE("disk.force refuses what cannot name a decision") {
    DiskRig rig(faulty(), 1);
    CHECK_THROWS_AS(rig.disk.force_fault("read_eror", 1), std::invalid_argument);
    CHECK_THROWS_AS(rig.disk.force_fault("read_error", 0), std::invalid_argument);
    CHECK_THROWS_AS(rig.disk.force_crash(0, 1, ""), std::invalid_argument);
    CHECK_THROWS_AS(rig.disk.force_crash(1, 0, ""), std::invalid_argument);
    CHECK_THROWS_AS(rig.disk.force_crash(1, 1, "012"), std::invalid_argument);
}
