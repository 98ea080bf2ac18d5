// The simulated kernel of one process: time, randomness and identity.
//
// This is the semantics behind the intercepted calls, free of any OS call so
// it is unit-tested directly (tests/unit/interpose/) and compiled into the
// preload shim, which only translates between the real ABI (struct timespec,
// errno, signal contexts) and these functions. Both of the shim's entry paths
// (libc symbol wrappers and the seccomp trap) end here, so behaviour cannot
// differ by path. Allocation-free and not thread-safe: the shim serialises
// calls. Later a coordinator process will own the global clock; this class
// then keeps the local clock between synchronisation points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sim/kernel/clock.hpp"
#include "sim/kernel/event_line.hpp"
#include "sim/random.hpp"

namespace marionette {

/// Configuration of one simulated process.
struct KernelOptions {
    std::uint64_t seed = 0;
    /// Index of the node and of the process within the run; each pair gets
    /// its own random streams and identity.
    std::uint64_t node_index = 0;
    std::uint64_t process_index = 0;
    /// --timeout: the process ends once this much virtual time has elapsed
    /// in the run (0: no limit).
    Ns virtual_timeout_ns = 0;
    ClockOptions clock;
    /// uname nodename and gethostname; truncated to 64 bytes.
    std::string_view hostname = "node0";
};

/// getrandom(2) flags (uapi/linux/random.h).
inline constexpr unsigned grnd_nonblock = 1;
inline constexpr unsigned grnd_random = 2;
inline constexpr unsigned grnd_insecure = 4;

/// The simulated kernel of one process.
class Kernel {
public:
    static constexpr std::size_t max_threads = 256;
    static constexpr std::size_t hostname_capacity = 65;

    explicit Kernel(const KernelOptions& options);

    /// Where trace event lines go (nowhere by default).
    void set_sink(EventSink sink) { sink_ = sink; }

    VirtualClock& clock() { return clock_; }
    const VirtualClock& clock() const { return clock_; }

    /// clock_gettime: charges one call, then reads. 0 or -EINVAL.
    int clock_gettime(int clock_id, TimeSpec& out);
    /// clock_getres: charges one call. 0 or -EINVAL.
    int clock_getres(int clock_id, TimeSpec& out);
    /// nanosleep/clock_nanosleep: jumps the clock, emits `time.sleep`.
    int clock_nanosleep(int clock_id, bool absolute, const TimeSpec& request);
    /// The scheduled form of a sleep: charges the call and computes the
    /// elapsed time the sleep ends at (clamped to the run's time limit),
    /// without moving the clock; the scheduler wakes the process then.
    int sleep_until(int clock_id, bool absolute, const TimeSpec& request, Ns& wake_elapsed_ns);
    /// Emits `time.sleep` for a scheduled sleep that began at `from_elapsed`
    /// and ended at the current time.
    void note_slept(int clock_id, bool absolute, Ns from_elapsed_ns);
    /// Moves the clock forward to `elapsed_ns` (another process's time, or
    /// the end of a scheduled wait); never backwards.
    void catch_up(Ns elapsed_ns) {
        if (elapsed_ns > clock_.elapsed_ns()) clock_.advance(elapsed_ns - clock_.elapsed_ns());
    }
    /// rdtsc/rdtscp: charges one call and returns the virtual TSC: one tick
    /// per virtual nanosecond of monotonic time, plus the node's offset
    /// (below one second, drawn from the seed: machines' counters differ,
    /// processes of one machine share theirs).
    std::uint64_t read_tsc();

    /// getrandom: fills `bytes` from the process's stream, emits
    /// `random.getrandom`. Returns the count or -EINVAL for unknown flags.
    long getrandom(std::span<std::byte> bytes, unsigned flags);
    /// Bytes read from /dev/urandom or /dev/random; emits `random.device_read`.
    void read_random_device(std::span<std::byte> bytes);
    /// Bytes for AT_RANDOM, from their own stream so they shift nothing else.
    void fill_at_random(std::span<std::byte> bytes);

    /// Charges one intercepted call that has no other simulated effect
    /// (getpid, uname, kill, signal-mask changes, ...): time still moves.
    void note_call() { charge(); }

    /// Takes the identity the scheduler assigned (a forked child, or any
    /// process of a coordinated run): virtual pid and parent pid, and the
    /// random streams of `process_index`; the thread table starts empty.
    void become(std::int32_t pid, std::int32_t ppid, std::uint64_t process_index);

    /// Virtual pid, ppid; the main thread's tid is the pid.
    std::int32_t pid() const { return pid_; }
    std::int32_t ppid() const { return ppid_; }
    /// Virtual tid for a real tid (new threads numbered in order of first
    /// sight); `real_pid` identifies the main thread.
    std::int32_t tid_for(std::int32_t real_tid, std::int32_t real_pid);
    /// The real pid/tid a virtual one stands for, or `id` itself if it is
    /// not one of ours (so kill(2) reaches the intended process).
    std::int32_t real_id_for(std::int32_t id, std::int32_t real_pid) const;
    std::string_view hostname() const { return {hostname_, hostname_size_}; }

    /// Emits `process.start` (identity and clock configuration).
    void emit_start();
    /// Emits `determinism.escape` naming what was not simulated.
    void emit_escape(std::string_view what, std::string_view name, long detail = 0);
    /// Emits `determinism.escape source=preempt thread=TID`: a thread that
    /// spun without a system call was preempted at a point no seed decides.
    void emit_preempt(std::int32_t tid);
    /// Emits `thread.create` for a thread the scheduler does not run (its
    /// interleaving is not deterministic).
    void emit_thread_create();
    /// Emits `process.stats` with the call counters (at normal exit).
    void emit_stats();

    /// True once the virtual time limit (if any) is reached; the shim then
    /// ends the process after emitting `process.virtual_timeout`.
    bool past_deadline() const { return timeout_ns_ != 0 && clock_.elapsed_ns() >= timeout_ns_; }
    void emit_virtual_timeout();

    /// A program's own event (marionette_record): `name` and the already
    /// escaped `key=value ...` text, both validated by the caller. False if
    /// the line would not fit in one event line.
    bool emit_recorded(std::string_view name, std::string_view escaped_fields);

    /// Number of intercepted calls so far.
    std::uint64_t calls() const { return calls_; }

    /// Whether calls cost virtual time: the shim turns it off for calls of
    /// threads other than the main one, whose interleaving with the main
    /// thread is not deterministic (their calls must not move the clock).
    void set_charging(bool on) { charging_ = on; }

private:
    void charge() {
        ++calls_;
        if (charging_) clock_.charge_call();
    }

    VirtualClock clock_;
    std::uint64_t seed_;
    std::uint64_t node_index_;
    Prng random_;
    Prng at_random_;
    EventSink sink_;
    std::int32_t pid_;
    std::int32_t ppid_;
    std::int32_t real_tids_[max_threads] = {};
    std::size_t thread_count_ = 0;
    char hostname_[hostname_capacity] = {};
    std::size_t hostname_size_ = 0;
    std::uint64_t calls_ = 0;
    Ns timeout_ns_ = 0;
    std::uint64_t tsc_offset_ = 0;
    bool charging_ = true;
    std::uint64_t random_bytes_ = 0;
    std::uint64_t threads_created_ = 0;
};

}  // namespace marionette
