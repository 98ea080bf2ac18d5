// The packet layer: exact traces, delivery order, partitions, links, clogs,
// partition dynamics and determinism. UDP datagrams carry the packets here
// because one datagram is exactly one packet.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "net_fixture.hpp"

using namespace marionette;
using test::bytes_of;
using test::NetFixture;

namespace {

NetOptions one_ms() {
    NetOptions o;
    o.latency_ns_min = ns_per_ms;
    return o;
}

std::uint64_t field_u64(const TraceEvent& event, std::string_view key) {
    return std::stoull(value_text(*event.find(key)));
}

}  // namespace

TEST_CASE("a datagram's send and delivery trace exactly") {
    NetFixture f(1, one_ms());
    const SocketId b = f.udp(1, 7000);
    const SocketId a = f.udp(0, 5000);
    REQUIRE(f.net.send_to(a, bytes_of("hi"), f.addr(1, 7000)).value == 2);
    f.queue.run_until(ns_per_ms);
    // Partitioned at delivery time: dropped. Healed: delivered again.
    f.net.partition({{0}, {1}});
    f.net.send_to(a, bytes_of("x"), f.addr(1, 7000));
    f.queue.run_until(2 * ns_per_ms);
    f.net.heal();
    f.net.send_to(a, bytes_of("y"), f.addr(1, 7000));
    f.queue.run_until(3 * ns_per_ms);
    const std::vector<std::string> expected = {
        "net.send at_ns=0 id=0 from=0 to=1 proto=udp src=10.0.0.1:5000 dst=10.0.0.2:7000 bytes=2 "
        "deliver_at_ns=1000000 latency_ns=1000000",
        "net.deliver at_ns=1000000 id=0 from=0 to=1",
        "net.partition at_ns=1000000 groups=0|1",
        "net.send at_ns=1000000 id=1 from=0 to=1 proto=udp src=10.0.0.1:5000 dst=10.0.0.2:7000 bytes=1 "
        "deliver_at_ns=2000000 latency_ns=1000000",
        "net.drop at_ns=2000000 id=1 from=0 to=1 reason=partition",
        "net.heal at_ns=2000000",
        "net.send at_ns=2000000 id=2 from=0 to=1 proto=udp src=10.0.0.1:5000 dst=10.0.0.2:7000 bytes=1 "
        "deliver_at_ns=3000000 latency_ns=1000000",
        "net.deliver at_ns=3000000 id=2 from=0 to=1",
    };
    CHECK(f.lines() == expected);
    std::array<std::byte, 8> buf{};
    SockAddr from;
    CHECK(f.net.recv_from(b, buf, &from).value == 2);
    CHECK(from == f.addr(0, 5000));
    CHECK(f.net.recv_from(b, buf, &from).value == 1);
    CHECK(test::text_of(std::span(buf).first(1)) == "y");
    CHECK(f.net.recv_from(b, buf, &from).error == EAGAIN);
}

TEST_CASE("packets due at the same instant deliver in send order") {
    NetFixture f(1, one_ms(), 3);
    const SocketId b = f.udp(1, 7000);
    const SocketId a = f.udp(0, 5000);
    const SocketId c = f.udp(2, 5000);
    f.net.send_to(a, bytes_of("1"), f.addr(1, 7000));
    f.net.send_to(c, bytes_of("2"), f.addr(1, 7000));
    f.net.send_to(a, bytes_of("3"), f.addr(1, 7000));
    f.queue.run_for(10 * ns_per_ms);
    std::string order;
    std::array<std::byte, 4> buf{};
    while (f.net.recv_from(b, buf, nullptr).ok()) order += static_cast<char>(buf[0]);
    CHECK(order == "123");
}

