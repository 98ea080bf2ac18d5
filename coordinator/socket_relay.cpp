// SocketRelay: socketpairs in front of the network model. The socket calls
// come first, then pump() and its per-socket steps, in the order pump()
// runs them: drain what the process wrote, notice a finished connect, pull
// what the model received, push what the process wrote, announce queued
// connections, and retire sockets the process has let go of.
#include "coordinator/socket_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace marionette {
namespace {

constexpr std::size_t datagram_max_payload_bytes = 65507;
// One read or write of the relay end: a stream chunk, or a datagram with
// its header and one byte more (to notice an oversized one).
constexpr std::size_t scratch_bytes =
    std::max(relay_buffer_bytes, relay_datagram_header_bytes + datagram_max_payload_bytes + 1);

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

std::string_view type_name(SocketType type) { return type == SocketType::stream ? "stream" : "datagram"; }

// True when the process no longer holds its end at all: closing the last
// descriptor of a socketpair end shuts both directions of the other end,
// which poll reports as POLLHUP (a mere shutdown(SHUT_WR) does not).
bool process_end_closed(int relay_fd) {
    pollfd p{relay_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) < 0) return false;
    return (p.revents & POLLHUP) != 0;
}

void erase_front(std::vector<std::byte>& bytes, std::size_t n) {
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

void encode_datagram_header(SockAddr address, std::span<std::byte, relay_datagram_header_bytes> out, bool v6) {
    const std::uint32_t ip = address.ip.value;
    out[0] = static_cast<std::byte>(ip >> 24);
    out[1] = static_cast<std::byte>(ip >> 16);
    out[2] = static_cast<std::byte>(ip >> 8);
    out[3] = static_cast<std::byte>(ip);
    out[4] = static_cast<std::byte>(address.port >> 8);
    out[5] = static_cast<std::byte>(address.port);
    out[6] = std::byte{v6 ? relay_header_ipv6 : std::uint8_t{0}};
    out[7] = std::byte{0};
}

SockAddr decode_datagram_header(std::span<const std::byte, relay_datagram_header_bytes> in, bool* v6) {
    auto at = [&](std::size_t i) { return static_cast<std::uint32_t>(in[i]); };
    SockAddr address;
    address.ip.value = at(0) << 24 | at(1) << 16 | at(2) << 8 | at(3);
    address.port = static_cast<std::uint16_t>(at(4) << 8 | at(5));
    if (v6 != nullptr) *v6 = (at(6) & relay_header_ipv6) != 0;
    return address;
}

SocketRelay::SocketRelay(Network& network, EventQueue& events, Trace& trace)
    : network_(network), events_(events), trace_(trace), scratch_(scratch_bytes) {}

SocketRelay::~SocketRelay() {
    for (auto& [id, r] : sockets_) {
        if (r.relay_fd >= 0) ::close(r.relay_fd);
    }
}

SocketRelay::Relayed* SocketRelay::find(SocketId socket) {
    auto it = sockets_.find(socket);
    return it == sockets_.end() ? nullptr : &it->second;
}

const SocketRelay::Relayed* SocketRelay::find(SocketId socket) const {
    auto it = sockets_.find(socket);
    return it == sockets_.end() ? nullptr : &it->second;
}

// ---- socket calls ---------------------------------------------------------------

RelayOpened SocketRelay::adopt(SocketId socket, SocketType type, Phase phase) {
    const int kind = type == SocketType::stream ? SOCK_STREAM : SOCK_SEQPACKET;
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, kind | SOCK_CLOEXEC, 0, fds) != 0) {
        const int error = errno;
        network_.abort(socket);
        return {0, -1, error};
    }
    // Only the relay end is non-blocking; the shim sets the process end's
    // flags to what the program asked for.
    if (::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK) != 0) {
        const int error = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        network_.abort(socket);
        return {0, -1, error};
    }
    Relayed& r = sockets_[socket];
    r.type = type;
    r.phase = phase;
    r.relay_fd = fds[0];
    return {socket, fds[1], 0};
}

