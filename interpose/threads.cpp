// Threads under the scheduler (docs/processes.md, "Threads").
//
// Every thread the program starts with pthread_create is a scheduled entity
// of the run's one scheduler, like a process: exactly one thread of the
// whole run executes at a time. Its creator (which holds the run's token)
// makes the new thread's channel region and starts it on a trampoline that,
// before any of the program's code, posts `arrive` through that channel and
// waits for its first turn. The creator waits until that message is posted
// (glibc's thread start-up runs meanwhile; nobody else does), then hands the
// region to the coordinator (`start`, the memfd named by number) and is
// parked in turn: who runs next, creator or new thread, is the seed's choice.
//
// futex(2) is emulated on the virtual clock: the caller holds the token, so
// it checks the futex word itself without a race; the coordinator keeps the
// wait queues and wakes waiters in a seeded order. A thread's end (the exit
// syscall) is reported before it happens; the coordinator wakes whoever
// waits on its CLONE_CHILD_CLEARTID word (pthread_join) once the kernel has
// let the thread go, which is when the kernel has cleared that word.
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "interpose/channel.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "marionette/wire.hpp"

namespace marionette::shim {
namespace {

#define MARIONETTE_THREAD_STATE __attribute__((tls_model("initial-exec"))) thread_local

/// A thread other than the main one that the scheduler runs, and its tid.
MARIONETTE_THREAD_STATE bool registered = false;
MARIONETTE_THREAD_STATE std::int32_t own_virtual_tid = 0;

/// The thread's CPU-time tick (preempt_tick), and the shim entries it
/// had seen at the last one.
MARIONETTE_THREAD_STATE long tick_timer = -1;
MARIONETTE_THREAD_STATE std::uint32_t entries_at_tick = 0;
MARIONETTE_THREAD_STATE bool preempting = false;
MARIONETTE_THREAD_STATE unsigned silent_ticks = 0;
/// Waiting for a new thread's first message: not spinning in program code.
MARIONETTE_THREAD_STATE bool creating = false;
bool main_ticks = false;
std::atomic<bool> warned_preempt{false};

/// A thread that runs ticks_before_preempting ticks of CPU time without
/// entering the shim is preempted (no hardware counter here can make that
/// point reproducible).
constexpr long tick_ns = 100'000'000;
constexpr unsigned ticks_before_preempting = 2;

void start_tick() {
    if (tick_timer >= 0) return;
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = preempt_signal;
    event._sigev_un._tid = static_cast<int>(raw_syscall(SYS_gettid));
    int timer = -1;
    if (raw_syscall(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, arg(&event), arg(&timer)) != 0) return;
    const itimerspec every{{0, tick_ns}, {0, tick_ns}};
    raw_syscall(SYS_timer_settime, timer, 0, arg(&every), 0);
    tick_timer = timer;
    entries_at_tick = shim_entries();
}

void stop_tick() {
    if (tick_timer < 0) return;
    raw_syscall(SYS_timer_delete, tick_timer);
    tick_timer = -1;
}

/// Live scheduled threads of this process: virtual tid -> real tid (for
/// tgkill/tkill). Only the thread holding the run's token touches it. A
/// creation beyond it fails with EAGAIN, as at a kernel limit, with a
/// warning and a trace event: the scheduler's decisions cost time linear
/// in the number of threads (docs/processes.md).
constexpr std::size_t max_threads = 4096;
struct ThreadName {
    std::int32_t virtual_tid = 0;
    std::int32_t real_tid = 0;
};
ThreadName names[max_threads];
std::size_t name_count = 0;

void remember(std::int32_t virtual_tid, std::int32_t real_tid) {
    if (name_count < max_threads) names[name_count++] = {virtual_tid, real_tid};
}

void forget(std::int32_t virtual_tid) {
    for (std::size_t i = 0; i < name_count; ++i) {
        if (names[i].virtual_tid != virtual_tid) continue;
        names[i] = names[--name_count];
        return;
    }
}

/// What the creator hands its new thread. One creation at a time: the
/// creator holds the token until the thread has copied it out (its
/// `arrive` is posted).
struct StartBlock {
    void* (*start)(void*) = nullptr;
    void* argument = nullptr;
    void* region = nullptr;
    std::atomic<std::int32_t> real_tid{0};
};
StartBlock start_block;
/// A creator is between the real pthread_create and its thread's `arrive`:
/// the thread runs glibc's start-up unscheduled, as expected.
std::atomic<int> threads_starting{0};

void* thread_start(void* block_address) {
    auto* block = static_cast<StartBlock*>(block_address);
    void* (*start)(void*) = block->start;
    void* argument = block->argument;
    channel_adopt(block->region);
    const auto real_tid = static_cast<std::int32_t>(raw_syscall(SYS_gettid));
    block->real_tid.store(real_tid, std::memory_order_release);
    wire::ThreadRequest request;
    request.op = wire::ThreadOp::arrive;
    request.real_tid = real_tid;
    // Returns at this thread's first turn.
    const long virtual_tid = thread_call(request, true);
    restore_signal_mask_now();
    if (virtual_tid > 0) {
        own_virtual_tid = static_cast<std::int32_t>(virtual_tid);
        registered = true;
        remember(own_virtual_tid, real_tid);
        start_tick();
    } else {
        channel_leave_thread();
    }
    return start(argument);
}

/// Threads can be scheduled in this process: a coordinator, futex and exit
/// trapped, descriptors taken by number.
bool can_schedule_threads() { return coordinated() && scheduled_calls_trapped() && connection() >= 0; }

void unscheduled_thread(Kernel& kernel) {
    static std::atomic<bool> warned{false};
    kernel.emit_thread_create();
    kernel.emit_escape("thread", "unscheduled");
    if (!warned.exchange(true)) {
        warn("warning: a thread runs outside the scheduler; its interleaving is not deterministic (docs/processes.md)");
    }
}

// --- futex -----------------------------------------------------------------------

constexpr std::uint64_t ns_per_second = 1'000'000'000;

/// The absolute virtual realtime a futex wait ends at (0: never), or
/// -errno for a bad timeout.
long futex_deadline(int command, int flags, long timeout_address, std::uint64_t& deadline) {
    deadline = 0;
    if (timeout_address == 0) return 0;
    const auto* timeout = reinterpret_cast<const timespec*>(timeout_address);
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= static_cast<long>(ns_per_second)) return -EINVAL;
    const std::uint64_t value = static_cast<std::uint64_t>(timeout->tv_sec) * ns_per_second + static_cast<std::uint64_t>(timeout->tv_nsec);
    const std::uint64_t now = now_realtime_ns();
    if (command == FUTEX_WAIT) {
        // Relative, measured on CLOCK_MONOTONIC.
        deadline = now + value;
        return 0;
    }
    // FUTEX_WAIT_BITSET: absolute, on CLOCK_REALTIME or CLOCK_MONOTONIC.
    if ((flags & FUTEX_CLOCK_REALTIME) != 0) {
        deadline = value;
    } else {
        TimeSpec monotonic;
        locked_kernel().clock_gettime(clock_monotonic, monotonic);
        const std::uint64_t monotonic_now = static_cast<std::uint64_t>(monotonic.sec) * ns_per_second + static_cast<std::uint64_t>(monotonic.nsec);
        deadline = value > monotonic_now ? now + (value - monotonic_now) : now;
    }
    if (deadline == 0) deadline = 1;  // 0 means "none" on the wire
    return 0;
}

/// FUTEX_WAKE_OP's operation on *word; returns whether the comparison on
/// the old value holds (futex(2), "FUTEX_WAKE_OP").
bool futex_operate(std::uint32_t* word, std::uint32_t encoded) {
    const unsigned operation = (encoded >> 28) & 7;
    const unsigned comparison = (encoded >> 24) & 15;
    auto sign_extend_12 = [](std::uint32_t v) { return static_cast<std::int32_t>(v << 20) >> 20; };
    std::int32_t operand = sign_extend_12((encoded >> 12) & 0xfff);
    const std::int32_t compare_with = sign_extend_12(encoded & 0xfff);
    if ((encoded >> 28) & FUTEX_OP_OPARG_SHIFT) operand = static_cast<std::int32_t>(1u << (operand & 31));
    auto* atomic_word = reinterpret_cast<std::atomic<std::int32_t>*>(word);
    std::int32_t old = atomic_word->load(std::memory_order_relaxed);
    std::int32_t updated;
    do {
        switch (operation) {
            case FUTEX_OP_SET: updated = operand; break;
            case FUTEX_OP_ADD: updated = static_cast<std::int32_t>(static_cast<std::uint32_t>(old) + static_cast<std::uint32_t>(operand)); break;
            case FUTEX_OP_OR: updated = old | operand; break;
            case FUTEX_OP_ANDN: updated = old & ~operand; break;
            default: updated = old ^ operand; break;  // FUTEX_OP_XOR
        }
    } while (!atomic_word->compare_exchange_weak(old, updated, std::memory_order_seq_cst));
    switch (comparison) {
        case FUTEX_OP_CMP_EQ: return old == compare_with;
        case FUTEX_OP_CMP_NE: return old != compare_with;
        case FUTEX_OP_CMP_LT: return old < compare_with;
        case FUTEX_OP_CMP_LE: return old <= compare_with;
        case FUTEX_OP_CMP_GT: return old > compare_with;
        default: return old >= compare_with;  // FUTEX_OP_CMP_GE
    }
}

long raw_futex(const SyscallArgs& a) {
    // A real wait must not hold the shim's lock.
    LockReleased released(true);
    return raw_syscall(SYS_futex, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]);
}

