// The embedded API's socket calls: AF_INET sockets created while a
// simulation with a network is active are simulated sockets, served by the
// network model (sim/net); every other socket is the real kernel's.
//
// All nodes live on the calling thread, so a blocking call cannot wait for
// another node's code to run: it runs the simulation's pending events (packet
// deliveries, retransmissions, timers) until the socket is ready, its
// SO_RCVTIMEO/SO_SNDTIMEO passes (EAGAIN, as Linux), or nothing is left to
// happen - then it fails with EDEADLK and traces `net.deadlock`, because on
// a real machine it would hang. In-process clusters should use non-blocking
// sockets and poll(), stepping each node in turn.
//
// Covered: socket, bind, listen, accept, accept4, connect, send, sendto,
// recv, recvfrom, read, write, close, shutdown, getsockname, getpeername,
// setsockopt, getsockopt, poll, fcntl(F_GETFL/F_SETFL), ioctl(FIONBIO,
// FIONREAD). Not covered: sendmsg/recvmsg, select, epoll, dup of sockets,
// IPv6 (socket(AF_INET6) fails with EAFNOSUPPORT), SIGPIPE (EPIPE only).
#undef _FORTIFY_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdarg>
#include <cstring>

#include "embed/posix_common.hpp"
#include "embed/real_libc.hpp"

using namespace marionette;
using namespace marionette::detail;

namespace {

/// The active simulation if `fd` is one of its sockets.
SimState* socket_owner(int fd, SimSocket*& sock) {
    SimState* s = enter();
    if (s == nullptr) return nullptr;
    sock = s->socket(fd);
    return sock == nullptr ? nullptr : s;
}

long read_addr(const sockaddr* addr, socklen_t length, SockAddr& out) {
    if (addr == nullptr || length < static_cast<socklen_t>(sizeof(sockaddr_in))) return -EINVAL;
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof in);
    if (in.sin_family != AF_INET) return -EAFNOSUPPORT;
    out = SockAddr{Ipv4{ntohl(in.sin_addr.s_addr)}, ntohs(in.sin_port)};
    return 0;
}

void write_addr(const SockAddr& addr, sockaddr* out, socklen_t* length) {
    if (out == nullptr || length == nullptr) return;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(addr.port);
    in.sin_addr.s_addr = htonl(addr.ip.value);
    std::memcpy(out, &in, std::min<std::size_t>(*length, sizeof in));
    *length = sizeof in;
}

/// Creates the network socket on `node` if it does not exist yet.
long ensure(SimState& s, SimSocket& sock, NodeId node) {
    if (sock.id != 0) return 0;
    const NetResult r = s.network()->open(node, sock.type);
    if (!r.ok()) return -r.error;
    sock.id = r.value;
    return 0;
}

/// Waits for `ready` on a blocking call; the errno to fail with otherwise.
long block(SimState& s, int fd, std::string_view op, Ns timeout_ns, const std::function<bool()>& ready) {
    if (s.wait_until(ready, timeout_ns)) return 0;
    if (timeout_ns != 0) return -EAGAIN;
    s.trace().emit("net.deadlock", {{"fd", fd}, {"op", op}});
    return -EDEADLK;
}

long do_recv(SimState& s, int fd, SimSocket& sock, std::span<std::byte> out, int flags, sockaddr* from,
             socklen_t* from_length) {
    Network& net = *s.network();
    const bool nonblocking = sock.nonblocking || (flags & MSG_DONTWAIT) != 0;
    if (sock.id == 0) return nonblocking ? -EAGAIN : block(s, fd, "recv", sock.receive_timeout_ns, [] { return false; });
    for (;;) {
        SockAddr sender;
        const NetResult r = sock.type == SocketType::datagram
                                ? net.recv_from(sock.id, out, &sender, nullptr, (flags & MSG_PEEK) != 0)
                                : net.recv(sock.id, out, (flags & MSG_PEEK) != 0);
        if (r.ok()) {
            if (sock.type == SocketType::datagram) {
                write_addr(sender, from, from_length);
            } else if (auto peer = net.peer_address(sock.id)) {
                write_addr(*peer, from, from_length);
            }
            return static_cast<long>(r.value);
        }
        if (r.error != EAGAIN || nonblocking) return -r.error;
        const SocketId id = sock.id;
        if (long e = block(s, fd, "recv", sock.receive_timeout_ns, [&] {
                const Readiness ready = net.readiness(id);
                return ready.readable || ready.hup || ready.error;
            })) {
            return e;
        }
    }
}

