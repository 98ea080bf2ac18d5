#include "coordinator/scheduler.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace marionette {
namespace {

/// Children of the first process get virtual pids after it, in fork order.
constexpr std::uint64_t child_process_index_base = 1024;
/// Wall time a dying or newborn process may take to show up before the
/// scheduler gives up waiting for it (it then proceeds without it).
constexpr int settle_wall_ms = 10'000;

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

bool readable_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

bool read_exact(int fd, void* buffer, std::size_t n) {
    auto* p = static_cast<char*>(buffer);
    while (n > 0) {
        const ssize_t got = ::read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

bool write_all(int fd, std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

/// Reads one framed message; descriptors sent along are returned in `fds`.
bool read_message(int fd, wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * wire::max_block_fds)];
    iovec iov{&header, sizeof header};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t got;
    do {
        got = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.push_back(received);
        }
    }
    if (static_cast<std::size_t>(got) < sizeof header &&
        !read_exact(fd, reinterpret_cast<char*>(&header) + got, sizeof header - static_cast<std::size_t>(got))) {
        return false;
    }
    if (header.magic != wire::wire_magic || header.payload_bytes > wire::max_payload_bytes + 4096) return false;
    payload.resize(header.payload_bytes);
    return payload.empty() || read_exact(fd, payload.data(), payload.size());
}

std::string program_name(pid_t real_pid) {
    std::ifstream comm("/proc/" + std::to_string(real_pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.empty() ? "?" : name;
}

std::string_view what_name(wire::BlockWhat what) {
    switch (what) {
        case wire::BlockWhat::sleep: return "sleep";
        case wire::BlockWhat::poll: return "poll";
        case wire::BlockWhat::read: return "read";
        case wire::BlockWhat::write: return "write";
        case wire::BlockWhat::wait_child: return "wait_child";
        case wire::BlockWhat::fork: return "fork";
        case wire::BlockWhat::yield: return "yield";
    }
    return "?";
}

/// Signals whose default action is to do nothing: they wake nobody.
bool ignored_by_default(long signal) {
    return signal == SIGCHLD || signal == SIGURG || signal == SIGWINCH || signal == SIGCONT || signal == 0;
}

}  // namespace

Scheduler::Scheduler(EventQueue& clock, Trace& trace, std::uint64_t seed, SchedulerHooks hooks)
    : clock_(clock), trace_(trace), hooks_(std::move(hooks)), choice_(Prng(seed).derive("scheduler", 0)) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    // An autobound abstract address: unique, nothing on the file system.
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(sa_family_t)) != 0 ||
        ::listen(listener_, 128) != 0) {
        throw std::runtime_error(std::string("coordinator listener: ") + std::strerror(errno));
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    address_.assign(address.sun_path + 1, length - sizeof(sa_family_t) - 1);
}

Scheduler::~Scheduler() {
    for (auto& [id, timer] : timers_) {
        if (timer.fd >= 0) ::close(timer.fd);
    }
    for (auto& [id, p] : processes_) {
        if (p->conn >= 0) ::close(p->conn);
        if (p->pidfd >= 0) ::close(p->pidfd);
        for (int fd : p->wait.fds) ::close(fd);
    }
    for (const Unbound& u : unbound_) ::close(u.conn);
    for (int fd : anonymous_) ::close(fd);
    if (listener_ >= 0) ::close(listener_);
}

Scheduler::Launch Scheduler::prepare_launch(Coordinator& node, std::string name) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    }
    if (std::find(nodes_.begin(), nodes_.end(), &node) == nodes_.end()) nodes_.push_back(&node);
    auto p = std::make_unique<Proc>();
    p->node = &node;
    p->local = node.add_process();
    p->id = next_id_++;
    p->conn = pair[0];
    p->name = std::move(name);
    p->launched = true;
    const ProcessId id = p->id;
    processes_.emplace(id, std::move(p));
    return {id, pair[1]};
}

void Scheduler::launched(ProcessId id, pid_t real_pid) {
    Proc& p = *processes_.at(id);
    p.real_pid = real_pid;
    p.pidfd = pidfd_open(real_pid);
}

