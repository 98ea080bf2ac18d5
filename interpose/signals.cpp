// The shim's signal handling: the SIGSYS handler behind the seccomp trap,
// the SIGSEGV handler that emulates rdtsc/rdtscp where the kernel traps
// them, the SIGILL handler that emulates the ones rewritten into ud2 where
// it does not (tsc_patch.cpp), and the emulation of
// rt_sigaction/rt_sigprocmask that keeps these signals the shim's own.
//
// The kernel delivers a seccomp trap or an rdtsc fault with force_sig: if
// the signal is blocked at that moment it resets the handler to the default
// and the process dies. So the program may neither replace these handlers
// (its SIGSEGV handler is remembered and chained to for real faults) nor
// block the signals (they are removed from every mask it sets).
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <linux/audit.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shared_maps.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

extern "C" void marionette_restore_rt();
asm(R"(
    .text
    .globl marionette_restore_rt
    .hidden marionette_restore_rt
    .type marionette_restore_rt, @function
marionette_restore_rt:
    movq $15, %rax
    syscall
    .size marionette_restore_rt, .-marionette_restore_rt
)");

// Resumes the interrupted code of a trap without rt_sigreturn
// (resume_without_sigreturn): restores the extended state from the signal
// frame's XSAVE area (rsi), then pops the general registers from `block`
// (rdi, on the interrupted stack below its red zone: r8 ... rcx in the
// order of gregs, rflags, rip) and returns to rip with `ret $128`, which
// also steps rsp back over the red zone. rsp moves before anything is
// popped, so a signal arriving meanwhile puts its frame below the words
// not yet popped.
extern "C" [[noreturn]] void marionette_resume(const std::uint64_t* block, const void* xsave_area);
asm(R"(
    .text
    .globl marionette_resume
    .hidden marionette_resume
    .type marionette_resume, @function
marionette_resume:
    movl $-1, %eax
    movl $-1, %edx
    xrstor64 (%rsi)
    movq %rdi, %rsp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    popq %rdi
    popq %rsi
    popq %rbp
    popq %rbx
    popq %rdx
    popq %rax
    popq %rcx
    popfq
    retq $128
    .size marionette_resume, .-marionette_resume
)");

extern char** environ;

