// The TCP model: handshake, refusal, timeouts, resets after crashes,
// integrity under loss, half close, backlog, loopback and determinism.
#include <catch2/catch.hpp>

#include "net_fixture.hpp"

using namespace marionette;
using test::bytes_of;
using test::NetFixture;
using test::text_of;

namespace {

NetOptions one_ms() {
    NetOptions o;
    o.latency_ns_min = ns_per_ms;
    return o;
}

std::vector<std::byte> random_bytes(std::uint64_t seed, std::size_t n) {
    std::vector<std::byte> out(n);
    Prng(seed).fill(out);
    return out;
}

// Moves `data` from `from` to `to` (whatever fits each step), reading into
// `got` until the writer's data is all read, and steps the queue.
struct Pipe {
    Pipe(SocketId f, SocketId t, std::vector<std::byte> d) : from(f), to(t), data(std::move(d)) {}
    SocketId from;
    SocketId to;
    std::vector<std::byte> data;
    std::size_t sent = 0;
    std::vector<std::byte> got;
    bool eof = false;
    bool shut = false;

    void poke(Network& net, Prng& chunks) {
        if (sent < data.size()) {
            const std::size_t want = std::min<std::size_t>(data.size() - sent, 1 + chunks.uint_less_than(5000));
            const NetResult r = net.send(from, std::span(data).subspan(sent, want));
            if (r.ok()) sent += r.value;
        } else if (!shut) {
            REQUIRE(net.shutdown(from, false, true) == 0);
            shut = true;
        }
        std::array<std::byte, 3000> buf{};
        for (;;) {
            const std::size_t want = 1 + chunks.uint_less_than(buf.size());
            const NetResult r = net.recv(to, std::span(buf).first(want));
            if (!r.ok()) break;
            if (r.value == 0) {
                eof = true;
                break;
            }
            got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.value));
        }
    }
};

}  // namespace

TEST_CASE("connect to a port nobody listens on is refused, exactly traced") {
    NetFixture f(1, one_ms());
    const SocketId c = f.net.open(0, SocketType::stream).value;
    REQUIRE(f.net.connect(c, f.addr(1, 7000)) == EINPROGRESS);
    CHECK_FALSE(f.net.readiness(c).writable);
    CHECK(f.net.send(c, bytes_of("x")).error == EAGAIN);
    f.queue.run_for(10 * ns_per_ms);
    const std::vector<std::string> expected = {
        "net.connect at_ns=0 sock=1 from=0 to=1 dst=10.0.0.2:7000 result=in_progress",
        "net.send at_ns=0 id=0 from=0 to=1 proto=tcp src=10.0.0.1:32768 dst=10.0.0.2:7000 flags=syn seq=0 ack=0 "
        "bytes=0 deliver_at_ns=1000000 latency_ns=1000000",
        "net.deliver at_ns=1000000 id=0 from=0 to=1",
        "net.send at_ns=1000000 id=1 from=1 to=0 proto=tcp src=10.0.0.2:7000 dst=10.0.0.1:32768 flags=rst seq=0 ack=0 "
        "bytes=0 deliver_at_ns=2000000 latency_ns=1000000",
        "net.deliver at_ns=2000000 id=1 from=1 to=0",
        "net.reset at_ns=2000000 sock=1 node=0 reason=refused src=10.0.0.1:32768 dst=10.0.0.2:7000",
    };
    CHECK(f.lines() == expected);
    const Readiness r = f.net.readiness(c);
    CHECK(r.writable);
    CHECK(r.error);
    CHECK(f.net.take_error(c) == ECONNREFUSED);
    CHECK(f.net.take_error(c) == 0);
}

