// Parsing one line of the control language into a typed command.
//
// Used for scenario files (scenario.hpp) and control-socket requests
// (socket.hpp) alike, so both accept exactly the same text. Parsing never
// throws on bad input: every line yields a command, a blank (empty or
// comment-only line), or a ParseError with a column, an error code and a
// message that names the problem and, for unknown words, the near matches.
#pragma once

#include <string_view>
#include <variant>

#include "control/command.hpp"
#include "control/lexer.hpp"

namespace marionette {

/// The outcome of parsing one line.
class ParsedLine {
public:
    ParsedLine() = default;
    explicit ParsedLine(Command command) : result_(std::move(command)) {}
    explicit ParsedLine(ParseError error) : result_(std::move(error)) {}

    /// An empty or comment-only line.
    bool is_blank() const { return std::holds_alternative<std::monostate>(result_); }
    bool is_command() const { return std::holds_alternative<Command>(result_); }
    bool is_error() const { return std::holds_alternative<ParseError>(result_); }

    /// The command; only valid when is_command().
    const Command& command() const { return std::get<Command>(result_); }
    /// The error; only valid when is_error().
    const ParseError& error() const { return std::get<ParseError>(result_); }

private:
    std::variant<std::monostate, Command, ParseError> result_;
};

/// Parses one line (without its newline; a trailing `\r` is an encoding
/// error here — framing strips it). Never throws except std::bad_alloc.
ParsedLine parse_line(std::string_view line);

/// True if `name` can name a node or a spawned process: 1 to 64 bytes of
/// `[A-Za-z0-9_-]`, not starting with `-`, and not the reserved word `random`.
bool valid_node_name(std::string_view name);

}  // namespace marionette
