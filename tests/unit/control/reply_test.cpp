// Reply lines: formatting, parsing, escaping, error codes.
#include <catch2/catch.hpp>

#include "marionette/control_protocol.hpp"
#include "random_command.hpp"

using namespace marionette;

TEST_CASE("ok replies carry escaped key=value fields") {
    CHECK(format_reply(Reply::success()) == "ok");
    const Reply reply = Reply::success({{"now_ns", "2000000000"}, {"path", "data/my wal=1%"}});
    CHECK(format_reply(reply) == "ok now_ns=2000000000 path=data/my%20wal%3D1%25");
    CHECK(parse_reply(format_reply(reply)) == reply);
    CHECK(*parse_reply("ok a=1 b=").find("b") == "");
    CHECK(parse_reply("ok a=1").find("c") == nullptr);
    CHECK_THROWS_AS(format_reply(Reply::success({{"Bad Key", "x"}})), std::invalid_argument);
}

TEST_CASE("error replies carry a code and a readable message") {
    const Reply reply = Reply::failure(ErrorCode::unknown_command, "column 1: unknown command 'crsh' (did you mean 'crash'?)");
    CHECK(format_reply(reply) == "error unknown_command column 1: unknown command 'crsh' (did you mean 'crash'?)");
    CHECK(parse_reply(format_reply(reply)) == reply);
    const Reply nasty = Reply::failure(ErrorCode::internal, std::string("line\nbreak 100% \xff\0 é", 21));
    const std::string line = format_reply(nasty);
    CHECK(line == "error internal line%0Abreak 100%25 %FF%00 é");
    CHECK(parse_reply(line) == nasty);
    CHECK(parse_reply("error state") == Reply::failure(ErrorCode::state, ""));
    CHECK(format_reply(Reply::failure(ErrorCode::state, "")) == "error state");
}

TEST_CASE("every error code has a wire name that parses back") {
    for (ErrorCode code : {ErrorCode::parse, ErrorCode::unknown_command, ErrorCode::bad_argument, ErrorCode::encoding,
                           ErrorCode::too_long, ErrorCode::version, ErrorCode::state, ErrorCode::unsupported,
                           ErrorCode::expect_failed, ErrorCode::internal, ErrorCode::connection}) {
        CHECK(parse_error_code(to_string(code)) == code);
    }
    CHECK(to_string(ErrorCode::bad_argument) == "bad_argument");
    CHECK_FALSE(parse_error_code("nope"));
}

TEST_CASE("malformed replies are rejected") {
    CHECK_THROWS_AS(parse_reply(""), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("okay"), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("error bogus msg"), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("ok novalue"), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("ok a=1  b=2"), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("ok a=%zz"), std::invalid_argument);
    CHECK_THROWS_AS(parse_reply("error state 50%"), std::invalid_argument);
}

TEST_CASE("random replies round-trip and stay on one line") {
    Prng prng(99);
    for (int i = 0; i < 1000; ++i) {
        Reply reply;
        if (prng.uint_less_than(2) == 0) {
            reply = Reply::failure(ErrorCode::state, test::random_text(prng, 40) + "\n\r" + test::random_text(prng, 5));
        } else {
            reply = Reply::success({{"k", test::random_text(prng, 40)}, {"trace", "a\nb\n"}});
        }
        const std::string line = format_reply(reply);
        INFO(line);
        REQUIRE(line.find('\n') == std::string::npos);
        REQUIRE(line.find('\r') == std::string::npos);
        REQUIRE(parse_reply(line) == reply);
    }
}
