// Option text parsing, addresses and the resolver.
#include <catch2/catch.hpp>

#include "net_fixture.hpp"
#include "sim/net/options.hpp"

using namespace marionette;

TEST_CASE("net options parse rates and durations by key") {
    NetOptions o;
    const auto keys = apply_net_options(o, "drop_rate=1/8 latency_ns_jitter=2ms, tcp_timeout_ns=45s udp_queue_capacity=3");
    CHECK(keys == std::vector<std::string>{"drop_rate", "latency_ns_jitter", "tcp_timeout_ns", "udp_queue_capacity"});
    CHECK(o.drop_rate == Rate::ratio(1, 8));
    CHECK(o.latency_ns_jitter == 2 * ns_per_ms);
    CHECK(o.tcp_timeout_ns == 45 * ns_per_s);
    CHECK(o.udp_queue_capacity == 3);
}

TEST_CASE("net options reject unknown keys and name the accepted ones") {
    NetOptions o;
    const NetOptions before = o;
    try {
        apply_net_options(o, "drop_rate=10% latency_ns_min=1ms", NetOptionGroup::lossiness);
        FAIL("expected an error");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        CHECK(what.find("unknown network option 'latency_ns_min'") != std::string::npos);
        CHECK(what.find("drop_rate") != std::string::npos);
        CHECK(what.find("tcp_timeout_ns") == std::string::npos);  // not in the lossiness group
    }
    CHECK(o == before);  // all or nothing: drop_rate was not applied
    CHECK_THROWS_WITH(apply_net_options(o, "drop_rate=150%"), Catch::Contains("drop_rate"));
    CHECK_THROWS_WITH(apply_net_options(o, "tcp_timeout_ns=soon"), Catch::Contains("tcp_timeout_ns"));
    CHECK_THROWS_WITH(apply_net_options(o, "drop_rate"), Catch::Contains("not key=value"));
    CHECK_THROWS_WITH(apply_net_options(o, "tcp_mss_bytes=0"), Catch::Contains("tcp_mss_bytes must be > 0"));
}

TEST_CASE("stability_ns_min sets both partition floors") {
    NetOptions o;
    apply_net_options(o, "partition_rate=1% unpartition_rate=always stability_ns_min=3s partition_mode=uniform_split",
                      NetOptionGroup::partition_dynamics);
    CHECK(o.partition_stability_ns_min == 3 * ns_per_s);
    CHECK(o.unpartition_stability_ns_min == 3 * ns_per_s);
    CHECK(o.partition_mode == PartitionMode::uniform_split);
    CHECK(o.unpartition_rate == Rate::always());
}

TEST_CASE("describe_net_options round-trips through apply_net_options") {
    NetOptions o;
    o.drop_rate = Rate::percent(30);
    o.latency_ns_jitter = 7;
    o.partition_mode = PartitionMode::uniform_split;
    std::string text;
    for (const auto& [key, value] : describe_net_options(o)) text += key + "=" + value + " ";
    NetOptions back;
    back.tcp_mss_bytes = 99;
    apply_net_options(back, text);
    CHECK(back == o);
}

TEST_CASE("ipv4 text parsing") {
    CHECK(parse_ipv4("10.0.0.2")->value == 0x0a000002u);
    CHECK(to_string(Ipv4{0x7f000001}) == "127.0.0.1");
    CHECK(to_string(SockAddr{Ipv4{0x0a000003}, 80}) == "10.0.0.3:80");
    CHECK_FALSE(parse_ipv4("10.0.0"));
    CHECK_FALSE(parse_ipv4("10.0.0.256"));
    CHECK_FALSE(parse_ipv4("10.0.0.1 "));
    CHECK_FALSE(parse_ipv4("a.b.c.d"));
}

TEST_CASE("nodes get 10.0.0.(n+1) and names resolve") {
    test::NetFixture f(1, {}, 3);
    CHECK(to_string(f.net.node_address(0)) == "10.0.0.1");
    CHECK(to_string(f.net.node_address(2)) == "10.0.0.3");
    CHECK(f.net.resolve("b") == f.net.node_address(1));
    CHECK(f.net.resolve("localhost") == ipv4_loopback);
    CHECK(f.net.resolve("10.9.9.9") == parse_ipv4("10.9.9.9"));
    CHECK_FALSE(f.net.resolve("nosuchhost"));
    CHECK(f.net.node_of(*parse_ipv4("10.0.0.3")) == NodeId{2});
    CHECK(f.net.add_node("db", parse_ipv4("192.168.1.7")) == 3);
    CHECK(to_string(*f.net.resolve("db")) == "192.168.1.7");
    CHECK_THROWS(f.net.add_node("a"));
    CHECK_THROWS(f.net.add_node("localhost"));
    CHECK_THROWS(f.net.add_node("10.1.2.3"));
    CHECK_THROWS(f.net.add_node("x", parse_ipv4("10.0.0.1")));
}

TEST_CASE("describe shows nodes, cuts, clogs and connect failures") {
    test::NetFixture f(1, {}, 3);
    f.net.set_link(0, 2, false);
    f.net.partition({{0}, {1}});
    f.net.clog(2, 1, ns_per_s);
    f.net.set_connect_failure(1, 0, true);
    f.net.crash(2);
    CHECK(f.net.node_named("c") == NodeId{2});
    CHECK_FALSE(f.net.node_named("zz"));
    const std::string text = f.net.describe();
    CHECK(text.starts_with("node id=0 name=a address=10.0.0.1 up=true incarnation=0\n"
                           "node id=1 name=b address=10.0.0.2 up=true incarnation=0\n"
                           "node id=2 name=c address=10.0.0.3 up=false incarnation=0\n"
                           "cut from=0 to=1 partition=true link=false auto=false\n"
                           "cut from=0 to=2 partition=false link=true auto=false\n"
                           "cut from=1 to=0 partition=true link=false auto=false\n"
                           "clog from=2 to=1 until_ns=1000000000 held=0\n"
                           "connect_failure from=1 to=0\n"
                           "options latency_ns_min=100000 "));
}

TEST_CASE("options that cannot work together are refused everywhere") {
    NetOptions bad;
    bad.tcp_ack_delay_ns = bad.tcp_rto_ns_min;
    CHECK_THROWS_WITH(validate_net_options(bad), Catch::Contains("tcp_ack_delay_ns"));
    EventQueue queue;
    CHECK_THROWS(Network(queue, nullptr, Prng(1), bad));
    Network net(queue, nullptr, Prng(1));
    CHECK_THROWS(net.set_options(bad));
    CHECK(net.options() == NetOptions{});
}
