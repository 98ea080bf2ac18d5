// The TCP model: a reliable, ordered byte stream over the lossy packet layer.
//
// Deliberately small: a two-way handshake (SYN, SYN-ACK; the server side is
// established when it answers, the client when any acknowledging segment
// arrives), cumulative acknowledgements, an out-of-order buffer at the
// receiver, go-back-N retransmission on a timer with exponential backoff,
// flow control through the advertised receive window (zero-window probes),
// FIN for half close and RST for resets. Loss, duplication of segments by
// retransmission, jitter and partitions therefore only delay the stream.
// Anything unacknowledged for tcp_timeout_ns fails the connection with
// ETIMEDOUT; a segment for a connection that no longer exists is answered
// with a reset, which is how a peer learns of a crash-and-restart.
#include <algorithm>
#include <cerrno>

#include "sim/assert.hpp"
#include "sim/net/network.hpp"

namespace marionette {
namespace {

using detail::TcpConn;
using detail::TcpState;

std::uint64_t data_end(const TcpConn& t) { return t.snd_una + t.snd_buf.size(); }

// Something sent and not yet acknowledged.
bool outstanding(const TcpConn& t) {
    return (t.snd_nxt > t.snd_una && t.snd_una < data_end(t)) || (t.fin_sent && !t.fin_acked);
}

// The sequence-space invariants of an established connection's send side:
// nothing acknowledged that was not sent, nothing sent that was not queued
// (the FIN takes one sequence number after the data).
void check_send_side(const TcpConn& t) {
    MARIONETTE_ASSERT(t.snd_una <= t.snd_nxt, "tcp: acknowledged never runs ahead of sent");
    MARIONETTE_ASSERT(t.snd_nxt <= data_end(t) + (t.fin_sent ? 1 : 0), "tcp: sent never runs ahead of queued");
    MARIONETTE_ASSERT(!t.fin_acked || t.fin_queued, "tcp: a FIN acknowledged was queued");
}

}  // namespace

using detail::saturating_sub;

// ---- bookkeeping ---------------------------------------------------------------

void Network::tcp_register(detail::NetSocket& s) { connections_[{s.node, s.local, s.peer}] = s.id; }

void Network::tcp_unregister(detail::NetSocket& s) {
    if (s.type != SocketType::stream || !s.has_peer) return;
    auto it = connections_.find({s.node, s.local, s.peer});
    if (it != connections_.end() && it->second == s.id) connections_.erase(it);
}

std::uint64_t Network::tcp_window_advert(const detail::NetSocket& s) const {
    return saturating_sub(s.tcp.receive_capacity, s.tcp.rcv_buf.size());
}

void Network::tcp_send_segment(detail::NetSocket& s, std::uint8_t flags, std::uint64_t seq, std::uint64_t length) {
    TcpConn& t = s.tcp;
    detail::NetPacket p;
    p.from = s.node;
    p.to = t.peer_node;
    p.tcp = true;
    p.v6 = s.ipv6 && s.native_v6;
    p.src = s.local;
    p.dst = s.peer;
    p.flags = flags;
    p.seq = seq;
    p.ack = t.rcv_nxt;
    p.window = tcp_window_advert(s);
    p.src_nonce = t.local_nonce;
    p.dst_nonce = t.remote_nonce;
    t.last_advertised_window = p.window;
    if (t.ack_timer != 0) {  // this segment carries the owed acknowledgement
        events_.cancel(t.ack_timer);
        t.ack_timer = 0;
    }
    if (length > 0) {
        MARIONETTE_ASSERT(seq >= t.snd_una && seq + length <= data_end(t), "tcp: a segment carries queued bytes only");
        const auto begin = t.snd_buf.begin() + static_cast<std::ptrdiff_t>(seq - t.snd_una);
        p.payload.assign(begin, begin + static_cast<std::ptrdiff_t>(length));
    }
    transmit(std::move(p));
}

void Network::tcp_send_ack(detail::NetSocket& s) { tcp_send_segment(s, detail::tcp_ack, s.tcp.snd_nxt, 0); }

void Network::tcp_send_rst(const detail::NetPacket& cause) {
    detail::NetPacket p;
    p.from = cause.to;
    p.to = cause.from;
    p.tcp = true;
    p.v6 = cause.v6;
    p.src = cause.dst;
    p.dst = cause.src;
    p.flags = detail::tcp_rst;
    p.src_nonce = cause.dst_nonce;
    p.dst_nonce = cause.src_nonce;
    transmit(std::move(p));
}

void Network::tcp_fail(detail::NetSocket& s, int error, std::string_view reason, bool send_rst) {
    TcpConn& t = s.tcp;
    const bool connecting = t.state == TcpState::syn_sent;
    if (send_rst && (t.state == TcpState::established || connecting)) {
        tcp_send_segment(s, detail::tcp_rst | detail::tcp_ack, t.snd_nxt, 0);
    }
    if (trace_ != nullptr) {
        if (error == ETIMEDOUT) {
            const std::string_view phase = connecting ? "connect" : reason == "keepalive" ? "keepalive" : "data";
            trace_->emit("net.timeout", {{"sock", s.id}, {"node", s.node}, {"phase", phase},
                                         {"src", to_string(s.local)}, {"dst", to_string(s.peer)}});
        } else {
            trace_->emit("net.reset", {{"sock", s.id}, {"node", s.node}, {"reason", reason},
                                       {"src", to_string(s.local)}, {"dst", to_string(s.peer)}});
        }
    }
    t.state = TcpState::failed;
    if (t.timer != 0) events_.cancel(t.timer);
    if (t.keepalive_timer != 0) events_.cancel(t.keepalive_timer);
    if (t.ack_timer != 0) events_.cancel(t.ack_timer);
    t.timer = 0;
    t.keepalive_timer = 0;
    t.ack_timer = 0;
    t.snd_buf.clear();
    t.out_of_order.clear();
    tcp_unregister(s);
    if (s.closed) return destroy(s.id);
    if (error != 0) s.error = error;
    notify(s.id);
}

// ---- timers --------------------------------------------------------------------

void Network::tcp_arm_timer(detail::NetSocket& s, bool restart) {
    TcpConn& t = s.tcp;
    const bool window_blocked = t.state == TcpState::established && t.snd_nxt < data_end(t) &&
                                t.snd_nxt >= t.peer_window_end && !outstanding(t);
    const bool fin_wait = s.closed && t.fin_acked && !t.fin_received;
    const bool needed = t.state == TcpState::syn_sent ||
                        (t.state == TcpState::established && (outstanding(t) || window_blocked || fin_wait));
    if (!needed || (t.timer != 0 && !restart)) {
        if (!needed && t.timer != 0) {
            events_.cancel(t.timer);
            t.timer = 0;
        }
        return;
    }
    if (t.timer != 0) events_.cancel(t.timer);
    const Ns deadline = detail::saturating_add(t.waiting_since_ns, options_.tcp_timeout_ns);
    // A closed socket waiting for the peer's FIN retransmits nothing: one
    // timer at the deadline is enough.
    const Ns at = fin_wait && !outstanding(t) ? deadline
                                                : std::min(detail::saturating_add(events_.now_ns(), t.rto_ns), deadline);
    const SocketId id = s.id;
    t.timer = events_.schedule_at(at, [this, id] { tcp_timer_fired(id); });
}

void Network::tcp_timer_fired(SocketId id) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return;
    detail::NetSocket& s = *it->second;
    TcpConn& t = s.tcp;
    t.timer = 0;
    const Ns now = events_.now_ns();
    const bool expired = now >= detail::saturating_add(t.waiting_since_ns, options_.tcp_timeout_ns);
    if (s.closed && t.fin_acked && !outstanding(t)) {  // FIN_WAIT_2 of a closed socket
        if (expired) return destroy(id);
        return tcp_arm_timer(s, true);
    }
    if (expired) return tcp_fail(s, ETIMEDOUT, "timeout", false);
    ++stats_.retransmissions;
    if (t.state == TcpState::syn_sent) {
        tcp_send_segment(s, detail::tcp_syn, 0, 0);
    } else if (outstanding(t)) {
        // Go back N: resend everything unacknowledged; the receiver keeps
        // out-of-order data, so only the holes cost anything.
        const Ns waiting_since = t.waiting_since_ns;  // a retransmission is not progress
        t.snd_nxt = t.snd_una;
        if (t.fin_sent && !t.fin_acked) t.fin_sent = false;
        tcp_pump(s);
        t.waiting_since_ns = waiting_since;
    } else if (t.snd_nxt < data_end(t)) {
        tcp_send_segment(s, detail::tcp_ack, t.snd_nxt, 1);  // zero-window probe
    }
    t.rto_ns = std::min(detail::saturating_add(t.rto_ns, t.rto_ns), options_.tcp_rto_ns_max);
    tcp_arm_timer(s, true);
}