TEST_CASE("handshake, one message each way, exactly traced") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    CHECK(f.queue.now_ns() == 2 * ns_per_ms);  // SYN out, SYN-ACK back
    CHECK(f.net.peer_address(s) == SockAddr{f.net.node_address(0), 32768});
    CHECK(f.net.local_address(c) == SockAddr{f.net.node_address(0), 32768});
    REQUIRE(f.net.send(c, bytes_of("ping")).value == 4);
    f.queue.run_until(3 * ns_per_ms);
    std::array<std::byte, 16> buf{};
    REQUIRE(f.net.recv(s, buf).value == 4);
    CHECK(text_of(std::span(buf).first(4)) == "ping");
    const std::vector<std::string> expected = {
        "net.listen at_ns=0 sock=1 node=1 addr=0.0.0.0:7000",
        "net.connect at_ns=0 sock=2 from=0 to=1 dst=10.0.0.2:7000 result=in_progress",
        "net.send at_ns=0 id=0 from=0 to=1 proto=tcp src=10.0.0.1:32768 dst=10.0.0.2:7000 flags=syn seq=0 ack=0 "
        "bytes=0 deliver_at_ns=1000000 latency_ns=1000000",
        "net.deliver at_ns=1000000 id=0 from=0 to=1",
        "net.accept at_ns=1000000 listener=1 sock=3 node=1 src=10.0.0.2:7000 dst=10.0.0.1:32768",
        "net.send at_ns=1000000 id=1 from=1 to=0 proto=tcp src=10.0.0.2:7000 dst=10.0.0.1:32768 flags=syn+ack seq=0 "
        "ack=0 bytes=0 deliver_at_ns=2000000 latency_ns=1000000",
        "net.deliver at_ns=2000000 id=1 from=1 to=0",
        "net.established at_ns=2000000 sock=2 node=0 src=10.0.0.1:32768 dst=10.0.0.2:7000",
        "net.send at_ns=2000000 id=2 from=0 to=1 proto=tcp src=10.0.0.1:32768 dst=10.0.0.2:7000 flags=ack seq=0 ack=0 "
        "bytes=4 deliver_at_ns=3000000 latency_ns=1000000",
        "net.deliver at_ns=3000000 id=2 from=0 to=1",
        "net.send at_ns=3000000 id=3 from=1 to=0 proto=tcp src=10.0.0.2:7000 dst=10.0.0.1:32768 flags=ack seq=0 ack=4 "
        "bytes=0 deliver_at_ns=4000000 latency_ns=1000000",
    };
    CHECK(f.lines() == expected);
}

TEST_CASE("tcp streams stay intact and ordered under 30% loss and jitter (many seeds)") {
    for (std::uint64_t seed = 1; seed <= 48; ++seed) {
        CAPTURE(seed);
        NetOptions o = one_ms();
        o.latency_ns_jitter = 4 * ns_per_ms;
        o.drop_rate = Rate::percent(30);
        o.tcp_timeout_ns = 3600 * ns_per_s;  // this test is about integrity, not giving up
        NetFixture f(seed, o);
        const SocketId l = f.listener(1, 7000);
        if (seed % 2 == 1) f.net.set_buffer_sizes(l, 2000, 3000);  // small windows: exercise flow control
        auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000), 3600 * ns_per_s);
        Pipe up{c, s, random_bytes(seed, 40000)};
        Pipe down{s, c, random_bytes(seed + 1000, 7000)};
        Prng chunks(seed);
        for (int steps = 0; steps < 2'000'000 && !(up.eof && down.eof); ++steps) {
            up.poke(f.net, chunks);
            down.poke(f.net, chunks);
            if (!f.queue.step()) break;
        }
        CHECK(up.eof);
        CHECK(down.eof);
        CHECK(up.got == up.data);
        CHECK(down.got == down.data);
        CHECK(f.net.stats().retransmissions > 0);
        CHECK(f.count("net.drop", "reason", "send_drop") > 0);
    }
}

TEST_CASE("connect across a partition times out after tcp_timeout_ns with SYN backoff") {
    NetOptions o = one_ms();
    o.tcp_timeout_ns = 10 * ns_per_s;
    NetFixture f(1, o);
    f.listener(1, 7000);
    f.net.partition({{0}, {1}});
    const SocketId c = f.net.open(0, SocketType::stream).value;
    REQUIRE(f.net.connect(c, f.addr(1, 7000)) == EINPROGRESS);
    f.queue.run_for(20 * ns_per_s);
    // SYNs at 0, 0.2, 0.6, 1.4, 3.0 and 6.2 s (RTO 200 ms doubling, capped at 5 s); gives up at 10 s.
    std::vector<Ns> syns;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name == "net.send") syns.push_back(e.at_ns);
    }
    CHECK(syns == std::vector<Ns>{0, 200 * ns_per_ms, 600 * ns_per_ms, 1400 * ns_per_ms, 3000 * ns_per_ms,
                                  6200 * ns_per_ms});
    CHECK(f.count("net.drop", "reason", "partition") == 6);
    REQUIRE(f.count("net.timeout", "phase", "connect") == 1);
    CHECK(f.trace.events().back().name == "net.timeout");
    CHECK(f.trace.events().back().at_ns == 10 * ns_per_s);
    CHECK(f.net.take_error(c) == ETIMEDOUT);
}

