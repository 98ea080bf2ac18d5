// Sockets on the simulated network (cluster runs, MARIONETTE_NET=sim).
//
// An AF_INET socket of a simulated process is one end of a real socketpair
// whose other end the coordinator relays through the network model
// (coordinator/socket_relay.hpp). The data path — read, write, send, recv,
// poll, epoll — is native on that descriptor; the calls that name addresses
// or change the socket's state (socket, bind, listen, connect, accept,
// getsockname, getpeername, SO_ERROR, shutdown) go to the coordinator.
// Datagram sockets carry an 8-byte address header in front of every message
// on the socketpair, added and stripped here. Names of nodes resolve to
// their 10.0.0.N addresses (MARIONETTE_HOSTS) and to fd00::N for AF_INET6
// (resolver.cpp).
//
// IPv6: the model's addresses are IPv4; an AF_INET6 socket's addresses are
// translated here. `::` is 0.0.0.0, `::1` is 127.0.0.1 and `fd00::X` is
// 10.0.0.0 + X (the node 10.0.0.N is fd00::N), each sent with
// net_flag_ipv6; `::ffff:a.b.c.d` is a.b.c.d without it (IPv4 on the wire).
// The coordinator says with every address it returns whether it is an
// IPv6 one or a v4-mapped one (a dual-stack listener's IPv4 peer).
//
// The rules of interpose/ apply.
#include "interpose/sockets.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "interpose/channel.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "marionette/wire_client.hpp"

namespace marionette::shim {
namespace {

constexpr long max_socket_fd = 4096;
constexpr std::size_t header_bytes = 8;
constexpr int max_hosts = 64;

struct SimSocket {
    std::atomic<std::uint64_t> id{0};  // 0: not a simulated socket
    std::atomic<bool> datagram{false};
    std::atomic<bool> ipv6{false};     // AF_INET6
    std::atomic<bool> v6_only{false};  // IPV6_V6ONLY
};
SimSocket sockets[max_socket_fd];
bool net_sim = false;

struct Host {
    char name[64] = {};
    std::uint32_t ipv4 = 0;  // host order
};
Host hosts[max_hosts];
int host_count = 0;

long raw(const SyscallArgs& a) { return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); }

SimSocket* find(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    if (fd < 0 || fd >= max_socket_fd || sockets[fd].id.load(std::memory_order_relaxed) == 0) return nullptr;
    return &sockets[fd];
}

/// One network call: the reply's descriptor (socket, accept) lands in `fd`.
long net_call(wire::NetRequest request, wire::NetAnswer& answer, int* fd = nullptr) {
    const int conn = connection();
    if (conn < 0) return -ENETDOWN;
    request.now_ns = now_realtime_ns();
    // Over the socket (the reply may carry a descriptor), after whatever
    // the channel still holds.
    Exchange exchange(conn, 0, sizeof(wire::Header) + sizeof(wire::SyscallReply) + sizeof answer, true);
    wire::Header header;
    header.kind = static_cast<std::uint16_t>(wire::Kind::net);
    header.payload_bytes = sizeof request;
    header.sequence = next_sequence();
    iovec out[2] = {{&header, sizeof header}, {&request, sizeof request}};
    if (!wire::detail::send_all<SocketIo>(conn, out, 2)) return -ENETDOWN;
    // The reply's first byte may carry a descriptor.
    wire::Header reply_header;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    iovec in{&reply_header, sizeof reply_header};
    msghdr msg{};
    msg.msg_iov = &in;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    long got;
    do {
        got = raw_syscall(SYS_recvmsg, conn, arg(&msg), MSG_CMSG_CLOEXEC);
    } while (got == -EINTR);
    if (got <= 0) return -ENETDOWN;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd != nullptr) std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
    if (got < static_cast<long>(sizeof reply_header) &&
        !wire::detail::read_all<SocketIo>(conn, reinterpret_cast<char*>(&reply_header) + got, sizeof reply_header - static_cast<std::size_t>(got))) {
        return -ENETDOWN;
    }
    wire::SyscallReply reply;
    if (!wire::detail::read_all<SocketIo>(conn, &reply, sizeof reply) || reply.out_bytes != sizeof answer ||
        !wire::detail::read_all<SocketIo>(conn, &answer, sizeof answer)) {
        return -ENETDOWN;
    }
    absorb_reply_time(reply.now_ns, reply.horizon_ns);
    return static_cast<long>(reply.result);
}

