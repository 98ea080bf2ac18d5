// Tests for sim/trace: value escaping, name/key rules, the two renderings and
// the parser that reads them back (with its errors), the hash and the summary.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim/random.hpp"
#include "sim/trace.hpp"

using marionette::escape_value;
using marionette::parse_trace;
using marionette::ParsedTrace;
using marionette::Prng;
using marionette::render_event;
using marionette::Trace;
using marionette::TraceError;
using marionette::TraceEvent;
using marionette::TraceFormat;
using marionette::TraceHeader;
using marionette::unescape_value;

namespace {

std::string all_bytes() {
    std::string s;
    for (int b = 0; b < 256; ++b) s += static_cast<char>(b);
    return s;
}

ParsedTrace parse_text(const std::string& text) {
    std::istringstream in(text);
    return parse_trace(in);
}

// The TraceError raised by parsing `text`, as {line, message}.
std::pair<std::size_t, std::string> parse_error(const std::string& text) {
    try {
        (void)parse_text(text);
    } catch (const TraceError& e) {
        return {e.line(), e.what()};
    }
    return {0, "<no error>"};
}

// Emits a fixed set of events exercising every value type and awkward bytes.
void emit_sample(Trace& trace, marionette::Ns& now) {
    now = 0;
    trace.emit("demo.start", {{"duration_ns", std::uint64_t{10'000'000'000}}, {"label", "a b=c%d\\e"}});
    now = 5;
    trace.emit("disk.write", {{"offset", 4096}, {"delta", -17}, {"torn", true}, {"path", "/tmp/x y"}});
    trace.emit("disk.write", {{"offset", 0}, {"torn", false}, {"empty", ""}});
    now = 1'000;
    trace.emit("net.drop", {{"bytes", std::string("\x00\x01\xff\n\t\"", 6)}});
    trace.emit("buggify.roll");
}

}  // namespace

TEST_CASE("escape/unescape round-trips every byte value", "[trace]") {
    const std::string bytes = all_bytes();
    CHECK(unescape_value(escape_value(bytes)) == bytes);
    for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        INFO(b);
        CHECK(unescape_value(escape_value(one)) == one);
    }
    // The exact rule: space, '=', '%', '\\', controls and bytes >= 0x7f.
    CHECK(escape_value(" ") == "%20");
    CHECK(escape_value("=") == "%3D");
    CHECK(escape_value("%") == "%25");
    CHECK(escape_value("\\") == "%5C");
    CHECK(escape_value("\n") == "%0A");
    CHECK(escape_value(std::string(1, '\0')) == "%00");
    CHECK(escape_value("\x7f") == "%7F");
    CHECK(escape_value("\xff") == "%FF");
    CHECK(escape_value("demo.slow_send/1:2,3") == "demo.slow_send/1:2,3");
    CHECK(escape_value("") == "");
}

TEST_CASE("every byte value survives both renderings", "[trace]") {
    for (const TraceFormat format : {TraceFormat::text, TraceFormat::jsonl}) {
        std::ostringstream out;
        Trace trace(TraceHeader{format, 1, 0, {{"all", all_bytes()}}}, &out);
        trace.emit("x.y", {{"all", all_bytes()}});
        const ParsedTrace parsed = parse_text(out.str());
        CHECK(parsed.header.options.at(0).second == all_bytes());
        CHECK(std::get<std::string>(*parsed.events.at(0).find("all")) == all_bytes());
        CHECK(parsed.summary.hash == trace.hash());
    }
}

TEST_CASE("escape/unescape round-trips random strings", "[trace]") {
    Prng prng(314159);
    for (int i = 0; i < 2000; ++i) {
        std::string s(prng.uint_less_than(40), '\0');
        for (char& c : s) c = static_cast<char>(prng.uint_less_than(256));
        INFO(i);
        REQUIRE(unescape_value(escape_value(s)) == s);
    }
}

TEST_CASE("escaped output only contains allowed bytes", "[trace]") {
    const std::string escaped = escape_value(all_bytes());
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        const auto c = static_cast<unsigned char>(escaped[i]);
        INFO("offset " << i << " byte " << static_cast<int>(c));
        CHECK(c > 0x20);
        CHECK(c < 0x7f);
        CHECK(c != '=');
        CHECK(c != '\\');
        if (c == '%') {
            // Every '%' starts an escape of two upper-case hex digits.
            REQUIRE(i + 2 < escaped.size());
            for (const char h : {escaped[i + 1], escaped[i + 2]}) {
                CHECK(((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F')));
            }
        }
    }
    // 256 bytes, of which 0x21..0x7e minus '=', '%', '\\' (91) stay as is.
    CHECK(escaped.size() == 91 + 3 * (256 - 91));
}

TEST_CASE("bad escapes are errors", "[trace]") {
    for (const std::string bad : {"%", "%4", "ab%", "ab%4", "%zz", "%4g", "%g4", "a b", "a=b", "\\", "\x01", "\xff"}) {
        INFO(bad);
        CHECK_THROWS_AS(unescape_value(bad), std::invalid_argument);
    }
    // Lower-case hex is read too (only writing is canonical).
    CHECK(unescape_value("%3d%3D") == "==");
}

TEST_CASE("names and keys are checked at emit", "[trace]") {
    Trace trace;
    CHECK(marionette::valid_event_name("disk.write"));
    CHECK(marionette::valid_event_name("net2.send_fin"));
    CHECK_FALSE(marionette::valid_event_name(""));
    CHECK_FALSE(marionette::valid_event_name("Disk.write"));
    CHECK_FALSE(marionette::valid_event_name("disk write"));
    CHECK_FALSE(marionette::valid_event_name("disk-write"));
    CHECK(marionette::valid_field_key("latency_ns"));
    CHECK_FALSE(marionette::valid_field_key("latency.ns"));
    CHECK_FALSE(marionette::valid_field_key(""));
    CHECK_FALSE(marionette::valid_field_key("A"));

    for (const char* name : {"", "Disk.write", "disk write", "disk=write", "disk.write\n", "dísk"}) {
        INFO(name);
        CHECK_THROWS_AS(trace.emit(name), TraceError);
    }
    for (const char* key : {"", "Key", "a.b", "a b", "a=b", "at_ns", "event"}) {
        INFO(key);
        CHECK_THROWS_AS(trace.emit("disk.write", {{key, 1}}), TraceError);
    }
    // Rejected events are not counted and do not touch the hash.
    CHECK(trace.size() == 0);
    CHECK(trace.hash() == marionette::trace_hash_seed);
    CHECK_THROWS_AS(Trace(TraceHeader{TraceFormat::text, 1, 0, {{"Bad", "x"}}}), TraceError);
}

TEST_CASE("text and JSON Lines carry the same events and the same hash", "[trace]") {
    TraceHeader header;
    header.seed = 99;
    header.options = {{"mode", "test run"}, {"path", "a=b%"}};
    std::ostringstream text_out;
    std::ostringstream json_out;
    marionette::Ns now = 0;
    header.format = TraceFormat::text;
    Trace text(header, &text_out, true);
    header.format = TraceFormat::jsonl;
    Trace json(header, &json_out, true);
    text.set_clock([&now] { return now; });
    json.set_clock([&now] { return now; });
    emit_sample(text, now);
    emit_sample(json, now);

    CHECK(text.hash() == json.hash());
    CHECK(text.size() == 5);

    const ParsedTrace from_text = parse_text(text_out.str());
    const ParsedTrace from_json = parse_text(json_out.str());
    CHECK(from_text.header.format == TraceFormat::text);
    CHECK(from_json.header.format == TraceFormat::jsonl);
    for (const ParsedTrace* parsed : {&from_text, &from_json}) {
        CHECK(parsed->header.seed == 99);
        CHECK(parsed->header.version == marionette::trace_format_version);
        CHECK(parsed->header.options == header.options);
        REQUIRE(parsed->events.size() == 5);
        for (std::size_t i = 0; i < 5; ++i) {
            CHECK(render_event(parsed->events[i], TraceFormat::text) ==
                  render_event(text.events()[i], TraceFormat::text));
        }
        CHECK(parsed->summary.hash == text.hash());
        CHECK(parsed->summary.final_ns == 1'000);
    }
    // JSON keeps types; text carries strings.
    CHECK(std::get<bool>(*from_json.events[1].find("torn")) == true);
    CHECK(std::get<std::int64_t>(*from_json.events[1].find("delta")) == -17);
    CHECK(std::get<std::string>(*from_text.events[1].find("torn")) == "true");
    CHECK(std::get<std::string>(*from_json.events[3].find("bytes")) == std::string("\x00\x01\xff\n\t\"", 6));
    CHECK(from_text.events[1].find("missing") == nullptr);
    // JSON Lines output is plain ASCII (bytes >= 0x7f are written as
    // \u00XX), so any JSON tool can read it as UTF-8.
    const std::string json_text = json_out.str();
    const auto non_ascii = [](char c) { return static_cast<unsigned char>(c) >= 0x7f; };
    CHECK(std::count_if(json_text.begin(), json_text.end(), non_ascii) == 0);

    // The text lines are exactly what was written, after the header.
    std::istringstream lines(text_out.str());
    std::string line;
    std::getline(lines, line);
    CHECK(line == "marionette.trace format=text version=1 seed=99 mode=test%20run path=a%3Db%25");
    std::getline(lines, line);
    CHECK(line == "event=0 demo.start at_ns=0 duration_ns=10000000000 label=a%20b%3Dc%25d%5Ce");
    std::getline(lines, line);
    CHECK(line == "event=1 disk.write at_ns=5 offset=4096 delta=-17 torn=true path=/tmp/x%20y");
    std::getline(lines, line);
    CHECK(line == "event=2 disk.write at_ns=5 offset=0 torn=false empty=");
    std::getline(lines, line);
    CHECK(line == "event=3 net.drop at_ns=1000 bytes=%00%01%FF%0A%09\"");
    std::getline(lines, line);
    CHECK(line == "event=4 buggify.roll at_ns=1000");
}

TEST_CASE("the hash is FNV-1a 64 over the text event lines, each with a newline", "[trace]") {
    std::ostringstream out;
    Trace trace(TraceHeader{}, &out);
    trace.emit("a.b", {{"k", 1}});
    trace.emit("a.c");
    // Recomputed by hand from the definition, independent of TraceSummary.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : std::string("event=0 a.b at_ns=0 k=1\nevent=1 a.c at_ns=0\n")) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    CHECK(trace.hash() == h);
    // The header (seed, options) is not part of the hash.
    Trace other(TraceHeader{TraceFormat::jsonl, 1, 12345, {{"mode", "x"}}});
    other.emit("a.b", {{"k", 1}});
    other.emit("a.c");
    CHECK(other.hash() == h);
    // An empty trace hashes to the FNV offset basis, written or parsed.
    CHECK(Trace().hash() == marionette::trace_hash_seed);
    CHECK(parse_text("marionette.trace format=text version=1 seed=0\n").summary.hash == marionette::trace_hash_seed);
}

TEST_CASE("parse_trace errors carry line numbers", "[trace]") {
    const std::string h = "marionette.trace format=text version=1 seed=1\n";
    struct Case {
        std::string text;
        std::size_t line;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {"", 1, "missing header"},
        {"event=0 a.b at_ns=0\n", 1, "header must start"},
        {"marionette.trace format=text version=2 seed=1\n", 1, "unsupported trace version 2"},
        {"marionette.trace format=text version=4294967297 seed=1\n", 1, "unsupported trace version"},
        {"marionette.trace format=text version=1\n", 1, "header must start"},
        {"marionette.trace format=text version=1 seed=x\n", 1, "seed must be"},
        {h + "event=1 a.b at_ns=0\n", 2, "out of sequence"},
        {h + "event=0 a.b at_ns=0\nevent=2 a.b at_ns=0\n", 3, "event number 2 out of sequence (expected 1)"},
        {h + "event=0 a.b at_ns=0\nevent=0 a.b at_ns=0\n", 3, "out of sequence"},
        {h + "event=0 a.b at_ns=10\nevent=1 a.b at_ns=9\n", 3, "at_ns goes backwards"},
        {h + "event=0 a.b at_ns=0 Bad=1\n", 2, "invalid key 'Bad'"},
        {h + "event=0 a.b at_ns=0 novalue\n", 2, "expected key=value"},
        {h + "event=0 a.b at_ns=0 at_ns=5\n", 2, "reserved key"},
        {h + "event=0 a.b at_ns=0 k=ab%4\n", 2, "truncated escape"},
        {h + "event=0 a.b at_ns=0 k=%zz\n", 2, "bad escape"},
        {h + "event=0 a.b at_ns=0 k=a\tb\n", 2, "unescaped byte"},
        {h + "event=0 A.b at_ns=0\n", 2, "invalid event name"},
        {h + "event=0 a.b\n", 2, "event line must start"},
        {h + "event=0 a.b at_ns=-1\n", 2, "at_ns must be"},
        {h + "event=0 a.b at_ns=0\n\n", 3, "event line must start"},
        {h + "event=0 a.b at_ns=0  k=1\n", 2, "expected key=value"},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        const auto [line, message] = parse_error(c.text);
        CHECK(line == c.line);
        CHECK(message.find(c.needle) != std::string::npos);
        CHECK(message.find("trace line " + std::to_string(c.line) + ":") == 0);
    }
}

TEST_CASE("parse_trace errors for JSON Lines", "[trace]") {
    const std::string h =
        "{\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":1,\"seed\":1,\"options\":{}}\n";
    const std::string ok = "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0}\n";
    CHECK(parse_text(h + ok).events.size() == 1);
    struct Case {
        std::string text;
        std::size_t line;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {"{\"trace\":\"marionette\"}\n", 1, "JSON header must be"},
        {"{\"trace\":\"marionette\",\"format\":\"text\",\"version\":1,\"seed\":1,\"options\":{}}\n", 1,
         "JSON header must be"},
        {"{\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":7,\"seed\":1,\"options\":{}}\n", 1,
         "unsupported trace version 7"},
        {"{\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":1,\"seed\":1,\"options\":{\"a\":1}}\n", 1,
         "option values must be strings"},
        {"{\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":1,\"seed\":1,\"options\":{\"A\":\"x\"}}\n", 1,
         "invalid option key 'A'"},
        {"marionette.trace format=text version=1 seed=1 A=x\n", 1, "invalid key 'A'"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0\n", 2, "JSON column"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0} x\n", 2, "trailing characters"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"k\":\"abc}\n", 2, "unterminated string"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"k\":1.5}\n", 2, "JSON column"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"k\":\"\\q\"}\n", 2, "bad escape"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"k\":\"\\u0100\"}\n", 2, "above 00ff"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"k\":null}\n", 2, "expected a string"},
        {h + "{\"name\":\"a.b\",\"event\":0,\"at_ns\":0}\n", 2, "JSON event must start"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"Bad\":1}\n", 2, "invalid field 'Bad'"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":0,\"event\":1}\n", 2, "invalid field 'event'"},
        {h + "{\"event\":0,\"name\":\"a b\",\"at_ns\":0}\n", 2, "invalid event name"},
        {h + ok + "{\"event\":1,\"name\":\"a.b\",\"at_ns\":0}\n" + "{\"event\":3,\"name\":\"a.b\",\"at_ns\":0}\n", 4,
         "out of sequence"},
        {h + "{\"event\":0,\"name\":\"a.b\",\"at_ns\":5}\n{\"event\":1,\"name\":\"a.b\",\"at_ns\":4}\n", 3,
         "at_ns goes backwards"},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        const auto [line, message] = parse_error(c.text);
        CHECK(line == c.line);
        CHECK(message.find(c.needle) != std::string::npos);
    }
}

TEST_CASE("summary counts by component and ranks the top events", "[trace]") {
    Trace trace;
    for (int i = 0; i < 3; ++i) trace.emit("disk.write");
    for (int i = 0; i < 5; ++i) trace.emit("disk.read");
    trace.emit("net.send");
    trace.emit("net.drop");
    trace.emit("solo");
    trace.emit("alpha.ping");
    for (int i = 0; i < 7; ++i) trace.emit("zeta.tick");
    const auto& summary = trace.summary();
    CHECK(summary.events == 19);
    CHECK(summary.by_component ==
          std::map<std::string, std::uint64_t>{{"alpha", 1}, {"disk", 8}, {"net", 2}, {"solo", 1}, {"zeta", 7}});
    CHECK(summary.by_name.at("disk.read") == 5);
    const std::string text = summary.format(4);
    CHECK(text.find("events=19") != std::string::npos);
    CHECK(text.find("final_ns=0") != std::string::npos);
    // Most frequent first (not name order); ties in name order; cut at `top`.
    CHECK(text.find("  top events:\n    zeta.tick 7\n    disk.read 5\n    disk.write 3\n    alpha.ping 1\n") !=
          std::string::npos);
    CHECK(text.find("net.send 1") == std::string::npos);
    CHECK(text.find("  by component:\n    alpha 1\n    disk 8\n    net 2\n    solo 1\n    zeta 7\n") !=
          std::string::npos);
    // The hash is printed as 16 hex digits.
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(summary.hash));
    CHECK(text.find(std::string("trace_hash=") + hex) != std::string::npos);
}

TEST_CASE("trace formats parse by name", "[trace]") {
    CHECK(marionette::parse_trace_format("text") == TraceFormat::text);
    CHECK(marionette::parse_trace_format("jsonl") == TraceFormat::jsonl);
    CHECK_THROWS_AS(marionette::parse_trace_format("json"), std::invalid_argument);
    CHECK(marionette::to_string(TraceFormat::jsonl) == "jsonl");
}

namespace {

// A straightforward renderer written from docs/trace-format.md, sharing no
// code with sim/trace.cpp: the fast path of Trace::emit (rendering into a
// reused buffer, hashing while rendering, counting through a cache) must give
// exactly these bytes, this hash and this summary.
struct ReferenceEvent {
    std::string name;
    marionette::Ns at_ns = 0;
    std::vector<marionette::TraceField> fields;
};

std::string reference_escape(const std::string& value) {
    std::string out;
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '=' || c == '%' || c == '\\') {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02X", c);
            out += escaped;
        } else {
            out += ch;
        }
    }
    return out;
}

std::string reference_json_string(const std::string& value) {
    std::string out = "\"";
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (ch == '\n') {
            out += "\\n";
        } else if (ch == '\t') {
            out += "\\t";
        } else if (ch == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c >= 0x7f) {
            char escaped[7];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// The value as text (before escaping) and as JSON.
std::string reference_text(const marionette::TraceValue& value) {
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return std::to_string(*u);
    if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
    return std::get<std::string>(value);
}

std::string reference_json(const marionette::TraceValue& value) {
    if (const auto* s = std::get_if<std::string>(&value)) return reference_json_string(*s);
    return reference_text(value);
}

std::string reference_line(std::size_t index, const ReferenceEvent& e, TraceFormat format) {
    std::ostringstream line;
    if (format == TraceFormat::text) {
        line << "event=" << index << ' ' << e.name << " at_ns=" << e.at_ns;
        for (const auto& field : e.fields) line << ' ' << field.key << '=' << reference_escape(reference_text(field.value));
    } else {
        line << "{\"event\":" << index << ",\"name\":" << reference_json_string(e.name) << ",\"at_ns\":" << e.at_ns;
        for (const auto& field : e.fields) {
            line << ',' << reference_json_string(field.key) << ':' << reference_json(field.value);
        }
        line << '}';
    }
    return line.str();
}

std::uint64_t reference_fnv(const std::string& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

// Awkward events: escapes of every kind, empty strings, extreme numbers,
// booleans, no fields, many fields, long values, names without a component
// dot, and names repeated (the summary's cached counters).
std::vector<ReferenceEvent> tricky_events() {
    std::vector<ReferenceEvent> events;
    events.push_back({"demo.start", 0, {}});
    events.push_back({"net.send", 7, {{"text", "a b=c%d\\e\n\t\"\x7f\xff"}, {"empty", ""}, {"space", " "}}});
    events.push_back({"net.send", 7,
                      {{"max_u64", ~std::uint64_t{0}}, {"min_i64", std::numeric_limits<std::int64_t>::min()},
                       {"max_i64", std::numeric_limits<std::int64_t>::max()}, {"zero", 0}, {"minus_one", -1},
                       {"yes", true}, {"no", false}, {"one_string", "1"}}});
    events.push_back({"solo", 10'000'000'000, {{"all", all_bytes()}, {"percents", std::string(300, '%')}}});
    std::vector<marionette::TraceField> many;
    for (int i = 0; i < 64; ++i) {
        const std::string key = "k" + std::to_string(i);
        if (i % 4 == 0) many.emplace_back(key, static_cast<std::uint64_t>(i) << 40);
        if (i % 4 == 1) many.emplace_back(key, -i);
        if (i % 4 == 2) many.emplace_back(key, i % 8 == 2);
        if (i % 4 == 3) many.emplace_back(key, std::string(static_cast<std::size_t>(i), static_cast<char>('a' + i % 26)));
    }
    events.push_back({"disk.write_many", 10'000'000'000, many});
    events.push_back({"a_b_c", ~std::uint64_t{0}, {{"long", std::string(5000, 'x') + "=" + std::string(5000, '\x01')}}});
    events.push_back({"net.deliver", ~std::uint64_t{0}, {{"id", 1}, {"from", 0}, {"to", 1}}});
    events.push_back({"solo", ~std::uint64_t{0}, {}});
    events.push_back({"x.y.z", ~std::uint64_t{0}, {{"dots", "a.b"}}});
    return events;
}

// Emits `events` through the vector overload or the initializer-list one
// (one event in two, so both paths are covered).
void emit_all(Trace& trace, marionette::Ns& now, const std::vector<ReferenceEvent>& events) {
    for (std::size_t i = 0; i < events.size(); ++i) {
        now = events[i].at_ns;
        if (i % 2 == 0) {
            trace.emit(events[i].name, events[i].fields);
        } else if (events[i].fields.size() == 3) {
            const auto& f = events[i].fields;
            trace.emit(events[i].name, {f[0], f[1], f[2]});
        } else {
            trace.emit(events[i].name, std::vector<marionette::TraceField>(events[i].fields));
        }
    }
}

}  // namespace

TEST_CASE("emit writes, hashes and counts exactly like a straightforward reference", "[trace]") {
    // Seeded random events (random bytes, types and field counts), all at
    // time 0, then the awkward ones.
    std::vector<ReferenceEvent> events;
    Prng prng(271828);
    for (int i = 0; i < 300; ++i) {
        ReferenceEvent e{i % 3 == 0 ? "rand.a" : (i % 3 == 1 ? "rand.b" : "other"), 0, {}};
        const std::size_t n = prng.uint_less_than(12);
        for (std::size_t f = 0; f < n; ++f) {
            const std::string key = "f" + std::to_string(f);
            switch (prng.uint_less_than(4)) {
                case 0: e.fields.emplace_back(key, prng.next_u64() >> prng.uint_less_than(64)); break;
                case 1: e.fields.emplace_back(key, -static_cast<std::int64_t>(prng.next_u64() >> 1)); break;
                case 2: e.fields.emplace_back(key, prng.uint_less_than(2) == 1); break;
                default: {
                    std::string s(prng.uint_less_than(40), '\0');
                    for (char& c : s) c = static_cast<char>(prng.uint_less_than(256));
                    e.fields.emplace_back(key, s);
                }
            }
        }
        events.push_back(std::move(e));
    }
    for (ReferenceEvent& e : tricky_events()) events.push_back(std::move(e));

    std::string text_lines;
    std::map<std::string, std::uint64_t> by_name;
    std::map<std::string, std::uint64_t> by_component;
    for (std::size_t i = 0; i < events.size(); ++i) {
        text_lines += reference_line(i, events[i], TraceFormat::text) + "\n";
        ++by_name[events[i].name];
        ++by_component[events[i].name.substr(0, events[i].name.find('.'))];
    }
    const std::uint64_t hash = reference_fnv(text_lines);

    for (const TraceFormat format : {TraceFormat::text, TraceFormat::jsonl}) {
        for (const bool keep : {false, true}) {
            INFO("format " << marionette::to_string(format) << " keep_events " << keep);
            std::ostringstream out;
            Trace trace(TraceHeader{format, 1, 5, {}}, &out, keep);
            marionette::Ns now = 0;
            trace.set_clock([&now] { return now; });
            emit_all(trace, now, events);

            std::string expected = format == TraceFormat::text ? "marionette.trace format=text version=1 seed=5\n"
                                                               : "{\"trace\":\"marionette\",\"format\":\"jsonl\","
                                                                 "\"version\":1,\"seed\":5,\"options\":{}}\n";
            for (std::size_t i = 0; i < events.size(); ++i) expected += reference_line(i, events[i], format) + "\n";
            CHECK(out.str() == expected);
            CHECK(trace.hash() == hash);
            CHECK(trace.size() == events.size());
            CHECK(trace.summary().by_name == by_name);
            CHECK(trace.summary().by_component == by_component);
            CHECK(trace.summary().final_ns == ~std::uint64_t{0});
            REQUIRE(trace.events().size() == (keep ? events.size() : 0));
            for (std::size_t i = 0; i < trace.events().size(); ++i) {
                CHECK(render_event(trace.events()[i], format) == reference_line(i, events[i], format));
            }
            // Parsing the output gives the same hash and counts back.
            const ParsedTrace parsed = parse_text(out.str());
            CHECK(parsed.summary.hash == hash);
            CHECK(parsed.summary.by_name == by_name);
        }
    }
}

TEST_CASE("a copied or moved trace counts on in its own summary", "[trace]") {
    Trace a;
    a.emit("x.y");
    a.emit("x.z");
    Trace b = a;
    b.emit("x.y");
    a.emit("x.y");
    a.emit("x.y");
    CHECK(a.summary().by_name.at("x.y") == 3);
    CHECK(a.summary().by_component.at("x") == 4);
    CHECK(b.summary().by_name.at("x.y") == 2);
    CHECK(b.summary().by_component.at("x") == 3);
    Trace c = std::move(b);
    c.emit("x.y");
    c.emit("w");
    CHECK(c.summary().by_name.at("x.y") == 3);
    CHECK(c.summary().by_component == std::map<std::string, std::uint64_t>{{"w", 1}, {"x", 4}});
    b = a;
    b.emit("x.z");
    CHECK(b.summary().by_name.at("x.z") == 2);
    CHECK(a.summary().by_name.at("x.z") == 1);
    CHECK(b.hash() != a.hash());
}
