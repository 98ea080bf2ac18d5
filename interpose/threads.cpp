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
// A thread the program makes with a raw clone(2) or clone3(2) registers the
// same way (arrive_as_thread, hand_over_thread), from interpose/clone.cpp.
//
// futex(2) is emulated on the virtual clock (interpose/futex.cpp). A
// thread's end (the exit syscall) is reported before it happens; the
// coordinator wakes whoever waits on its CLONE_CHILD_CLEARTID word
// (pthread_join) once the kernel has let the thread go, which is when the
// kernel has cleared that word.
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "interpose/channel.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "interpose/threads.hpp"
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
/// Inside glibc's pthread_create, called by the wrapper: a clone trapped
/// now (glibc falls back to clone where clone3 fails with ENOSYS) makes a
/// thread that registers in thread_start.
MARIONETTE_THREAD_STATE bool making_pthread = false;
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
constexpr std::size_t max_threads = max_scheduled_threads;
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
    arrive_as_thread(block->region, &block->real_tid);
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

}  // namespace

bool threads_schedulable() { return can_schedule_threads(); }

bool thread_limit_reached() { return name_count >= max_threads; }

bool inside_pthread_create() { return making_pthread; }

void expect_thread() { threads_starting.fetch_add(1); }

void thread_not_made(ThreadChannel& channel) {
    threads_starting.fetch_sub(1);
    channel_discard(channel);
}

void wait_for_arrival(const ThreadChannel& channel) {
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
}

long hand_over_thread(const ThreadChannel& channel, std::int32_t real_tid) {
    Enter enter;
    wire::ThreadRequest request;
    request.op = wire::ThreadOp::start;
    request.real_tid = real_tid;
    request.region_fd = channel.fd;
    request.now_ns = now_realtime_ns();
    const long virtual_tid = thread_call(request, true);
    raw_syscall(SYS_close, channel.fd);
    // From now on the main thread has a thread to starve, too.
    if (main_thread() && !main_ticks) {
        main_ticks = true;
        start_tick();
    }
    if (registered) start_tick();
    return virtual_tid;
}

std::int32_t arrive_as_thread(void* region, std::atomic<std::int32_t>* real_tid_out) {
    channel_adopt(region);
    const auto real_tid = static_cast<std::int32_t>(raw_syscall(SYS_gettid));
    if (real_tid_out != nullptr) real_tid_out->store(real_tid, std::memory_order_release);
    wire::ThreadRequest request;
    request.op = wire::ThreadOp::arrive;
    request.real_tid = real_tid;
    // Returns at this thread's first turn.
    const long virtual_tid = thread_call(request, true);
    restore_signal_mask_now();
    if (virtual_tid <= 0) {
        channel_leave_thread();
        return 0;
    }
    own_virtual_tid = static_cast<std::int32_t>(virtual_tid);
    registered = true;
    remember(own_virtual_tid, real_tid);
    start_tick();
    return own_virtual_tid;
}

bool scheduled_thread() { return main_thread() || registered; }

std::int32_t scheduled_tid() { return registered ? own_virtual_tid : 0; }

std::int32_t real_tid_of(std::int32_t virtual_tid) {
    for (std::size_t i = 0; i < name_count; ++i) {
        if (names[i].virtual_tid == virtual_tid) return names[i].real_tid;
    }
    return 0;
}

std::int32_t virtual_tid_of(std::int32_t real_tid) {
    for (std::size_t i = 0; i < name_count; ++i) {
        if (names[i].real_tid == real_tid) return names[i].virtual_tid;
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
    expect_thread();
    making_pthread = true;
    const int result = function(thread, attr, &thread_start, &start_block);
    making_pthread = false;
    if (result != 0) {
        thread_not_made(channel);
        return result;
    }
    // glibc starts the thread meanwhile; it posts `arrive` before any of
    // the program's code runs, and nothing else of the run runs until then.
    wait_for_arrival(channel);
    hand_over_thread(channel, start_block.real_tid.load(std::memory_order_acquire));
    return 0;
}
