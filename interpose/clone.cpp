// Threads made by a raw clone(2) or clone3(2) with CLONE_THREAD, not by
// pthread_create (docs/processes.md, "Raw clones").
//
// The filter traps clone when its flags hold CLONE_THREAD, and every
// clone3 (its flags lie in memory). The shim performs a thread's clone
// from the SIGSYS handler (clone_from_trap): it writes a start block on
// the new thread's stack below the pointer the program gave (registers of
// the trap, extended state, signal mask) and issues the clone from its
// own stub, whose `ret` takes the new thread to marionette_clone_entry.
// There the thread registers and parks like a pthread_create thread
// (threads.hpp), then loads what the kernel would have given it and jumps
// to the instruction after the program's `syscall`. It is scheduled only
// with a TLS of glibc's layout (the shim's own state is initial-exec TLS,
// at a fixed offset from the thread pointer); otherwise it is refused,
// reported, and reaches the program's code touching nothing thread-local.
// A clone3 without CLONE_THREAD (a fork, a vfork) fails with ENOSYS: its
// child would start inside this handler.
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "interpose/channel.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "interpose/threads.hpp"
#include "marionette/wire.hpp"

namespace marionette::shim {
namespace {

/// Any of the shim's TLS variables: where the shim's TLS block lies.
__attribute__((tls_model("initial-exec"))) thread_local bool tls_mark = false;

/// What a thread made by a raw clone finds on its stack, written there by
/// its creator before the clone (clone_from_trap).
struct CloneStart {
    /// The signal mask at the trap, loaded last.
    std::uint64_t mask = 0;
    /// Its channel region, or null: the thread runs unscheduled.
    void* region = nullptr;
    /// CLONE_CHILD_SETTID's word (gets the virtual tid), or null.
    std::int32_t* child_tid = nullptr;
    /// r8 ... rcx in the order of gregs (rax 0), rflags, rip: ends exactly
    /// at the program's stack pointer.
    const std::uint64_t* registers = nullptr;
    /// The extended state at the trap: 2 XSAVE, 1 FXSAVE, 0 none.
    const void* extended = nullptr;
    long extended_format = 0;
};

/// The shim's own TLS block in any thread: its initial image and where it
/// lies relative to the thread pointer (the same in every thread with
/// glibc's layout). Found once at start-up (find_own_tls).
struct OwnTls {
    const void* image = nullptr;
    std::size_t file_bytes = 0;
    std::size_t memory_bytes = 0;
    std::intptr_t offset = 0;
    bool known = false;
};
OwnTls own_tls;

std::uintptr_t thread_pointer() {
    std::uintptr_t tp = 0;
    asm("movq %%fs:0, %0" : "=r"(tp));
    return tp;
}

int find_own_tls(dl_phdr_info* info, std::size_t, void*) {
    if (info->dlpi_tls_data == nullptr) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
        if (phdr.p_type != PT_TLS) continue;
        const auto* data = static_cast<const char*>(info->dlpi_tls_data);
        const auto* mark = reinterpret_cast<const char*>(&tls_mark);
        if (mark < data || mark >= data + phdr.p_memsz) return 0;
        own_tls.image = reinterpret_cast<const void*>(info->dlpi_addr + phdr.p_vaddr);
        own_tls.file_bytes = phdr.p_filesz;
        own_tls.memory_bytes = phdr.p_memsz;
        own_tls.offset = reinterpret_cast<std::intptr_t>(data) - static_cast<std::intptr_t>(thread_pointer());
        own_tls.known = true;
        return 1;
    }
    return 0;
}

/// At load time, not in a signal handler: dl_iterate_phdr takes the
/// loader's lock.
__attribute__((constructor)) void learn_own_tls() { dl_iterate_phdr(&find_own_tls, nullptr); }

/// Copies between this process's memory and itself through the kernel, so
/// an unmapped or read-only address is an error, not a fault in the
/// handler.
bool copy_checked(void* to, const void* from, std::size_t bytes, bool writing) {
    iovec local{const_cast<void*>(writing ? from : static_cast<const void*>(to)), bytes};
    iovec remote{const_cast<void*>(writing ? static_cast<const void*>(to) : from), bytes};
    const long nr = writing ? SYS_process_vm_writev : SYS_process_vm_readv;
    return raw_syscall(nr, raw_syscall(SYS_getpid), arg(&local), 1, arg(&remote), 1, 0) == static_cast<long>(bytes);
}

/// Stack the new thread uses below the program's stack pointer before the
/// program's code runs (its start block, the extended state, the shim's
/// frames while it registers); every page of it must be writable.
constexpr std::uintptr_t clone_stack_bytes = 32 * 1024;
constexpr std::uintptr_t page_bytes = 4096;

bool stack_writable(std::uintptr_t stack) {
    constexpr std::size_t pages = clone_stack_bytes / page_bytes;
    iovec here[pages];
    iovec there[pages];
    unsigned char bytes[pages];
    for (std::size_t i = 0; i < pages; ++i) {
        here[i] = iovec{&bytes[i], 1};
        there[i] = iovec{reinterpret_cast<void*>(stack - 1 - i * page_bytes), 1};
    }
    // Read one byte of each page and write it back unchanged.
    const long pid = raw_syscall(SYS_getpid);
    if (raw_syscall(SYS_process_vm_readv, pid, arg(here), pages, arg(there), pages, 0) != static_cast<long>(pages)) return false;
    return raw_syscall(SYS_process_vm_writev, pid, arg(here), pages, arg(there), pages, 0) == static_cast<long>(pages);
}

/// True if `tls` is a thread control block of glibc's layout (its first
/// and third words point to itself, as x86_64's TLS ABI and glibc's
/// tcbhead_t have it), and the shim's TLS block below it could be
/// initialised from the shim's TLS image, as glibc does for a new thread.
bool prepare_tls(std::uintptr_t tls) {
    if (!own_tls.known || tls == 0 || tls % 16 != 0) return false;
    std::uintptr_t head[3] = {};
    if (!copy_checked(head, reinterpret_cast<const void*>(tls), sizeof head, false)) return false;
    if (head[0] != tls || head[2] != tls) return false;
    static const unsigned char zeros[4096] = {};
    const std::size_t zero_bytes = own_tls.memory_bytes - own_tls.file_bytes;
    if (zero_bytes > sizeof zeros) return false;
    auto* block = reinterpret_cast<unsigned char*>(tls + own_tls.offset);
    return copy_checked(block, own_tls.image, own_tls.file_bytes, true) &&
           (zero_bytes == 0 || copy_checked(block + own_tls.file_bytes, zeros, zero_bytes, true));
}

constexpr std::uint32_t xstate_magic = 0x46505853;  // FP_XSTATE_MAGIC1
constexpr std::size_t sw_bytes_offset = 464;        // struct _fpx_sw_bytes in the fxsave area
constexpr unsigned long uc_fp_xstate = 1;
constexpr std::size_t fxsave_bytes = 512;
constexpr std::size_t max_extended_bytes = 16 * 1024;

/// struct clone_args (linux/sched.h) as 64-bit words: flags, pidfd,
/// child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
/// set_tid_size, cgroup; room for later versions' fields (the kernel
/// takes up to a page).
constexpr std::size_t clone3_args_words = page_bytes / 8;
constexpr std::size_t clone3_stack = 5;
constexpr std::size_t clone3_stack_size = 6;
constexpr std::size_t clone3_min_bytes = 64;  // CLONE_ARGS_SIZE_VER0

/// The new thread's scheduled start, as a pthread_create thread's. Its
/// TLS block is glibc's and the shim's part of it fresh (prepare_tls).
void clone_child_registers(const CloneStart& start) {
    const std::int32_t virtual_tid = arrive_as_thread(start.region);
    // The tid the program sees is the virtual one, as gettid returns it.
    if (virtual_tid > 0 && start.child_tid != nullptr) copy_checked(start.child_tid, &virtual_tid, sizeof virtual_tid, true);
}

long refuse_clone(bool report, const char* reason) {
    if (report) {
        locked_kernel().emit_escape("thread", reason);
        static std::atomic<bool> warned{false};
        if (!warned.exchange(true)) {
            warn("warning: a thread made by a raw clone cannot be scheduled; it runs outside the scheduler and its "
                 "interleaving is not deterministic (docs/processes.md, \"Raw clones\")");
        }
    }
    return 0;
}

}  // namespace
}  // namespace marionette::shim

