#include "sim/trace.hpp"

#include <algorithm>
#include <charconv>
#include <istream>
#include <ostream>

#include "sim/random.hpp"
#include "sim/trace_json.hpp"

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

bool needs_escape(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '=' || c == '%' || c == '\\'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string escape_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (needs_escape(c)) {
            out += '%';
            out += hex_digits[c >> 4];
            out += hex_digits[c & 0xf];
        } else {
            out += ch;
        }
    }
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
    if (format == TraceFormat::jsonl) return detail::render_json_event(event);
    std::string line = "event=" + std::to_string(event.index) + " " + event.name + " at_ns=" + std::to_string(event.at_ns);
    for (const TraceField& field : event.fields) line += " " + field.key + "=" + escape_value(value_text(field.value));
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
    emit(name, std::vector<TraceField>(fields));
}

void Trace::emit(std::string_view name, std::vector<TraceField> fields) {
    if (!valid_event_name(name)) throw TraceError(0, "invalid event name '" + std::string(name) + "'");
    for (const TraceField& field : fields) {
        if (!valid_field_key(field.key) || field.key == "at_ns" || field.key == "event") {
            throw TraceError(0, "invalid field key '" + field.key + "' in event " + std::string(name));
        }
    }
    TraceEvent event{summary_.events, std::string(name), clock_ ? clock_() : 0, std::move(fields)};
    summary_.add(event);
    if (out_ != nullptr) *out_ << render_event(event, header_.format) << '\n';
    if (keep_events_) events_.push_back(std::move(event));
}

}  // namespace marionette
