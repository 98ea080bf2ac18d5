// The embedded API's sockets: AF_INET sockets of a simulation with nodes go
// through the simulated network; addresses name nodes; partitions, loss and
// timeouts behave as the network model says; blocking calls run the
// simulation's events, and a call that could never complete fails with
// EDEADLK instead of hanging.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "marionette/world.hpp"

using namespace marionette;

namespace {

sockaddr_in address(const std::string& ip, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    REQUIRE(::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) == 1);
    return a;
}

int udp_on(const std::string& ip, std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    const sockaddr_in a = address(ip, port);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

ssize_t send_to(int fd, const std::string& text, const sockaddr_in& to) {
    return ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

Ns monotonic() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<Ns>(t.tv_sec) * ns_per_s + static_cast<Ns>(t.tv_nsec);
}

SimulationOptions two_nodes() {
    SimulationOptions options;
    options.network.nodes = 2;
    return options;
}

}  // namespace

TEST_CASE("UDP between in-process nodes: the address names the node") {
    World world(1);
    Env env = world.simulate(two_nodes()).env();
    CHECK(env.node_address(0) == "10.0.0.1");
    CHECK(env.node_address(1) == "10.0.0.2");
    const int server = udp_on(env.node_address(0), 7000);
    const int client = udp_on(env.node_address(1), 0);
    CHECK(server >= 512);
    REQUIRE(send_to(client, "ping", address(env.node_address(0), 7000)) == 4);
    char buffer[16] = {};
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    // Blocking: runs the delivery event, then returns the datagram.
    REQUIRE(::recvfrom(server, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_length) == 4);
    CHECK(std::string(buffer, 4) == "ping");
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
    CHECK(std::string(text) == "10.0.0.2");
    CHECK(world.trace().summary().by_name.at("net.deliver") >= 1);
    CHECK(::close(server) == 0);
    CHECK(::close(client) == 0);
}

TEST_CASE("a partition drops datagrams; timeouts and deadlocks are reported, not hung") {
    World world(2);
    Simulation sim = world.simulate(two_nodes());
    Env env = sim.env();
    const int server = udp_on(env.node_address(0), 7000);
    const int client = udp_on(env.node_address(1), 0);
    sim.control().network().partition({0}, {1});
    REQUIRE(send_to(client, "lost", address(env.node_address(0), 7000)) == 4);
    char buffer[16];
    CHECK(::recv(server, buffer, sizeof buffer, MSG_DONTWAIT) == -1);
    CHECK(errno == EAGAIN);

    timeval timeout{0, 100'000};  // 100 ms of virtual time
    REQUIRE(::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
    const Ns before = monotonic();
    CHECK(::recv(server, buffer, sizeof buffer, 0) == -1);
    CHECK(errno == EAGAIN);
    CHECK(monotonic() - before >= 100 * ns_per_ms);

    timeval none{0, 0};
    REQUIRE(::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none) == 0);
    CHECK(::recv(server, buffer, sizeof buffer, 0) == -1);
    CHECK(errno == EDEADLK);
    CHECK(world.trace().summary().by_name.at("net.deadlock") == 1);

    sim.control().network().heal();
    REQUIRE(send_to(client, "back", address(env.node_address(0), 7000)) == 4);
    CHECK(::recv(server, buffer, sizeof buffer, 0) == 4);
}

TEST_CASE("TCP: connect, accept, send and receive between nodes, with poll") {
    World world(3);
    Env env = world.simulate(two_nodes()).env();
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in server_addr = address(env.node_address(0), 8000);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&server_addr), sizeof server_addr) == 0);
    REQUIRE(::listen(listener, 8) == 0);

    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in client_addr = address(env.node_address(1), 0);
    REQUIRE(::bind(client, reinterpret_cast<const sockaddr*>(&client_addr), sizeof client_addr) == 0);
    REQUIRE(::connect(client, reinterpret_cast<const sockaddr*>(&server_addr), sizeof server_addr) == 0);
    const int conn = ::accept(listener, nullptr, nullptr);
    REQUIRE(conn >= 0);

    REQUIRE(::write(client, "hello", 5) == 5);
    pollfd p{conn, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 1000) == 1);
    CHECK((p.revents & POLLIN) != 0);
    char buffer[8] = {};
    CHECK(::read(conn, buffer, sizeof buffer) == 5);
    CHECK(std::string(buffer, 5) == "hello");
    CHECK(::fcntl(conn, F_SETFL, O_NONBLOCK) == 0);
    CHECK(::read(conn, buffer, sizeof buffer) == -1);
    CHECK(errno == EAGAIN);
    ::close(client);
    ::close(conn);
    ::close(listener);
}

TEST_CASE("packet loss is seeded: the same seed drops the same datagrams") {
    const auto delivered = [](std::uint64_t seed) {
        World world(seed);
        Simulation sim = world.simulate(two_nodes());
        sim.control().network().set_lossiness({.drop_rate = Rate::percent(50)});
        const int server = udp_on(sim.env().node_address(0), 7000);
        const int client = udp_on(sim.env().node_address(1), 0);
        std::string pattern;
        for (int i = 0; i < 32; ++i) {
            send_to(client, "x", address(sim.env().node_address(0), 7000));
            sim.control().run_for(ns_per_ms);
            char c = 0;
            pattern += ::recv(server, &c, 1, MSG_DONTWAIT) == 1 ? '1' : '0';
        }
        return pattern;
    };
    const std::string a = delivered(10);
    CHECK(a == delivered(10));
    CHECK(a != delivered(11));
    CHECK(a.find('0') != std::string::npos);
    CHECK(a.find('1') != std::string::npos);
}

TEST_CASE("without a simulated network, sockets are the real kernel's") {
    World world(4);
    Simulation sim = world.simulate();
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    CHECK(fd < 512);
    ::close(fd);
    CHECK_THROWS_AS(sim.control().network().heal(), std::logic_error);
}
