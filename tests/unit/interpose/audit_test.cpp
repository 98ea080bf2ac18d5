// The audit's instruction scanner on hand-assembled code.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "launcher/audit.hpp"

using namespace marionette;

TEST_CASE("the scanner counts the escape instructions", "[audit]") {
    const std::vector<std::uint8_t> code = {
        0x0f, 0x31,              // rdtsc
        0x0f, 0x01, 0xf9,        // rdtscp
        0x48, 0x0f, 0xc7, 0xf0,  // rdrand rax
        0x48, 0x0f, 0xc7, 0xf8,  // rdseed rax
        0x0f, 0xa2,              // cpuid
        0x0f, 0x05,              // syscall
        0x90,                    // nop
        0xc3,                    // ret
    };
    const AuditCounts counts = scan_code(code.data(), code.size(), 0x1000);
    CHECK(counts.rdtsc == 1);
    CHECK(counts.rdtscp == 1);
    CHECK(counts.rdrand == 1);
    CHECK(counts.rdseed == 1);
    CHECK(counts.cpuid == 1);
    CHECK(counts.syscall == 1);
    CHECK(counts.instructions == 8);
}

TEST_CASE("bytes inside other instructions are not counted", "[audit]") {
    // mov eax, 0x00310f00: contains 0f 31 as an immediate, not an rdtsc.
    const std::vector<std::uint8_t> code = {0xb8, 0x00, 0x0f, 0x31, 0x00, 0xc3};
    const AuditCounts counts = scan_code(code.data(), code.size(), 0);
    CHECK(counts.rdtsc == 0);
    CHECK(counts.instructions == 2);
}