TEST_CASE("a partition shorter than the timeout only delays the stream") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.partition({{0}, {1}});
    REQUIRE(f.net.send(c, bytes_of("during")).value == 6);
    f.queue.run_for(5 * ns_per_s);
    CHECK(f.net.readable_bytes(s) == 0);
    f.net.heal();
    f.queue.run_for(10 * ns_per_s);
    std::array<std::byte, 16> buf{};
    REQUIRE(f.net.recv(s, buf).value == 6);
    CHECK(text_of(std::span(buf).first(6)) == "during");
    CHECK(f.count("net.timeout") == 0);
}

TEST_CASE("a partition outlasting the timeout: ETIMEDOUT at the sender, ECONNRESET at the peer after heal") {
    NetOptions o = one_ms();
    o.tcp_timeout_ns = 10 * ns_per_s;
    NetFixture f(1, o);
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.partition({{0}, {1}});
    REQUIRE(f.net.send(c, bytes_of("lost")).ok());
    f.queue.run_for(11 * ns_per_s);
    CHECK(f.count("net.timeout", "phase", "data") == 1);
    std::array<std::byte, 8> buf{};
    CHECK(f.net.send(c, bytes_of("more")).error == ETIMEDOUT);
    CHECK(f.net.send(c, bytes_of("more")).error == EPIPE);
    CHECK(f.net.recv(c, buf).value == 0);
    f.net.heal();
    REQUIRE(f.net.send(s, bytes_of("hello?")).ok());  // the client forgot the connection
    f.queue.run_for(ns_per_s);
    CHECK(f.net.readiness(s).error);
    CHECK(f.net.recv(s, buf).error == ECONNRESET);
    CHECK(f.net.recv(s, buf).value == 0);
}

TEST_CASE("after the peer node crashes and restarts, the next send is reset") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.crash(1);
    CHECK_FALSE(f.net.valid(s));
    f.net.restart(1);
    REQUIRE(f.net.send(c, bytes_of("anyone?")).ok());
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.reset", "reason", "peer") == 1);
    std::array<std::byte, 8> buf{};
    CHECK(f.net.readiness(c).hup);
    CHECK(f.net.recv(c, buf).error == ECONNRESET);
    CHECK(f.net.send(c, bytes_of("x")).error == EPIPE);
}

TEST_CASE("a crashed peer that stays down times the connection out") {
    NetOptions o = one_ms();
    o.tcp_timeout_ns = 5 * ns_per_s;
    NetFixture f(1, o);
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    (void)s;
    f.net.crash(1);
    const Ns sent_at = f.queue.now_ns();
    REQUIRE(f.net.send(c, bytes_of("hello")).ok());
    f.queue.run_for(10 * ns_per_s);
    CHECK(f.count("net.drop", "reason", "destination_down") >= 3);
    REQUIRE(f.count("net.timeout") == 1);
    CHECK(f.trace.events().back().at_ns == sent_at + 5 * ns_per_s);
    CHECK(f.net.take_error(c) == ETIMEDOUT);
}

TEST_CASE("half close: EOF after the data, the other direction keeps working") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    REQUIRE(f.net.send(c, bytes_of("req")).ok());
    REQUIRE(f.net.shutdown(c, false, true) == 0);
    CHECK(f.net.readiness(c).writable);  // so a blocked writer wakes up to EPIPE
    CHECK(f.net.send(c, bytes_of("x")).error == EPIPE);
    f.queue.run_for(ns_per_s);
    std::array<std::byte, 8> buf{};
    CHECK(f.net.recv(s, buf).value == 3);
    CHECK(f.net.readiness(s).rdhup);
    CHECK(f.net.recv(s, buf).value == 0);
    REQUIRE(f.net.send(s, bytes_of("resp")).ok());
    f.net.close(s);
    f.queue.run_for(ns_per_s);
    CHECK(f.net.recv(c, buf).value == 4);
    CHECK(f.net.recv(c, buf).value == 0);
    CHECK(f.net.readiness(c).hup);
    CHECK(f.count("net.reset") == 0);
}

TEST_CASE("closing with unread data resets the peer") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    REQUIRE(f.net.send(c, bytes_of("unread")).ok());
    f.queue.run_for(ns_per_s);
    f.net.close(s);
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.reset", "reason", "unread_data") == 1);
    CHECK(f.net.take_error(c) == ECONNRESET);
}

