// Tests for sim/time: duration text in both directions.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "sim/time.hpp"

using marionette::format_duration;
using marionette::Ns;
using marionette::ns_per_ms;
using marionette::ns_per_s;
using marionette::ns_per_us;
using marionette::parse_duration;

namespace {

// The message of the std::invalid_argument thrown by parse_duration(text).
std::string duration_error(const std::string& text) {
    try {
        (void)parse_duration(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("parse_duration reads every unit", "[time]") {
    CHECK(parse_duration("250ns") == 250);
    CHECK(parse_duration("10us") == 10 * ns_per_us);
    CHECK(parse_duration("150ms") == 150 * ns_per_ms);
    CHECK(parse_duration("2s") == 2 * ns_per_s);
    CHECK(parse_duration("5m") == 300 * ns_per_s);
    CHECK(parse_duration("1h") == 3600 * ns_per_s);
    CHECK(parse_duration("1d") == 86400 * ns_per_s);
    CHECK(parse_duration("0s") == 0);
}

TEST_CASE("parse_duration reads a bare number as nanoseconds", "[time]") {
    CHECK(parse_duration("0") == 0);
    CHECK(parse_duration("1") == 1);
    CHECK(parse_duration("1500") == 1500);
    CHECK(parse_duration("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("parse_duration rejects overflow and names the text", "[time]") {
    // 2^64 as a bare number, and values that only overflow once scaled.
    for (const std::string text : {"18446744073709551616", "99999999999999999999999", "18446744074s",
                                   "5124096h", "213503983d"}) {
        INFO(text);
        const std::string message = duration_error(text);
        CHECK(message.find("'" + text + "'") != std::string::npos);
        CHECK(message.find("too large") != std::string::npos);
    }
    // The largest whole number of seconds that fits: floor((2^64-1) / 1e9).
    CHECK(parse_duration("18446744073s") == 18446744073ULL * ns_per_s);
}

TEST_CASE("parse_duration rejects garbage and names the text", "[time]") {
    for (const std::string text : {"", "s", "ms", "abc", "-1s", "+1s", "1.5s", "10 ms", " 10ms", "10ms ", "10sec",
                                   "10S", "10msx", "1e3", "0x10"}) {
        INFO(text);
        const std::string message = duration_error(text);
        CHECK(message != "<no error>");
        CHECK(message.find("'" + text + "'") != std::string::npos);
    }
}

TEST_CASE("format_duration picks the largest exact unit", "[time]") {
    CHECK(format_duration(0) == "0s");
    CHECK(format_duration(1) == "1ns");
    CHECK(format_duration(1500) == "1500ns");
    CHECK(format_duration(1500 * ns_per_us) == "1500us");
    CHECK(format_duration(2 * ns_per_s) == "2s");
    CHECK(format_duration(90 * ns_per_s) == "90s");
    CHECK(format_duration(120 * ns_per_s) == "2m");
    CHECK(format_duration(7200 * ns_per_s) == "2h");
    // Days are accepted on input but rendered in hours.
    CHECK(format_duration(86400 * ns_per_s) == "24h");
}

TEST_CASE("format_duration round-trips through parse_duration", "[time]") {
    const Ns samples[] = {0, 1, 999, 1000, 1001, ns_per_ms, 7 * ns_per_ms + 1, ns_per_s, 59 * ns_per_s,
                          60 * ns_per_s, 3600 * ns_per_s, 86400 * ns_per_s, 10 * 86400 * ns_per_s, UINT64_MAX,
                          UINT64_MAX - 1, (UINT64_MAX / ns_per_s) * ns_per_s};
    for (const Ns value : samples) {
        INFO(value);
        CHECK(parse_duration(format_duration(value)) == value);
    }
    // And a deterministic sweep over many magnitudes.
    Ns value = 1;
    for (int i = 0; i < 64; ++i) {
        for (const Ns candidate : {value, value * 1000, value + 7}) {
            INFO(candidate);
            CHECK(parse_duration(format_duration(candidate)) == candidate);
        }
        value = value * 3 / 2 + 1;
        if (value > UINT64_MAX / 2000) break;
    }
}