RelayOpened SocketRelay::open(NodeId node, SocketType type, bool ipv6) {
    const NetResult opened = network_.open(node, type);
    if (!opened.ok()) return {0, -1, opened.error};
    if (ipv6) network_.set_ipv6(opened.value);
    const RelayOpened result = adopt(opened.value, type, Phase::fresh);
    if (result.error == 0) {
        trace_.emit("relay.open", {{"sock", result.id}, {"node", node}, {"type", type_name(type)}});
    }
    return result;
}

int SocketRelay::bind(SocketId socket, SockAddr local, bool v6) {
    if (find(socket) == nullptr) return -EBADF;
    return -network_.bind(socket, local, v6);
}

int SocketRelay::set_v6_only(SocketId socket, bool on) {
    if (find(socket) == nullptr) return -EBADF;
    return -network_.set_v6_only(socket, on);
}

int SocketRelay::set_buffer(SocketId socket, bool receive, std::uint64_t requested) {
    if (find(socket) == nullptr) return -EBADF;
    return -network_.set_socket_buffer(socket, receive, requested);
}

std::int64_t SocketRelay::buffer(SocketId socket, bool receive) const {
    const std::optional<std::pair<std::uint64_t, std::uint64_t>> sizes =
        find(socket) == nullptr ? std::nullopt : network_.buffer_sizes(socket);
    if (!sizes) return -EBADF;
    return static_cast<std::int64_t>(receive ? sizes->second : sizes->first);
}

bool SocketRelay::speaks_v6(SocketId socket) const { return find(socket) != nullptr && network_.speaks_v6(socket); }

int SocketRelay::listen(SocketId socket, std::uint32_t backlog) {
    Relayed* r = find(socket);
    if (r == nullptr) return -EBADF;
    if (r->type != SocketType::stream) return -EOPNOTSUPP;
    const int error = network_.listen(socket, backlog);
    if (error == 0) r->phase = Phase::listening;
    return -error;
}

int SocketRelay::connect(SocketId socket, SockAddr remote, bool v6) {
    Relayed* r = find(socket);
    if (r == nullptr) return -EBADF;
    const int error = network_.connect(socket, remote, v6);
    if (r->type == SocketType::datagram) return -error;
    if (error == EINPROGRESS) r->phase = Phase::connecting;
    if (error == 0) r->phase = Phase::connected;
    return -error;
}

RelayOpened SocketRelay::accept(SocketId listener) {
    Relayed* l = find(listener);
    if (l == nullptr) return {0, -1, EBADF};
    if (l->phase != Phase::listening) return {0, -1, EINVAL};
    // The shim consumed one announcement byte before calling; counting it
    // even when the connection has vanished since keeps later connections
    // announced (a spurious wakeup is harmless, a lost one is not).
    if (l->announced > 0) --l->announced;
    const NetResult accepted = network_.accept(listener);
    if (!accepted.ok()) return {0, -1, accepted.error};
    const RelayOpened result = adopt(accepted.value, SocketType::stream, Phase::connected);
    if (result.error == 0) trace_.emit("relay.accept", {{"listener", listener}, {"sock", result.id}});
    return result;
}

int SocketRelay::shutdown(SocketId socket, bool read, bool write) {
    Relayed* r = find(socket);
    if (r == nullptr || r->relay_fd < 0) return -EBADF;
    if (write) drain_process(socket, *r, true);  // what was written before goes before the FIN
    if (r->type == SocketType::stream && r->phase != Phase::connected) return -network_.shutdown(socket, read, write);
    if (read) {
        const int error = network_.shutdown(socket, true, false);
        if (error != 0) return -error;
        r->read_shut = true;
        if (r->type == SocketType::datagram) r->model_eof = true;  // streams learn it from recv() == 0
    }
    if (write) {
        // Shutting the relay end's read side makes the process's writes
        // fail with EPIPE; what it wrote before is already buffered here.
        ::shutdown(r->relay_fd, SHUT_RD);
        r->process_eof = true;
        if (r->type == SocketType::datagram) {
            if (const int error = network_.shutdown(socket, false, true); error != 0) return -error;
            r->write_shut = true;
        }
    }
    pull(socket, *r);
    push_stream(socket, *r);
    return 0;
}