TEST_CASE("a full backlog drops SYNs until the server accepts") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000, 1);
    const SocketId c1 = f.net.open(0, SocketType::stream).value;
    const SocketId c2 = f.net.open(0, SocketType::stream).value;
    f.net.connect(c1, f.addr(1, 7000));
    f.net.connect(c2, f.addr(1, 7000));
    f.queue.run_for(100 * ns_per_ms);
    CHECK(f.count("net.drop", "reason", "backlog_full") == 1);
    CHECK(f.net.readiness(c1).writable);
    CHECK_FALSE(f.net.readiness(c2).writable);
    CHECK(f.net.pending_connections(l) == 1);
    CHECK(f.net.pending_connections(c1) == 0);  // not a listener
    CHECK(f.net.accept(l).ok());
    CHECK(f.net.pending_connections(l) == 0);
    CHECK(f.net.accept(l).error == EAGAIN);
    f.queue.run_for(ns_per_s);  // c2's SYN is retransmitted at 200 ms
    CHECK(f.net.accept(l).ok());
    CHECK(f.net.take_error(c2) == 0);
    CHECK(f.net.readiness(c2).writable);
}

TEST_CASE("loopback tcp works even when every network packet would drop") {
    NetOptions o;
    o.drop_rate = Rate::always();
    NetFixture f(1, o);
    const SocketId l = f.listener(0, 8080);
    auto [c, s] = f.connect_pair(0, l, SockAddr{ipv4_loopback, 8080});
    CHECK(f.net.local_address(c)->ip == ipv4_loopback);
    REQUIRE(f.net.send(c, bytes_of("local")).ok());
    f.queue.run_for(ns_per_ms);
    CHECK(f.net.readable_bytes(s) == 5);
    CHECK(f.count("net.drop") == 0);
}

TEST_CASE("injected connect failures refuse one pair, one way") {
    NetFixture f(1, one_ms());
    f.listener(0, 7000);
    const SocketId l = f.listener(1, 7000);
    f.net.set_connect_failure(0, 1, true);
    const SocketId c = f.net.open(0, SocketType::stream).value;
    CHECK(f.net.connect(c, f.addr(1, 7000)) == ECONNREFUSED);
    CHECK(f.count("net.connect", "result", "injected_refused") == 1);
    const SocketId back = f.net.open(1, SocketType::stream).value;
    CHECK(f.net.connect(back, f.addr(0, 7000)) == EINPROGRESS);
    f.net.set_connect_failure(0, 1, false);
    f.connect_pair(0, l, f.addr(1, 7000));
}

TEST_CASE("connection_reset_rate resets both ends on a data segment") {
    NetOptions o = one_ms();
    NetFixture f(1, o);
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.set_lossiness("connection_reset_rate=always");
    REQUIRE(f.net.send(c, bytes_of("boom")).ok());
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.reset", "reason", "injected") == 1);
    CHECK(f.count("net.reset", "reason", "peer") == 1);
    CHECK(f.net.take_error(s) == ECONNRESET);
    CHECK(f.net.take_error(c) == ECONNRESET);
    CHECK(f.count("net.options", "connection_reset_rate", "1/1") == 1);
}

TEST_CASE("the readiness listener fires for arrivals, and readiness reflects them") {
    NetFixture f(1, one_ms());
    std::vector<SocketId> woken;
    f.net.set_readiness_listener([&](SocketId id) { woken.push_back(id); });
    const SocketId l = f.listener(1, 7000);
    const SocketId c = f.net.open(0, SocketType::stream).value;
    CHECK(f.net.readiness(c) == Readiness{false, true, true, false, false});  // POLLOUT|POLLHUP, as Linux
    f.net.connect(c, f.addr(1, 7000));
    CHECK(f.net.readiness(c) == Readiness{});  // connecting: nothing yet
    f.queue.run_for(ns_per_ms);
    CHECK(woken == std::vector<SocketId>{l});
    CHECK(f.net.readiness(l).readable);
    f.queue.run_for(ns_per_ms);
    CHECK(woken.back() == c);
    const SocketId s = f.net.accept(l).value;
    CHECK_FALSE(f.net.readiness(s).readable);
    woken.clear();
    f.net.send(c, bytes_of("hey"));
    CHECK(f.net.next_delivery_ns() == f.queue.now_ns() + ns_per_ms);
    f.queue.run_for(ns_per_ms);
    CHECK(woken == std::vector<SocketId>{s});
    CHECK(f.net.readiness(s).readable);
    CHECK(f.net.readiness(s).writable);
}