// ---- keepalive -------------------------------------------------------------------

// The timer is lazy: hearing from the peer only moves last_heard_ns, and a
// timer that fires early re-arms itself for the real idle deadline.
void Network::tcp_arm_keepalive(detail::NetSocket& s) {
    TcpConn& t = s.tcp;
    if (t.keepalive_idle_ns == 0 || t.state != TcpState::established || t.keepalive_timer != 0) return;
    const Ns at = t.keepalive_probes == 0 ? detail::saturating_add(t.last_heard_ns, t.keepalive_idle_ns)
                                          : detail::saturating_add(events_.now_ns(), t.keepalive_interval_ns);
    const SocketId id = s.id;
    t.keepalive_timer = events_.schedule_at(at, [this, id] { tcp_keepalive_fired(id); });
}

void Network::tcp_keepalive_fired(SocketId id) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return;
    detail::NetSocket& s = *it->second;
    TcpConn& t = s.tcp;
    t.keepalive_timer = 0;
    if (t.state != TcpState::established || t.keepalive_idle_ns == 0) return;
    if (t.keepalive_probes == 0 && events_.now_ns() < detail::saturating_add(t.last_heard_ns, t.keepalive_idle_ns)) {
        return tcp_arm_keepalive(s);
    }
    if (t.keepalive_probes >= t.keepalive_count) return tcp_fail(s, ETIMEDOUT, "keepalive", false);
    ++t.keepalive_probes;
    tcp_send_segment(s, detail::tcp_ack | detail::tcp_probe, t.snd_una, 0);
    tcp_arm_keepalive(s);
}

