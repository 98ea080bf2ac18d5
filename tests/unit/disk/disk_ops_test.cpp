// Operations of the disk model without faults: namespace, data, metadata.
#include <catch2/catch.hpp>

#include "tests/unit/disk/disk_rig.hpp"

using namespace marionette;
using marionette::test::DiskRig;
using marionette::test::bytes;
using marionette::test::text;

TEST_CASE("write then read returns the bytes and traces both", "[disk]") {
    DiskRig rig;
    const Ino ino = rig.create("/a");
    CHECK(ino == 11);  // the first inode after the root (2) and the reserved range
    CHECK(rig.put(ino, 0, "hello") == 5);
    CHECK(rig.get(ino) == "hello");
    CHECK(rig.last("disk.open") == "disk.open at_ns=0 path=/a ino=11 created=true status=ok latency_ns=0");
    CHECK(rig.last("disk.write") ==
          "disk.write at_ns=0 ino=11 offset=0 len=5 written=5 target_offset=0 sync=false status=ok latency_ns=0");
    CHECK(rig.last("disk.read") == "disk.read at_ns=0 ino=11 offset=0 len=5 read=5 status=ok latency_ns=0");
}

TEST_CASE("stat is virtual: inode numbers, clock times, blocks", "[disk]") {
    DiskRig rig;
    rig.clock.advance(1000);
    const Ino ino = rig.create("/f");
    rig.clock.advance(500);
    rig.put(ino, 0, std::string(5000, 'x'));
    auto st = rig.disk.stat("/f");
    REQUIRE(st.ok());
    CHECK(st.value.ino == ino);
    CHECK(st.value.size == 5000);
    CHECK(st.value.blocks == 16);  // two 4 KiB blocks in 512-byte units
    CHECK(st.value.nlink == 1);
    CHECK(st.value.ctime_ns == 1500);
    CHECK(st.value.mtime_ns == 1500);
    CHECK(st.value.atime_ns == 1000);
    CHECK(st.value.mode == 0644);
    auto root = rig.disk.stat("/");
    CHECK(root.value.ino == Disk::root_ino);
    CHECK(root.value.type == FileType::directory);
}

TEST_CASE("sparse files allocate only written blocks and read holes as zeros", "[disk]") {
    DiskRig rig;
    const Ino ino = rig.create("/sparse");
    rig.put(ino, 1 << 20, "tail");
    auto st = rig.disk.fstat(ino);
    CHECK(st.value.size == (1u << 20) + 4);
    CHECK(st.value.blocks == 8);
    std::vector<std::byte> hole(16, std::byte{0x55});
    CHECK(rig.disk.read(ino, 4096, hole).value == 16);
    CHECK(text(hole) == std::string(16, '\0'));
    CHECK(rig.store.footprint_bytes() == 4096);
}

TEST_CASE("truncate shrinks, and growing again reads zeros", "[disk]") {
    DiskRig rig;
    const Ino ino = rig.create("/t");
    rig.put(ino, 0, "abcdefgh");
    CHECK(rig.disk.truncate(ino, 3) == 0);
    CHECK(rig.get(ino) == "abc");
    CHECK(rig.disk.truncate(ino, 6) == 0);
    CHECK(rig.get(ino) == std::string("abc\0\0\0", 6));
    CHECK(rig.last("disk.truncate") == "disk.truncate at_ns=0 ino=11 old_size=3 size=6 status=ok latency_ns=0");
}

TEST_CASE("fallocate reserves blocks, extending the size unless keep_size", "[disk]") {
    DiskRig rig;
    const Ino ino = rig.create("/fa");
    CHECK(rig.disk.fallocate(ino, 0, 8192, true) == 0);
    CHECK(rig.disk.fstat(ino).value.size == 0);
    CHECK(rig.disk.fstat(ino).value.blocks == 16);
    CHECK(rig.disk.fallocate(ino, 0, 10000, false) == 0);
    CHECK(rig.disk.fstat(ino).value.size == 10000);
    CHECK(rig.disk.fstat(ino).value.blocks == 24);
    CHECK(rig.get(ino) == std::string(10000, '\0'));
}

TEST_CASE("a full disk gives a short write, then ENOSPC", "[disk]") {
    DiskOptions options;
    options.capacity_bytes = 8192;
    DiskRig rig(options);
    const Ino ino = rig.create("/big");
    auto first = rig.disk.write(ino, 0, bytes(std::string(10000, 'a')));
    CHECK(first.ok());
    CHECK(first.value == 8192);
    auto second = rig.disk.write(ino, 8192, bytes("more"));
    CHECK(second.error == ENOSPC);
    CHECK(rig.last("disk.write") ==
          "disk.write at_ns=0 ino=11 offset=8192 len=4 written=0 target_offset=8192 sync=false status=enospc latency_ns=0");
    // Overwriting allocated blocks needs no space; freeing space lets writes in.
    CHECK(rig.disk.write(ino, 0, bytes("b")).value == 1);
    CHECK(rig.disk.fallocate(ino, 8192, 4096, false) == ENOSPC);
    CHECK(rig.disk.truncate(ino, 4096) == 0);
    CHECK(rig.disk.write(ino, 4096, bytes("c")).value == 1);
}

