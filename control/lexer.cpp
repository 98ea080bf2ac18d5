#include "control/lexer.hpp"

#include <algorithm>
#include <cstdint>

namespace marionette {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Bytes a word may contain without quoting. Everything else (blanks, quotes,
// backslash, shell metacharacters, a leading '#') is quoted when printed, so
// that printed commands can also be pasted into a shell unchanged.
bool is_plain(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("_-./:,@%+=^").find(c) != std::string_view::npos;
}

// Number of continuation bytes after a lead byte and the smallest code point
// that needs that many (to reject overlong forms); 0 continuation = invalid.
struct Lead {
    int continuation;
    std::uint32_t min_code_point;
    std::uint32_t bits;
};

std::optional<Lead> utf8_lead(unsigned char c) {
    if (c >= 0xC2 && c <= 0xDF) return Lead{1, 0x80, c & 0x1Fu};
    if (c >= 0xE0 && c <= 0xEF) return Lead{2, 0x800, c & 0x0Fu};
    if (c >= 0xF0 && c <= 0xF4) return Lead{3, 0x10000, c & 0x07u};
    return std::nullopt;
}

// Optimal-string-alignment distance: insertions, deletions, substitutions
// and transpositions of neighbours ("exti" is one typo away from "exit").
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

std::string ParseError::describe() const { return "column " + std::to_string(column) + ": " + message; }

bool valid_utf8(std::string_view text, std::size_t& bad_offset) {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        const std::optional<Lead> lead = utf8_lead(c);
        if (!lead || i + static_cast<std::size_t>(lead->continuation) >= text.size()) {
            bad_offset = i;
            return false;
        }
        std::uint32_t code_point = lead->bits;
        for (int k = 1; k <= lead->continuation; ++k) {
            const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
            if ((next & 0xC0) != 0x80) {
                bad_offset = i;
                return false;
            }
            code_point = (code_point << 6) | (next & 0x3Fu);
        }
        if (code_point < lead->min_code_point || code_point > 0x10FFFF ||
            (code_point >= 0xD800 && code_point <= 0xDFFF)) {
            bad_offset = i;
            return false;
        }
        i += static_cast<std::size_t>(lead->continuation) + 1;
    }
    return true;
}

std::optional<ParseError> check_line_bytes(std::string_view line) {
    if (line.size() > max_request_line_bytes) {
        return ParseError{ErrorCode::too_long, max_request_line_bytes + 1,
                          "line is " + std::to_string(line.size()) + " bytes, longer than the limit of " +
                              std::to_string(max_request_line_bytes)};
    }
    for (std::size_t i = 0; i < line.size(); ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c == 0) return ParseError{ErrorCode::encoding, i + 1, "NUL byte in line"};
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return ParseError{ErrorCode::encoding, i + 1,
                              "control byte 0x" + std::string(1, "0123456789abcdef"[c >> 4]) +
                                  std::string(1, "0123456789abcdef"[c & 0xf]) + " in line"};
        }
    }
    std::size_t bad = 0;
    if (!valid_utf8(line, bad)) return ParseError{ErrorCode::encoding, bad + 1, "invalid UTF-8 in line"};
    return std::nullopt;
}

SplitLine split_words(std::string_view line) {
    SplitLine out;
    std::size_t i = 0;
    while (true) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i >= line.size() || line[i] == '#') return out;
        Word word;
        word.column = i + 1;
        while (i < line.size() && !is_blank(line[i])) {
            const char c = line[i];
            if (c == '\'') {
                const std::size_t close = line.find('\'', i + 1);
                if (close == std::string_view::npos) {
                    out.error = ParseError{ErrorCode::parse, i + 1, "unterminated single quote"};
                    return out;
                }
                word.text.append(line.substr(i + 1, close - i - 1));
                word.quoted = true;
                i = close + 1;
            } else if (c == '"') {
                const std::size_t open = i++;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) ++i;
                    word.text += line[i++];
                }
                if (i >= line.size()) {
                    out.error = ParseError{ErrorCode::parse, open + 1, "unterminated double quote"};
                    return out;
                }
                word.quoted = true;
                ++i;
            } else if (c == '\\') {
                if (i + 1 >= line.size()) {
                    out.error = ParseError{ErrorCode::parse, i + 1, "backslash at the end of the line"};
                    return out;
                }
                word.text += line[i + 1];
                word.quoted = true;
                i += 2;
            } else {
                word.text += c;
                ++i;
            }
        }
        out.words.push_back(std::move(word));
    }
}

std::string quote_word(std::string_view word) {
    if (!word.empty() && word.front() != '#' && std::all_of(word.begin(), word.end(), is_plain)) {
        return std::string(word);
    }
    if (word.find('\'') == std::string_view::npos) return "'" + std::string(word) + "'";
    std::string out = "\"";
    for (char c : word) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::vector<std::string_view> near_matches(std::string_view word, const std::vector<std::string_view>& candidates) {
    // Allow about one typo per three letters, at least one and at most three.
    const std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
    std::vector<std::pair<std::size_t, std::string_view>> scored;
    for (std::string_view candidate : candidates) {
        const std::size_t d = edit_distance(word, candidate);
        const bool prefix = word.size() >= 2 && candidate.substr(0, word.size()) == word;
        if (d <= limit || prefix) scored.emplace_back(prefix ? std::min<std::size_t>(d, 1) : d, candidate);
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string_view> out;
    for (std::size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
    return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
    const std::vector<std::string_view> matches = near_matches(word, candidates);
    if (matches.empty()) return "";
    std::string out = " (did you mean ";
    for (std::size_t i = 0; i < matches.size(); ++i) {
        if (i > 0) out += i + 1 == matches.size() ? " or " : ", ";
        out += "'" + std::string(matches[i]) + "'";
    }
    return out + "?)";
}

}  // namespace marionette