TEST_CASE("with jitter, delivery follows (deliver_at, packet_id)") {
    NetOptions o = one_ms();
    o.latency_ns_jitter = 3 * ns_per_ms;
    NetFixture f(7, o, 3);
    const SocketId b = f.udp(1, 7000);
    const SocketId a = f.udp(0, 5000);
    const SocketId c = f.udp(2, 5000);
    for (int i = 0; i < 40; ++i) {
        f.net.send_to(i % 2 == 0 ? a : c, bytes_of("p"), f.addr(1, 7000));
        f.queue.run_for(ns_per_ms / 4);
    }
    f.queue.run_for(ns_per_s);
    std::map<std::uint64_t, Ns> due;
    std::vector<std::pair<Ns, std::uint64_t>> delivered;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name == "net.send") due[field_u64(e, "id")] = field_u64(e, "deliver_at_ns");
        if (e.name != "net.deliver") continue;
        const std::uint64_t id = field_u64(e, "id");
        CHECK(e.at_ns == due.at(id));
        delivered.emplace_back(e.at_ns, id);
    }
    REQUIRE(delivered.size() == 40);
    CHECK(std::is_sorted(delivered.begin(), delivered.end()));
    bool reordered = false;
    for (std::size_t i = 1; i < delivered.size(); ++i) reordered |= delivered[i].second < delivered[i - 1].second;
    CHECK(reordered);  // 3 ms of jitter on sends 0.25 ms apart must reorder some
    CHECK(f.net.readable_bytes(b) == 1);
}

TEST_CASE("partition groups cut only between groups - unlisted nodes keep their links") {
    NetFixture f(1, one_ms(), 4);
    std::vector<SocketId> s;
    for (NodeId n = 0; n < 4; ++n) s.push_back(f.udp(n, 9000));
    f.net.partition({{0}, {1, 2}});
    auto reach = [&](NodeId from, NodeId to) {
        f.net.send_to(s[from], bytes_of("?"), f.addr(to, 9000));
        f.queue.run_for(5 * ns_per_ms);
        std::array<std::byte, 1> buf{};
        return f.net.recv_from(s[to], buf, nullptr).ok();
    };
    CHECK_FALSE(reach(0, 1));
    CHECK_FALSE(reach(2, 0));
    CHECK(reach(1, 2));
    CHECK(reach(3, 0));
    CHECK(reach(1, 3));
    CHECK(f.count("net.drop", "reason", "partition") == 2);
    f.net.heal();
    CHECK(reach(0, 1));
    CHECK(f.net.link_stats(0, 1) == LinkStats{2, 1, 1});
    CHECK(f.net.link_stats(2, 0) == LinkStats{1, 0, 1});
    CHECK(f.net.link_stats(1, 2) == LinkStats{1, 1, 0});
    CHECK(f.net.link_stats(2, 1) == LinkStats{});
}

TEST_CASE("a packet sent during a partition that heals before it lands is delivered") {
    NetFixture f(1, one_ms());
    const SocketId b = f.udp(1, 7000);
    const SocketId a = f.udp(0, 5000);
    f.net.partition({{0}, {1}});
    f.net.send_to(a, bytes_of("z"), f.addr(1, 7000));
    f.queue.run_for(ns_per_ms / 2);
    f.net.heal();
    f.queue.run_for(ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 1);
}

TEST_CASE("one-way link cut drops one direction only") {
    NetFixture f(1, one_ms());
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.set_link(0, 1, false);
    f.net.send_to(a, bytes_of("lost"), f.addr(1, 7000));
    f.net.send_to(b, bytes_of("back"), f.addr(0, 5000));
    f.queue.run_for(10 * ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 0);
    CHECK(f.net.readable_bytes(a) == 4);
    CHECK(f.count("net.drop", "reason", "link_disabled") == 1);
    f.net.set_link(0, 1, true);
    f.net.send_to(a, bytes_of("now"), f.addr(1, 7000));
    f.queue.run_for(10 * ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 3);
}

TEST_CASE("a clog holds packets and releases them in order, dropping none") {
    NetFixture f(1, one_ms());
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.clog(0, 1, 10 * ns_per_ms);
    for (char c : std::string("abc")) {
        f.net.send_to(a, bytes_of(std::string(1, c)), f.addr(1, 7000));
        f.queue.run_for(ns_per_ms);
    }
    f.net.send_to(b, bytes_of("r"), f.addr(0, 5000));  // the reverse path is not clogged
    f.queue.run_until(9 * ns_per_ms + ns_per_ms / 2);
    CHECK(f.net.readable_bytes(a) == 1);
    CHECK(f.net.readable_bytes(b) == 0);
    CHECK(f.count("net.hold") == 3);
    f.net.send_to(a, bytes_of("d"), f.addr(1, 7000));  // lands at 10.5 ms, after the release
    f.queue.run_until(20 * ns_per_ms);
    std::string order;
    std::array<std::byte, 1> buf{};
    while (f.net.recv_from(b, buf, nullptr).ok()) order += static_cast<char>(buf[0]);
    CHECK(order == "abcd");
    CHECK(f.count("net.drop") == 0);
    CHECK(f.count("net.unclog", "released", "3") == 1);
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name == "net.deliver" && field_u64(e, "to") == 1 && field_u64(e, "id") <= 2) CHECK(e.at_ns == 10 * ns_per_ms);
    }
}

