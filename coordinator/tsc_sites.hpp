// Finding the rdtsc (0f 31) and rdtscp (0f 01 f9) instructions in a
// program's code, for hosts where the kernel's rdtsc trap has no effect
// (launcher/tsc_probe.hpp). The shim finds the candidate bytes in each
// executable mapping and asks the coordinator which of them are really
// instructions; the shim then rewrites those into a trapping ud2 and
// emulates them (interpose/tsc_patch.cpp, docs/determinism.md).
//
// Byte patterns alone are not enough: 0f 31 occurs inside immediates and
// displacements (libc has 39 such byte pairs and 2 real rdtsc). A
// candidate counts as an instruction only if a linear sweep with Capstone
// from a known instruction boundary — a function symbol's start or end, or
// the start of an executable section — lands exactly on it. A sweep that
// meets bytes it cannot decode before the candidate leaves the candidate
// unproven: it is never patched and the shim reports it as an escape.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace marionette {

/// What a search found, as sorted file offsets.
struct TscSites {
    std::vector<std::uint64_t> candidates;  ///< every rdtsc/rdtscp byte pattern
    std::vector<std::uint64_t> proven;    ///< rdtsc/rdtscp instructions
    std::vector<std::uint64_t> unproven;  ///< candidate bytes no sweep could decide
};

/// Executable code as the file holds it: `bytes` start at `file_offset`
/// and are loaded at `address`.
struct CodeRegion {
    std::span<const std::uint8_t> bytes;
    std::uint64_t file_offset = 0;
    std::uint64_t address = 0;
};

/// File offsets in `code` that hold the bytes of an rdtsc or rdtscp.
std::vector<std::uint64_t> tsc_candidates(const CodeRegion& code);

/// Decides every candidate in `code`. `anchors` are addresses known to
/// start an instruction (sorted or not); the region's start is one too.
void find_tsc_sites(const CodeRegion& code, std::span<const std::uint64_t> anchors, TscSites& out);

/// Decides every candidate in the executable sections of an x86-64 ELF
/// file image, anchored at its function symbols (.symtab and .dynsym).
/// A file without section headers leaves every candidate unproven.
/// Throws std::invalid_argument if `elf` is not an x86-64 ELF image.
TscSites find_tsc_sites_in_elf(std::span<const std::uint8_t> elf);

/// The coordinator's cache: each file is decoded once per run, however
/// many processes map it.
class TscSiteCache {
public:
    /// Sites of the file at `path`, or nullptr if it cannot be read or is
    /// not an x86-64 ELF file.
    const TscSites* sites(const std::string& path);

private:
    using Key = std::tuple<dev_t, ino_t, std::int64_t, std::int64_t>;  // device, inode, mtime, size
    std::map<Key, TscSites> files_;
};

}  // namespace marionette
