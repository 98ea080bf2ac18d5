// The simulated network: nodes, links, faults, and the socket model that the
// simulated kernel maps POSIX socket calls onto.
//
// Pure C++: no OS calls, no real sockets, no wall clock. Time moves only
// through the shared EventQueue and every random decision comes from a Prng
// stream the caller derives (`root.derive("net")`); the network derives one
// sub-stream per purpose (latency, drop, duplicate, clog, partition, reset),
// so enabling one fault never shifts the draws of another.
//
// Layers inside the model:
//  - transport: packets between nodes, ordered by (deliver_at, packet_id),
//    with latency, loss, duplication, clogs, partitions, one-way links and
//    node up/down; every decision traced (`net.send`, `net.deliver`,
//    `net.drop reason=...`, ...).
//  - sockets: UDP datagram sockets and TCP-like reliable ordered byte streams
//    built on that transport (handshake, retransmission with backoff,
//    cumulative acks, flow control, FIN/RST, timeouts). Loss and partitions
//    only delay a stream; it is never corrupted or reordered.
//
// The socket API is non-blocking by construction and returns POSIX errno
// values (0 = success): blocking, fd tables, SIGPIPE and epoll edge logic
// live in the kernel above. The kernel blocks a process on a socket and is
// woken through the readiness listener, which the network calls whenever a
// socket's readiness may have changed. docs/network-model.md is the
// specification.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <set>
#include <string>
#include <tuple>
#include <string_view>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/net/address.hpp"
#include "sim/net/detail.hpp"
#include "sim/net/options.hpp"
#include "sim/random.hpp"
#include "sim/trace.hpp"

namespace marionette {

/// Identifies a socket; never reused within a Network.
using SocketId = std::uint64_t;

enum class SocketType {
    stream,    ///< SOCK_STREAM: the TCP model
    datagram,  ///< SOCK_DGRAM: UDP
};

/// What poll/epoll would report for a socket (POLLIN, POLLOUT, POLLHUP,
/// POLLRDHUP, POLLERR).
struct Readiness {
    bool readable = false;  ///< data, EOF, an error, or (listener) a queued connection
    bool writable = false;  ///< send-buffer space, or SHUT_WR, failed, never connected
    bool hup = false;       ///< both directions shut, failed, or never connected
    bool rdhup = false;     ///< the peer sent FIN
    bool error = false;     ///< SO_ERROR is pending
    friend bool operator==(const Readiness&, const Readiness&) = default;
};

/// The outcome of a socket call: `error` is 0 or a POSIX errno; `value` is
/// the byte count or new socket id on success.
struct NetResult {
    int error = 0;
    std::uint64_t value = 0;
    bool ok() const { return error == 0; }
};

/// Counters over a run (also derivable from the trace).
struct NetStats {
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_delivered = 0;
    std::uint64_t packets_dropped = 0;
    std::uint64_t packets_duplicated = 0;
    std::uint64_t retransmissions = 0;
};

/// A random fault decision a run can force (net.force, docs/shrinking.md):
/// what happens to the n-th packet of a link.
enum class ForcedFault { drop, duplicate, clog, reset };

/// A random fault that fired, as the `net.force` line that forces it again
/// (`net.force drop r1 client 17`); `at_ns` is when it fired.
struct FiredFault {
    Ns at_ns = 0;
    std::string line;
};

/// Packet counts of one directed link (from == to: loopback).
struct LinkStats {
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;
    friend bool operator==(const LinkStats&, const LinkStats&) = default;
};

class Network {
public:
    /// `prng` is the network's stream (derive it from the run's root);
    /// `trace` may be null (no events recorded). Throws
    /// std::invalid_argument on options that cannot work together.
    Network(EventQueue& events, Trace* trace, const Prng& prng, NetOptions options = {});
    ~Network();
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    // ---- nodes and the resolver -------------------------------------------