long request_on(wire::NetOp op, long fd, std::int64_t value = 0) {
    wire::NetRequest request;
    request.op = op;
    request.socket = find(fd)->id.load();
    request.arg = value;
    wire::NetAnswer answer;
    return net_call(request, answer);
}

/// An address of a simulated socket as the model sees it: IPv4, plus
/// whether it stands for an IPv6 address (net_flag_ipv6).
struct SimAddress {
    std::uint32_t ipv4 = 0;  // host order
    std::uint16_t port = 0;
    bool v6 = false;
};

constexpr std::uint32_t node_net = 0x0a000000;  // 10.0.0.0/8: node addresses, fd00::/104 in IPv6

/// Reads a sockaddr given to a simulated socket: 0, or -EINVAL (too short),
/// -EAFNOSUPPORT (another family), or `unknown` for an IPv6 address that
/// names nothing in the simulation (EADDRNOTAVAIL for bind, ENETUNREACH for
/// connect and sendto).
long parse_address(long address, long length, const SimSocket& s, long unknown, SimAddress& out) {
    if (address == 0) return -EFAULT;
    if (!s.ipv6.load()) {
        if (length < static_cast<long>(sizeof(sockaddr_in))) return -EINVAL;
        sockaddr_in in{};
        std::memcpy(&in, reinterpret_cast<const void*>(address), sizeof in);
        if (in.sin_family != AF_INET) return -EAFNOSUPPORT;
        out = {ntohl(in.sin_addr.s_addr), ntohs(in.sin_port), false};
        return 0;
    }
    // Linux takes the RFC 2133 size (no sin6_scope_id) too.
    constexpr long rfc2133_bytes = 24;
    if (length < rfc2133_bytes) return -EINVAL;
    sockaddr_in6 in6{};
    std::memcpy(&in6, reinterpret_cast<const void*>(address), std::min<std::size_t>(static_cast<std::size_t>(length), sizeof in6));
    if (in6.sin6_family != AF_INET6) return -EAFNOSUPPORT;
    const unsigned char* b = in6.sin6_addr.s6_addr;
    auto zero = [&](int from, int to) {
        for (int i = from; i < to; ++i) {
            if (b[i] != 0) return false;
        }
        return true;
    };
    const std::uint32_t low = static_cast<std::uint32_t>(b[12]) << 24 | static_cast<std::uint32_t>(b[13]) << 16 |
                              static_cast<std::uint32_t>(b[14]) << 8 | b[15];
    out.port = ntohs(in6.sin6_port);
    if (zero(0, 16)) {
        out.ipv4 = 0;  // ::
        out.v6 = true;
    } else if (zero(0, 15) && b[15] == 1) {
        out.ipv4 = 0x7f000001;  // ::1
        out.v6 = true;
    } else if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) {
        if (s.v6_only.load()) return unknown;  // ::ffff:a.b.c.d on an IPV6_V6ONLY socket
        out.ipv4 = low;
        out.v6 = false;
    } else if (b[0] == 0xfd && zero(1, 13)) {
        out.ipv4 = node_net | (low & 0x00ffffff);  // fd00::N
        out.v6 = true;
    } else {
        return unknown;
    }
    return 0;
}

/// The IPv6 form of a model address: `::`, `::1`, `fd00::N` when `v6`,
/// otherwise v4-mapped `::ffff:a.b.c.d`.
in6_addr v6_address(std::uint32_t ipv4, bool v6) {
    in6_addr out{};
    unsigned char* b = out.s6_addr;
    auto put_low = [&](std::uint32_t v) {
        b[12] = static_cast<unsigned char>(v >> 24);
        b[13] = static_cast<unsigned char>(v >> 16);
        b[14] = static_cast<unsigned char>(v >> 8);
        b[15] = static_cast<unsigned char>(v);
    };
    if (ipv4 == 0) {
        // ::
    } else if (v6 && (ipv4 >> 24) == 127) {
        b[15] = 1;  // ::1
    } else if (v6 && (ipv4 & 0xff000000) == node_net) {
        b[0] = 0xfd;  // fd00::N
        put_low(ipv4 & 0x00ffffff);
    } else {
        b[10] = b[11] = 0xff;  // ::ffff:a.b.c.d
        put_low(ipv4);
    }
    return out;
}