namespace marionette::shim {
namespace {

/// The kernel's struct sigaction (x86_64), as rt_sigaction(2) takes it.
struct KernelSigaction {
    void* handler = nullptr;
    unsigned long flags = 0;
    void* restorer = nullptr;
    std::uint64_t mask = 0;
};

constexpr unsigned long sa_restorer = 0x04000000;
constexpr std::size_t altstack_bytes = 64 * 1024;

KernelSigaction program_sigsys;
KernelSigaction program_sigsegv;
KernelSigaction program_sigill;
KernelSigaction program_sigstkflt;

constexpr std::uint64_t signal_bit(int signal) { return std::uint64_t{1} << (signal - 1); }
constexpr std::uint64_t owned_mask = signal_bit(SIGSYS) | signal_bit(SIGSEGV) | signal_bit(SIGILL) | signal_bit(preempt_signal);

KernelSigaction& program_action(long signal) {
    if (signal == SIGSYS) return program_sigsys;
    if (signal == preempt_signal) return program_sigstkflt;
    return signal == SIGSEGV ? program_sigsegv : program_sigill;
}

long set_real_action(int signal, const KernelSigaction& action) {
    return raw_syscall(SYS_rt_sigaction, signal, arg(&action), 0, sizeof(std::uint64_t));
}

constexpr std::uintptr_t red_zone_bytes = 128;
constexpr std::uint32_t xstate_magic = 0x46505853;  // FP_XSTATE_MAGIC1
constexpr std::size_t sw_bytes_offset = 464;        // struct _fpx_sw_bytes in the fxsave area
constexpr unsigned long uc_fp_xstate = 1;           // the frame's FPU state is XSAVE format
constexpr unsigned ss_autodisarm = 1U << 31;         // linux/signal.h (glibc 2.36 lacks it)

/// True if the thread runs with a CET shadow stack (rdssp is a no-op
/// without one): returning without sigreturn would break it.
bool shadow_stack_active() {
    std::uint64_t ssp = 0;
    asm volatile("rdsspq %0" : "+r"(ssp));
    return ssp != 0;
}

/// Returns from a trap without the rt_sigreturn syscall, when all that
/// sigreturn would do is load registers: the kernel did not change the
/// signal mask on delivery (SA_NODEFER, empty sa_mask), the handler did not
/// change the one in the context or the real one, and the altstack is as
/// the frame records it. Each trap then enters the kernel once instead of
/// twice (bench/channel_bench.sh, docs/benchmarks.md). Returns, and
/// sigreturn does the work, if the frame is not XSAVE format, a shadow
/// stack is on, the program's altstack disarms itself on delivery
/// (SS_AUTODISARM: sigreturn re-arms it), or the register block would
/// overlap the frame (the handler runs on the interrupted stack).
void resume_without_sigreturn(ucontext_t* uc) {
    const auto* fpstate = reinterpret_cast<const unsigned char*>(uc->uc_mcontext.fpregs);
    if ((uc->uc_flags & uc_fp_xstate) == 0 || fpstate == nullptr || shadow_stack_active()) return;
    if ((static_cast<unsigned>(uc->uc_stack.ss_flags) & ss_autodisarm) != 0) return;
    std::uint32_t sw_bytes[2];  // magic1, extended_size
    std::memcpy(sw_bytes, fpstate + sw_bytes_offset, sizeof sw_bytes);
    if (sw_bytes[0] != xstate_magic) return;
    greg_t* regs = uc->uc_mcontext.gregs;
    const auto interrupted_sp = static_cast<std::uintptr_t>(regs[REG_RSP]);
    constexpr std::size_t block_words = REG_RCX + 3;  // r8 ... rcx, rflags, rip
    const std::uintptr_t block_start = interrupted_sp - red_zone_bytes - 8 * block_words;
    // The handler's stack, from below this function's frame to the end of
    // the XSAVE area, must stay intact until the last register is loaded.
    const std::uintptr_t live_start = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) - 4096;
    const std::uintptr_t live_end = reinterpret_cast<std::uintptr_t>(fpstate) + sw_bytes[1];
    if (block_start < live_end && interrupted_sp > live_start) return;
    auto* block = reinterpret_cast<std::uint64_t*>(block_start);
    for (int i = 0; i <= REG_RCX; ++i) block[i] = static_cast<std::uint64_t>(regs[i]);
    block[REG_RCX + 1] = static_cast<std::uint64_t>(regs[REG_EFL]);
    block[REG_RCX + 2] = static_cast<std::uint64_t>(regs[REG_RIP]);
    marionette_resume(block, fpstate);
}

/// Runs a trapped call; false if the handler must return through
/// rt_sigreturn (the signal mask to restore changed).
bool run_trapped(siginfo_t* info, ucontext_t* uc) {
    greg_t* regs = uc->uc_mcontext.gregs;
    const long nr = info->si_syscall;
    Enter enter;
    long result = 0;
    bool mask_changed = false;
    if (info->si_arch != AUDIT_ARCH_X86_64) {
        // An int 0x80 or x32 call: no handler table for that ABI.
        if (enter.entered()) locked_kernel().emit_escape("foreign_abi_syscall", "unknown", nr);
        result = -ENOSYS;
    } else if (!enter.entered() && (nr == SYS_clone || nr == SYS_clone3)) {
        // A thread's clone cannot be issued from here as it is: the new
        // thread would start inside this handler (clone.cpp).
        SyscallArgs args{nr, {regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10], regs[REG_R8], regs[REG_R9]}, uc};
        result = clone_from_trap(args, false);
        mask_changed = true;
    } else if (!enter.entered()) {
        result = raw_syscall(nr, regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10], regs[REG_R8], regs[REG_R9]);
        // The real mask may have changed (a program's signal handler that
        // interrupted the shim); sigreturn puts the interrupted one back.
        mask_changed = true;
    } else {
        std::uint64_t mask_before = 0;
        std::memcpy(&mask_before, &uc->uc_sigmask, sizeof mask_before);
        SyscallArgs args{nr, {regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10], regs[REG_R8], regs[REG_R9]}, uc};
        result = dispatch(args);
        // Signals masked while parked come back with the interrupted
        // context's mask when this handler returns.
        mask_changed = drop_signal_mask_restore() || std::memcmp(&mask_before, &uc->uc_sigmask, sizeof mask_before) != 0;
    }
    regs[REG_RAX] = result;
    return !mask_changed;
}