// The new thread of a raw clone starts here: the clone, issued from the
// shim's stub, returns into the stub's `ret`, which pops this function's
// address from the new stack; the word above it points to the CloneStart.
extern "C" void marionette_clone_entry();
asm(R"(
    .text
    .globl marionette_clone_entry
    .hidden marionette_clone_entry
    .type marionette_clone_entry, @function
marionette_clone_entry:
    movq (%rsp), %rdi
    andq $-16, %rsp
    xorl %ebp, %ebp
    call marionette_clone_child
    ud2
    .size marionette_clone_entry, .-marionette_clone_entry
)");

// Loads the extended state (rsi, of format rdx: 2 XSAVE, 1 FXSAVE, 0 none),
// then the general registers from `registers` (rdi: r8 ... rcx, rflags,
// rip), and returns to rip with rsp just above the block: the program's
// stack pointer.
extern "C" [[noreturn]] void marionette_clone_resume(const std::uint64_t* registers, const void* extended, long format);
asm(R"(
    .text
    .globl marionette_clone_resume
    .hidden marionette_clone_resume
    .type marionette_clone_resume, @function
marionette_clone_resume:
    cmpq $2, %rdx
    jne 1f
    movl $-1, %eax
    movl $-1, %edx
    xrstor64 (%rsi)
    jmp 2f
1:
    cmpq $1, %rdx
    jne 2f
    fxrstor64 (%rsi)
2:
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
    retq
    .size marionette_clone_resume, .-marionette_clone_resume
)");

