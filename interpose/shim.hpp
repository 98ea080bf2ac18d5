// The preload shim's process-wide state: configuration, the simulated
// kernel, the per-thread reentrancy guard and the trace channel.
//
// Rules for everything in interpose/ (rr's syscallbuf rules): no program
// malloc, no stdio, no locks the program may hold, errno preserved, every
// syscall through the raw stub. The shim is thin; semantics live in
// sim/kernel/. Configuration comes from the environment set by
// marionette-launch (docs/interposer.md lists the variables).
#pragma once

#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <string_view>

#include "sim/kernel/kernel.hpp"

#define MARIONETTE_EXPORT extern "C" __attribute__((visibility("default")))

namespace marionette::shim {

/// Features that can be switched off by environment (benchmarks, debugging).
struct Features {
    bool seccomp = true;
    bool vdso = true;
    bool tsc = true;         ///< the kernel's rdtsc trap (MARIONETTE_TSC=trap)
    bool tsc_patch = false;  ///< rdtsc rewritten (MARIONETTE_TSC=patch, tsc_patch.cpp)
};

/// Initialises the shim once (constructor, or the first intercepted call if
/// another library's constructor calls in earlier).
void ensure_init();
bool initialised();
const Features& features();

/// The real pid (for kill translation and thread identification).
int real_pid();
/// The real tid of the calling thread.
int real_tid();
/// True on the process's main thread (cached per thread; reset in a
/// forked child, whose only thread is its main one).
bool main_thread();
/// True if the calling thread is scheduled: the main thread, or a thread
/// registered with the scheduler (threads.cpp).
bool scheduled_thread();
void reset_main_thread();

/// libc's dlsym (the shim exports its own, interpose/dlsym.cpp): the
/// shim's lookups call this one.
using Dlsym = void* (*)(void*, const char*);
Dlsym libc_dlsym_function();
void* libc_dlsym(void* handle, const char* name);

/// The next definition of symbol `name` (libc's, for a wrapper that
/// shadows it), looked up once and cached in `cache`.
template <typename Function>
Function next_symbol(std::atomic<Function>& cache, const char* name) {
    Function function = cache.load(std::memory_order_acquire);
    if (function == nullptr) {
        function = reinterpret_cast<Function>(libc_dlsym(RTLD_NEXT, name));
        cache.store(function, std::memory_order_release);
    }
    return function;
}

/// Writes a finished trace line to the launcher (no-op without a trace fd).
void trace_write(std::string_view line);
/// Writes a message to the real stderr, prefixed `marionette: `.
void warn(std::string_view message);

/// Signals blocked inside the shim come back when the thread leaves it:
/// `mask` (the mask before the first deferral) is restored by the Enter
/// that is outermost, after the shim's lock is released; on the seccomp
/// path the SIGSYS handler's return restores the interrupted mask instead.
void defer_signal_mask_restore(std::uint64_t mask);
/// The trap path: the pending restore is dropped (sigreturn does it); true
/// if there was one, i.e. the handler must return through rt_sigreturn.
bool drop_signal_mask_restore();
/// Outside any Enter (initialisation, the child right after fork): restore now.
void restore_signal_mask_now();

/// While alive, the calling thread does not hold the shim's lock if it did
/// (`release` false: does nothing). A thread parked in the scheduler holds
/// nothing another scheduled thread of the process needs.
class LockReleased {
public:
    explicit LockReleased(bool release);
    ~LockReleased();
    LockReleased(const LockReleased&) = delete;
    LockReleased& operator=(const LockReleased&) = delete;

private:
    bool released_;
};

/// How many times the calling thread entered the shim (a thread that does
/// not for a whole CPU-time tick is spinning: threads.cpp preempts it).
std::uint32_t shim_entries();

/// Holds the per-thread reentrancy flag and the kernel lock while alive.
/// If the thread is already inside the shim (a signal arrived mid-call, or
/// the shim's own code reached a wrapper), `entered()` is false and the
/// caller must go straight to the real kernel.
class Enter {
public:
    Enter();
    ~Enter();
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;

    bool entered() const { return entered_; }
    Kernel& kernel();

private:
    bool entered_;
};

}  // namespace marionette::shim
