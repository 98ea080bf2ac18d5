#include "sim/trace_json.hpp"

#include <charconv>
#include <stdexcept>

#include "sim/trace_line.hpp"

namespace marionette::detail {

void LineWriter::put_json_quoted(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    put('"');
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': put("\\\""); break;
            case '\\': put("\\\\"); break;
            case '\n': put("\\n"); break;
            case '\t': put("\\t"); break;
            case '\r': put("\\r"); break;
            default:
                if (c < 0x20 || c >= 0x7f) {
                    // Bytes, not code points: a trace value may be any byte
                    // string, so each byte is written as \u00XX.
                    put("\\u00");
                    put(hex[c >> 4]);
                    put(hex[c & 0xf]);
                } else {
                    put(ch);
                }
        }
    }
    put('"');
}

void LineWriter::put_json_value(const TraceValue& value) {
    if (const auto* text = std::get_if<std::string>(&value)) {
        put_json_quoted(*text);
    } else {
        put_text_value(value);  // numbers and booleans read the same in both
    }
}

std::size_t json_event_bound(std::string_view name, std::span<const TraceField> fields) {
    // {"event":N,"name":"..","at_ns":T} then ,"key":value per field; a
    // quoted byte takes at most 6 bytes (\u00XX).
    std::size_t bound = 9 + max_integer_chars + 8 + 2 + 6 * name.size() + 9 + max_integer_chars + 1;
    for (const TraceField& field : fields) {
        const auto* text = std::get_if<std::string>(&field.value);
        bound += 2 + 2 + 6 * field.key.size() + (text != nullptr ? 2 + 6 * text->size() : max_integer_chars);
    }
    return bound;
}

char* write_json_event(char* at, std::uint64_t index, std::string_view name, Ns at_ns,
                       std::span<const TraceField> fields) {
    LineWriter line(at);
    line.put("{\"event\":");
    line.put_integer(index);
    line.put(",\"name\":");
    line.put_json_quoted(name);
    line.put(",\"at_ns\":");
    line.put_integer(at_ns);
    for (const TraceField& field : fields) {
        line.put(',');
        line.put_json_quoted(field.key);
        line.put(':');
        line.put_json_value(field.value);
    }
    line.put('}');
    return line.end();
}

std::string json_quote(std::string_view text) {
    std::string out(2 + 6 * text.size(), '\0');
    LineWriter writer(out.data());
    writer.put_json_quoted(text);
    out.resize(static_cast<std::size_t>(writer.end() - out.data()));
    return out;
}

namespace {

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

std::vector<JsonMember> parse_json_object(std::string_view line) {
    JsonReader reader(line);
    std::vector<JsonMember> members = reader.object();
    reader.finish();
    return members;
}

}  // namespace marionette::detail
