// The resolver of a cluster run: getaddrinfo, gethostbyname and
// gethostbyname2 answer the names of the run's nodes (MARIONETTE_HOSTS,
// read by sockets.cpp) with their simulated addresses, 10.0.0.N, or fd00::N
// when IPv6 is asked for (docs/network-model.md, "The resolver"). Any other
// name goes to glibc.
//
// The rules of interpose/ apply, except getaddrinfo's results: they are
// malloc'd as glibc's are, so freeaddrinfo frees them.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>

#include "interpose/shim.hpp"
#include "interpose/sockets.hpp"


MARIONETTE_EXPORT int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                                  struct addrinfo** result) {
    using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
    static std::atomic<Real> real{nullptr};
    marionette::shim::ensure_init();
    const std::optional<std::uint32_t> address = marionette::shim::resolve_host(node);
    if (!address) return marionette::shim::next_symbol(real, "getaddrinfo")(node, service, hints, result);
    // AF_UNSPEC answers IPv4 only, as glibc does with AI_ADDRCONFIG on a host
    // without IPv6 addresses; AF_INET6 answers the node's fd00::N.
    const int family = hints != nullptr && hints->ai_family == AF_INET6 ? AF_INET6 : AF_INET;
    if (hints != nullptr && hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET && hints->ai_family != AF_INET6) {
        return EAI_FAMILY;
    }
    long port = 0;
    if (service != nullptr) {
        char* end = nullptr;
        port = std::strtol(service, &end, 10);
        if (end == nullptr || *end != '\0' || port < 0 || port > 65535) {
            const servent* entry = getservbyname(service, nullptr);
            if (entry == nullptr) return EAI_SERVICE;
            port = ntohs(static_cast<std::uint16_t>(entry->s_port));
        }
    }
    // One entry per socket type asked for (both when none is), each with its
    // address in the same allocation, as glibc lays them out.
    const int types[2] = {SOCK_STREAM, SOCK_DGRAM};
    struct addrinfo* head = nullptr;
    struct addrinfo** tail = &head;
    for (int type : types) {
        if (hints != nullptr && hints->ai_socktype != 0 && hints->ai_socktype != type) continue;
        auto* entry = static_cast<struct addrinfo*>(std::calloc(1, sizeof(struct addrinfo) + sizeof(sockaddr_in6)));
        if (entry == nullptr) {
            freeaddrinfo(head);
            return EAI_MEMORY;
        }
        if (family == AF_INET6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(entry + 1);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(static_cast<std::uint16_t>(port));
            in6->sin6_addr = marionette::shim::ipv6_name(*address);
            entry->ai_addrlen = sizeof(sockaddr_in6);
            entry->ai_addr = reinterpret_cast<sockaddr*>(in6);
        } else {
            auto* in = reinterpret_cast<sockaddr_in*>(entry + 1);
            in->sin_family = AF_INET;
            in->sin_port = htons(static_cast<std::uint16_t>(port));
            in->sin_addr.s_addr = htonl(*address);
            entry->ai_addrlen = sizeof(sockaddr_in);
            entry->ai_addr = reinterpret_cast<sockaddr*>(in);
        }
        entry->ai_family = family;
        entry->ai_socktype = type;
        entry->ai_protocol = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
        *tail = entry;
        tail = &entry->ai_next;
    }
    *result = head;
    return head == nullptr ? EAI_SOCKTYPE : 0;
}

namespace {

/// A node's hostent (glibc's static-result contract: valid until the
/// thread's next call).
struct hostent* node_hostent(const char* name, std::uint32_t address, int family) {
    static thread_local in6_addr stored;  // an in_addr in its first bytes for AF_INET
    static thread_local char* list[2];
    static thread_local char* no_aliases[1] = {nullptr};
    static thread_local char host_name[64];
    static thread_local struct hostent entry;
    stored = {};
    if (family == AF_INET6) {
        stored = marionette::shim::ipv6_name(address);
    } else {
        const in_addr v4{htonl(address)};
        std::memcpy(&stored, &v4, sizeof v4);
    }
    list[0] = reinterpret_cast<char*>(&stored);
    list[1] = nullptr;
    std::strncpy(host_name, name, sizeof host_name - 1);
    entry.h_name = host_name;
    entry.h_aliases = no_aliases;
    entry.h_addrtype = family;
    entry.h_length = family == AF_INET6 ? sizeof(in6_addr) : sizeof(in_addr);
    entry.h_addr_list = list;
    return &entry;
}

}  // namespace

MARIONETTE_EXPORT struct hostent* gethostbyname(const char* name) {
    using Real = struct hostent* (*)(const char*);
    static std::atomic<Real> real{nullptr};
    marionette::shim::ensure_init();
    const std::optional<std::uint32_t> address = marionette::shim::resolve_host(name);
    if (!address) return marionette::shim::next_symbol(real, "gethostbyname")(name);
    return node_hostent(name, *address, AF_INET);
}

MARIONETTE_EXPORT struct hostent* gethostbyname2(const char* name, int family) {
    using Real = struct hostent* (*)(const char*, int);
    static std::atomic<Real> real{nullptr};
    marionette::shim::ensure_init();
    const std::optional<std::uint32_t> address = marionette::shim::resolve_host(name);
    if (!address || (family != AF_INET && family != AF_INET6)) {
        return marionette::shim::next_symbol(real, "gethostbyname2")(name, family);
    }
    return node_hostent(name, *address, family);
}