/// Writes an address where the caller asked for one (getsockname, accept,
/// recvfrom): a sockaddr_in, or on an IPv6 socket a sockaddr_in6 (IPv6
/// when `v6`, else v4-mapped).
void store_address(long address, long length_address, const SimSocket& s, SimAddress a) {
    auto* length = reinterpret_cast<socklen_t*>(length_address);
    if (address == 0 || length == nullptr) return;
    const socklen_t room = *length;
    if (!s.ipv6.load()) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_addr.s_addr = htonl(a.ipv4);
        in.sin_port = htons(a.port);
        std::memcpy(reinterpret_cast<void*>(address), &in, room < sizeof in ? room : sizeof in);
        *length = sizeof in;
        return;
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(a.port);
    in6.sin6_addr = v6_address(a.ipv4, a.v6);
    std::memcpy(reinterpret_cast<void*>(address), &in6, room < sizeof in6 ? room : sizeof in6);
    *length = sizeof in6;
}

void put_address(wire::NetRequest& request, const SimAddress& a) {
    request.ipv4 = a.ipv4;
    request.port = a.port;
    if (a.v6) request.flags |= wire::net_flag_ipv6;
}

SimAddress answered(const wire::NetAnswer& answer) {
    return {answer.ipv4, answer.port, (answer.flags & wire::net_flag_ipv6) != 0};
}

long adopt(int fd, bool datagram, std::uint64_t id, long flags, bool ipv6, bool v6_only = false) {
    if (fd < 0) return -EMFILE;
    if (fd >= max_socket_fd) {
        raw_syscall(SYS_close, fd);
        return -EMFILE;
    }
    if ((flags & SOCK_NONBLOCK) != 0) raw_syscall(SYS_fcntl, fd, F_SETFL, O_RDWR | O_NONBLOCK);
    if ((flags & SOCK_CLOEXEC) == 0) raw_syscall(SYS_fcntl, fd, F_SETFD, 0);
    sockets[fd].datagram.store(datagram, std::memory_order_relaxed);
    sockets[fd].ipv6.store(ipv6, std::memory_order_relaxed);
    sockets[fd].v6_only.store(v6_only, std::memory_order_relaxed);
    sockets[fd].id.store(id, std::memory_order_relaxed);
    return fd;
}

bool blocking(long fd) {
    const long flags = raw_syscall(SYS_fcntl, fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) == 0;
}

bool park_until(long fd, short events) {
    const int descriptor = static_cast<int>(fd);
    return block(wire::BlockWhat::poll, 0, 0, &descriptor, &events, 1) != -ENOSYS;
}

/// Sends on a simulated socket without blocking in the kernel while
/// holding the run token: parks until there is room.
long send_parked(long fd, msghdr& msg, long flags) {
    const bool wait = blocking(fd) && (flags & MSG_DONTWAIT) == 0;
    for (;;) {
        const long sent = raw_syscall(SYS_sendmsg, fd, arg(&msg), flags | MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent != -EAGAIN || !wait) return sent;
        if (!park_until(fd, POLLOUT)) return raw_syscall(SYS_sendmsg, fd, arg(&msg), flags | MSG_NOSIGNAL);
    }
}

/// A write on a simulated stream that the socketpair refused with EPIPE:
/// the relay refuses writes after the connection failed (or after
/// shutdown(SHUT_WR)). As Linux, a pending error (ECONNRESET, ETIMEDOUT)
/// is reported first, once; then EPIPE with SIGPIPE unless MSG_NOSIGNAL.
long stream_write_error(long fd, long error, long flags) {
    if (error != -EPIPE) return error;
    const long pending = request_on(wire::NetOp::take_error, fd);
    if (pending > 0 && pending != EBADF) return -pending;
    if ((flags & MSG_NOSIGNAL) == 0) raw_syscall(SYS_tgkill, real_pid(), real_tid(), SIGPIPE);
    return -EPIPE;
}

