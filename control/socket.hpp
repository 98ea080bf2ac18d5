// The control socket: a blocking Unix-domain stream server and its helpers.
//
// The launcher listens on `--control SOCKET` with a ControlServer. One client
// is served at a time (a second one waits in the listen backlog): the server
// reads chunks, reassembles lines with a LineAssembler, parses and dispatches
// each line and writes its one-line reply before reading the next, so the
// simulation is paused between commands. A client that disconnects — even in
// the middle of a line — just ends its session: the unfinished line is
// dropped, never executed, and the server waits for the next client. Only
// Unix domain sockets are used; nothing here ever touches IP.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "control/executor.hpp"

namespace marionette {

/// How serving one connection ended.
enum class SessionEnd {
    peer_closed,  ///< the client closed (or reset) the connection
    quit,         ///< a `quit` command succeeded
    io_error,     ///< reading or writing failed otherwise
};

/// The result of serving one connection.
struct SessionResult {
    SessionEnd end = SessionEnd::peer_closed;
    std::size_t requests = 0;        ///< lines (including oversized ones) answered
    std::size_t dropped_bytes = 0;   ///< bytes of an unfinished last line, dropped
    std::string error;               ///< the errno text when end == io_error
};

/// Serves one connected stream socket until the peer closes it or `quit`
/// succeeds. Does not close `fd`. Never throws on peer behaviour.
SessionResult serve_connection(int fd, CommandExecutor& executor);

/// A listening Unix stream socket at a path, unlinked on destruction.
class ControlServer {
public:
    /// Binds and listens at `path`. A stale socket file left by a dead
    /// server is replaced; a live one, a non-socket file or a path longer
    /// than sockaddr_un allows is a std::runtime_error naming the path.
    explicit ControlServer(std::string path);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const { return path_; }
    int fd() const { return fd_; }

    /// Accepts one client and serves it until it leaves or quits.
    SessionResult serve_one(CommandExecutor& executor);

    /// Serves clients one after another until one sends a successful `quit`.
    void serve(CommandExecutor& executor);

private:
    std::string path_;
    int fd_ = -1;
};

/// Connects to the Unix stream socket at `path`; returns the fd or throws
/// std::runtime_error with the reason.
int connect_unix(const std::string& path);

/// Reads one `\n`-terminated line (returned without it) from a stream
/// socket, keeping bytes read past it in `pending` for the next call.
/// Returns nullopt if the peer closed first; throws std::runtime_error on a
/// read error or a line longer than `max_line_bytes`.
std::optional<std::string> receive_line(int fd, std::string& pending, std::size_t max_line_bytes);

/// Writes every byte (MSG_NOSIGNAL: a vanished peer is an error return, not
/// SIGPIPE). Returns false on failure, with errno set.
bool send_all(int fd, std::string_view bytes);

}  // namespace marionette