TEST_CASE("directories list in name order and keep POSIX errors", "[disk]") {
    DiskRig rig;
    REQUIRE(rig.disk.mkdir("/d") == 0);
    CHECK(rig.disk.mkdir("/d") == EEXIST);
    for (const char* name : {"/d/zeta", "/d/alpha", "/d/mid"}) rig.disk.close(rig.create(name));
    REQUIRE(rig.disk.mkdir("/d/sub") == 0);
    auto dir = rig.disk.open("/d", OpenFlags{.directory = true});
    REQUIRE(dir.ok());
    auto list = rig.disk.readdir(dir.value);
    REQUIRE(list.value.size() == 4);
    CHECK(list.value[0].name == "alpha");
    CHECK(list.value[1].name == "mid");
    CHECK(list.value[2].name == "sub");
    CHECK(list.value[2].type == FileType::directory);
    CHECK(list.value[3].name == "zeta");
    CHECK(rig.disk.stat("/d").value.nlink == 3);  // ".", its name, sub/..
    CHECK(rig.disk.rmdir("/d") == ENOTEMPTY);
    CHECK(rig.disk.unlink("/d/sub") == EISDIR);
    CHECK(rig.disk.rmdir("/d/alpha") == ENOTDIR);
    CHECK(rig.disk.open("/d/alpha/x", OpenFlags{.create = true}).error == ENOTDIR);
    CHECK(rig.disk.open("/nope/x", OpenFlags{.create = true}).error == ENOENT);
    CHECK(rig.disk.stat("/d/sub/../mid").ok());
    CHECK(rig.disk.open("/d/mid", OpenFlags{.create = true, .exclusive = true}).error == EEXIST);
    CHECK(rig.disk.rmdir("/d/sub") == 0);
    rig.disk.close(dir.value);
}

TEST_CASE("symlinks resolve, readlink, and loops give ELOOP", "[disk]") {
    DiskRig rig;
    REQUIRE(rig.disk.mkdir("/real") == 0);
    const Ino ino = rig.create("/real/file");
    rig.put(ino, 0, "data");
    CHECK(rig.disk.symlink("real", "/rel") == 0);
    CHECK(rig.disk.symlink("/real/file", "/abs") == 0);
    CHECK(rig.get("/rel/file") == "data");
    CHECK(rig.get("/abs") == "data");
    CHECK(rig.disk.readlink("/abs").value == "/real/file");
    CHECK(rig.disk.stat("/abs", false).value.type == FileType::symlink);
    CHECK(rig.disk.stat("/abs", false).value.size == 10);
    CHECK(rig.disk.symlink("loop2", "/loop1") == 0);
    CHECK(rig.disk.symlink("loop1", "/loop2") == 0);
    CHECK(rig.disk.stat("/loop1").error == ELOOP);
    CHECK(rig.disk.open("/abs", OpenFlags{.nofollow = true}).error == ELOOP);
}

TEST_CASE("hard links share an inode, data lives until the last name and handle", "[disk]") {
    DiskRig rig;
    const Ino ino = rig.create("/one");
    rig.put(ino, 0, "shared");
    CHECK(rig.disk.link("/one", "/two") == 0);
    CHECK(rig.disk.stat("/two").value.ino == ino);
    CHECK(rig.disk.stat("/two").value.nlink == 2);
    CHECK(rig.disk.unlink("/one") == 0);
    CHECK(rig.get("/two") == "shared");
    CHECK(rig.disk.unlink("/two") == 0);
    // Still open: readable although nameless, and freed at close.
    CHECK(rig.get(ino) == "shared");
    CHECK(rig.disk.fstat(ino).value.nlink == 0);
    rig.disk.close(ino);
    CHECK(rig.disk.fstat(ino).error == EBADF);
    CHECK(rig.store.footprint_bytes() == 0);
}

TEST_CASE("rename replaces files and refuses what POSIX refuses", "[disk]") {
    DiskRig rig;
    rig.disk.close(rig.create("/a"));
    const Ino b = rig.create("/b");
    rig.put(b, 0, "bee");
    rig.disk.close(b);
    CHECK(rig.disk.rename("/b", "/a", true) == EEXIST);
    CHECK(rig.disk.rename("/b", "/a") == 0);
    CHECK(rig.get("/a") == "bee");
    CHECK(rig.disk.stat("/b").error == ENOENT);
    REQUIRE(rig.disk.mkdir("/d") == 0);
    REQUIRE(rig.disk.mkdir("/d/e") == 0);
    REQUIRE(rig.disk.mkdir("/full") == 0);
    rig.disk.close(rig.create("/full/x"));
    CHECK(rig.disk.rename("/d", "/d/e/f") == EINVAL);
    CHECK(rig.disk.rename("/d", "/full") == ENOTEMPTY);
    CHECK(rig.disk.rename("/a", "/d") == EISDIR);
    CHECK(rig.disk.rename("/d", "/a") == ENOTDIR);
    CHECK(rig.disk.rename("/d/e", "/moved") == 0);
    CHECK(rig.disk.stat("/moved/..").value.ino == Disk::root_ino);
    CHECK(rig.last("disk.rename") ==
          "disk.rename at_ns=0 path=/d/e new_path=/moved ino=" + std::to_string(rig.disk.stat("/moved").value.ino) +
              " status=ok latency_ns=0");
}