bool Scheduler::launched_all_ended() const {
    return std::none_of(processes_.begin(), processes_.end(), [](const auto& entry) { return entry.second->launched; });
}

Coordinator* Scheduler::crashed_node() const {
    for (Coordinator* node : nodes_) {
        if (node->crash_requested()) return node;
    }
    return nullptr;
}

std::vector<pid_t> Scheduler::real_pids(const Coordinator* node) const {
    std::vector<pid_t> pids;
    for (const auto& [id, p] : processes_) {
        if (p->real_pid > 0 && (node == nullptr || p->node == node)) pids.push_back(p->real_pid);
    }
    if (node == nullptr) {
        for (const Unbound& u : unbound_) pids.push_back(u.real_pid);
    }
    return pids;
}

Scheduler::Proc* Scheduler::by_conn(int conn) {
    for (auto& [id, p] : processes_) {
        if (p->conn == conn) return p.get();
    }
    return nullptr;
}

Scheduler::Proc* Scheduler::by_real(pid_t real_pid) {
    for (auto& [id, p] : processes_) {
        if (p->real_pid == real_pid) return p.get();
    }
    return nullptr;
}

Scheduler::Proc* Scheduler::by_pid(const Coordinator* node, std::int32_t pid) {
    for (auto& [id, p] : processes_) {
        if (p->pid == pid && p->node == node) return p.get();
    }
    return nullptr;
}

Scheduler::Proc* Scheduler::running() {
    for (auto& [id, p] : processes_) {
        if (p->state == State::running) return p.get();
    }
    return nullptr;
}

std::int32_t Scheduler::next_pid() { return ++last_pid_; }

std::vector<std::byte> Scheduler::reply_bytes(std::uint32_t sequence, long result) {
    wire::Header header;
    header.kind = static_cast<std::uint16_t>(wire::Kind::reply);
    header.sequence = sequence;
    header.payload_bytes = sizeof(wire::SyscallReply);
    wire::SyscallReply body;
    body.result = result;
    body.now_ns = clock_.now_ns();
    std::vector<std::byte> bytes(sizeof header + sizeof body);
    std::memcpy(bytes.data(), &header, sizeof header);
    std::memcpy(bytes.data() + sizeof header, &body, sizeof body);
    return bytes;
}

std::uint64_t Scheduler::horizon() {
    std::optional<Ns> next = clock_.next_at();
    auto consider = [&next](Ns at) { next = std::min(next.value_or(at), at); };
    for (const auto& [id, q] : processes_) {
        if (q->state == State::blocked && q->wait.deadline_ns != 0) consider(q->wait.deadline_ns);
        if (q->alarm_at != 0) consider(q->alarm_at);
    }
    for (const auto& [id, timer] : timers_) {
        if (timer.deadline != 0) consider(timer.deadline);
    }
    if (hooks_.next_event_ns) {
        if (const std::optional<Ns> external = hooks_.next_event_ns()) consider(*external);
    }
    if (time_limit_ns_) consider(*time_limit_ns_);
    return next.value_or(0);
}

void Scheduler::send(Proc& p, std::span<const std::byte> bytes) {
    // A peer gone mid-reply shows up as end-of-file on the next poll.
    if (p.conn < 0) return;
    if (bytes.size() >= sizeof(wire::Header) + sizeof(wire::SyscallReply)) {
        wire::Header h;
        std::memcpy(&h, bytes.data(), sizeof h);
        if (h.kind == static_cast<std::uint16_t>(wire::Kind::reply)) {
            // Every reply says when the next event is due.
            std::vector<std::byte> patched(bytes.begin(), bytes.end());
            wire::SyscallReply body;
            std::memcpy(&body, patched.data() + sizeof h, sizeof body);
            body.horizon_ns = horizon();
            std::memcpy(patched.data() + sizeof h, &body, sizeof body);
            write_all(p.conn, patched);
            return;
        }
    }
    write_all(p.conn, bytes);
}