namespace {

std::uint64_t scenario_hash(std::uint64_t seed) {
    NetOptions o = one_ms();
    o.latency_ns_jitter = 2 * ns_per_ms;
    o.drop_rate = Rate::percent(20);
    o.duplicate_rate = Rate::percent(10);
    o.path_clog_rate = Rate::percent(2);
    o.partition_rate = Rate::percent(5);
    o.unpartition_rate = Rate::percent(20);
    o.tcp_timeout_ns = 3600 * ns_per_s;
    NetFixture f(seed, o, 3);
    const SocketId l = f.listener(1, 7000);
    const SocketId u = f.udp(2, 9000);
    const SocketId ua = f.udp(0, 9000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000), 3600 * ns_per_s);
    Pipe up{c, s, random_bytes(1, 5000)};
    Prng chunks(1);
    for (int steps = 0; steps < 200000 && !up.eof; ++steps) {
        up.poke(f.net, chunks);
        if (steps % 50 == 0) f.net.send_to(ua, bytes_of("hb"), f.addr(2, 9000));
        if (!f.queue.step()) break;
    }
    REQUIRE(up.got == up.data);
    (void)u;
    return f.trace.hash();
}

}  // namespace

TEST_CASE("same seed gives the same trace hash - another seed a different one") {
    const std::uint64_t first = scenario_hash(42);
    CHECK(scenario_hash(42) == first);
    CHECK(scenario_hash(43) != first);
}

TEST_CASE("keepalive: an alive idle peer answers probes - a dead one times out after idle + count * interval") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    REQUIRE(f.net.set_keepalive(c, true, 10 * ns_per_s, ns_per_s, 3) == 0);
    CHECK(f.net.set_keepalive(c, true, 0, ns_per_s, 3) == EINVAL);
    const Ns established = 2 * ns_per_ms;
    f.queue.run_until(established + 35 * ns_per_s);
    // Each probe goes out 10 s after the last word from the peer and its
    // answer lands 2 ms (one round trip) later: probes at 10.002, 20.004 and
    // 30.006 s; the last answer at 30.008 s.
    CHECK(f.count("net.send", "flags", "ack+probe") == 3);
    CHECK(f.count("net.timeout") == 0);
    f.net.crash(1);
    const Ns last_heard = established + 30 * ns_per_s + 6 * ns_per_ms;
    f.queue.run_until(last_heard + 20 * ns_per_s);
    REQUIRE(f.count("net.timeout", "phase", "keepalive") == 1);
    CHECK(f.trace.events().back().at_ns == last_heard + 10 * ns_per_s + 3 * ns_per_s);
    CHECK(f.net.take_error(c) == ETIMEDOUT);
    (void)s;
}

TEST_CASE("keepalive notices a restarted peer through its reset") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    REQUIRE(f.net.set_keepalive(l, true, 5 * ns_per_s, ns_per_s, 2) == 0);  // accepted sockets inherit it
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.crash(0);
    f.net.restart(0);
    f.queue.run_for(10 * ns_per_s);
    CHECK(f.count("net.reset", "reason", "peer") == 1);
    CHECK(f.net.take_error(s) == ECONNRESET);
    (void)c;
}

TEST_CASE("abort and closing a listener with queued connections reset the peers") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    f.net.abort(c);
    CHECK_FALSE(f.net.valid(c));
    f.queue.run_for(ns_per_s);
    CHECK(f.net.take_error(s) == ECONNRESET);
    const SocketId queued = f.net.open(0, SocketType::stream).value;
    f.net.connect(queued, f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    CHECK(f.net.readiness(queued).writable);
    f.net.close(l);
    f.queue.run_for(ns_per_s);
    CHECK(f.net.take_error(queued) == ECONNRESET);
    CHECK(f.count("net.reset", "reason", "abort") == 2);
    const SocketId late = f.net.open(0, SocketType::stream).value;
    f.net.connect(late, f.addr(1, 7000));
    f.queue.run_for(ns_per_s);
    CHECK(f.net.take_error(late) == ECONNREFUSED);  // nothing listens any more
}