void on_sigsys(int, siginfo_t* info, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    greg_t* regs = uc->uc_mcontext.gregs;
    const long nr = info->si_syscall;
    // A trap before the constructor ran (another library's constructor).
    ensure_init();
    if (info->si_arch == AUDIT_ARCH_X86_64 && (nr == SYS_execve || nr == SYS_execveat)) {
        // Never hold the guard across an exec: after vfork the child shares
        // the parent's memory, and a successful exec never returns to
        // release it, which would leave the parent "inside the shim".
        SyscallArgs args{nr, {regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10], regs[REG_R8], regs[REG_R9]}, uc};
        regs[REG_RAX] = dispatch(args);
        return;
    }
    // The guard and the lock are released before resuming.
    if (run_trapped(info, uc)) resume_without_sigreturn(uc);
}

/// Answers an rdtsc (length 2) or rdtscp (3) at the context's rip from the
/// virtual clock and steps over it.
void emulate_tsc(greg_t* regs, int length) {
    std::uint64_t tsc = 0;
    Enter enter;
    if (enter.entered()) tsc = locked_kernel().read_tsc();
    regs[REG_RAX] = static_cast<greg_t>(tsc & 0xffffffffu);
    regs[REG_RDX] = static_cast<greg_t>(tsc >> 32);
    if (length == 3) regs[REG_RCX] = 0;  // TSC_AUX: CPU 0
    regs[REG_RIP] += length;
}

/// A fault that is not ours goes to the program's handler, or kills the
/// process as it would have natively.
void chain(int signal, siginfo_t* info, void* context) {
    const KernelSigaction program = program_action(signal);
    if (program.handler == SIG_DFL || program.handler == SIG_IGN) {
        // A real fault: let it kill the process as it would have natively.
        KernelSigaction dfl;
        set_real_action(signal, dfl);
        // A fault re-executes and dies; a sent signal has to be re-sent.
        if (info->si_code <= 0) raw_syscall(SYS_tgkill, real_pid(), real_tid(), signal);
        return;
    }
    if ((program.flags & SA_SIGINFO) != 0) {
        reinterpret_cast<void (*)(int, siginfo_t*, void*)>(program.handler)(signal, info, context);
    } else {
        reinterpret_cast<void (*)(int)>(program.handler)(signal);
    }
}

void on_sigsegv(int signal, siginfo_t* info, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    greg_t* regs = uc->uc_mcontext.gregs;
    // rdtsc under PR_TSC_SIGSEGV faults like a general protection fault
    // (SI_KERNEL); page faults carry SEGV_* codes and the code at rip may
    // not even be readable, so only SI_KERNEL faults are decoded.
    if (info->si_code == SI_KERNEL && features().tsc) {
        const auto* code = reinterpret_cast<const unsigned char*>(regs[REG_RIP]);
        if (const int length = tsc_instruction_length(code); length != 0) {
            emulate_tsc(regs, length);
            return;
        }
    }
    chain(signal, info, context);
}

/// A ud2 the shim wrote over an rdtsc/rdtscp or over the loader's
/// breakpoint function (tsc_patch.cpp).
void on_sigill(int signal, siginfo_t* info, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    greg_t* regs = uc->uc_mcontext.gregs;
    if (info->si_code == ILL_ILLOPN && features().tsc_patch) {
        auto rip = static_cast<std::uintptr_t>(regs[REG_RIP]);
        auto rsp = static_cast<std::uintptr_t>(regs[REG_RSP]);
        if (tsc_patch_loader_event(rip, rip, rsp)) {
            regs[REG_RIP] = static_cast<greg_t>(rip);
            regs[REG_RSP] = static_cast<greg_t>(rsp);
            return;
        }
        if (const int length = tsc_patched_site(static_cast<std::uintptr_t>(regs[REG_RIP])); length != 0) {
            emulate_tsc(regs, length);
            return;
        }
    }
    chain(signal, info, context);
}

/// The CPU-time tick of a scheduled thread (threads.cpp): a thread that
/// made no call into the shim for a whole tick is preempted.
void on_preempt(int, siginfo_t*, void*) { preempt_tick(); }

void install(int signal, void (*handler)(int, siginfo_t*, void*), bool nodefer = true) {
    KernelSigaction action;
    action.handler = reinterpret_cast<void*>(handler);
    action.flags = SA_SIGINFO | (nodefer ? SA_NODEFER : 0) | SA_ONSTACK | sa_restorer;
    action.restorer = reinterpret_cast<void*>(&marionette_restore_rt);
    set_real_action(signal, action);
}

}  // namespace

