// A trace event line built without allocating, for the simulated kernel.
//
// The simulated kernel runs inside the preload shim, where the program's
// malloc must not be touched. It therefore cannot use marionette::Trace;
// instead it renders each event into a fixed buffer as
// `name at_ns=<t> key=value ...\n` (values escaped exactly as the text trace
// format escapes them) and hands the line to a sink. The launcher parses these
// lines back (launcher/program_run.cpp) and re-emits them into the real Trace,
// which numbers, hashes and renders them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/time.hpp"

namespace marionette {

/// One event line in a fixed buffer; values too long for the buffer are
/// truncated (the line stays well formed and ends in `\n`).
class EventLine {
public:
    static constexpr std::size_t capacity_bytes = 512;

    EventLine(std::string_view name, Ns at_ns);

    /// Appends ` key=<decimal>`.
    EventLine& add(std::string_view key, std::uint64_t value);
    /// Appends ` key=<signed decimal>`.
    EventLine& add_signed(std::string_view key, std::int64_t value);
    /// Appends ` key=<escaped text>` (bytes <= 0x20, >= 0x7f, '=', '%', '\\' as %HH).
    EventLine& add_text(std::string_view key, std::string_view value);

    /// Appends ` <text>` verbatim (fields already rendered and escaped);
    /// false, appending nothing, if it would not fit.
    bool append_raw(std::string_view text);
    /// The finished line including the trailing newline.
    std::string_view line();

private:
    void put(char c);
    void put_text(std::string_view text);
    void put_decimal(std::uint64_t value);

    char buffer_[capacity_bytes];
    std::size_t size_ = 0;
};

/// Receives finished event lines from the simulated kernel.
struct EventSink {
    void (*write)(void* context, std::string_view line) = nullptr;
    void* context = nullptr;

    void emit(std::string_view line) const {
        if (write != nullptr) write(context, line);
    }
};

}  // namespace marionette