// Runs on the new thread's stack. Unscheduled (no region), it touches no
// TLS: the thread pointer may be the creator's or a block of unknown
// layout. No stack protector for the same reason (it reads %fs:0x28).
extern "C" __attribute__((visibility("hidden"), used, noreturn, no_stack_protector)) void marionette_clone_child(
    const marionette::shim::CloneStart* start) {
    using namespace marionette::shim;
    if (start->region != nullptr) clone_child_registers(*start);
    std::uint64_t mask = start->mask;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&mask), 0, sizeof mask);
    marionette_clone_resume(start->registers, start->extended, start->extended_format);
}

namespace marionette::shim {

namespace {

/// A trapped clone or clone3 that makes a thread, in either's terms.
struct ThreadClone {
    unsigned long flags = 0;
    /// The new thread's stack pointer (clone3: stack + stack_size).
    std::uintptr_t stack = 0;
    std::int32_t* parent_tid = nullptr;
    std::int32_t* child_tid = nullptr;
    std::uintptr_t tls = 0;
    /// clone3: the program's clone_args, copied; the stack is changed to
    /// end at the shim's entry word.
    bool is_clone3 = false;
    std::uint64_t clone3_args[clone3_args_words] = {};
    std::size_t clone3_size = 0;
};

long issue_clone(ThreadClone& c, const SyscallArgs& a, std::uintptr_t entry) {
    if (!c.is_clone3) return raw_syscall(SYS_clone, a.a[0], arg(entry), a.a[2], a.a[3], a.a[4]);
    c.clone3_args[clone3_stack_size] = entry - c.clone3_args[clone3_stack];
    return raw_syscall(SYS_clone3, arg(c.clone3_args), static_cast<long>(c.clone3_size));
}

/// Writes the new thread's start block below the program's stack pointer
/// `stack`: the registers of the trap (rax 0), the CloneStart, the
/// extended state, and the entry word the clone's stack pointer points
/// to; returns that pointer. `region` null: the thread runs unscheduled.
std::uintptr_t* write_start_block(const ucontext_t& uc, std::uintptr_t stack, void* region, std::int32_t* child_tid) {
    const greg_t* regs = uc.uc_mcontext.gregs;
    constexpr std::size_t register_words = REG_RCX + 3;
    auto* registers = reinterpret_cast<std::uint64_t*>(stack - 8 * register_words);
    for (int i = 0; i <= REG_RCX; ++i) registers[i] = static_cast<std::uint64_t>(regs[i]);
    registers[REG_RAX] = 0;  // the child's clone returns 0
    registers[REG_RCX + 1] = static_cast<std::uint64_t>(regs[REG_EFL]);
    registers[REG_RCX + 2] = static_cast<std::uint64_t>(regs[REG_RIP]);
    auto* start = reinterpret_cast<CloneStart*>((reinterpret_cast<std::uintptr_t>(registers) - sizeof(CloneStart)) & ~std::uintptr_t{63});
    *start = CloneStart{};
    std::memcpy(&start->mask, &uc.uc_sigmask, sizeof start->mask);
    start->region = region;
    start->child_tid = child_tid;
    start->registers = registers;
    std::uintptr_t below = reinterpret_cast<std::uintptr_t>(start);
    const auto* fpstate = reinterpret_cast<const unsigned char*>(uc.uc_mcontext.fpregs);
    if (fpstate != nullptr) {
        std::size_t bytes = fxsave_bytes;
        start->extended_format = 1;
        std::uint32_t sw_bytes[2];  // magic1, extended_size
        std::memcpy(sw_bytes, fpstate + sw_bytes_offset, sizeof sw_bytes);
        if ((uc.uc_flags & uc_fp_xstate) != 0 && sw_bytes[0] == xstate_magic && sw_bytes[1] <= max_extended_bytes) {
            bytes = sw_bytes[1];
            start->extended_format = 2;
        }
        below = (below - bytes) & ~std::uintptr_t{63};
        std::memcpy(reinterpret_cast<void*>(below), fpstate, bytes);
        start->extended = reinterpret_cast<const void*>(below);
    }
    auto* entry = reinterpret_cast<std::uintptr_t*>((below - 16) & ~std::uintptr_t{15});
    entry[0] = reinterpret_cast<std::uintptr_t>(&marionette_clone_entry);
    entry[1] = reinterpret_cast<std::uintptr_t>(start);
    return entry;
}


long clone_thread(SyscallArgs& a, bool entered, ThreadClone& c) {
    const unsigned long flags = c.flags;
    const std::uintptr_t stack = c.stack;
    std::int32_t* parent_tid = c.parent_tid;
    const std::uintptr_t tls = c.tls;
    // Without a stack the new thread would share the caller's, and the
    // shim's start-up on it would overwrite the caller's frames. glibc's
    // own thread stacks are not probed: large, and touching pages of
    // thousands of them costs (probing writes each page).
    const bool small = !inside_pthread_create() && (!stack_writable(stack) || (c.is_clone3 && c.clone3_args[clone3_stack_size] < clone_stack_bytes));
    if (stack == 0 || small) {
        if (entered) locked_kernel().emit_escape("thread", stack == 0 ? "clone_without_stack" : "clone_small_stack");
        warn(stack == 0 ? "clone: EINVAL: a thread without its own stack cannot be started under Marionette"
                        : "clone: EINVAL: the new thread's stack has less than 32 KiB writable below its stack pointer");
        return -EINVAL;
    }
    // Why the thread cannot be scheduled, or null.
    const char* refusal = nullptr;
    bool report = entered;
    if (inside_pthread_create()) {
        refusal = "pthread";
        report = false;
    } else if (!entered || !threads_schedulable() || raw_syscall(SYS_getpid) != real_pid()) {
        refusal = "unscheduled";
    } else if ((flags & CLONE_VFORK) != 0) {
        // Its creator stays in the kernel until it ends or execs: it could
        // never hand the new thread its first turn.
        refusal = "clone_vfork";
    } else if ((flags & CLONE_SETTLS) == 0) {
        // It shares the creator's TLS, and with it the shim's own state.
        refusal = "clone_shared_tls";
    } else if (!prepare_tls(tls)) {
        refusal = "clone_foreign_tls";
    } else if (thread_limit_reached()) {
        locked_kernel().emit_escape("thread", "limit", static_cast<long>(max_scheduled_threads));
        return -EAGAIN;
    }
    ThreadChannel channel;
    if (refusal == nullptr && !channel_create_for_thread(channel)) refusal = "unscheduled";
    if (refusal != nullptr) refuse_clone(report, refusal);

    std::uintptr_t* entry = write_start_block(*a.trap_context, stack, refusal == nullptr ? channel.region : nullptr,
                                              (flags & CLONE_CHILD_SETTID) != 0 ? c.child_tid : nullptr);

    // The thread starts with every signal blocked (but the shim's own) and
    // takes the program's mask back just before its first instruction.
    std::uint64_t blocked = ~(std::uint64_t{1} << (SIGSYS - 1) | std::uint64_t{1} << (SIGSEGV - 1) |
                              std::uint64_t{1} << (SIGILL - 1) | std::uint64_t{1} << (preempt_signal - 1));
    std::uint64_t previous = 0;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&blocked), arg(&previous), sizeof previous);
    if (refusal == nullptr) expect_thread();
    const long child = issue_clone(c, a, reinterpret_cast<std::uintptr_t>(entry));
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&previous), 0, sizeof previous);
    if (refusal != nullptr) return child;
    if (child < 0) {
        thread_not_made(channel);
        return child;
    }
    // It posts `arrive` before any of the program's code runs, and nothing
    // else of the run runs until then.
    wait_for_arrival(channel);
    const long virtual_tid = hand_over_thread(channel, static_cast<std::int32_t>(child));
    if (virtual_tid <= 0) return child;
    // The program knows its threads by their virtual tids (gettid); the
    // kernel wrote the real one.
    if ((flags & CLONE_PARENT_SETTID) != 0) {
        const auto value = static_cast<std::int32_t>(virtual_tid);
        copy_checked(parent_tid, &value, sizeof value, true);
    }
    return virtual_tid;
}

}  // namespace

