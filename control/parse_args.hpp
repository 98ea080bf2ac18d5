// Argument helpers of the control-language parser (control/parse.cpp).
//
// Each command's parse function walks its words with a Cursor and converts
// them with the helpers below. Helpers report a problem by throwing
// detail::Failure, which parse_line catches and returns as a ParseError, so
// the command parsers read as straight-line code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/command.hpp"
#include "control/lexer.hpp"

namespace marionette::detail {

/// Thrown by the helpers; never escapes parse_line.
struct Failure {
    ParseError error;
};

[[noreturn]] void fail(ErrorCode code, std::size_t column, std::string message);

/// The usage line of a command word (the word itself if unknown).
std::string_view usage_of(std::string_view name);

/// Every command word, for "did you mean".
std::vector<std::string_view> all_command_names();

/// The words of one command after its name, consumed left to right.
class Cursor {
public:
    Cursor(std::string_view name, const std::vector<Word>& words, std::size_t first, std::size_t end_column)
        : name_(name), words_(words), pos_(first), end_column_(end_column) {}

    bool done() const { return pos_ >= words_.size(); }
    const Word& peek() const { return words_[pos_]; }
    std::string_view name() const { return name_; }
    /// The column just past the line, where "missing ..." errors point.
    std::size_t end_column() const { return end_column_; }

    /// The remaining words as the arguments of a nested command `name`
    /// (the action of `at`/`after`); this cursor is then used up.
    Cursor rest_as(std::string_view name);

    /// The next word; fails with "missing <what>" and the usage if none.
    const Word& next(std::string_view what);

    /// Fails with "unexpected argument" if words remain.
    void finish() const;

private:
    std::string_view name_;
    const std::vector<Word>& words_;
    std::size_t pos_;
    std::size_t end_column_;
};

/// A strict decimal u64: digits only, no leading zeros, no overflow.
std::uint64_t parse_u64(const Word& word, std::string_view what);
/// A duration or time (parse_duration); errors point at `column`.
Ns parse_time(std::size_t column, std::string_view text);
Ns parse_time(const Word& word);
/// A rate (Rate::parse); errors point at the word.
Rate parse_rate(const Word& word, std::string_view text);
/// The word as a node or process name (valid_node_name).
std::string node_name(const Word& word, std::string_view what);
/// An optional trailing node name, then the end of the line.
std::string optional_node(Cursor& args);

/// One `key=value` word.
struct KeyValue {
    std::string key;
    std::string value;
    const Word* word;
};

/// The remaining words as key=value pairs; every key must be in `keys`,
/// at most once.
std::vector<KeyValue> key_values(Cursor& args, const std::vector<std::string_view>& keys);
const KeyValue* find_key(const std::vector<KeyValue>& kvs, std::string_view key);
const KeyValue& require_key(const std::vector<KeyValue>& kvs, std::string_view key, const Cursor& args);
/// The optional `node=` key, validated; empty if absent.
std::string kv_node(const std::vector<KeyValue>& kvs);

}  // namespace marionette::detail
