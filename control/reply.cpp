// Reply lines: `ok [key=value ...]` and `error <code> <message>`.
#include <array>
#include <stdexcept>

#include "control/lexer.hpp"
#include "marionette/control_protocol.hpp"
#include "sim/trace.hpp"

namespace marionette {
namespace {

struct CodeName {
    ErrorCode code;
    std::string_view name;
};

constexpr std::array<CodeName, 11> code_names{{
    {ErrorCode::parse, "parse"},
    {ErrorCode::unknown_command, "unknown_command"},
    {ErrorCode::bad_argument, "bad_argument"},
    {ErrorCode::encoding, "encoding"},
    {ErrorCode::too_long, "too_long"},
    {ErrorCode::version, "version"},
    {ErrorCode::state, "state"},
    {ErrorCode::unsupported, "unsupported"},
    {ErrorCode::expect_failed, "expect_failed"},
    {ErrorCode::internal, "internal"},
    {ErrorCode::connection, "connection"},
}};

constexpr char hex_digits[] = "0123456789ABCDEF";

void append_hex(std::string& out, unsigned char c) {
    out += '%';
    out += hex_digits[c >> 4];
    out += hex_digits[c & 0xf];
}

// Messages stay readable (spaces and UTF-8 kept) but can never break the
// framing or the encoding rules: control bytes, '%' and bytes that are not
// part of valid UTF-8 become %HH.
std::string escape_message(std::string_view message) {
    std::string out;
    std::size_t i = 0;
    while (i < message.size()) {
        std::size_t bad = message.size();
        std::string_view rest = message.substr(i);
        if (valid_utf8(rest, bad)) bad = rest.size();
        for (std::size_t k = 0; k < bad; ++k) {
            const auto c = static_cast<unsigned char>(rest[k]);
            if (c < 0x20 || c == 0x7f || c == '%') {
                append_hex(out, c);
            } else {
                out += static_cast<char>(c);
            }
        }
        if (bad < rest.size()) append_hex(out, static_cast<unsigned char>(rest[bad]));
        i += bad + 1;
    }
    return out;
}

}  // namespace

std::string_view to_string(ErrorCode code) {
    for (const CodeName& entry : code_names) {
        if (entry.code == code) return entry.name;
    }
    return "internal";
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
    for (const CodeName& entry : code_names) {
        if (entry.name == text) return entry.code;
    }
    return std::nullopt;
}

Reply Reply::success(std::vector<std::pair<std::string, std::string>> fields) {
    Reply reply;
    reply.fields = std::move(fields);
    return reply;
}

Reply Reply::failure(ErrorCode code, std::string message) {
    Reply reply;
    reply.ok = false;
    reply.code = code;
    reply.message = std::move(message);
    return reply;
}

const std::string* Reply::find(std::string_view key) const {
    for (const auto& [k, v] : fields) {
        if (k == key) return &v;
    }
    return nullptr;
}

std::string format_reply(const Reply& reply) {
    if (!reply.ok) {
        std::string out = "error ";
        out += to_string(reply.code);
        if (reply.message.empty()) return out;
        return out + " " + escape_message(reply.message);
    }
    std::string out = "ok";
    for (const auto& [key, value] : reply.fields) {
        if (!valid_field_key(key)) throw std::invalid_argument("invalid reply field key '" + key + "'");
        out += ' ';
        out += key;
        out += '=';
        out += escape_value(value);
    }
    return out;
}

Reply parse_reply(std::string_view line) {
    if (line.rfind("error ", 0) == 0) {
        const std::string_view rest = line.substr(6);
        const std::size_t space = rest.find(' ');
        const std::string_view code_text = rest.substr(0, space);
        const std::optional<ErrorCode> code = parse_error_code(code_text);
        if (!code) throw std::invalid_argument("reply has unknown error code '" + std::string(code_text) + "'");
        const std::string_view message = space == std::string_view::npos ? "" : rest.substr(space + 1);
        std::string text;
        for (std::size_t i = 0; i < message.size(); ++i) {
            if (message[i] == '%' && i + 2 < message.size()) {
                text += unescape_value(message.substr(i, 3));
                i += 2;
            } else if (message[i] == '%') {
                throw std::invalid_argument("reply message has a truncated %-escape");
            } else {
                text += message[i];
            }
        }
        return Reply::failure(*code, std::move(text));
    }
    if (line != "ok" && line.rfind("ok ", 0) != 0) {
        throw std::invalid_argument("reply must start with 'ok' or 'error <code>', got '" +
                                    std::string(line.substr(0, 40)) + "'");
    }
    Reply reply;
    std::string_view rest = line.substr(2);
    while (!rest.empty()) {
        if (rest.front() != ' ') throw std::invalid_argument("reply fields must be separated by one space");
        rest.remove_prefix(1);
        const std::size_t end = std::min(rest.find(' '), rest.size());
        const std::string_view field = rest.substr(0, end);
        const std::size_t eq = field.find('=');
        if (eq == std::string_view::npos || !valid_field_key(field.substr(0, eq))) {
            throw std::invalid_argument("malformed reply field '" + std::string(field.substr(0, 40)) + "'");
        }
        reply.fields.emplace_back(std::string(field.substr(0, eq)), unescape_value(field.substr(eq + 1)));
        rest.remove_prefix(end);
    }
    return reply;
}

}  // namespace marionette
