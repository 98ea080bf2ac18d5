// The messages a running process sends the scheduler, kind by kind (see
// include/marionette/wire.hpp and scheduler.hpp).
#include "coordinator/scheduler.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "coordinator/scheduler_internal.hpp"

namespace marionette {

using namespace scheduler_detail;

namespace {

/// The message's fixed-size struct; false if the payload is too short.
template <typename T>
bool take(const std::vector<std::byte>& payload, T& out) {
    if (payload.size() < sizeof out) return false;
    std::memcpy(&out, payload.data(), sizeof out);
    return true;
}

}  // namespace

void Scheduler::handle(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    // The events this message causes are its node's (a crash point armed
    // on a cluster node counts them); `p` may be gone afterwards.
    Coordinator& node = *p.node;
    node.begin_caused();
    dispatch(p, header, payload, fds);
    node.end_caused();
}

void Scheduler::dispatch(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    bool well_formed = true;
    switch (static_cast<wire::Kind>(header.kind)) {
        case wire::Kind::trace:
            if (hooks_.on_line) {
                hooks_.on_line(*p.node, p.pid, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
            }
            return;
        case wire::Kind::hello: well_formed = on_hello(p, header, payload, fds); break;
        case wire::Kind::syscall: well_formed = on_syscall(p, header, payload, fds); break;
        case wire::Kind::block: well_formed = on_block(p, header, payload, fds); break;
        case wire::Kind::forked: well_formed = on_forked(p, header, payload, fds); break;
        case wire::Kind::pid: well_formed = on_pid(p, header, payload, fds); break;
        case wire::Kind::signal: well_formed = on_signal(p, header, payload, fds); break;
        case wire::Kind::net: well_formed = on_net(p, header, payload, fds); break;
        case wire::Kind::timer: well_formed = on_timer(p, header, payload, fds); break;
        case wire::Kind::code: well_formed = on_code(p, header, payload, fds); break;
        case wire::Kind::channel: well_formed = on_channel(p, header, payload, fds); break;
        case wire::Kind::thread: well_formed = on_thread(p, header, payload, fds); break;
        case wire::Kind::futex: well_formed = on_futex(p, header, payload, fds); break;
        case wire::Kind::doorbell:
            ++transport_.doorbells;
            serve_process_channels(process_of(p));
            return;
        case wire::Kind::exit: send(p, reply_bytes(header.sequence, 0)); return;
        default: well_formed = false; break;
    }
    if (well_formed) return;
    trace_.emit("coordinator.protocol_error", {{"process", static_cast<std::uint64_t>(p.pid)},
                                               {"kind", static_cast<std::uint64_t>(header.kind)}});
    send(p, reply_bytes(header.sequence, -EPROTO));
}

/// A hello on a known connection: the launched process's first image, or an exec.
bool Scheduler::on_hello(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::Hello hello;
    if (!take(payload, hello)) return false;
    if (p.state == State::expected) {
        // The launched process's first image: it waits its turn.
        if (p.pid == 0) {
            p.pid = hello.pid;
            p.ppid = hello.ppid;
            last_pid_ = std::max(last_pid_, p.pid);
        }
        p.deferred = p.node->handle(p.local, header, payload);
        p.state = State::ready;
        return true;
    }
    // Named while the process waits for the reply: it may exec again
    // right after.
    if (hello.origin == wire::Origin::exec) {
        // The old image's channel went with it; the new one sends its own.
        harvest_call_counts(p);
        p.channel.reset();
        // So did its other threads (execve from any thread leaves one).
        for (auto it = processes_.begin(); it != processes_.end();) {
            if (it->second->leader != p.id) {
                ++it;
                continue;
            }
            for (int fd : it->second->wait.fds) ::close(fd);
            harvest_call_counts(*it->second);
            it = processes_.erase(it);
        }
        p.thread_ended = false;
        if (p.state != State::running) {
            // A thread other than the main one called execve: it is the process now.
            for (int fd : p.wait.fds) ::close(fd);
            p.wait = Wait{};
            p.deferred.clear();
            p.interrupted = false;
            p.state = State::running;
        }
        p.name = program_name(p.real_pid);
        trace_.emit("process.exec", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"program", p.name}});
    }
    send(p, p.node->handle(p.local, header, payload));
    return true;
}

