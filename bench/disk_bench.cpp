// Disk model benchmark (issue 3): 20,000 4 KiB writes with an fsync every
// 16, then a read back, through the model with tracing on; once appending
// (a log) and once overwriting a 1 MiB file in place (a page store), on the
// in-memory store and on the write-through directory store. Reports model
// operations per second and what the undo journal costs per byte of
// unsynced data. Not a test: no thresholds, just numbers for docs/.
// Throughput is per CPU second, best of --repeat runs.
//
//   marionette_disk_bench [--writes N] [--repeat R] [--dir PATH]
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>
#include <algorithm>

#include "sim/disk/disk.hpp"

using namespace marionette;

namespace {

struct Numbers {
    double ops_per_s = 0;
    std::uint64_t ops = 0;
    std::uint64_t peak_journal_bytes = 0;     // undo bytes held
    std::uint64_t peak_journal_entries = 0;
    std::uint64_t peak_unsynced_bytes = 0;    // bytes written since the last fsync
    std::uint64_t peak_overwritten_bytes = 0; // of those, bytes that replaced older bytes
    std::uint64_t store_bytes = 0;
    std::uint64_t file_bytes = 0;
};

/// CPU time of this process: the machine is shared, so wall time would
/// measure the neighbours.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Numbers run(Store& store, std::uint64_t writes, bool overwrite) {
    EventQueue clock;
    Trace trace;  // hashed and summarised, not written anywhere
    Disk disk(DiskOptions{}, store, Prng(1), trace, clock);
    const Ino ino = disk.open("/data", OpenFlags{.create = true}).value;
    std::vector<std::byte> block(4096, std::byte{0x5a});
    constexpr std::uint64_t file_blocks = 256;  // overwrite mode: a 1 MiB file
    Prng where(2);
    Numbers n;
    std::uint64_t unsynced = 0, overwritten = 0;
    const double start = cpu_seconds();
    for (std::uint64_t i = 0; i < writes; ++i) {
        const std::uint64_t offset = overwrite ? where.uint_less_than(file_blocks) * 4096 : i * 4096;
        if (offset < disk.fstat(ino).value.size) overwritten += 4096;
        block[0] = static_cast<std::byte>(i);
        if (disk.write(ino, offset, block).value != 4096) std::abort();
        unsynced += 4096;
        ++n.ops;
        if ((i + 1) % 16 == 0) {
            n.peak_journal_bytes = std::max(n.peak_journal_bytes, disk.journal_bytes());
            n.peak_journal_entries = std::max(n.peak_journal_entries, disk.journal_entries());
            n.peak_unsynced_bytes = std::max(n.peak_unsynced_bytes, unsynced);
            n.peak_overwritten_bytes = std::max(n.peak_overwritten_bytes, overwritten);
            if (disk.fsync(ino) != 0) std::abort();
            unsynced = overwritten = 0;
            ++n.ops;
        }
    }
    const std::uint64_t size = disk.fstat(ino).value.size;
    for (std::uint64_t offset = 0; offset < size; offset += 4096) {
        if (disk.read(ino, offset, block).value != 4096) std::abort();
        ++n.ops;
    }
    const double seconds = cpu_seconds() - start;
    n.ops_per_s = static_cast<double>(n.ops) / seconds;
    n.store_bytes = store.footprint_bytes();
    n.file_bytes = size;
    return n;
}

void print(const char* store, const char* pattern, const Numbers& n) {
    const std::uint64_t entry_bytes = sizeof(detail::JournalEntry) + sizeof(detail::UndoPiece);
    const double per_unsynced =
        static_cast<double>(n.peak_journal_bytes + n.peak_journal_entries * entry_bytes) / static_cast<double>(n.peak_unsynced_bytes);
    const double per_overwritten = n.peak_overwritten_bytes == 0
                                       ? 0.0
                                       : static_cast<double>(n.peak_journal_bytes) / static_cast<double>(n.peak_overwritten_bytes);
    std::printf("| %-4s | %-9s | %7llu | %10.0f | %6.3f | %6.3f | %+lld |\n", store, pattern,
                static_cast<unsigned long long>(n.ops), n.ops_per_s, per_unsynced, per_overwritten,
                static_cast<long long>(n.store_bytes) - static_cast<long long>(n.file_bytes));
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t writes = 20'000;
    int repeat = 3;
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("marionette-disk-bench-" + std::to_string(::getpid()));
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--writes") == 0) writes = std::strtoull(argv[i + 1], nullptr, 10);
        else if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
        else if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
    }
    std::printf("disk model: %llu x 4 KiB writes, fsync every 16, then read back; trace on\n",
                static_cast<unsigned long long>(writes));
    std::printf("| store | pattern | model ops | ops/s | journal memory per unsynced byte | undo bytes per overwritten byte | extra store bytes |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    auto best = [repeat](auto&& once) {
        Numbers top;
        for (int r = 0; r < repeat; ++r) {
            Numbers n = once();
            if (n.ops_per_s > top.ops_per_s) top = n;
        }
        return top;
    };
    for (bool overwrite : {false, true}) {
        const char* pattern = overwrite ? "overwrite" : "append";
        print("mem", pattern, best([&] {
                  MemStore mem;
                  return run(mem, writes, overwrite);
              }));
        print("dir", pattern, best([&] {
                  std::filesystem::create_directories(dir);
                  Numbers n;
                  {
                      DirStore real(dir);
                      n = run(real, writes, overwrite);
                  }
                  std::filesystem::remove_all(dir);
                  return n;
              }));
    }
    return 0;
}