long do_send(SimState& s, int fd, SimSocket& sock, std::span<const std::byte> data, int flags, const sockaddr* to,
             socklen_t to_length) {
    Network& net = *s.network();
    SockAddr remote;
    const bool addressed = to != nullptr && sock.type == SocketType::datagram;
    if (addressed) {
        if (long e = read_addr(to, to_length, remote)) return e;
        if (long e = ensure(s, sock, s.default_node())) return e;
    } else if (sock.id == 0) {
        return sock.type == SocketType::datagram ? -EDESTADDRREQ : -ENOTCONN;
    }
    const bool nonblocking = sock.nonblocking || (flags & MSG_DONTWAIT) != 0;
    for (;;) {
        const NetResult r = addressed ? net.send_to(sock.id, data, remote) : net.send(sock.id, data);
        if (r.ok()) return static_cast<long>(r.value);
        if (r.error != EAGAIN || nonblocking) return -r.error;
        const SocketId id = sock.id;
        if (long e = block(s, fd, "send", sock.send_timeout_ns, [&] {
                const Readiness ready = net.readiness(id);
                return ready.writable || ready.error;
            })) {
            return e;
        }
    }
}

/// The node an address to bind belongs to (the default node for 0.0.0.0
/// and 127/8); nullopt if no node owns it.
std::optional<NodeId> bind_node(SimState& s, Ipv4 ip) {
    if (ip.is_any() || ip.is_loopback()) return s.default_node();
    return s.network()->node_of(ip);
}

short poll_events(const Readiness& r, short wanted) {
    short revents = 0;
    if (r.readable) revents |= static_cast<short>(wanted & POLLIN);
    if (r.writable) revents |= static_cast<short>(wanted & POLLOUT);
    if (r.rdhup) revents |= static_cast<short>(wanted & POLLRDHUP);
    if (r.hup) revents |= POLLHUP;
    if (r.error) revents |= POLLERR;
    return revents;
}

}  // namespace

namespace marionette::detail {

bool socket_read(int fd, void* buffer, std::size_t size, long& out) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return false;
    out = sim_call<long>(*s, [&] { return do_recv(*s, fd, *sock, bytes(buffer, size), 0, nullptr, nullptr); });
    return true;
}

bool socket_write(int fd, const void* buffer, std::size_t size, long& out) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return false;
    out = sim_call<long>(*s, [&] { return do_send(*s, fd, *sock, bytes(buffer, size), 0, nullptr, 0); });
    return true;
}

bool socket_fcntl(int fd, int cmd, long arg, int& out) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return false;
    out = sim_call<int>(*s, [&]() -> long {
        switch (cmd) {
            case F_GETFL: return O_RDWR | (sock->nonblocking ? O_NONBLOCK : 0);
            case F_SETFL: sock->nonblocking = (arg & O_NONBLOCK) != 0; return 0;
            case F_GETFD: return FD_CLOEXEC;
            case F_SETFD: return 0;
            default: return -EINVAL;  // F_DUPFD & co: dup of sockets is not simulated
        }
    });
    return true;
}

}  // namespace marionette::detail

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
    SimState* s = enter();
    if (s == nullptr || s->network() == nullptr || (domain != AF_INET && domain != AF_INET6)) {
        return MARIONETTE_REAL(socket)(domain, type, protocol);
    }
    return sim_call<int>(*s, [&]() -> long {
        if (domain == AF_INET6) return -EAFNOSUPPORT;  // the simulated network is IPv4
        const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (kind != SOCK_STREAM && kind != SOCK_DGRAM) return -EPROTONOSUPPORT;
        SimSocket sock;
        sock.type = kind == SOCK_STREAM ? SocketType::stream : SocketType::datagram;
        sock.nonblocking = (type & SOCK_NONBLOCK) != 0;
        return s->add_socket(sock, (type & SOCK_CLOEXEC) != 0);
    });
}

int bind(int fd, const sockaddr* addr, socklen_t length) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(bind)(fd, addr, length);
    return sim_call<int>(*s, [&]() -> long {
        SockAddr local;
        if (long e = read_addr(addr, length, local)) return e;
        if (sock->id != 0) return -EINVAL;  // already bound or connected
        const std::optional<NodeId> node = bind_node(*s, local.ip);
        if (!node) return -EADDRNOTAVAIL;
        if (long e = ensure(*s, *sock, *node)) return e;
        return -s->network()->bind(sock->id, local);
    });
}

