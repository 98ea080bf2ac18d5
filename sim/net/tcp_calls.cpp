// The TCP model's socket calls: connect, send, recv and SO_KEEPALIVE. They
// only change connection state and hand segments to the engine in tcp.cpp.
#include <algorithm>
#include <cerrno>

#include "sim/assert.hpp"
#include "sim/net/network.hpp"

namespace marionette {

using detail::TcpConn;
using detail::TcpState;
using detail::saturating_sub;

int Network::set_keepalive(SocketId id, bool on, Ns idle_ns, Ns interval_ns, std::uint32_t count) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (on && (idle_ns == 0 || interval_ns == 0 || count == 0)) return EINVAL;
    TcpConn& t = s->tcp;
    t.keepalive_idle_ns = on ? idle_ns : 0;
    t.keepalive_interval_ns = interval_ns;
    t.keepalive_count = count;
    if (t.keepalive_timer != 0) events_.cancel(t.keepalive_timer);
    t.keepalive_timer = 0;
    if (s->type == SocketType::stream) tcp_arm_keepalive(*s);
    return 0;
}

int Network::connect(SocketId id, SockAddr remote, bool v6) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return EBADF;
    if (v6 && !s->ipv6) return EAFNOSUPPORT;
    if (s->ipv6 && !v6 && s->v6_only) return ENETUNREACH;  // v4-mapped on an IPV6_V6ONLY socket
    if (remote.ip.is_any()) remote.ip = ipv4_loopback;
    const std::optional<NodeId> to = route(s->node, remote.ip);
    if (s->type == SocketType::datagram) {
        if (!to) return ENETUNREACH;
        if (!s->bound) {
            if (const int error = bind_ephemeral(*s); error != 0) return error;
        }
        s->peer = remote;
        s->has_peer = true;
        if (s->ipv6) s->native_v6 = v6;
        return 0;
    }
    if (s->listening) return EINVAL;
    if (s->tcp.state == TcpState::syn_sent) return EALREADY;
    if (s->tcp.state == TcpState::established) return EISCONN;
    auto trace_connect = [&](std::string_view result) {
        if (trace_ == nullptr) return;
        trace_->emit("net.connect", {{"sock", id}, {"from", s->node}, {"to", to ? std::to_string(*to) : "none"},
                                     {"dst", to_string(remote)}, {"result", result}});
    };
    if (!to) {
        trace_connect("unreachable");
        return ENETUNREACH;
    }
    if (connect_failures_.contains({s->node, *to})) {
        trace_connect("injected_refused");
        return ECONNREFUSED;
    }
    if (!s->bound) {
        if (const int error = bind_ephemeral(*s); error != 0) return error;
    }
    if (s->local.ip.is_any()) s->local.ip = *to == s->node ? (remote.ip.is_loopback() ? ipv4_loopback : remote.ip)
                                                           : nodes_[s->node].address;
    if (connections_.contains({s->node, s->local, remote})) return EADDRNOTAVAIL;
    s->peer = remote;
    s->has_peer = true;
    if (s->ipv6) s->native_v6 = v6;
    s->error = 0;
    TcpConn fresh;  // keep the socket options, reset the connection
    fresh.send_capacity = s->tcp.send_capacity;
    fresh.receive_capacity = s->tcp.receive_capacity;
    fresh.keepalive_idle_ns = s->tcp.keepalive_idle_ns;
    fresh.keepalive_interval_ns = s->tcp.keepalive_interval_ns;
    fresh.keepalive_count = s->tcp.keepalive_count;
    s->tcp = std::move(fresh);
    TcpConn& t = s->tcp;
    t.state = TcpState::syn_sent;
    t.peer_node = *to;
    t.local_nonce = next_nonce_++;
    t.rto_ns = options_.tcp_rto_ns_min;
    t.waiting_since_ns = events_.now_ns();
    tcp_register(*s);
    trace_connect("in_progress");
    tcp_send_segment(*s, detail::tcp_syn, 0, 0);
    tcp_arm_timer(*s, true);
    return EINPROGRESS;
}

