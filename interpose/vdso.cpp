// Patches the vDSO's time entry points with jumps into the shim.
//
// glibc reads the clock through function pointers into the vDSO that it
// resolved before any preloaded code ran, so wrapping the libc symbols
// alone misses libc-internal time reads (and programs that look up the vDSO
// themselves). Each entry point is overwritten with `movabs $hook, %rax;
// jmp *%rax` (12 bytes); the vDSO mapping is copy-on-write per process.
#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

// The hooks return the raw kernel convention, as the vDSO functions do.
long vdso_clock_gettime(long clock_id, long timespec_address) {
    return invoke(SYS_clock_gettime, clock_id, timespec_address);
}
long vdso_clock_getres(long clock_id, long timespec_address) {
    return invoke(SYS_clock_getres, clock_id, timespec_address);
}
long vdso_gettimeofday(long timeval_address, long timezone_address) {
    return invoke(SYS_gettimeofday, timeval_address, timezone_address);
}
long vdso_time(long time_address) { return invoke(SYS_time, time_address); }
long vdso_getcpu(long cpu_address, long node_address, long cache) {
    return invoke(SYS_getcpu, cpu_address, node_address, cache);
}

struct Hook {
    std::string_view symbol;
    void* target;
};

const Hook hooks[] = {
    {"__vdso_clock_gettime", reinterpret_cast<void*>(&vdso_clock_gettime)},
    {"__vdso_clock_getres", reinterpret_cast<void*>(&vdso_clock_getres)},
    {"__vdso_gettimeofday", reinterpret_cast<void*>(&vdso_gettimeofday)},
    {"__vdso_time", reinterpret_cast<void*>(&vdso_time)},
    {"__vdso_getcpu", reinterpret_cast<void*>(&vdso_getcpu)},
};

constexpr std::size_t jump_bytes = 12;

bool write_jump(unsigned char* at, void* target) {
    const auto page_size = std::uintptr_t{4096};
    const auto start = reinterpret_cast<std::uintptr_t>(at) & ~(page_size - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(at) + jump_bytes + page_size - 1) & ~(page_size - 1);
    if (raw_syscall(SYS_mprotect, static_cast<long>(start), static_cast<long>(end - start), PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        return false;
    }
    const auto address = reinterpret_cast<std::uint64_t>(target);
    at[0] = 0x48;  // movabs $imm64, %rax
    at[1] = 0xb8;
    std::memcpy(at + 2, &address, sizeof address);
    at[10] = 0xff;  // jmp *%rax
    at[11] = 0xe0;
    raw_syscall(SYS_mprotect, static_cast<long>(start), static_cast<long>(end - start), PROT_READ | PROT_EXEC);
    return true;
}

}  // namespace

void patch_vdso() {
    const auto base = static_cast<std::uintptr_t>(getauxval(AT_SYSINFO_EHDR));
    if (base == 0) return;
    const auto* header = reinterpret_cast<const Elf64_Ehdr*>(base);
    const auto* programs = reinterpret_cast<const Elf64_Phdr*>(base + header->e_phoff);
    std::uintptr_t bias = base;
    for (int i = 0; i < header->e_phnum; ++i) {
        if (programs[i].p_type == PT_LOAD) {
            bias = base - programs[i].p_vaddr;
            break;
        }
    }
    // The whole vDSO image is mapped, section headers included.
    const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + header->e_shoff);
    for (int i = 0; i < header->e_shnum; ++i) {
        if (sections[i].sh_type != SHT_DYNSYM) continue;
        const auto* symbols = reinterpret_cast<const Elf64_Sym*>(base + sections[i].sh_offset);
        const char* names = reinterpret_cast<const char*>(base + sections[sections[i].sh_link].sh_offset);
        const std::size_t count = sections[i].sh_size / sizeof(Elf64_Sym);
        for (std::size_t s = 0; s < count; ++s) {
            if (ELF64_ST_TYPE(symbols[s].st_info) != STT_FUNC || symbols[s].st_value == 0) continue;
            const std::string_view name = names + symbols[s].st_name;
            for (const Hook& hook : hooks) {
                if (name != hook.symbol) continue;
                if (symbols[s].st_size < jump_bytes) {
                    warn("vDSO function too small to patch; libc-internal time reads may escape");
                    continue;
                }
                if (!write_jump(reinterpret_cast<unsigned char*>(bias + symbols[s].st_value), hook.target)) {
                    warn("cannot make the vDSO writable; libc-internal time reads escape");
                }
            }
        }
    }
}

}  // namespace marionette::shim