// ---- sending ---------------------------------------------------------------------

void Network::tcp_pump(detail::NetSocket& s) {
    TcpConn& t = s.tcp;
    if (t.state != TcpState::established) return;
    const std::uint64_t end = data_end(t);
    const std::uint64_t limit = std::min(t.peer_window_end, t.snd_una + options_.tcp_window_bytes);
    const bool was_outstanding = outstanding(t);
    while (t.snd_nxt < end && t.snd_nxt < limit) {
        const std::uint64_t length = std::min({options_.tcp_mss_bytes, end - t.snd_nxt, limit - t.snd_nxt});
        tcp_send_segment(s, detail::tcp_ack, t.snd_nxt, length);
        t.snd_nxt += length;
    }
    if (t.fin_queued && !t.fin_sent && t.snd_nxt == end) {
        tcp_send_segment(s, detail::tcp_fin | detail::tcp_ack, end, 0);
        t.fin_sent = true;
        t.snd_nxt = end + 1;
    }
    if (!was_outstanding && outstanding(t)) t.waiting_since_ns = events_.now_ns();
    check_send_side(t);
    tcp_arm_timer(s, false);
}

// ---- receiving -------------------------------------------------------------------

void Network::tcp_receive(detail::NetPacket& packet) {
    auto it = connections_.find({packet.to, packet.dst, packet.src});
    if (it == connections_.end()) {
        if (packet.flags == detail::tcp_syn) return tcp_receive_syn(packet);
        trace_deliver(packet);
        if ((packet.flags & detail::tcp_rst) == 0) tcp_send_rst(packet);  // no such connection
        return;
    }
    detail::NetSocket& s = *sockets_.at(it->second);
    if (packet.flags == detail::tcp_syn) {
        if (s.tcp.remote_nonce == packet.src_nonce) {  // our SYN-ACK was lost
            trace_deliver(packet);
            return tcp_send_segment(s, detail::tcp_syn | detail::tcp_ack, 0, 0);
        }
        tcp_fail(s, ECONNRESET, "replaced", false);  // the peer restarted and reused the 4-tuple
        return tcp_receive_syn(packet);
    }
    trace_deliver(packet);
    const bool nonce_ok = packet.dst_nonce == s.tcp.local_nonce &&
                          (s.tcp.state == TcpState::syn_sent || packet.src_nonce == s.tcp.remote_nonce);
    if (!nonce_ok) {
        if ((packet.flags & detail::tcp_rst) == 0) tcp_send_rst(packet);
        return;
    }
    tcp_segment(s, packet);
}