    /// Adds node number node_count(); its address is 10.0.0.(id+1) unless
    /// given. Throws std::invalid_argument on a duplicate name or address.
    NodeId add_node(std::string name, std::optional<Ipv4> address = std::nullopt);
    std::size_t node_count() const;
    const std::string& node_name(NodeId node) const;
    Ipv4 node_address(NodeId node) const;
    /// The node owning a (non-loopback) address.
    std::optional<NodeId> node_of(Ipv4 address) const;
    /// getaddrinfo/gethostbyname: a node name, `localhost`, or dotted-quad.
    std::optional<Ipv4> resolve(std::string_view name) const;
    /// The node called `name` (for control commands that name nodes).
    std::optional<NodeId> node_named(std::string_view name) const;
    /// Incremented by every restart; 0 for the first life.
    std::uint64_t node_incarnation(NodeId node) const;
    bool node_up(NodeId node) const;

    // ---- options ----------------------------------------------------------

    const NetOptions& options() const { return options_; }
    void set_options(const NetOptions& options);
    /// `net.set_faults key=value ...`: any option key. Throws on bad text.
    void set_faults(std::string_view text);
    /// `net.set_lossiness drop_rate= duplicate_rate= ...`.
    void set_lossiness(std::string_view text);
    /// `net.set_latency latency_ns_min= latency_ns_jitter=`.
    void set_latency(std::string_view text);
    /// `net.set_partition_dynamics partition_rate= unpartition_rate= stability_ns_min=`.
    void set_partition_dynamics(std::string_view text);

    // ---- topology faults --------------------------------------------------

    /// Cuts every link between nodes of different groups, both ways;
    /// replaces an earlier partition() (one-way links stay). Nodes in no
    /// group keep all their links.
    void partition(const std::vector<std::vector<NodeId>>& groups);
    /// Enables or disables the one-way link from -> to.
    void set_link(NodeId from, NodeId to, bool on);
    /// Removes partitions (manual and automatic) and one-way link cuts.
    void heal();
    /// Holds packets on from -> to for `duration_ns` (none dropped); they
    /// are then delivered in their original order.
    void clog(NodeId from, NodeId to, Ns duration_ns);
    /// Clogs every path into and out of `node` (FoundationDB clogInterface).
    void clog_node(NodeId node, Ns duration_ns);
    /// Releases a clogged path now.
    void unclog(NodeId from, NodeId to);
    /// Releases every clogged path now.
    void unclog_all();
    /// When on, connects from `from` to `to` fail at once with ECONNREFUSED.
    void set_connect_failure(NodeId from, NodeId to, bool on);
    /// Crashes a node: it drops packets at send and delivery, and all its
    /// sockets vanish without a word to their peers (they learn through
    /// resets after a restart, or timeouts).
    void crash(NodeId node);
    /// Brings a crashed node back as a fresh incarnation with no sockets.
    void restart(NodeId node);

    // ---- forced faults (shrinking, docs/shrinking.md) -----------------------

    /// From now on every random fault decision is still drawn (so the random
    /// streams advance exactly as before) but overridden: a fault fires only
    /// if it was forced below. Latency, and the faults the scenario orders
    /// itself (partition, clog, crash), are unchanged.
    void force_only();
    bool forced_only() const { return forced_only_; }
    /// The `packet`-th packet (from 1) sent on from -> to is dropped, is
    /// duplicated (datagrams), starts a clog of path_clog_duration_ns, or
    /// (a stream segment with data) resets its connection when it arrives.
    void force(ForcedFault kind, NodeId from, NodeId to, std::uint64_t packet);
    /// The `send`-th stream send (from 1) that a partial write could cut
    /// accepts `accepted` bytes.
    void force_partial_write(std::uint64_t send, std::uint64_t accepted);
    /// At the `tick`-th tick (from 1) of the partition dynamics, the nodes in
    /// `side` are cut from the others (a random partition) ...
    void force_partition(std::uint64_t tick, std::vector<NodeId> side);
    /// ... or the random partition heals.
    void force_heal(std::uint64_t tick);
    /// Every random fault that fired in this run, in order, each as the
    /// `net.force` line that forces it (empty after force_only()).
    const std::vector<FiredFault>& fired_faults() const { return fired_; }

