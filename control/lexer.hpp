// Words of a control line: checking bytes, splitting, quoting, near matches.
//
// The control language splits a line into words like a POSIX shell does,
// without any expansion: blanks separate words, '...' quotes literally,
// "..." quotes with \" and \\ as the only escapes, a backslash outside quotes
// takes the next byte literally, and a word starting with an unquoted `#`
// begins a comment. The parser (parse.hpp) works on these words; the printer
// (command.hpp) uses quote_word so that printed text splits back into the
// same words.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "marionette/control_protocol.hpp"

namespace marionette {

/// Why a line could not be turned into a command; `column` is the 1-based
/// byte column the problem starts at (line length + 1 for "at the end").
struct ParseError {
    ErrorCode code = ErrorCode::parse;
    std::size_t column = 1;
    std::string message;

    /// `column <c>: <message>`, the text of an error reply.
    std::string describe() const;

    friend bool operator==(const ParseError&, const ParseError&) = default;
};

/// One word of a line after quote removal.
struct Word {
    std::string text;
    std::size_t column = 1;  ///< 1-based byte column where the word starts
    bool quoted = false;     ///< any part of it was quoted or escaped
};

/// Words of a line, or the first lexical error.
struct SplitLine {
    std::vector<Word> words;
    std::optional<ParseError> error;
};

/// Checks that a line is text the language accepts: at most
/// max_request_line_bytes, valid UTF-8, no NUL and no control bytes other
/// than tab. Returns the first problem found.
std::optional<ParseError> check_line_bytes(std::string_view line);

/// Splits a (byte-checked) line into words; stops at a comment.
SplitLine split_words(std::string_view line);

/// `word` unchanged if it splits back to itself, otherwise quoted ('...' when
/// it has no single quote, "..." with escapes otherwise; `''` if empty).
std::string quote_word(std::string_view word);

/// Up to three candidates within a small edit distance of `word`, closest
/// first, for "did you mean" hints.
std::vector<std::string_view> near_matches(std::string_view word, const std::vector<std::string_view>& candidates);

/// ` (did you mean 'a' or 'b'?)`, or empty when there is no candidate.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

/// True if `text` is valid UTF-8 (no overlongs, surrogates or > U+10FFFF);
/// otherwise sets `bad_offset` to the first offending byte.
bool valid_utf8(std::string_view text, std::size_t& bad_offset);

}  // namespace marionette
