// The file layer over an in-memory disk: descriptor semantics as Linux has
// them, routing between simulated mounts and the real file system, and what
// a crash keeps when programs reach the disk through descriptors.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>

#include <cstring>
#include <sstream>

#include "sim/vfs/kernel_abi.hpp"
#include "sim/vfs/vfs.hpp"

using namespace marionette;

namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

struct Rig {
    explicit Rig(DiskOptions options = {}, std::uint64_t seed = 1)
        : trace(TraceHeader{}, nullptr, true),
          disk(options, store, Prng(seed).derive("disk", 0), trace, clock),
          node(trace),
          proc((node.mount("/home/u/data", disk, "/data"), node.mount("/tmp", disk, "/tmp"), node), "/home/u") {
        trace.set_clock([this] { return clock.now_ns(); });
    }

    int open(std::string_view path, int flags, std::uint32_t mode = 0644) {
        const Route r = proc.route(proc.cwd(), path);
        REQUIRE(r.simulated());
        ProcessFiles::Opened o = proc.open(r, flags, mode);
        if (o.error) return -o.error;
        const int fd = next_fd++;
        proc.install(fd, o.file, (flags & O_CLOEXEC) != 0);
        return fd;
    }
    std::string read_all(int fd) {
        std::string out;
        char buf[7];  // deliberately small: exercises offsets across calls
        for (;;) {
            const long n = proc.read(fd, std::as_writable_bytes(std::span(buf)));
            REQUIRE(n >= 0);
            if (n == 0) return out;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

    EventQueue clock{1'767'225'600ULL * ns_per_s};  // 2026-01-01T00:00:00Z
    Trace trace;
    MemStore store;
    Disk disk;
    NodeFiles node;
    ProcessFiles proc;
    int next_fd = 3;
};

std::vector<std::string> dirent_names(std::span<const std::byte> buf) {
    std::vector<std::string> names;
    std::size_t pos = 0;
    while (pos < buf.size()) {
        std::uint16_t reclen = 0;
        std::memcpy(&reclen, buf.data() + pos + 16, 2);
        names.emplace_back(reinterpret_cast<const char*>(buf.data() + pos + 19));
        pos += reclen;
    }
    return names;
}

}  // namespace

TEST_CASE("routing sends mounted prefixes to the disk and the rest to the kernel", "[vfs]") {
    Rig rig;
    CHECK(rig.proc.route("/home/u", "data/wal").disk_path == "/data/wal");
    CHECK(rig.proc.route("/home/u", "data").disk_path == "/data");
    CHECK(rig.proc.route("/", "/tmp/x").disk_path == "/tmp/x");
    CHECK_FALSE(rig.proc.route("/home/u", "database").simulated());
    CHECK_FALSE(rig.proc.route("/", "/etc/passwd").simulated());
    CHECK(rig.proc.route("/home/u", "data/../../u/data/x").disk_path == "/data/x");
    CHECK(rig.proc.route_at(AT_FDCWD, "data/x").disk_path == "/data/x");
    // An unknown (real) descriptor: the caller's resolution is used.
    CHECK(rig.proc.route_at(99, "x", "/tmp").disk_path == "/tmp/x");
}

TEST_CASE("write, seek and read through descriptors", "[vfs]") {
    Rig rig;
    const int fd = rig.open("data/f", O_CREAT | O_RDWR);
    REQUIRE(fd >= 0);
    CHECK(rig.proc.write(fd, bytes("hello, world")) == 12);
    CHECK(rig.proc.lseek(fd, 0, SEEK_CUR) == 12);
    CHECK(rig.proc.lseek(fd, 7, SEEK_SET) == 7);
    CHECK(rig.read_all(fd) == "world");
    CHECK(rig.proc.lseek(fd, -5, SEEK_END) == 7);
    CHECK(rig.proc.lseek(fd, -100, SEEK_CUR) == -EINVAL);
    CHECK(rig.proc.lseek(fd, 100, SEEK_DATA) == -ENXIO);
    char buf[5];
    CHECK(rig.proc.pread(fd, std::as_writable_bytes(std::span(buf)), 0) == 5);
    CHECK(std::string(buf, 5) == "hello");
    CHECK(rig.proc.pread(fd, std::as_writable_bytes(std::span(buf)), -1) == -EINVAL);
    CHECK(rig.proc.close(fd) == 0);
    CHECK(rig.proc.close(fd) == -EBADF);
    CHECK(rig.proc.read(fd, std::as_writable_bytes(std::span(buf))) == -EBADF);
}

TEST_CASE("access modes are enforced per descriptor", "[vfs]") {
    Rig rig;
    const int w = rig.open("data/f", O_CREAT | O_WRONLY);
    char buf[4];
    CHECK(rig.proc.read(w, std::as_writable_bytes(std::span(buf))) == -EBADF);
    CHECK(rig.proc.write(w, bytes("abc")) == 3);
    const int r = rig.open("data/f", O_RDONLY);
    CHECK(rig.proc.write(r, bytes("x")) == -EBADF);
    CHECK(rig.proc.ftruncate(r, 0) == -EINVAL);
    CHECK(rig.open("data", O_RDWR) == -EISDIR);
    CHECK(rig.open("data/f", O_CREAT | O_EXCL | O_WRONLY) == -EEXIST);
    CHECK(rig.open("data/missing", O_RDONLY) == -ENOENT);
    CHECK(rig.open("data", O_TMPFILE | O_RDWR) == -EOPNOTSUPP);
    const int d = rig.open("data", O_RDONLY | O_DIRECTORY);
    CHECK(rig.proc.read(d, std::as_writable_bytes(std::span(buf))) == -EISDIR);
}

TEST_CASE("O_APPEND appends, even for pwrite (as Linux does)", "[vfs]") {
    Rig rig;
    const int fd = rig.open("data/log", O_CREAT | O_WRONLY | O_APPEND);
    CHECK(rig.proc.write(fd, bytes("one ")) == 4);
    CHECK(rig.proc.pwrite(fd, bytes("two "), 0) == 4);
    CHECK(rig.proc.write(fd, bytes("three")) == 5);
    const int r = rig.open("data/log", O_RDONLY);
    CHECK(rig.read_all(r) == "one two three");
    CHECK(rig.proc.fcntl(fd, F_GETFL, 0) == (O_WRONLY | O_APPEND));
    CHECK(rig.proc.fcntl(fd, F_SETFL, O_RDWR) == 0);  // the access mode cannot change
    CHECK(rig.proc.fcntl(fd, F_GETFL, 0) == O_WRONLY);
}

TEST_CASE("duplicated and forked descriptors share one offset", "[vfs]") {
    Rig rig;
    const int fd = rig.open("data/f", O_CREAT | O_RDWR);
    rig.proc.install(10, rig.proc.file(fd), false);
    CHECK(rig.proc.write(fd, bytes("abc")) == 3);
    CHECK(rig.proc.write(10, bytes("def")) == 3);
    ProcessFiles child = rig.proc.fork_copy();
    CHECK(child.write(fd, bytes("ghi")) == 3);
    CHECK(rig.proc.lseek(10, 0, SEEK_CUR) == 9);
    // Closing one number leaves the description open for the other.
    CHECK(rig.proc.close(fd) == 0);
    CHECK(rig.proc.lseek(10, 0, SEEK_SET) == 0);
    CHECK(rig.read_all(10) == "abcdefghi");
}

TEST_CASE("close-on-exec descriptors are dropped at exec", "[vfs]") {
    Rig rig;
    const int keep = rig.open("data/a", O_CREAT | O_RDWR);
    const int drop = rig.open("data/b", O_CREAT | O_RDWR | O_CLOEXEC);
    CHECK(rig.proc.fcntl(drop, F_GETFD, 0) == FD_CLOEXEC);
    CHECK(rig.proc.close_on_exec() == std::vector<int>{drop});
    CHECK(rig.proc.owns(keep));
    CHECK_FALSE(rig.proc.owns(drop));
}

TEST_CASE("getdents64 lists . and .. then names in order, across calls", "[vfs]") {
    Rig rig;
    for (const char* name : {"data/zeta", "data/alpha", "data/mid"}) REQUIRE(rig.open(name, O_CREAT | O_WRONLY) >= 0);
    REQUIRE(rig.proc.mkdir(rig.proc.route("/home/u", "data/sub"), 0755) == 0);
    const int d = rig.open("data", O_RDONLY | O_DIRECTORY);
    std::vector<std::byte> small(48);  // room for two short records at a time
    std::vector<std::string> names;
    for (;;) {
        const long n = rig.proc.getdents64(d, small);
        REQUIRE(n >= 0);
        if (n == 0) break;
        for (auto& name : dirent_names(std::span(small).first(static_cast<std::size_t>(n)))) names.push_back(name);
    }
    CHECK(names == std::vector<std::string>{".", "..", "alpha", "mid", "sub", "zeta"});
    std::vector<std::byte> tiny(8);
    CHECK(rig.proc.lseek(d, 0, SEEK_SET) == 0);
    CHECK(rig.proc.getdents64(d, tiny) == -EINVAL);
    const int f = rig.open("data/alpha", O_RDONLY);
    CHECK(rig.proc.getdents64(f, small) == -ENOTDIR);
}

TEST_CASE("namespace calls map onto the disk; cross-device ones fail with EXDEV", "[vfs]") {
    Rig rig;
    DiskOptions options;
    MemStore other_store;
    Disk other(options, other_store, Prng(2), rig.trace, rig.clock);
    rig.node.mount("/mnt/other", other, "/");
    const auto at = [&](std::string_view p) { return rig.proc.route("/home/u", p); };
    REQUIRE(rig.open("data/a", O_CREAT | O_WRONLY) >= 0);
    CHECK(rig.proc.rename(at("data/a"), at("/mnt/other/a"), 0) == -EXDEV);
    CHECK(rig.proc.link(at("data/a"), at("/mnt/other/a")) == -EXDEV);
    REQUIRE(rig.open("data/b", O_CREAT | O_WRONLY) >= 0);
    CHECK(rig.proc.rename(at("data/a"), at("data/b"), RENAME_NOREPLACE) == -EEXIST);
    CHECK(rig.proc.rename(at("data/a"), at("data/b"), RENAME_EXCHANGE) == -EINVAL);
    CHECK(rig.proc.rename(at("data/a"), at("data/c"), 0) == 0);
    CHECK(rig.proc.symlink("c", at("data/l")) == 0);
    char target[16];
    CHECK(rig.proc.readlink(at("data/l"), target) == 1);
    CHECK(target[0] == 'c');
    Stat st;
    CHECK(rig.proc.stat(at("data/l"), false, st) == 0);
    CHECK(st.type == FileType::symlink);
    CHECK(rig.proc.stat(at("data/l"), true, st) == 0);
    CHECK(st.type == FileType::regular);
    CHECK(rig.proc.access(at("data/c"), X_OK) == -EACCES);
    CHECK(rig.proc.chmod(at("data/c"), 0755) == 0);
    CHECK(rig.proc.access(at("data/c"), X_OK) == 0);
    CHECK(rig.proc.unlink(at("data/c")) == 0);
    CHECK(rig.proc.access(at("data/c"), F_OK) == -ENOENT);
    CHECK(rig.proc.rmdir(at("data")) == -ENOTEMPTY);
}

TEST_CASE("chdir into a simulated directory moves relative routing there", "[vfs]") {
    Rig rig;
    REQUIRE(rig.proc.mkdir(rig.proc.route("/", "/tmp/work"), 0700) == 0);
    CHECK(rig.proc.chdir(rig.proc.route("/home/u", "/tmp/work")) == 0);
    CHECK(rig.proc.cwd() == "/tmp/work");
    CHECK(rig.proc.cwd_simulated());
    CHECK(rig.proc.route_at(AT_FDCWD, "x").disk_path == "/tmp/work/x");
    const int fd = rig.open("f", O_CREAT | O_WRONLY);
    CHECK(rig.proc.chdir(rig.proc.route("/tmp/work", "f")) == -ENOTDIR);
    CHECK(rig.proc.fchdir(fd) == -ENOTDIR);
}

TEST_CASE("umask applies to created files and directories", "[vfs]") {
    Rig rig;
    CHECK(rig.proc.set_umask(027) == 022);
    const int fd = rig.open("data/f", O_CREAT | O_WRONLY, 0666);
    Stat st;
    REQUIRE(rig.proc.fstat(fd, st) == 0);
    CHECK(st.mode == 0640);
    REQUIRE(rig.proc.mkdir(rig.proc.route("/home/u", "data/d"), 0777) == 0);
    REQUIRE(rig.proc.stat(rig.proc.route("/home/u", "data/d"), true, st) == 0);
    CHECK(st.mode == 0750);
}

TEST_CASE("what a crash keeps, reached through descriptors", "[vfs][crash]") {
    DiskOptions options;
    options.faults.crash_lost_write_rate = Rate::always();
    Rig rig(options);
    const int fd = rig.open("data/wal", O_CREAT | O_WRONLY);
    REQUIRE(rig.proc.write(fd, bytes("synced;")) == 7);
    REQUIRE(rig.proc.fsync(fd) == 0);
    const int dir = rig.open("data", O_RDONLY | O_DIRECTORY);
    REQUIRE(rig.proc.fsync(dir) == 0);  // the file's name is durable too
    REQUIRE(rig.proc.write(fd, bytes("volatile")) == 8);
    const int sync_fd = rig.open("data/osync", O_CREAT | O_WRONLY | O_SYNC);
    REQUIRE(rig.proc.write(sync_fd, bytes("durable at once")) == 15);
    REQUIRE(rig.proc.fsync(dir) == 0);
    // The node's processes die first (their descriptors close), then power goes.
    for (int f : rig.proc.descriptors()) rig.proc.close(f);
    rig.disk.crash();
    rig.disk.restart();
    const int r = rig.open("data/wal", O_RDONLY);
    REQUIRE(r >= 0);
    CHECK(rig.read_all(r) == "synced;");
    const int s = rig.open("data/osync", O_RDONLY);
    REQUIRE(s >= 0);
    CHECK(rig.read_all(s) == "durable at once");
}

TEST_CASE("fs.open and fs.close are traced with descriptor, path and inode", "[vfs][trace]") {
    Rig rig;
    const int fd = rig.open("data/f", O_CREAT | O_WRONLY | O_CLOEXEC);
    rig.proc.close(fd);
    std::vector<std::string> lines;
    for (const TraceEvent& e : rig.trace.events()) {
        if (e.name.rfind("fs.", 0) == 0) lines.push_back(render_event(e, TraceFormat::text));
    }
    REQUIRE(lines.size() == 2);
    // The inode is the first one the disk hands out after its mount
    // directories; the test asks the disk instead of guessing the number.
    Stat st;
    REQUIRE(rig.proc.stat(rig.proc.route("/", "/home/u/data/f"), true, st) == 0);
    CHECK(lines[0].substr(lines[0].find(" fs.open")) ==
          " fs.open at_ns=1767225600000000000 fd=3 path=/home/u/data/f ino=" + std::to_string(st.ino) + " cloexec=true");
    CHECK(lines[1].substr(lines[1].find(" fs.close")) == " fs.close at_ns=1767225600000000000 fd=3");
}

TEST_CASE("kernel structures carry the virtual metadata", "[vfs][abi]") {
    Rig rig;
    const int fd = rig.open("data/f", O_CREAT | O_WRONLY, 0600);
    REQUIRE(rig.proc.write(fd, bytes("12345")) == 5);
    Stat st;
    REQUIRE(rig.proc.fstat(fd, st) == 0);
    struct stat ks;
    to_kernel_stat(st, ks);
    CHECK(S_ISREG(ks.st_mode));
    CHECK((ks.st_mode & 07777) == 0600);
    CHECK(ks.st_size == 5);
    CHECK(ks.st_ino == st.ino);
    CHECK(ks.st_mtim.tv_sec == 1'767'225'600);
    struct statx sx;
    to_kernel_statx(st, sx);
    CHECK(sx.stx_size == 5);
    CHECK((sx.stx_mode & S_IFMT) == S_IFREG);
    CHECK(sx.stx_mask == STATX_BASIC_STATS);
}

TEST_CASE("the same calls give the same trace; another disk seed may differ only in faults", "[vfs][determinism]") {
    auto run = [](std::uint64_t seed) {
        DiskOptions options;
        options.latency_ns_min = 1000;
        options.latency_ns_jitter = 5000;
        Rig rig(options, seed);
        const int fd = rig.open("data/f", O_CREAT | O_RDWR);
        for (int i = 0; i < 20; ++i) rig.proc.write(fd, bytes("0123456789"));
        rig.proc.fsync(fd);
        return std::pair{rig.trace.hash(), rig.proc.take_latency_ns()};
    };
    CHECK(run(5) == run(5));
    CHECK(run(5).second != run(6).second);  // jittered latencies come from the seed
}