void SocketRelay::close(SocketId socket) {
    auto it = sockets_.find(socket);
    if (it == sockets_.end()) return;
    Relayed& r = it->second;
    if (r.relay_fd >= 0) {
        drain_process(socket, r, true);
        ::close(r.relay_fd);
        r.relay_fd = -1;
    }
    r.process_eof = r.process_gone = true;
    push_stream(socket, r);
    if (retire_if_done(socket, r)) sockets_.erase(it);
}

std::optional<SockAddr> SocketRelay::local_address(SocketId socket) const {
    if (find(socket) == nullptr) return std::nullopt;
    return network_.local_address(socket);
}

std::optional<SockAddr> SocketRelay::peer_address(SocketId socket) const {
    if (find(socket) == nullptr) return std::nullopt;
    return network_.peer_address(socket);
}

bool SocketRelay::connecting(SocketId socket) const {
    const Relayed* r = find(socket);
    return r != nullptr && r->phase == Phase::connecting;
}

int SocketRelay::pending_error(SocketId socket) {
    Relayed* r = find(socket);
    if (r == nullptr) return EBADF;
    if (r->error != 0) return std::exchange(r->error, 0);
    const int error = network_.take_error(socket);
    return error == EBADF ? 0 : error;  // a socket the model already let go of has nothing pending
}

bool SocketRelay::reset(SocketId socket) const {
    const Relayed* r = find(socket);
    return r != nullptr && r->reset;
}

std::optional<Ns> SocketRelay::next_event_ns() const { return events_.next_at(); }

// ---- pump -----------------------------------------------------------------------

void SocketRelay::pump() {
    // One poll tells which relay ends have something from their process
    // (data, end-of-file, an error); only those are read.
    std::vector<pollfd> ends;
    for (const auto& [id, r] : sockets_) {
        if (r.relay_fd >= 0 && !r.process_gone) ends.push_back({r.relay_fd, POLLIN, 0});
    }
    if (!ends.empty() && ::poll(ends.data(), ends.size(), 0) < 0) {
        for (pollfd& end : ends) end.revents = POLLIN;  // unknown: read them all
    }
    std::size_t next_end = 0;
    for (auto it = sockets_.begin(); it != sockets_.end();) {
        const SocketId id = it->first;
        Relayed& r = it->second;
        bool has_input = false;
        if (r.relay_fd >= 0 && !r.process_gone) has_input = ends[next_end++].revents != 0;
        if (has_input) drain_process(id, r, false);
        check_state(id, r);
        pull(id, r);
        push_stream(id, r);
        announce_connections(id, r);
        it = retire_if_done(id, r) ? sockets_.erase(it) : std::next(it);
    }
}

void SocketRelay::drain_process(SocketId id, Relayed& r, bool unbounded) {
    if (r.relay_fd < 0 || r.process_gone) return;
    if (r.writes_refused) {
        // A failed connection: nothing the process writes arrives (EPIPE).
        // POLLHUP means the process closed its end only while the relay
        // has not shut its own write side too.
        if (!r.relay_write_shut && process_end_closed(r.relay_fd)) {
            r.process_eof = r.process_gone = true;
            trace_.emit("relay.eof", {{"sock", id}, {"closed", true}});
        }
        return;
    }
    // Read even after EOF: a process that half-closed may close for good
    // later, and a close with unread bytes shows as an error on the read.
    const bool at_eof = r.type == SocketType::stream ? read_stream(r, unbounded) : read_datagrams(id, r);
    if (!at_eof) return;
    const bool closed = process_end_closed(r.relay_fd);
    if (r.process_eof && !closed) return;
    r.process_eof = true;
    r.process_gone = closed;
    trace_.emit("relay.eof", {{"sock", id}, {"closed", closed}});
}

bool SocketRelay::read_stream(Relayed& r, bool unbounded) {
    // Bytes for a listener or a failed connection have nowhere to go.
    const bool keep = r.phase == Phase::fresh || r.phase == Phase::connecting || r.phase == Phase::connected;
    while (unbounded || r.outgoing.size() < relay_buffer_bytes) {
        const ssize_t n = ::recv(r.relay_fd, scratch_.data(), relay_buffer_bytes, MSG_DONTWAIT);
        if (n > 0) {
            if (keep) r.outgoing.insert(r.outgoing.end(), scratch_.begin(), scratch_.begin() + n);
            continue;
        }
        if (n == 0) return true;
        if (errno == EINTR) continue;
        // Linux reports ECONNRESET here when the process closed its end
        // with bytes still unread in it.
        if (errno == ECONNRESET) r.process_left_unread = true;
        return !would_block(errno);  // any other error: the process end is unusable
    }
    return false;
}

