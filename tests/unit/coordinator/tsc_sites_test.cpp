// Which rdtsc/rdtscp byte patterns are instructions (coordinator/tsc_sites.hpp),
// on hand-assembled code and on a real binary whose sites are known.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "coordinator/tsc_sites.hpp"

using namespace marionette;

namespace {

TscSites decide(const std::vector<std::uint8_t>& code, std::vector<std::uint64_t> anchors = {}) {
    TscSites sites;
    find_tsc_sites(CodeRegion{code, 0x100, 0x4000}, anchors, sites);
    return sites;
}

}  // namespace

TEST_CASE("an rdtsc and an rdtscp on instruction boundaries are proven", "[tsc_sites]") {
    const std::vector<std::uint8_t> code = {
        0x55,              // push rbp
        0x0f, 0x31,        // rdtsc        (file offset 0x101)
        0x48, 0x89, 0xc3,  // mov rbx, rax
        0x0f, 0x01, 0xf9,  // rdtscp       (0x106)
        0xc3,              // ret
    };
    const TscSites sites = decide(code);
    CHECK(sites.candidates == std::vector<std::uint64_t>{0x101, 0x106});
    CHECK(sites.proven == std::vector<std::uint64_t>{0x101, 0x106});
    CHECK(sites.unproven.empty());
}

TEST_CASE("rdtsc bytes inside another instruction are neither proven nor unproven", "[tsc_sites]") {
    // mov eax, 0x00310f00: the immediate holds 0f 31.
    const std::vector<std::uint8_t> code = {0xb8, 0x00, 0x0f, 0x31, 0x00, 0xc3};
    const TscSites sites = decide(code);
    CHECK(sites.candidates == std::vector<std::uint64_t>{0x102});
    CHECK(sites.proven.empty());
    CHECK(sites.unproven.empty());
}

TEST_CASE("a candidate behind undecodable bytes is unproven unless an anchor follows them", "[tsc_sites]") {
    // 0x06 (push es) does not exist in 64-bit mode: the sweep cannot pass it.
    const std::vector<std::uint8_t> code = {0x06, 0x0f, 0x31, 0xc3};
    const TscSites unanchored = decide(code);
    CHECK(unanchored.proven.empty());
    CHECK(unanchored.unproven == std::vector<std::uint64_t>{0x101});
    // A function symbol starting at the rdtsc is an instruction boundary.
    const TscSites anchored = decide(code, {0x4001});
    CHECK(anchored.proven == std::vector<std::uint64_t>{0x101});
    CHECK(anchored.unproven.empty());
}

TEST_CASE("the sweep steps over AVX-512 that Capstone 4 cannot decode", "[tsc_sites]") {
    const std::vector<std::uint8_t> code = {
        0xc4, 0xe1, 0xfb, 0x92, 0xcb,              // kmovq k1, rbx (VEX)
        0x62, 0xf2, 0x76, 0x49, 0x26, 0xe1,        // vptestnmb k4{k1}, zmm1, zmm1 (EVEX)
        0x62, 0xf3, 0x5d, 0x4a, 0x3f, 0xc1, 0x04,  // vpcmpub k0{k2}, zmm4, zmm1, 4 (EVEX, imm8)
        0x8b, 0x14, 0x0f,                          // mov edx, [rdi+rcx]: ends in 0f...
        0x31, 0xc0,                                // xor eax, eax      ...31: not an rdtsc
        0x0f, 0x31,                                // rdtsc (0x117: 5 + 6 + 7 + 3 + 2 bytes in)
        0xc3,
    };
    const TscSites sites = decide(code);
    CHECK(sites.candidates == std::vector<std::uint64_t>{0x114, 0x117});
    CHECK(sites.proven == std::vector<std::uint64_t>{0x117});
    CHECK(sites.unproven.empty());
}

TEST_CASE("the rdtsc guest's sites are found through its symbols", "[tsc_sites]") {
    std::ifstream in(MARIONETTE_RDTSC_GUEST, std::ios::binary);
    REQUIRE(in);
    const std::vector<std::uint8_t> elf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const TscSites sites = find_tsc_sites_in_elf(elf);
    // Two inlined rdtsc and one rdtscp (as the --audit test counts them).
    CHECK(sites.proven.size() == 3);
    CHECK(sites.unproven.empty());
    for (const std::uint64_t offset : sites.proven) {
        REQUIRE(offset + 1 < elf.size());
        CHECK(elf[offset] == 0x0f);
        CHECK((elf[offset + 1] == 0x31 || elf[offset + 1] == 0x01));
    }
    TscSiteCache cache;
    const TscSites* cached = cache.sites(MARIONETTE_RDTSC_GUEST);
    REQUIRE(cached != nullptr);
    CHECK(cached->proven == sites.proven);
    CHECK(cache.sites(MARIONETTE_RDTSC_GUEST) == cached);  // decoded once
}

TEST_CASE("a file that is not an x86-64 ELF file proves nothing", "[tsc_sites]") {
    const std::vector<std::uint8_t> text = {'#', '!', '/', 'b', 'i', 'n', '/', 's', 'h', 0x0f, 0x31};
    CHECK_THROWS_AS(find_tsc_sites_in_elf(text), std::invalid_argument);
    TscSiteCache cache;
    CHECK(cache.sites("/nonexistent/file") == nullptr);
}
