// Tests for sim/seed: every accepted seed form and the errors.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "sim/seed.hpp"

using marionette::parse_seed;

namespace {

std::string seed_error(const std::string& text) {
    try {
        (void)parse_seed(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("decimal seeds", "[seed]") {
    CHECK(parse_seed("0") == 0);
    CHECK(parse_seed("7") == 7);
    CHECK(parse_seed("0042") == 42);
    CHECK(parse_seed("18446744073709551615") == UINT64_MAX);
    const std::string overflow = seed_error("18446744073709551616");
    CHECK(overflow.find("'18446744073709551616'") != std::string::npos);
    CHECK(overflow.find("larger than 64 bits") != std::string::npos);
}

TEST_CASE("0x hex seeds", "[seed]") {
    CHECK(parse_seed("0x0") == 0);
    CHECK(parse_seed("0x2a") == 42);
    CHECK(parse_seed("0X2A") == 42);
    CHECK(parse_seed("0xdeadBEEF") == 0xdeadbeefULL);
    CHECK(parse_seed("0xffffffffffffffff") == UINT64_MAX);
    CHECK(parse_seed("0x0123456789abcdef") == 0x0123456789abcdefULL);
    const std::string too_long = seed_error("0x10000000000000000");  // 17 digits
    CHECK(too_long.find("'0x10000000000000000'") != std::string::npos);
    CHECK(too_long.find("more than 16 hex digits") != std::string::npos);
}

TEST_CASE("40-hex git hashes give their low 64 bits", "[seed]") {
    // The last 16 hex digits of the hash, read as a number.
    CHECK(parse_seed("3b663de0aa11bb22cc33dd44ee55ff6677889900") == 0xee55ff6677889900ULL);
    CHECK(parse_seed("0000000000000000000000000000000000000001") == 1);
    CHECK(parse_seed("ffffffffffffffffffffffff0000000000000000") == 0);
    CHECK(parse_seed("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF") == UINT64_MAX);
    CHECK(parse_seed("174efe2c0ffee0123456789abcdef0123456789a") == 0xbcdef0123456789aULL);
    // 39 or 41 hex digits are not hashes (and not decimal numbers).
    CHECK(seed_error("174efe2c0ffee0123456789abcdef0123456789").find("invalid seed") != std::string::npos);
    CHECK(seed_error("174efe2c0ffee0123456789abcdef0123456789ab").find("invalid seed") != std::string::npos);
}

TEST_CASE("malformed seeds are errors naming the text", "[seed]") {
    for (const std::string text : {"", "abc", "-1", "+1", "1.5", " 7", "7 ", "0x", "0xg1", "0x-1", "12abc", "1e9",
                                   "0x 1", "deadbeef", "g000000000000000000000000000000000000000"}) {
        INFO(text);
        const std::string message = seed_error(text);
        CHECK(message != "<no error>");
        CHECK(message.find("invalid seed '" + text + "'") != std::string::npos);
        CHECK(message.find("40-hex-digit git commit hash") != std::string::npos);
    }
}