std::uint32_t load_word(long address) {
    return reinterpret_cast<const std::atomic<std::uint32_t>*>(address)->load(std::memory_order_seq_cst);
}

/// What the kernel does at a thread's end for its robust mutexes
/// (set_robust_list(2)), done here before it, because the kernel's wake
/// would reach no waiter (they wait in the scheduler): every futex word the
/// thread still owns gets FUTEX_OWNER_DIED, and one waiter wakes.
void release_robust_futexes() {
    robust_list_head* head = nullptr;
    std::size_t length = 0;
    if (raw_syscall(SYS_get_robust_list, 0, arg(&head), arg(&length)) != 0 || head == nullptr) return;
    const auto own = static_cast<std::uint32_t>(raw_syscall(SYS_gettid));
    auto release = [&](const robust_list* entry) {
        const auto address = reinterpret_cast<std::uintptr_t>(entry) + static_cast<std::uintptr_t>(head->futex_offset);
        auto* word = reinterpret_cast<std::atomic<std::uint32_t>*>(address);
        std::uint32_t seen = word->load(std::memory_order_seq_cst);
        if ((seen & FUTEX_TID_MASK) != own) return;
        while (!word->compare_exchange_weak(seen, (seen & FUTEX_WAITERS) | FUTEX_OWNER_DIED, std::memory_order_seq_cst)) {
        }
        if ((seen & FUTEX_WAITERS) == 0) return;
        wire::FutexRequest wake;
        wake.op = wire::FutexOp::wake;
        wake.address = address;
        wake.count = 1;
        futex_call(wake);
    };
    // The list is the program's memory: bounded like the kernel's walk.
    const robust_list* entry = head->list.next;
    for (int limit = 2048; entry != &head->list && entry != nullptr && limit > 0; --limit) {
        const robust_list* next = entry->next;
        const auto* clean = reinterpret_cast<const robust_list*>(reinterpret_cast<std::uintptr_t>(entry) & ~std::uintptr_t{1});
        if (clean != head->list_op_pending) release(clean);
        entry = reinterpret_cast<const robust_list*>(reinterpret_cast<std::uintptr_t>(next) & ~std::uintptr_t{1});
    }
    if (head->list_op_pending != nullptr) {
        release(reinterpret_cast<const robust_list*>(reinterpret_cast<std::uintptr_t>(head->list_op_pending) & ~std::uintptr_t{1}));
    }
}

}  // namespace