/// send/write on a simulated stream: a blocking socket writes everything
/// (parking while the socketpair is full), a non-blocking one what fits,
/// as Linux's TCP does.
long send_stream(long fd, const iovec* user_iov, std::size_t count, long flags) {
    const bool wait = blocking(fd) && (flags & MSG_DONTWAIT) == 0;
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += user_iov[i].iov_len;
    std::size_t done = 0;
    for (;;) {
        // The iovecs from `done` on, at most 64 at a time.
        iovec iov[64];
        std::size_t n_iov = 0, skip = done;
        for (std::size_t i = 0; i < count && n_iov < 64; ++i) {
            if (skip >= user_iov[i].iov_len && user_iov[i].iov_len != 0) {
                skip -= user_iov[i].iov_len;
                continue;
            }
            if (user_iov[i].iov_len == 0) continue;
            iov[n_iov++] = {static_cast<char*>(user_iov[i].iov_base) + skip, user_iov[i].iov_len - skip};
            skip = 0;
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = n_iov;
        const long sent = raw_syscall(SYS_sendmsg, fd, arg(&msg), (flags & ~MSG_NOSIGNAL) | MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            done += static_cast<std::size_t>(sent);
            if (done >= total || !wait) return static_cast<long>(done);
            continue;
        }
        if (sent == 0 || (sent == -EAGAIN && wait && park_until(fd, POLLOUT))) {
            if (sent == 0) return static_cast<long>(done);
            continue;
        }
        return done > 0 ? static_cast<long>(done) : stream_write_error(fd, sent, flags);
    }
}

/// The datagram header for a destination (all zero: the connected peer).
long encode_destination(long fd, long address, long address_length, unsigned char (&header)[header_bytes]) {
    std::memset(header, 0, header_bytes);
    if (address == 0) return 0;
    SimAddress to;
    if (const long error = parse_address(address, address_length, *find(fd), -ENETUNREACH, to); error != 0) return error;
    const std::uint32_t ip_net = htonl(to.ipv4);
    const std::uint16_t port_net = htons(to.port);
    std::memcpy(header, &ip_net, 4);
    std::memcpy(header + 4, &port_net, 2);
    header[6] = to.v6 ? 1 : 0;  // relay_header_ipv6
    return 0;
}

/// The source a datagram header names.
SimAddress decode_source(const unsigned char (&header)[header_bytes]) {
    std::uint32_t ip_net;
    std::uint16_t port_net;
    std::memcpy(&ip_net, header, 4);
    std::memcpy(&port_net, header + 4, 2);
    return {ntohl(ip_net), ntohs(port_net), (header[6] & 1) != 0};
}

long send_datagram(long fd, const void* data, std::size_t length, long address, long address_length, long flags) {
    unsigned char header[header_bytes];
    if (const long error = encode_destination(fd, address, address_length, header); error != 0) return error;
    iovec iov[2] = {{header, header_bytes}, {const_cast<void*>(data), length}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    const long sent = send_parked(fd, msg, flags);
    return sent < 0 ? sent : static_cast<long>(length);
}

}  // namespace

void sockets_init() {
    const char* mode = std::getenv("MARIONETTE_NET");
    net_sim = mode != nullptr && std::strcmp(mode, "sim") == 0;
    // "name=10.0.0.1,name=10.0.0.2"
    const char* text = std::getenv("MARIONETTE_HOSTS");
    while (net_sim && text != nullptr && *text != '\0' && host_count < max_hosts) {
        const char* equals = std::strchr(text, '=');
        if (equals == nullptr) break;
        const char* end = std::strchr(equals, ',');
        const std::size_t name_length = static_cast<std::size_t>(equals - text);
        char address[32] = {};
        const std::size_t address_length = end == nullptr ? std::strlen(equals + 1) : static_cast<std::size_t>(end - equals - 1);
        if (name_length < sizeof hosts[0].name && address_length < sizeof address) {
            std::memcpy(hosts[host_count].name, text, name_length);
            std::memcpy(address, equals + 1, address_length);
            in_addr parsed{};
            if (inet_pton(AF_INET, address, &parsed) == 1) hosts[host_count++].ipv4 = ntohl(parsed.s_addr);
        }
        if (end == nullptr) break;
        text = end + 1;
    }
}

bool simulated_network() { return net_sim && coordinated(); }
bool simulated_socket(long fd) { return find(fd) != nullptr; }
void forget_socket(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    if (fd >= 0 && fd < max_socket_fd) sockets[fd].id.store(0, std::memory_order_relaxed);
}
void copy_socket(long from, long to_arg) {
    const long to = static_cast<int>(to_arg);
    if (to < 0 || to >= max_socket_fd) return;
    const SimSocket* source = find(from);
    sockets[to].datagram.store(source != nullptr && source->datagram.load(), std::memory_order_relaxed);
    sockets[to].ipv6.store(source != nullptr && source->ipv6.load(), std::memory_order_relaxed);
    sockets[to].v6_only.store(source != nullptr && source->v6_only.load(), std::memory_order_relaxed);
    sockets[to].id.store(source != nullptr ? source->id.load() : 0, std::memory_order_relaxed);
}

in6_addr ipv6_name(std::uint32_t ipv4) { return v6_address(ipv4, true); }

std::optional<std::uint32_t> resolve_host(const char* name) {
    if (!net_sim || name == nullptr) return std::nullopt;
    for (int i = 0; i < host_count; ++i) {
        if (std::strcmp(hosts[i].name, name) == 0) return hosts[i].ipv4;
    }
    return std::nullopt;
}

long handle_socket(SyscallArgs& a) {
    const long domain = static_cast<int>(a.a[0]);
    const long type = static_cast<int>(a.a[1]) & 0xf;
    const long flags = static_cast<int>(a.a[1]) & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!simulated_network() || (domain != AF_INET && domain != AF_INET6)) return raw(a);
    if (type != SOCK_STREAM && type != SOCK_DGRAM) return -EPROTONOSUPPORT;
    wire::NetRequest request;
    request.op = wire::NetOp::socket;
    request.arg = type == SOCK_STREAM ? 1 : 2;
    if (domain == AF_INET6) request.flags = wire::net_flag_ipv6;
    wire::NetAnswer answer;
    int fd = -1;
    const long result = net_call(request, answer, &fd);
    if (result < 0) {
        if (fd >= 0) raw_syscall(SYS_close, fd);
        return result;
    }
    return adopt(fd, type == SOCK_DGRAM, answer.socket, flags, domain == AF_INET6);
}

