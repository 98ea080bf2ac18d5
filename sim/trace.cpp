#include "sim/trace.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <istream>
#include <ostream>

#include "sim/random.hpp"
#include "sim/trace_json.hpp"
#include "sim/trace_line.hpp"

namespace marionette {

TraceFormat parse_trace_format(std::string_view text) {
    if (text == "text") return TraceFormat::text;
    if (text == "jsonl") return TraceFormat::jsonl;
    throw std::invalid_argument("invalid trace format '" + std::string(text) + "' (expected text or jsonl)");
}

std::string_view to_string(TraceFormat format) { return format == TraceFormat::text ? "text" : "jsonl"; }

TraceError::TraceError(std::size_t line, const std::string& message)
    : std::runtime_error(line == 0 ? message : "trace line " + std::to_string(line) + ": " + message), line_(line) {}

const TraceValue* TraceEvent::find(std::string_view key) const {
    for (const TraceField& field : fields) {
        if (field.key == key) return &field.value;
    }
    return nullptr;
}

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

constexpr bool needs_escape(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '=' || c == '%' || c == '\\'; }

// needs_escape as a table: escaping is a per-byte loop on the hot path.
constexpr auto escape_table = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c) table[static_cast<std::size_t>(c)] = needs_escape(static_cast<unsigned char>(c));
    return table;
}();

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Bytes a value may take once rendered, `per_byte` bytes for each byte of a
// string (3 for %HH, 6 for \u00XX) plus `quotes`.
std::size_t value_bound(const TraceValue& value, std::size_t per_byte, std::size_t quotes) {
    if (const auto* text = std::get_if<std::string>(&value)) return quotes + per_byte * text->size();
    return detail::max_integer_chars;  // also covers "false"
}

}  // namespace

void detail::LineWriter::put_escaped(std::string_view text) {
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (escape_table[c]) {
            at_[0] = '%';
            at_[1] = hex_digits[c >> 4];
            at_[2] = hex_digits[c & 0xf];
            at_ += 3;
        } else {
            *at_++ = ch;
        }
    }
}

void detail::LineWriter::put_text_value(const TraceValue& value) {
    // Only strings can hold bytes that need escaping: digits, '-', "true"
    // and "false" never do.
    switch (value.index()) {
        case 0: put_integer(*std::get_if<std::uint64_t>(&value)); break;
        case 1: put_integer(*std::get_if<std::int64_t>(&value)); break;
        case 2: put(*std::get_if<bool>(&value) ? std::string_view("true") : std::string_view("false")); break;
        default: put_escaped(*std::get_if<std::string>(&value)); break;
    }
}

std::size_t detail::text_event_bound(std::string_view name, std::span<const TraceField> fields) {
    // "event=" N ' ' name " at_ns=" T, then ' ' key '=' value per field.
    std::size_t bound = 6 + max_integer_chars + 1 + name.size() + 7 + max_integer_chars;
    for (const TraceField& field : fields) bound += 2 + field.key.size() + value_bound(field.value, 3, 0);
    return bound;
}

char* detail::write_text_event(char* at, std::uint64_t index, std::string_view name, Ns at_ns,
                               std::span<const TraceField> fields, std::uint64_t* hash) {
    LineWriter line(at);
    line.put("event=");
    line.put_integer(index);
    line.put(' ');
    line.put(name);
    line.put(" at_ns=");
    line.put_integer(at_ns);
    if (hash != nullptr) *hash = hash_bytes(at, line.end(), *hash);
    for (const TraceField& field : fields) {
        char* const start = line.end();
        line.put(' ');
        line.put(field.key);
        line.put('=');
        line.put_text_value(field.value);
        if (hash != nullptr) *hash = hash_bytes(start, line.end(), *hash);
    }
    return line.end();
}

std::string escape_value(std::string_view value) {
    std::string out(3 * value.size(), '\0');
    detail::LineWriter writer(out.data());
    writer.put_escaped(value);
    out.resize(static_cast<std::size_t>(writer.end() - out.data()));
    return out;
}

std::string unescape_value(std::string_view escaped) {
    std::string out;
    out.reserve(escaped.size());
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        const auto c = static_cast<unsigned char>(escaped[i]);
        if (c == '%') {
            if (i + 2 >= escaped.size()) {
                throw std::invalid_argument("truncated escape at offset " + std::to_string(i));
            }
            const int hi = hex_value(escaped[i + 1]);
            const int lo = hex_value(escaped[i + 2]);
            if (hi < 0 || lo < 0) throw std::invalid_argument("bad escape '%" + std::string(escaped.substr(i + 1, 2)) + "'");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (needs_escape(c)) {
            throw std::invalid_argument("unescaped byte 0x" + std::string(1, hex_digits[c >> 4]) +
                                        std::string(1, hex_digits[c & 0xf]) + " in value");
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

bool valid_event_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    });
}

bool valid_field_key(std::string_view key) {
    return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::string value_text(const TraceValue& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return v;
            } else if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else {
                return std::to_string(v);
            }
        },
        value);
}

std::string render_header(const TraceHeader& header) {
    if (header.format == TraceFormat::jsonl) return detail::render_json_header(header);
    std::string line = "marionette.trace format=text version=" + std::to_string(header.version) +
                       " seed=" + std::to_string(header.seed);
    for (const auto& [key, value] : header.options) line += " " + key + "=" + escape_value(value);
    return line;
}

std::string render_event(const TraceEvent& event, TraceFormat format) {
    const bool text = format == TraceFormat::text;
    std::string line(text ? detail::text_event_bound(event.name, event.fields)
                          : detail::json_event_bound(event.name, event.fields),
                     '\0');
    char* end = text ? detail::write_text_event(line.data(), event.index, event.name, event.at_ns, event.fields)
                     : detail::write_json_event(line.data(), event.index, event.name, event.at_ns, event.fields);
    line.resize(static_cast<std::size_t>(end - line.data()));
    return line;
}

