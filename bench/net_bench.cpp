// Network model benchmark (issue 6).
//
// 1. Ping-pong: two nodes, one TCP connection, 64-byte request and 64-byte
//    reply per round trip; simulated round trips per wall-clock second.
// 2. Idle cluster: three nodes in a TCP mesh, each sending a 16-byte
//    heartbeat to each peer every virtual second, for one virtual hour;
//    wall time to get through it.
// Each runs with the trace off and with a Trace that hashes every event
// (what `--verify` needs) but writes nothing. Wall time is measured here
// only; the model itself never reads a clock. For scale, the same ping-pong
// over a real TCP connection on 127.0.0.1 (one thread, TCP_NODELAY) runs
// first; it is the only part that touches the OS.
//
//   marionette_net_bench [round_trips] [idle_hours]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/net/network.hpp"
#include "sim/trace.hpp"

namespace {

using namespace marionette;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs the queue until `socket` has `bytes` readable.
void wait_readable(EventQueue& queue, Network& net, SocketId socket, std::uint64_t bytes) {
    while (net.readable_bytes(socket) < bytes) {
        if (!queue.step()) std::abort();
    }
}

std::pair<SocketId, SocketId> connect(EventQueue& queue, Network& net, NodeId from, NodeId to, std::uint16_t port) {
    const SocketId l = net.open(to, SocketType::stream).value;
    net.bind(l, SockAddr{ipv4_any, port});
    net.listen(l, 16);
    const SocketId c = net.open(from, SocketType::stream).value;
    net.connect(c, SockAddr{net.node_address(to), port});
    NetResult s{EAGAIN, 0};
    while (!s.ok() || !net.readiness(c).writable) {
        if (!s.ok()) s = net.accept(l);
        if (!queue.step() && !s.ok()) std::abort();
    }
    return {c, s.value};
}

// Reads exactly n bytes from a blocking socket.
bool read_full(int fd, char* buf, std::size_t n) {
    for (std::size_t got = 0; got < n;) {
        const ssize_t r = ::read(fd, buf + got, n - got);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

void native_ping_pong(std::uint64_t round_trips) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener, 1) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::printf("native loopback ping-pong: skipped (no loopback socket)\n");
        return;
    }
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    const int server = ::accept(listener, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64] = {};
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < round_trips; ++i) {
        if (::write(client, buf, 64) != 64 || !read_full(server, buf, 64) || ::write(server, buf, 64) != 64 ||
            !read_full(client, buf, 64)) {
            std::printf("native loopback ping-pong: failed\n");
            break;
        }
    }
    const double wall = seconds_since(start);
    std::printf("native 127.0.0.1 TCP ping-pong 64 B (reference): %llu round trips in %.3f s wall = %.0f round trips/s\n",
                static_cast<unsigned long long>(round_trips), wall, static_cast<double>(round_trips) / wall);
    ::close(client);
    ::close(server);
    ::close(listener);
}

void ping_pong(std::uint64_t round_trips, bool traced, Ns ack_delay_ns = 0) {
    EventQueue queue;
    Trace trace;
    trace.set_clock([&] { return queue.now_ns(); });
    NetOptions options;
    options.tcp_ack_delay_ns = ack_delay_ns;
    Network net(queue, traced ? &trace : nullptr, Prng(1).derive("net"), options);
    net.add_node("client");
    net.add_node("server");
    auto [c, s] = connect(queue, net, 0, 1, 7000);
    std::vector<std::byte> message(64, std::byte{0x5a});
    std::vector<std::byte> buf(64);
    const Ns virtual_start = queue.now_ns();
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < round_trips; ++i) {
        net.send(c, message);
        wait_readable(queue, net, s, 64);
        net.recv(s, buf);
        net.send(s, buf);
        wait_readable(queue, net, c, 64);
        net.recv(c, buf);
    }
    const double wall = seconds_since(start);
    std::printf("ping-pong 64 B over TCP, trace %-6s%s: %llu round trips in %.3f s wall = %.0f round trips/s "
                "(%.1f virtual s, %llu packets, %llu events)\n",
                traced ? "hashed" : "off", ack_delay_ns != 0 ? ", delayed acks" : "",
                static_cast<unsigned long long>(round_trips), wall,
                static_cast<double>(round_trips) / wall, static_cast<double>(queue.now_ns() - virtual_start) / 1e9,
                static_cast<unsigned long long>(net.stats().packets_sent),
                static_cast<unsigned long long>(trace.size()));
}

void idle_cluster(std::uint64_t hours, bool traced) {
    EventQueue queue;
    Trace trace;
    trace.set_clock([&] { return queue.now_ns(); });
    Network net(queue, traced ? &trace : nullptr, Prng(1).derive("net"));
    for (const char* name : {"n0", "n1", "n2"}) net.add_node(name);
    // links[i][j]: node i's socket to node j.
    SocketId links[3][3] = {};
    std::uint16_t port = 7000;
    for (NodeId i = 0; i < 3; ++i) {
        for (NodeId j = i + 1; j < 3; ++j) {
            auto [c, s] = connect(queue, net, i, j, port++);
            links[i][j] = c;
            links[j][i] = s;
        }
    }
    // Readers wake through the readiness listener, as the kernel will: the
    // callback only schedules the read (it must not re-enter the network).
    std::uint64_t heartbeats_read = 0;
    net.set_readiness_listener([&](SocketId socket) {
        queue.schedule_after(0, [&, socket] {
            std::byte buf[256];
            while (true) {
                const NetResult r = net.recv(socket, buf);
                if (!r.ok() || r.value == 0) break;
                heartbeats_read += r.value / 16;
            }
        });
    });
    const std::vector<std::byte> heartbeat(16, std::byte{1});
    std::function<void(NodeId)> beat = [&](NodeId node) {
        for (NodeId peer = 0; peer < 3; ++peer) {
            if (peer != node) net.send(links[node][peer], heartbeat);
        }
        queue.schedule_after(ns_per_s, [&, node] { beat(node); });
    };
    for (NodeId node = 0; node < 3; ++node) queue.schedule_after(ns_per_s + node * 1000, [&, node] { beat(node); });
    const auto start = std::chrono::steady_clock::now();
    queue.run_for(hours * 3600 * ns_per_s);
    const double wall = seconds_since(start);
    std::printf("idle 3-node cluster, 1 heartbeat/s per link, trace %-6s: %llu virtual h in %.3f s wall "
                "(%.0f virtual s per wall s, %llu heartbeats read, %llu packets)\n",
                traced ? "hashed" : "off", static_cast<unsigned long long>(hours), wall,
                static_cast<double>(hours * 3600) / wall, static_cast<unsigned long long>(heartbeats_read),
                static_cast<unsigned long long>(net.stats().packets_sent));
}

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t round_trips = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
    const std::uint64_t hours = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    native_ping_pong(round_trips);
    ping_pong(round_trips, false);
    ping_pong(round_trips, true);
    ping_pong(round_trips, true, 40 * ns_per_ms);
    idle_cluster(hours, false);
    idle_cluster(hours, true);
    return 0;
}