long handle_bind(SyscallArgs& a) {
    if (find(a.a[0]) == nullptr) return raw(a);
    wire::NetRequest request;
    request.op = wire::NetOp::bind;
    request.socket = find(a.a[0])->id.load();
    SimAddress local;
    if (const long error = parse_address(a.a[1], static_cast<int>(a.a[2]), *find(a.a[0]), -EADDRNOTAVAIL, local); error != 0) {
        return error;
    }
    put_address(request, local);
    wire::NetAnswer answer;
    return net_call(request, answer);
}

long handle_listen(SyscallArgs& a) {
    if (find(a.a[0]) == nullptr) return raw(a);
    return request_on(wire::NetOp::listen, a.a[0], static_cast<int>(a.a[1]));
}

long sim_connect(SyscallArgs& a) {
    const long fd = a.a[0];
    wire::NetRequest request;
    request.op = wire::NetOp::connect;
    request.socket = find(fd)->id.load();
    SimAddress remote;
    if (const long error = parse_address(a.a[1], static_cast<int>(a.a[2]), *find(fd), -ENETUNREACH, remote); error != 0) {
        return error;
    }
    put_address(request, remote);
    wire::NetAnswer answer;
    long result = net_call(request, answer);
    if (result != -EINPROGRESS) return result;
    // Look again every virtual millisecond until the handshake is done or
    // failed (the model times it out). A non-blocking connect waits too:
    // the socketpair behind the socket is writable at once, so a program
    // polling for POLLOUT would otherwise believe it connected (hiredis
    // does, then connects again). It returns 0 or the error instead of
    // EINPROGRESS, which POSIX allows; the handshake costs its virtual time.
    for (;;) {
        if (block(wire::BlockWhat::poll, now_realtime_ns() + 1'000'000, 0, nullptr, nullptr, 0) == -ENOSYS) return -EINPROGRESS;
        result = request_on(wire::NetOp::connect_status, fd);
        if (result != -EINPROGRESS) return result;
    }
}