bool SocketRelay::read_datagrams(SocketId id, Relayed& r) {
    for (;;) {
        const ssize_t n = ::recv(r.relay_fd, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0) {
            if (errno == EINTR) continue;
            return !would_block(errno);
        }
        const auto length = static_cast<std::size_t>(n);
        if (length < relay_datagram_header_bytes) {
            trace_.emit("relay.drop", {{"sock", id}, {"reason", "short_header"}, {"bytes", length}});
            continue;
        }
        const auto header = std::span<const std::byte>(scratch_).first<relay_datagram_header_bytes>();
        bool v6 = false;
        const SockAddr to = decode_datagram_header(header, &v6);
        const auto payload = std::span<const std::byte>(scratch_).subspan(relay_datagram_header_bytes,
                                                                          length - relay_datagram_header_bytes);
        const NetResult sent = to == SockAddr{} ? network_.send(id, payload) : network_.send_to(id, payload, to, v6);
        if (!sent.ok()) {
            trace_.emit("relay.drop", {{"sock", id}, {"reason", "send_error"}, {"error", sent.error}});
        }
    }
}

void SocketRelay::check_state(SocketId id, Relayed& r) {
    if (r.phase == Phase::connected && r.model_eof) {
        // After the peer's FIN recv() only says 0; a later reset shows as
        // a pending error (Linux: POLLERR).
        if (network_.readiness(id).error) fail(id, r, network_.take_error(id));
        return;
    }
    if (r.phase != Phase::connecting) return;
    const Readiness ready = network_.readiness(id);
    if (!ready.writable && !ready.error) return;  // still in the handshake
    const int error = network_.take_error(id);
    if (error == 0) {
        r.phase = Phase::connected;
        return;
    }
    // The process sees EOF on its end and SO_ERROR says why; its writes
    // fail with EPIPE, as on a TCP socket whose connect failed.
    r.phase = Phase::failed;
    r.error = error;
    r.outgoing.clear();
    refuse_writes(r);
    trace_.emit("relay.failed", {{"sock", id}, {"phase", "connect"}, {"error", error}});
}

void SocketRelay::pull(SocketId id, Relayed& r) {
    // Nobody will read it: the model keeps the data, so the close resets.
    if (r.process_gone) return;
    if (r.type == SocketType::stream) {
        pull_stream(id, r);
    } else {
        pull_datagrams(id, r);
    }
    // The peer's FIN, a failure or SHUT_RD reaches the process as EOF after
    // the last byte.
    if (r.model_eof && !r.relay_write_shut && r.relay_fd >= 0 && flush_incoming(r)) {
        ::shutdown(r.relay_fd, SHUT_WR);
        r.relay_write_shut = true;
        trace_.emit("relay.fin", {{"sock", id}, {"reset", r.reset}});
    }
}

void SocketRelay::pull_stream(SocketId id, Relayed& r) {
    if ((r.phase != Phase::connected && r.phase != Phase::failed) || r.model_eof || r.relay_fd < 0) return;
    // One chunk at a time, and only when the relay end took the last one,
    // so a process that stops reading closes the model's window.
    while (flush_incoming(r)) {
        const NetResult got = network_.recv(id, std::span(scratch_).first(relay_buffer_bytes));
        if (got.ok() && got.value > 0) {
            r.incoming.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(got.value));
            continue;
        }
        if (!got.ok() && would_block(got.error)) return;
        // recv() hands out queued data before a failure, so nothing is lost.
        if (!got.ok() && r.phase == Phase::connected) fail(id, r, got.error);
        r.model_eof = true;
        return;
    }
}

