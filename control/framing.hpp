// Framing: turning a byte stream from a socket into request lines.
//
// A control connection carries newline-terminated lines. Reads return
// arbitrary chunks (half a line, many lines, a line split inside a UTF-8
// sequence), so the server feeds every chunk to a LineAssembler and handles
// the complete frames it yields. A line longer than the limit is never
// buffered whole: the assembler drops its bytes, skips to the next newline
// (resynchronisation) and yields one too_long frame in its place, so memory
// stays bounded and every request line still gets exactly one reply, in
// order. Byte checks (NUL, invalid UTF-8) belong to the parser, which sees
// scenario files too.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "marionette/control_protocol.hpp"

namespace marionette {

/// One complete request line, or the marker of an oversized one.
struct Frame {
    enum class Kind { line, too_long };
    Kind kind = Kind::line;
    std::string text;              ///< the line without `\n` (and without a final `\r`)
    std::size_t length_bytes = 0;  ///< the line's full length, also when too_long

    friend bool operator==(const Frame&, const Frame&) = default;
};

/// Reassembles lines from arbitrary chunks.
class LineAssembler {
public:
    /// `max_line_bytes` bounds a line without its `\n` (a final `\r`, which
    /// is stripped, counts towards it).
    explicit LineAssembler(std::size_t max_line_bytes = max_request_line_bytes) : max_line_bytes_(max_line_bytes) {}

    /// Consumes a chunk and returns the frames it completed, in order.
    std::vector<Frame> feed(std::string_view chunk);

    /// Length so far of the unfinished line (held or skipped).
    std::size_t pending_bytes() const { return pending_bytes_; }

    /// Bytes actually buffered; never more than max_line_bytes.
    std::size_t buffered_bytes() const { return buffer_.size(); }

    /// The peer closed the stream: drops any unfinished line (a command
    /// without its newline is never executed) and returns how many bytes
    /// were dropped.
    std::size_t finish();

    std::size_t max_line_bytes() const { return max_line_bytes_; }

private:
    std::size_t max_line_bytes_;
    std::string buffer_;
    std::size_t pending_bytes_ = 0;  // length of the current line so far
    bool skipping_ = false;          // the current line is over the limit
};

}  // namespace marionette
