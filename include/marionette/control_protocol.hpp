// The control protocol's wire constants, error codes and replies.
//
// Scenario files and the Unix control socket speak one line-oriented
// language (docs/control-protocol.md). A client sends one command a line and
// receives exactly one reply line per request line: `ok [key=value ...]` or
// `error <code> <message>`. This header is the part of that contract shared by
// every side — the server in control/, the launcher that executes commands,
// the C++ client (marionette/control.hpp) and marionette-ctl — so that the
// version number, the limits and the error codes exist exactly once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marionette {

/// Version of the control language and its framing. Bump rules are in
/// docs/control-protocol.md: adding a command, an optional argument or a
/// reply field keeps the number; changing or removing anything bumps it.
inline constexpr unsigned control_protocol_version = 1;

/// Longest request line accepted, in bytes, not counting the `\n`.
inline constexpr std::size_t max_request_line_bytes = 4096;

/// Longest reply line a client accepts (a `trace.read` reply carries a whole
/// escaped trace), in bytes, not counting the `\n`.
inline constexpr std::size_t max_reply_line_bytes = 256u * 1024u * 1024u;

/// Why a request failed; the first word after `error` on the wire.
enum class ErrorCode {
    parse,            ///< the line is not well formed (quoting, trailing backslash)
    unknown_command,  ///< the first word names no command
    bad_argument,     ///< missing, extra or mistyped argument
    encoding,         ///< NUL, control bytes or invalid UTF-8 in the line
    too_long,         ///< the line exceeded max_request_line_bytes
    version,          ///< `hello <n>` asked for a protocol this side does not speak
    state,            ///< well formed, but not possible in the run's current state
    unsupported,      ///< well formed, but this executor does not implement it
    expect_failed,    ///< an `expect` command's condition did not hold
    internal,         ///< Marionette itself failed while executing the command
    connection,       ///< client side only, never sent: the socket failed or closed
};

/// The wire name of a code (`bad_argument`).
std::string_view to_string(ErrorCode code);
/// The code named `text`, or nothing if no code has that name.
std::optional<ErrorCode> parse_error_code(std::string_view text);

/// One reply: success with ordered key=value fields, or an error.
struct Reply {
    bool ok = true;
    ErrorCode code = ErrorCode::internal;  ///< meaningful only when !ok
    std::string message;                   ///< meaningful only when !ok
    std::vector<std::pair<std::string, std::string>> fields;  ///< only when ok

    /// `ok` with the given fields (keys must be `[a-z0-9_]+`).
    static Reply success(std::vector<std::pair<std::string, std::string>> fields = {});
    /// `error <code> <message>`.
    static Reply failure(ErrorCode code, std::string message);

    /// The value of field `key`, or nullptr.
    const std::string* find(std::string_view key) const;

    friend bool operator==(const Reply&, const Reply&) = default;
};

/// Renders a reply as one line without the trailing newline. Field values
/// are escaped as trace values (escape_value); the message escapes control
/// bytes, `%` and invalid UTF-8 as %HH and keeps spaces readable. Throws
/// std::invalid_argument if a field key is malformed.
std::string format_reply(const Reply& reply);

/// Parses a reply line (without its newline). Throws std::invalid_argument
/// naming the problem if the line is not a well-formed reply.
Reply parse_reply(std::string_view line);

}  // namespace marionette
