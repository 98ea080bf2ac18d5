// Threads and futexes in the scheduler (interpose/threads.cpp is the shim's
// side; docs/processes.md, "Threads").
//
// A thread is a scheduled entity like a process (a Proc whose `leader` is
// its process): it runs only when the seed picks it, and it has its own
// channel. Its connection, pidfd, children, alarms and file table are its
// process's.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "coordinator/scheduler.hpp"
#include "coordinator/scheduler_internal.hpp"

namespace marionette {

using namespace scheduler_detail;

namespace {

template <typename T>
bool take(const std::vector<std::byte>& payload, T& out) {
    if (payload.size() < sizeof out) return false;
    std::memcpy(&out, payload.data(), sizeof out);
    return true;
}

/// True once the kernel has let thread `real_tid` of `real_pid` go: it
/// then has cleared its CLONE_CHILD_CLEARTID word.
bool thread_gone(pid_t real_pid, pid_t real_tid) {
    return ::syscall(SYS_tgkill, real_pid, real_tid, 0) != 0 && errno == ESRCH;
}

/// How long a thread that said it ends may take to be gone before the run
/// treats it as gone anyway (a kernel that never lets it go).
constexpr auto thread_end_limit = std::chrono::seconds(10);

constexpr std::uint32_t futex_any_bitset = 0xffffffff;

}  // namespace

bool Scheduler::on_thread(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    wire::ThreadRequest request;
    if (!take(payload, request) || !fds.empty()) return false;
    Proc& process = process_of(p);
    switch (request.op) {
        case wire::ThreadOp::arrive:
            // The new thread's first message, served while its creator's
            // `start` is handled: it waits for its first turn.
            if (p.leader == 0 || p.state != State::expected) return false;
            p.deferred = reply_bytes(header.sequence, p.tid);
            p.wait = Wait{};
            p.wait.what = wire::BlockWhat::thread;
            p.state = State::ready;
            return true;
        case wire::ThreadOp::start: {
            if (process.pidfd < 0 || request.region_fd < 0 || request.real_tid <= 0) return false;
            const int memfd = static_cast<int>(::syscall(SYS_pidfd_getfd, process.pidfd, request.region_fd, 0));
            if (memfd < 0) return false;
            auto thread = std::make_unique<Proc>();
            try {
                thread->channel = ChannelHost::adopt(memfd, wire::ChannelSetup{}, true);
            } catch (const ChannelError& error) {
                ::close(memfd);
                channel_failure(process, error);
            }
            ::close(memfd);
            thread->node = process.node;
            thread->local = process.local;
            thread->id = next_id_++;
            thread->leader = process.id;
            thread->pid = process.pid;
            thread->ppid = process.ppid;
            thread->tid = next_pid();
            thread->real_tid = request.real_tid;
            thread->name = process.name;
            thread->state = State::expected;
            Proc& t = *thread;
            processes_.emplace(t.id, std::move(thread));
            clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
            trace_.emit("thread.start", {{"pid", static_cast<std::uint64_t>(process.pid)},
                                         {"tid", static_cast<std::uint64_t>(t.tid)},
                                         {"by", static_cast<std::uint64_t>(p.leader == 0 ? p.pid : p.tid)}});
            // Its `arrive` is posted already (the creator waited for it).
            if (!serve_channel(t) || t.state != State::ready) {
                trace_.emit("coordinator.protocol_error", {{"process", static_cast<std::uint64_t>(process.pid)},
                                                           {"thread", static_cast<std::uint64_t>(t.tid)}});
                processes_.erase(t.id);
                send(p, reply_bytes(header.sequence, -EAGAIN));
                return true;
            }
            // Creator or new thread: the seed's choice.
            p.deferred = reply_bytes(header.sequence, t.tid);
            p.wait = Wait{};
            p.state = State::ready;
            return true;
        }
        case wire::ThreadOp::signal: {
            Proc* target = nullptr;
            for (auto& [id, q] : processes_) {
                if (&process_of(*q) != &process) continue;
                if ((q->leader == 0 && q->real_pid == request.real_tid) || (q->leader != 0 && q->real_tid == request.real_tid)) {
                    target = q.get();
                    break;
                }
            }
            const auto signal = static_cast<long>(request.clear_tid);
            if (target != nullptr) {
                trace_.emit("thread.signal_sent", {{"pid", static_cast<std::uint64_t>(process.pid)},
                                                   {"from", static_cast<std::uint64_t>(p.leader == 0 ? p.pid : p.tid)},
                                                   {"to", static_cast<std::uint64_t>(target->leader == 0 ? target->pid : target->tid)},
                                                   {"signal", static_cast<std::uint64_t>(signal)}});
                if (target != &p && target->state == State::blocked && !ignored_by_default(signal)) target->interrupted = true;
            }
            send(p, reply_bytes(header.sequence, 0));
            return true;
        }
        case wire::ThreadOp::exit: {
            clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
            send(p, reply_bytes(header.sequence, 0));
            if (p.leader == 0) {
                // The main thread leaves; the process lives on with its others.
                trace_.emit("thread.end", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"tid", static_cast<std::uint64_t>(p.pid)}});
                p.thread_ended = true;
                p.state = State::blocked;
                p.wait = Wait{};
                p.wait.what = wire::BlockWhat::thread;
                return true;
            }
            // It ends right after our reply: decide nothing until the
            // kernel has let it go (a few microseconds), so its joiner
            // finds its tid word cleared.
            const auto start = std::chrono::steady_clock::now();
            while (!thread_gone(process.real_pid, p.real_tid) && !(process.pidfd >= 0 && ended_now(process.pidfd))) {
                if (std::chrono::steady_clock::now() - start > thread_end_limit) break;
                std::this_thread::yield();
            }
            finish_thread(p, request.clear_tid);
            return true;
        }
    }
    return false;
}

