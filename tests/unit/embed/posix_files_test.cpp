// The embedded API's file interception: plain POSIX calls on paths under the
// simulation's root reach the simulated disk (and nothing reaches the real
// file system); other paths and descriptors pass through; crashes, corrupted
// sectors and descriptor semantics behave as the disk model says.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "marionette/world.hpp"

using namespace marionette;

namespace {

/// Writes `text` at `offset` of `path` (creating it), optionally fsyncing.
void put(const std::string& path, const std::string& text, off_t offset, bool sync) {
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, text.data(), text.size(), offset) == static_cast<ssize_t>(text.size()));
    if (sync) REQUIRE(::fsync(fd) == 0);
    REQUIRE(::close(fd) == 0);
}

/// The whole file, or "<errno N>" if it cannot be opened.
std::string get(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return "<errno " + std::to_string(errno) + ">";
    std::string out;
    char buffer[256];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

bool real_path_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("files under the root live on the simulated disk, not the real one") {
    const std::string path = "/marionette/embed_test_file";
    {
        World world(1);
        Simulation sim = world.simulate();
        REQUIRE(sim.env().root() == "/marionette");
        put(path, "hello", 0, true);
        CHECK(get(path) == "hello");
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK(st.st_size == 5);
        CHECK(S_ISREG(st.st_mode));
        // The trace saw the disk operations.
        CHECK(world.trace().summary().by_component.at("disk") > 0);
    }
    // After the World: the same path is the real file system's, where it
    // never existed.
    CHECK_FALSE(real_path_exists(path));
    CHECK(get(path) == "<errno " + std::to_string(ENOENT) + ">");
}

TEST_CASE("simulated descriptors are numbered from fd_base and never collide with real ones") {
    World world(2);
    world.simulate({.fd_base = 700});
    const int a = ::open("/marionette/a", O_CREAT | O_RDWR, 0644);
    const int b = ::open("/marionette/b", O_CREAT | O_RDWR, 0644);
    CHECK(a >= 700);
    CHECK(b > a);
    const int real = ::open("/dev/null", O_RDONLY);
    REQUIRE(real >= 0);
    CHECK(real < 700);
    CHECK(::write(real, "x", 1) == -1);  // O_RDONLY: the real kernel answered
    CHECK(::close(real) == 0);
    CHECK(::close(a) == 0);
    CHECK(::close(b) == 0);
    CHECK(::close(a) == -1);
    CHECK(errno == EBADF);
}

TEST_CASE("paths outside the root pass through during a simulation") {
    const auto dir = std::filesystem::temp_directory_path() / ("marionette-embed-pass-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        World world(3);
        world.simulate();
        put((dir / "real").string(), "real bytes", 0, false);
        CHECK(get((dir / "real").string()) == "real bytes");
    }
    CHECK(get((dir / "real").string()) == "real bytes");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a crash keeps synced data and, with crash_lost_write_rate=always, drops unsynced data") {
    World world(4);
    Simulation sim = world.simulate();
    put("/marionette/synced", "durable", 0, true);
    // Make the directory entry durable too (metadata is strict by default).
    const int dir = ::open("/marionette", O_RDONLY | O_DIRECTORY);
    REQUIRE(dir >= 0);
    REQUIRE(::fsync(dir) == 0);
    REQUIRE(::close(dir) == 0);
    put("/marionette/synced", "volatile", 0, false);
    sim.control().disk().set_faults({.crash_lost_write_rate = Rate::always()});
    const CrashReport report = sim.control().disk().crash();
    CHECK(report.lost >= 1);
    CHECK(::open("/marionette/synced", O_RDONLY) == -1);
    CHECK(errno == EIO);  // the disk is down until restart
    sim.control().disk().restart();
    CHECK(get("/marionette/synced") == "durable");
}

TEST_CASE("descriptors open across a crash fail with EIO and can still be closed") {
    World world(5);
    Simulation sim = world.simulate();
    const int fd = ::open("/marionette/f", O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    sim.control().disk().crash();
    sim.control().disk().restart();
    char c = 0;
    CHECK(::read(fd, &c, 1) == -1);
    CHECK(errno == EIO);
    CHECK(::fsync(fd) == -1);
    CHECK(errno == EIO);
    CHECK(::close(fd) == 0);
    CHECK(::close(fd) == -1);
    CHECK(errno == EBADF);
}

TEST_CASE("corrupt_sector changes what reads return, sticky across a crash") {
    World world(6);
    DiskOptions disk;
    disk.sector_size_bytes = 16;
    Simulation sim = world.simulate({.disk = disk});
    const std::string record(32, 'r');
    put("/marionette/wal", record, 0, true);
    sim.control().disk().corrupt_sector("/marionette/wal", 20);
    const std::string after = get("/marionette/wal");
    REQUIRE(after.size() == 32);
    CHECK(after.substr(0, 16) == record.substr(0, 16));
    CHECK(after.substr(16) != record.substr(16));
    CHECK_THROWS_AS(sim.control().disk().corrupt_sector("/elsewhere/wal", 0), std::invalid_argument);
    CHECK_THROWS_AS(sim.control().disk().corrupt_sector("/marionette/missing", 0), std::system_error);
}

TEST_CASE("directories, rename, unlink, lseek, dup and ftruncate follow Linux semantics") {
    World world(7);
    world.simulate();
    REQUIRE(::mkdir("/marionette/d", 0755) == 0);
    CHECK(::mkdir("/marionette/d", 0755) == -1);
    CHECK(errno == EEXIST);
    put("/marionette/d/x", "abcdef", 0, false);
    REQUIRE(::rename("/marionette/d/x", "/marionette/d/y") == 0);
    CHECK(get("/marionette/d/x") == "<errno " + std::to_string(ENOENT) + ">");
    CHECK(get("/marionette/d/y") == "abcdef");
    CHECK(::rename("/marionette/d/y", "/tmp/y") == -1);
    CHECK(errno == EXDEV);

    const int fd = ::open("/marionette/d/y", O_RDWR);
    REQUIRE(fd >= 0);
    const int copy = ::dup(fd);
    REQUIRE(copy > fd);
    CHECK(::lseek(fd, 2, SEEK_SET) == 2);
    char two[2] = {};
    CHECK(::read(copy, two, 2) == 2);  // shares the offset
    CHECK(std::string(two, 2) == "cd");
    CHECK(::ftruncate(fd, 3) == 0);
    struct stat st {};
    REQUIRE(::fstat(copy, &st) == 0);
    CHECK(st.st_size == 3);
    CHECK(::fcntl(fd, F_GETFL) == O_RDWR);
    CHECK(::close(fd) == 0);
    CHECK(::close(copy) == 0);
    CHECK(::unlink("/marionette/d/y") == 0);
    CHECK(::rmdir("/marionette/d") == 0);
    CHECK(::access("/marionette/d", F_OK) == -1);
}

TEST_CASE("std::filesystem calls that go through the POSIX symbols reach the simulation") {
    World world(8);
    world.simulate();
    std::filesystem::create_directories("/marionette/a/b");
    CHECK(std::filesystem::is_directory("/marionette/a/b"));
    put("/marionette/a/b/f", "12345", 0, false);
    CHECK(std::filesystem::file_size("/marionette/a/b/f") == 5);
    put("/marionette/a/b/e", "1", 0, false);
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator("/marionette/a/b")) {
        names.push_back(entry.path().filename().string());
    }
    CHECK(names == std::vector<std::string>{"e", "f"});  // the disk lists in name order
    CHECK(std::filesystem::remove_all("/marionette/a") == 4);
    CHECK_FALSE(std::filesystem::exists("/marionette/a"));
}

TEST_CASE("readdir on a simulated directory lists it; other DIR streams are glibc's") {
    World world(9);
    world.simulate();
    REQUIRE(::mkdir("/marionette/d", 0755) == 0);
    put("/marionette/d/x", "1", 0, false);
    DIR* dir = ::opendir("/marionette/d");
    REQUIRE(dir != nullptr);
    CHECK(::dirfd(dir) >= 512);
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(dir)) names.push_back(e->d_name);
    CHECK(names == std::vector<std::string>{".", "..", "x"});
    ::rewinddir(dir);
    CHECK(::readdir(dir) != nullptr);
    CHECK(::closedir(dir) == 0);
    DIR* real = ::opendir("/");
    REQUIRE(real != nullptr);
    CHECK(::readdir(real) != nullptr);
    CHECK(::closedir(real) == 0);
}