    // ---- sockets (the kernel's view) --------------------------------------

    /// socket(): a new unbound socket owned by `node`. EHOSTDOWN if down.
    NetResult open(NodeId node, SocketType type);
    /// bind(): port 0 picks an ephemeral port. EADDRINUSE, EADDRNOTAVAIL, EINVAL.
    /// `v6` on an IPv6 socket: `local` is the IPv4 image of an IPv6 address
    /// (`::`, `::1`, `fd00::N`); otherwise a v4-mapped one.
    int bind(SocketId socket, SockAddr local, bool v6 = false);
    /// socket(AF_INET6): makes a fresh socket an IPv6 one (dual-stack).
    int set_ipv6(SocketId socket);
    /// IPV6_V6ONLY before bind (EINVAL after; ENOPROTOOPT on IPv4 sockets).
    int set_v6_only(SocketId socket, bool on);
    /// True if the socket's addresses are IPv6 ones (an IPv6 socket whose
    /// binding or connection speaks IPv6, not IPv4 through v4-mapping).
    bool speaks_v6(SocketId socket) const;
    /// listen(): binds an ephemeral port first if unbound.
    int listen(SocketId socket, std::uint32_t backlog);
    /// accept(): an established connection, or EAGAIN.
    NetResult accept(SocketId listener);
    /// connect(): streams return EINPROGRESS and become writable when the
    /// connection is established or has failed (then take_error says why:
    /// ECONNREFUSED, ETIMEDOUT, ...). Datagram sockets set their peer and
    /// return 0. ENETUNREACH for an address no node owns.
    int connect(SocketId socket, SockAddr remote, bool v6 = false);
    /// send()/write(): bytes accepted (may be fewer than given), EAGAIN when
    /// the send buffer is full, EPIPE after shutdown, ECONNRESET/ETIMEDOUT
    /// once after a failure (then EPIPE), ENOTCONN before connect.
    NetResult send(SocketId socket, std::span<const std::byte> data);
    /// recv()/read(): bytes copied, 0 at end of stream, EAGAIN when nothing
    /// is queued. `peek` leaves the data queued (MSG_PEEK).
    NetResult recv(SocketId socket, std::span<std::byte> out, bool peek = false);
    /// sendto() on a datagram socket; EMSGSIZE above 65507 bytes.
    NetResult send_to(SocketId socket, std::span<const std::byte> data, SockAddr remote, bool v6 = false);
    /// recvfrom(): copies at most out.size() bytes of the next datagram
    /// (the rest is discarded, as with MSG_TRUNC semantics) and reports its
    /// sender and full length.
    NetResult recv_from(SocketId socket, std::span<std::byte> out, SockAddr* from, std::uint64_t* full_length = nullptr,
                        bool peek = false, bool* from_v6 = nullptr);
    /// shutdown(): SHUT_RD / SHUT_WR / SHUT_RDWR.
    int shutdown(SocketId socket, bool read, bool write);
    /// close(): a stream with unread data resets the connection (as Linux
    /// does); otherwise queued data and a FIN are still delivered. The id
    /// is invalid afterwards.
    void close(SocketId socket);
    /// close() with SO_LINGER {on, 0}: resets the connection at once.
    void abort(SocketId socket);
    /// poll/epoll readiness; EBADF-like sockets report error|hup.
    Readiness readiness(SocketId socket) const;
    /// getsockopt(SO_ERROR): the pending error, cleared by the call.
    int take_error(SocketId socket);
    /// getsockname()/getpeername().
    std::optional<SockAddr> local_address(SocketId socket) const;
    std::optional<SockAddr> peer_address(SocketId socket) const;
    /// SO_SNDBUF / SO_RCVBUF (0 keeps the current value), taken as is.
    int set_buffer_sizes(SocketId socket, std::uint64_t send_bytes, std::uint64_t receive_bytes);
    /// setsockopt(SO_SNDBUF or SO_RCVBUF, requested) as Linux does it: the
    /// request capped at net.core.wmem_max/rmem_max (212992), doubled, at
    /// least 4608 (send) or 2304 (receive) bytes.
    int set_socket_buffer(SocketId socket, bool receive, std::uint64_t requested);
    /// SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (Linux
    /// defaults 2 h, 75 s, 9). `on = false` stops probing.
    int set_keepalive(SocketId socket, bool on, Ns idle_ns = 7200 * ns_per_s, Ns interval_ns = 75 * ns_per_s,
                      std::uint32_t count = 9);
    /// Current {SO_SNDBUF, SO_RCVBUF} of a stream socket.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> buffer_sizes(SocketId socket) const;
    /// Bytes queued for reading (FIONREAD / SIOCINQ).
    std::uint64_t readable_bytes(SocketId socket) const;
    /// Connections queued on a listener and not yet accepted (0 for any
    /// other socket), so a relay can announce each one exactly once.
    std::size_t pending_connections(SocketId listener) const;
    /// True while the id names an open socket.
    bool valid(SocketId socket) const;
    /// The node owning an open socket.
    std::optional<NodeId> socket_node(SocketId socket) const;

