// The host view (Disk::attach_host): lazy listing, copy on first change,
// the host only ever read, crash and export semantics.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/unit/disk/disk_rig.hpp"

using namespace marionette;
using namespace marionette::test;
namespace fs = std::filesystem;

namespace {

struct HostTree {
    fs::path root;
    HostTree() {
        char pattern[] = "/tmp/marionette-host-view.XXXXXX";
        root = mkdtemp(pattern);
        fs::create_directories(root / "dir" / "sub");
        std::ofstream(root / "dir" / "a.txt") << "host bytes";
        std::ofstream(root / "dir" / "sub" / "b.txt") << "bee";
        fs::create_symlink("/dir/a.txt", root / "dir" / "abs-link");
    }
    ~HostTree() { fs::remove_all(root); }
    std::string read(const fs::path& path) const {
        std::ifstream in(root / path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
};

}  // namespace

TEST_CASE("host view: host files read through, changes stay on the disk") {
    HostTree host;
    DiskRig rig;
    rig.disk.attach_host("/host", host.root);
    auto a = rig.disk.open("/host/dir/a.txt", OpenFlags{});
    REQUIRE(a.ok());
    CHECK(rig.get(a.value) == "host bytes");
    CHECK(rig.lines("disk.host_copy").empty());  // a read copies nothing

    // stat reports the host's inode number, as the real kernel would.
    struct stat real {};
    REQUIRE(::stat((host.root / "dir" / "a.txt").c_str(), &real) == 0);
    CHECK(rig.disk.fstat(a.value).value.ino == real.st_ino);
    CHECK(rig.disk.unchanged_host_file("/host/dir/a.txt") == (host.root / "dir" / "a.txt").string());

    rig.put(a.value, 0, "HOST");
    CHECK(rig.get(a.value) == "HOST bytes");
    CHECK(host.read("dir/a.txt") == "host bytes");
    CHECK(rig.lines("disk.host_copy").size() == 1);
    CHECK(rig.disk.unchanged_host_file("/host/dir/a.txt").empty());
    CHECK(rig.disk.fstat(a.value).value.ino == real.st_ino);  // still the host's number
    rig.disk.close(a.value);

    CHECK(rig.disk.unlink("/host/dir/sub/b.txt") == 0);
    CHECK(rig.disk.rename("/host/dir/sub", "/host/dir/moved") == 0);
    CHECK(rig.disk.mkdir("/host/dir/made") == 0);
    CHECK(fs::exists(host.root / "dir" / "sub" / "b.txt"));
    CHECK(!fs::exists(host.root / "dir" / "moved"));
    CHECK(!fs::exists(host.root / "dir" / "made"));

    auto dir = rig.disk.open("/host/dir", OpenFlags{.directory = true});
    REQUIRE(dir.ok());
    auto listing = rig.disk.readdir(dir.value);
    REQUIRE(listing.ok());
    std::string names;
    for (const DirEntry& e : listing.value) names += e.name + " ";
    CHECK(names == "a.txt abs-link made moved ");  // name order, the disk's view
    rig.disk.close(dir.value);
}

TEST_CASE("host view: absolute symlinks resolve from the view's root, renamed files are no longer the host's") {
    HostTree host;
    DiskRig rig;
    rig.disk.attach_host("/host", host.root);
    CHECK(rig.get("/host/dir/abs-link") == "host bytes");
    CHECK(rig.disk.rename("/host/dir/a.txt", "/host/dir/c.txt") == 0);
    // Same bytes, but the real kernel would not find them at the new name.
    CHECK(rig.disk.unchanged_host_file("/host/dir/c.txt").empty());
    CHECK(rig.get("/host/dir/c.txt") == "host bytes");
}

TEST_CASE("host view: a crash keeps host files, loses unsynced changes, and export leaves the view out") {
    HostTree host;
    DiskOptions options;
    options.faults.crash_lost_write_rate = Rate::percent(100);
    DiskRig rig(options);
    rig.disk.attach_host("/host", host.root);
    auto a = rig.disk.open("/host/dir/a.txt", OpenFlags{});
    REQUIRE(a.ok());
    rig.put(a.value, 0, "lost");
    rig.disk.close(a.value);
    rig.disk.crash();
    rig.disk.restart();
    CHECK(rig.get("/host/dir/a.txt") == "host bytes");
    CHECK(rig.get("/host/dir/sub/b.txt") == "bee");

    char pattern[] = "/tmp/marionette-host-export.XXXXXX";
    const fs::path out = mkdtemp(pattern);
    rig.disk.export_durable(out);
    CHECK(!fs::exists(out / "host"));
    fs::remove_all(out);
}
