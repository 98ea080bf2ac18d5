// Internal state of the network model: packets in flight, sockets and their
// TCP connection state, nodes and clogged paths. Only sim/net/*.cpp touch
// these; they are in a header so Network can hold them by value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/net/address.hpp"
#include "sim/random.hpp"

namespace marionette {

using SocketId = std::uint64_t;
enum class SocketType;

namespace detail {

/// TCP segment flags.
/// `tcp_probe` marks a keepalive probe, which the receiver always answers.
enum TcpFlag : std::uint8_t { tcp_syn = 1, tcp_ack = 2, tcp_fin = 4, tcp_rst = 8, tcp_probe = 16 };

/// A packet on the wire. `from`/`to` are nodes; src/dst the endpoints.
struct NetPacket {
    std::uint64_t id = 0;
    /// Its number among the packets sent on its link (from -> to), from 1:
    /// how a forced fault (`net.force drop r1 r2 17`) names it.
    std::uint64_t link_seq = 0;
    Ns deliver_at_ns = 0;
    Ns sent_ns = 0;
    NodeId from = 0;
    NodeId to = 0;
    bool tcp = false;
    /// Sent by an IPv6 socket to an IPv6 address (not a v4-mapped one):
    /// only IPv6 sockets receive it, and they see its source as IPv6.
    bool v6 = false;
    SockAddr src;
    SockAddr dst;
    // TCP header. Sequence numbers count stream bytes from 0; the FIN takes
    // the sequence number after the last byte. Nonces identify the two ends
    // of one connection, so a segment from an older connection (or an older
    // incarnation of a node) that reuses a 4-tuple is answered with a reset
    // instead of being mistaken for the current one.
    std::uint8_t flags = 0;
    std::uint64_t seq = 0;
    std::uint64_t ack = 0;
    std::uint64_t window = 0;
    std::uint64_t src_nonce = 0;
    std::uint64_t dst_nonce = 0;
    std::vector<std::byte> payload;
};

/// Heap order: earliest deliver_at first, then lowest id.
struct PacketLater {
    bool operator()(const NetPacket& a, const NetPacket& b) const {
        if (a.deliver_at_ns != b.deliver_at_ns) return a.deliver_at_ns > b.deliver_at_ns;
        return a.id > b.id;
    }
};

enum class TcpState {
    none,         ///< not a connection (fresh, bound or listening)
    syn_sent,     ///< connect() in progress
    established,  ///< data may flow (until FINs)
    failed,       ///< reset, refused or timed out; error reported once
};

struct TcpConn {
    TcpState state = TcpState::none;
    NodeId peer_node = 0;
    std::uint64_t local_nonce = 0;
    std::uint64_t remote_nonce = 0;
    // Send side: snd_buf holds bytes [snd_una, snd_una + snd_buf.size()).
    std::deque<std::byte> snd_buf;
    std::uint64_t snd_una = 0;
    std::uint64_t snd_nxt = 0;
    std::uint64_t peer_window_end = 0;  // highest sequence the peer can take
    std::uint64_t send_capacity = 0;
    bool fin_queued = false;  // shutdown(SHUT_WR) or close(): FIN after the data
    bool fin_sent = false;
    bool fin_acked = false;
    // Receive side: rcv_buf holds in-order bytes not yet read.
    std::deque<std::byte> rcv_buf;
    std::uint64_t rcv_nxt = 0;
    std::map<std::uint64_t, std::vector<std::byte>> out_of_order;
    std::uint64_t receive_capacity = 0;
    std::uint64_t peer_fin_seq = UINT64_MAX;  // where the peer's FIN sits, once seen
    bool fin_received = false;
    bool read_shut = false;
    std::uint64_t last_advertised_window = 0;
    // Retransmission.
    TimerId timer = 0;
    Ns rto_ns = 0;
    Ns waiting_since_ns = 0;  // when the oldest unacknowledged thing was first sent
    // SO_KEEPALIVE (idle 0 = off): probes after `keepalive_idle_ns` without
    // hearing from the peer, every `keepalive_interval_ns`, failing with
    // ETIMEDOUT after `keepalive_count` unanswered ones.
    Ns keepalive_idle_ns = 0;
    Ns keepalive_interval_ns = 0;
    std::uint32_t keepalive_count = 0;
    std::uint32_t keepalive_probes = 0;
    Ns last_heard_ns = 0;
    TimerId keepalive_timer = 0;
    TimerId ack_timer = 0;  // a delayed acknowledgement is owed
};

struct NetSocket {
    SocketId id = 0;
    NodeId node = 0;
    SocketType type{};
    bool bound = false;
    SockAddr local;
    bool has_peer = false;
    SockAddr peer;
    int error = 0;  // pending SO_ERROR
    // IPv6 (addresses stay IPv4 inside; see "IPv6" in docs/network-model.md).
    bool ipv6 = false;        // an AF_INET6 socket
    bool v6_only = false;     // IPV6_V6ONLY
    bool accepts_v4 = true;   // its binding takes IPv4 packets ...
    bool accepts_v6 = false;  // ... and IPv6 ones
    bool native_v6 = false;   // its binding or connection speaks IPv6 (else IPv4, v4-mapped on an IPv6 socket)
    bool closed = false;  // the kernel closed it; a stream may linger to finish
    bool write_shut = false;
    // Listener.
    bool listening = false;
    std::uint32_t backlog = 0;
    std::deque<SocketId> accept_queue;
    SocketId listener = 0;  // a child not yet accepted: its listener
    // UDP.
    struct Datagram {
        SockAddr from;
        bool from_v6 = false;
        std::vector<std::byte> data;
    };
    std::deque<Datagram> datagrams;
    // TCP.
    TcpConn tcp;
};

inline std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }
/// a + b, clamped (a deadline of "never" must not wrap to the past).
inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

struct NetNode {
    std::string name;
    Ipv4 address;
    bool up = true;
    std::uint64_t incarnation = 0;
    std::uint16_t next_ephemeral_port = 32768;
};

struct NetClog {
    Ns until_ns = 0;
    TimerId timer = 0;
    std::vector<NetPacket> held;  // in arrival order
};

/// One stream per purpose, so enabling a fault never shifts another's draws.
struct NetStreams {
    explicit NetStreams(const Prng& root)
        : latency(root.derive("latency")),
          drop(root.derive("drop")),
          duplicate(root.derive("duplicate")),
          clog(root.derive("clog")),
          partition(root.derive("partition")),
          reset(root.derive("reset")),
          partial(root.derive("partial")),
          tail(root.derive("tail")) {}
    Prng latency;
    Prng drop;
    Prng duplicate;
    Prng clog;
    Prng partition;
    Prng reset;
    Prng partial;
    Prng tail;
};

}  // namespace detail
}  // namespace marionette
