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

#include <fcntl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

#include "interpose_filter.inc"

constexpr std::size_t prefix_length = 5;
constexpr std::size_t generated_length = sizeof(generated_filter) / sizeof(generated_filter[0]);
sock_filter program[prefix_length + generated_length];

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
    // Jumps are relative: a miss on either half skips to the generated part.
    program[0] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset);
    program[1] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(ip), 0, 3);
    program[2] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_offset + 4);
    program[3] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(ip >> 32), 0, 1);
    program[4] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    for (std::size_t i = 0; i < generated_length; ++i) program[prefix_length + i] = generated_filter[i];
    sock_fprog fprog{static_cast<unsigned short>(prefix_length + generated_length), program};
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