void Scheduler::send_with_fd(Proc& p, std::span<const std::byte> reply, int fd) {
    if (fd < 0) {
        send(p, reply);
        return;
    }
    if (p.conn < 0) return;
    std::vector<std::byte> bytes(reply.begin(), reply.end());
    wire::SyscallReply body;
    std::memcpy(&body, bytes.data() + sizeof(wire::Header), sizeof body);
    body.horizon_ns = horizon();
    std::memcpy(bytes.data() + sizeof(wire::Header), &body, sizeof body);
    // The descriptor rides on the first byte; the rest follows as usual.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{const_cast<std::byte*>(bytes.data()), 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do {
        n = ::sendmsg(p.conn, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n == 1) write_all(p.conn, std::span<const std::byte>(bytes).subspan(1));
}

void Scheduler::poll_once(std::span<pollfd> extra, int timeout_ms) {
    std::vector<pollfd> fds;
    fds.push_back({listener_, POLLIN, 0});
    for (int fd : anonymous_) fds.push_back({fd, POLLIN, 0});
    std::vector<int> conns, pidfds;
    for (auto& [id, p] : processes_) {
        if (p->conn >= 0) {
            fds.push_back({p->conn, POLLIN, 0});
            conns.push_back(p->conn);
        }
        if (p->pidfd >= 0 && (p->state == State::expected || p->state == State::exiting)) {
            fds.push_back({p->pidfd, POLLIN, 0});
            pidfds.push_back(p->pidfd);
        }
    }
    const std::size_t own = fds.size();
    fds.insert(fds.end(), extra.begin(), extra.end());
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    for (std::size_t i = 0; i < extra.size(); ++i) extra[i].revents = fds[own + i].revents;
    if (fds[0].revents != 0) accept_connections();
    for (std::size_t i = 1; i < own; ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        if (auto it = std::find(anonymous_.begin(), anonymous_.end(), fd); it != anonymous_.end()) {
            anonymous_.erase(it);
            wire::Header header;
            std::vector<std::byte> payload;
            std::vector<int> passed;
            const bool ok = read_message(fd, header, payload, passed);
            for (int unexpected : passed) ::close(unexpected);
            if (!ok || header.kind != static_cast<std::uint16_t>(wire::Kind::hello)) {
                ::close(fd);
                continue;
            }
            handle_unbound_hello(fd, header, std::move(payload));
            continue;
        }
        if (std::find(conns.begin(), conns.end(), fd) != conns.end()) {
            // Drain every message already queued on this connection.
            do {
                if (!serve(fd)) break;
            } while (by_conn(fd) != nullptr && readable_now(fd));
            continue;
        }
        if (std::find(pidfds.begin(), pidfds.end(), fd) != pidfds.end()) {
            for (auto& [id, p] : processes_) {
                if (p->pidfd != fd) continue;
                // Died before its hello, or after its connection closed.
                if (p->state == State::expected || p->connection_closed) {
                    finish_exit(*p);
                } else if (p->conn >= 0 && !readable_now(p->conn)) {
                    finish_exit(*p);
                }
                break;
            }
        }
    }
    schedule();
}

void Scheduler::accept_connections() {
    for (;;) {
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        anonymous_.push_back(fd);
    }
}

bool Scheduler::serve(int conn) {
    Proc* p = by_conn(conn);
    if (p == nullptr) return false;
    wire::Header header;
    std::vector<std::byte> payload;
    std::vector<int> fds;
    if (!read_message(conn, header, payload, fds)) {
        for (int fd : fds) ::close(fd);
        connection_closed(*p);
        return false;
    }
    handle(*p, header, payload, fds);
    for (int fd : fds) ::close(fd);  // those handle() kept were moved out
    return true;
}

