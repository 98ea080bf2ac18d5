// `marionette-launch --audit PROGRAM`: a static scan for determinism escapes.
//
// Disassembles (Capstone, linear sweep) the executable sections of the
// program and of the shared libraries the loader would map for it, counting
// the instructions Marionette cannot or does not intercept by symbol:
// rdtsc/rdtscp (trapped and emulated), rdrand/rdseed (cannot be hidden on a
// machine without CPUID faulting), cpuid, and raw `syscall` sites outside
// libc (reached only by the seccomp safety net). Prints a plain-language
// verdict. Libraries opened later with dlopen are not seen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace marionette {

/// Instruction counts of one ELF file.
struct AuditCounts {
    std::uint64_t syscall = 0;
    std::uint64_t rdtsc = 0;
    std::uint64_t rdtscp = 0;
    std::uint64_t rdrand = 0;
    std::uint64_t rdseed = 0;
    std::uint64_t cpuid = 0;
    std::uint64_t instructions = 0;
};

/// One scanned file.
struct AuditFile {
    std::string path;
    bool is_libc = false;  ///< glibc itself or the dynamic loader
    AuditCounts counts;
};

/// Scans the executable sections of one 64-bit x86 ELF file. Throws
/// std::runtime_error if it cannot be read or is not such a file.
AuditCounts scan_elf_file(const std::string& path);

/// Scans x86-64 machine code (exposed for tests).
AuditCounts scan_code(const std::uint8_t* code, std::size_t size, std::uint64_t address);

/// The program (looked up in PATH) followed by the libraries the loader maps
/// for it (`ld.so --list`).
std::vector<std::string> program_and_libraries(const std::string& program);

/// True if this CPU/kernel supports CPUID faulting (ARCH_SET_CPUID).
bool cpuid_faulting_available();

/// Runs the audit and prints the report to stdout; returns 0, or 2 if the
/// program cannot be found or read.
int run_audit(const std::string& program);

}  // namespace marionette