    // ---- waking the kernel ------------------------------------------------

    /// Called (synchronously, from inside the network) whenever a socket's
    /// readiness may have changed: data or a datagram arrived, a connection
    /// was established, failed, reset or reached EOF, a listener queued a
    /// connection, or send-buffer space was freed. The kernel wakes the
    /// processes blocked on that socket. Must not call back into the
    /// network synchronously.
    void set_readiness_listener(std::function<void(SocketId)> listener) { listener_ = std::move(listener); }
    /// Time of the next packet delivery, if any is in flight. Timers
    /// (retransmissions, dynamics) are ordinary EventQueue events.
    std::optional<Ns> next_delivery_ns() const;

    const NetStats& stats() const { return stats_; }
    /// The current state for `net.show`: one `key=value ...` line per node,
    /// cut link, clog and injected connect failure, then the options. Sorted
    /// and free of addresses of memory, so it can be compared across runs.
    std::string describe() const;
    /// Sends, deliveries and drops on from -> to (for run summaries).
    LinkStats link_stats(NodeId from, NodeId to) const { return links_.at(from * nodes_.size() + to); }

private:

    // transport.cpp
    void transmit(detail::NetPacket packet);
    void schedule_packet(detail::NetPacket packet);
    void arm_delivery_timer();
    void deliver_due();
    void deliver(detail::NetPacket& packet);
    void drop(const detail::NetPacket& packet, std::string_view reason);
    void trace_deliver(const detail::NetPacket& packet);
    bool path_clogged(NodeId from, NodeId to) const;
    void release_clog(NodeId from, NodeId to);
    void trace_send(const detail::NetPacket& packet, Ns latency_ns);
    std::uint8_t& cut(NodeId from, NodeId to);
    std::uint8_t cut(NodeId from, NodeId to) const;
    void resize_topology();
    // forced.cpp
    bool decide(ForcedFault kind, const detail::NetPacket& packet, bool drawn);
    void fired(std::string line);
    // dynamics.cpp
    void update_dynamics();
    void apply_auto_partition(const std::vector<bool>& side);
    void apply_auto_heal(std::string_view reason);
    void dynamics_tick();
    void apply_option_text(std::string_view text, NetOptionGroup group, std::string_view command);
    // sockets.cpp
    detail::NetSocket* find(SocketId socket);
    const detail::NetSocket* find(SocketId socket) const;
    std::optional<NodeId> route(NodeId from, Ipv4 to) const;
    bool local_ip(NodeId node, Ipv4 ip) const;
    bool port_taken(const detail::NetSocket& socket, SockAddr local) const;
    std::uint16_t ephemeral_port(NodeId node, SocketType type);
    int bind_ephemeral(detail::NetSocket& socket);
    SocketId find_bound(NodeId node, SocketType type, SockAddr local, bool listening, bool v6) const;
    void unbind(detail::NetSocket& socket);
    void destroy(SocketId socket);
    void notify(SocketId socket);
    // udp.cpp
    void udp_receive(detail::NetPacket& packet);
    // tcp.cpp
    void tcp_receive(detail::NetPacket& packet);
    void tcp_receive_syn(detail::NetPacket& packet);
    void tcp_segment(detail::NetSocket& socket, detail::NetPacket& packet);
    void tcp_ack_in(detail::NetSocket& socket, const detail::NetPacket& packet);
    bool tcp_data_in(detail::NetSocket& socket, detail::NetPacket& packet);
    void tcp_pump(detail::NetSocket& socket);
    void tcp_send_segment(detail::NetSocket& socket, std::uint8_t flags, std::uint64_t seq, std::uint64_t length);
    void tcp_send_ack(detail::NetSocket& socket);
    void tcp_send_rst(const detail::NetPacket& cause);
    void tcp_arm_timer(detail::NetSocket& socket, bool restart);
    void tcp_timer_fired(SocketId socket);
    void tcp_arm_keepalive(detail::NetSocket& socket);
    void tcp_keepalive_fired(SocketId socket);
    void tcp_fail(detail::NetSocket& socket, int error, std::string_view reason, bool send_rst);
    void tcp_maybe_finish(detail::NetSocket& socket);
    void tcp_register(detail::NetSocket& socket);
    void tcp_unregister(detail::NetSocket& socket);
    std::uint64_t tcp_window_advert(const detail::NetSocket& socket) const;

