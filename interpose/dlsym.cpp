// dlsym interposed for one name: code that looks pthread_create up at run
// time (jemalloc's background thread does dlsym(RTLD_NEXT,
// "pthread_create")) gets the shim's wrapper, so its threads are scheduled
// like every other. Every other lookup goes to libc's dlsym by a tail jump
// from the entry stub below: libc sees the program's own return address,
// and RTLD_NEXT keeps meaning "after the caller's object".

#include <dlfcn.h>

#include <atomic>
#include <cstring>

#include <pthread.h>

#include "interpose/shim.hpp"

namespace marionette::shim {
namespace {

std::atomic<Dlsym> resolved{nullptr};

Dlsym resolve_libc_dlsym() {
    Dlsym function = resolved.load(std::memory_order_acquire);
    if (function != nullptr) return function;
    // Called from the shim: RTLD_NEXT is the object after it (libc).
    for (const char* version : {"GLIBC_2.34", "GLIBC_2.2.5"}) {
        function = reinterpret_cast<Dlsym>(dlvsym(RTLD_NEXT, "dlsym", version));
        if (function != nullptr) break;
    }
    resolved.store(function, std::memory_order_release);
    return function;
}

}  // namespace

Dlsym libc_dlsym_function() { return resolve_libc_dlsym(); }

void* libc_dlsym(void* handle, const char* name) {
    const Dlsym function = resolve_libc_dlsym();
    return function == nullptr ? nullptr : function(handle, name);
}

}  // namespace marionette::shim

/// libc's dlsym, for the entry stub's tail jump (set before each jump).
extern "C" {
__attribute__((visibility("hidden"), used)) marionette::shim::Dlsym marionette_libc_dlsym = nullptr;
}

/// What the shim answers itself (nullptr: libc's dlsym answers).
extern "C" __attribute__((visibility("hidden"), used)) void* marionette_dlsym_answer(void*, const char* name) {
    marionette_libc_dlsym = marionette::shim::libc_dlsym_function();
    if (name != nullptr && std::strcmp(name, "pthread_create") == 0) return reinterpret_cast<void*>(&pthread_create);
    return nullptr;
}

// dlsym(handle, name): ask the shim, then either return its answer or jump
// to libc's dlsym with the caller's arguments and return address intact.
// rdi and rsi are saved around the call; the extra 8 bytes keep the stack
// 16-byte aligned for it. No libc dlsym at all: the lookup fails (NULL).
asm(R"(
    .text
    .globl dlsym
    .type dlsym, @function
dlsym:
    .cfi_startproc
    endbr64
    push %rdi
    .cfi_adjust_cfa_offset 8
    push %rsi
    .cfi_adjust_cfa_offset 8
    sub $8, %rsp
    .cfi_adjust_cfa_offset 8
    call marionette_dlsym_answer
    add $8, %rsp
    .cfi_adjust_cfa_offset -8
    pop %rsi
    .cfi_adjust_cfa_offset -8
    pop %rdi
    .cfi_adjust_cfa_offset -8
    test %rax, %rax
    jnz 1f
    mov marionette_libc_dlsym(%rip), %rax
    test %rax, %rax
    jz 1f
    jmp *%rax
1:
    ret
    .cfi_endproc
    .size dlsym, .-dlsym
)");
