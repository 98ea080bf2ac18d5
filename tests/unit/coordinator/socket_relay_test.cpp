// SocketRelay in one process: real socketpairs on one side, the network
// model (driven by its EventQueue) on the other. The test plays both the
// programs (reading and writing process ends) and the coordinator (pump at
// every scheduling point, then run the queue to the next event).
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "coordinator/socket_relay.hpp"

using namespace marionette;

namespace {

constexpr Ns us = 1000;
constexpr Ns ms = ns_per_ms;

NetOptions one_ms(Ns jitter_ns = 0) {
    NetOptions o;
    o.latency_ns_min = ms;
    o.latency_ns_jitter = jitter_ns;
    return o;
}

struct RelayFixture {
    explicit RelayFixture(std::uint64_t seed = 1, NetOptions options = one_ms())
        : trace(TraceHeader{}, nullptr, true),
          net(queue, &trace, Prng(seed).derive("net"), options),
          relay(net, queue, trace) {
        trace.set_clock([this] { return queue.now_ns(); });
        a = net.add_node("a");
        b = net.add_node("b");
    }
    ~RelayFixture() {
        for (int fd : fds) ::close(fd);
    }

    /// What the coordinator does: pump at every scheduling point and run
    /// the queue event by event until `duration_ns` has passed.
    void run_for(Ns duration_ns) {
        const Ns deadline = queue.now_ns() + duration_ns;
        for (;;) {
            relay.pump();
            const std::optional<Ns> next = relay.next_event_ns();
            if (!next || *next > deadline) break;
            queue.run_until(*next);
        }
        queue.run_until(deadline);
        relay.pump();
    }

    /// A socket the "process" keeps; its fd is closed with the fixture.
    RelayOpened open(NodeId node, SocketType type, bool ipv6 = false) {
        const RelayOpened opened = relay.open(node, type, ipv6);
        REQUIRE(opened.error == 0);
        REQUIRE(opened.process_fd >= 0);
        fds.push_back(opened.process_fd);
        return opened;
    }

    RelayOpened listener(NodeId node, std::uint16_t port) {
        const RelayOpened l = open(node, SocketType::stream);
        REQUIRE(relay.bind(l.id, SockAddr{ipv4_any, port}) == 0);
        REQUIRE(relay.listen(l.id, 16) == 0);
        return l;
    }

    /// The shim's accept(): one announcement byte, then the relay.
    RelayOpened accept(const RelayOpened& l) {
        char byte = 0;
        REQUIRE(::recv(l.process_fd, &byte, 1, MSG_DONTWAIT) == 1);
        const RelayOpened accepted = relay.accept(l.id);
        REQUIRE(accepted.error == 0);
        fds.push_back(accepted.process_fd);
        return accepted;
    }

    /// Connects a client on `a` to `b:port` and returns {client, server}.
    std::pair<RelayOpened, RelayOpened> connect_pair(const RelayOpened& l, std::uint16_t port) {
        const RelayOpened c = open(a, SocketType::stream);
        REQUIRE(relay.connect(c.id, SockAddr{net.node_address(b), port}) == -EINPROGRESS);
        run_for(3 * ms);
        REQUIRE(relay.pending_error(c.id) == 0);
        return {c, accept(l)};
    }

    void close_fd(int fd) {
        std::erase(fds, fd);
        ::close(fd);
    }

    EventQueue queue;
    Trace trace;
    Network net;
    SocketRelay relay;
    NodeId a = 0;
    NodeId b = 0;
    std::vector<int> fds;
};

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

void write_text(int fd, const std::string& text) {
    REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

/// Everything readable now; `eof` says whether the stream ended.
struct Read {
    std::string text;
    bool eof = false;
};

Read read_now(int fd) {
    Read out;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) {
            out.text.append(buf.data(), static_cast<std::size_t>(n));
            continue;
        }
        out.eof = n == 0;
        return out;
    }
}

std::vector<std::byte> datagram(SockAddr address, const std::string& payload) {
    std::vector<std::byte> out(relay_datagram_header_bytes + payload.size());
    encode_datagram_header(address, std::span(out).first<relay_datagram_header_bytes>());
    for (std::size_t i = 0; i < payload.size(); ++i) out[relay_datagram_header_bytes + i] = std::byte(payload[i]);
    return out;
}

