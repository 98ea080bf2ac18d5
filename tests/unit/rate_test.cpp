// Tests for sim/rate: constructors, text parsing (and its errors), and what a
// roll draws from the stream.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "sim/random.hpp"
#include "sim/rate.hpp"

using marionette::Prng;
using marionette::Rate;

namespace {

std::string rate_error(const std::string& text) {
    try {
        (void)Rate::parse(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("rate constructors", "[rate]") {
    CHECK(Rate::never().numerator() == 0);
    CHECK(Rate::never().denominator() == 1);
    CHECK(Rate::never().is_never());
    CHECK(Rate::always().numerator() == 1);
    CHECK(Rate::always().denominator() == 1);
    CHECK_FALSE(Rate::always().is_never());
    CHECK(Rate::percent(20) == Rate::ratio(20, 100));
    CHECK(Rate::percent(0).is_never());
    CHECK(Rate::percent(100).to_string() == "100/100");
    CHECK(Rate::one_in(8) == Rate::ratio(1, 8));
    CHECK(Rate::ratio(3, 7).to_string() == "3/7");
    // Rates are kept as written, not reduced: 2/16 is not 1/8 (the trace
    // shows what was configured).
    CHECK_FALSE(Rate::ratio(2, 16) == Rate::ratio(1, 8));
}

TEST_CASE("rate constructor errors", "[rate]") {
    CHECK_THROWS_AS(Rate::ratio(1, 0), std::invalid_argument);
    CHECK_THROWS_AS(Rate::ratio(0, 0), std::invalid_argument);
    CHECK_THROWS_AS(Rate::ratio(5, 4), std::invalid_argument);
    CHECK_THROWS_AS(Rate::percent(101), std::invalid_argument);
    CHECK_THROWS_AS(Rate::one_in(0), std::invalid_argument);
}

TEST_CASE("rate parse accepts every documented form", "[rate]") {
    CHECK(Rate::parse("20%") == Rate::ratio(20, 100));
    CHECK(Rate::parse("12.5%") == Rate::ratio(125, 1000));
    CHECK(Rate::parse("0%") == Rate::ratio(0, 100));
    CHECK(Rate::parse("100%") == Rate::ratio(100, 100));
    CHECK(Rate::parse("1/8") == Rate::ratio(1, 8));
    CHECK(Rate::parse("0/5") == Rate::ratio(0, 5));
    CHECK(Rate::parse("percent(20)") == Rate::ratio(20, 100));
    CHECK(Rate::parse("percent(12.5)") == Rate::ratio(125, 1000));
    CHECK(Rate::parse("one_in(8)") == Rate::ratio(1, 8));
    CHECK(Rate::parse("ratio(1,8)") == Rate::ratio(1, 8));
    CHECK(Rate::parse("always") == Rate::always());
    CHECK(Rate::parse("never") == Rate::never());
    // to_string is accepted back.
    CHECK(Rate::parse(Rate::ratio(3, 7).to_string()) == Rate::ratio(3, 7));
}

TEST_CASE("rate parse ignores surrounding whitespace", "[rate]") {
    CHECK(Rate::parse("  20%\t") == Rate::ratio(20, 100));
    CHECK(Rate::parse(" 1 / 8 ") == Rate::ratio(1, 8));
    CHECK(Rate::parse("\talways ") == Rate::always());
    CHECK(Rate::parse(" never") == Rate::never());
    CHECK(Rate::parse("ratio( 1 , 8 )") == Rate::ratio(1, 8));
    CHECK(Rate::parse("one_in( 8 )") == Rate::ratio(1, 8));
}

TEST_CASE("rate parse errors name the text", "[rate]") {
    for (const std::string text : {"3/0", "5/4", "101%", "abc", "", "1/", "-1%", "percent(x)", "   ", "/8",
                                   "1/8/2", "ratio(1)", "ratio(2,1)", "one_in(0)", "one_in()", "maybe(3)", "12.5.1%",
                                   "100.1%", "1.0000000001%", "20 %", "20%%", "ALWAYS", "0x10/0x20",
                                   "99999999999999999999/1", "ratio(1,8"}) {
        INFO(text);
        const std::string message = rate_error(text);
        CHECK(message != "<no error>");
        CHECK(message.find("invalid rate '" + text + "'") != std::string::npos);
        // The message also lists the accepted forms.
        CHECK(message.find("expected never, always") != std::string::npos);
    }
    CHECK(rate_error("3/0").find("denominator") != std::string::npos);
    CHECK(rate_error("5/4").find("numerator must not exceed") != std::string::npos);
    CHECK(rate_error("101%").find("at most 100%") != std::string::npos);
}

TEST_CASE("never and always decide without looking and consume one draw", "[rate]") {
    for (const Rate rate : {Rate::never(), Rate::always()}) {
        Prng prng(5);
        Prng shadow(5);
        for (int i = 0; i < 100; ++i) {
            const auto roll = rate.roll(prng);
            CHECK(roll.fired == !rate.is_never());
            CHECK(roll.roll < rate.denominator());
            (void)shadow.next_u64();
        }
        // Exactly one 64-bit draw per roll: both streams are still aligned.
        CHECK(prng.next_u64() == shadow.next_u64());
    }
}

TEST_CASE("a roll is one bounded draw compared with the numerator", "[rate]") {
    const Rate rate = Rate::ratio(3, 8);  // power of two: never retries
    Prng prng(77);
    Prng shadow(77);
    for (int i = 0; i < 200; ++i) {
        const auto roll = rate.roll(prng);
        const std::uint64_t expected = shadow.uint_less_than(8);
        CHECK(roll.roll == expected);
        CHECK(roll.fired == (expected < 3));
    }
}

TEST_CASE("percent(20) fires about 20% of the time", "[rate]") {
    // 100000 Bernoulli(0.2) trials: standard deviation sqrt(n p (1-p)) = 126.5,
    // so +-1% (1000 hits) is about 7.9 sigma.
    const Rate rate = Rate::percent(20);
    Prng prng(2024);
    int fired = 0;
    constexpr int n = 100'000;
    for (int i = 0; i < n; ++i) fired += rate.roll(prng).fired ? 1 : 0;
    CHECK(fired > 19'000);
    CHECK(fired < 21'000);

    // 12.5% is exactly 1/8.
    Prng a(9);
    int eighth = 0;
    for (int i = 0; i < n; ++i) eighth += Rate::parse("12.5%").roll(a).fired ? 1 : 0;
    CHECK(eighth > 12'500 - 700);
    CHECK(eighth < 12'500 + 700);
}