bool shim_owns_signal(long signal) {
    return signal == SIGSYS || signal == SIGSEGV || signal == SIGILL || signal == preempt_signal;
}

void install_signal_handlers() {
    static bool altstack_done = false;  // early_init runs this once more
    if (altstack_done) {
        install(SIGSYS, &on_sigsys);
        install(SIGSEGV, &on_sigsegv);
        install(SIGILL, &on_sigill);
        install(preempt_signal, &on_preempt, false);
        return;
    }
    altstack_done = true;
    const long stack = raw_syscall(SYS_mmap, 0, altstack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack > 0) {
        stack_t alt{};
        alt.ss_sp = reinterpret_cast<void*>(stack);
        alt.ss_size = altstack_bytes;
        raw_syscall(SYS_sigaltstack, arg(&alt), 0);
    }
    install(SIGSYS, &on_sigsys);
    install(SIGSEGV, &on_sigsegv);
    install(SIGILL, &on_sigill);
    install(preempt_signal, &on_preempt, false);
    std::uint64_t unblock = owned_mask;
    raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, arg(&unblock), 0, sizeof unblock);
}

void enable_tsc_trap() {
    if (raw_syscall(SYS_prctl, PR_SET_TSC, PR_TSC_SIGSEGV) != 0) warn("rdtsc trap unavailable (PR_SET_TSC failed); rdtsc escapes");
}

// The rdtsc trap survives execve but the handler does not, and the loader
// of the new image reads the TSC before any preloaded code runs: switch
// the trap off for the exec; the new image's shim switches it on again.
/// True if `path` is an ELF executable without an interpreter (static or
/// static-pie): no preload can follow it, and under the inherited filter its
/// first simulated syscall would kill it with SIGSYS.
bool is_static_elf(const char* path) {
    const long fd = raw_syscall(SYS_openat, AT_FDCWD, arg(path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // let the real execve report the error
    Elf64_Ehdr header{};
    bool is_static = false;
    if (raw_syscall(SYS_pread64, fd, arg(&header), sizeof header, 0) == sizeof header &&
        std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 && header.e_ident[EI_CLASS] == ELFCLASS64 &&
        (header.e_type == ET_EXEC || header.e_type == ET_DYN) && header.e_phentsize == sizeof(Elf64_Phdr)) {
        is_static = true;
        for (int i = 0; i < header.e_phnum && i < 64; ++i) {
            Elf64_Phdr program{};
            const long offset = static_cast<long>(header.e_phoff + static_cast<std::uint64_t>(i) * sizeof program);
            if (raw_syscall(SYS_pread64, fd, arg(&program), sizeof program, offset) != sizeof program) break;
            if (program.p_type == PT_INTERP) {
                is_static = false;
                break;
            }
        }
    }
    raw_syscall(SYS_close, fd);
    return is_static;
}

long refuse_static(const char* path) {
    char message[400] = "refusing to exec the statically linked ";
    std::size_t n = std::strlen(message);
    for (const char* p = path; *p != '\0' && n + 80 < sizeof message; ++p) message[n++] = *p;
    const char tail[] = ": no preload can follow it, so it would escape the simulation (ENOEXEC)";
    for (const char* p = tail; *p != '\0' && n + 1 < sizeof message; ++p) message[n++] = *p;
    message[n] = '\0';
    warn(message);
    Enter enter;
    if (enter.entered()) locked_kernel().emit_escape("exec_static", path);
    return -ENOEXEC;
}

// The environment that keeps a new image under simulation: LD_PRELOAD and
// every MARIONETTE_* variable, copied at start-up (the program may change
// its own environment later). An execve whose environment lacks them gets
// them back: a program that rewrites its children's environment (env -i,
// a sanitising daemon) must not take them out of the simulation.
constexpr std::size_t saved_env_bytes = 32768;
constexpr std::size_t max_saved_env = 48;
constexpr std::size_t max_exec_env = 4096;
char saved_env_text[saved_env_bytes];
char* saved_env[max_saved_env];
std::size_t saved_env_count = 0;
char* exec_env[max_exec_env + max_saved_env + 1];

bool has_key(const char* entry, const char* saved) {
    const char* equals = std::strchr(saved, '=');
    const std::size_t key = static_cast<std::size_t>(equals - saved) + 1;
    return std::strncmp(entry, saved, key) == 0;
}

/// The environment to exec with: the program's, plus what it lacks of ours.
long with_simulation_env(long envp_arg) {
    auto* const* envp = reinterpret_cast<char* const*>(envp_arg);
    if (saved_env_count == 0) return envp_arg;
    std::size_t n = 0;
    for (; envp != nullptr && envp[n] != nullptr; ++n) {
        if (n == max_exec_env) return envp_arg;  // too large to rewrite: as given
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; ++i) exec_env[out++] = envp[i];
    bool added = false;
    for (std::size_t k = 0; k < saved_env_count; ++k) {
        bool present = false;
        for (std::size_t i = 0; i < n && !present; ++i) present = has_key(envp[i], saved_env[k]);
        if (present) continue;
        exec_env[out++] = saved_env[k];
        added = true;
    }
    exec_env[out] = nullptr;
    return added ? arg(exec_env) : envp_arg;
}

long exec_common(SyscallArgs& a) {
    if (a.nr == SYS_execve && is_static_elf(reinterpret_cast<const char*>(a.a[0]))) {
        return refuse_static(reinterpret_cast<const char*>(a.a[0]));
    }
    if (a.nr == SYS_execve) a.a[2] = with_simulation_env(a.a[2]);
    if (a.nr == SYS_execveat) a.a[3] = with_simulation_env(a.a[3]);
    // The new image has no mappings: their stores reach the disk first.
    if (shared_maps_active()) shared_maps_write_back(-1);
    if (features().tsc) raw_syscall(SYS_prctl, PR_SET_TSC, PR_TSC_ENABLE);
    const bool kept = keep_connection_across_exec();
    const long result = raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]);
    if (kept) exec_failed();
    if (features().tsc) raw_syscall(SYS_prctl, PR_SET_TSC, PR_TSC_SIGSEGV);
    return result;
}

