// IPv6 sockets on the IPv4 model (addresses are their IPv4 images; see
// "IPv6" in docs/network-model.md) and Linux's socket buffer sizes.
#include <catch2/catch.hpp>

#include "net_fixture.hpp"

using namespace marionette;
using test::bytes_of;
using test::NetFixture;
using test::text_of;

namespace {

SocketId v6_socket(NetFixture& f, NodeId node, SocketType type, bool v6_only = false) {
    const SocketId s = f.net.open(node, type).value;
    REQUIRE(f.net.set_ipv6(s) == 0);
    if (v6_only) REQUIRE(f.net.set_v6_only(s, true) == 0);
    return s;
}

SocketId v6_listener(NetFixture& f, NodeId node, std::uint16_t port, bool v6_only) {
    const SocketId l = v6_socket(f, node, SocketType::stream, v6_only);
    REQUIRE(f.net.bind(l, SockAddr{ipv4_any, port}, true) == 0);
    REQUIRE(f.net.listen(l, 8) == 0);
    return l;
}

/// Connects and runs the queue until the outcome is known; the error (0 if established).
int connect_and_wait(NetFixture& f, SocketId c, SockAddr to, bool v6) {
    REQUIRE(f.net.connect(c, to, v6) == EINPROGRESS);
    for (int i = 0; i < 1000 && !f.net.readiness(c).writable && !f.net.readiness(c).error; ++i) f.queue.step();
    return f.net.take_error(c);
}

}  // namespace

TEST_CASE("a dual-stack listener accepts IPv6 and IPv4 clients and tells them apart") {
    NetFixture f;
    const SocketId l = v6_listener(f, 1, 7000, false);
    CHECK(f.net.speaks_v6(l));

    const SocketId c6 = v6_socket(f, 0, SocketType::stream);
    CHECK(connect_and_wait(f, c6, f.addr(1, 7000), true) == 0);
    const NetResult s6 = f.net.accept(l);
    REQUIRE(s6.ok());
    CHECK(f.net.speaks_v6(s6.value));
    CHECK(f.net.speaks_v6(c6));
    CHECK(f.count("net.send", "family", "ipv6") >= 2);  // SYN and SYN-ACK

    const SocketId c4 = f.net.open(0, SocketType::stream).value;
    CHECK(connect_and_wait(f, c4, f.addr(1, 7000), false) == 0);
    const NetResult s4 = f.net.accept(l);
    REQUIRE(s4.ok());
    CHECK_FALSE(f.net.speaks_v6(s4.value));  // ::ffff:10.0.0.1 to the server
    CHECK(f.net.peer_address(s4.value) == SockAddr{f.net.node_address(0), f.net.local_address(c4)->port});

    REQUIRE(f.net.send(c4, bytes_of("v4")).value == 2);
    f.queue.run_for(10 * ns_per_ms);
    std::array<std::byte, 8> buf{};
    CHECK(text_of(std::span(buf).first(f.net.recv(s4.value, buf).value)) == "v4");
}

TEST_CASE("IPV6_V6ONLY refuses IPv4 clients and shares the port with an IPv4 listener") {
    NetFixture f;
    const SocketId l6 = v6_listener(f, 1, 7000, true);
    const SocketId c4 = f.net.open(0, SocketType::stream).value;
    CHECK(connect_and_wait(f, c4, f.addr(1, 7000), false) == ECONNREFUSED);

    // Redis's `bind * -::*`: 0.0.0.0:7000 next to an IPV6_V6ONLY [::]:7000.
    const SocketId l4 = f.listener(1, 7000);
    const SocketId again = f.net.open(0, SocketType::stream).value;
    CHECK(connect_and_wait(f, again, f.addr(1, 7000), false) == 0);
    CHECK(f.net.accept(l4).ok());
    CHECK(f.net.accept(l6).error == EAGAIN);
    const SocketId c6 = v6_socket(f, 0, SocketType::stream);
    CHECK(connect_and_wait(f, c6, f.addr(1, 7000), true) == 0);
    CHECK(f.net.accept(l6).ok());
    CHECK(f.net.accept(l4).error == EAGAIN);

    // A dual-stack [::]:7001 conflicts with 0.0.0.0:7001, V6ONLY does not.
    f.listener(1, 7001);
    const SocketId dual = v6_socket(f, 1, SocketType::stream);
    CHECK(f.net.bind(dual, SockAddr{ipv4_any, 7001}, true) == EADDRINUSE);
    const SocketId only = v6_socket(f, 1, SocketType::stream, true);
    CHECK(f.net.bind(only, SockAddr{ipv4_any, 7001}, true) == 0);
    CHECK(f.net.set_v6_only(only, false) == EINVAL);  // only before bind
    CHECK(f.net.set_v6_only(c4, true) == ENOPROTOOPT);
}

