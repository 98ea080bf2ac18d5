#include "sim/trace_json.hpp"

#include <charconv>
#include <stdexcept>

namespace marionette::detail {

std::string json_quote(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20 || c >= 0x7f) {
                    // Bytes, not code points: a trace value may be any byte
                    // string, so each byte is written as \u00XX.
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

namespace {

std::string json_value(const TraceValue& value) {
    if (const auto* text = std::get_if<std::string>(&value)) return json_quote(*text);
    return value_text(value);
}

class JsonReader {
public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    std::vector<JsonMember> object() {
        std::vector<JsonMember> members;
        expect('{');
        skip_space();
        if (peek() == '}') {
            ++pos_;
            return members;
        }
        for (;;) {
            JsonMember member;
            member.key = string();
            expect(':');
            skip_space();
            if (peek() == '{') {
                member.is_object = true;
                for (JsonMember& inner : object()) {
                    const auto* text = std::get_if<std::string>(&inner.value);
                    if (text == nullptr || inner.is_object) fail("option values must be strings");
                    member.nested.emplace_back(std::move(inner.key), *text);
                }
            } else {
                member.value = scalar();
            }
            members.push_back(std::move(member));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            return members;
        }
    }

    void finish() {
        skip_space();
        if (pos_ != text_.size()) fail("trailing characters");
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::invalid_argument("JSON column " + std::to_string(pos_ + 1) + ": " + why);
    }
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }

    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            if (pos_ >= text_.size()) fail("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            const char e = peek();
            ++pos_;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
                    unsigned code = 0;
                    auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
                    if (ec != std::errc() || ptr != text_.data() + pos_ + 4) fail("bad \\u escape");
                    if (code > 0xff) fail("\\u escapes above 00ff are not used by traces");
                    out += static_cast<char>(code);
                    pos_ += 4;
                    break;
                }
                default: fail("bad escape");
            }
        }
    }

    TraceValue scalar() {
        skip_space();
        const char c = peek();
        if (c == '"') return string();
        if (text_.substr(pos_, 4) == "true") {
            pos_ += 4;
            return true;
        }
        if (text_.substr(pos_, 5) == "false") {
            pos_ += 5;
            return false;
        }
        const char* begin = text_.data() + pos_;
        const char* end = text_.data() + text_.size();
        if (c == '-') {
            std::int64_t v = 0;
            auto [ptr, ec] = std::from_chars(begin, end, v);
            if (ec != std::errc()) fail("bad integer");
            pos_ += static_cast<std::size_t>(ptr - begin);
            return v;
        }
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(begin, end, v);
        if (ec != std::errc()) fail("expected a string, integer or boolean");
        pos_ += static_cast<std::size_t>(ptr - begin);
        return v;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::string render_json_header(const TraceHeader& header) {
    std::string line = "{\"trace\":\"marionette\",\"format\":\"jsonl\",\"version\":" + std::to_string(header.version) +
                       ",\"seed\":" + std::to_string(header.seed) + ",\"options\":{";
    bool first = true;
    for (const auto& [key, value] : header.options) {
        if (!first) line += ',';
        first = false;
        line += json_quote(key) + ":" + json_quote(value);
    }
    return line + "}}";
}

std::string render_json_event(const TraceEvent& event) {
    std::string line = "{\"event\":" + std::to_string(event.index) + ",\"name\":" + json_quote(event.name) +
                       ",\"at_ns\":" + std::to_string(event.at_ns);
    for (const TraceField& field : event.fields) line += "," + json_quote(field.key) + ":" + json_value(field.value);
    return line + "}";
}

std::vector<JsonMember> parse_json_object(std::string_view line) {
    JsonReader reader(line);
    std::vector<JsonMember> members = reader.object();
    reader.finish();
    return members;
}

}  // namespace marionette::detail