TEST_CASE("partial_write_rate shortens sends but never loses bytes") {
    NetOptions o = one_ms();
    o.partial_write_rate = Rate::percent(50);
    NetFixture f(3, o);
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    Pipe up(c, s, random_bytes(9, 30000));
    Prng chunks(9);
    for (int steps = 0; steps < 100000 && !up.eof; ++steps) {
        up.poke(f.net, chunks);
        if (!f.queue.step()) break;
    }
    CHECK(up.got == up.data);
    CHECK(f.count("net.partial_write") > 0);
}

TEST_CASE("connecting to 0.0.0.0 reaches the node itself") {
    NetFixture f(1, one_ms());
    const SocketId l = f.listener(1, 6379);
    auto [c, s] = f.connect_pair(1, l, SockAddr{ipv4_any, 6379});
    CHECK(f.net.peer_address(c) == SockAddr{ipv4_loopback, 6379});
    (void)s;
}

TEST_CASE("under every fault at once, a stream's reader only ever sees a prefix of what was written") {
    std::size_t completed = 0;
    std::size_t broken = 0;
    for (std::uint64_t seed = 1; seed <= 16; ++seed) {
        CAPTURE(seed);
        NetOptions o = one_ms();
        o.latency_ns_jitter = 3 * ns_per_ms;
        o.drop_rate = Rate::percent(10);
        o.duplicate_rate = Rate::percent(10);
        o.path_clog_rate = Rate::percent(1);
        o.path_clog_duration_ns = 300 * ns_per_ms;
        o.connection_reset_rate = Rate::ratio(1, 300);
        o.partial_write_rate = Rate::percent(20);
        o.partition_rate = Rate::percent(2);
        o.unpartition_rate = Rate::percent(10);
        o.tcp_timeout_ns = 4 * ns_per_s;
        if (seed % 2 == 0) o.tcp_ack_delay_ns = 40 * ns_per_ms;
        NetFixture f(seed, o, 3);
        SocketId listener = f.listener(1, 7000);
        Prng chaos(seed * 7919);
        SocketId client = 0;
        SocketId server = 0;
        std::vector<std::byte> data;
        std::size_t sent = 0;
        std::vector<std::byte> got;
        auto give_up = [&] {
            f.net.abort(client);
            f.net.abort(server);
            client = server = 0;
            ++broken;
        };
        for (Ns t = 0; t < 60 * ns_per_s; t += 100 * ns_per_ms) {
            const std::uint64_t roll = chaos.uint_less_than(100);
            if (roll < 2) f.net.partition({{0}, {1, 2}});
            if (roll >= 2 && roll < 5) f.net.heal();
            if (roll == 5 && f.net.node_up(1)) f.net.crash(1);
            if (roll >= 6 && roll < 9 && !f.net.node_up(1)) {
                f.net.restart(1);
                listener = f.listener(1, 7000);
            }
            if (client == 0 && f.net.node_up(1)) {
                client = f.net.open(0, SocketType::stream).value;
                f.net.connect(client, f.addr(1, 7000));
                data = random_bytes(seed * 1000 + t, 6000);
                sent = 0;
                got.clear();
            }
            const Ns deadline = f.queue.now_ns() + 100 * ns_per_ms;
            while (client != 0) {
                // Accept this client's connection (older ones are closed).
                while (server == 0 && f.net.valid(listener)) {
                    const NetResult r = f.net.accept(listener);
                    if (!r.ok()) break;
                    if (f.net.peer_address(r.value) == f.net.local_address(client)) {
                        server = r.value;
                    } else {
                        f.net.close(r.value);
                    }
                }
                const int error = f.net.readiness(client).error ? f.net.take_error(client) : 0;
                if (error != 0) {
                    give_up();
                    break;
                }
                if (sent < data.size() && f.net.readiness(client).writable) {
                    const NetResult r = f.net.send(client, std::span(data).subspan(sent));
                    if (r.ok()) sent += r.value;
                }
                if (server != 0) {
                    std::array<std::byte, 1500> buf{};
                    NetResult r = f.net.recv(server, buf);
                    while (r.ok() && r.value > 0) {
                        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.value));
                        r = f.net.recv(server, buf);
                    }
                    // The invariant: never a byte that was not written, never out of order.
                    REQUIRE(got.size() <= sent);
                    REQUIRE(std::equal(got.begin(), got.end(), data.begin()));
                    if (!r.ok() && r.error != EAGAIN) {
                        give_up();
                        break;
                    }
                    if (got.size() == data.size()) {
                        ++completed;
                        f.net.close(client);
                        f.net.close(server);
                        client = server = 0;
                        break;
                    }
                }
                const std::optional<Ns> next = f.queue.next_at();
                if (!next || *next > deadline) break;
                f.queue.step();
            }
            f.queue.run_until(deadline);
        }
    }
    CHECK(completed > 200);  // streams do get through between the faults
    CHECK(broken > 10);      // and the faults do break some
}

