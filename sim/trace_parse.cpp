// Reading traces back: the validator behind `marionette-launch --check-trace`,
// the replay comparison and the tests.
#include <charconv>
#include <istream>
#include <limits>

#include "sim/trace.hpp"
#include "sim/trace_json.hpp"

namespace marionette {
namespace {

std::vector<std::string_view> split_spaces(std::string_view line) {
    std::vector<std::string_view> tokens;
    std::size_t start = 0;
    while (start <= line.size()) {
        const std::size_t space = line.find(' ', start);
        const std::size_t end = space == std::string_view::npos ? line.size() : space;
        tokens.push_back(line.substr(start, end - start));
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    return tokens;
}

std::uint64_t parse_number(std::size_t line_no, std::string_view what, std::string_view text) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
        throw TraceError(line_no, std::string(what) + std::string(" must be a non-negative integer, got '") + std::string(text) + "'");
    }
    return value;
}

// A version too large for an int must not wrap around to a supported one.
int version_number(std::uint64_t version) {
    if (version > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
        throw TraceError(1, "unsupported trace version " + std::to_string(version));
    }
    return static_cast<int>(version);
}

// `event` and `at_ns` are the line's own fields; Trace::emit refuses them as
// event keys, so a trace that has them is not one we wrote.
bool reserved_key(std::string_view key) { return key == "event" || key == "at_ns"; }

std::pair<std::string_view, std::string_view> split_pair(std::size_t line_no, std::string_view token) {
    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos) throw TraceError(line_no, "expected key=value, got '" + std::string(token) + "'");
    const std::string_view key = token.substr(0, eq);
    if (!valid_field_key(key)) throw TraceError(line_no, "invalid key '" + std::string(key) + "'");
    return {key, token.substr(eq + 1)};
}

std::string unescape_at(std::size_t line_no, std::string_view key, std::string_view value) {
    try {
        return unescape_value(value);
    } catch (const std::invalid_argument& e) {
        throw TraceError(line_no, "value of '" + std::string(key) + "': " + e.what());
    }
}

TraceHeader parse_text_header(std::string_view line) {
    const std::vector<std::string_view> tokens = split_spaces(line);
    if (tokens.size() < 4 || tokens[0] != "marionette.trace" || tokens[1] != "format=text" ||
        tokens[2].substr(0, 8) != "version=" || tokens[3].substr(0, 5) != "seed=") {
        throw TraceError(1, "header must start 'marionette.trace format=text version=<n> seed=<n>'");
    }
    TraceHeader header;
    header.format = TraceFormat::text;
    header.version = version_number(parse_number(1, "version", tokens[2].substr(8)));
    header.seed = parse_number(1, "seed", tokens[3].substr(5));
    for (std::size_t i = 4; i < tokens.size(); ++i) {
        auto [key, value] = split_pair(1, tokens[i]);
        header.options.emplace_back(std::string(key), unescape_at(1, key, value));
    }
    return header;
}

TraceEvent parse_text_event(std::size_t line_no, std::string_view line) {
    const std::vector<std::string_view> tokens = split_spaces(line);
    if (tokens.size() < 3 || tokens[0].substr(0, 6) != "event=" || tokens[2].substr(0, 6) != "at_ns=") {
        throw TraceError(line_no, "event line must start 'event=<n> <name> at_ns=<t>'");
    }
    TraceEvent event;
    event.index = parse_number(line_no, "event", tokens[0].substr(6));
    if (!valid_event_name(tokens[1])) throw TraceError(line_no, "invalid event name '" + std::string(tokens[1]) + "'");
    event.name = std::string(tokens[1]);
    event.at_ns = parse_number(line_no, "at_ns", tokens[2].substr(6));
    for (std::size_t i = 3; i < tokens.size(); ++i) {
        auto [key, value] = split_pair(line_no, tokens[i]);
        if (reserved_key(key)) throw TraceError(line_no, "reserved key '" + std::string(key) + "' used as a field");
        event.fields.emplace_back(std::string(key), unescape_at(line_no, key, value));
    }
    return event;
}