NetResult Network::send(SocketId id, std::span<const std::byte> data) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return {EBADF, 0};
    if (s->type == SocketType::datagram) {
        if (!s->has_peer) return {EDESTADDRREQ, 0};
        return send_to(id, data, s->peer, s->ipv6 && s->native_v6);
    }
    TcpConn& t = s->tcp;
    if (s->listening || t.state == TcpState::none) return {ENOTCONN, 0};
    if (t.state == TcpState::syn_sent) return {EAGAIN, 0};
    if (t.state == TcpState::failed) {
        const int error = s->error != 0 ? s->error : EPIPE;
        s->error = 0;
        return {error, 0};
    }
    if (s->write_shut) return {EPIPE, 0};
    const std::uint64_t room = saturating_sub(t.send_capacity, t.snd_buf.size());
    if (room == 0 && !data.empty()) return {EAGAIN, 0};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, data.size()));
    if (n > 1 && !options_.partial_write_rate.is_never()) {
        // A short write: programs must loop on send(); many forget. Drawn,
        // then possibly overridden by a forced fault (forced.cpp).
        const std::uint64_t candidate = ++partial_candidates_;
        std::size_t accepted = n;
        if (options_.partial_write_rate.roll(streams_.partial).fired) {
            accepted = 1 + static_cast<std::size_t>(streams_.partial.uint_less_than(n - 1));
        }
        if (forced_only_) {
            const auto forced = forced_partial_.find(candidate);
            accepted = forced == forced_partial_.end() ? n
                                                       : static_cast<std::size_t>(std::min<std::uint64_t>(forced->second, n - 1));
        } else if (accepted < n) {
            fired("net.force partial_write " + std::to_string(candidate) + " " + std::to_string(accepted));
        }
        if (accepted < n) {
            if (trace_ != nullptr) {
                trace_->emit("net.partial_write", {{"sock", id}, {"requested", n}, {"accepted", accepted}});
            }
            n = accepted;
        }
    }
    t.snd_buf.insert(t.snd_buf.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    MARIONETTE_ASSERT(n == 0 || t.snd_buf.size() <= t.send_capacity, "tcp: send buffer within its capacity");
    tcp_pump(*s);
    return {0, n};
}

NetResult Network::recv(SocketId id, std::span<std::byte> out, bool peek) {
    detail::NetSocket* s = find(id);
    if (s == nullptr) return {EBADF, 0};
    if (s->type == SocketType::datagram) return recv_from(id, out, nullptr, nullptr, peek);
    TcpConn& t = s->tcp;
    if (s->listening || t.state == TcpState::none) return {ENOTCONN, 0};
    if (t.state == TcpState::syn_sent) return {EAGAIN, 0};
    if (!t.rcv_buf.empty() && !out.empty()) {
        const std::size_t n = std::min(out.size(), t.rcv_buf.size());
        std::copy_n(t.rcv_buf.begin(), n, out.begin());
        if (peek) return {0, n};
        t.rcv_buf.erase(t.rcv_buf.begin(), t.rcv_buf.begin() + static_cast<std::ptrdiff_t>(n));
        // Reopen a window that had shrunk below half, so a sender blocked
        // on it resumes without waiting for a probe.
        const std::uint64_t advert = tcp_window_advert(*s);
        const std::uint64_t last = t.last_advertised_window;
        if (t.state == TcpState::established && !t.fin_received && last < t.receive_capacity / 2 &&
            advert - last >= std::min(options_.tcp_mss_bytes, t.receive_capacity / 2)) {
            tcp_send_ack(*s);
        }
        return {0, n};
    }
    if (out.empty() || t.fin_received || t.read_shut) return {0, 0};
    if (t.state == TcpState::failed) {
        const int error = s->error;
        s->error = 0;
        return {error, 0};
    }
    return {EAGAIN, 0};
}

}  // namespace marionette
