// Per-operation disk faults, scripted sector faults and fsync failure
// semantics, each with the trace lines it must produce.
#include <catch2/catch.hpp>

#include "tests/unit/disk/disk_rig.hpp"

using namespace marionette;
using marionette::test::bytes;
using marionette::test::DiskRig;
using marionette::test::text;

namespace {

DiskOptions with(void (*set)(DiskFaults&), std::uint64_t sector = 4096) {
    DiskOptions options;
    options.sector_size_bytes = sector;
    set(options.faults);
    return options;
}

}  // namespace

TEST_CASE("read_error_rate fails reads with EIO and traces the decision", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.read_error_rate = Rate::always(); }));
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, "data");
    std::vector<std::byte> out(4);
    CHECK(rig.disk.read(ino, 0, out).error == EIO);
    CHECK(rig.last("disk.fault") == "disk.fault at_ns=0 kind=read_error ino=11 rate=1/1 roll=0 fired=true");
    CHECK(rig.last("disk.read") == "disk.read at_ns=0 ino=11 offset=0 len=4 read=0 status=eio latency_ns=0");
}

TEST_CASE("write_error_rate fails writes with EIO and writes nothing", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.write_error_rate = Rate::always(); }));
    const Ino ino = rig.create("/f");
    CHECK(rig.disk.write(ino, 0, bytes("data")).error == EIO);
    CHECK(rig.disk.fstat(ino).value.size == 0);
    CHECK(rig.last("disk.fault") == "disk.fault at_ns=0 kind=write_error ino=11 rate=1/1 roll=0 fired=true");
    CHECK(rig.disk.journal_entries() == 0);
}

TEST_CASE("never rates draw but are not traced", "[disk][faults]") {
    DiskRig rig;
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, "data");
    CHECK(rig.lines("disk.fault").empty());
}

TEST_CASE("corrupt_read_rate changes returned bytes, never stored ones", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.corrupt_read_rate = Rate::always(); }));
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, "0123456789");
    std::vector<std::byte> out(10);
    CHECK(rig.disk.read(ino, 0, out).value == 10);
    int differing = 0;
    for (std::size_t i = 0; i < 10; ++i) differing += out[i] != static_cast<std::byte>('0' + i);
    CHECK(differing == 1);
    CHECK(rig.last("disk.read") == "disk.read at_ns=0 ino=11 offset=0 len=10 read=10 status=corrupt latency_ns=0");
    rig.disk.set_faults(DiskFaults{});
    CHECK(rig.get(ino) == "0123456789");
}

TEST_CASE("short_io_rate returns fewer bytes, a retry loop still completes", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.short_io_rate = Rate::always(); }));
    const Ino ino = rig.create("/f");
    const std::string payload = "abcdefghijklmnopqrstuvwxyz";
    std::uint64_t done = 0;
    int calls = 0;
    while (done < payload.size()) {
        auto r = rig.disk.write(ino, done, bytes(payload.substr(done)));
        REQUIRE(r.ok());
        REQUIRE(r.value >= 1);
        if (payload.size() - done >= 2) CHECK(r.value < payload.size() - done);
        done += r.value;
        ++calls;
    }
    CHECK(calls > 1);
    std::vector<std::byte> out(26);
    auto r = rig.disk.read(ino, 0, out);
    CHECK(r.value >= 1);
    CHECK(r.value < 26);
    CHECK(text(std::span(out).first(r.value)) == payload.substr(0, r.value));
    rig.disk.set_faults(DiskFaults{});
    CHECK(rig.get(ino) == payload);
}

TEST_CASE("misdirected_write_rate lands the bytes whole sectors away", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.misdirected_write_rate = Rate::always(); }, 16));
    const Ino ino = rig.create("/f");
    auto r = rig.disk.write(ino, 3, bytes("XY"));
    CHECK(r.value == 2);  // the program is told it worked
    const std::string line = rig.last("disk.write");
    const auto at = line.find("target_offset=");
    const std::uint64_t target = std::stoull(line.substr(at + 14));
    CHECK(target != 3);
    CHECK(target % 16 == 3);  // offset 3 cannot move back, so it moved forward
    CHECK(target <= 3 + 8 * 16);
    std::vector<std::byte> out(2);
    rig.disk.set_faults(DiskFaults{});
    rig.disk.read(ino, target, out);
    CHECK(text(out) == "XY");
    rig.disk.read(ino, 3, out);
    CHECK(text(out) == std::string(2, '\0'));
}

TEST_CASE("a latent sector error fails reads of that sector until it is rewritten", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults&) {}, 16));
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, std::string(48, 'a'));
    CHECK(rig.disk.set_bad_sector("/f", 20) == 0);
    std::vector<std::byte> out(8);
    CHECK(rig.disk.read(ino, 0, out).ok());
    CHECK(rig.disk.read(ino, 30, out).error == EIO);
    CHECK(rig.last("disk.fault") == "disk.fault at_ns=0 kind=latent_sector_error ino=11 sector=1 fired=true");
    rig.put(ino, 18, "partial");  // a partial rewrite does not remap the sector
    CHECK(rig.disk.read(ino, 16, out).error == EIO);
    rig.put(ino, 16, std::string(16, 'b'));
    CHECK(rig.disk.read(ino, 16, out).ok());
}