TEST_CASE("an unbounded tcp_timeout_ns never wraps into an early timeout") {
    NetFixture f(1, one_ms());
    f.net.set_faults("tcp_timeout_ns=18446744073709551615 tcp_rto_ns_max=18446744073709551615");
    f.listener(1, 7000);
    f.net.partition({{0}, {1}});
    const SocketId c = f.net.open(0, SocketType::stream).value;
    REQUIRE(f.net.connect(c, f.addr(1, 7000)) == EINPROGRESS);
    f.queue.run_for(3600 * ns_per_s);
    CHECK(f.count("net.timeout") == 0);
    CHECK(f.count("net.send") == 15);  // SYNs at 0 and 0.2 * (2^k - 1) s while that stays within the hour
    f.net.heal();
    f.queue.run_for(3600 * ns_per_s);
    CHECK(f.net.readiness(c).writable);
    CHECK(f.net.take_error(c) == 0);
}

TEST_CASE("delayed acks ride on the reply, or go out after tcp_ack_delay_ns") {
    NetOptions o = one_ms();
    o.tcp_ack_delay_ns = 40 * ns_per_ms;
    NetFixture f(1, o);
    const SocketId l = f.listener(1, 7000);
    auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000));
    const std::size_t before = f.count("net.send");
    const Ns start = f.queue.now_ns();
    std::array<std::byte, 64> buf{};
    for (int i = 0; i < 10; ++i) {  // request/response: the response carries the ack
        REQUIRE(f.net.send(c, bytes_of("request")).ok());
        while (f.net.readable_bytes(s) == 0) REQUIRE(f.queue.step());
        f.net.recv(s, buf);
        REQUIRE(f.net.send(s, bytes_of("response")).ok());
        while (f.net.readable_bytes(c) == 0) REQUIRE(f.queue.step());
        f.net.recv(c, buf);
    }
    CHECK(f.count("net.send") - before == 20);  // 2 packets per round trip, not 4
    CHECK(f.queue.now_ns() - start == 20 * ns_per_ms);
    // A one-way message carries the ack the client still owes for the last
    // response; its own ack waits the full delay at the server. Nothing is
    // retransmitted.
    const Ns sent_at = f.queue.now_ns();
    REQUIRE(f.net.send(c, bytes_of("oneway")).ok());
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.send") - before == 22);
    const TraceEvent* last_send = nullptr;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name == "net.send") last_send = &e;
    }
    REQUIRE(last_send != nullptr);
    CHECK(last_send->at_ns == sent_at + ns_per_ms + 40 * ns_per_ms);
    CHECK(value_text(*last_send->find("from")) == "1");
    CHECK(f.net.stats().retransmissions == 0);
    CHECK_THROWS_WITH(f.net.set_faults("tcp_ack_delay_ns=300ms"), Catch::Contains("below tcp_rto_ns_min"));
}

TEST_CASE("delayed acks keep streams intact under loss") {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        CAPTURE(seed);
        NetOptions o = one_ms();
        o.latency_ns_jitter = 4 * ns_per_ms;
        o.drop_rate = Rate::percent(30);
        o.tcp_ack_delay_ns = 40 * ns_per_ms;
        o.tcp_timeout_ns = 3600 * ns_per_s;
        NetFixture f(seed, o);
        const SocketId l = f.listener(1, 7000);
        auto [c, s] = f.connect_pair(0, l, f.addr(1, 7000), 3600 * ns_per_s);
        Pipe up(c, s, random_bytes(seed, 30000));
        Pipe down(s, c, random_bytes(seed + 1, 5000));
        Prng chunks(seed);
        for (int steps = 0; steps < 2'000'000 && !(up.eof && down.eof); ++steps) {
            up.poke(f.net, chunks);
            down.poke(f.net, chunks);
            if (!f.queue.step()) break;
        }
        CHECK(up.got == up.data);
        CHECK(down.got == down.data);
    }
}
