// The socket layer shared by TCP and UDP: creation, addresses and ports,
// close, readiness, node crash/restart, and the UDP datagram path.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sim/net/network.hpp"

namespace marionette {
namespace {

constexpr std::uint16_t ephemeral_port_min = 32768;  // Linux ip_local_port_range
constexpr std::uint16_t ephemeral_port_max = 60999;
constexpr std::uint64_t udp_max_payload_bytes = 65507;
// Linux: net.core.{w,r}mem_max and _default (a UDP socket's buffers), and
// the floors of sock_setsockopt (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF).
constexpr std::uint64_t socket_buffer_max_bytes = 212992;
constexpr std::uint64_t min_send_buffer_bytes = 4608;
constexpr std::uint64_t min_receive_buffer_bytes = 2304;

}  // namespace

detail::NetSocket* Network::find(SocketId socket) {
    auto it = sockets_.find(socket);
    return it == sockets_.end() || it->second->closed ? nullptr : it->second.get();
}

const detail::NetSocket* Network::find(SocketId socket) const {
    auto it = sockets_.find(socket);
    return it == sockets_.end() || it->second->closed ? nullptr : it->second.get();
}

bool Network::valid(SocketId socket) const { return find(socket) != nullptr; }

std::optional<NodeId> Network::socket_node(SocketId socket) const {
    const detail::NetSocket* s = find(socket);
    if (s == nullptr) return std::nullopt;
    return s->node;
}

void Network::notify(SocketId socket) {
    if (listener_) listener_(socket);
}

// 0.0.0.0 as a destination means "this node" (Linux connects it to loopback).
bool Network::local_ip(NodeId node, Ipv4 ip) const {
    return ip.is_loopback() || ip.is_any() || ip == nodes_[node].address;
}

std::optional<NodeId> Network::route(NodeId from, Ipv4 to) const {
    if (local_ip(from, to)) return from;
    return node_of(to);
}

// ---- ports -----------------------------------------------------------------------

// IPv4 and IPv6 bindings share a port only where they take the same
// family: an IPV6_V6ONLY socket on [::]:80 and an IPv4 one on 0.0.0.0:80
// coexist, a dual-stack [::]:80 conflicts with both.
bool Network::port_taken(const detail::NetSocket& socket, SockAddr local) const {
    auto it = bound_.find({socket.node, socket.type, local.port});
    if (it == bound_.end()) return false;
    for (SocketId id : it->second) {
        if (id == socket.id) continue;
        const detail::NetSocket& other = *sockets_.at(id);
        const bool same_family = (other.accepts_v4 && socket.accepts_v4) || (other.accepts_v6 && socket.accepts_v6);
        const Ipv4 ip = other.local.ip;
        if (same_family && (ip.is_any() || local.ip.is_any() || ip == local.ip)) return true;
    }
    return false;
}

std::uint16_t Network::ephemeral_port(NodeId node, SocketType type) {
    detail::NetNode& n = nodes_[node];
    for (int tries = 0; tries <= ephemeral_port_max - ephemeral_port_min; ++tries) {
        const std::uint16_t port = n.next_ephemeral_port;
        n.next_ephemeral_port = port == ephemeral_port_max ? ephemeral_port_min : static_cast<std::uint16_t>(port + 1);
        if (!bound_.contains({node, type, port})) return port;
    }
    return 0;
}

SocketId Network::find_bound(NodeId node, SocketType type, SockAddr local, bool listening, bool v6) const {
    auto it = bound_.find({node, type, local.port});
    if (it == bound_.end()) return 0;
    SocketId wildcard = 0;
    for (SocketId id : it->second) {
        const detail::NetSocket& s = *sockets_.at(id);
        if (s.closed || (listening && !s.listening) || !(v6 ? s.accepts_v6 : s.accepts_v4)) continue;
        if (s.local.ip == local.ip) return id;  // the more specific binding wins
        if (s.local.ip.is_any() && wildcard == 0) wildcard = id;
    }
    return wildcard;
}

void Network::unbind(detail::NetSocket& socket) {
    if (!socket.bound) return;
    auto it = bound_.find({socket.node, socket.type, socket.local.port});
    if (it != bound_.end()) {
        std::erase(it->second, socket.id);
        if (it->second.empty()) bound_.erase(it);
    }
    socket.bound = false;
}

int Network::bind_ephemeral(detail::NetSocket& socket) {
    const std::uint16_t port = ephemeral_port(socket.node, socket.type);
    if (port == 0) return EADDRNOTAVAIL;
    socket.local = SockAddr{ipv4_any, port};
    socket.bound = true;
    bound_[{socket.node, socket.type, port}].push_back(socket.id);
    return 0;
}

// ---- socket calls ----------------------------------------------------------------

NetResult Network::open(NodeId node, SocketType type) {
    if (node >= nodes_.size()) return {EINVAL, 0};
    if (!nodes_[node].up) return {EHOSTDOWN, 0};
    auto socket = std::make_unique<detail::NetSocket>();
    socket->id = next_socket_id_++;
    socket->node = node;
    socket->type = type;
    const bool stream = type == SocketType::stream;
    socket->tcp.send_capacity = stream ? options_.tcp_send_buffer_bytes : socket_buffer_max_bytes;
    socket->tcp.receive_capacity = stream ? options_.tcp_receive_buffer_bytes : socket_buffer_max_bytes;
    const SocketId id = socket->id;
    sockets_.emplace(id, std::move(socket));
    return {0, id};
}

int Network::set_ipv6(SocketId id) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (s->bound || s->has_peer) return EINVAL;
    s->ipv6 = true;
    s->accepts_v4 = !s->v6_only;
    s->accepts_v6 = true;
    s->native_v6 = true;
    return 0;
}