void Scheduler::interrupt(Proc& process, long signal) {
    if (signal == 0) return;
    for (auto& [id, q] : processes_) {
        if (q->state != State::blocked || &process_of(*q) != &process) continue;
        if (q->wait.what == wire::BlockWhat::signal || (q.get() == &process && !ignored_by_default(signal))) q->interrupted = true;
    }
}

void Scheduler::finish_thread(Proc& thread, std::uint64_t clear_tid) {
    const ProcessId id = thread.id;
    const ProcessId process = thread.leader;
    trace_.emit("thread.end", {{"pid", static_cast<std::uint64_t>(thread.pid)}, {"tid", static_cast<std::uint64_t>(thread.tid)}});
    for (int fd : thread.wait.fds) ::close(fd);
    harvest_call_counts(thread);
    processes_.erase(id);
    // The kernel's wake on the cleared word reached nobody: the joiners
    // wait here.
    if (clear_tid != 0) futex_wake(FutexKey{process, 0, 0, clear_tid}, ~std::uint32_t{0} >> 1, futex_any_bitset);
}

Scheduler::FutexKey Scheduler::futex_key(Proc& p, const wire::FutexKey& key) {
    if (key.shared == 0) return FutexKey{process_of(p).id, 0, 0, key.offset};
    return FutexKey{0, key.device, key.inode, key.offset};
}

