#include "interpose/shim.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "interpose/blocking.hpp"
#include "interpose/files.hpp"
#include "interpose/process.hpp"
#include "interpose/sockets.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shared_maps.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

alignas(Kernel) unsigned char kernel_storage[sizeof(Kernel)];
Kernel* kernel_ptr = nullptr;
std::atomic<int> init_state{0};  // 0 none, 1 running, 2 done
std::atomic_flag kernel_lock = ATOMIC_FLAG_INIT;
Features features_;
int real_pid_ = 0;
int trace_fd = -1;
char hostname_buffer[Kernel::hostname_capacity] = "node0";

__attribute__((tls_model("initial-exec"))) thread_local bool in_shim = false;

/// Parses a decimal u64 from the environment without allocating.
bool env_u64(const char* name, std::uint64_t& out) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return false;
    std::uint64_t value = 0;
    for (const char* p = text; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') return false;
        value = value * 10 + static_cast<std::uint64_t>(*p - '0');
    }
    out = value;
    return true;
}

bool env_off(const char* name) {
    const char* text = std::getenv(name);
    return text != nullptr && text[0] == '0' && text[1] == '\0';
}

void sink_write(void*, std::string_view line) { trace_write(line); }

KernelOptions options_from_env() {
    KernelOptions options;
    env_u64("MARIONETTE_SEED", options.seed);
    env_u64("MARIONETTE_START_TIME_NS", options.clock.start_realtime_ns);
    env_u64("MARIONETTE_CALL_COST_NS", options.clock.call_cost_ns);
    env_u64("MARIONETTE_START_ELAPSED_NS", options.clock.start_elapsed_ns);
    env_u64("MARIONETTE_TIMEOUT_NS", options.virtual_timeout_ns);
    env_u64("MARIONETTE_PROCESS_INDEX", options.process_index);
    env_u64("MARIONETTE_NODE_INDEX", options.node_index);
    if (const char* host = std::getenv("MARIONETTE_HOSTNAME"); host != nullptr && *host != '\0') {
        std::size_t n = std::strlen(host);
        if (n >= sizeof hostname_buffer) n = sizeof hostname_buffer - 1;
        std::memcpy(hostname_buffer, host, n);
        hostname_buffer[n] = '\0';
    }
    options.hostname = hostname_buffer;
    return options;
}

void overwrite_at_random() {
    // The loader already derived the stack canary and pointer guard from
    // these bytes; later readers (some runtimes seed hashes from them) see
    // seeded bytes. docs/determinism.md states the limit.
    auto* at_random = reinterpret_cast<std::byte*>(getauxval(AT_RANDOM));
    if (at_random == nullptr) return;
    kernel_ptr->fill_at_random({at_random, 16});
}

void init_once() {
    // Normally done already by early_init; an inherited filter (this image
    // was exec'd by a simulated process) only allows the fixed stub page.
    if (!relocate_raw_stub()) warn("stub page address taken; programs this one execs will not run under Marionette");
    real_pid_ = static_cast<int>(raw_syscall(SYS_getpid));
    std::uint64_t fd = 0;
    if (env_u64("MARIONETTE_TRACE_FD", fd)) {
        // Only if the descriptor is still open: an exec'd program may have
        // closed it (the number could then be reused, a known small risk).
        if (raw_syscall(SYS_fcntl, static_cast<long>(fd), F_GETFD) >= 0) trace_fd = static_cast<int>(fd);
    }
    features_.seccomp = !env_off("MARIONETTE_SECCOMP");
    features_.vdso = !env_off("MARIONETTE_VDSO");
    // MARIONETTE_TSC: `trap` (the default), `patch` or `0` (launcher/tsc_probe.hpp).
    const char* tsc = std::getenv("MARIONETTE_TSC");
    features_.tsc_patch = tsc != nullptr && std::strcmp(tsc, "patch") == 0;
    features_.tsc = !env_off("MARIONETTE_TSC") && !features_.tsc_patch;
    kernel_ptr = new (kernel_storage) Kernel(options_from_env());
    kernel_ptr->set_sink(EventSink{&sink_write, nullptr});
    overwrite_at_random();
    // Before the filter: whether file calls are trapped depends on a
    // coordinator being connected. The hello gives the identity
    // process.start reports.
    save_simulation_env();
    files_init();
    process_init();
    blocking_init();
    sockets_init();
    kernel_ptr->emit_start();
    install_signal_handlers();
    if (features_.tsc) enable_tsc_trap();
    if (features_.tsc_patch) tsc_patch_init(*kernel_ptr);
    if (features_.vdso) patch_vdso();
    if (features_.seccomp) install_seccomp_filter();
}

}  // namespace

void ensure_init() {
    if (init_state.load(std::memory_order_acquire) == 2) return;
    int expected = 0;
    if (init_state.compare_exchange_strong(expected, 1)) {
        in_shim = true;
        init_once();
        in_shim = false;
        init_state.store(2, std::memory_order_release);
        return;
    }
    // This thread is the one initialising (a trap from libc code the
    // initialisation called): the caller's Enter will not enter, and the
    // call goes to the real kernel.
    if (in_shim) return;
    // Another thread is initialising (only possible if the program started
    // threads from a constructor that ran before ours): wait for it.
    while (init_state.load(std::memory_order_acquire) != 2) {
    }
}

bool initialised() { return init_state.load(std::memory_order_acquire) == 2; }
const Features& features() { return features_; }
int real_pid() { return real_pid_; }
int real_tid() { return static_cast<int>(raw_syscall(SYS_gettid)); }