long sim_accept(SyscallArgs& a, long flags) {
    const long listener = a.a[0];
    for (;;) {
        wire::NetRequest request;
        request.op = wire::NetOp::accept;
        request.socket = find(listener)->id.load();
        wire::NetAnswer answer;
        int fd = -1;
        const long result = net_call(request, answer, &fd);
        if (result == 0 && fd >= 0) {
            // One byte on the listener stands for each queued connection.
            char token;
            raw_syscall(SYS_recvfrom, listener, arg(&token), 1, MSG_DONTWAIT, 0, 0);
            const SimSocket& l = *find(listener);
            store_address(a.a[1], a.a[2], l, answered(answer));
            return adopt(fd, false, answer.socket, flags, l.ipv6.load(), l.v6_only.load());
        }
        if (fd >= 0) raw_syscall(SYS_close, fd);
        if (result != -EAGAIN || !blocking(listener)) return result;
        if (!park_until(listener, POLLIN)) return result;
    }
}

long sim_name(SyscallArgs& a, wire::NetOp op) {
    wire::NetRequest request;
    request.op = op;
    request.socket = find(a.a[0])->id.load();
    wire::NetAnswer answer;
    const long result = net_call(request, answer);
    if (result == 0) store_address(a.a[1], a.a[2], *find(a.a[0]), answered(answer));
    return result;
}

long handle_getsockname(SyscallArgs& a) { return find(a.a[0]) == nullptr ? raw(a) : sim_name(a, wire::NetOp::getsockname); }
long handle_getpeername(SyscallArgs& a) { return find(a.a[0]) == nullptr ? raw(a) : sim_name(a, wire::NetOp::getpeername); }

long handle_shutdown(SyscallArgs& a) {
    if (find(a.a[0]) == nullptr) return raw(a);
    return request_on(wire::NetOp::shutdown, a.a[0], static_cast<int>(a.a[1]));
}

long handle_getsockopt(SyscallArgs& a) {
    SimSocket* s = find(a.a[0]);
    if (s == nullptr) return raw(a);
    const long level = static_cast<int>(a.a[1]);
    const long name = static_cast<int>(a.a[2]);
    auto* value = reinterpret_cast<int*>(a.a[3]);
    auto* length = reinterpret_cast<socklen_t*>(a.a[4]);
    auto answer_int = [&](int v) -> long {
        if (value == nullptr || length == nullptr || *length < sizeof(int)) return -EINVAL;
        *value = v;
        *length = sizeof(int);
        return 0;
    };
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_ERROR: {
                // EBADF: the coordinator let a failed socket go after its
                // error was reported; nothing is pending.
                const long error = request_on(wire::NetOp::take_error, a.a[0]);
                const int pending = error < 0 ? static_cast<int>(-error) : static_cast<int>(error);
                return answer_int(pending == EBADF ? 0 : pending);
            }
            case SO_TYPE: return answer_int(s->datagram.load() ? SOCK_DGRAM : SOCK_STREAM);
            case SO_DOMAIN: return answer_int(s->ipv6.load() ? AF_INET6 : AF_INET);
            case SO_PROTOCOL: return answer_int(s->datagram.load() ? IPPROTO_UDP : IPPROTO_TCP);
            case SO_SNDBUF:
            case SO_RCVBUF: {
                // The model's buffers, as Linux reports them (16384 and
                // 131072 for a fresh TCP socket), not the socketpair's.
                wire::NetRequest request;
                request.op = wire::NetOp::get_buffer;
                request.socket = s->id.load();
                if (name == SO_RCVBUF) request.flags = wire::net_flag_receive_buffer;
                wire::NetAnswer answer;
                const long bytes = net_call(request, answer);
                return bytes < 0 ? bytes : answer_int(static_cast<int>(bytes));
            }
            default: return raw(a);  // other socket-level options: the socketpair's
        }
    }
    if (level == IPPROTO_IPV6) {
        if (!s->ipv6.load()) return -ENOPROTOOPT;
        if (name == IPV6_V6ONLY) return answer_int(s->v6_only.load() ? 1 : 0);
    }
    return answer_int(0);  // TCP and IP options: the model has no knobs for them
}

