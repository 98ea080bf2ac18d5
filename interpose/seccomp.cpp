// Installs the seccomp safety net: the BPF program libseccomp generated at
// build time from syscalls.def (interpose_filter.inc), whose traps are
// turned into a check that allows the one instruction address of the
// shim's raw stub (and the loader's text).
//
// Why an instruction-pointer check: libseccomp compares arguments only
// (libseccomp issue 113). An argument cookie would need a spare argument in
// every syscall; Syscall User Dispatch adds ~45 ns to every syscall of the
// program and offers no argument filtering. Two 32-bit compares on
// seccomp_data.instruction_pointer (rr and Reverie allow exactly "stub + 2",
// the address after the 2-byte syscall instruction) cost ~3 ns per syscall.
//
// Why the check comes after the syscall number, not before it: the kernel
// skips the filter altogether for a syscall number whose verdict it can
// prove constant (the seccomp action cache, Linux 5.11+), and it can prove
// that only for a program that reads nothing but the number and the
// architecture on the way to ALLOW. With the instruction pointer read
// first, every syscall of the program ran the whole filter: the passthrough
// calls (mmap, futex, ...) and the rt_sigreturn that ends every trap.
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/personality.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "interpose/files.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

#include "interpose_filter.inc"

constexpr std::size_t exemption_length = 11;
constexpr std::size_t generated_length = sizeof(generated_filter) / sizeof(generated_filter[0]);
sock_filter program[generated_length + exemption_length];

/// The loader's executable range, [start, end), if it can be exempted.
struct Range {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
};

/// The file calls are trapped only if the dynamic loader can be exempted:
/// the filter survives execve, and the loader of the next image opens,
/// reads and maps its libraries before this shim exists there to answer a
/// trap. With ASLR off (the launcher turns it off, and the setting is
/// inherited) every image's loader lands at the same address, so its text
/// range, measured here, is valid in children too. Loader calls therefore
/// always reach the real kernel: libraries never live on a simulated disk.
bool loader_range(Range& range) {
    const long persona = raw_syscall(SYS_personality, 0xffffffff);
    if (persona < 0 || (persona & ADDR_NO_RANDOMIZE) == 0) return false;
    const auto base = static_cast<std::uint64_t>(getauxval(AT_BASE));
    if (base == 0) return false;
    const auto* header = reinterpret_cast<const Elf64_Ehdr*>(base);
    const auto* phdrs = reinterpret_cast<const Elf64_Phdr*>(base + header->e_phoff);
    for (int i = 0; i < header->e_phnum; ++i) {
        if (phdrs[i].p_type != PT_LOAD || (phdrs[i].p_flags & PF_X) == 0) continue;
        const std::uint64_t start = base + phdrs[i].p_vaddr;
        const std::uint64_t end = start + phdrs[i].p_memsz;
        if (range.end == 0 || start < range.start) range.start = start;
        if (end > range.end) range.end = end;
    }
    // Two 32-bit compares on the high word: the range must not cross 4 GiB.
    return range.end != 0 && (range.start >> 32) == ((range.end - 1) >> 32);
}

/// Seccomp_filters from /proc/self/status, or -1 if unreadable.
long installed_filter_count() {
    char status[4096];
    const long fd = raw_syscall(SYS_openat, AT_FDCWD, arg("/proc/self/status"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    const long size = raw_syscall(SYS_read, fd, arg(status), sizeof status - 1);
    raw_syscall(SYS_close, fd);
    if (size <= 0) return -1;
    status[size] = '\0';
    const char* field = std::strstr(status, "Seccomp_filters:");
    if (field == nullptr) return -1;
    field += std::strlen("Seccomp_filters:");
    while (*field == ' ' || *field == '\t') ++field;
    long count = 0;
    while (*field >= '0' && *field <= '9') count = count * 10 + (*field++ - '0');
    return count;
}

bool filter_inherited() {
    // The launcher records how many filters it runs under (a container's
    // own, say); more than that means an ancestor shim installed ours
    // before an execve, and it still applies: stacking another copy would
    // only add cost.
    const char* base_text = std::getenv("MARIONETTE_BASE_FILTERS");
    if (base_text == nullptr) return false;
    const long base = std::strtol(base_text, nullptr, 10);
    const long count = installed_filter_count();
    return count > base;
}

/// Writes into `program` the generated program with every trap replaced by a
/// jump to the exemption block after it, and the block; returns the length.
/// The block allows a syscall from the stub's exact return address or from
/// the loader's text [start, end) (an empty range (0, 0) matches nothing),
/// and traps everything else, as the replaced instruction did. Verdicts
/// are those of the generated program with the exemptions put first; only
/// the order of the checks changed.
std::size_t build_program(const sock_filter* generated, std::size_t length, std::uint64_t ip, const Range& loader) {
    constexpr std::uint32_t ip_offset = offsetof(seccomp_data, instruction_pointer);
    const auto lo = [](std::uint64_t v) { return static_cast<std::uint32_t>(v); };
    const auto hi = [](std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); };
    for (std::size_t i = 0; i < length; ++i) {
        program[i] = generated[i];
        if (generated[i].code == (BPF_RET | BPF_K) && generated[i].k == SECCOMP_RET_TRAP) {
            // Jumps are relative to the next instruction, and only forward.
            program[i] = BPF_JUMP(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(length - (i + 1)), 0, 0);
        }
    }
    sock_filter* block = program + length;
    // 0-3: the stub's exact return address -> 9 (allow). 4-8: the loader's
    // text -> 9. Everything else -> 10 (trap).
    block[0] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset);
    block[1] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo(ip), 0, 2);
    block[2] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset + 4);
    block[3] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi(ip), 5, 0);
    block[4] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset + 4);
    block[5] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi(loader.start), 0, 4);
    block[6] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset);
    block[7] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo(loader.start), 0, 2);
    block[8] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo(loader.end), 1, 0);
    block[9] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    block[10] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    return length + exemption_length;
}

bool trapping_scheduled = false;

}  // namespace

bool scheduled_calls_trapped() { return trapping_scheduled; }

void install_seccomp_filter() {
    if (filter_inherited()) {
        // The ancestor chose with the same coordinator and the same
        // (inherited) ASLR setting.
        Range loader;
        trapping_scheduled = files_active() && loader_range(loader);
        return;
    }
    Range loader;
    const bool trap_files = files_active() && loader_range(loader);
    const sock_filter* generated = trap_files ? generated_filter : generated_filter_without_files;
    const std::size_t length = trap_files ? generated_length
                                          : sizeof(generated_filter_without_files) / sizeof(generated_filter_without_files[0]);
    const std::size_t total = build_program(generated, length, raw_syscall_return_address(), loader);
    sock_fprog fprog{static_cast<unsigned short>(total), program};
    // Required without CAP_SYS_ADMIN; it also stops setuid binaries from
    // gaining privileges under Marionette (docs/interposer.md).
    raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    // SPEC_ALLOW: without it the kernel enables the speculative store bypass
    // mitigation for the whole process (~30% slower per Shadow).
    const long result = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, arg(&fprog));
    trapping_scheduled = result == 0 && trap_files;
    if (result != 0) {
        warn("seccomp filter not installed; raw syscalls and libc internals escape the simulation");
        Enter enter;
        if (enter.entered()) enter.kernel().emit_escape("safety_net", "seccomp_unavailable", -result);
    }
}

}  // namespace marionette::shim