void Scheduler::handle(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    auto take = [&]<typename T>(T& out) {
        if (payload.size() < sizeof out) return false;
        std::memcpy(&out, payload.data(), sizeof out);
        return true;
    };
    switch (static_cast<wire::Kind>(header.kind)) {
        case wire::Kind::trace: {
            if (hooks_.on_line) {
                hooks_.on_line(*p.node, p.pid, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
            }
            return;
        }
        case wire::Kind::hello: {
            wire::Hello hello;
            if (!take(hello)) break;
            if (p.state == State::expected) {
                // The launched process's first image: it waits its turn.
                if (p.pid == 0) {
                    p.pid = hello.pid;
                    p.ppid = hello.ppid;
                    last_pid_ = std::max(last_pid_, p.pid);
                }
                p.deferred = p.node->handle(p.local, header, payload);
                p.state = State::ready;
                return;
            }
            // Named while the process waits for the reply: it may exec again
            // right after.
            if (hello.origin == wire::Origin::exec) {
                p.name = program_name(p.real_pid);
                trace_.emit("process.exec", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"program", p.name}});
            }
            send(p, p.node->handle(p.local, header, payload));
            return;
        }
        case wire::Kind::syscall: {
            std::vector<std::byte> answer = p.node->handle(p.local, header, payload);
            if (!p.node->crash_requested() && p.node->crash_point_reached()) {
                // Power goes right after this call reached the node's kernel:
                // the caller never learns how it ended.
                p.node->request_crash(p.local);
                return;
            }
            send(p, answer);
            return;
        }
        case wire::Kind::block: {
            wire::BlockRequest request;
            if (!take(request) || request.fd_count != fds.size() || request.fd_count > wire::max_block_fds) break;
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
                std::erase_if(exited_, [&](const Exited& e) {
                    return e.node == p.node && e.parent == p.id && (request.child == -1 || request.child == e.pid);
                });
            }
            p.deferred = reply_bytes(header.sequence, wire::woke_scheduled);
            p.state = State::blocked;
            p.interrupted = false;
            return;
        }
        case wire::Kind::forked: {
            wire::PidQuery query;
            if (!take(query)) break;
            auto child = std::make_unique<Proc>();
            child->node = p.node;
            child->local = p.node->fork_process(p.local);
            child->id = next_id_++;
            child->pid = next_pid();
            child->ppid = p.pid;
            child->parent = p.id;
            child->real_pid = static_cast<pid_t>(query.pid);
            child->pidfd = pidfd_open(child->real_pid);
            child->name = p.name;
            p.node->set_identity(child->local, {child->pid, p.pid, child_process_index_base + forks_++});
            trace_.emit("process.fork", {{"parent", static_cast<std::uint64_t>(p.pid)}, {"child", static_cast<std::uint64_t>(child->pid)}});
            Proc& c = *child;
            processes_.emplace(c.id, std::move(child));
            for (auto it = unbound_.begin(); it != unbound_.end(); ++it) {
                if (it->real_pid == c.real_pid) {
                    Unbound u = std::move(*it);
                    unbound_.erase(it);
                    bind(c, std::move(u));
                    break;
                }
            }
            // Who runs after a fork, parent or child, is the seed's choice.
            p.deferred = reply_bytes(header.sequence, c.pid);
            p.state = State::ready;
            return;
        }
        case wire::Kind::pid: {
            wire::PidQuery query;
            if (!take(query)) break;
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
            return;
        }
        case wire::Kind::signal: {
            wire::SignalNotice notice;
            if (!take(notice)) break;
            trace_.emit("process.signal_sent", {{"from", static_cast<std::uint64_t>(p.pid)},
                                                {"to", static_cast<std::uint64_t>(notice.pid)},
                                                {"signal", static_cast<std::uint64_t>(notice.signal)}});
            Proc* target = by_pid(p.node, static_cast<std::int32_t>(notice.pid));
            if (target != nullptr && target != &p) {
                if (notice.signal == SIGKILL) {
                    // The target is gone before the sender goes on, so what
                    // the sender sees next (wait, a pipe's end) is the same
                    // in every run.
                    pollfd gone{target->pidfd, POLLIN, 0};
                    if (target->pidfd >= 0 && ::poll(&gone, 1, settle_wall_ms) > 0) {
                        finish_exit(*target);
                    } else {
                        target->state = State::exiting;
                    }
                } else if (target->state == State::blocked && !ignored_by_default(notice.signal)) {
                    target->interrupted = true;
                }
            }
            send(p, reply_bytes(header.sequence, 0));
            return;
        }
        case wire::Kind::net: {
            wire::NetRequest request;
            if (!take(request)) break;
            clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
            NetResponse response;
            if (hooks_.on_net) response = hooks_.on_net(*p.node, request);
            send_with_fd(p, reply_with_output(header.sequence, response.result, std::as_bytes(std::span(&response.answer, 1))),
                         response.fd);
            if (response.fd >= 0) ::close(response.fd);
            return;
        }
        case wire::Kind::timer: {
            wire::TimerRequest request;
            if (!take(request)) break;
            clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
            handle_timer(p, header, request, fds);
            return;
        }
        case wire::Kind::exit: send(p, reply_bytes(header.sequence, 0)); return;
        default: break;
    }
    trace_.emit("coordinator.protocol_error", {{"process", static_cast<std::uint64_t>(p.pid)},
                                               {"kind", static_cast<std::uint64_t>(header.kind)}});
    send(p, reply_bytes(header.sequence, -EPROTO));
}

