// UDP datagram sockets: duplication, reordering, queue capacity, ports,
// truncation, connected filtering and loopback.
#include <catch2/catch.hpp>

#include "net_fixture.hpp"

using namespace marionette;
using test::bytes_of;
using test::NetFixture;
using test::text_of;

TEST_CASE("udp duplication delivers a datagram twice and traces the copy") {
    NetOptions o;
    o.duplicate_rate = Rate::always();
    NetFixture f(1, o);
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.send_to(a, bytes_of("dup"), f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    std::array<std::byte, 8> buf{};
    CHECK(f.net.recv_from(b, buf, nullptr).value == 3);
    CHECK(f.net.recv_from(b, buf, nullptr).value == 3);
    CHECK(f.net.recv_from(b, buf, nullptr).error == EAGAIN);
    CHECK(f.count("net.duplicate", "of", "0") == 1);
    CHECK(f.count("net.deliver") == 2);
    CHECK(f.net.stats().packets_duplicated == 1);
}

TEST_CASE("a full udp receive queue drops with reason queue_full") {
    NetOptions o;
    o.udp_queue_capacity = 2;
    NetFixture f(1, o);
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    for (char c : std::string("12345")) f.net.send_to(a, bytes_of(std::string(1, c)), f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.drop", "reason", "queue_full") == 3);
    std::array<std::byte, 1> buf{};
    std::string got;
    while (f.net.recv_from(b, buf, nullptr).ok()) got += static_cast<char>(buf[0]);
    CHECK(got == "12");  // the first two fit; later ones found the queue full
}

TEST_CASE("udp without a bound port is dropped as port_unreachable") {
    NetFixture f;
    const SocketId a = f.udp(0, 5000);
    f.net.send_to(a, bytes_of("?"), f.addr(1, 4444));
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.drop", "reason", "port_unreachable") == 1);
    CHECK(f.count("net.deliver") == 0);
}

TEST_CASE("udp drop_rate always loses every datagram at send") {
    NetOptions o;
    o.drop_rate = Rate::always();
    NetFixture f(1, o);
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    for (int i = 0; i < 5; ++i) f.net.send_to(a, bytes_of("x"), f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.drop", "reason", "send_drop") == 5);
    CHECK_FALSE(f.net.readiness(b).readable);
}

TEST_CASE("recvfrom truncates a long datagram and reports its length - peek keeps it") {
    NetFixture f;
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.send_to(a, bytes_of("abcdef"), f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    CHECK(f.net.readiness(b).readable);
    std::array<std::byte, 4> buf{};
    std::uint64_t full = 0;
    CHECK(f.net.recv_from(b, buf, nullptr, &full, true).value == 4);
    CHECK(full == 6);
    CHECK(f.net.recv_from(b, buf, nullptr, &full).value == 4);
    CHECK(text_of(buf) == "abcd");
    CHECK(f.net.recv_from(b, buf, nullptr).error == EAGAIN);  // the tail was discarded
}

TEST_CASE("connected udp sockets send to their peer and filter other senders") {
    NetFixture f(1, {}, 3);
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    const SocketId c = f.udp(2, 6000);
    CHECK(f.net.send(a, bytes_of("x")).error == EDESTADDRREQ);
    REQUIRE(f.net.connect(b, f.addr(0, 5000)) == 0);
    f.net.send_to(c, bytes_of("stranger"), f.addr(1, 7000));
    f.net.send_to(a, bytes_of("peer"), f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    std::array<std::byte, 16> buf{};
    CHECK(f.net.recv(b, buf).value == 4);
    CHECK(f.count("net.drop", "reason", "filtered") == 1);
    CHECK(f.net.send(b, bytes_of("reply")).value == 5);
    f.queue.run_for(ns_per_s);
    CHECK(f.net.readable_bytes(a) == 5);
}

TEST_CASE("loopback udp inside a node is never faulted") {
    NetOptions o;
    o.drop_rate = Rate::always();
    NetFixture f(1, o);
    const SocketId s1 = f.udp(0, 5000);
    const SocketId s2 = f.udp(0, 5001);
    f.net.send_to(s1, bytes_of("lo"), SockAddr{ipv4_loopback, 5001});
    f.net.send_to(s1, bytes_of("own"), f.addr(0, 5001));
    f.queue.run_for(ns_per_ms);
    std::array<std::byte, 4> buf{};
    SockAddr from;
    CHECK(f.net.recv_from(s2, buf, &from).value == 2);
    CHECK(from == SockAddr{ipv4_loopback, 5000});
    CHECK(f.net.recv_from(s2, buf, &from).value == 3);
    CHECK(from == f.addr(0, 5000));
    CHECK(f.count("net.drop") == 0);
}

TEST_CASE("bind rules: ports in use, foreign addresses, ephemeral ports") {
    NetFixture f;
    const SocketId a = f.udp(0, 5000);
    const SocketId x = f.net.open(0, SocketType::datagram).value;
    CHECK(f.net.bind(x, SockAddr{ipv4_loopback, 5000}) == EADDRINUSE);
    CHECK(f.net.bind(x, f.addr(1, 5001)) == EADDRNOTAVAIL);
    CHECK(f.net.bind(x, SockAddr{ipv4_any, 0}) == 0);
    CHECK(f.net.local_address(x)->port == 32768);
    CHECK(f.net.bind(x, SockAddr{ipv4_any, 0}) == EINVAL);  // already bound
    const SocketId tcp = f.net.open(0, SocketType::stream).value;
    CHECK(f.net.bind(tcp, SockAddr{ipv4_any, 5000}) == 0);  // separate port space per protocol
    f.net.close(a);
    CHECK_FALSE(f.net.valid(a));
    const SocketId again = f.net.open(0, SocketType::datagram).value;
    CHECK(f.net.bind(again, f.addr(0, 5000)) == 0);
}
