// A UDP endpoint for in-process nodes: plain POSIX sockets, non-blocking,
// with fixed 17-byte messages (kind, version, value). Production-shaped: the
// same code runs on the simulated network and on real loopback.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace udp {

struct Message {
    std::uint8_t kind = 0;
    std::uint64_t version = 0;
    std::uint64_t value = 0;
};

struct Received {
    Message message;
    sockaddr_in from;
};

inline std::uint64_t monotonic_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(t.tv_nsec);
}

class Endpoint {
public:
    /// A non-blocking datagram socket bound to `ip` on an ephemeral port.
    explicit Endpoint(const std::string& ip) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
        address_.sin_family = AF_INET;
        if (::inet_pton(AF_INET, ip.c_str(), &address_.sin_addr) != 1) throw std::invalid_argument("bad ip " + ip);
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address_), sizeof address_) != 0) {
            throw std::system_error(errno, std::generic_category(), "bind " + ip);
        }
        socklen_t length = sizeof address_;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address_), &length);
    }
    ~Endpoint() {
        if (fd_ >= 0) ::close(fd_);
    }
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    int fd() const { return fd_; }
    const sockaddr_in& address() const { return address_; }

    void send(const sockaddr_in& to, const Message& m) const {
        unsigned char bytes[17];
        bytes[0] = m.kind;
        std::memcpy(bytes + 1, &m.version, 8);
        std::memcpy(bytes + 9, &m.value, 8);
        // A full send buffer or an unreachable peer is a lost datagram.
        (void)::sendto(fd_, bytes, sizeof bytes, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }

    std::optional<Received> receive() const {
        unsigned char bytes[17];
        Received r{};
        socklen_t length = sizeof r.from;
        const ssize_t n = ::recvfrom(fd_, bytes, sizeof bytes, 0, reinterpret_cast<sockaddr*>(&r.from), &length);
        if (n != static_cast<ssize_t>(sizeof bytes)) return std::nullopt;
        r.message.kind = bytes[0];
        std::memcpy(&r.message.version, bytes + 1, 8);
        std::memcpy(&r.message.value, bytes + 9, 8);
        return r;
    }

private:
    int fd_ = -1;
    sockaddr_in address_{};
};

/// Waits up to `timeout_ms` for any of `fds` to become readable.
inline bool wait_readable(const std::vector<int>& fds, int timeout_ms) {
    std::vector<pollfd> polled;
    for (int fd : fds) polled.push_back(pollfd{fd, POLLIN, 0});
    return ::poll(polled.data(), polled.size(), timeout_ms) > 0;
}

inline bool same_endpoint(const sockaddr_in& a, const sockaddr_in& b) {
    return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

}  // namespace udp