int listen(int fd, int backlog) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(listen)(fd, backlog);
    return sim_call<int>(*s, [&]() -> long {
        if (long e = ensure(*s, *sock, s->default_node())) return e;
        return -s->network()->listen(sock->id, static_cast<std::uint32_t>(std::max(backlog, 1)));
    });
}

int accept4(int fd, sockaddr* addr, socklen_t* length, int flags) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(accept4)(fd, addr, length, flags);
    return sim_call<int>(*s, [&]() -> long {
        if (sock->id == 0) return -EINVAL;
        Network& net = *s->network();
        for (;;) {
            const NetResult r = net.accept(sock->id);
            if (r.ok()) {
                SimSocket conn;
                conn.id = r.value;
                conn.type = SocketType::stream;
                conn.nonblocking = (flags & SOCK_NONBLOCK) != 0;
                const int conn_fd = s->add_socket(conn, (flags & SOCK_CLOEXEC) != 0);
                if (conn_fd < 0) {
                    net.close(r.value);
                    return conn_fd;
                }
                if (auto peer = net.peer_address(r.value)) write_addr(*peer, addr, length);
                return conn_fd;
            }
            if (r.error != EAGAIN || sock->nonblocking) return -r.error;
            const SocketId id = sock->id;
            if (long e = block(*s, fd, "accept", sock->receive_timeout_ns,
                               [&] { return net.readiness(id).readable || net.readiness(id).error; })) {
                return e;
            }
        }
    });
}

int accept(int fd, sockaddr* addr, socklen_t* length) { return accept4(fd, addr, length, 0); }

int connect(int fd, const sockaddr* addr, socklen_t length) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(connect)(fd, addr, length);
    return sim_call<int>(*s, [&]() -> long {
        SockAddr remote;
        if (long e = read_addr(addr, length, remote)) return e;
        if (long e = ensure(*s, *sock, s->default_node())) return e;
        Network& net = *s->network();
        const int error = net.connect(sock->id, remote);
        if (error != EINPROGRESS || sock->nonblocking) return -error;
        const SocketId id = sock->id;
        if (long e = block(*s, fd, "connect", sock->send_timeout_ns,
                           [&] { return net.readiness(id).writable || net.readiness(id).error; })) {
            return e;
        }
        return -net.take_error(id);
    });
}

ssize_t sendto(int fd, const void* buffer, size_t size, int flags, const sockaddr* to, socklen_t length) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(sendto)(fd, buffer, size, flags, to, length);
    return sim_call<ssize_t>(*s, [&] { return do_send(*s, fd, *sock, bytes(buffer, size), flags, to, length); });
}

ssize_t send(int fd, const void* buffer, size_t size, int flags) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(send)(fd, buffer, size, flags);
    return sim_call<ssize_t>(*s, [&] { return do_send(*s, fd, *sock, bytes(buffer, size), flags, nullptr, 0); });
}

ssize_t recvfrom(int fd, void* buffer, size_t size, int flags, sockaddr* from, socklen_t* length) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(recvfrom)(fd, buffer, size, flags, from, length);
    return sim_call<ssize_t>(*s, [&] { return do_recv(*s, fd, *sock, bytes(buffer, size), flags, from, length); });
}

ssize_t recv(int fd, void* buffer, size_t size, int flags) {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(recv)(fd, buffer, size, flags);
    return sim_call<ssize_t>(*s, [&] { return do_recv(*s, fd, *sock, bytes(buffer, size), flags, nullptr, nullptr); });
}

int shutdown(int fd, int how) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(shutdown)(fd, how);
    return sim_call<int>(*s, [&]() -> long {
        if (sock->id == 0) return -ENOTCONN;
        return -s->network()->shutdown(sock->id, how != SHUT_WR, how != SHUT_RD);
    });
}

int getsockname(int fd, sockaddr* addr, socklen_t* length) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(getsockname)(fd, addr, length);
    return sim_call<int>(*s, [&]() -> long {
        const std::optional<SockAddr> local = sock->id == 0 ? std::nullopt : s->network()->local_address(sock->id);
        write_addr(local.value_or(SockAddr{}), addr, length);
        return 0;
    });
}

