// Real descriptors for simulated sockets.
//
// A program under simulation must reach other nodes only through the
// simulated network (latency, loss, partitions), yet it polls, epolls, reads
// and writes its sockets natively. So every simulated socket a process owns
// is one end of a real `socketpair(AF_UNIX, ...)`: SOCK_STREAM for TCP,
// SOCK_SEQPACKET for UDP (message boundaries kept, and EOF still visible).
// The coordinator keeps the other end, the *relay end* (non-blocking,
// close-on-exec), and moves bytes between relay ends and the Network model
// at deterministic points, in `pump()`:
//
//  - outgoing: what the process wrote is read from the relay end and handed
//    to `Network::send` / `send_to`; what the model does not take yet stays
//    buffered here and is retried on the next pump. At most
//    `relay_buffer_bytes` are buffered per socket, so a process that
//    outruns the network fills its socketpair and blocks (or gets EAGAIN).
//  - incoming: for a socket the model has data for, `Network::recv` /
//    `recv_from` into the relay end; a partial write keeps the rest buffered.
//  - EOF: the process shut its end for writing → `Network::shutdown(write)`
//    once the buffered bytes are in; the process closed its end entirely
//    (or exited) → `Network::close` (a reset if it left data unread, as the
//    model does). The peer's FIN → `shutdown(relay end, SHUT_WR)`, so the
//    process reads EOF after the last byte. A reset or timeout → the relay
//    end's write side is shut too (the process reads EOF) and its read side
//    at once (the process's writes fail with EPIPE); `reset()` says it
//    happened and `pending_error()` (SO_ERROR) says which error. Once the
//    process has taken that error and read to the end, the relay lets the
//    socket go (it cannot see the process close an end it shut both ways).
//  - listeners: the process end of a listener is a socketpair end as well.
//    The relay writes ONE byte into the listener's relay end per connection
//    the model has queued, so the listener polls readable. The shim reads
//    one byte from its end per accept(); `accept()` here never reads it.
//  - non-blocking connect: the process end is writable at once; bytes
//    written before the model establishes the connection wait in the relay.
//    A failed connect shuts the relay end's write side (EOF) and leaves the
//    error for `pending_error()`.
//
// Datagram framing (the shim adds and strips it; the program never sees
// it): every message on a datagram socketpair starts with an 8-byte header
// {uint32 IPv4 address, uint16 port, uint8 flags, uint8 reserved = 0},
// address and port in network byte order; flags bit 0 (relay_header_ipv6)
// says the address is an IPv6 one given as its IPv4 image (docs/network-model.md, "IPv6"). Messages written into the relay end carry the
// datagram's source; messages the process writes carry the destination, and
// an all-zero address and port mean "the connected peer" (send()).
//
// Determinism: sockets are visited in id order, the relay never looks at a
// wall clock and only does non-blocking I/O on descriptors it owns; it never
// advances time (the caller runs the EventQueue). docs/network-model.md,
// "Relaying real descriptors", lists what is exact and what approximated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/net/network.hpp"
#include "sim/trace.hpp"

namespace marionette {

/// Size of the header in front of every datagram on a datagram socketpair.
inline constexpr std::size_t relay_datagram_header_bytes = 8;
/// Most bytes the relay buffers per socket and direction.
inline constexpr std::size_t relay_buffer_bytes = 64 * 1024;

/// Flag in a datagram header: the address is an IPv6 one.
inline constexpr std::uint8_t relay_header_ipv6 = 1;

/// Writes the 8-byte datagram header for `address` (network byte order).
void encode_datagram_header(SockAddr address, std::span<std::byte, relay_datagram_header_bytes> out, bool v6 = false);
/// Reads the address out of a datagram header (and its IPv6 flag).
SockAddr decode_datagram_header(std::span<const std::byte, relay_datagram_header_bytes> header, bool* v6 = nullptr);

/// A socket handed to a process: `process_fd` is the caller's to pass on
/// (SCM_RIGHTS) and close. `error` is 0 or a positive errno.
struct RelayOpened {
    SocketId id = 0;
    int process_fd = -1;
    int error = 0;
};

class SocketRelay {
public:
    /// `network`, `events` (the queue that drives it) and `trace` must
    /// outlive the relay.
    SocketRelay(Network& network, EventQueue& events, Trace& trace);
    /// Closes every relay end (the processes' ends then read EOF). The
    /// model's sockets are left to the network.
    ~SocketRelay();
    SocketRelay(const SocketRelay&) = delete;
    SocketRelay& operator=(const SocketRelay&) = delete;