void SocketRelay::pull_datagrams(SocketId id, Relayed& r) {
    if (r.relay_fd < 0 || r.read_shut) return;
    while (flush_incoming(r) && network_.readiness(id).readable) {
        SockAddr from;
        bool from_v6 = false;
        const auto payload = std::span(scratch_).subspan(relay_datagram_header_bytes, datagram_max_payload_bytes);
        const NetResult got = network_.recv_from(id, payload, &from, nullptr, false, &from_v6);
        if (!got.ok()) return;
        encode_datagram_header(from, std::span(scratch_).first<relay_datagram_header_bytes>(), from_v6);
        const std::size_t length = relay_datagram_header_bytes + static_cast<std::size_t>(got.value);
        r.incoming.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(length));
    }
}

// Writes the buffered incoming bytes (a stream chunk, or one whole datagram
// message) into the relay end; true once nothing is left.
bool SocketRelay::flush_incoming(Relayed& r) {
    while (!r.incoming.empty()) {
        const ssize_t n = ::send(r.relay_fd, r.incoming.data(), r.incoming.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            erase_front(r.incoming, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;  // full, or the process end is gone (drain_process notices)
    }
    return true;
}

void SocketRelay::push_stream(SocketId id, Relayed& r) {
    if (r.type != SocketType::stream || r.phase != Phase::connected) return;
    while (!r.outgoing.empty()) {
        const NetResult sent = network_.send(id, r.outgoing);
        if (!sent.ok()) {
            if (!would_block(sent.error)) fail(id, r, sent.error);
            return;
        }
        if (sent.value == 0) return;
        erase_front(r.outgoing, static_cast<std::size_t>(sent.value));
    }
    // A half close; a process that closed its end entirely gets
    // Network::close in retire_if_done instead (a FIN, or a reset).
    if (r.process_eof && !r.process_gone && !r.write_shut) {
        network_.shutdown(id, false, true);
        r.write_shut = true;
    }
}

void SocketRelay::fail(SocketId id, Relayed& r, int error) {
    r.phase = Phase::failed;
    r.reset = true;
    // EPIPE: the model reported the failure already; EBADF: the model's
    // socket vanished with its node. Neither is an SO_ERROR.
    if (error != EPIPE && error != EBADF) r.error = error;
    r.outgoing.clear();
    refuse_writes(r);
    trace_.emit("relay.failed", {{"sock", id}, {"phase", "data"}, {"error", error}});
}

// After a failure the process's writes fail with EPIPE (the shim reports
// the pending error first, as Linux does): the relay end stops reading.
// What the process wrote and the relay has not read yet is discarded first,
// so closing the relay end later does not make the socketpair report
// ECONNRESET to the process on its own.
void SocketRelay::refuse_writes(Relayed& r) {
    if (r.writes_refused || r.relay_fd < 0 || r.process_gone) return;
    read_stream(r, true);
    ::shutdown(r.relay_fd, SHUT_RD);
    r.writes_refused = true;
}

void SocketRelay::announce_connections(SocketId id, Relayed& r) {
    if (r.phase != Phase::listening || r.relay_fd < 0) return;
    const std::size_t queued = network_.pending_connections(id);
    const std::byte one{1};
    while (r.announced < queued) {
        if (::send(r.relay_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) return;
        ++r.announced;
    }
}

// A socket the process let go of leaves once its written bytes are in the
// model (a connect still in progress is abandoned, as close() in SYN_SENT
// does). Returns true when the caller should forget it.
bool SocketRelay::retire_if_done(SocketId id, Relayed& r) {
    // A failed connection whose end of stream is in the socketpair and
    // whose error the process has taken has nothing left to tell: later
    // reads say 0 and writes EPIPE without the relay.
    const bool told = r.writes_refused && r.relay_write_shut && r.error == 0 && r.incoming.empty();
    if (!r.process_gone && !told) return false;
    if (r.type == SocketType::stream && r.phase == Phase::connected && !r.outgoing.empty()) return false;
    // Data the process never read makes the close a reset, as on Linux.
    const bool abort = r.type == SocketType::stream && r.phase == Phase::connected &&
                       (!r.incoming.empty() || r.process_left_unread);
    if (abort) {
        network_.abort(id);
    } else {
        network_.close(id);
    }
    if (r.relay_fd >= 0) ::close(r.relay_fd);
    r.relay_fd = -1;
    trace_.emit("relay.close", {{"sock", id}, {"abort", abort}});
    return true;
}

}  // namespace marionette