namespace {
// 0 unknown, 1 main thread, 2 another thread.
__attribute__((tls_model("initial-exec"))) thread_local int thread_kind = 0;
}  // namespace

bool main_thread() {
    if (thread_kind == 0) thread_kind = raw_syscall(SYS_gettid) == raw_syscall(SYS_getpid) ? 1 : 2;
    return thread_kind == 1;
}

void reset_main_thread() { thread_kind = 0; }

void trace_write(std::string_view line) {
    if (send_trace_line(line)) return;
    if (trace_fd < 0) return;
    raw_syscall(SYS_write, trace_fd, arg(line.data()), static_cast<long>(line.size()));
}

void warn(std::string_view message) {
    char buffer[512];
    constexpr std::string_view prefix = "marionette: ";
    std::size_t n = 0;
    for (char c : prefix) buffer[n++] = c;
    for (char c : message) {
        if (n + 1 >= sizeof buffer) break;
        buffer[n++] = c;
    }
    buffer[n++] = '\n';
    raw_syscall(SYS_write, 2, arg(buffer), static_cast<long>(n));
}

namespace {
__attribute__((tls_model("initial-exec"))) thread_local bool holds_kernel_lock = false;
__attribute__((tls_model("initial-exec"))) thread_local std::uint32_t entries = 0;

void take_kernel_lock() {
    while (kernel_lock.test_and_set(std::memory_order_acquire)) {
        __builtin_ia32_pause();
    }
    holds_kernel_lock = true;
}

void drop_kernel_lock() {
    holds_kernel_lock = false;
    kernel_lock.clear(std::memory_order_release);
}
}  // namespace

std::uint32_t shim_entries() { return entries; }

Enter::Enter() : entered_(!in_shim) {
    if (!entered_) return;
    in_shim = true;
    ++entries;
    take_kernel_lock();
    // Only scheduled threads' calls cost virtual time. Set on every entry:
    // an unscheduled thread (one starting up) may have entered last.
    if (kernel_ptr != nullptr) kernel_ptr->set_charging(scheduled_thread());
}

LockReleased::LockReleased(bool release) : released_(release && holds_kernel_lock) {
    if (released_) drop_kernel_lock();
}

LockReleased::~LockReleased() {
    if (released_) take_kernel_lock();
}

namespace {
__attribute__((tls_model("initial-exec"))) thread_local bool mask_restore_pending = false;
__attribute__((tls_model("initial-exec"))) thread_local std::uint64_t mask_to_restore = 0;
}  // namespace

void defer_signal_mask_restore(std::uint64_t mask) {
    if (mask_restore_pending) return;  // the first saved mask is the program's
    mask_to_restore = mask;
    mask_restore_pending = true;
}

bool drop_signal_mask_restore() {
    const bool pending = mask_restore_pending;
    mask_restore_pending = false;
    return pending;
}

void restore_signal_mask_now() {
    if (!mask_restore_pending) return;
    mask_restore_pending = false;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&mask_to_restore), 0, sizeof mask_to_restore);
}

Enter::~Enter() {
    if (!entered_) return;
    drop_kernel_lock();
    in_shim = false;
    if (mask_restore_pending) {
        // Pending signals are delivered on the way back: the program's
        // handlers run outside the shim, with its lock free.
        mask_restore_pending = false;
        raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&mask_to_restore), 0, sizeof mask_to_restore);
    }
}

Kernel& Enter::kernel() { return *kernel_ptr; }
Kernel& locked_kernel() { return *kernel_ptr; }

}  // namespace marionette::shim

// The seccomp filter survives execve, the SIGSYS handler does not, and the
// constructors of the program's other libraries run before ours (libselinux
// mallocs, glibc's malloc calls getrandom): a trap there would kill the
// process. So the stub page and the handlers are set up while the loader
// relocates this library, through an IFUNC resolver, which runs before any
// constructor. Only raw syscalls here: libc is not initialised yet. A trap
// that arrives before the constructor initialises the shim lazily.
namespace {

void early_init() {
    marionette::shim::relocate_raw_stub();
    marionette::shim::install_signal_handlers();
}

void early_anchor_target() {}

}  // namespace

extern "C" {
using EarlyAnchor = void (*)();
__attribute__((used)) static EarlyAnchor resolve_early_anchor() {
    early_init();
    return &early_anchor_target;
}
__attribute__((ifunc("resolve_early_anchor"))) void marionette_early_anchor();
// Taking the address forces an IRELATIVE relocation, i.e. the resolver call.
__attribute__((used, retain)) EarlyAnchor marionette_early_anchor_reference = &marionette_early_anchor;
}

// Runs before main (the loader initialises preloaded objects before the
// program's own); lazily earlier if another constructor calls in first.
__attribute__((constructor(101))) static void marionette_constructor() { marionette::shim::ensure_init(); }

// At a normal exit: shared mappings written back, and process.stats: the call counters make a diverging run
// visible to --verify even when the program printed nothing.
__attribute__((destructor)) static void marionette_destructor() {
    if (!marionette::shim::initialised()) return;
    marionette::shim::Enter enter;
    if (!enter.entered()) return;
    // Stores in shared mappings of simulated files reach the disk as the
    // process exits (on Linux they are in the page cache already).
    if (marionette::shim::shared_maps_active()) marionette::shim::shared_maps_write_back(-1);
    enter.kernel().emit_stats();
}