    /// socket(): a model socket on `node` and the socketpair carrying it
    /// (`ipv6`: an AF_INET6 socket, Network::set_ipv6).
    RelayOpened open(NodeId node, SocketType type, bool ipv6 = false);
    /// bind(), listen(): 0 or -errno, as the model answers. `v6`: see
    /// Network::bind.
    int bind(SocketId socket, SockAddr local, bool v6 = false);
    int listen(SocketId socket, std::uint32_t backlog);
    /// connect(): 0 (datagram peer set, or established at once),
    /// -EINPROGRESS (the outcome comes later through pending_error()), or
    /// -errno.
    int connect(SocketId socket, SockAddr remote, bool v6 = false);
    /// setsockopt(IPV6_V6ONLY).
    int set_v6_only(SocketId socket, bool on);
    /// setsockopt/getsockopt(SO_SNDBUF, SO_RCVBUF) on the model's socket
    /// (Linux's arithmetic: Network::set_socket_buffer). get: the value or -errno.
    int set_buffer(SocketId socket, bool receive, std::uint64_t requested);
    std::int64_t buffer(SocketId socket, bool receive) const;
    /// True if getsockname/getpeername/accept should name IPv6 addresses.
    bool speaks_v6(SocketId socket) const;
    /// accept(): takes a queued connection from the model and gives it its
    /// own socketpair; error EAGAIN when none is queued.
    RelayOpened accept(SocketId listener);
    /// shutdown(): bytes the process wrote before the call still go out
    /// before the FIN; after SHUT_WR the process's writes fail with EPIPE.
    int shutdown(SocketId socket, bool read, bool write);
    /// The process closed its last descriptor of the socket: what it wrote
    /// is still delivered, then the model closes the socket (gracefully, or
    /// with a reset if received data was left unread).
    void close(SocketId socket);

    /// getsockname()/getpeername().
    std::optional<SockAddr> local_address(SocketId socket) const;
    std::optional<SockAddr> peer_address(SocketId socket) const;
    /// getsockopt(SO_ERROR): the pending error (positive errno or 0),
    /// cleared by the call.
    int pending_error(SocketId socket);
    /// True while a connect is still in progress.
    bool connecting(SocketId socket) const;
    /// True once an established connection failed (reset or timed out);
    /// the process saw that as EOF.
    bool reset(SocketId socket) const;

    /// Moves bytes between every relay end and the model (see the top of
    /// this file). Call at every scheduling point; never advances time.
    void pump();
    /// The earliest time anything in the queue driving the network is due
    /// (packet deliveries and the network's timers are queue events).
    std::optional<Ns> next_event_ns() const;
    /// Sockets the relay still tracks, including closed ones whose last
    /// written bytes are still waiting for the model.
    std::size_t open_sockets() const { return sockets_.size(); }

private:
    enum class Phase { fresh, listening, connecting, connected, failed };

    struct Relayed {
        SocketType type{};
        Phase phase = Phase::fresh;
        int relay_fd = -1;                 // -1 once the process closed its end
        std::vector<std::byte> outgoing;   // written by the process, not yet in the model
        std::vector<std::byte> incoming;   // from the model, not yet in the relay end
        bool process_eof = false;          // the process shut its end for writing
        bool process_gone = false;         // ... or closed it: close once flushed
        bool process_left_unread = false;  // ... with bytes it never read: close with a reset
        bool write_shut = false;           // the model was told shutdown(write)
        bool read_shut = false;            // the process asked for shutdown(read)
        bool model_eof = false;            // peer FIN or failure: shut the relay end once flushed
        bool relay_write_shut = false;     // the relay end's write side is shut
        bool writes_refused = false;       // failed: the relay end's read side is shut (process writes EPIPE)
        bool reset = false;
        int error = 0;                     // SO_ERROR the relay took from the model
        std::size_t announced = 0;         // listener: bytes written for queued connections
    };

    Relayed* find(SocketId socket);
    const Relayed* find(SocketId socket) const;
    RelayOpened adopt(SocketId socket, SocketType type, Phase phase);
    void drain_process(SocketId id, Relayed& r, bool unbounded);
    bool read_stream(Relayed& r, bool unbounded);  // true at EOF
    bool read_datagrams(SocketId id, Relayed& r);  // true at EOF
    void check_state(SocketId id, Relayed& r);
    void pull(SocketId id, Relayed& r);
    void pull_stream(SocketId id, Relayed& r);
    void pull_datagrams(SocketId id, Relayed& r);
    bool flush_incoming(Relayed& r);
    void push_stream(SocketId id, Relayed& r);
    void fail(SocketId id, Relayed& r, int error);
    void refuse_writes(Relayed& r);
    void announce_connections(SocketId id, Relayed& r);
    bool retire_if_done(SocketId id, Relayed& r);

    Network& network_;
    EventQueue& events_;
    Trace& trace_;
    std::map<SocketId, Relayed> sockets_;  // id order: pump() visits them deterministically
    std::vector<std::byte> scratch_;        // one read or write of a relay end
};

}  // namespace marionette