long clone_from_trap(SyscallArgs& a, bool entered) {
    if (a.trap_context == nullptr) return -ENOSYS;  // clone only ever comes through the trap
    ThreadClone c;
    if (a.nr == SYS_clone) {
        c.flags = static_cast<unsigned long>(a.a[0]);
        c.stack = static_cast<std::uintptr_t>(a.a[1]);
        c.parent_tid = reinterpret_cast<std::int32_t*>(a.a[2]);
        c.child_tid = reinterpret_cast<std::int32_t*>(a.a[3]);
        c.tls = static_cast<std::uintptr_t>(a.a[4]);
        return clone_thread(a, entered, c);
    }
    // clone3: every one is trapped (its flags are in memory, out of the
    // filter's reach). Copied as the kernel reads it; a size or an
    // address it would refuse goes to the kernel as given.
    const auto size = static_cast<std::size_t>(a.a[1]);
    if (size < clone3_min_bytes || size > sizeof c.clone3_args ||
        !copy_checked(c.clone3_args, reinterpret_cast<const void*>(a.a[0]), size, false)) {
        // The kernel fails these (EINVAL, E2BIG, EFAULT): it makes nothing.
        return raw_syscall(SYS_clone3, a.a[0], a.a[1]);
    }
    c.flags = c.clone3_args[0];
    if ((c.flags & CLONE_THREAD) == 0) {
        // A fork or vfork cannot start inside this handler: its child would
        // resume in it. ENOSYS, as where clone3 does not exist (and under
        // container runtimes' filters): glibc and others fall back to
        // clone, which the filter lets through.
        return -ENOSYS;
    }
    c.is_clone3 = true;
    c.clone3_size = size;
    c.child_tid = reinterpret_cast<std::int32_t*>(c.clone3_args[2]);
    c.parent_tid = reinterpret_cast<std::int32_t*>(c.clone3_args[3]);
    c.stack = c.clone3_args[clone3_stack] != 0 ? c.clone3_args[clone3_stack] + c.clone3_args[clone3_stack_size] : 0;
    c.tls = c.clone3_args[7];
    return clone_thread(a, entered, c);
}

long handle_clone(SyscallArgs& a) { return clone_from_trap(a, true); }
long handle_clone3(SyscallArgs& a) { return clone_from_trap(a, true); }

}  // namespace marionette::shim
