// Word splitting, quoting and byte checks of control lines.
#include <catch2/catch.hpp>

#include "control/lexer.hpp"
#include "random_command.hpp"

using namespace marionette;

namespace {

std::vector<std::string> texts(std::string_view line) {
    const SplitLine split = split_words(line);
    REQUIRE_FALSE(split.error);
    std::vector<std::string> out;
    for (const Word& w : split.words) out.push_back(w.text);
    return out;
}

}  // namespace

TEST_CASE("words split on blanks, quotes and backslashes like a shell") {
    CHECK(texts("run   2s") == std::vector<std::string>{"run", "2s"});
    CHECK(texts("\trun\t2s\t") == std::vector<std::string>{"run", "2s"});
    CHECK(texts("spawn c -- sqlite3 'pragma integrity_check'") ==
          std::vector<std::string>{"spawn", "c", "--", "sqlite3", "pragma integrity_check"});
    CHECK(texts(R"(say "a \"b\" \\ \n")") == std::vector<std::string>{"say", R"(a "b" \ \n)"});
    CHECK(texts(R"(a\ b c'd e'"f")") == std::vector<std::string>{"a b", "cd ef"});
    CHECK(texts("x '' \"\"") == std::vector<std::string>{"x", "", ""});
}

TEST_CASE("comments start at an unquoted # at the start of a word") {
    CHECK(texts("# a comment").empty());
    CHECK(texts("   ").empty());
    CHECK(texts("run 2s # wait a bit") == std::vector<std::string>{"run", "2s"});
    CHECK(texts("x a#b '#c' \\#d") == std::vector<std::string>{"x", "a#b", "#c", "#d"});
}

TEST_CASE("word columns are 1-based byte columns") {
    const SplitLine split = split_words("  crash  'n 1'");
    REQUIRE(split.words.size() == 2);
    CHECK(split.words[0].column == 3);
    CHECK_FALSE(split.words[0].quoted);
    CHECK(split.words[1].column == 10);
    CHECK(split.words[1].quoted);
}

TEST_CASE("unterminated quotes and a final backslash are errors with the column") {
    SplitLine split = split_words("spawn x -- 'abc");
    REQUIRE(split.error);
    CHECK(split.error->code == ErrorCode::parse);
    CHECK(split.error->column == 12);
    CHECK(split.error->message == "unterminated single quote");

    split = split_words("a \"b\\\"");
    REQUIRE(split.error);
    CHECK(split.error->column == 3);
    CHECK(split.error->message == "unterminated double quote");

    split = split_words("run 2s\\");
    REQUIRE(split.error);
    CHECK(split.error->column == 7);
}

TEST_CASE("quote_word output splits back to the same word") {
    CHECK(quote_word("plain/path-1.x") == "plain/path-1.x");
    CHECK(quote_word("") == "''");
    CHECK(quote_word("a b") == "'a b'");
    CHECK(quote_word("#x") == "'#x'");
    CHECK(quote_word("it's") == R"("it's")");
    CHECK(quote_word(R"(a'b"c\)") == R"("a'b\"c\\")");
    Prng prng(7);
    for (int i = 0; i < 2000; ++i) {
        const std::string word = test::random_text(prng, 20);
        const std::string quoted = quote_word(word);
        INFO("word: " << word << " quoted: " << quoted);
        REQUIRE(texts("x " + quoted) == std::vector<std::string>{"x", word});
    }
}

TEST_CASE("line byte checks reject NUL, control bytes, bad UTF-8 and long lines") {
    CHECK_FALSE(check_line_bytes("run 2s\t# tab is fine, é too"));
    auto e = check_line_bytes(std::string("run\0 2s", 7));
    REQUIRE(e);
    CHECK(e->code == ErrorCode::encoding);
    CHECK(e->column == 4);
    CHECK(e->message == "NUL byte in line");
    e = check_line_bytes("run 2s\r");
    REQUIRE(e);
    CHECK(e->message == "control byte 0x0d in line");
    e = check_line_bytes("a\x7f");
    REQUIRE(e);
    CHECK(e->column == 2);
    for (const char* bad : {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "ab\xe2\x82"}) {
        INFO(bad);
        e = check_line_bytes(bad);
        REQUIRE(e);
        CHECK(e->code == ErrorCode::encoding);
    }
    CHECK_FALSE(check_line_bytes("\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9"));
    CHECK_FALSE(check_line_bytes(std::string(max_request_line_bytes, 'a')));
    e = check_line_bytes(std::string(max_request_line_bytes + 1, 'a'));
    REQUIRE(e);
    CHECK(e->code == ErrorCode::too_long);
}

TEST_CASE("near matches suggest close words, closest first") {
    const std::vector<std::string_view> names = {"crash", "restart", "kill", "disk.set_faults", "net.heal"};
    CHECK(did_you_mean("crsh", names) == " (did you mean 'crash'?)");
    CHECK(did_you_mean("restrat", names) == " (did you mean 'restart'?)");
    CHECK(did_you_mean("disk.set_fault", names) == " (did you mean 'disk.set_faults'?)");
    CHECK(did_you_mean("zzzzzzzz", names).empty());
    CHECK(near_matches("kil", names) == std::vector<std::string_view>{"kill"});
}
