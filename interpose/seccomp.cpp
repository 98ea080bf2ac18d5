// Installs the seccomp safety net: the BPF program libseccomp generated at
// build time from syscalls.def (interpose_filter.inc), behind a raw-BPF
// prefix that allows the one instruction address of the shim's raw stub.
//
// Why an instruction-pointer prefix: libseccomp compares arguments only
// (libseccomp issue 113). An argument cookie would need a spare argument in
// every syscall; Syscall User Dispatch adds ~45 ns to every syscall of the
// program and offers no argument filtering. Two 32-bit compares on
// seccomp_data.instruction_pointer (rr and Reverie allow exactly "stub + 2",
// the address after the 2-byte syscall instruction) cost ~3 ns per syscall.
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

constexpr std::size_t prefix_length = 10;
constexpr std::size_t generated_length = sizeof(generated_filter) / sizeof(generated_filter[0]);
sock_filter program[prefix_length + generated_length];

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

}  // namespace

void install_seccomp_filter() {
    if (filter_inherited()) return;
    const std::uint64_t ip = raw_syscall_return_address();
    constexpr std::uint32_t ip_offset = offsetof(seccomp_data, instruction_pointer);
    Range loader;
    const bool trap_files = files_active() && loader_range(loader);
    const sock_filter* generated = trap_files ? generated_filter : generated_filter_without_files;
    const std::size_t length = trap_files ? generated_length
                                          : sizeof(generated_filter_without_files) / sizeof(generated_filter_without_files[0]);
    // Jumps are relative to the next instruction. 0-3: the stub's exact
    // return address -> 9 (allow). 4-8: the loader's text [start, end) -> 9;
    // an empty range (0, 0) matches nothing. Everything else -> 10, the
    // generated program.
    const auto lo = [](std::uint64_t v) { return static_cast<std::uint32_t>(v); };
    const auto hi = [](std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); };
    program[0] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset);
    program[1] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo(ip), 0, 2);
    program[2] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset + 4);
    program[3] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi(ip), 5, 0);
    program[4] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset + 4);
    program[5] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi(loader.start), 0, 4);
    program[6] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset);
    program[7] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo(loader.start), 0, 2);
    program[8] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo(loader.end), 1, 0);
    program[9] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    for (std::size_t i = 0; i < length; ++i) program[prefix_length + i] = generated[i];
    sock_fprog fprog{static_cast<unsigned short>(prefix_length + length), program};
    // Required without CAP_SYS_ADMIN; it also stops setuid binaries from
    // gaining privileges under Marionette (docs/interposer.md).
    raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    // SPEC_ALLOW: without it the kernel enables the speculative store bypass
    // mitigation for the whole process (~30% slower per Shadow).
    const long result = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, arg(&fprog));
    if (result != 0) {
        warn("seccomp filter not installed; raw syscalls and libc internals escape the simulation");
        Enter enter;
        if (enter.entered()) enter.kernel().emit_escape("safety_net", "seccomp_unavailable", -result);
    }
}

}  // namespace marionette::shim
