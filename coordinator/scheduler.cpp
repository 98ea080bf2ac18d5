#include "coordinator/scheduler.hpp"

#include "coordinator/fd_io.hpp"
#include "coordinator/scheduler_internal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace marionette {
namespace {

using namespace scheduler_detail;

bool readable_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
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
        if (p->leader == 0 && p->real_pid == real_pid) return p.get();
    }
    return nullptr;
}

Scheduler::Proc* Scheduler::by_pid(const Coordinator* node, std::int32_t pid) {
    for (auto& [id, p] : processes_) {
        if (p->leader == 0 && p->pid == pid && p->node == node) return p.get();
    }
    return nullptr;
}

Scheduler::Proc* Scheduler::running() {
    // Asked several times per request: the last answer first (one lookup),
    // every entity only if that one no longer runs.
    if (auto it = processes_.find(running_hint_); it != processes_.end() && it->second->state == State::running) {
        return it->second.get();
    }
    for (auto& [id, p] : processes_) {
        if (p->state != State::running) continue;
        running_hint_ = id;
        return p.get();
    }
    return nullptr;
}

Scheduler::Proc& Scheduler::process_of(Proc& p) {
    if (p.leader == 0) return p;
    return *processes_.at(p.leader);
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

void Scheduler::stamp_horizon(std::vector<std::byte>& bytes) {
    // Every reply says when the next event is due.
    if (bytes.size() < sizeof(wire::Header) + sizeof(wire::SyscallReply)) return;
    wire::Header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    if (h.kind != static_cast<std::uint16_t>(wire::Kind::reply)) return;
    wire::SyscallReply body;
    std::memcpy(&body, bytes.data() + sizeof h, sizeof body);
    body.horizon_ns = horizon();
    std::memcpy(bytes.data() + sizeof h, &body, sizeof body);
}

void Scheduler::send(Proc& p, std::vector<std::byte> bytes) {
    stamp_horizon(bytes);
    // The answer to a request that came through the channel goes back there.
    if (&p != socket_requester_ && p.channel && p.channel->reply_due()) {
        try {
            p.channel->reply(bytes);
        } catch (const ChannelError& error) {
            channel_failure(p, error);
        }
        return;
    }
    // A peer gone mid-reply shows up as end-of-file on the next poll.
    if (p.conn < 0) return;
    write_all(p.conn, bytes);
}

void Scheduler::send_with_fd(Proc& p, std::vector<std::byte> bytes, int fd) {
    if (fd < 0) {
        send(p, std::move(bytes));
        return;
    }
    if (p.conn < 0) return;
    stamp_horizon(bytes);
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
    // The running process's requests first, through its channel; the
    // sockets are looked at after each burst, without sleeping if it served any.
    if (serve_channels_spinning()) timeout_ms = 0;
    if (!prepare_to_sleep()) timeout_ms = 0;
    std::vector<pollfd> fds;
    fds.push_back({listener_, POLLIN, 0});
    for (int fd : anonymous_) fds.push_back({fd, POLLIN, 0});
    std::vector<int> conns, pidfds;
    for (auto& [id, p] : processes_) {
        if (p->conn >= 0) {
            fds.push_back({p->conn, POLLIN, 0});
            conns.push_back(p->conn);
        }
        if (p->pidfd >= 0 && !p->death_seen && (p->state == State::expected || p->state == State::exiting)) {
            fds.push_back({p->pidfd, POLLIN, 0});
            pidfds.push_back(p->pidfd);
        }
    }
    const std::size_t own = fds.size();
    fds.insert(fds.end(), extra.begin(), extra.end());
    const int polled = ::poll(fds.data(), fds.size(), timeout_ms);
    woke_up();
    if (polled < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
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
                if (p->state == State::expected || p->connection_closed || (p->conn >= 0 && !readable_now(p->conn))) {
                    if (defers_death(*p)) {
                        p->death_seen = true;
                    } else {
                        finish_exit(*p);
                    }
                }
                break;
            }
        }
    }
    // A request posted while we were about to sleep (only the running
    // process or thread sends anything: the others wait for replies).
    if (Proc* runner = running(); runner != nullptr && runner->channel && process_of(*runner).conn >= 0) serve_channel(*runner);
    if (stopped_ || running() == nullptr) finish_deferred_deaths();
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
    if (header.kind != static_cast<std::uint16_t>(wire::Kind::doorbell)) ++transport_.over_socket;
    socket_requester_ = p;
    handle(*p, header, payload, fds);
    socket_requester_ = nullptr;
    for (int fd : fds) ::close(fd);  // those handle() kept were moved out
    return true;
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
            harvest_call_counts(*p);
            p->channel.reset();
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
    // What it posted before it went (its last trace line, say) comes
    // before its end, as it would have on the socket.
    serve_process_channels(p);
    const Proc* runner = running();
    const bool was_running = runner != nullptr && &process_of(const_cast<Proc&>(*runner)) == &p;
    ::close(p.conn);
    p.conn = -1;
    p.connection_closed = true;
    p.state = State::exiting;
    // What the running process killed ended before it did.
    if (was_running) finish_deferred_deaths();
    // A process is gone once the kernel has closed its descriptors and made
    // it a zombie: only then do pipes show end-of-file and wait4 find it.
    // If it is not a zombie yet it stays exiting, schedule() takes no
    // decision, and poll_once finishes it when its pidfd is readable. No
    // wall-clock limit: giving up after one would make the next decision
    // depend on how fast the machine tore the process down; a process that
    // never dies is ended by the launcher's --wall-timeout, whose loop
    // (output pipes, the guard) goes on meanwhile.
    if (p.pidfd >= 0 && !ended_now(p.pidfd)) return;
    if (defers_death(p)) {
        p.death_seen = true;
    } else {
        finish_exit(p);
    }
}

