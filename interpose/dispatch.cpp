// The dispatch table generated from syscalls.def, and the handlers of the
// emulated time, randomness and identity calls. Each handler translates the
// real ABI to the simulated kernel and back; nothing here decides semantics.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/time.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/blocking.hpp"
#include "interpose/channel.hpp"
#include "interpose/files.hpp"
#include "interpose/sockets.hpp"
#include "interpose/timers.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {

using Handler = long (*)(SyscallArgs&);

long handle_rt_sigaction(SyscallArgs& args);    // signals.cpp
long handle_connect(SyscallArgs& args);         // net_guard.cpp
long handle_sendto(SyscallArgs& args);          // net_guard.cpp
long handle_sendmsg(SyscallArgs& args);         // net_guard.cpp
long handle_sendmmsg(SyscallArgs& args);        // net_guard.cpp
long handle_rt_sigprocmask(SyscallArgs& args);  // signals.cpp
long handle_execve(SyscallArgs& args);          // signals.cpp
long handle_execveat(SyscallArgs& args);        // signals.cpp
long handle_futex(SyscallArgs& args);           // threads.cpp
long handle_futex_waitv(SyscallArgs& args);     // threads.cpp
long handle_sched_yield(SyscallArgs& args);     // threads.cpp
long handle_exit(SyscallArgs& args);            // threads.cpp
long handle_clone(SyscallArgs& args);           // clone.cpp
long handle_clone3(SyscallArgs& args);          // clone.cpp