int Network::set_v6_only(SocketId id, bool on) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (!s->ipv6) return ENOPROTOOPT;
    if (s->bound || s->has_peer) return EINVAL;  // Linux: only before bind
    s->v6_only = on;
    s->accepts_v4 = !on;
    return 0;
}

bool Network::speaks_v6(SocketId id) const {
    const detail::NetSocket* s = find(id);
    return s != nullptr && s->ipv6 && s->native_v6;
}

int Network::bind(SocketId id, SockAddr local, bool v6) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (s->bound || s->tcp.state != detail::TcpState::none) return EINVAL;
    if (v6 && !s->ipv6) return EAFNOSUPPORT;
    if (s->ipv6 && !v6 && s->v6_only) return EINVAL;  // a v4-mapped address on an IPV6_V6ONLY socket
    if (!local.ip.is_any() && !local_ip(s->node, local.ip)) return EADDRNOTAVAIL;
    if (s->ipv6) {
        // [::] takes both families (unless IPV6_V6ONLY), a specific IPv6
        // address IPv6 only, a v4-mapped one IPv4 only.
        s->native_v6 = v6;
        s->accepts_v6 = v6;
        s->accepts_v4 = !v6 || (local.ip.is_any() && !s->v6_only);
    }
    if (local.port == 0) {
        local.port = ephemeral_port(s->node, s->type);
        if (local.port == 0) return EADDRINUSE;
    } else if (port_taken(*s, local)) {
        return EADDRINUSE;
    }
    s->local = local;
    s->bound = true;
    bound_[{s->node, s->type, local.port}].push_back(id);
    return 0;
}

int Network::listen(SocketId id, std::uint32_t backlog) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (s->type != SocketType::stream) return EOPNOTSUPP;
    if (s->tcp.state != detail::TcpState::none) return EINVAL;
    if (!s->bound) {
        if (const int error = bind_ephemeral(*s); error != 0) return error;
    }
    s->listening = true;
    s->backlog = std::max<std::uint32_t>(backlog, 1);
    if (trace_ != nullptr) trace_->emit("net.listen", {{"sock", id}, {"node", s->node}, {"addr", to_string(s->local)}});
    return 0;
}

NetResult Network::accept(SocketId id) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return {EBADF, 0};
    if (!s->listening) return {EINVAL, 0};
    if (s->accept_queue.empty()) return {EAGAIN, 0};
    const SocketId child = s->accept_queue.front();
    s->accept_queue.pop_front();
    sockets_.at(child)->listener = 0;
    return {0, child};
}

int Network::shutdown(SocketId id, bool read, bool write) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (s->type == SocketType::datagram) {
        if (!s->has_peer) return ENOTCONN;
        s->write_shut = s->write_shut || write;
        s->tcp.read_shut = s->tcp.read_shut || read;
        notify(id);
        return 0;
    }
    if (s->tcp.state != detail::TcpState::established) return ENOTCONN;
    if (read) s->tcp.read_shut = true;
    if (write && !s->write_shut) {
        s->write_shut = true;
        s->tcp.fin_queued = true;
        tcp_pump(*s);
    }
    notify(id);
    return 0;
}