int getpeername(int fd, sockaddr* addr, socklen_t* length) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(getpeername)(fd, addr, length);
    return sim_call<int>(*s, [&]() -> long {
        const std::optional<SockAddr> peer = sock->id == 0 ? std::nullopt : s->network()->peer_address(sock->id);
        if (!peer) return -ENOTCONN;
        write_addr(*peer, addr, length);
        return 0;
    });
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(setsockopt)(fd, level, name, value, length);
    return sim_call<int>(*s, [&]() -> long {
        if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
            if (value == nullptr || length < static_cast<socklen_t>(sizeof(timeval))) return -EINVAL;
            timeval tv{};
            std::memcpy(&tv, value, sizeof tv);
            const Ns timeout = static_cast<Ns>(tv.tv_sec) * ns_per_s + static_cast<Ns>(tv.tv_usec) * ns_per_us;
            (name == SO_RCVTIMEO ? sock->receive_timeout_ns : sock->send_timeout_ns) = timeout;
        }
        // Everything else (SO_REUSEADDR, TCP_NODELAY, ...) is accepted and
        // has no effect on the model.
        return 0;
    });
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* length) noexcept {
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(getsockopt)(fd, level, name, value, length);
    return sim_call<int>(*s, [&]() -> long {
        if (value == nullptr || length == nullptr || *length < static_cast<socklen_t>(sizeof(int))) return -EINVAL;
        int result = 0;
        if (level == SOL_SOCKET && name == SO_ERROR) {
            result = sock->id == 0 ? 0 : s->network()->take_error(sock->id);
        } else if (level == SOL_SOCKET && name == SO_TYPE) {
            result = sock->type == SocketType::stream ? SOCK_STREAM : SOCK_DGRAM;
        }
        std::memcpy(value, &result, sizeof result);
        *length = sizeof result;
        return 0;
    });
}

int poll(struct pollfd* fds, nfds_t count, int timeout_ms) {
    SimState* s = enter();
    bool any_simulated = false;
    bool any_real = false;
    if (s != nullptr) {
        for (nfds_t i = 0; i < count; ++i) {
            if (fds[i].fd < 0) continue;
            (s->kind(fds[i].fd) == FdKind::real ? any_real : any_simulated) = true;
        }
    }
    if (!any_simulated) return MARIONETTE_REAL(poll)(fds, count, timeout_ms);
    return sim_call<int>(*s, [&]() -> long {
        if (any_real) {
            s->trace().emit("embed.unsupported", {{"call", "poll"}, {"reason", "real_and_simulated_descriptors"}});
            return -EINVAL;
        }
        const auto scan = [&] {
            long ready = 0;
            for (nfds_t i = 0; i < count; ++i) {
                fds[i].revents = 0;
                if (fds[i].fd < 0) continue;
                SimSocket* sock = s->socket(fds[i].fd);
                if (sock == nullptr) {
                    // Files are always ready; stale descriptors report an error.
                    fds[i].revents = s->kind(fds[i].fd) == FdKind::stale
                                         ? static_cast<short>(POLLERR)
                                         : static_cast<short>(fds[i].events & (POLLIN | POLLOUT));
                } else if (sock->id != 0) {
                    fds[i].revents = poll_events(s->network()->readiness(sock->id), fds[i].events);
                } else if (sock->type == SocketType::datagram) {
                    fds[i].revents = static_cast<short>(fds[i].events & POLLOUT);
                }
                ready += fds[i].revents != 0 ? 1 : 0;
            }
            return ready;
        };
        long ready = scan();
        if (ready > 0 || timeout_ms == 0) return ready;
        const Ns timeout = timeout_ms < 0 ? 0 : static_cast<Ns>(timeout_ms) * ns_per_ms;
        if (!s->wait_until([&] { return scan() > 0; }, timeout)) {
            if (timeout == 0) {
                s->trace().emit("net.deadlock", {{"fd", fds[0].fd}, {"op", "poll"}});
                return -EDEADLK;
            }
            return 0;
        }
        return scan();
    });
}

int ioctl(int fd, unsigned long request, ...) noexcept {
    va_list args;
    va_start(args, request);
    void* arg = va_arg(args, void*);
    va_end(args);
    SimSocket* sock = nullptr;
    SimState* s = socket_owner(fd, sock);
    if (s == nullptr) return MARIONETTE_REAL(ioctl)(fd, request, arg);
    return sim_call<int>(*s, [&]() -> long {
        if (arg == nullptr) return -EFAULT;
        if (request == FIONBIO) {
            int on = 0;
            std::memcpy(&on, arg, sizeof on);
            sock->nonblocking = on != 0;
            return 0;
        }
        if (request == FIONREAD) {
            const int queued = sock->id == 0 ? 0 : static_cast<int>(s->network()->readable_bytes(sock->id));
            std::memcpy(arg, &queued, sizeof queued);
            return 0;
        }
        return -ENOTTY;
    });
}

}  // extern "C"