std::vector<std::byte> Scheduler::reply_with_output(std::uint32_t sequence, long result, std::span<const std::byte> out) {
    std::vector<std::byte> bytes = reply_bytes(sequence, result);
    wire::Header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    h.payload_bytes += static_cast<std::uint32_t>(out.size());
    std::memcpy(bytes.data(), &h, sizeof h);
    wire::SyscallReply body;
    std::memcpy(&body, bytes.data() + sizeof h, sizeof body);
    body.out_bytes = static_cast<std::uint32_t>(out.size());
    std::memcpy(bytes.data() + sizeof h, &body, sizeof body);
    bytes.insert(bytes.end(), out.begin(), out.end());
    return bytes;
}

void Scheduler::handle_timer(Proc& p, const wire::Header& header, const wire::TimerRequest& request, std::vector<int>& fds) {
    const Ns now = clock_.now_ns();
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
        default: send(p, reply_bytes(header.sequence, -EINVAL)); return;
    }
    send(p, reply_with_output(header.sequence, 0, std::as_bytes(std::span(&answer, 1))));
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
            if (p->state == State::blocked) p->interrupted = true;
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
        }
        if (timer.deadline != 0) consider(timer.deadline);
    }
    return next;
}

void Scheduler::handle_unbound_hello(int conn, const wire::Header& header, std::vector<std::byte> payload) {
    wire::Hello hello;
    if (payload.size() < sizeof hello) {
        ::close(conn);
        return;
    }
    std::memcpy(&hello, payload.data(), sizeof hello);
    Unbound u{conn, header, std::move(payload), static_cast<pid_t>(hello.real_pid), static_cast<pid_t>(hello.real_ppid)};
    if (Proc* p = by_real(u.real_pid); p != nullptr) {
        if (p->conn < 0 && p->state == State::expected) {
            bind(*p, std::move(u));
            return;
        }
        if (hello.origin == wire::Origin::exec && p->state == State::running) {
            // A new image whose inherited connection was closed by the
            // program: the fresh connection takes over.
            if (p->conn >= 0) ::close(p->conn);
            p->conn = u.conn;
            send(*p, p->node->handle(p->local, u.header, u.payload));
            return;
        }
    }
    unbound_.push_back(std::move(u));
}

void Scheduler::bind(Proc& child, Unbound unbound) {
    child.conn = unbound.conn;
    if (child.name.empty() || static_cast<wire::Origin>(reinterpret_cast<const wire::Hello*>(unbound.payload.data())->origin) ==
                                  wire::Origin::spawned) {
        child.name = program_name(child.real_pid);
    }
    child.deferred = child.node->handle(child.local, unbound.header, unbound.payload);
    child.state = State::ready;
}

void Scheduler::connection_closed(Proc& p) {
    ::close(p.conn);
    p.conn = -1;
    p.connection_closed = true;
    p.state = State::exiting;
    // A process is gone once the kernel has closed its descriptors and made
    // it a zombie: only then do pipes show end-of-file and wait4 find it.
    if (p.pidfd < 0) {
        finish_exit(p);
        return;
    }
    pollfd gone{p.pidfd, POLLIN, 0};
    if (::poll(&gone, 1, settle_wall_ms) >= 0) finish_exit(p);
}