void Network::destroy(SocketId id) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return;
    detail::NetSocket& s = *it->second;
    if (s.tcp.timer != 0) events_.cancel(s.tcp.timer);
    if (s.tcp.keepalive_timer != 0) events_.cancel(s.tcp.keepalive_timer);
    if (s.tcp.ack_timer != 0) events_.cancel(s.tcp.ack_timer);
    unbind(s);
    tcp_unregister(s);
    if (s.listener != 0) {
        if (auto l = sockets_.find(s.listener); l != sockets_.end()) std::erase(l->second->accept_queue, id);
    }
    sockets_.erase(it);
}

void Network::close(SocketId id) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return;
    if (s->type == SocketType::datagram || s->tcp.state == detail::TcpState::none ||
        s->tcp.state == detail::TcpState::failed) {
        // A listener's unaccepted connections are reset, as Linux does.
        const std::deque<SocketId> pending = s->accept_queue;
        for (SocketId child : pending) abort(child);
        return destroy(id);
    }
    if (s->tcp.state == detail::TcpState::syn_sent) return destroy(id);
    if (!s->tcp.rcv_buf.empty()) {
        // Closing with unread data resets the connection (RFC 2525 / Linux).
        s->closed = true;
        return tcp_fail(*s, 0, "unread_data", true);
    }
    s->closed = true;
    s->write_shut = true;
    s->tcp.fin_queued = true;
    tcp_pump(*s);
    tcp_maybe_finish(*s);
}

void Network::abort(SocketId id) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return;
    s->closed = true;
    if (s->type == SocketType::stream && (s->tcp.state == detail::TcpState::established ||
                                          s->tcp.state == detail::TcpState::syn_sent)) {
        return tcp_fail(*s, 0, "abort", true);
    }
    destroy(id);
}

Readiness Network::readiness(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr) return {false, false, true, false, true};
    Readiness r;
    r.error = s->error != 0;
    if (s->type == SocketType::datagram) {
        r.readable = !s->datagrams.empty() || s->tcp.read_shut;
        r.writable = true;
        return r;
    }
    if (s->listening) {
        r.readable = !s->accept_queue.empty();
        return r;
    }
    const detail::TcpConn& t = s->tcp;
    switch (t.state) {
        case detail::TcpState::none: r.writable = r.hup = true; break;  // as Linux tcp_poll in CLOSE
        case detail::TcpState::syn_sent: break;
        case detail::TcpState::established: {
            const bool read_done = t.fin_received || t.read_shut;
            r.readable = !t.rcv_buf.empty() || read_done;
            // After SHUT_WR Linux reports POLLOUT so a writer learns EPIPE at once.
            r.writable = s->write_shut || t.snd_buf.size() < t.send_capacity;
            r.rdhup = t.fin_received;
            r.hup = read_done && s->write_shut;
            break;
        }
        case detail::TcpState::failed: r.readable = r.writable = r.hup = r.rdhup = true; break;
    }
    return r;
}

int Network::take_error(SocketId id) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    const int error = s->error;
    s->error = 0;
    return error;
}

std::optional<SockAddr> Network::local_address(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr) return std::nullopt;
    return s->local;
}

std::optional<SockAddr> Network::peer_address(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr || !s->has_peer) return std::nullopt;
    if (s->type == SocketType::stream && s->tcp.state != detail::TcpState::established) return std::nullopt;
    return s->peer;
}

int Network::set_buffer_sizes(SocketId id, std::uint64_t send_bytes, std::uint64_t receive_bytes) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (send_bytes != 0) s->tcp.send_capacity = send_bytes;
    if (receive_bytes != 0) s->tcp.receive_capacity = receive_bytes;
    return 0;
}

int Network::set_socket_buffer(SocketId id, bool receive, std::uint64_t requested) {
    const std::uint64_t floor = receive ? min_receive_buffer_bytes : min_send_buffer_bytes;
    const std::uint64_t bytes = std::max(std::min(requested, socket_buffer_max_bytes) * 2, floor);
    return receive ? set_buffer_sizes(id, 0, bytes) : set_buffer_sizes(id, bytes, 0);
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> Network::buffer_sizes(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr) return std::nullopt;
    return std::pair{s->tcp.send_capacity, s->tcp.receive_capacity};
}