namespace {

#include "interpose_names.inc"

constexpr long table_size = sizeof(generated_syscall_names) / sizeof(generated_syscall_names[0]);

long to_timespec(const TimeSpec& from, long address) {
    auto* to = reinterpret_cast<timespec*>(address);
    if (to == nullptr) return -EFAULT;
    to->tv_sec = from.sec;
    to->tv_nsec = from.nsec;
    return 0;
}

bool from_timespec(long address, TimeSpec& out) {
    const auto* from = reinterpret_cast<const timespec*>(address);
    if (from == nullptr) return false;
    out = TimeSpec{from->tv_sec, from->tv_nsec};
    return true;
}

long handle_clock_gettime(SyscallArgs& a) {
    TimeSpec now;
    const int result = locked_kernel().clock_gettime(static_cast<int>(a.a[0]), now);
    return result != 0 ? result : to_timespec(now, a.a[1]);
}

long handle_clock_getres(SyscallArgs& a) {
    TimeSpec resolution;
    const int result = locked_kernel().clock_getres(static_cast<int>(a.a[0]), resolution);
    if (result != 0 || a.a[1] == 0) return result;
    return to_timespec(resolution, a.a[1]);
}

long handle_gettimeofday(SyscallArgs& a) {
    TimeSpec now;
    locked_kernel().clock_gettime(clock_realtime, now);
    if (auto* tv = reinterpret_cast<timeval*>(a.a[0]); tv != nullptr) {
        tv->tv_sec = now.sec;
        tv->tv_usec = now.nsec / 1000;
    }
    // The kernel's timezone is always UTC here (obsolete argument).
    if (auto* tz = reinterpret_cast<struct timezone*>(a.a[1]); tz != nullptr) *tz = {};
    return 0;
}

long handle_time(SyscallArgs& a) {
    TimeSpec now;
    locked_kernel().clock_gettime(clock_realtime, now);
    if (auto* out = reinterpret_cast<time_t*>(a.a[0]); out != nullptr) *out = now.sec;
    return static_cast<long>(now.sec);
}

long sleep_common(int clock_id, bool absolute, long request_address, long remaining_address) {
    TimeSpec request;
    if (!from_timespec(request_address, request)) return -EFAULT;
    // Under a coordinator the node's other processes run while this one
    // sleeps; alone, the clock just jumps.
    if (coordinated()) {
        Ns left = 0;
        const long result = scheduled_sleep(clock_id, absolute, request, left);
        // A relative sleep cut short by a signal reports what was left.
        if (result == -EINTR && !absolute && remaining_address != 0) {
            to_timespec(TimeSpec{static_cast<std::int64_t>(left / 1'000'000'000), static_cast<std::int64_t>(left % 1'000'000'000)},
                        remaining_address);
        }
        return result;
    }
    return locked_kernel().clock_nanosleep(clock_id, absolute, request);
}

long handle_nanosleep(SyscallArgs& a) { return sleep_common(clock_monotonic, false, a.a[0], a.a[1]); }

long handle_clock_nanosleep(SyscallArgs& a) {
    return sleep_common(static_cast<int>(a.a[0]), (a.a[1] & TIMER_ABSTIME) != 0, a.a[2], a.a[3]);
}

long handle_getrandom(SyscallArgs& a) {
    auto* buffer = reinterpret_cast<std::byte*>(a.a[0]);
    const auto length = static_cast<std::size_t>(a.a[1]);
    if (buffer == nullptr && length != 0) return -EFAULT;
    return locked_kernel().getrandom({buffer, length}, static_cast<unsigned>(a.a[2]));
}

long handle_getpid(SyscallArgs&) { return locked_kernel().pid(); }
long handle_getppid(SyscallArgs&) { return locked_kernel().ppid(); }
long handle_gettid(SyscallArgs&) {
    if (const std::int32_t tid = scheduled_tid(); tid > 0) {
        locked_kernel().note_call();
        return tid;
    }
    return locked_kernel().tid_for(real_tid(), real_pid());
}

long handle_uname(SyscallArgs& a) {
    auto* name = reinterpret_cast<utsname*>(a.a[0]);
    const long result = raw_syscall(SYS_uname, a.a[0]);
    if (result != 0) return result;
    const std::string_view host = locked_kernel().hostname();
    std::memset(name->nodename, 0, sizeof name->nodename);
    std::memcpy(name->nodename, host.data(), host.size());
    return 0;
}

long handle_getcpu(SyscallArgs& a) {
    // One simulated CPU, one NUMA node.
    if (auto* cpu = reinterpret_cast<unsigned*>(a.a[0]); cpu != nullptr) *cpu = 0;
    if (auto* node = reinterpret_cast<unsigned*>(a.a[1]); node != nullptr) *node = 0;
    return 0;
}

int to_real(long id) {
    if (const std::int32_t thread = real_tid_of(static_cast<std::int32_t>(id)); thread > 0) return thread;
    return locked_kernel().real_id_for(static_cast<std::int32_t>(id), real_pid());
}

/// A virtual pid of another process of the node, as the real kernel knows
/// it; -ESRCH for a pid the node does not have (never a stranger's process).
long other_process(long pid) {
    const long real = translate_pid(pid, 0);
    return real > 0 ? real : -ESRCH;
}

long handle_kill(SyscallArgs& a) {
    // Programs only know virtual pids; kill(getpid(), ...) must reach us.
    const long pid = static_cast<int>(a.a[0]);
    const long signal = static_cast<int>(a.a[1]);
    if (pid <= 0 || !coordinated()) return raw_syscall(SYS_kill, pid > 0 ? to_real(pid) : pid, signal);
    if (pid == locked_kernel().pid()) {
        // To itself: a thread of it parked waiting for a signal must wake.
        const long result = raw_syscall(SYS_kill, real_pid(), signal);
        if (result == 0 && signal != SIGKILL) report_signal(pid, signal);
        return result;
    }
    const long real = other_process(pid);
    if (real < 0) return real;
    const long result = raw_syscall(SYS_kill, real, signal);
    if (result == 0) report_signal(pid, signal);
    return result;
}

long handle_tgkill(SyscallArgs& a) {
    const int real_group = to_real(a.a[0]);
    const int real_thread = to_real(a.a[1]);
    const long result = raw_syscall(SYS_tgkill, real_group, real_thread, a.a[2]);
    // A thread of ours parked in the scheduler takes it when it runs again.
    if (result == 0 && real_group == real_pid()) report_thread_signal(real_thread, a.a[2]);
    return result;
}

long handle_tkill(SyscallArgs& a) {
    const int real_thread = to_real(a.a[0]);
    const long result = raw_syscall(SYS_tkill, real_thread, a.a[1]);
    if (result == 0) report_thread_signal(real_thread, a.a[1]);
    return result;
}

long handle_denied(SyscallArgs& a) {
    locked_kernel().emit_escape("syscall", syscall_name(a.nr));
    return -ENOSYS;
}

long handle_passthrough(SyscallArgs& a) {
    return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]);
}

