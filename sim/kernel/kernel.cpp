#include "sim/kernel/kernel.hpp"

#include <algorithm>
#include <cerrno>

namespace marionette {
namespace {

// Virtual pids live where real ones do on a small machine, away from 1.
constexpr std::uint64_t pid_min = 1000;
constexpr std::uint64_t pid_span = 30000;

std::string_view clock_name(int clock_id) {
    switch (clock_id) {
        case clock_realtime: return "realtime";
        case clock_monotonic: return "monotonic";
        case clock_process_cputime: return "process_cputime";
        case clock_thread_cputime: return "thread_cputime";
        case clock_monotonic_raw: return "monotonic_raw";
        case clock_realtime_coarse: return "realtime_coarse";
        case clock_monotonic_coarse: return "monotonic_coarse";
        case clock_boottime: return "boottime";
        case clock_realtime_alarm: return "realtime_alarm";
        case clock_boottime_alarm: return "boottime_alarm";
        case clock_tai: return "tai";
        default: return "dynamic";
    }
}

}  // namespace

Kernel::Kernel(const KernelOptions& options)
    : clock_(options.clock),
      seed_(options.seed),
      node_index_(options.node_index),
      random_(Prng(options.seed).derive("process.random", options.node_index * 65536 + options.process_index)),
      at_random_(Prng(options.seed).derive("process.at_random", options.node_index * 65536 + options.process_index)),
      timeout_ns_(options.virtual_timeout_ns),
      tsc_offset_(Prng(options.seed).derive("node.tsc", options.node_index).uint_less_than(ns_per_s)) {
    Prng identity = Prng(options.seed).derive("process.identity", options.node_index * 65536 + options.process_index);
    pid_ = static_cast<std::int32_t>(pid_min + identity.next_u64() % pid_span);
    ppid_ = static_cast<std::int32_t>(pid_min + identity.next_u64() % pid_span);
    if (ppid_ == pid_) ppid_ = pid_ == static_cast<std::int32_t>(pid_min) ? pid_ + 1 : pid_ - 1;
    for (char c : options.hostname) {
        if (hostname_size_ + 1 >= hostname_capacity) break;
        hostname_[hostname_size_++] = c;
    }
}

int Kernel::clock_gettime(int clock_id, TimeSpec& out) {
    charge();
    return clock_.read(clock_id, out);
}

int Kernel::clock_getres(int clock_id, TimeSpec& out) {
    charge();
    return clock_.resolution(clock_id, out);
}

int Kernel::clock_nanosleep(int clock_id, bool absolute, const TimeSpec& request) {
    charge();
    const Ns at = clock_.elapsed_ns();
    Ns slept_ns = 0;
    VirtualClock woken = clock_;
    const int result = woken.sleep(clock_id, absolute, request, slept_ns);
    if (result != 0) return result;
    if (timeout_ns_ != 0 && woken.elapsed_ns() > timeout_ns_ && at < timeout_ns_) {
        // The run's time limit falls inside the sleep: wake at the limit
        // (the shim then ends the process), not an hour later.
        slept_ns = timeout_ns_ - at;
        clock_.advance(slept_ns);
    } else {
        clock_ = woken;
    }
    EventLine line("time.sleep", at);
    line.add_text("clock", clock_name(clock_id)).add_text("mode", absolute ? "absolute" : "relative").add("duration_ns", slept_ns);
    sink_.emit(line.line());
    return 0;
}

int Kernel::sleep_until(int clock_id, bool absolute, const TimeSpec& request, Ns& wake_elapsed_ns) {
    charge();
    const Ns at = clock_.elapsed_ns();
    Ns slept_ns = 0;
    VirtualClock woken = clock_;
    const int result = woken.sleep(clock_id, absolute, request, slept_ns);
    if (result != 0) return result;
    wake_elapsed_ns = woken.elapsed_ns();
    // The run's time limit falls inside the sleep: wake at the limit.
    if (timeout_ns_ != 0 && wake_elapsed_ns > timeout_ns_ && at < timeout_ns_) wake_elapsed_ns = timeout_ns_;
    return 0;
}

void Kernel::note_slept(int clock_id, bool absolute, Ns from_elapsed_ns) {
    EventLine line("time.sleep", from_elapsed_ns);
    line.add_text("clock", clock_name(clock_id))
        .add_text("mode", absolute ? "absolute" : "relative")
        .add("duration_ns", clock_.elapsed_ns() - std::min(clock_.elapsed_ns(), from_elapsed_ns));
    sink_.emit(line.line());
}

void Kernel::become(std::int32_t pid, std::int32_t ppid, std::uint64_t process_index) {
    pid_ = pid;
    ppid_ = ppid;
    random_ = Prng(seed_).derive("process.random", node_index_ * 65536 + process_index);
    thread_count_ = 0;
}

std::uint64_t Kernel::read_tsc() {
    charge();
    return clock_.tsc() + tsc_offset_;
}

long Kernel::getrandom(std::span<std::byte> bytes, unsigned flags) {
    charge();
    if ((flags & ~(grnd_nonblock | grnd_random | grnd_insecure)) != 0) return -EINVAL;
    // GRND_INSECURE together with GRND_RANDOM is rejected by Linux too.
    if ((flags & grnd_insecure) != 0 && (flags & grnd_random) != 0) return -EINVAL;
    random_.fill(bytes);
    random_bytes_ += bytes.size();
    EventLine line("random.getrandom", clock_.elapsed_ns());
    line.add("len", bytes.size()).add("flags", flags);
    sink_.emit(line.line());
    return static_cast<long>(bytes.size());
}

void Kernel::read_random_device(std::span<std::byte> bytes) {
    charge();
    random_.fill(bytes);
    random_bytes_ += bytes.size();
    EventLine line("random.device_read", clock_.elapsed_ns());
    line.add("len", bytes.size());
    sink_.emit(line.line());
}

void Kernel::fill_at_random(std::span<std::byte> bytes) { at_random_.fill(bytes); }

std::int32_t Kernel::tid_for(std::int32_t real_tid, std::int32_t real_pid) {
    charge();
    if (real_tid == real_pid) return pid_;
    for (std::size_t i = 0; i < thread_count_; ++i) {
        if (real_tids_[i] == real_tid) return pid_ + static_cast<std::int32_t>(i + 1);
    }
    if (thread_count_ == max_threads) return pid_ + static_cast<std::int32_t>(max_threads + 1);
    real_tids_[thread_count_++] = real_tid;
    return pid_ + static_cast<std::int32_t>(thread_count_);
}

std::int32_t Kernel::real_id_for(std::int32_t id, std::int32_t real_pid) const {
    if (id == pid_) return real_pid;
    const std::int32_t index = id - pid_ - 1;
    if (index >= 0 && static_cast<std::size_t>(index) < thread_count_) return real_tids_[index];
    return id;
}

void Kernel::emit_start() {
    EventLine line("process.start", clock_.elapsed_ns());
    line.add("pid", static_cast<std::uint64_t>(pid_))
        .add("ppid", static_cast<std::uint64_t>(ppid_))
        .add_text("hostname", hostname())
        .add("start_realtime_ns", clock_.options().start_realtime_ns)
        .add("call_cost_ns", clock_.options().call_cost_ns);
    sink_.emit(line.line());
}

void Kernel::emit_escape(std::string_view what, std::string_view name, long detail) {
    EventLine line("determinism.escape", clock_.elapsed_ns());
    line.add_text(what, name);
    if (detail != 0) line.add_signed("detail", detail);
    sink_.emit(line.line());
}

void Kernel::emit_preempt(std::int32_t tid) {
    EventLine line("determinism.escape", clock_.elapsed_ns());
    line.add_text("source", "preempt").add("thread", static_cast<std::uint64_t>(tid));
    sink_.emit(line.line());
}

void Kernel::emit_thread_create() {
    ++threads_created_;
    EventLine line("thread.create", clock_.elapsed_ns());
    line.add("count", threads_created_).add_text("warning", "this thread is not scheduled: its interleaving is not deterministic");
    sink_.emit(line.line());
}

bool Kernel::emit_recorded(std::string_view name, std::string_view escaped_fields) {
    charge();
    EventLine line(name, clock_.elapsed_ns());
    if (!escaped_fields.empty() && !line.append_raw(escaped_fields)) return false;
    sink_.emit(line.line());
    return true;
}

void Kernel::emit_virtual_timeout() {
    EventLine line("process.virtual_timeout", clock_.elapsed_ns());
    line.add("timeout_ns", timeout_ns_);
    sink_.emit(line.line());
}

void Kernel::emit_stats() {
    EventLine line("process.stats", clock_.elapsed_ns());
    line.add("calls", calls_).add("random_bytes", random_bytes_).add("cpu_ns", clock_.cpu_ns());
    sink_.emit(line.line());
}

}  // namespace marionette
