#include "control/socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "control/framing.hpp"

namespace marionette {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path)) {
        throw std::runtime_error("control socket path '" + path + "' must be 1 to " +
                                 std::to_string(sizeof(address.sun_path) - 1) + " bytes long");
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// True if something accepts connections at `path` (a live server).
bool socket_is_live(const std::string& path) {
    try {
        const int fd = connect_unix(path);
        ::close(fd);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

Reply reply_for(const Frame& frame, CommandExecutor& executor, bool& quit) {
    if (frame.kind == Frame::Kind::too_long) {
        return Reply::failure(ErrorCode::too_long, "line of " + std::to_string(frame.length_bytes) +
                                                       " bytes is longer than the limit of " +
                                                       std::to_string(max_request_line_bytes) + "; ignored");
    }
    LineOutcome outcome = handle_line(executor, frame.text);
    quit = outcome.quit;
    return std::move(outcome.reply);
}

}  // namespace

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

SessionResult serve_connection(int fd, CommandExecutor& executor) {
    SessionResult result;
    LineAssembler assembler(max_request_line_bytes);
    char buffer[4096];
    while (true) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != ECONNRESET) {
            result.end = SessionEnd::io_error;
            result.error = errno_text(errno);
            return result;
        }
        if (n <= 0) {
            result.dropped_bytes = assembler.finish();
            result.end = SessionEnd::peer_closed;
            return result;
        }
        for (const Frame& frame : assembler.feed(std::string_view(buffer, static_cast<std::size_t>(n)))) {
            bool quit = false;
            const Reply reply = reply_for(frame, executor, quit);
            ++result.requests;
            if (!send_all(fd, format_reply(reply) + "\n")) {
                // The peer left before reading its reply; the command itself
                // has run and the run keeps its state.
                result.end = (errno == EPIPE || errno == ECONNRESET) ? SessionEnd::peer_closed : SessionEnd::io_error;
                result.error = errno_text(errno);
                result.dropped_bytes = assembler.finish();
                return result;
            }
            if (quit) {
                result.end = SessionEnd::quit;
                return result;
            }
        }
    }
}

ControlServer::ControlServer(std::string path) : path_(std::move(path)) {
    const sockaddr_un address = unix_address(path_);
    struct stat info {};
    if (::lstat(path_.c_str(), &info) == 0) {
        if (!S_ISSOCK(info.st_mode)) throw std::runtime_error("control socket path '" + path_ + "' exists and is not a socket");
        if (socket_is_live(path_)) throw std::runtime_error("control socket '" + path_ + "' is in use by another server");
        ::unlink(path_.c_str());  // stale: its server is gone
    }
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("cannot create control socket: " + errno_text(errno));
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 4) != 0) {
        const int error = errno;
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error("cannot listen on control socket '" + path_ + "': " + errno_text(error));
    }
}

ControlServer::~ControlServer() {
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
}

SessionResult ControlServer::serve_one(CommandExecutor& executor) {
    int client = -1;
    while (client < 0) {
        client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0 && errno != EINTR && errno != ECONNABORTED) {
            throw std::runtime_error("accept on control socket '" + path_ + "' failed: " + errno_text(errno));
        }
    }
    SessionResult result = serve_connection(client, executor);
    ::close(client);
    return result;
}

void ControlServer::serve(CommandExecutor& executor) {
    while (serve_one(executor).end != SessionEnd::quit) {
    }
}

std::optional<std::string> receive_line(int fd, std::string& pending, std::size_t max_line_bytes) {
    std::size_t newline = pending.find('\n');
    while (newline == std::string::npos) {
        if (pending.size() > max_line_bytes) {
            throw std::runtime_error("line longer than " + std::to_string(max_line_bytes) + " bytes");
        }
        char buffer[65536];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("cannot read from socket: " + errno_text(errno));
        if (n == 0) return std::nullopt;
        const std::size_t old_size = pending.size();
        pending.append(buffer, static_cast<std::size_t>(n));
        newline = pending.find('\n', old_size);
    }
    std::string line = pending.substr(0, newline);
    pending.erase(0, newline + 1);
    return line;
}

int connect_unix(const std::string& path) {
    const sockaddr_un address = unix_address(path);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("cannot create socket: " + errno_text(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error("cannot connect to control socket '" + path + "': " + errno_text(error));
    }
    return fd;
}

}  // namespace marionette
