#include "sim/rate.hpp"

#include <charconv>
#include <stdexcept>

namespace marionette {
namespace {

[[noreturn]] void bad_rate(std::string_view text, std::string_view why) {
    throw std::invalid_argument("invalid rate '" + std::string(text) + "': " + std::string(why) +
                                " (expected never, always, 20%, 12.5%, 1/8, percent(20), one_in(8) or "
                                "ratio(1,8))");
}

std::uint64_t parse_u64(std::string_view whole, std::string_view digits) {
    std::uint64_t value = 0;
    if (digits.empty()) bad_rate(whole, "missing number");
    const char* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec == std::errc::result_out_of_range) bad_rate(whole, "number too large");
    if (ec != std::errc() || ptr != end) bad_rate(whole, "'" + std::string(digits) + "' is not a whole number");
    return value;
}

std::string_view strip(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// "12.5" -> 125/1000 of a percent, i.e. ratio(125, 100 * 10).
Rate parse_percent(std::string_view whole, std::string_view number) {
    const std::size_t dot = number.find('.');
    std::uint64_t scale = 1;
    std::uint64_t value = 0;
    if (dot == std::string_view::npos) {
        value = parse_u64(whole, number);
    } else {
        std::string_view fraction = number.substr(dot + 1);
        if (fraction.size() > 9) bad_rate(whole, "at most 9 decimal places");
        std::string digits(number.substr(0, dot));
        digits += fraction;
        value = parse_u64(whole, digits);
        for (std::size_t i = 0; i < fraction.size(); ++i) scale *= 10;
    }
    if (value > 100 * scale) bad_rate(whole, "a percentage must be at most 100%");
    return Rate::ratio(value, 100 * scale);
}

}  // namespace

Rate Rate::ratio(std::uint64_t numerator, std::uint64_t denominator) {
    if (denominator == 0) {
        throw std::invalid_argument("invalid rate " + std::to_string(numerator) + "/0: denominator must be > 0");
    }
    if (numerator > denominator) {
        throw std::invalid_argument("invalid rate " + std::to_string(numerator) + "/" + std::to_string(denominator) +
                                    ": numerator must not exceed denominator");
    }
    return Rate(numerator, denominator);
}

Rate Rate::parse(std::string_view text) {
    const std::string_view s = strip(text);
    if (s.empty()) bad_rate(text, "empty");
    if (s == "never") return never();
    if (s == "always") return always();
    try {
        if (s.back() == '%') return parse_percent(text, s.substr(0, s.size() - 1));
        if (s.back() == ')') {
            const std::size_t open = s.find('(');
            if (open == std::string_view::npos) bad_rate(text, "unbalanced parenthesis");
            const std::string_view fn = s.substr(0, open);
            const std::string_view args = strip(s.substr(open + 1, s.size() - open - 2));
            if (fn == "percent") return parse_percent(text, args);
            if (fn == "one_in") return one_in(parse_u64(text, args));
            if (fn == "ratio") {
                const std::size_t comma = args.find(',');
                if (comma == std::string_view::npos) bad_rate(text, "ratio needs two numbers");
                return ratio(parse_u64(text, strip(args.substr(0, comma))), parse_u64(text, strip(args.substr(comma + 1))));
            }
            bad_rate(text, "unknown function '" + std::string(fn) + "'");
        }
        const std::size_t slash = s.find('/');
        if (slash != std::string_view::npos) {
            return ratio(parse_u64(text, strip(s.substr(0, slash))), parse_u64(text, strip(s.substr(slash + 1))));
        }
    } catch (const std::invalid_argument& e) {
        const std::string message = e.what();
        if (message.rfind("invalid rate '", 0) == 0) throw;
        bad_rate(text, message.substr(message.find(": ") + 2));
    }
    bad_rate(text, "unrecognised form");
}

RateRoll Rate::roll(Prng& prng) const {
    const std::uint64_t r = prng.uint_less_than(denominator_);
    return RateRoll{r, r < numerator_};
}

std::string Rate::to_string() const { return std::to_string(numerator_) + "/" + std::to_string(denominator_); }

}  // namespace marionette