/// A forwarded file call; the crash point may be reached right after it.
bool Scheduler::on_syscall(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    std::vector<std::byte> answer = p.node->handle(p.local, header, payload);
    if (!p.node->crash_requested() && p.node->crash_point_reached()) {
        // Power goes right after this call reached the node's kernel:
        // the caller never learns how it ended.
        p.node->request_crash(p.local);
        return true;
    }
    send(p, std::move(answer));
    return true;
}

/// The process parks until what it waits for happens.
bool Scheduler::on_block(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::BlockRequest request;
    if (!take(payload, request) || request.fd_count > wire::max_block_fds) return false;
    if (request.fds_by_number != 0) {
        // Named, not sent (the request came through the channel): our own
        // copies, taken from the process while it waits for this reply.
        const int pidfd = process_of(p).pidfd;
        if (!fds.empty() || pidfd < 0) return false;
        for (std::uint32_t i = 0; i < request.fd_count; ++i) {
            const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, request.numbers[i], 0));
            if (copy < 0) {
                for (int taken : fds) ::close(taken);
                fds.clear();
                return false;
            }
            fds.push_back(copy);
        }
    }
    if (request.fd_count != fds.size()) return false;
    clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
    p.wait = Wait{};
    p.wait.deadline_ns = request.deadline_ns;
    p.wait.child = request.child;
    p.wait.what = static_cast<wire::BlockWhat>(request.what);
    p.wait.fds = std::move(fds);
    fds.clear();
    p.wait.events.assign(request.events, request.events + request.fd_count);
    if (request.child != 0) {
        // The shim blocks only after a non-blocking wait found no
        // zombie: children we think exited were reaped behind our
        // back (by a SIGCHLD handler that ran inside the shim, say).
        const ProcessId parent = process_of(p).id;
        std::erase_if(exited_, [&](const Exited& e) {
            return e.node == p.node && e.parent == parent && (request.child == -1 || request.child == e.pid);
        });
    }
    p.deferred = reply_bytes(header.sequence, wire::woke_scheduled);
    p.state = State::blocked;
    p.interrupted = false;
    return true;
}

/// The parent reports a child: both become runnable.
bool Scheduler::on_forked(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::PidQuery query;
    if (!take(payload, query)) return false;
    Proc& c = add_child(process_of(p), static_cast<pid_t>(query.pid), "process.fork");
    // Who runs after a fork, parent or child, is the seed's choice.
    p.deferred = reply_bytes(header.sequence, c.pid);
    p.state = State::ready;
    return true;
}

/// Pid translation between virtual and real.
bool Scheduler::on_pid(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::PidQuery query;
    if (!take(payload, query)) return false;
    long result = -ESRCH;
    if (query.op == 0) {
        if (const Proc* q = by_pid(p.node, static_cast<std::int32_t>(query.pid))) result = q->real_pid;
        for (const Exited& e : exited_) {
            if (e.pid == query.pid && e.node == p.node) result = e.real_pid;
        }
    } else {
        if (const Proc* q = by_real(static_cast<pid_t>(query.pid))) result = q->pid;
        for (auto it = exited_.begin(); it != exited_.end(); ++it) {
            if (it->real_pid != query.pid) continue;
            result = it->pid;
            if (query.op == 2) {
                trace_.emit("process.reaped", {{"pid", static_cast<std::uint64_t>(it->pid)}, {"by", static_cast<std::uint64_t>(p.pid)}});
                exited_.erase(it);
            }
            break;
        }
    }
    send(p, reply_bytes(header.sequence, result));
    return true;
}

