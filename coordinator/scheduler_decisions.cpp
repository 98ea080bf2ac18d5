// The scheduler's decisions: who runs next, when virtual time jumps, what
// is due (timers, alarms), and the deadlock report. See scheduler.hpp.
#include "coordinator/scheduler.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "coordinator/scheduler_internal.hpp"
#include "sim/assert.hpp"

namespace marionette {

using namespace scheduler_detail;

std::uint64_t Scheduler::horizon() {
    std::optional<Ns> next = clock_.next_at();
    auto consider = [&next](Ns at) { next = std::min(next.value_or(at), at); };
    bool others_ready = false;
    for (const auto& [id, q] : processes_) {
        if (q->state == State::blocked && q->wait.deadline_ns != 0) consider(q->wait.deadline_ns);
        if (q->alarm_at != 0) consider(q->alarm_at);
        others_ready = others_ready || q->state == State::ready ||
                       (q->state == State::blocked && (q->wait.futex_woken || q->wait.what == wire::BlockWhat::yield));
    }
    // Someone else could run: the running one yields when its time slice
    // (virtual time, so the same point in every run) is used up.
    if (others_ready && slice_end_ns_ != 0) consider(slice_end_ns_);
    for (const auto& [id, timer] : timers_) {
        if (timer.deadline != 0) consider(timer.deadline);
    }
    if (hooks_.next_event_ns) {
        if (const std::optional<Ns> external = hooks_.next_event_ns()) consider(*external);
    }
    if (time_limit_ns_) consider(*time_limit_ns_);
    return next.value_or(0);
}

std::optional<Ns> Scheduler::fire_timers() {
    const Ns now = clock_.now_ns();
    std::optional<Ns> next;
    auto consider = [&next](Ns at) { next = std::min(next.value_or(at), at); };
    for (auto& [id, p] : processes_) {
        if (p->alarm_at == 0) continue;
        if (p->alarm_at <= now) {
            // SIGALRM on the virtual clock; a parked process takes it when it
            // runs again (its wait ends with EINTR).
            trace_.emit("timer.alarm", {{"pid", static_cast<std::uint64_t>(p->pid)}});
            if (p->real_pid > 0) ::kill(p->real_pid, SIGALRM);
            interrupt(*p, SIGALRM);
            p->alarm_at = p->alarm_interval == 0 ? 0 : now + p->alarm_interval;
        }
        if (p->alarm_at != 0) consider(p->alarm_at);
    }
    for (auto& [id, timer] : timers_) {
        if (timer.deadline == 0) continue;
        if (timer.deadline <= now) {
            const std::uint64_t count = 1 + (timer.interval == 0 ? 0 : (now - timer.deadline) / timer.interval);
            // The timerfd is an eventfd: adding the expirations makes it
            // readable with exactly the count timerfd's read returns.
            if (timer.fd >= 0) (void)!::write(timer.fd, &count, sizeof count);
            trace_.emit("timer.fire", {{"timer", id.second}, {"expirations", count}});
            timer.deadline = timer.interval == 0 ? 0 : timer.deadline + count * timer.interval;
            MARIONETTE_ASSERT(timer.deadline == 0 || timer.deadline > now, "a periodic timer's next expiry is ahead");
        }
        if (timer.deadline != 0) consider(timer.deadline);
    }
    return next;
}

bool Scheduler::can_run(Proc& p) {
    if (p.thread_ended) return false;
    if (p.state == State::ready) return true;
    if (p.state != State::blocked) return false;
    if (p.interrupted || p.wait.futex_woken || p.wait.what == wire::BlockWhat::yield) return true;
    const Ns now = clock_.now_ns();
    if (p.wait.deadline_ns != 0 && p.wait.deadline_ns <= now) return true;
    if (p.wait.child != 0) {
        bool any_child = false;
        const ProcessId parent = process_of(p).id;
        for (const Exited& e : exited_) {
            if (e.node == p.node && e.parent == parent && (p.wait.child == -1 || p.wait.child == e.pid)) return true;
        }
        for (const auto& [id, other] : processes_) {
            if (other->leader == 0 && other->node == p.node && other->parent == parent &&
                (p.wait.child == -1 || p.wait.child == other->pid)) {
                any_child = true;
            }
        }
        if (!any_child) return true;  // the real wait then reports ECHILD
    }
    return p.fds_ready;
}

void Scheduler::poll_waits() {
    // Every blocked process's descriptors in one poll.
    std::vector<pollfd> fds;
    for (auto& [id, p] : processes_) {
        p->fds_ready = false;
        if (p->state != State::blocked) continue;
        for (std::size_t i = 0; i < p->wait.fds.size(); ++i) fds.push_back({p->wait.fds[i], p->wait.events[i], 0});
    }
    if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0) return;
    std::size_t next = 0;
    for (auto& [id, p] : processes_) {
        if (p->state != State::blocked) continue;
        for (std::size_t i = 0; i < p->wait.fds.size(); ++i) p->fds_ready = p->fds_ready || fds[next++].revents != 0;
    }
}

