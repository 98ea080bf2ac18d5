// The network guard: traffic never leaves the machine.
//
// Outside a cluster run sockets are the real kernel's — but only towards
// this machine (in a cluster run AF_INET and AF_INET6 sockets are
// simulated: sockets.cpp). connect, sendto, sendmsg and sendmmsg aimed at
// anything but loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), a Unix
// socket or another local family are refused with ENETUNREACH, a warning
// and a `determinism.escape network=<call>` trace line; they are never
// passed to the real kernel. Simulated node addresses (10.0.0.N, fd00::N)
// exist only on simulated sockets.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "interpose/sockets.hpp"

namespace marionette::shim {
namespace {

/// True if a destination address stays on this machine.
bool local_destination(const void* address, long length) {
    if (address == nullptr || length < static_cast<long>(sizeof(sa_family_t))) return true;  // connected socket
    sa_family_t family = 0;
    std::memcpy(&family, address, sizeof family);
    if (family == AF_INET) {
        if (length < static_cast<long>(sizeof(sockaddr_in))) return false;
        sockaddr_in in{};
        std::memcpy(&in, address, sizeof in);
        return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
    }
    if (family == AF_INET6) {
        if (length < static_cast<long>(sizeof(sockaddr_in6))) return false;
        sockaddr_in6 in6{};
        std::memcpy(&in6, address, sizeof in6);
        const unsigned char* b = in6.sin6_addr.s6_addr;
        static const unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::memcmp(b, loopback, 16) == 0 || (std::memcmp(b, mapped, 12) == 0 && b[12] == 127);
    }
    // AF_UNIX, AF_NETLINK and other families stay on the machine; AF_PACKET
    // could reach the wire but needs a raw socket (CAP_NET_RAW).
    return family != AF_PACKET;
}

long refuse(const char* call) {
    static bool warned = false;
    if (!warned) {
        warned = true;
        warn("refused a network call to a non-loopback address (only 127.0.0.0/8 and ::1 are reachable under "
             "Marionette; simulated node addresses come with the simulated network)");
    }
    locked_kernel().emit_escape("network", call);
    return -ENETUNREACH;
}

long raw(const SyscallArgs& a) { return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); }

}  // namespace

long handle_connect(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) return sim_connect(a);
    return local_destination(reinterpret_cast<const void*>(a.a[1]), static_cast<int>(a.a[2])) ? raw(a) : refuse("connect");
}

long handle_sendto(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) return sim_sendto(a);
    return local_destination(reinterpret_cast<const void*>(a.a[4]), static_cast<int>(a.a[5])) ? raw(a) : refuse("sendto");
}

long handle_sendmsg(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) return sim_sendmsg(a);
    const auto* msg = reinterpret_cast<const msghdr*>(a.a[1]);
    if (msg != nullptr && !local_destination(msg->msg_name, msg->msg_namelen)) return refuse("sendmsg");
    return raw(a);
}

long handle_sendmmsg(SyscallArgs& a) {
    if (simulated_socket(a.a[0])) {
        // One message at a time through the simulated socket's sendmsg.
        auto* messages = reinterpret_cast<mmsghdr*>(a.a[1]);
        const auto count = static_cast<unsigned>(a.a[2]);
        unsigned sent = 0;
        for (; sent < count; ++sent) {
            SyscallArgs one{SYS_sendmsg, {a.a[0], reinterpret_cast<long>(&messages[sent].msg_hdr), a.a[3], 0, 0, 0}, nullptr};
            const long n = sim_sendmsg(one);
            if (n < 0) return sent > 0 ? static_cast<long>(sent) : n;
            messages[sent].msg_len = static_cast<unsigned>(n);
        }
        return sent;
    }
    const auto* msgs = reinterpret_cast<const mmsghdr*>(a.a[1]);
    for (long i = 0; msgs != nullptr && i < static_cast<unsigned>(a.a[2]); ++i) {
        if (!local_destination(msgs[i].msg_hdr.msg_name, msgs[i].msg_hdr.msg_namelen)) return refuse("sendmmsg");
    }
    return raw(a);
}

}  // namespace marionette::shim