std::uint64_t trace_hash_step(std::uint64_t hash, std::string_view text_line) {
    hash = fnv1a64(text_line, hash);
    return fnv1a64("\n", hash);
}

void TraceSummary::add(const TraceEvent& event) {
    if (events == 0) hash = trace_hash_seed;
    ++events;
    final_ns = std::max(final_ns, event.at_ns);
    hash = trace_hash_step(hash, render_event(event, TraceFormat::text));
    const std::size_t dot = event.name.find('.');
    ++by_component[dot == std::string::npos ? event.name : event.name.substr(0, dot)];
    ++by_name[event.name];
}

std::string TraceSummary::format(std::size_t top) const {
    char hash_text[17];
    auto [end, ec] = std::to_chars(hash_text, hash_text + 16, hash, 16);
    std::string hex(hash_text, end);
    hex.insert(0, 16 - hex.size(), '0');
    std::string out = "marionette summary: events=" + std::to_string(events) + " final_time=" + format_duration(final_ns) +
                      " final_ns=" + std::to_string(final_ns) + " trace_hash=" + hex + "\n";
    out += "  by component:\n";
    for (const auto& [component, count] : by_component) out += "    " + component + " " + std::to_string(count) + "\n";
    std::vector<std::pair<std::string, std::uint64_t>> names(by_name.begin(), by_name.end());
    std::stable_sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (names.size() > top) names.resize(top);
    out += "  top events:\n";
    for (const auto& [name, count] : names) out += "    " + name + " " + std::to_string(count) + "\n";
    return out;
}

Trace::Trace(TraceHeader header, std::ostream* out, bool keep_events)
    : header_(std::move(header)), out_(out), keep_events_(keep_events) {
    summary_.hash = trace_hash_seed;
    for (const auto& option : header_.options) {
        if (!valid_field_key(option.first)) throw TraceError(0, "invalid option key '" + option.first + "'");
    }
    if (out_ != nullptr) *out_ << render_header(header_) << '\n';
}

void Trace::emit(std::string_view name, std::initializer_list<TraceField> fields) {
    record(name, std::span<const TraceField>(fields.begin(), fields.size()), nullptr);
}

void Trace::emit(std::string_view name, std::vector<TraceField> fields) { record(name, fields, &fields); }

void Trace::emit(std::string_view name, std::span<const TraceField> fields) { record(name, fields, nullptr); }

// The hot path: one event rendered into the reused buffer line_ and hashed
// there; a TraceEvent is built only when events are kept, and the summary's
// counters are found through counters_ without building a string.
void Trace::record(std::string_view name, std::span<const TraceField> fields, std::vector<TraceField>* owned) {
    detail::TraceCounters::Slot* counts = counters_.find(name);  // found: a name already checked
    if (counts == nullptr && !valid_event_name(name)) {
        throw TraceError(0, "invalid event name '" + std::string(name) + "'");
    }
    for (const TraceField& field : fields) {
        const std::string_view key = field.key;  // compares the size first
        if (!valid_field_key(key) || key == "at_ns" || key == "event") {
            throw TraceError(0, "invalid field key '" + field.key + "' in event " + std::string(name));
        }
    }
    const std::uint64_t index = summary_.events;
    const Ns at_ns = clock_ ? clock_() : 0;

    // The text line is hashed as it is written, then its newline: the same
    // as trace_hash_step over the finished line.
    reserve_line(detail::text_event_bound(name, fields) + 1);
    char* end = detail::write_text_event(line_.data(), index, name, at_ns, fields, &summary_.hash);
    *end++ = '\n';
    summary_.hash = detail::hash_bytes(end - 1, end, summary_.hash);
    const std::string_view text_line(line_.data(), static_cast<std::size_t>(end - line_.data()));
    ++summary_.events;
    summary_.final_ns = std::max(summary_.final_ns, at_ns);
    if (counts == nullptr) counts = counters_.add(summary_, name);
    ++*counts->by_name;
    ++*counts->by_component;

    if (out_ != nullptr) {
        if (header_.format == TraceFormat::text) {
            out_->write(text_line.data(), static_cast<std::streamsize>(text_line.size()));
        } else {
            reserve_line(detail::json_event_bound(name, fields) + 1);
            end = detail::write_json_event(line_.data(), index, name, at_ns, fields);
            *end++ = '\n';
            out_->write(line_.data(), end - line_.data());
        }
    }
    if (keep_events_) {
        events_.push_back(TraceEvent{index, std::string(name), at_ns,
                                     owned != nullptr ? std::move(*owned)
                                                      : std::vector<TraceField>(fields.begin(), fields.end())});
    }
}

void Trace::reserve_line(std::size_t bytes) {
    // Grows (geometrically) and never shrinks; the bytes past a line's end
    // are garbage nobody reads.
    if (line_.size() < bytes) line_.resize(std::max(bytes, 2 * line_.size()));
}

detail::TraceCounters::Slot* detail::TraceCounters::find(std::string_view name) {
    const auto it = slots_.find(name);
    return it == slots_.end() ? nullptr : &it->second;
}

detail::TraceCounters::Slot* detail::TraceCounters::add(TraceSummary& summary, std::string_view name) {
    const std::string_view component = name.substr(0, name.find('.'));
    const auto by_name = summary.by_name.try_emplace(std::string(name), 0).first;
    const auto by_component = summary.by_component.try_emplace(std::string(component), 0).first;
    // The key views the map's own copy of the name: map nodes never move.
    return &slots_.try_emplace(by_name->first, Slot{&by_name->second, &by_component->second}).first->second;
}

}  // namespace marionette