// Only the running process can have killed another process of the run (the
// others are parked), and the shim reports a SIGKILL right after kill(2)
// returns. The victim's end can reach us before that report or after it,
// as the machine goes: recorded at once, its process.end would come before
// or after the sender's process.signal_sent. So an end found while another
// process runs waits until the runner reports the kill (on_signal) or stops
// running (poll_once, connection_closed). Not when the launcher is ending
// processes itself (stop(): it orders their ends), nor for a SIGKILL's
// target whose sender already waits for it.
bool Scheduler::defers_death(Proc& p) {
    if (stopped_ || p.killed_by != 0) return false;
    Proc* runner = running();
    return runner != nullptr && &process_of(*runner) != &p;
}

void Scheduler::finish_deferred_deaths() {
    std::vector<ProcessId> ids;
    for (const auto& [id, p] : processes_) {
        if (p->death_seen) ids.push_back(id);
    }
    for (ProcessId id : ids) {
        if (auto it = processes_.find(id); it != processes_.end()) finish_exit(*it->second);
    }
}

void Scheduler::finish_exit(Proc& p) {
    const ProcessId id = p.id;
    // The zombie still holds its status: nobody reaps while we decide.
    const int status = p.real_pid > 0 ? zombie_status(p.real_pid) : -1;
    std::vector<TraceField> fields = {{"pid", static_cast<std::uint64_t>(p.pid)}, {"program", p.name}};
    if (status >= 0 && WIFEXITED(status)) fields.emplace_back("code", static_cast<std::uint64_t>(WEXITSTATUS(status)));
    if (status >= 0 && WIFSIGNALED(status)) fields.emplace_back("signal", static_cast<std::uint64_t>(WTERMSIG(status)));
    trace_.emit("process.end", fields);
    if (p.parent != 0 && processes_.contains(p.parent)) {
        exited_.push_back({p.node, p.parent, p.pid, p.real_pid});
        // The kernel sent the parent SIGCHLD: whoever waits for a signal
        // there (the shell's `wait` in sigsuspend) wakes to take it.
        interrupt(*processes_.at(p.parent), SIGCHLD);
    }
    // Orphans: their parent is gone, nobody waits for them.
    for (auto& [other_id, other] : processes_) {
        if (other->parent == id) other->parent = 0;
    }
    if (p.conn >= 0) ::close(p.conn);
    if (p.pidfd >= 0) ::close(p.pidfd);
    for (int fd : p.wait.fds) ::close(fd);
    harvest_call_counts(p);
    // Its threads ended with it.
    for (auto it = processes_.begin(); it != processes_.end();) {
        Proc& thread = *it->second;
        if (thread.leader != id) {
            ++it;
            continue;
        }
        for (int fd : thread.wait.fds) ::close(fd);
        harvest_call_counts(thread);
        it = processes_.erase(it);
    }
    p.node->end_process(p.local);
    const ProcessId killer = p.killed_by;
    processes_.erase(id);
    wake_shared_futex_waiters();
    if (pause_on_end_ && *pause_on_end_ == id) paused_ = true;
    // The sender of the SIGKILL that ended it waited for this (on_signal).
    if (auto it = processes_.find(killer); killer != 0 && it != processes_.end()) {
        Proc& sender = *it->second;
        send(sender, std::move(sender.deferred));
        sender.deferred.clear();
    }
}

Scheduler::Proc& Scheduler::add_child(Proc& parent, pid_t real_child, std::string_view event) {
    auto child = std::make_unique<Proc>();
    child->node = parent.node;
    child->local = parent.node->fork_process(parent.local);
    child->id = next_id_++;
    child->pid = next_pid();
    child->ppid = parent.pid;
    child->parent = parent.id;
    child->real_pid = real_child;
    child->pidfd = pidfd_open(real_child);
    child->name = parent.name;
    parent.node->set_identity(child->local, {child->pid, parent.pid, child_process_index_base + forks_++});
    trace_.emit(std::string(event), {{"parent", static_cast<std::uint64_t>(parent.pid)}, {"child", static_cast<std::uint64_t>(child->pid)}});
    Proc& c = *child;
    processes_.emplace(c.id, std::move(child));
    // Its hello may have come first.
    for (auto it = unbound_.begin(); it != unbound_.end(); ++it) {
        if (it->real_pid == real_child) {
            Unbound u = std::move(*it);
            unbound_.erase(it);
            bind(c, std::move(u));
            break;
        }
    }
    return c;
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
        add_child(p, real_child, "process.adopted");
    }
}

}  // namespace marionette