bool scheduled_thread() { return main_thread() || registered; }

std::int32_t scheduled_tid() { return registered ? own_virtual_tid : 0; }

std::int32_t real_tid_of(std::int32_t virtual_tid) {
    for (std::size_t i = 0; i < name_count; ++i) {
        if (names[i].virtual_tid == virtual_tid) return names[i].real_tid;
    }
    return 0;
}

void threads_after_fork() {
    registered = false;
    own_virtual_tid = 0;
    name_count = 0;
    // Timers are not inherited: the child's one thread has none.
    tick_timer = -1;
    main_ticks = false;
}

void preempt_tick() {
    if (preempting || creating || shim_entries() != entries_at_tick) {
        entries_at_tick = shim_entries();
        silent_ticks = 0;
        return;
    }
    // Two silent ticks in a row: a thread that works in calls the shim
    // does not see (mmap, munmap) is not taken for a spinning one.
    if (++silent_ticks < ticks_before_preempting) return;
    silent_ticks = 0;
    Enter enter;
    if (!enter.entered() || connection() < 0) return;
    preempting = true;
    const std::int32_t tid = registered ? own_virtual_tid : enter.kernel().pid();
    enter.kernel().emit_preempt(tid);
    if (!warned_preempt.exchange(true)) {
        warn("warning: a thread ran without a system call for 200 ms of CPU time and was preempted; this run is not "
             "reproducible from its seed (determinism.escape source=preempt in the trace)");
    }
    block(wire::BlockWhat::yield, 0, 0, nullptr, nullptr, 0);
    preempting = false;
    entries_at_tick = shim_entries();
}