    EventQueue& events_;
    Trace* trace_;
    NetOptions options_;
    detail::NetStreams streams_;
    std::vector<detail::NetNode> nodes_;
    std::vector<std::uint8_t> cuts_;  // N x N, bit per cause (see transport.cpp)
    std::vector<LinkStats> links_;    // N x N
    std::map<std::pair<NodeId, NodeId>, detail::NetClog> clogs_;
    std::set<std::pair<NodeId, NodeId>> connect_failures_;
    std::vector<detail::NetPacket> in_flight_;  // min-heap on (deliver_at_ns, id)
    TimerId delivery_timer_ = 0;
    Ns delivery_timer_at_ = 0;
    std::uint64_t next_packet_id_ = 0;
    SocketId next_socket_id_ = 1;
    std::uint64_t next_nonce_ = 1;
    std::map<SocketId, std::unique_ptr<detail::NetSocket>> sockets_;
    // (node, local, remote) -> stream socket, for demultiplexing segments.
    std::map<std::tuple<NodeId, SockAddr, SockAddr>, SocketId> connections_;
    // (node, type, port) -> sockets bound there.
    std::map<std::tuple<NodeId, SocketType, std::uint16_t>, std::vector<SocketId>> bound_;
    TimerId dynamics_timer_ = 0;
    bool auto_partitioned_ = false;
    Ns auto_changed_ns_ = 0;
    std::uint64_t dynamics_ticks_ = 0;
    // forced.cpp
    bool forced_only_ = false;
    std::set<std::tuple<ForcedFault, NodeId, NodeId, std::uint64_t>> forced_;
    std::map<std::uint64_t, std::uint64_t> forced_partial_;  // send -> accepted
    std::map<std::uint64_t, std::vector<NodeId>> forced_partition_;  // tick -> side
    std::set<std::uint64_t> forced_heal_;
    std::uint64_t partial_candidates_ = 0;
    std::vector<FiredFault> fired_;
    std::function<void(SocketId)> listener_;
    NetStats stats_;
};

}  // namespace marionette
