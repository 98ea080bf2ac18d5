// IPv4 addresses and socket endpoints of the simulated network.
//
// The network model speaks in the same terms as the socket syscalls it will
// serve: an IPv4 address (kept in host byte order; the kernel converts from
// the guest's network-order sockaddr_in) and a port. Every node owns one
// address (10.0.0.(n+1) by default) plus the whole loopback range 127/8,
// which always means "this node". Pure value types, no OS calls.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace marionette {

/// Index of a node, 0..N-1.
using NodeId = std::uint32_t;

/// An IPv4 address in host byte order (10.0.0.1 is 0x0a000001).
struct Ipv4 {
    std::uint32_t value = 0;

    /// True for 127.0.0.0/8.
    constexpr bool is_loopback() const { return (value >> 24) == 127; }
    /// True for 0.0.0.0 (INADDR_ANY).
    constexpr bool is_any() const { return value == 0; }

    friend constexpr auto operator<=>(const Ipv4&, const Ipv4&) = default;
};

/// 0.0.0.0, the wildcard a socket binds to for "every address of my node".
inline constexpr Ipv4 ipv4_any{0};
/// 127.0.0.1.
inline constexpr Ipv4 ipv4_loopback{0x7f000001};

/// Parses dotted-quad text (`10.0.0.2`); nullopt if malformed.
std::optional<Ipv4> parse_ipv4(std::string_view text);
/// Dotted-quad text.
std::string to_string(Ipv4 address);

/// An (address, port) endpoint, as in a sockaddr_in.
struct SockAddr {
    Ipv4 ip;
    std::uint16_t port = 0;

    friend constexpr auto operator<=>(const SockAddr&, const SockAddr&) = default;
};

/// `10.0.0.2:7000`.
std::string to_string(SockAddr address);

}  // namespace marionette