void save_simulation_env() {
    std::size_t used = 0;
    for (char** e = environ; e != nullptr && *e != nullptr && saved_env_count < max_saved_env; ++e) {
        if (std::strncmp(*e, "MARIONETTE_", 11) != 0 && std::strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
        const std::size_t length = std::strlen(*e) + 1;
        if (used + length > saved_env_bytes) break;
        std::memcpy(saved_env_text + used, *e, length);
        saved_env[saved_env_count++] = saved_env_text + used;
        used += length;
    }
}

long handle_execve(SyscallArgs& a) { return exec_common(a); }
long handle_execveat(SyscallArgs& a) { return exec_common(a); }

long handle_rt_sigaction(SyscallArgs& a) {
    const long signal = a.a[0];
    if (!shim_owns_signal(signal)) return raw_syscall(SYS_rt_sigaction, a.a[0], a.a[1], a.a[2], a.a[3]);
    if (a.a[3] != sizeof(std::uint64_t)) return -EINVAL;
    KernelSigaction& saved = program_action(signal);
    const KernelSigaction old = saved;
    if (const auto* act = reinterpret_cast<const KernelSigaction*>(a.a[1]); act != nullptr) saved = *act;
    if (auto* oact = reinterpret_cast<KernelSigaction*>(a.a[2]); oact != nullptr) *oact = old;
    return 0;
}

long handle_rt_sigprocmask(SyscallArgs& a) {
    const long how = a.a[0];
    const auto* set = reinterpret_cast<const std::uint64_t*>(a.a[1]);
    auto* old_set = reinterpret_cast<std::uint64_t*>(a.a[2]);
    if (a.a[3] != sizeof(std::uint64_t)) return -EINVAL;
    if (a.trap_context == nullptr) {
        std::uint64_t filtered = set != nullptr ? *set & ~owned_mask : 0;
        return raw_syscall(SYS_rt_sigprocmask, how, set != nullptr ? arg(&filtered) : 0, a.a[2], a.a[3]);
    }
    // Inside the SIGSYS handler the mask that counts is the one sigreturn
    // restores from the interrupted context.
    auto* mask = reinterpret_cast<std::uint64_t*>(&a.trap_context->uc_sigmask);
    const std::uint64_t previous = *mask;
    if (set != nullptr) {
        switch (how) {
            case SIG_BLOCK: *mask |= *set; break;
            case SIG_UNBLOCK: *mask &= ~*set; break;
            case SIG_SETMASK: *mask = *set; break;
            default: return -EINVAL;
        }
        *mask &= ~owned_mask;
    }
    if (old_set != nullptr) *old_set = previous;
    return 0;
}

}  // namespace marionette::shim