long handle_setsockopt(SyscallArgs& a) {
    SimSocket* s = find(a.a[0]);
    if (s == nullptr) return raw(a);
    const long level = static_cast<int>(a.a[1]);
    const long name = static_cast<int>(a.a[2]);
    const auto* value = reinterpret_cast<const int*>(a.a[3]);
    const bool has_int = value != nullptr && a.a[4] >= static_cast<long>(sizeof(int));
    if ((level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) || (level == IPPROTO_IPV6 && name == IPV6_V6ONLY)) {
        if (!has_int) return -EINVAL;
        if (level == IPPROTO_IPV6 && !s->ipv6.load()) return -ENOPROTOOPT;
        wire::NetRequest request;
        request.socket = s->id.load();
        if (level == IPPROTO_IPV6) {
            request.op = wire::NetOp::set_v6_only;
            request.arg = *value != 0 ? 1 : 0;
        } else {
            // Linux reads the value as unsigned: a negative one is huge.
            request.op = wire::NetOp::set_buffer;
            request.arg = static_cast<std::int64_t>(static_cast<std::uint32_t>(*value));
            if (name == SO_RCVBUF) request.flags = wire::net_flag_receive_buffer;
        }
        wire::NetAnswer answer;
        const long result = net_call(request, answer);
        if (result == 0 && level == IPPROTO_IPV6) s->v6_only.store(*value != 0, std::memory_order_relaxed);
        return result;
    }
    if (level == IPPROTO_IPV6 && !s->ipv6.load()) return -ENOPROTOOPT;
    return 0;  // accepted; the simulated network does not model it
}

long sim_sendto(SyscallArgs& a) {
    const long fd = a.a[0];
    if (find(fd)->datagram.load()) {
        return send_datagram(fd, reinterpret_cast<const void*>(a.a[1]), static_cast<std::size_t>(a.a[2]), a.a[4], a.a[5], a.a[3]);
    }
    iovec iov{reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2])};
    return send_stream(fd, &iov, 1, a.a[3]);
}

long sim_sendmsg(SyscallArgs& a) {
    const long fd = a.a[0];
    const auto* user = reinterpret_cast<const msghdr*>(a.a[1]);
    if (user == nullptr) return -EFAULT;
    if (!find(fd)->datagram.load()) return send_stream(fd, user->msg_iov, user->msg_iovlen, a.a[2]);
    // A datagram: gather it behind the header.
    unsigned char header[header_bytes];
    if (const long error = encode_destination(fd, arg(user->msg_name), user->msg_namelen, header); error != 0) return error;
    iovec iov[65];
    iov[0] = {header, header_bytes};
    std::size_t count = 1, total = 0;
    for (std::size_t i = 0; i < user->msg_iovlen && count < 65; ++i, ++count) {
        iov[count] = user->msg_iov[i];
        total += user->msg_iov[i].iov_len;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const long sent = send_parked(fd, msg, a.a[2]);
    return sent < 0 ? sent : static_cast<long>(total);
}

long sim_write(SyscallArgs& a) {
    const long fd = a.a[0];
    if (a.nr == SYS_write) {
        iovec iov{reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2])};
        if (find(fd)->datagram.load()) return send_datagram(fd, iov.iov_base, iov.iov_len, 0, 0, 0);
        return send_stream(fd, &iov, 1, 0);
    }
    // writev
    if (a.a[2] < 0 || a.a[2] > IOV_MAX) return -EINVAL;
    msghdr msg{};
    msg.msg_iov = reinterpret_cast<iovec*>(a.a[1]);
    msg.msg_iovlen = static_cast<std::size_t>(a.a[2]);
    SyscallArgs as_sendmsg{SYS_sendmsg, {fd, arg(&msg), 0, 0, 0, 0}, nullptr};
    return sim_sendmsg(as_sendmsg);
}

