#include "interpose/raw_syscall.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstdint>

// System V argument registers to syscall registers: nr in rax, arguments in
// rdi, rsi, rdx, r10, r8, r9 (the sixth comes from the stack). Position
// independent, so it can be copied byte for byte.
asm(R"(
    .text
    .globl marionette_raw_syscall
    .hidden marionette_raw_syscall
    .type marionette_raw_syscall, @function
marionette_raw_syscall:
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    movq %r8, %r10
    movq %r9, %r8
    movq 8(%rsp), %r9
    syscall
marionette_raw_syscall_return:
    ret
    .size marionette_raw_syscall, .-marionette_raw_syscall
    .hidden marionette_raw_syscall_return_offset
    .globl marionette_raw_syscall_return_offset
    .section .rodata
    .p2align 3
marionette_raw_syscall_return_offset:
    .quad marionette_raw_syscall_return - marionette_raw_syscall
    .text
)");

extern "C" const long marionette_raw_syscall_return_offset;

namespace marionette::shim {

RawSyscall raw_entry = &marionette_raw_syscall;

bool relocate_raw_stub() {
    if (reinterpret_cast<std::uintptr_t>(raw_entry) == stub_page_address) return true;  // done early
    constexpr long page_bytes = 4096;
    const long size = marionette_raw_syscall_return_offset + 1;  // through `ret`
    // mmap and mprotect are never trapped, so this works from any address.
    const long page = marionette_raw_syscall(SYS_mmap, static_cast<long>(stub_page_address), page_bytes,
                                             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (page != static_cast<long>(stub_page_address)) {
        if (page > 0) marionette_raw_syscall(SYS_munmap, page, page_bytes, 0, 0, 0, 0);
        return false;
    }
    // A plain loop, not memcpy: this may run while the loader is still
    // relocating (see early_init in shim.cpp), before libc can be called.
    auto* to = reinterpret_cast<volatile unsigned char*>(page);
    const auto* from = reinterpret_cast<const unsigned char*>(&marionette_raw_syscall);
    for (long i = 0; i < size; ++i) to[i] = from[i];
    marionette_raw_syscall(SYS_mprotect, page, page_bytes, PROT_READ | PROT_EXEC, 0, 0, 0);
    raw_entry = reinterpret_cast<RawSyscall>(page);
    return true;
}

std::uintptr_t raw_syscall_return_address() {
    return reinterpret_cast<std::uintptr_t>(raw_entry) + static_cast<std::uintptr_t>(marionette_raw_syscall_return_offset);
}

}  // namespace marionette::shim
