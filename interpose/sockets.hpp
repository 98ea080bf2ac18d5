// Sockets on the simulated network (see sockets.cpp).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>

#include "interpose/shim_internal.hpp"

namespace marionette::shim {

/// Reads MARIONETTE_NET and MARIONETTE_HOSTS.
void sockets_init();
/// True in a cluster run with a coordinator: AF_INET sockets are simulated.
bool simulated_network();
/// True if `fd` is a simulated socket.
bool simulated_socket(long fd);
/// Descriptor bookkeeping for close and dup.
void forget_socket(long fd);
void copy_socket(long from, long to);
/// A node name's simulated address (host byte order).
std::optional<std::uint32_t> resolve_host(const char* name);
/// The IPv6 name of a node address: 10.0.0.N is fd00::N (127/8 is ::1).
in6_addr ipv6_name(std::uint32_t ipv4);

/// Calls on a simulated socket (the callers checked simulated_socket).
long sim_connect(SyscallArgs& args);
long sim_accept(SyscallArgs& args, long flags);
long sim_sendto(SyscallArgs& args);
long sim_sendmsg(SyscallArgs& args);
long sim_recvfrom(SyscallArgs& args);
long sim_recvmsg(SyscallArgs& args);
/// write/writev on a simulated socket: all of it when blocking (parked
/// while full), what fits when not; after a failed connection the error,
/// then EPIPE and SIGPIPE, as Linux.
long sim_write(SyscallArgs& args);
/// read/readv on a simulated socket (after waiting as the caller does):
/// the error of a failed stream at its end (stream_read_result), a
/// datagram without its address header.
long sim_read(SyscallArgs& args);
/// A read of `got` bytes (asked for `asked`) from simulated socket `fd`:
/// at the end of a stream whose connection was reset or timed out, the
/// error (-ECONNRESET, -ETIMEDOUT) instead of 0, once, as Linux reports it;
/// otherwise `got`.
long stream_read_result(long fd, long got, long asked);

#define MARIONETTE_SOCKET_HANDLERS(X) \
    X(socket) X(bind) X(listen) X(getsockname) X(getpeername) X(getsockopt) X(setsockopt) X(shutdown)

#define MARIONETTE_DECLARE_SOCKET(name) long handle_##name(SyscallArgs& args);
MARIONETTE_SOCKET_HANDLERS(MARIONETTE_DECLARE_SOCKET)
#undef MARIONETTE_DECLARE_SOCKET

}  // namespace marionette::shim