TEST_CASE("an IPv4 listener never answers an IPv6 client; V6ONLY cannot reach v4-mapped") {
    NetFixture f;
    f.listener(1, 7000);
    const SocketId c6 = v6_socket(f, 0, SocketType::stream);
    CHECK(connect_and_wait(f, c6, f.addr(1, 7000), true) == ECONNREFUSED);
    const SocketId only = v6_socket(f, 0, SocketType::stream, true);
    CHECK(f.net.connect(only, f.addr(1, 7000), false) == ENETUNREACH);
    const SocketId plain = f.net.open(0, SocketType::stream).value;
    CHECK(f.net.connect(plain, f.addr(1, 7000), true) == EAFNOSUPPORT);
}

TEST_CASE("IPv6 datagrams carry their family to the receiver") {
    NetFixture f;
    const SocketId r = v6_socket(f, 1, SocketType::datagram);
    REQUIRE(f.net.bind(r, SockAddr{ipv4_any, 6000}, true) == 0);
    const SocketId s6 = v6_socket(f, 0, SocketType::datagram);
    const SocketId s4 = f.udp(0, 5000);
    REQUIRE(f.net.send_to(s6, bytes_of("six"), f.addr(1, 6000), true).ok());
    REQUIRE(f.net.send_to(s4, bytes_of("four"), f.addr(1, 6000)).ok());
    f.queue.run_for(10 * ns_per_ms);
    std::array<std::byte, 8> buf{};
    SockAddr from;
    bool v6 = false;
    CHECK(f.net.recv_from(r, buf, &from, nullptr, false, &v6).value == 3);
    CHECK(v6);
    CHECK(from.ip == f.net.node_address(0));
    CHECK(f.net.recv_from(r, buf, &from, nullptr, false, &v6).value == 4);
    CHECK_FALSE(v6);
    CHECK(from == f.addr(0, 5000));
}

TEST_CASE("socket buffers follow Linux: 16384/131072 for TCP, setsockopt doubles with floors") {
    NetFixture f;
    const SocketId s = f.net.open(0, SocketType::stream).value;
    CHECK(f.net.buffer_sizes(s) == std::pair<std::uint64_t, std::uint64_t>{16384, 131072});
    const SocketId u = f.net.open(0, SocketType::datagram).value;
    CHECK(f.net.buffer_sizes(u) == std::pair<std::uint64_t, std::uint64_t>{212992, 212992});
    REQUIRE(f.net.set_socket_buffer(s, false, 10000) == 0);
    REQUIRE(f.net.set_socket_buffer(s, true, 1) == 0);
    CHECK(f.net.buffer_sizes(s) == std::pair<std::uint64_t, std::uint64_t>{20000, 2304});
    REQUIRE(f.net.set_socket_buffer(s, false, 1) == 0);
    REQUIRE(f.net.set_socket_buffer(s, true, 1u << 30) == 0);
    CHECK(f.net.buffer_sizes(s) == std::pair<std::uint64_t, std::uint64_t>{4608, 425984});
}

TEST_CASE("a non-blocking send takes what fits in the default 16 KiB send buffer") {
    NetFixture f;
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    const std::vector<std::byte> big(100000, std::byte{'x'});
    CHECK(f.net.send(c, big).value == 16384);
    CHECK(f.net.send(c, big).error == EAGAIN);
    (void)s;
}