TEST_CASE("unclog releases early") {
    NetFixture f(1, one_ms());
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.clog(0, 1, ns_per_s);
    f.net.send_to(a, bytes_of("q"), f.addr(1, 7000));
    f.queue.run_for(5 * ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 0);
    f.net.unclog(0, 1);
    f.queue.run_for(0);
    CHECK(f.net.readable_bytes(b) == 1);
}

TEST_CASE("a crashed node drops at delivery and loses its sockets - restart is a fresh incarnation") {
    NetFixture f(1, one_ms());
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 7000);
    f.net.crash(1);
    CHECK_FALSE(f.net.valid(b));
    CHECK(f.net.open(1, SocketType::datagram).error == EHOSTDOWN);
    f.net.send_to(a, bytes_of("x"), f.addr(1, 7000));
    f.queue.run_for(5 * ns_per_ms);
    CHECK(f.count("net.drop", "reason", "destination_down") == 1);
    f.net.restart(1);
    CHECK(f.net.node_incarnation(1) == 1);
    const SocketId b2 = f.udp(1, 7000);  // the port is free again
    f.net.send_to(a, bytes_of("y"), f.addr(1, 7000));
    f.queue.run_for(5 * ns_per_ms);
    CHECK(f.net.readable_bytes(b2) == 1);
}

TEST_CASE("partition dynamics respect both stability floors exactly") {
    NetOptions o = one_ms();
    NetFixture f(3, o, 3);
    f.net.set_partition_dynamics(
        "partition_rate=always unpartition_rate=always partition_stability_ns_min=1s "
        "unpartition_stability_ns_min=2s partition_tick_ns=100ms");
    f.queue.run_until(10 * ns_per_s);
    std::vector<std::pair<Ns, std::string>> seen;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name == "net.auto_partition") seen.emplace_back(e.at_ns, value_text(*e.find("action")));
    }
    // Healed at 0: the first partition may start at 2 s; each lasts 1 s.
    const std::vector<std::pair<Ns, std::string>> expected = {
        {2 * ns_per_s, "partition"}, {3 * ns_per_s, "heal"}, {5 * ns_per_s, "partition"},
        {6 * ns_per_s, "heal"},      {8 * ns_per_s, "partition"}, {9 * ns_per_s, "heal"}};
    CHECK(seen == expected);
}

TEST_CASE("random partition dynamics never break the floors and isolate one node") {
    NetOptions o = one_ms();
    o.partition_rate = Rate::percent(30);
    o.unpartition_rate = Rate::percent(30);
    o.partition_stability_ns_min = 500 * ns_per_ms;
    o.unpartition_stability_ns_min = ns_per_s;
    NetFixture f(11, {}, 3);
    f.net.set_options(o);
    f.queue.run_until(120 * ns_per_s);
    Ns last = 0;
    bool partitioned = false;
    int partitions = 0;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name != "net.auto_partition") continue;
        const std::string action = value_text(*e.find("action"));
        CHECK(action == (partitioned ? "heal" : "partition"));
        CHECK(e.at_ns - last >= (partitioned ? o.partition_stability_ns_min : o.unpartition_stability_ns_min));
        if (!partitioned) {
            ++partitions;
            const std::string side = value_text(*e.find("side"));
            CHECK(side.size() == 1);  // isolate_single: one node id
        }
        partitioned = !partitioned;
        last = e.at_ns;
    }
    CHECK(partitions >= 5);
}