long sim_read(SyscallArgs& a) {
    const long fd = a.a[0];
    iovec one{reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2])};
    msghdr msg{};
    if (a.nr == SYS_read) {
        msg.msg_iov = &one;
        msg.msg_iovlen = 1;
    } else {
        if (a.a[2] < 0 || a.a[2] > IOV_MAX) return -EINVAL;
        msg.msg_iov = reinterpret_cast<iovec*>(a.a[1]);
        msg.msg_iovlen = static_cast<std::size_t>(a.a[2]);
    }
    SyscallArgs as_recvmsg{SYS_recvmsg, {fd, arg(&msg), 0, 0, 0, 0}, nullptr};
    return sim_recvmsg(as_recvmsg);
}

long stream_read_result(long fd, long got, long asked) {
    if (got != 0 || asked <= 0) return got;
    SimSocket* s = find(fd);
    if (s == nullptr || s->datagram.load()) return got;
    // The relay ends a failed connection with EOF on the process's end; the
    // coordinator keeps why (SO_ERROR). A socket it already let go of
    // (EBADF) ended cleanly.
    const long error = request_on(wire::NetOp::take_error, fd);
    return error > 0 && error != EBADF ? -error : 0;
}

long sim_recvfrom(SyscallArgs& a) {
    const long fd = a.a[0];
    if (!find(fd)->datagram.load()) {
        const long got = raw_syscall(SYS_recvfrom, fd, a.a[1], a.a[2], a.a[3], 0, 0);
        if (got >= 0 && a.a[5] != 0) *reinterpret_cast<socklen_t*>(a.a[5]) = 0;
        return (a.a[3] & MSG_PEEK) != 0 ? got : stream_read_result(fd, got, a.a[2]);
    }
    unsigned char header[header_bytes];
    iovec iov[2] = {{header, header_bytes}, {reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2])}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    const long got = raw_syscall(SYS_recvmsg, fd, arg(&msg), a.a[3]);
    if (got < static_cast<long>(header_bytes)) return got < 0 ? got : 0;
    store_address(a.a[4], a.a[5], *find(fd), decode_source(header));
    return got - static_cast<long>(header_bytes);
}

long sim_recvmsg(SyscallArgs& a) {
    const long fd = a.a[0];
    auto* user = reinterpret_cast<msghdr*>(a.a[1]);
    if (user == nullptr) return -EFAULT;
    if (!find(fd)->datagram.load()) {
        user->msg_namelen = 0;
        long asked = 0;
        for (std::size_t i = 0; i < user->msg_iovlen; ++i) asked += static_cast<long>(user->msg_iov[i].iov_len);
        const long got = raw_syscall(SYS_recvmsg, fd, a.a[1], a.a[2]);
        return (a.a[2] & MSG_PEEK) != 0 ? got : stream_read_result(fd, got, asked);
    }
    unsigned char header[header_bytes];
    iovec iov[65];
    iov[0] = {header, header_bytes};
    std::size_t count = 1;
    for (std::size_t i = 0; i < user->msg_iovlen && count < 65; ++i, ++count) iov[count] = user->msg_iov[i];
    msghdr msg = *user;
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    msg.msg_name = nullptr;
    msg.msg_namelen = 0;
    const long got = raw_syscall(SYS_recvmsg, fd, arg(&msg), a.a[2]);
    user->msg_flags = msg.msg_flags;
    user->msg_controllen = msg.msg_controllen;
    if (got < static_cast<long>(header_bytes)) return got < 0 ? got : 0;
    if (user->msg_name != nullptr) {
        socklen_t length = user->msg_namelen;
        store_address(arg(user->msg_name), arg(&length), *find(fd), decode_source(header));
        user->msg_namelen = length;
    }
    return got - static_cast<long>(header_bytes);
}

}  // namespace marionette::shim