/// The process signalled another of its node.
bool Scheduler::on_signal(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::SignalNotice notice;
    if (!take(payload, notice)) return false;
    trace_.emit("process.signal_sent", {{"from", static_cast<std::uint64_t>(p.pid)},
                                        {"to", static_cast<std::uint64_t>(notice.pid)},
                                        {"signal", static_cast<std::uint64_t>(notice.signal)}});
    Proc* target = by_pid(p.node, static_cast<std::int32_t>(notice.pid));
    if (target != nullptr && target == &process_of(p)) {
        // To itself: its threads waiting for a signal wake.
        interrupt(*target, notice.signal);
    } else if (target != nullptr) {
        if (notice.signal == SIGKILL) {
            // The target is gone before the sender goes on, so what the
            // sender sees next (wait, a pipe's end) is the same in every
            // run. The shim reports only a kill that succeeded: the target
            // dies whatever it was doing, and nothing more is read from it.
            // How long the kernel takes to make it a zombie is wall time,
            // so it is not waited for here with a limit: if it is not gone
            // yet, the sender's reply waits (as its `deferred`) until
            // poll_once sees the target's pidfd and finish_exit sends it.
            // The launcher's loop goes on meanwhile, so --wall-timeout
            // still ends a run whose target never dies.
            if (target->conn >= 0) ::close(target->conn);
            target->conn = -1;
            target->connection_closed = true;
            if (target->pidfd < 0 || ended_now(target->pidfd)) {
                finish_exit(*target);
            } else {
                target->state = State::exiting;
                target->killed_by = p.id;
                p.deferred = reply_bytes(header.sequence, 0);
                return true;
            }
        } else {
            interrupt(*target, notice.signal);
        }
    }
    send(p, reply_bytes(header.sequence, 0));
    return true;
}

/// A socket call on the simulated network (clusters).
bool Scheduler::on_net(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::NetRequest request;
    if (!take(payload, request)) return false;
    clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
    NetResponse response;
    if (hooks_.on_net) response = hooks_.on_net(*p.node, request);
    send_with_fd(p, reply_with_output(header.sequence, response.result, std::as_bytes(std::span(&response.answer, 1))),
                 response.fd);
    if (response.fd >= 0) ::close(response.fd);
    return true;
}

/// alarm/setitimer/timerfd on the virtual clock.
bool Scheduler::on_timer(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, [[maybe_unused]] std::vector<int>& fds) {
    wire::TimerRequest request;
    if (!take(payload, request)) return false;
    clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
    handle_timer(p, header, request, fds);
    return true;
}

void Scheduler::handle_timer(Proc& caller, const wire::Header& header, const wire::TimerRequest& request, std::vector<int>& fds) {
    const Ns now = clock_.now_ns();
    // Alarms are the process's, whichever thread sets them; replies go to the caller.
    Proc& p = process_of(caller);
    wire::TimerAnswer answer;
    auto remaining = [now](Ns deadline) { return deadline == 0 ? Ns{0} : deadline > now ? deadline - now : Ns{1}; };
    switch (request.op) {
        case wire::TimerOp::alarm_set:
        case wire::TimerOp::alarm_get:
            answer = {remaining(p.alarm_at), p.alarm_interval};
            if (request.op == wire::TimerOp::alarm_set) {
                p.alarm_at = request.value_ns == 0 ? 0 : now + request.value_ns;
                p.alarm_interval = request.value_ns == 0 ? 0 : request.interval_ns;
                trace_.emit("timer.alarm_set", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"in_ns", request.value_ns},
                                                {"interval_ns", request.interval_ns}});
            }
            break;
        case wire::TimerOp::timerfd_set: {
            Timer& timer = timers_[{p.node, request.timer}];
            answer = {remaining(timer.deadline), timer.interval};
            if (!fds.empty()) {
                if (timer.fd >= 0) ::close(timer.fd);
                timer.fd = fds.front();
                fds.erase(fds.begin());
            }
            timer.deadline = request.value_ns == 0 ? 0 : now + request.value_ns;
            timer.interval = request.value_ns == 0 ? 0 : request.interval_ns;
            trace_.emit("timer.timerfd_set", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"timer", request.timer},
                                              {"in_ns", request.value_ns}, {"interval_ns", request.interval_ns}});
            break;
        }
        case wire::TimerOp::timerfd_get: {
            auto it = timers_.find({p.node, request.timer});
            if (it != timers_.end()) answer = {remaining(it->second.deadline), it->second.interval};
            break;
        }
        default: send(caller, reply_bytes(header.sequence, -EINVAL)); return;
    }
    send(caller, reply_with_output(header.sequence, 0, std::as_bytes(std::span(&answer, 1))));
}

}  // namespace marionette