void Scheduler::resume(Proc& p, long result) {
    // Exactly one runner: the one resumed now, and only if it could run.
    for (const auto& [id, other] : processes_) {
        MARIONETTE_ASSERT(other->state != State::running, "a process is resumed while another one runs");
    }
    MARIONETTE_ASSERT(can_run(p), "the resumed process was runnable");
    if (p.deferred.size() >= sizeof(wire::Header) + sizeof(wire::SyscallReply)) {
        wire::SyscallReply body;
        std::memcpy(&body, p.deferred.data() + sizeof(wire::Header), sizeof body);
        if (p.state == State::blocked) body.result = p.interrupted ? -EINTR : result;
        body.now_ns = clock_.now_ns();
        std::memcpy(p.deferred.data() + sizeof(wire::Header), &body, sizeof body);
    }
    for (int fd : p.wait.fds) ::close(fd);
    p.wait = Wait{};
    p.interrupted = false;
    p.state = State::running;
    last_runner_ = p.id;
    slice_end_ns_ = clock_.now_ns() + time_slice_ns;
    std::vector<std::byte> bytes = std::move(p.deferred);
    p.deferred.clear();
    send(p, std::move(bytes));
}

void Scheduler::schedule() {
    for (;;) {
        if (stopped_ || paused_ || deadlock_ || crash_requested() || running() != nullptr) return;
        // Decide only when the node is quiescent.
        for (const auto& [id, p] : processes_) {
            if (p->state == State::expected || p->state == State::exiting) return;
        }
        // Children whose parent never reported them (a fork outside our
        // wrappers) are found through /proc before anyone else runs.
        // Only the process that just ran can have made any.
        const std::size_t before = processes_.size();
        if (auto it = processes_.find(last_runner_); it != processes_.end()) {
            last_runner_ = 0;
            adopt_unknown_children(process_of(*it->second));
        }
        if (processes_.size() != before) continue;
        // A run's time limit is reached even by a process that never blocks
        // (it yielded at the horizon): pause before anyone runs on.
        if (time_limit_ns_ && clock_.now_ns() >= *time_limit_ns_ &&
            std::any_of(processes_.begin(), processes_.end(), [](const auto& entry) {
                return entry.second->state == State::blocked && entry.second->wait.what == wire::BlockWhat::yield;
            })) {
            paused_ = true;
            return;
        }
        // Virtual time never goes backwards from one decision to the next.
        MARIONETTE_ASSERT(clock_.now_ns() >= last_decision_ns_, "scheduler: virtual time went backwards");
        last_decision_ns_ = clock_.now_ns();
        const std::optional<Ns> timer_ns = fire_timers();
        if (hooks_.on_decision) hooks_.on_decision();
        poll_waits();
        std::vector<Proc*> runnable;
        for (auto& [id, p] : processes_) {
            if (can_run(*p)) runnable.push_back(p.get());
        }
        if (!runnable.empty()) {
            Proc* next = runnable[runnable.size() == 1 ? 0 : choice_.uint_less_than(runnable.size())];
            long reason = wire::woke_ready;
            if (next->state == State::blocked && next->wait.futex_woken) reason = next->wait.futex_result;
            if (next->state == State::blocked && !next->wait.futex_woken) {
                const Ns now = clock_.now_ns();
                if (next->wait.deadline_ns != 0 && next->wait.deadline_ns <= now) reason = wire::woke_deadline;
                if (next->wait.child != 0) reason = wire::woke_child;
            }
            resume(*next, reason);
            return;
        }
        if (processes_.empty()) return;
        // Nobody can run: time jumps to the next deadline.
        std::optional<Ns> next_ns;
        for (const auto& [id, p] : processes_) {
            if (p->state == State::blocked && p->wait.deadline_ns != 0) {
                next_ns = std::min(next_ns.value_or(p->wait.deadline_ns), p->wait.deadline_ns);
            }
        }
        if (const std::optional<Ns> queued = clock_.next_at()) next_ns = std::min(next_ns.value_or(*queued), *queued);
        if (timer_ns) next_ns = std::min(next_ns.value_or(*timer_ns), *timer_ns);
        if (hooks_.next_event_ns) {
            if (const std::optional<Ns> external = hooks_.next_event_ns()) next_ns = std::min(next_ns.value_or(*external), *external);
        }
        for (Coordinator* node : nodes_) {
            const std::optional<Ns> crash_at = node->crash_at_ns();
            if (crash_at && (!next_ns || *crash_at <= *next_ns) && (!time_limit_ns_ || *crash_at <= *time_limit_ns_)) {
                clock_.run_until(std::max(clock_.now_ns(), *crash_at));
                node->request_crash(0);
                return;
            }
        }
        if (time_limit_ns_ && (!next_ns || *next_ns > *time_limit_ns_)) {
            clock_.run_until(std::max(clock_.now_ns(), *time_limit_ns_));
            paused_ = true;
            return;
        }
        if (!next_ns) {
            report_deadlock();
            return;
        }
        clock_.run_until(std::max(clock_.now_ns(), *next_ns));
    }
}

