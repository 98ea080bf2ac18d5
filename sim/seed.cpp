#include "sim/seed.hpp"

#include <charconv>
#include <stdexcept>
#include <string>

namespace marionette {
namespace {

[[noreturn]] void bad_seed(std::string_view text, std::string_view why) {
    throw std::invalid_argument("invalid seed '" + std::string(text) + "': " + std::string(why) +
                                " (expected a decimal number up to 18446744073709551615, 0x followed by up to 16 hex "
                                "digits, or a 40-hex-digit git commit hash)");
}

bool all_hex(std::string_view s) {
    for (char c : s) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex) return false;
    }
    return true;
}

std::uint64_t parse_hex(std::string_view text, std::string_view digits) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) bad_seed(text, "not a hex number");
    return value;
}

}  // namespace

std::uint64_t parse_seed(std::string_view text) {
    if (text.empty()) bad_seed(text, "empty");
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        const std::string_view digits = text.substr(2);
        if (!all_hex(digits)) bad_seed(text, "not a hex number");
        if (digits.size() > 16) bad_seed(text, "more than 16 hex digits");
        return parse_hex(text, digits);
    }
    if (text.size() == 40 && all_hex(text)) return parse_hex(text, text.substr(24));
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
    if (ec == std::errc::result_out_of_range) bad_seed(text, "larger than 64 bits");
    if (ec != std::errc() || ptr != text.data() + text.size()) bad_seed(text, "not a number");
    return value;
}

}  // namespace marionette