void Scheduler::finish_exit(Proc& p) {
    const ProcessId id = p.id;
    trace_.emit("process.end", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"program", p.name}});
    if (p.parent != 0 && processes_.contains(p.parent)) exited_.push_back({p.node, p.parent, p.pid, p.real_pid});
    // Orphans: their parent is gone, nobody waits for them.
    for (auto& [other_id, other] : processes_) {
        if (other->parent == id) other->parent = 0;
    }
    if (p.conn >= 0) ::close(p.conn);
    if (p.pidfd >= 0) ::close(p.pidfd);
    for (int fd : p.wait.fds) ::close(fd);
    p.node->end_process(p.local);
    processes_.erase(id);
    if (pause_on_end_ && *pause_on_end_ == id) paused_ = true;
}

void Scheduler::adopt_unknown_children(Proc& p) {
    if (p.real_pid <= 0) return;
    std::ifstream list("/proc/" + std::to_string(p.real_pid) + "/task/" + std::to_string(p.real_pid) + "/children");
    pid_t real_child;
    while (list >> real_child) {
        if (by_real(real_child) != nullptr) continue;
        if (std::any_of(exited_.begin(), exited_.end(), [&](const Exited& e) { return e.real_pid == real_child; })) continue;
        // A child created without our fork wrapper (posix_spawn inside libc,
        // a raw clone): it is expected now, so no decision is taken before
        // it shows up.
        auto child = std::make_unique<Proc>();
        child->node = p.node;
        child->local = p.node->fork_process(p.local);
        child->id = next_id_++;
        child->pid = next_pid();
        child->ppid = p.pid;
        child->parent = p.id;
        child->real_pid = real_child;
        child->pidfd = pidfd_open(real_child);
        p.node->set_identity(child->local, {child->pid, p.pid, child_process_index_base + forks_++});
        trace_.emit("process.adopted", {{"parent", static_cast<std::uint64_t>(p.pid)}, {"child", static_cast<std::uint64_t>(child->pid)}});
        Proc& c = *child;
        processes_.emplace(c.id, std::move(child));
        for (auto it = unbound_.begin(); it != unbound_.end(); ++it) {
            if (it->real_pid == real_child) {
                Unbound u = std::move(*it);
                unbound_.erase(it);
                bind(c, std::move(u));
                break;
            }
        }
    }
}

bool Scheduler::can_run(Proc& p) {
    if (p.state == State::ready) return true;
    if (p.state != State::blocked) return false;
    if (p.interrupted || p.wait.what == wire::BlockWhat::yield) return true;
    const Ns now = clock_.now_ns();
    if (p.wait.deadline_ns != 0 && p.wait.deadline_ns <= now) return true;
    if (p.wait.child != 0) {
        bool any_child = false;
        for (const Exited& e : exited_) {
            if (e.node == p.node && e.parent == p.id && (p.wait.child == -1 || p.wait.child == e.pid)) return true;
        }
        for (const auto& [id, other] : processes_) {
            if (other->node == p.node && other->parent == p.id && (p.wait.child == -1 || p.wait.child == other->pid)) {
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
    std::vector<std::byte> bytes = std::move(p.deferred);
    p.deferred.clear();
    send(p, bytes);
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
            adopt_unknown_children(*it->second);
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
            if (next->state == State::blocked) {
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
        std::ostringstream waits;
        waits << what_name(p->wait.what);
        if (p->wait.child != 0) waits << " child=" << (p->wait.child == -1 ? std::string("any") : std::to_string(p->wait.child));
        if (!p->wait.fds.empty()) waits << " descriptors=" << p->wait.fds.size();
        text << "\n  pid " << p->pid << " (" << p->name << ") waits: " << waits.str();
        trace_.emit("scheduler.blocked", {{"pid", static_cast<std::uint64_t>(p->pid)}, {"program", p->name}, {"waits", waits.str()}});
    }
    trace_.emit("scheduler.deadlock", {{"processes", static_cast<std::uint64_t>(processes_.size())},
                                       {"launched_alive", std::string(launched_all_ended() ? "no" : "yes")}});
    deadlock_ = text.str();
}

}  // namespace marionette