void Scheduler::report_deadlock() {
    std::ostringstream text;
    text << "every process is blocked and nothing is scheduled:";
    for (const auto& [id, p] : processes_) {
        if (p->thread_ended) continue;
        std::ostringstream waits;
        waits << what_name(p->wait.what);
        if (p->wait.child != 0) waits << " child=" << (p->wait.child == -1 ? std::string("any") : std::to_string(p->wait.child));
        if (!p->wait.fds.empty()) waits << " descriptors=" << p->wait.fds.size();
        if (p->leader != 0) {
            text << "\n  pid " << p->pid << " thread " << p->tid << " (" << p->name << ") waits: " << waits.str();
            trace_.emit("scheduler.blocked", {{"pid", static_cast<std::uint64_t>(p->pid)},
                                              {"tid", static_cast<std::uint64_t>(p->tid)},
                                              {"program", p->name},
                                              {"waits", waits.str()}});
            continue;
        }
        text << "\n  pid " << p->pid << " (" << p->name << ") waits: " << waits.str();
        trace_.emit("scheduler.blocked", {{"pid", static_cast<std::uint64_t>(p->pid)}, {"program", p->name}, {"waits", waits.str()}});
    }
    trace_.emit("scheduler.deadlock", {{"processes", static_cast<std::uint64_t>(processes_.size())},
                                       {"launched_alive", std::string(launched_all_ended() ? "no" : "yes")}});
    deadlock_ = text.str();
}

}  // namespace marionette
