// Always-on invariant checks.
//
// MARIONETTE_ASSERT(condition, message) checks an invariant whose failure
// would silently corrupt a run (a disk crash that loses a write twice, a TCP
// buffer past its capacity, two processes running at once). It stays on in
// every build type: product builds drop NDEBUG on purpose, and `assert`
// would vanish in anyone's -DNDEBUG build. On failure it prints
//
//   marionette: assertion failed at sim/disk/disk_crash.cpp:201: <condition>: <message>
//
// to stderr and aborts (SIGABRT), which the launcher reports as Marionette
// itself failing, never as the program under test failing a check.
//
// `message` is a `const char*` (usually a literal), evaluated only on
// failure. The reporting function, detail::assert_failed, has two builds
// chosen by what is linked, so one macro serves every layer:
//   - sim/assert.cpp (in marionette_sim: launcher, coordinator, tests)
//     writes with stdio and calls std::abort;
//   - interpose/assert_raw.cpp (in libmarionette.so, whose copy of sim/ is
//     marionette_sim_preload and has no assert.cpp) formats on the stack and
//     writes and raises SIGABRT through the shim's raw syscall stub: no
//     allocator, no stdio, no libc call that would trap back into the shim.
// So sim/ code that also runs inside the preload .so (sim/kernel) may use
// the macro too.
#pragma once

namespace marionette::detail {

/// Reports a failed MARIONETTE_ASSERT and ends the process with SIGABRT.
[[noreturn]] void assert_failed(const char* file, int line, const char* condition, const char* message) noexcept;

}  // namespace marionette::detail

/// Checks `condition` in every build; on failure reports file, line,
/// condition and `message` on stderr and aborts.
#define MARIONETTE_ASSERT(condition, message)                                                  \
    do {                                                                                       \
        if (!(condition)) [[unlikely]] {                                                       \
            ::marionette::detail::assert_failed(__FILE__, __LINE__, #condition, (message));    \
        }                                                                                      \
    } while (false)