TEST_CASE("latent_sector_error_rate marks a written sector bad", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.latent_sector_error_rate = Rate::always(); }, 16));
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, std::string(16, 'a'));
    std::vector<std::byte> out(16);
    CHECK(rig.disk.read(ino, 0, out).error == EIO);
}

TEST_CASE("fsync_error_rate has Linux semantics: failed pages are clean, the retry succeeds", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.fsync_error_rate = Rate::always(); }));
    const Ino ino = rig.create("/wal");
    REQUIRE(rig.disk.fsync(Disk::root_ino) == EIO);  // the name is not durable yet either
    rig.disk.set_faults(DiskFaults{});
    REQUIRE(rig.disk.fsync(Disk::root_ino) == 0);
    rig.put(ino, 0, "old!");
    REQUIRE(rig.disk.fsync(ino) == 0);
    rig.put(ino, 0, "new!");
    DiskFaults failing;
    failing.fsync_error_rate = Rate::always();
    rig.disk.set_faults(failing);
    CHECK(rig.disk.fsync(ino) == EIO);
    CHECK(rig.last("disk.fsync") ==
          "disk.fsync at_ns=0 ino=11 committed_writes=0 doomed_writes=1 status=eio latency_ns=0");
    // The retry finds nothing dirty and succeeds: the PostgreSQL 2018 trap.
    CHECK(rig.disk.fsync(ino) == 0);
    CHECK(rig.last("disk.fsync") ==
          "disk.fsync at_ns=0 ino=11 committed_writes=0 doomed_writes=0 status=ok latency_ns=0");
    CHECK(rig.get(ino) == "new!");  // the page cache still shows the new bytes
    rig.disk.crash();
    rig.disk.restart();
    CHECK(rig.get("/wal") == "old!");  // ... which never reached the disk
}

TEST_CASE("a later durable write over a doomed range survives the crash", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults& f) { f.fsync_error_rate = Rate::always(); }, 4));
    const Ino ino = rig.create("/f");
    rig.disk.set_faults(DiskFaults{});
    rig.disk.sync_all();
    rig.put(ino, 0, "aaaabbbb");
    DiskFaults failing;
    failing.fsync_error_rate = Rate::always();
    rig.disk.set_faults(failing);
    CHECK(rig.disk.fsync(ino) == EIO);
    rig.disk.set_faults(DiskFaults{});
    rig.put(ino, 4, "CCCC");
    CHECK(rig.disk.fsync(ino) == 0);
    rig.disk.crash();
    rig.disk.restart();
    CHECK(rig.get("/f") == std::string("\0\0\0\0CCCC", 8));
}

TEST_CASE("corrupt_sector garbles one sector of durable data, sticky across crashes", "[disk][faults]") {
    DiskRig rig(with([](DiskFaults&) {}, 16));
    const Ino ino = rig.create("/f");
    rig.put(ino, 0, std::string(48, 'a'));
    rig.disk.sync_all();
    CHECK(rig.disk.corrupt_sector("/f", 17) == 0);
    CHECK(rig.last("disk.corrupt_sector") == "disk.corrupt_sector at_ns=0 path=/f offset=17 sector=1 status=ok");
    auto check = [&] {
        const std::string data = rig.get("/f");
        REQUIRE(data.size() == 48);
        CHECK(data.substr(0, 16) == std::string(16, 'a'));
        CHECK(data.substr(16, 16) != std::string(16, 'a'));
        CHECK(data.substr(32, 16) == std::string(16, 'a'));
        return data;
    };
    const std::string before = check();
    rig.disk.crash();
    rig.disk.restart();
    CHECK(check() == before);
    CHECK(rig.disk.corrupt_sector("/f", 48) == EINVAL);
}

TEST_CASE("fault decisions are a function of the seed", "[disk][faults]") {
    auto run = [](std::uint64_t seed) {
        DiskOptions options;
        options.sector_size_bytes = 16;
        options.latency_ns_jitter = 100;
        options.faults.read_error_rate = Rate::percent(20);
        options.faults.write_error_rate = Rate::percent(20);
        options.faults.short_io_rate = Rate::percent(20);
        options.faults.crash_lost_write_rate = Rate::percent(30);
        options.faults.crash_torn_write_rate = Rate::percent(30);
        DiskRig rig(options, seed);
        const Ino ino = rig.create("/f");
        std::vector<std::byte> out(64);
        for (int i = 0; i < 50; ++i) {
            rig.put(ino, static_cast<std::uint64_t>(i) * 7, "some bytes here");
            (void)rig.disk.read(ino, 0, out);
        }
        rig.disk.crash();
        return rig.trace.hash();
    };
    CHECK(run(42) == run(42));
    CHECK(run(42) != run(43));
}
