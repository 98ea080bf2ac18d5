// The shim's one raw-syscall stub.
//
// Every syscall the shim itself makes goes through one `syscall`
// instruction. The seccomp filter allows exactly the address after it (the
// instruction_pointer the kernel reports), so the shim reaches the real
// kernel while the same call from anywhere else traps. The stub is copied to
// a page at a fixed address (stub_page_address) because the filter survives
// execve: the shim of an exec'd image must issue its syscalls from the
// address the inherited filter allows, wherever the loader put the .so.
// Returns the raw kernel result (-errno on failure) and never touches errno.
#pragma once

#include <cstdint>
#include <type_traits>

extern "C" {
long marionette_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
}

namespace marionette::shim {

using RawSyscall = long (*)(long, long, long, long, long, long, long);

/// Where the stub is copied to (chosen far from where Linux places mappings).
inline constexpr std::uintptr_t stub_page_address = 0x6d6172000000;

/// The stub in use: the in-library one until relocate_raw_stub() succeeds.
extern RawSyscall raw_entry;

/// Copies the stub to stub_page_address; false (stub stays in the .so) if
/// that address is taken.
bool relocate_raw_stub();

/// The instruction pointer the kernel reports for a syscall from the stub.
std::uintptr_t raw_syscall_return_address();

inline long raw_syscall(long nr, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0) {
    return raw_entry(nr, a1, a2, a3, a4, a5, a6);
}

/// Casts a pointer or integer to a syscall argument.
template <typename T>
long arg(T value) {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<long>(value);
    } else {
        return static_cast<long>(value);
    }
}

}  // namespace marionette::shim