void Network::tcp_receive_syn(detail::NetPacket& packet) {
    const SocketId lid = find_bound(packet.to, SocketType::stream, packet.dst, true, packet.v6);
    if (lid == 0) {
        trace_deliver(packet);
        return tcp_send_rst(packet);  // nothing listens: the client sees ECONNREFUSED
    }
    detail::NetSocket& listener = *sockets_.at(lid);
    if (listener.accept_queue.size() >= listener.backlog) return drop(packet, "backlog_full");
    trace_deliver(packet);
    auto child = std::make_unique<detail::NetSocket>();
    child->id = next_socket_id_++;
    child->node = packet.to;
    child->type = SocketType::stream;
    child->local = packet.dst;
    child->peer = packet.src;
    child->has_peer = true;
    child->listener = lid;
    child->ipv6 = listener.ipv6;
    child->v6_only = listener.v6_only;
    child->native_v6 = packet.v6;  // a dual-stack listener's IPv4 peers are v4-mapped
    TcpConn& t = child->tcp;
    t.send_capacity = listener.tcp.send_capacity;
    t.receive_capacity = listener.tcp.receive_capacity;
    t.keepalive_idle_ns = listener.tcp.keepalive_idle_ns;
    t.keepalive_interval_ns = listener.tcp.keepalive_interval_ns;
    t.keepalive_count = listener.tcp.keepalive_count;
    t.last_heard_ns = events_.now_ns();
    t.state = TcpState::established;
    t.peer_node = packet.from;
    t.local_nonce = next_nonce_++;
    t.remote_nonce = packet.src_nonce;
    t.peer_window_end = packet.window;
    t.rto_ns = options_.tcp_rto_ns_min;
    t.waiting_since_ns = events_.now_ns();
    detail::NetSocket& c = *child;
    sockets_.emplace(c.id, std::move(child));
    tcp_register(c);
    listener.accept_queue.push_back(c.id);
    if (trace_ != nullptr) {
        trace_->emit("net.accept", {{"listener", lid}, {"sock", c.id}, {"node", c.node}, {"src", to_string(c.local)},
                                    {"dst", to_string(c.peer)}});
    }
    tcp_send_segment(c, detail::tcp_syn | detail::tcp_ack, 0, 0);
    tcp_arm_keepalive(c);
    notify(lid);
}

void Network::tcp_segment(detail::NetSocket& s, detail::NetPacket& packet) {
    TcpConn& t = s.tcp;
    if ((packet.flags & detail::tcp_rst) != 0) {
        const bool connecting = t.state == TcpState::syn_sent;
        return tcp_fail(s, connecting ? ECONNREFUSED : ECONNRESET, connecting ? "refused" : "peer", false);
    }
    if (t.state == TcpState::syn_sent) {
        if ((packet.flags & detail::tcp_ack) == 0) return;
        t.remote_nonce = packet.src_nonce;
        t.state = TcpState::established;
        t.rto_ns = options_.tcp_rto_ns_min;
        t.waiting_since_ns = events_.now_ns();
        t.peer_window_end = packet.ack + packet.window;
        if (trace_ != nullptr) {
            trace_->emit("net.established", {{"sock", s.id}, {"node", s.node}, {"src", to_string(s.local)},
                                             {"dst", to_string(s.peer)}});
        }
        t.last_heard_ns = events_.now_ns();
        tcp_arm_timer(s, true);
        tcp_arm_keepalive(s);
        notify(s.id);
        if ((packet.flags & detail::tcp_syn) != 0) return tcp_pump(s);
    }
    if (t.state != TcpState::established || (packet.flags & detail::tcp_syn) != 0) return;
    t.last_heard_ns = events_.now_ns();
    t.keepalive_probes = 0;
    if ((packet.flags & detail::tcp_probe) != 0) return tcp_send_ack(s);
    if (!packet.payload.empty() && packet.from != packet.to &&
        decide(ForcedFault::reset, packet,
               !options_.connection_reset_rate.is_never() && options_.connection_reset_rate.roll(streams_.reset).fired)) {
        return tcp_fail(s, ECONNRESET, "injected", true);
    }
    tcp_ack_in(s, packet);
    if (!tcp_data_in(s, packet)) return;
    tcp_maybe_finish(s);
}

void Network::tcp_ack_in(detail::NetSocket& s, const detail::NetPacket& packet) {
    TcpConn& t = s.tcp;
    if ((packet.flags & detail::tcp_ack) == 0) return;
    const std::uint64_t end = data_end(t);
    std::uint64_t acked = 0;
    bool progress = false;
    // The peer acknowledges only what it received from us: queued data,
    // then one for the FIN.
    MARIONETTE_ASSERT(packet.ack <= end + (t.fin_queued ? 1 : 0), "tcp: the peer acknowledges only bytes we sent");
    if (packet.ack > t.snd_una) {
        acked = std::min(packet.ack, end) - t.snd_una;
        t.snd_buf.erase(t.snd_buf.begin(), t.snd_buf.begin() + static_cast<std::ptrdiff_t>(acked));
        t.snd_una += acked;
        progress = acked > 0;
        if (t.fin_sent && !t.fin_acked && packet.ack > end) {
            t.fin_acked = true;
            progress = true;
        }
        t.snd_nxt = std::max(t.snd_nxt, t.snd_una);
    }
    t.peer_window_end = std::max(t.peer_window_end, packet.ack + packet.window);
    if (progress || !outstanding(t)) t.waiting_since_ns = events_.now_ns();
    if (progress) t.rto_ns = options_.tcp_rto_ns_min;
    tcp_pump(s);
    tcp_arm_timer(s, progress);
    if (acked > 0) notify(s.id);
}