void note_unscheduled_call(long nr) {
    static std::atomic<bool> warned{false};
    // Threads of this process only (not a vfork child sharing its memory),
    // outside the start-up of a thread pthread_create is making.
    if (!coordinated() || threads_starting.load() != 0 || raw_syscall(SYS_getpid) != real_pid()) return;
    if (warned.exchange(true)) return;
    locked_kernel().emit_escape("thread", "unscheduled", nr);
    warn("warning: a thread the scheduler does not know (a raw clone, or one started before the shim) makes system "
         "calls; its interleaving is not deterministic (docs/processes.md)");
}

void report_thread_signal(std::int32_t real_tid, long signal) {
    if (connection() < 0 || signal == 0) return;
    wire::ThreadRequest request;
    request.op = wire::ThreadOp::signal;
    request.real_tid = real_tid;
    request.clear_tid = static_cast<std::uint64_t>(signal);
    request.now_ns = now_realtime_ns();
    thread_call(request, false);
}

long handle_futex(SyscallArgs& a) {
    if (connection() < 0) return raw_futex(a);
    const int flags = static_cast<int>(a.a[1]);
    const int command = flags & FUTEX_CMD_MASK;
    wire::FutexRequest request;
    request.address = static_cast<std::uint64_t>(a.a[0]);
    if (a.a[0] == 0 || (a.a[0] & 3) != 0) return -EINVAL;
    switch (command) {
        case FUTEX_WAIT:
        case FUTEX_WAIT_BITSET: {
            request.op = wire::FutexOp::wait;
            request.bitset = command == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a.a[5]);
            if (request.bitset == 0) return -EINVAL;
            if (const long bad = futex_deadline(command, flags, a.a[3], request.deadline_ns); bad != 0) return bad;
            // Nothing else runs: the check and the wait are one step.
            if (load_word(a.a[0]) != static_cast<std::uint32_t>(a.a[2])) return -EAGAIN;
            if (request.deadline_ns != 0 && request.deadline_ns <= now_realtime_ns()) return -ETIMEDOUT;
            const long woke = futex_call(request);
            if (woke == -EINTR || woke < 0) return woke;
            return woke == wire::woke_deadline ? -ETIMEDOUT : 0;
        }
        case FUTEX_WAKE:
        case FUTEX_WAKE_BITSET:
            request.op = wire::FutexOp::wake;
            request.count = static_cast<std::uint32_t>(a.a[2] < 0 ? 0 : a.a[2] > INT_MAX ? INT_MAX : a.a[2]);
            request.bitset = command == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a.a[5]);
            if (request.bitset == 0) return -EINVAL;
            return futex_call(request);
        case FUTEX_REQUEUE:
        case FUTEX_CMP_REQUEUE:
            if (a.a[4] == 0 || (a.a[4] & 3) != 0) return -EINVAL;
            if (command == FUTEX_CMP_REQUEUE && load_word(a.a[0]) != static_cast<std::uint32_t>(a.a[5])) return -EAGAIN;
            request.op = wire::FutexOp::requeue;
            request.address2 = static_cast<std::uint64_t>(a.a[4]);
            request.count = static_cast<std::uint32_t>(a.a[2] < 0 ? 0 : a.a[2]);
            request.count2 = static_cast<std::uint32_t>(a.a[3] < 0 ? 0 : a.a[3]);
            // bitset 1: the result counts the requeued waiters too (CMP_REQUEUE).
            request.bitset = command == FUTEX_CMP_REQUEUE ? 1 : 0;
            return futex_call(request);
        case FUTEX_WAKE_OP: {
            if (a.a[4] == 0 || (a.a[4] & 3) != 0) return -EINVAL;
            request.op = wire::FutexOp::wake_two;
            request.address2 = static_cast<std::uint64_t>(a.a[4]);
            request.count = static_cast<std::uint32_t>(a.a[2] < 0 ? 0 : a.a[2]);
            const bool second = futex_operate(reinterpret_cast<std::uint32_t*>(a.a[4]), static_cast<std::uint32_t>(a.a[5]));
            request.count2 = second ? static_cast<std::uint32_t>(a.a[3] < 0 ? 0 : a.a[3]) : 0;
            return futex_call(request);
        }
        default:
            // Priority-inheritance futexes and the rest: refused, named.
            locked_kernel().emit_escape("futex", "unsupported_operation", command);
            return -ENOSYS;
    }
}

