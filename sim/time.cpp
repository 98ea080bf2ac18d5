#include "sim/time.hpp"

#include <array>
#include <limits>
#include <stdexcept>

namespace marionette {
namespace {

struct Unit {
    std::string_view suffix;
    Ns factor;
};

// Longest suffixes first so that "ms" is not read as "m" followed by junk.
constexpr std::array<Unit, 7> units{{
    {"ns", 1},
    {"us", ns_per_us},
    {"ms", ns_per_ms},
    {"s", ns_per_s},
    {"m", 60 * ns_per_s},
    {"h", 3600 * ns_per_s},
    {"d", 86400 * ns_per_s},
}};

[[noreturn]] void bad_duration(std::string_view text, std::string_view why) {
    throw std::invalid_argument("invalid duration '" + std::string(text) + "': " + std::string(why) +
                                " (expected e.g. 250ns, 10us, 150ms, 2s, 5m, 1h)");
}

}  // namespace

Ns parse_duration(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) bad_duration(text, "it must start with a number");
    std::string_view suffix = text.substr(digits);
    Ns factor = 1;
    if (!suffix.empty()) {
        bool known = false;
        for (const Unit& unit : units) {
            if (unit.suffix == suffix) {
                factor = unit.factor;
                known = true;
                break;
            }
        }
        if (!known) bad_duration(text, "unknown unit '" + std::string(suffix) + "'");
    }
    Ns value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        const Ns digit = static_cast<Ns>(text[i] - '0');
        if (value > (std::numeric_limits<Ns>::max() - digit) / 10) bad_duration(text, "too large");
        value = value * 10 + digit;
    }
    if (factor != 0 && value > std::numeric_limits<Ns>::max() / factor) bad_duration(text, "too large");
    return value * factor;
}

std::string format_duration(Ns duration_ns) {
    if (duration_ns == 0) return "0s";
    for (std::size_t i = units.size(); i-- > 0;) {
        if (units[i].factor <= 3600 * ns_per_s && duration_ns % units[i].factor == 0) {
            return std::to_string(duration_ns / units[i].factor) + std::string(units[i].suffix);
        }
    }
    return std::to_string(duration_ns) + "ns";
}

}  // namespace marionette