namespace {

// Appends the part of [seq, seq + bytes.size()) at rcv_nxt that fits the
// receive buffer; returns the number of bytes taken.
std::uint64_t absorb(TcpConn& t, std::uint64_t seq, const std::vector<std::byte>& bytes) {
    if (seq > t.rcv_nxt || seq + bytes.size() <= t.rcv_nxt) return 0;
    const std::uint64_t skip = t.rcv_nxt - seq;
    const std::uint64_t room = saturating_sub(t.receive_capacity, t.rcv_buf.size());
    const std::uint64_t n = std::min<std::uint64_t>(bytes.size() - skip, room);
    const auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(skip);
    t.rcv_buf.insert(t.rcv_buf.end(), begin, begin + static_cast<std::ptrdiff_t>(n));
    t.rcv_nxt += n;
    MARIONETTE_ASSERT(n == 0 || t.rcv_buf.size() <= t.receive_capacity, "tcp: receive buffer within its capacity");
    return n;
}

// Moves out-of-order segments that have become contiguous into the buffer.
void drain_out_of_order(TcpConn& t) {
    while (!t.out_of_order.empty()) {
        auto it = t.out_of_order.begin();
        if (it->first > t.rcv_nxt) return;
        absorb(t, it->first, it->second);
        if (it->first + it->second.size() > t.rcv_nxt) return;  // buffer full; keep the rest
        t.out_of_order.erase(it);
    }
}

}  // namespace

bool Network::tcp_data_in(detail::NetSocket& s, detail::NetPacket& packet) {
    TcpConn& t = s.tcp;
    const std::uint64_t length = packet.payload.size();
    const bool fin = (packet.flags & detail::tcp_fin) != 0;
    if (length == 0 && !fin) return true;
    if (s.closed && length > 0 && packet.seq + length > t.rcv_nxt) {
        tcp_fail(s, 0, "data_after_close", true);  // nobody will read it: reset, as Linux does
        return false;
    }
    if (fin) t.peer_fin_seq = packet.seq + length;
    const std::uint64_t before = t.rcv_nxt;
    if (length > 0) {
        if (packet.seq <= t.rcv_nxt) {
            absorb(t, packet.seq, packet.payload);
            drain_out_of_order(t);
        } else if (packet.seq < t.rcv_nxt + t.receive_capacity) {
            std::vector<std::byte>& slot = t.out_of_order[packet.seq];
            if (slot.size() < length) slot = std::move(packet.payload);
        }
    }
    MARIONETTE_ASSERT(t.rcv_nxt >= before, "tcp: the receive sequence never goes back");
    bool readable = t.rcv_nxt != before;
    if (!t.fin_received && t.rcv_nxt == t.peer_fin_seq) {
        t.fin_received = true;
        t.rcv_nxt += 1;
        readable = true;
    }
    // Delay the ack of plain in-order data, hoping a reply carries it; ack
    // anything else, and every second segment, at once.
    const bool plain = length > 0 && !fin && packet.seq == before && t.rcv_nxt > before && t.out_of_order.empty();
    if (options_.tcp_ack_delay_ns == 0 || !plain || t.ack_timer != 0) {
        tcp_send_ack(s);
    } else {
        const SocketId id = s.id;
        t.ack_timer = events_.schedule_after(options_.tcp_ack_delay_ns, [this, id] {
            auto it = sockets_.find(id);
            if (it == sockets_.end()) return;
            it->second->tcp.ack_timer = 0;
            if (it->second->tcp.state == TcpState::established) tcp_send_ack(*it->second);
        });
    }
    if (readable && !s.closed) notify(s.id);
    return true;
}

void Network::tcp_maybe_finish(detail::NetSocket& s) {
    if (s.closed && s.tcp.fin_acked && s.tcp.fin_received) destroy(s.id);
}

}  // namespace marionette