std::vector<detail::JsonMember> json_members(std::size_t line_no, std::string_view line) {
    try {
        return detail::parse_json_object(line);
    } catch (const std::invalid_argument& e) {
        throw TraceError(line_no, e.what());
    }
}

const std::uint64_t* json_u64(const detail::JsonMember& member) { return std::get_if<std::uint64_t>(&member.value); }

TraceHeader parse_json_header(std::string_view line) {
    const auto members = json_members(1, line);
    const auto* trace_tag = members.size() >= 1 ? std::get_if<std::string>(&members[0].value) : nullptr;
    const auto* format = members.size() >= 2 ? std::get_if<std::string>(&members[1].value) : nullptr;
    if (members.size() != 5 || members[0].key != "trace" || trace_tag == nullptr || *trace_tag != "marionette" ||
        members[1].key != "format" || format == nullptr || *format != "jsonl" || members[2].key != "version" ||
        !json_u64(members[2]) || members[3].key != "seed" || !json_u64(members[3]) || members[4].key != "options" ||
        !members[4].is_object) {
        throw TraceError(1, "JSON header must be {\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":<n>,"
                            "\"seed\":<n>,\"options\":{...}}");
    }
    TraceHeader header;
    header.format = TraceFormat::jsonl;
    header.version = version_number(*json_u64(members[2]));
    header.seed = *json_u64(members[3]);
    header.options = members[4].nested;
    for (const auto& option : header.options) {
        if (!valid_field_key(option.first)) throw TraceError(1, "invalid option key '" + option.first + "'");
    }
    return header;
}

TraceEvent parse_json_event(std::size_t line_no, std::string_view line) {
    auto members = json_members(line_no, line);
    const auto* name = members.size() >= 2 ? std::get_if<std::string>(&members[1].value) : nullptr;
    if (members.size() < 3 || members[0].key != "event" || !json_u64(members[0]) || members[1].key != "name" ||
        name == nullptr || members[2].key != "at_ns" || !json_u64(members[2])) {
        throw TraceError(line_no, "JSON event must start {\"event\":<n>,\"name\":\"...\",\"at_ns\":<t>");
    }
    if (!valid_event_name(*name)) throw TraceError(line_no, "invalid event name '" + *name + "'");
    TraceEvent event;
    event.index = *json_u64(members[0]);
    event.name = *name;
    event.at_ns = *json_u64(members[2]);
    for (std::size_t i = 3; i < members.size(); ++i) {
        if (!valid_field_key(members[i].key) || reserved_key(members[i].key) || members[i].is_object) {
            throw TraceError(line_no, "invalid field '" + members[i].key + "'");
        }
        event.fields.emplace_back(std::move(members[i].key), std::move(members[i].value));
    }
    return event;
}

}  // namespace

ParsedTrace parse_trace(std::istream& in) {
    ParsedTrace trace;
    std::string line;
    if (!std::getline(in, line)) throw TraceError(1, "empty trace: missing header");
    if (!line.empty() && line[0] == '{') {
        trace.header = parse_json_header(line);
    } else {
        trace.header = parse_text_header(line);
    }
    if (trace.header.version != trace_format_version) {
        throw TraceError(1, "unsupported trace version " + std::to_string(trace.header.version) + " (this build reads " +
                                std::to_string(trace_format_version) + ")");
    }
    std::size_t line_no = 1;
    Ns last_ns = 0;
    while (std::getline(in, line)) {
        ++line_no;
        TraceEvent event = trace.header.format == TraceFormat::jsonl ? parse_json_event(line_no, line)
                                                                      : parse_text_event(line_no, line);
        if (event.index != trace.events.size()) {
            throw TraceError(line_no, "event number " + std::to_string(event.index) + " out of sequence (expected " +
                                          std::to_string(trace.events.size()) + ")");
        }
        if (event.at_ns < last_ns) throw TraceError(line_no, "at_ns goes backwards");
        last_ns = event.at_ns;
        trace.summary.add(event);
        trace.events.push_back(std::move(event));
    }
    return trace;
}

}  // namespace marionette