bool Scheduler::on_futex(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::FutexRequest request;
    if (!take(payload, request)) return false;
    clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
    const FutexKey key = futex_key(p, request.key);
    switch (request.op) {
        case wire::FutexOp::wait:
        case wire::FutexOp::wait_any:
        case wire::FutexOp::lock_pi: {
            Wait wait;
            wait.what = wire::BlockWhat::futex;
            wait.deadline_ns = request.deadline_ns;
            wait.futex_bitset = request.op == wire::FutexOp::wait ? request.bitset : futex_any_bitset;
            wait.futex_pi = request.op == wire::FutexOp::lock_pi;
            if (request.op == wire::FutexOp::wait_any) {
                // futex_waitv's keys follow the request.
                const std::size_t count = request.count;
                if (count == 0 || count > wire::max_futex_waitv || payload.size() != sizeof request + count * sizeof(wire::FutexKey)) {
                    return false;
                }
                for (std::size_t i = 0; i < count; ++i) {
                    wire::FutexKey k;
                    std::memcpy(&k, payload.data() + sizeof request + i * sizeof k, sizeof k);
                    wait.futex_keys.push_back(futex_key(p, k));
                }
            } else {
                wait.futex_keys.push_back(key);
            }
            p.wait = std::move(wait);
            p.deferred = reply_bytes(header.sequence, wire::woke_scheduled);
            p.state = State::blocked;
            p.interrupted = false;
            return true;
        }
        case wire::FutexOp::wake:
            send(p, reply_bytes(header.sequence, futex_wake(key, request.count, request.bitset)));
            return true;
        case wire::FutexOp::requeue: {
            const std::uint32_t woken = futex_wake(key, request.count, futex_any_bitset);
            // The rest move to the second word, up to count2, in id order
            // (futex_waitv's waiters stay).
            const FutexKey to = futex_key(p, request.key2);
            std::uint32_t moved = 0;
            for (auto& [id, q] : processes_) {
                if (moved >= request.count2) break;
                if (q->state != State::blocked || q->wait.what != wire::BlockWhat::futex || q->wait.futex_woken ||
                    q->wait.futex_pi || q->wait.futex_keys.size() != 1 || q->wait.futex_keys[0] != key) {
                    continue;
                }
                q->wait.futex_keys[0] = to;
                ++moved;
            }
            send(p, reply_bytes(header.sequence, woken + (request.bitset == 1 ? moved : 0)));
            return true;
        }
        case wire::FutexOp::wake_two: {
            std::uint32_t woken = futex_wake(key, request.count, futex_any_bitset);
            if (request.count2 > 0) woken += futex_wake(futex_key(p, request.key2), request.count2, futex_any_bitset);
            send(p, reply_bytes(header.sequence, woken));
            return true;
        }
        case wire::FutexOp::unlock_pi: {
            // The lock goes to one PI waiter, the seed's choice; the shim
            // writes its tid into the word before anyone else runs.
            pid_t handed = 0;
            long answer = 0;
            if (futex_wake(key, 1, futex_any_bitset, true, &handed) == 1) {
                answer = handed;
                if (any_pi_waiter(key)) answer += wire::futex_more_waiters;
            }
            send(p, reply_bytes(header.sequence, answer));
            return true;
        }
    }
    return false;
}

void Scheduler::wake_shared_futex_waiters() {
    for (auto& [id, q] : processes_) {
        if (q->state != State::blocked || q->wait.what != wire::BlockWhat::futex || q->wait.futex_woken) continue;
        if (q->wait.futex_keys.size() != 1 || q->wait.futex_keys[0].process != 0) continue;
        q->wait.futex_woken = true;
        q->wait.futex_result = wire::woke_ready;
    }
}

bool Scheduler::any_pi_waiter(const FutexKey& key) const {
    return std::any_of(processes_.begin(), processes_.end(), [&](const auto& entry) {
        const Proc& q = *entry.second;
        return q.state == State::blocked && q.wait.what == wire::BlockWhat::futex && q.wait.futex_pi && !q.wait.futex_woken &&
               q.wait.futex_keys.size() == 1 && q.wait.futex_keys[0] == key;
    });
}

std::uint32_t Scheduler::futex_wake(const FutexKey& key, std::uint32_t count, std::uint32_t bitset, bool pi, pid_t* handed) {
    std::vector<std::pair<Proc*, long>> waiters;
    for (auto& [id, q] : processes_) {
        if (q->state != State::blocked || q->wait.what != wire::BlockWhat::futex || q->wait.futex_woken) continue;
        if (q->wait.futex_pi != pi || (q->wait.futex_bitset & bitset) == 0) continue;
        const auto& keys = q->wait.futex_keys;
        const auto found = std::find(keys.begin(), keys.end(), key);
        if (found == keys.end()) continue;
        // A futex_waitv waiter learns which of its words woke it (index + 1).
        const long result = keys.size() > 1 ? static_cast<long>(found - keys.begin()) + 1 : wire::woke_ready;
        waiters.emplace_back(q.get(), result);
    }
    // Which waiters a wake reaches is the seed's choice.
    std::uint32_t woken = 0;
    while (woken < count && !waiters.empty()) {
        const std::size_t pick = waiters.size() == 1 ? 0 : choice_.uint_less_than(waiters.size());
        Proc& q = *waiters[pick].first;
        q.wait.futex_woken = true;
        q.wait.futex_result = waiters[pick].second;
        if (handed != nullptr && woken == 0) *handed = q.leader == 0 ? q.real_pid : q.real_tid;
        waiters.erase(waiters.begin() + static_cast<std::ptrdiff_t>(pick));
        ++woken;
    }
    return woken;
}

}  // namespace marionette