TEST_CASE("enabling duplication does not shift the latency of other packets") {
    auto latencies = [](bool duplicate) {
        NetOptions o = one_ms();
        o.latency_ns_jitter = ns_per_ms;
        if (duplicate) o.duplicate_rate = Rate::percent(50);
        NetFixture f(5, o);
        const SocketId a = f.udp(0, 5000);
        f.udp(1, 7000);
        for (int i = 0; i < 20; ++i) f.net.send_to(a, bytes_of("m"), f.addr(1, 7000));
        std::vector<std::string> out;
        for (const TraceEvent& e : f.trace.events()) {
            if (e.name == "net.send") out.push_back(value_text(*e.find("latency_ns")));
        }
        return out;
    };
    CHECK(latencies(false) == latencies(true));
}

TEST_CASE("clog_node holds every path into and out of a node") {
    NetFixture f(1, one_ms(), 3);
    const SocketId a = f.udp(0, 9000);
    const SocketId b = f.udp(1, 9000);
    const SocketId c = f.udp(2, 9000);
    f.net.clog_node(1, 50 * ns_per_ms);
    f.net.send_to(a, bytes_of("1"), f.addr(1, 9000));
    f.net.send_to(b, bytes_of("2"), f.addr(2, 9000));
    f.net.send_to(a, bytes_of("3"), f.addr(2, 9000));
    f.queue.run_for(10 * ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 0);
    CHECK(f.net.readable_bytes(c) == 1);  // only 0 -> 2 was free
    f.queue.run_for(50 * ns_per_ms);
    CHECK(f.net.readable_bytes(b) == 1);
    CHECK(f.count("net.unclog") == 4);
    CHECK(f.count("net.drop") == 0);
}

TEST_CASE("uniform_split dynamics cut the nodes into two non-empty sides") {
    NetFixture f(21, one_ms(), 5);
    f.net.set_partition_dynamics("partition_rate=always unpartition_rate=always partition_mode=uniform_split");
    f.queue.run_until(3 * ns_per_s);
    int partitions = 0;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name != "net.auto_partition" || value_text(*e.find("action")) != "partition") continue;
        ++partitions;
        const std::string side = value_text(*e.find("side"));
        const std::size_t members = side.empty() ? 0 : 1 + static_cast<std::size_t>(std::count(side.begin(), side.end(), ','));
        CHECK(members >= 1);
        CHECK(members <= 4);
    }
    CHECK(partitions == 15);  // partition and heal alternate every 100 ms tick
}

TEST_CASE("latency_tail_rate makes some packets slow, within the bound") {
    NetOptions o = one_ms();
    NetFixture f(4, o);
    f.net.set_latency("latency_tail_rate=25% latency_tail_ns_max=50ms");
    const SocketId a = f.udp(0, 5000);
    f.udp(1, 7000);
    for (int i = 0; i < 200; ++i) f.net.send_to(a, bytes_of("t"), f.addr(1, 7000));
    std::size_t slow = 0;
    for (const TraceEvent& e : f.trace.events()) {
        if (e.name != "net.send") continue;
        const std::uint64_t latency = field_u64(e, "latency_ns");
        CHECK(latency >= ns_per_ms);
        CHECK(latency <= ns_per_ms + 50 * ns_per_ms);
        slow += latency > ns_per_ms ? 1 : 0;
    }
    CHECK(slow > 25);   // ~50 expected of 200
    CHECK(slow < 100);
}

TEST_CASE("turning partition dynamics off heals the partition they made") {
    NetFixture f(1, one_ms(), 3);
    f.net.set_partition_dynamics("partition_rate=always unpartition_rate=never");
    f.queue.run_for(ns_per_s);
    REQUIRE(f.count("net.auto_partition", "action", "partition") == 1);
    f.net.set_partition_dynamics("partition_rate=never");
    CHECK(f.count("net.auto_partition", "reason", "disabled") == 1);
    const SocketId a = f.udp(0, 5000);
    const SocketId b = f.udp(1, 5000);
    const SocketId c = f.udp(2, 5000);
    f.net.send_to(a, bytes_of("1"), f.addr(1, 5000));
    f.net.send_to(b, bytes_of("2"), f.addr(2, 5000));
    f.net.send_to(c, bytes_of("3"), f.addr(0, 5000));
    f.queue.run_for(ns_per_s);
    CHECK(f.count("net.drop") == 0);
    CHECK(f.queue.size() == 0);  // and no tick is left scheduled
}