long handle_futex_waitv(SyscallArgs& a) {
    if (connection() < 0) return raw_futex(a);
    locked_kernel().emit_escape("syscall", "futex_waitv");
    return -ENOSYS;
}

long handle_sched_yield(SyscallArgs&) {
    // A yielding thread lets the seed choose who runs next.
    if (block(wire::BlockWhat::yield, 0, 0, nullptr, nullptr, 0) == -ENOSYS) return raw_syscall(SYS_sched_yield);
    return 0;
}

long handle_exit(SyscallArgs& a) {
    if (connection() >= 0) {
        release_robust_futexes();
        wire::ThreadRequest request;
        request.op = wire::ThreadOp::exit;
        request.real_tid = static_cast<std::int32_t>(raw_syscall(SYS_gettid));
        request.now_ns = now_realtime_ns();
        // The word pthread_join waits on: the kernel clears it at our end.
        int* clear_tid = nullptr;
        if (raw_syscall(SYS_prctl, PR_GET_TID_ADDRESS, arg(&clear_tid), 0, 0, 0) == 0) {
            request.clear_tid = reinterpret_cast<std::uint64_t>(clear_tid);
        }
        thread_call(request, false);
        forget(own_virtual_tid);
        stop_tick();
        channel_leave_thread();
    }
    // Never taken back: this thread ends here.
    LockReleased released(true);
    raw_syscall(SYS_exit, a.a[0]);
    __builtin_unreachable();
}

}  // namespace marionette::shim

MARIONETTE_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* argument) noexcept {
    using namespace marionette::shim;
    namespace wire = marionette::wire;
    using Real = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
    static std::atomic<Real> real{nullptr};
    const Real function = next_symbol(real, "pthread_create");
    ensure_init();
    ThreadChannel channel;
    {
        Enter enter;
        if (!enter.entered()) return function(thread, attr, start, argument);
        if (!can_schedule_threads() || !channel_create_for_thread(channel)) {
            unscheduled_thread(enter.kernel());
            return function(thread, attr, start, argument);
        }
        if (name_count >= max_threads) {
            channel_discard(channel);
            enter.kernel().emit_escape("thread", "limit", static_cast<long>(max_threads));
            static std::atomic<bool> warned{false};
            if (!warned.exchange(true)) {
                warn("pthread_create: EAGAIN: this process has 4096 live scheduled threads, the most Marionette runs");
            }
            return EAGAIN;
        }
    }
    start_block.start = start;
    start_block.argument = argument;
    start_block.region = channel.region;
    start_block.real_tid.store(0, std::memory_order_relaxed);
    // Counted before the real pthread_create: the new thread may run
    // glibc's start-up (rt_sigprocmask) before that call returns here.
    threads_starting.fetch_add(1);
    const int result = function(thread, attr, &thread_start, &start_block);
    if (result != 0) {
        threads_starting.fetch_sub(1);
        channel_discard(channel);
        return result;
    }
    // glibc starts the thread meanwhile; it posts `arrive` before any of
    // the program's code runs, and nothing else of the run runs until then.
    creating = true;
    for (unsigned waits = 0; !channel_posted(channel.region); ++waits) {
        // Yield the CPU to it; on a busy machine, sleep a little.
        if (waits < 64) {
            raw_syscall(SYS_sched_yield);
        } else {
            const timespec pause{0, 20'000};
            raw_syscall(SYS_nanosleep, arg(&pause), 0);
        }
    }
    creating = false;
    threads_starting.fetch_sub(1);
    Enter enter;
    wire::ThreadRequest request;
    request.op = wire::ThreadOp::start;
    request.real_tid = start_block.real_tid.load(std::memory_order_acquire);
    request.region_fd = channel.fd;
    request.now_ns = now_realtime_ns();
    thread_call(request, true);
    raw_syscall(SYS_close, channel.fd);
    // From now on the main thread has a thread to starve, too.
    if (main_thread() && !main_ticks) {
        main_ticks = true;
        start_tick();
    }
    if (registered) start_tick();
    return 0;
}