TEST_CASE("latency is min plus seeded jitter and is traced", "[disk]") {
    DiskOptions options;
    options.latency_ns_min = 1000;
    options.latency_ns_jitter = 500;
    std::vector<Ns> first;
    for (int run = 0; run < 2; ++run) {
        DiskRig rig(options, 7);
        const Ino ino = rig.create("/l");
        std::vector<Ns> seen;
        for (int i = 0; i < 20; ++i) {
            rig.put(ino, 0, "x");
            seen.push_back(rig.disk.last_latency_ns());
            CHECK(seen.back() >= 1000);
            CHECK(seen.back() <= 1500);
        }
        CHECK(rig.last("disk.write").ends_with("latency_ns=" + std::to_string(seen.back())));
        if (run == 0) first = seen;
        else CHECK(seen == first);
    }
    CHECK(std::set<Ns>(first.begin(), first.end()).size() > 1);
}

TEST_CASE("a crashed disk fails every operation until restart", "[disk]") {
    DiskRig rig;
    rig.disk.close(rig.create("/x"));
    rig.disk.crash();
    CHECK(rig.disk.crashed());
    CHECK(rig.disk.stat("/").error == EIO);
    CHECK(rig.disk.open("/y", OpenFlags{.create = true}).error == EIO);
    CHECK(rig.last("disk.rejected") == "disk.rejected at_ns=0 op=open reason=crashed");
    rig.disk.restart();
    CHECK(rig.disk.stat("/").ok());
}

TEST_CASE("namespace and durability operations trace exactly these lines", "[disk][trace]") {
    DiskOptions options;
    options.latency_ns_min = 100;
    DiskRig rig(options);
    rig.clock.advance(10);
    REQUIRE(rig.disk.mkdir("/d") == 0);
    const Ino f = rig.create("/d/f");
    rig.put(f, 0, "abc");
    REQUIRE(rig.disk.link("/d/f", "/g") == 0);
    REQUIRE(rig.disk.symlink("d/f", "/s") == 0);
    REQUIRE(rig.disk.fsync(f) == 0);
    REQUIRE(rig.disk.fsync(Disk::root_ino) == 0);
    REQUIRE(rig.disk.fallocate(f, 0, 8192, true) == 0);
    REQUIRE(rig.disk.sync_range(f, 0, 0) == 0);
    REQUIRE(rig.disk.unlink("/g") == 0);
    REQUIRE(rig.disk.rmdir("/d") == ENOTEMPTY);
    REQUIRE(rig.disk.sync_all() == 0);
    rig.disk.close(f);
    rig.disk.crash();
    rig.disk.restart();
    std::vector<std::string> lines;
    for (const TraceEvent& event : rig.trace.events()) lines.push_back(render_event(event, TraceFormat::text));
    const std::vector<std::string> expected{
        "event=0 disk.mkdir at_ns=10 path=/d ino=11 status=ok latency_ns=100",
        "event=1 disk.open at_ns=10 path=/d/f ino=12 created=true status=ok latency_ns=100",
        "event=2 disk.write at_ns=10 ino=12 offset=0 len=3 written=3 target_offset=0 sync=false status=ok latency_ns=100",
        "event=3 disk.link at_ns=10 path=/d/f new_path=/g status=ok latency_ns=100",
        "event=4 disk.symlink at_ns=10 path=/s target_len=3 status=ok latency_ns=100",
        "event=5 disk.fsync at_ns=10 ino=12 committed_writes=1 doomed_writes=0 status=ok latency_ns=100",
        "event=6 disk.fsync at_ns=10 ino=2 committed_writes=1 doomed_writes=0 status=ok latency_ns=100",
        "event=7 disk.fallocate at_ns=10 ino=12 offset=0 len=8192 keep_size=true status=ok latency_ns=100",
        "event=8 disk.sync_range at_ns=10 ino=12 offset=0 len=0 committed_writes=0 status=ok latency_ns=100",
        "event=9 disk.unlink at_ns=10 path=/g ino=12 status=ok latency_ns=100",
        "event=10 disk.rmdir at_ns=10 path=/d status=enotempty latency_ns=100",
        "event=11 disk.sync at_ns=10 committed_writes=0 status=ok latency_ns=100",
        "event=12 disk.crash at_ns=10 pending_writes=0 landed=0 lost=0 torn=0 removed_inodes=0 namespace_lost=0",
        "event=13 disk.restart at_ns=10",
    };
    CHECK(lines == expected);
    // After the crash: the durable namespace is /d/f and /s (the unlink of /g
    // was synced), with the synced bytes.
    CHECK(rig.get("/s") == "abc");
    CHECK(rig.disk.stat("/g").error == ENOENT);
    CHECK(rig.disk.stat("/d/f").value.nlink == 1);
}
