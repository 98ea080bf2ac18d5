// Internal interfaces between the parts of the preload shim: the dispatch
// table shared by the symbol wrappers and the seccomp trap, and the
// installers run once at start-up (signals, rdtsc trap, vDSO, seccomp).
#pragma once

#include <ucontext.h>

#include <cstdint>

namespace marionette::shim {

/// One syscall as it reaches the shim, from either entry path.
struct SyscallArgs {
    long nr = 0;
    long a[6] = {};
    /// The interrupted context when the call came through the seccomp trap
    /// (rt_sigprocmask must then edit the mask sigreturn restores); null on
    /// the symbol-wrapper path.
    ucontext_t* trap_context = nullptr;
};

/// Runs syscall `args.nr` through the handler table; returns the raw kernel
/// convention (-errno on failure). The caller holds an Enter (except for
/// execve/execveat, whose handlers touch no shared state).
long dispatch(SyscallArgs& args);

/// The shim's path for every emulated call: initialise, enter, dispatch;
/// nested calls go straight to the real kernel.
long invoke(long nr, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0);

/// Converts a raw result to the libc convention (errno, -1).
long libc_result(long raw);

/// Name of syscall `nr` ("" if unknown).
const char* syscall_name(long nr);

void install_signal_handlers();
/// Copies LD_PRELOAD and MARIONETTE_* so execve can put them back.
void save_simulation_env();
void enable_tsc_trap();
void patch_vdso();
void install_seccomp_filter();
/// True if the filter traps the `file` and `scheduled` calls (futex and
/// exit among them), so threads can be scheduled.
bool scheduled_calls_trapped();

/// True if `signal` is one the shim owns (SIGSYS, SIGSEGV, SIGILL, and
/// the preemption tick).
bool shim_owns_signal(long signal);
/// The signal of a scheduled thread's CPU-time tick (rr uses it for its
/// time slices too: nothing else does).
inline constexpr int preempt_signal = 16;  // SIGSTKFLT
/// The tick arrived (signals.cpp's handler; threads.cpp).
void preempt_tick();
/// Performs a trapped clone or clone3 (clone.cpp): a new thread resumes
/// the program where the kernel would have started it, scheduled if the
/// shim can make that safe (`entered`: the caller holds the shim).
/// Returns the syscall's result for the creator.
long clone_from_trap(SyscallArgs& args, bool entered);

}  // namespace marionette::shim

namespace marionette {
class Kernel;
}

namespace marionette::shim {
/// rdtsc rewriting (tsc_patch.cpp), at start-up: hooks the dynamic
/// loader's breakpoint function and searches every executable mapping.
void tsc_patch_init(Kernel& kernel);
/// For the SIGILL handler: if `rip` is the hooked loader function, searches
/// the mappings a dlopen added, then performs the function's `ret` on
/// `return_to`/`stack` (the context's rip and rsp) and returns true.
bool tsc_patch_loader_event(std::uintptr_t rip, std::uintptr_t& return_to, std::uintptr_t& stack);
/// rdtsc rewriting: searches the executable mappings not
/// searched yet and rewrites their proven rdtsc/rdtscp. The caller holds an
/// Enter (or is the initialisation).
void tsc_patch_scan(Kernel& kernel);
/// Length of the rdtsc (0f 31) or rdtscp (0f 01 f9) at `code`, else 0
/// (the SIGSEGV trap and the rewriting both decode exactly these two).
inline int tsc_instruction_length(const unsigned char* code) {
    if (code[0] != 0x0f) return 0;
    if (code[1] == 0x31) return 2;
    if (code[1] == 0x01 && code[2] == 0xf9) return 3;
    return 0;
}
/// The length (2 or 3) of the rewritten rdtsc/rdtscp at `address`, 0 if
/// none was rewritten there. Lock-free: the SIGILL handler calls it.
int tsc_patched_site(std::uintptr_t address);
/// After the program's own mmap/mprotect: searches again if `prot` makes
/// memory executable and rdtsc is being rewritten.
void tsc_patch_after_mapping(int prot);
/// The simulated kernel; only valid while the caller holds an Enter.
Kernel& locked_kernel();
}  // namespace marionette::shim
