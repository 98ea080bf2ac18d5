// Shared scaffolding for the network model tests: a queue, a trace that
// keeps its events, a network of named nodes, and small socket helpers.
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "sim/event_queue.hpp"
#include "sim/net/network.hpp"
#include "sim/random.hpp"
#include "sim/trace.hpp"

namespace marionette::test {

inline std::vector<std::byte> bytes_of(std::string_view text) {
    std::vector<std::byte> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
    return out;
}

inline std::string text_of(std::span<const std::byte> bytes) {
    std::string out(bytes.size(), '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<char>(bytes[i]);
    return out;
}

struct NetFixture {
    explicit NetFixture(std::uint64_t seed = 1, NetOptions options = {}, std::size_t nodes = 2)
        : trace(TraceHeader{}, nullptr, true), net(queue, &trace, Prng(seed).derive("net"), options) {
        trace.set_clock([this] { return queue.now_ns(); });
        static const char* names[] = {"a", "b", "c", "d", "e", "f"};
        for (std::size_t i = 0; i < nodes; ++i) net.add_node(names[i]);
    }

    /// Text lines of the events named `prefix*`, without the `event=<n> ` part.
    std::vector<std::string> lines(std::string_view prefix = "net.") const {
        std::vector<std::string> out;
        for (const TraceEvent& event : trace.events()) {
            if (!event.name.starts_with(prefix)) continue;
            const std::string line = render_event(event, TraceFormat::text);
            out.push_back(line.substr(line.find(' ') + 1));
        }
        return out;
    }

    std::size_t count(std::string_view name, std::string_view key = {}, std::string_view value = {}) const {
        std::size_t n = 0;
        for (const TraceEvent& event : trace.events()) {
            if (event.name != name) continue;
            if (!key.empty()) {
                const TraceValue* v = event.find(key);
                if (v == nullptr || value_text(*v) != value) continue;
            }
            ++n;
        }
        return n;
    }

    SockAddr addr(NodeId node, std::uint16_t port) const { return SockAddr{net.node_address(node), port}; }

    SocketId udp(NodeId node, std::uint16_t port) {
        const SocketId s = net.open(node, SocketType::datagram).value;
        REQUIRE(net.bind(s, SockAddr{ipv4_any, port}) == 0);
        return s;
    }

    SocketId listener(NodeId node, std::uint16_t port, std::uint32_t backlog = 16) {
        const SocketId s = net.open(node, SocketType::stream).value;
        REQUIRE(net.bind(s, SockAddr{ipv4_any, port}) == 0);
        REQUIRE(net.listen(s, backlog) == 0);
        return s;
    }

    /// Connects node `from` to `to:port` and returns {client, server} once
    /// both ends are established (runs the queue up to `limit_ns`).
    std::pair<SocketId, SocketId> connect_pair(NodeId from, SocketId listener_socket, SockAddr to,
                                               Ns limit_ns = 60 * ns_per_s) {
        const SocketId c = net.open(from, SocketType::stream).value;
        REQUIRE(net.connect(c, to) == EINPROGRESS);
        const Ns deadline = queue.now_ns() + limit_ns;
        NetResult accepted{EAGAIN, 0};
        while (queue.now_ns() <= deadline) {
            if (!accepted.ok()) accepted = net.accept(listener_socket);
            if (accepted.ok() && net.readiness(c).writable) break;
            if (!queue.step()) break;
        }
        REQUIRE(accepted.ok());
        REQUIRE(net.take_error(c) == 0);
        REQUIRE(net.readiness(c).writable);
        return {c, accepted.value};
    }

    EventQueue queue;
    Trace trace;
    Network net;
};

}  // namespace marionette::test
