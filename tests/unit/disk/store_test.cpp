// The two stores behind the disk model, and import/export of real trees.
#include <catch2/catch.hpp>

#include <fstream>
#include <unistd.h>

#include "tests/unit/disk/disk_rig.hpp"

using namespace marionette;
using marionette::test::bytes;
using marionette::test::DiskRig;
using marionette::test::text;

namespace fs = std::filesystem;

namespace {

/// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& tag) {
        path = fs::temp_directory_path() / ("marionette-disk-" + tag + "-" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

void exercise(Store& store) {
    store.create(5);
    store.write(5, 0, bytes("hello world"));
    store.write(5, 10000, bytes("far"));
    std::vector<std::byte> out(11);
    store.read(5, 0, out);
    CHECK(text(out) == "hello world");
    std::vector<std::byte> hole(4, std::byte{7});
    store.read(5, 5000, hole);
    CHECK(text(hole) == std::string(4, '\0'));
    store.truncate(5, 5);
    std::vector<std::byte> cut(8, std::byte{7});
    store.read(5, 0, cut);
    CHECK(text(cut) == std::string("hello\0\0\0", 8));
    store.remove(5);
    std::vector<std::byte> gone(3, std::byte{7});
    store.read(5, 0, gone);
    CHECK(text(gone) == std::string(3, '\0'));
}

/// Runs one scripted scenario with crash faults on a store; returns what
/// survives at /f and the trace hash.
std::pair<std::string, std::uint64_t> scenario(Store& store) {
    EventQueue clock;
    Trace trace;
    DiskOptions options;
    options.sector_size_bytes = 4;
    options.faults.crash_lost_write_rate = Rate::percent(40);
    options.faults.crash_torn_write_rate = Rate::percent(40);
    Disk disk(options, store, Prng(99), trace, clock);
    const Ino ino = disk.open("/f", OpenFlags{.create = true}).value;
    disk.write(ino, 0, bytes("0123456789abcdef"));
    disk.sync_all();
    for (int i = 0; i < 12; ++i) disk.write(ino, static_cast<std::uint64_t>(i) * 3, bytes("XYZW"));
    disk.truncate(ino, 30);
    disk.crash();
    disk.restart();
    const Ino again = disk.open("/f", OpenFlags{}).value;
    std::vector<std::byte> out(disk.fstat(again).value.size);
    disk.read(again, 0, out);
    return {text(out), trace.hash()};
}

}  // namespace

TEST_CASE("MemStore and DirStore behave alike", "[disk][store]") {
    MemStore mem;
    exercise(mem);
    TempDir dir("store");
    DirStore real(dir.path);
    exercise(real);
    CHECK_FALSE(fs::exists(real.backing_path(5)));
}

TEST_CASE("a crash gives the same result on both stores", "[disk][store]") {
    MemStore mem;
    TempDir dir("crash");
    DirStore real(dir.path);
    const auto a = scenario(mem);
    const auto b = scenario(real);
    CHECK(a == b);
    CHECK(a.first != "0123456789abcdef");  // some unsynced change survived
}

TEST_CASE("import copies a real tree as durable state without touching it, export writes it back", "[disk][store]") {
    TempDir src("import");
    fs::create_directories(src.path / "sub");
    std::ofstream(src.path / "b.txt") << "bee";
    std::ofstream(src.path / "sub" / "a.txt") << "ay";
    fs::create_symlink("sub/a.txt", src.path / "link");
    fs::permissions(src.path / "b.txt", fs::perms(0600));
    const auto before = fs::last_write_time(src.path / "b.txt");

    DiskOptions options;
    options.faults.crash_lost_write_rate = Rate::always();
    DiskRig rig(options);
    CHECK(rig.disk.import_tree(src.path) == 4);
    CHECK(rig.get("/b.txt") == "bee");
    CHECK(rig.get("/link") == "ay");
    CHECK(rig.disk.stat("/b.txt").value.mode == 0600);
    auto listing = rig.disk.readdir(Disk::root_ino).value;
    REQUIRE(listing.size() == 3);
    CHECK(listing[0].name == "b.txt");
    CHECK(listing[1].name == "link");
    CHECK(listing[2].name == "sub");

    // Imported state is durable; later unsynced changes are not exported.
    const Ino b = rig.disk.open("/b.txt", OpenFlags{}).value;
    rig.put(b, 0, "BEE!");
    rig.disk.close(rig.create("/unsynced"));
    TempDir out("export");
    fs::remove_all(out.path);
    CHECK(rig.disk.export_durable(out.path) == 4);
    std::ifstream in(out.path / "b.txt");
    std::string exported((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(exported == "bee");
    CHECK(fs::read_symlink(out.path / "link") == "sub/a.txt");
    CHECK_FALSE(fs::exists(out.path / "unsynced"));

    // The source was never written.
    CHECK(fs::last_write_time(src.path / "b.txt") == before);
    std::ifstream again(src.path / "b.txt");
    std::string original((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
    CHECK(original == "bee");

    rig.disk.crash();
    rig.disk.restart();
    CHECK(rig.get("/b.txt") == "bee");
}

TEST_CASE("DirStore keeps working with more files than it keeps open", "[disk][store]") {
    TempDir dir("many");
    DirStore store(dir.path);
    const Ino count = DirStore::max_open_files * 2 + 3;
    for (Ino ino = 1; ino <= count; ++ino) {
        store.create(ino);
        store.write(ino, 0, bytes(std::to_string(ino)));
    }
    for (Ino ino = 1; ino <= count; ++ino) {
        std::vector<std::byte> out(std::to_string(ino).size());
        store.read(ino, 0, out);
        REQUIRE(text(out) == std::to_string(ino));
    }
    CHECK(store.footprint_bytes() > 0);
}
