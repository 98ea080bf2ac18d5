// The trace: the record of everything a run decided.
//
// A trace is a header (format, version, seed, options) followed by one event
// a line. Two renderings carry the same content: text
// (`event=<n> <component.action> at_ns=<t> key=value ...`, values escaped as
// %HH) and JSON Lines. A run's identity is the hash of its text event lines,
// whatever format was written, so `--verify` and replay compare hashes. Traces
// never hold pointers, wall-clock times or real pids; docs/trace-format.md is
// the specification.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "sim/time.hpp"

namespace marionette {

inline constexpr int trace_format_version = 1;

enum class TraceFormat { text, jsonl };

/// Parses `text` or `jsonl`; throws std::invalid_argument otherwise.
TraceFormat parse_trace_format(std::string_view text);
std::string_view to_string(TraceFormat format);

/// One value of an event field. Text traces carry every value as a string;
/// JSON Lines keep numbers and booleans typed.
using TraceValue = std::variant<std::uint64_t, std::int64_t, bool, std::string>;

/// A `key=value` pair of an event.
struct TraceField {
    std::string key;
    TraceValue value;

    TraceField(std::string k, TraceValue v) : key(std::move(k)), value(std::move(v)) {}
    TraceField(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
    TraceField(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
    TraceField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
    TraceField(std::string k, bool v) : key(std::move(k)), value(v) {}
    template <typename T>
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
    TraceField(std::string k, T v) : key(std::move(k)) {
        if constexpr (std::is_signed_v<T>) {
            value = static_cast<std::int64_t>(v);
        } else {
            value = static_cast<std::uint64_t>(v);
        }
    }
};

/// One event of a trace.
struct TraceEvent {
    std::uint64_t index = 0;
    std::string name;
    Ns at_ns = 0;
    std::vector<TraceField> fields;

    /// The value of field `key`, or nullptr if the event has no such field.
    const TraceValue* find(std::string_view key) const;
};

/// The first line of a trace.
struct TraceHeader {
    TraceFormat format = TraceFormat::text;
    int version = trace_format_version;
    std::uint64_t seed = 0;
    std::vector<std::pair<std::string, std::string>> options;
};

/// Raised by the parser and by malformed names/keys; `line` is 1-based (0 if
/// not from a file).
class TraceError : public std::runtime_error {
public:
    TraceError(std::size_t line, const std::string& message);
    std::size_t line() const { return line_; }

private:
    std::size_t line_;
};

/// Escapes a value for the text format: bytes <= 0x20, >= 0x7f, '=', '%'
/// and '\\' become %HH (upper-case hex).
std::string escape_value(std::string_view value);
/// Inverse of escape_value; throws std::invalid_argument on a bad escape.
std::string unescape_value(std::string_view escaped);

/// True if `name` is `[a-z0-9_.]+` (event names).
bool valid_event_name(std::string_view name);
/// True if `key` is `[a-z0-9_]+` (field keys).
bool valid_field_key(std::string_view key);

/// A value as its text rendering (numbers in decimal, booleans true/false).
std::string value_text(const TraceValue& value);

std::string render_header(const TraceHeader& header);
std::string render_event(const TraceEvent& event, TraceFormat format);

/// Totals over a trace, as printed by `marionette-launch --summary`.
struct TraceSummary {
    std::uint64_t events = 0;
    Ns final_ns = 0;
    /// FNV-1a 64 over the text event lines; starts at the FNV offset basis
    /// so an empty trace hashes the same whether written or parsed.
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    std::map<std::string, std::uint64_t> by_component;
    std::map<std::string, std::uint64_t> by_name;

    /// Adds one event (its text line feeds the hash).
    void add(const TraceEvent& event);
    /// Human-readable block; `top` limits the event-name table.
    std::string format(std::size_t top = 10) const;
};

/// Hash of one rendered text event line chained onto `hash`.
std::uint64_t trace_hash_step(std::uint64_t hash, std::string_view text_line);
inline constexpr std::uint64_t trace_hash_seed = 0xcbf29ce484222325ULL;

namespace detail {

/// Where Trace counts each event name in its summary: pointers to the
/// TraceSummary's by_name and by_component counters, found by the name
/// without building a std::string. The pointers are into one summary's map
/// nodes (which never move), so a copied or moved cache starts empty.
class TraceCounters {
public:
    struct Slot {
        std::uint64_t* by_name;
        std::uint64_t* by_component;
    };

    TraceCounters() = default;
    TraceCounters(const TraceCounters&) {}
    TraceCounters& operator=(const TraceCounters&) {
        slots_.clear();
        return *this;
    }

    /// The slot of `name`, or nullptr if it was never added.
    Slot* find(std::string_view name);
    /// Adds `name` (with count 0) to `summary` and returns its slot.
    Slot* add(TraceSummary& summary, std::string_view name);

private:
    std::unordered_map<std::string_view, Slot> slots_;
};

}  // namespace detail

/// Writes events as they happen, to an optional stream, optionally keeping
/// them in memory, and maintains the summary and hash.
class Trace {
public:
    explicit Trace(TraceHeader header = {}, std::ostream* out = nullptr, bool keep_events = false);

    /// Supplies the virtual time stamped on each event (`at_ns`).
    void set_clock(std::function<Ns()> clock) { clock_ = std::move(clock); }

    /// Records an event. Throws TraceError if the name or a key is malformed.
    void emit(std::string_view name, std::initializer_list<TraceField> fields = {});
    void emit(std::string_view name, std::vector<TraceField> fields);
    /// The same without taking the fields (replaying another trace's events).
    void emit(std::string_view name, std::span<const TraceField> fields);

    const TraceHeader& header() const { return header_; }
    const TraceSummary& summary() const { return summary_; }
    const std::vector<TraceEvent>& events() const { return events_; }
    /// Moves the kept events out (the summary and hash stay): a trace that
    /// only buffers events for another hands them over without a copy.
    std::vector<TraceEvent> take_events() { return std::exchange(events_, {}); }
    std::uint64_t size() const { return summary_.events; }
    std::uint64_t hash() const { return summary_.hash; }

private:
    /// Checks, renders, hashes, counts, writes and keeps one event; `owned`
    /// (if not null) holds `fields` and may be moved from.
    void record(std::string_view name, std::span<const TraceField> fields, std::vector<TraceField>* owned);
    void reserve_line(std::size_t bytes);

    TraceHeader header_;
    std::ostream* out_;
    bool keep_events_;
    std::function<Ns()> clock_;
    TraceSummary summary_;
    std::vector<TraceEvent> events_;
    detail::TraceCounters counters_;
    std::string line_;  // rendering buffer, reused by every event
};

/// A trace read back from text or JSON Lines.
struct ParsedTrace {
    TraceHeader header;
    std::vector<TraceEvent> events;
    TraceSummary summary;
};

/// Parses and validates a whole trace (format detected from the header):
/// header present and of a known version, events numbered from 0
/// consecutively, names and keys well formed, escapes valid, `at_ns`
/// present and never decreasing. Throws TraceError with the line number.
ParsedTrace parse_trace(std::istream& in);

}  // namespace marionette