std::size_t count(const Trace& trace, std::string_view name) {
    std::size_t n = 0;
    for (const TraceEvent& e : trace.events()) n += e.name == name ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("relay/tcp bytes cross after the model's latency", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    const RelayOpened c = f.open(f.a, SocketType::stream);
    REQUIRE(f.relay.connect(c.id, SockAddr{f.net.node_address(f.b), 7000}) == -EINPROGRESS);
    // Written before the connection exists: held in the relay until then.
    write_text(c.process_fd, "hello");
    f.run_for(999 * us);
    CHECK_FALSE(readable(l.process_fd));
    f.run_for(1 * us);  // the SYN lands at 1 ms: the server side is queued
    REQUIRE(readable(l.process_fd));
    const RelayOpened s = f.accept(l);
    CHECK_FALSE(readable(l.process_fd));
    // The SYN-ACK reaches the client at 2 ms, the data the server at 3 ms.
    f.run_for(1 * ms + 999 * us);
    CHECK_FALSE(readable(s.process_fd));
    f.run_for(1 * us);
    CHECK(read_now(s.process_fd).text == "hello");
    CHECK(f.relay.pending_error(c.id) == 0);

    write_text(s.process_fd, "world");
    f.run_for(2 * ms);
    CHECK(read_now(c.process_fd).text == "world");
    CHECK(f.relay.peer_address(s.id) == f.relay.local_address(c.id));
    CHECK(f.relay.peer_address(c.id) == SockAddr{f.net.node_address(f.b), 7000});
    CHECK(f.relay.open_sockets() == 3);
}

TEST_CASE("relay/large stream arrives intact through small model buffers", "[relay]") {
    NetOptions o = one_ms();
    o.tcp_send_buffer_bytes = 3000;
    o.tcp_receive_buffer_bytes = 3000;
    RelayFixture f(7, o);
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    std::string sent;
    for (int i = 0; sent.size() < 300'000; ++i) sent += std::to_string(i) + ",";
    std::string got;
    std::size_t offset = 0;
    bool eof = false;
    for (int round = 0; round < 20000 && !eof; ++round) {
        if (offset < sent.size()) {
            const ssize_t n = ::send(c.process_fd, sent.data() + offset, sent.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) offset += static_cast<std::size_t>(n);
            if (offset == sent.size()) ::shutdown(c.process_fd, SHUT_WR);
        }
        f.run_for(1 * ms);
        const Read r = read_now(s.process_fd);
        got += r.text;
        eof = r.eof;
    }
    CHECK(eof);
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
}

TEST_CASE("relay/eof propagates both ways", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    write_text(c.process_fd, "last words");
    REQUIRE(::shutdown(c.process_fd, SHUT_WR) == 0);  // half close: still reading
    f.run_for(5 * ms);
    const Read at_server = read_now(s.process_fd);
    CHECK(at_server.text == "last words");
    CHECK(at_server.eof);
    CHECK_FALSE(read_now(c.process_fd).eof);

    write_text(s.process_fd, "reply");
    f.close_fd(s.process_fd);  // the server process closes: FIN after the reply
    f.run_for(5 * ms);
    const Read at_client = read_now(c.process_fd);
    CHECK(at_client.text == "reply");
    CHECK(at_client.eof);
    CHECK_FALSE(f.relay.reset(c.id));
    CHECK_FALSE(f.relay.reset(s.id));

    f.close_fd(c.process_fd);
    f.run_for(5 * ms);
    CHECK(f.relay.open_sockets() == 1);  // the listener
    CHECK(count(f.trace, "net.reset") == 0);
}

TEST_CASE("relay/connect to a port nobody listens on is refused", "[relay]") {
    RelayFixture f;
    const RelayOpened c = f.open(f.a, SocketType::stream);
    REQUIRE(f.relay.connect(c.id, SockAddr{f.net.node_address(f.b), 7001}) == -EINPROGRESS);
    write_text(c.process_fd, "lost");
    f.run_for(1 * ms);
    CHECK(f.relay.pending_error(c.id) == 0);
    CHECK_FALSE(read_now(c.process_fd).eof);
    f.run_for(1 * ms);  // the RST is back at 2 ms
    CHECK(f.relay.pending_error(c.id) == ECONNREFUSED);
    CHECK(f.relay.pending_error(c.id) == 0);  // SO_ERROR clears
    const Read r = read_now(c.process_fd);
    CHECK(r.text.empty());
    CHECK(r.eof);
    CHECK_FALSE(f.relay.reset(c.id));
}

TEST_CASE("relay/a partition delays data and a heal delivers it", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    f.net.partition({{f.a}, {f.b}});
    write_text(c.process_fd, "patience");
    f.run_for(1 * ns_per_s);
    CHECK_FALSE(readable(s.process_fd));
    f.net.heal();
    f.run_for(2 * ns_per_s);  // the next retransmission gets through
    CHECK(read_now(s.process_fd).text == "patience");
    CHECK_FALSE(f.relay.reset(c.id));
    CHECK(f.relay.pending_error(c.id) == 0);
}

TEST_CASE("relay/a long partition ends in a timeout and then a reset", "[relay]") {
    NetOptions o = one_ms();
    o.tcp_timeout_ns = 2 * ns_per_s;
    RelayFixture f(1, o);
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    f.net.partition({{f.a}, {f.b}});
    write_text(c.process_fd, "never");
    f.run_for(1 * ns_per_s);
    CHECK_FALSE(f.relay.reset(c.id));
    f.run_for(2 * ns_per_s);
    CHECK(f.relay.reset(c.id));
    CHECK(f.relay.pending_error(c.id) == ETIMEDOUT);
    CHECK(read_now(c.process_fd).eof);
    // The server never heard of it; after the heal its next send is reset.
    CHECK_FALSE(f.relay.reset(s.id));
    f.net.heal();
    write_text(s.process_fd, "anyone?");
    f.run_for(10 * ms);
    CHECK(f.relay.reset(s.id));
    CHECK(f.relay.pending_error(s.id) == ECONNRESET);
    const Read r = read_now(s.process_fd);
    CHECK(r.text.empty());
    CHECK(r.eof);
}

TEST_CASE("relay/udp datagrams carry their source address", "[relay]") {
    RelayFixture f;
    const RelayOpened x = f.open(f.a, SocketType::datagram);
    const RelayOpened y = f.open(f.b, SocketType::datagram);
    REQUIRE(f.relay.bind(x.id, SockAddr{ipv4_any, 5000}) == 0);
    REQUIRE(f.relay.bind(y.id, SockAddr{ipv4_any, 6000}) == 0);
    const std::vector<std::byte> ping = datagram(SockAddr{f.net.node_address(f.b), 6000}, "ping");
    REQUIRE(::send(x.process_fd, ping.data(), ping.size(), 0) == static_cast<ssize_t>(ping.size()));
    const std::byte junk[3] = {};
    REQUIRE(::send(x.process_fd, junk, sizeof junk, 0) == 3);  // no header: dropped
    f.run_for(999 * us);
    CHECK_FALSE(readable(y.process_fd));
    f.run_for(1 * us);
    std::array<std::byte, 256> buf{};
    const ssize_t n = ::recv(y.process_fd, buf.data(), buf.size(), MSG_DONTWAIT);
    REQUIRE(n == static_cast<ssize_t>(relay_datagram_header_bytes + 4));
    const SockAddr from = decode_datagram_header(std::span<const std::byte>(buf).first<relay_datagram_header_bytes>());
    CHECK(from == SockAddr{f.net.node_address(f.a), 5000});
    CHECK(std::string(reinterpret_cast<const char*>(buf.data()) + relay_datagram_header_bytes, 4) == "ping");
    CHECK(::recv(y.process_fd, buf.data(), buf.size(), MSG_DONTWAIT) == -1);  // exactly one datagram
    CHECK(count(f.trace, "relay.drop") == 1);

    // The reply goes to the header's source; a connected socket may send
    // with an all-zero header.
    REQUIRE(f.relay.connect(y.id, from) == 0);
    const std::vector<std::byte> pong = datagram(SockAddr{}, "pong!");
    REQUIRE(::send(y.process_fd, pong.data(), pong.size(), 0) == static_cast<ssize_t>(pong.size()));
    f.run_for(2 * ms);
    const ssize_t m = ::recv(x.process_fd, buf.data(), buf.size(), MSG_DONTWAIT);
    REQUIRE(m == static_cast<ssize_t>(relay_datagram_header_bytes + 5));
    CHECK(decode_datagram_header(std::span<const std::byte>(buf).first<relay_datagram_header_bytes>()) ==
          SockAddr{f.net.node_address(f.b), 6000});
}

TEST_CASE("relay/the datagram header is network byte order", "[relay]") {
    std::array<std::byte, relay_datagram_header_bytes> h{};
    encode_datagram_header(SockAddr{Ipv4{0x0a000002}, 0x1f40}, h);
    const std::array<std::byte, relay_datagram_header_bytes> want = {
        std::byte{10}, std::byte{0}, std::byte{0}, std::byte{2}, std::byte{0x1f}, std::byte{0x40}, std::byte{0}, std::byte{0}};
    CHECK(h == want);
    CHECK(decode_datagram_header(h) == SockAddr{Ipv4{0x0a000002}, 0x1f40});
}

TEST_CASE("relay/a listener polls readable once per pending connection", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    CHECK(f.relay.accept(l.id).error == EAGAIN);
    for (int i = 0; i < 2; ++i) {
        const RelayOpened c = f.open(f.a, SocketType::stream);
        REQUIRE(f.relay.connect(c.id, SockAddr{f.net.node_address(f.b), 7000}) == -EINPROGRESS);
    }
    CHECK_FALSE(readable(l.process_fd));
    f.run_for(2 * ms);
    REQUIRE(readable(l.process_fd));
    f.accept(l);
    REQUIRE(readable(l.process_fd));  // one byte left for the second
    f.run_for(1 * ms);                // pumping again announces nothing new
    f.accept(l);
    CHECK_FALSE(readable(l.process_fd));
    CHECK(f.relay.accept(l.id).error == EAGAIN);
    CHECK(f.relay.open_sockets() == 5);
}

TEST_CASE("relay/closing with unread data resets the peer", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    write_text(c.process_fd, "unread");
    f.run_for(5 * ms);
    f.close_fd(s.process_fd);
    f.relay.close(s.id);
    f.run_for(5 * ms);
    CHECK(f.relay.reset(c.id));
    CHECK(f.relay.pending_error(c.id) == ECONNRESET);
    CHECK(read_now(c.process_fd).eof);
}

TEST_CASE("relay/a reset after the peer's FIN still shows", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    write_text(c.process_fd, "ignored");
    REQUIRE(::shutdown(s.process_fd, SHUT_WR) == 0);
    f.run_for(5 * ms);
    CHECK(read_now(c.process_fd).eof);
    CHECK_FALSE(f.relay.reset(c.id));
    f.close_fd(s.process_fd);  // never read "ignored": the close is a reset
    f.run_for(5 * ms);
    CHECK(f.relay.reset(c.id));
    CHECK(f.relay.pending_error(c.id) == ECONNRESET);
}

namespace {

// One small exchange over jittery links; returns the trace hash and what
// the server read.
std::pair<std::uint64_t, std::string> scripted_run(std::uint64_t seed) {
    RelayFixture f(seed, one_ms(800 * us));
    const RelayOpened l = f.listener(f.b, 7000);
    const RelayOpened u = f.open(f.b, SocketType::datagram);
    REQUIRE(f.relay.bind(u.id, SockAddr{ipv4_any, 6000}) == 0);
    auto [c, s] = f.connect_pair(l, 7000);
    std::string got;
    for (int i = 0; i < 20; ++i) {
        write_text(c.process_fd, "m" + std::to_string(i) + ";");
        const std::vector<std::byte> d = datagram(SockAddr{f.net.node_address(f.b), 6000}, std::to_string(i));
        const RelayOpened x = f.open(f.a, SocketType::datagram);
        REQUIRE(::send(x.process_fd, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size()));
        f.run_for(300 * us);
        got += read_now(s.process_fd).text;
    }
    f.run_for(10 * ms);
    got += read_now(s.process_fd).text;
    return {f.trace.hash(), got};
}

}  // namespace

TEST_CASE("relay/one seed replays the same trace and another seed differs", "[relay]") {
    const auto [hash1, got1] = scripted_run(11);
    const auto [hash2, got2] = scripted_run(11);
    const auto [hash3, got3] = scripted_run(12);
    std::string want;
    for (int i = 0; i < 20; ++i) want += "m" + std::to_string(i) + ";";
    CHECK(got1 == want);
    CHECK(got3 == want);
    CHECK(hash1 == hash2);
    CHECK(hash1 != hash3);
}

TEST_CASE("relay/after a reset the process's writes fail with EPIPE and the socket is let go", "[relay]") {
    RelayFixture f;
    const RelayOpened l = f.listener(f.b, 7000);
    auto [c, s] = f.connect_pair(l, 7000);
    write_text(c.process_fd, "unread");
    f.run_for(5 * ms);
    f.close_fd(s.process_fd);
    f.relay.close(s.id);
    f.run_for(5 * ms);
    REQUIRE(f.relay.reset(c.id));
    // The relay end no longer reads: the socketpair refuses the write.
    CHECK(::send(c.process_fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1);
    CHECK(errno == EPIPE);
    CHECK(read_now(c.process_fd).eof);
    const std::size_t before = f.relay.open_sockets();
    f.run_for(1 * ms);
    CHECK(f.relay.open_sockets() == before);  // the error is not reported yet
    CHECK(f.relay.pending_error(c.id) == ECONNRESET);
    f.run_for(1 * ms);
    CHECK(f.relay.open_sockets() == before - 1);  // reported: nothing left to say
    CHECK(f.relay.pending_error(c.id) == EBADF);  // the shim reads that as "nothing pending"
    CHECK(::send(c.process_fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1);
    CHECK(errno == EPIPE);
    CHECK(read_now(c.process_fd).eof);
}

TEST_CASE("relay/a refused connect refuses the process's writes too", "[relay]") {
    RelayFixture f;
    const RelayOpened c = f.open(f.a, SocketType::stream);
    REQUIRE(f.relay.connect(c.id, SockAddr{f.net.node_address(f.b), 7999}) == -EINPROGRESS);
    f.run_for(5 * ms);
    CHECK(f.relay.pending_error(c.id) == ECONNREFUSED);
    CHECK(::send(c.process_fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1);
    CHECK(errno == EPIPE);
}

TEST_CASE("relay/IPv6 sockets: the datagram header and the address family", "[relay]") {
    std::array<std::byte, relay_datagram_header_bytes> h{};
    encode_datagram_header(SockAddr{Ipv4{0x0a000002}, 7}, h, true);
    CHECK(h[6] == std::byte{relay_header_ipv6});
    bool v6 = false;
    CHECK(decode_datagram_header(h, &v6) == SockAddr{Ipv4{0x0a000002}, 7});
    CHECK(v6);

    RelayFixture f;
    const RelayOpened l = f.open(f.b, SocketType::stream, true);
    REQUIRE(f.relay.set_v6_only(l.id, true) == 0);
    REQUIRE(f.relay.bind(l.id, SockAddr{ipv4_any, 7000}, true) == 0);
    REQUIRE(f.relay.listen(l.id, 4) == 0);
    const RelayOpened c4 = f.open(f.a, SocketType::stream);
    REQUIRE(f.relay.connect(c4.id, SockAddr{f.net.node_address(f.b), 7000}) == -EINPROGRESS);
    f.run_for(5 * ms);
    CHECK(f.relay.pending_error(c4.id) == ECONNREFUSED);  // V6ONLY
    const RelayOpened c6 = f.open(f.a, SocketType::stream, true);
    REQUIRE(f.relay.connect(c6.id, SockAddr{f.net.node_address(f.b), 7000}, true) == -EINPROGRESS);
    f.run_for(5 * ms);
    CHECK(f.relay.pending_error(c6.id) == 0);
    const RelayOpened s = f.accept(l);
    CHECK(f.relay.speaks_v6(s.id));
    CHECK(f.relay.speaks_v6(c6.id));
    CHECK_FALSE(f.relay.speaks_v6(c4.id));
    CHECK(f.relay.buffer(s.id, false) == 16384);
    CHECK(f.relay.buffer(s.id, true) == 131072);
    REQUIRE(f.relay.set_buffer(s.id, false, 4096) == 0);
    CHECK(f.relay.buffer(s.id, false) == 8192);
}