std::uint64_t Network::readable_bytes(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr) return 0;
    if (s->type == SocketType::datagram) return s->datagrams.empty() ? 0 : s->datagrams.front().data.size();
    return s->tcp.rcv_buf.size();
}

std::size_t Network::pending_connections(SocketId id) const {
    const detail::NetSocket* s = find(id);
    if (s == nullptr || !s->listening) return 0;
    return s->accept_queue.size();
}

// ---- nodes going down and up ------------------------------------------------------

void Network::crash(NodeId node) {
    detail::NetNode& n = nodes_.at(node);
    if (!n.up) return;
    n.up = false;
    if (trace_ != nullptr) trace_->emit("net.node", {{"node", node}, {"action", "crash"}, {"incarnation", n.incarnation}});
    std::vector<SocketId> doomed;
    for (const auto& [id, socket] : sockets_) {
        if (socket->node == node) doomed.push_back(id);
    }
    for (SocketId id : doomed) destroy(id);  // silently: a dead kernel sends nothing
}

void Network::restart(NodeId node) {
    detail::NetNode& n = nodes_.at(node);
    if (n.up) return;
    n.up = true;
    ++n.incarnation;
    if (trace_ != nullptr) {
        trace_->emit("net.node", {{"node", node}, {"action", "restart"}, {"incarnation", n.incarnation}});
    }
}

// ---- UDP ------------------------------------------------------------------------------

NetResult Network::send_to(SocketId id, std::span<const std::byte> data, SockAddr remote, bool v6) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return {EBADF, 0};
    if (s->type == SocketType::stream) return send(id, data);
    if (s->write_shut) return {EPIPE, 0};
    if (v6 && !s->ipv6) return {EAFNOSUPPORT, 0};
    if (s->ipv6 && !v6 && s->v6_only) return {ENETUNREACH, 0};
    if (data.size() > udp_max_payload_bytes) return {EMSGSIZE, 0};
    if (remote.ip.is_any()) remote.ip = ipv4_loopback;
    const std::optional<NodeId> to = route(s->node, remote.ip);
    if (!to) return {ENETUNREACH, 0};
    if (!s->bound) {
        if (const int error = bind_ephemeral(*s); error != 0) return {error, 0};
    }
    detail::NetPacket packet;
    packet.from = s->node;
    packet.to = *to;
    packet.tcp = false;
    packet.v6 = v6;
    Ipv4 src_ip = s->local.ip;
    if (src_ip.is_any()) src_ip = remote.ip.is_loopback() ? ipv4_loopback : nodes_[s->node].address;
    packet.src = SockAddr{src_ip, s->local.port};
    packet.dst = remote;
    packet.payload.assign(data.begin(), data.end());
    transmit(std::move(packet));
    return {0, data.size()};
}

NetResult Network::recv_from(SocketId id, std::span<std::byte> out, SockAddr* from, std::uint64_t* full_length,
                             bool peek, bool* from_v6) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return {EBADF, 0};
    if (s->type == SocketType::stream) {
        if (from != nullptr && s->has_peer) *from = s->peer;
        if (from_v6 != nullptr) *from_v6 = s->ipv6 && s->native_v6;
        const NetResult r = recv(id, out, peek);
        if (full_length != nullptr) *full_length = r.value;
        return r;
    }
    if (s->datagrams.empty()) return {s->tcp.read_shut ? 0 : EAGAIN, 0};
    detail::NetSocket::Datagram& d = s->datagrams.front();
    const std::size_t n = std::min(out.size(), d.data.size());
    if (n > 0) std::memcpy(out.data(), d.data.data(), n);
    if (from != nullptr) *from = d.from;
    if (from_v6 != nullptr) *from_v6 = d.from_v6;
    if (full_length != nullptr) *full_length = d.data.size();
    if (!peek) s->datagrams.pop_front();
    return {0, n};
}

void Network::udp_receive(detail::NetPacket& packet) {
    const SocketId id = find_bound(packet.to, SocketType::datagram, packet.dst, false, packet.v6);
    if (id == 0) return drop(packet, "port_unreachable");
    detail::NetSocket& s = *sockets_.at(id);
    if (s.has_peer && packet.src != s.peer) return drop(packet, "filtered");
    if (s.datagrams.size() >= options_.udp_queue_capacity) return drop(packet, "queue_full");
    trace_deliver(packet);
    s.datagrams.push_back({packet.src, packet.v6, std::move(packet.payload)});
    notify(id);
}

}  // namespace marionette