#define MARIONETTE_HANDLER_emulated(name) &handle_##name
#define MARIONETTE_HANDLER_denied(name) &handle_denied
#define MARIONETTE_HANDLER_passthrough(name) &handle_passthrough
#define MARIONETTE_HANDLER_file(name) &handle_##name
#define MARIONETTE_HANDLER_scheduled(name) &handle_##name

constexpr std::array<Handler, table_size> make_table() {
    std::array<Handler, table_size> table{};
#define MARIONETTE_SYSCALL(name, handling) table[SYS_##name] = MARIONETTE_HANDLER_##handling(name);
#include "interpose/syscalls.def"
#undef MARIONETTE_SYSCALL
    return table;
}

constexpr std::array<Handler, table_size> handlers = make_table();

}  // namespace

const char* syscall_name(long nr) {
    if (nr < 0 || nr >= table_size || generated_syscall_names[nr][0] == '\0') return "unknown";
    return generated_syscall_names[nr];
}

/// Syscalls whose handler charges the per-call cost itself through the
/// kernel (or, for exec, must not touch it); every other call is charged here.
bool charges_itself(long nr) {
    switch (nr) {
        case SYS_clock_gettime:
        case SYS_clock_getres:
        case SYS_gettimeofday:
        case SYS_time:
        case SYS_nanosleep:
        case SYS_clock_nanosleep:
        case SYS_getrandom:
        case SYS_gettid:
        case SYS_execve:  // holds no Enter: must not touch the kernel
        case SYS_execveat: return true;
        default: return false;
    }
}

/// --timeout: once the run's virtual time limit is reached, the process
/// ends (exit status 124, like timeout(1)) after saying so in the trace.
void end_if_past_deadline() {
    Kernel& kernel = locked_kernel();
    if (!kernel.past_deadline()) return;
    kernel.emit_virtual_timeout();
    warn("virtual time limit reached (--timeout); ending the program");
    raw_syscall(SYS_exit_group, 124);
}

long dispatch(SyscallArgs& args) {
    const Handler handler = args.nr >= 0 && args.nr < table_size ? handlers[args.nr] : nullptr;
    if (args.nr != SYS_execve && args.nr != SYS_execveat) {
        if (!scheduled_thread()) note_unscheduled_call(args.nr);
        static const bool debug_calls = std::getenv("MARIONETTE_DEBUG_CALLS") != nullptr;
        if (debug_calls) {
            char fields[96] = "call=";
            std::size_t n = 5;
            for (const char* c = syscall_name(args.nr); *c != '\0' && n < 60; ++c) fields[n++] = *c;
            char thread[32] = " thread=unscheduled";
            if (main_thread()) {
                std::memcpy(thread, " thread=main", sizeof " thread=main");
            } else if (const std::int32_t tid = scheduled_tid(); tid > 0) {
                std::memcpy(thread, " thread=", 8);
                std::size_t at = 8;
                char digits[12];
                std::size_t count = 0;
                for (std::int32_t v = tid; v > 0; v /= 10) digits[count++] = static_cast<char>('0' + v % 10);
                while (count > 0) thread[at++] = digits[--count];
                thread[at] = '\0';
            }
            for (const char* c = thread; *c != '\0' && n < 90; ++c) fields[n++] = *c;
            locked_kernel().emit_recorded("debug.call", std::string_view(fields, n));
        }
    }
    if (handler != nullptr) {
        if (!charges_itself(args.nr)) locked_kernel().note_call();
        // exec must not be cut short half-way; the new image checks again.
        if (args.nr == SYS_execve || args.nr == SYS_execveat) return handler(args);
        const RoundTrips before = round_trips();
        const long result = handler(args);
        end_if_past_deadline();
        maybe_yield();
        count_call(args.nr, before);
        return result;
    }
    // A trapped syscall without a handler: the filter and the table
    // disagree, or another architecture's syscall. Never silent.
    locked_kernel().emit_escape("syscall", syscall_name(args.nr), args.nr);
    return -ENOSYS;
}

long invoke(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    ensure_init();
    Enter enter;
    if (!enter.entered()) return raw_syscall(nr, a1, a2, a3, a4, a5, a6);
    SyscallArgs args{nr, {a1, a2, a3, a4, a5, a6}, nullptr};
    return dispatch(args);
}

long libc_result(long raw) {
    if (raw < 0 && raw > -4096) {
        errno = static_cast<int>(-raw);
        return -1;
    }
    return raw;
}

}  // namespace marionette::shim
