// Redirects the vDSO's time entry points into the shim.
//
// glibc reads the clock through pointers into the vDSO that it resolved
// before any preloaded code ran, so wrapping the libc symbols alone misses
// libc-internal time reads (timespec_get, stdio, ...). Two ways, in order:
// 1. overwrite each entry point with `movabs $hook, %rax; jmp *%rax`
//    (12 bytes; the vDSO mapping is copy-on-write per process);
// 2. where the vDSO is sealed (Linux 6.15+ with
//    CONFIG_MSEAL_SYSTEM_MAPPINGS: mprotect fails with EPERM, as on this
//    project's machines), rewrite the pointers glibc cached instead: they
//    live in the loader's _rtld_global_ro, read-only after relocation but
//    not sealed in glibc 2.36. Every aligned word there equal to a vDSO
//    entry point is replaced by the hook's address.
// Code that looks up the vDSO itself (Go's runtime) is only covered by 1.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
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
// Newer glibc first asks the vDSO getrandom for its state size
// (opaque_len == ~0); refusing makes it use the syscall, which is served.
long vdso_getrandom(long buffer, long length, long flags, long, long opaque_length) {
    if (opaque_length == -1) return -ENOSYS;
    return invoke(SYS_getrandom, buffer, length, flags);
}

struct Hook {
    std::string_view symbol;
    void* target;
    std::uintptr_t entry;  // filled from the vDSO's symbol table
};

constexpr std::size_t jump_bytes = 12;
constexpr std::uintptr_t page_bytes = 4096;

bool write_jump(std::uintptr_t entry, void* target) {
    const std::uintptr_t start = entry & ~(page_bytes - 1);
    const std::uintptr_t end = (entry + jump_bytes + page_bytes - 1) & ~(page_bytes - 1);
    const auto length = static_cast<long>(end - start);
    if (raw_syscall(SYS_mprotect, static_cast<long>(start), length, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return false;
    auto* at = reinterpret_cast<unsigned char*>(entry);
    const auto address = reinterpret_cast<std::uint64_t>(target);
    at[0] = 0x48;  // movabs $imm64, %rax
    at[1] = 0xb8;
    std::memcpy(at + 2, &address, sizeof address);
    at[10] = 0xff;  // jmp *%rax
    at[11] = 0xe0;
    raw_syscall(SYS_mprotect, static_cast<long>(start), length, PROT_READ | PROT_EXEC);
    return true;
}

/// Fills each hook's entry from the vDSO's dynamic symbols (the whole image
/// is mapped, section headers included).
void find_entries(Hook* hooks, std::size_t count) {
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
    const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + header->e_shoff);
    for (int i = 0; i < header->e_shnum; ++i) {
        if (sections[i].sh_type != SHT_DYNSYM) continue;
        const auto* symbols = reinterpret_cast<const Elf64_Sym*>(base + sections[i].sh_offset);
        const char* names = reinterpret_cast<const char*>(base + sections[sections[i].sh_link].sh_offset);
        for (std::size_t s = 0; s < sections[i].sh_size / sizeof(Elf64_Sym); ++s) {
            if (ELF64_ST_TYPE(symbols[s].st_info) != STT_FUNC || symbols[s].st_value == 0) continue;
            if (symbols[s].st_size < jump_bytes) continue;
            const std::string_view name = names + symbols[s].st_name;
            for (std::size_t h = 0; h < count; ++h) {
                if (name == hooks[h].symbol) hooks[h].entry = bias + symbols[s].st_value;
            }
        }
    }
}

/// Rewrites glibc's cached vDSO pointers; returns how many were replaced.
int redirect_cached_pointers(const Hook* hooks, std::size_t count) {
    void* global = libc_dlsym(RTLD_DEFAULT, "_rtld_global_ro");
    Dl_info info;
    void* symbol_address = nullptr;
    if (global == nullptr || dladdr1(global, &info, &symbol_address, RTLD_DL_SYMENT) == 0 || symbol_address == nullptr) {
        return 0;
    }
    const auto* symbol = static_cast<const Elf64_Sym*>(symbol_address);
    const auto start = reinterpret_cast<std::uintptr_t>(global);
    const std::uintptr_t end = start + symbol->st_size;
    const std::uintptr_t page_start = start & ~(page_bytes - 1);
    const auto length = static_cast<long>(((end + page_bytes - 1) & ~(page_bytes - 1)) - page_start);
    if (raw_syscall(SYS_mprotect, static_cast<long>(page_start), length, PROT_READ | PROT_WRITE) != 0) return 0;
    int replaced = 0;
    for (std::uintptr_t at = (start + 7) & ~std::uintptr_t{7}; at + 8 <= end; at += 8) {
        auto* slot = reinterpret_cast<std::uintptr_t*>(at);
        for (std::size_t h = 0; h < count; ++h) {
            if (hooks[h].entry != 0 && *slot == hooks[h].entry) {
                *slot = reinterpret_cast<std::uintptr_t>(hooks[h].target);
                ++replaced;
            }
        }
    }
    raw_syscall(SYS_mprotect, static_cast<long>(page_start), length, PROT_READ);
    return replaced;
}

}  // namespace

void patch_vdso() {
    // A local array: a namespace-scope one holding function addresses is
    // initialised dynamically, i.e. after this runs from the constructor.
    Hook hooks[] = {
        {"__vdso_clock_gettime", reinterpret_cast<void*>(&vdso_clock_gettime), 0},
        {"__vdso_clock_getres", reinterpret_cast<void*>(&vdso_clock_getres), 0},
        {"__vdso_gettimeofday", reinterpret_cast<void*>(&vdso_gettimeofday), 0},
        {"__vdso_time", reinterpret_cast<void*>(&vdso_time), 0},
        {"__vdso_getcpu", reinterpret_cast<void*>(&vdso_getcpu), 0},
        {"__vdso_getrandom", reinterpret_cast<void*>(&vdso_getrandom), 0},
    };
    constexpr std::size_t count = sizeof hooks / sizeof hooks[0];
    find_entries(hooks, count);
    bool all_written = true;
    for (const Hook& hook : hooks) {
        if (hook.entry != 0) all_written = write_jump(hook.entry, hook.target) && all_written;
    }
    if (!all_written && redirect_cached_pointers(hooks, count) == 0) {
        warn("cannot patch the vDSO nor glibc's pointers to it; libc-internal time reads escape");
    }
}

}  // namespace marionette::shim
