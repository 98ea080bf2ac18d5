// Rendering trace event lines without allocating (private to sim/).
//
// Trace::emit renders every event as its text line, even when nothing is
// written, because the run's hash covers that line; in cluster runs this is
// the largest user-space cost. So the renderers here write into memory the
// caller has already made room for: the *_bound functions give an upper
// bound on a line's length, the caller grows a reused buffer to it (rarely),
// and LineWriter stores the pieces without a capacity check per piece.
// render_event, escape_value and json_quote are built on the same writers,
// so there is one rendering, not a fast one and a reference one.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "sim/trace.hpp"

namespace marionette::detail {

/// Longest decimal rendering of a 64-bit integer ("-9223372036854775808",
/// "18446744073709551615").
inline constexpr std::size_t max_integer_chars = 20;

/// fnv1a64 over [begin, end), inline so that it can be interleaved with the
/// rendering (see write_text_event).
inline std::uint64_t hash_bytes(const char* begin, const char* end, std::uint64_t hash) {
    for (const char* at = begin; at != end; ++at) {
        hash ^= static_cast<unsigned char>(*at);
        hash *= 0x100000001B3ULL;
    }
    return hash;
}

/// Writes a line piece by piece into memory known to be large enough.
class LineWriter {
public:
    explicit LineWriter(char* at) : at_(at) {}

    /// One past the last byte written.
    char* end() const { return at_; }

    void put(char c) { *at_++ = c; }
    void put(std::string_view text) {
        if (text.empty()) return;  // data() may be null
        std::memcpy(at_, text.data(), text.size());
        at_ += text.size();
    }
    template <typename T>
    void put_integer(T value) {
        at_ = std::to_chars(at_, at_ + max_integer_chars, value).ptr;
    }

    /// escape_value(text): at most 3 bytes per byte.
    void put_escaped(std::string_view text);
    /// escape_value(value_text(value)).
    void put_text_value(const TraceValue& value);
    /// json_quote(text): at most 2 + 6 bytes per byte.
    void put_json_quoted(std::string_view text);
    /// A field value as JSON (strings quoted, numbers and booleans bare).
    void put_json_value(const TraceValue& value);

private:
    char* at_;
};

/// Upper bound on the length of a text event line (without the newline).
std::size_t text_event_bound(std::string_view name, std::span<const TraceField> fields);
/// Writes the text event line (without the newline) at `at`, which has room
/// for text_event_bound bytes; returns one past its end. If `hash` is not
/// null, the line's bytes are chained onto it (FNV-1a, as trace_hash_step)
/// piece by piece while they are written: the same value as hashing the
/// finished line, but the hash's chain of multiplications, which costs more
/// than the rendering, then runs alongside it instead of after it.
char* write_text_event(char* at, std::uint64_t index, std::string_view name, Ns at_ns,
                       std::span<const TraceField> fields, std::uint64_t* hash = nullptr);

/// The same pair for a JSON Lines event.
std::size_t json_event_bound(std::string_view name, std::span<const TraceField> fields);
char* write_json_event(char* at, std::uint64_t index, std::string_view name, Ns at_ns,
                       std::span<const TraceField> fields);

}  // namespace marionette::detail
