// Seeded fuzz test of the control language: random bytes and mutated valid
// lines must always parse to a command or an error (never crash or throw),
// commands must survive print/parse, replies stay one well-formed line, and
// the LineAssembler never yields a line over its limit.
//
// Each case i runs from seed BASE + i. A failure prints the seed; rerun just
// that case with
//   MARIONETTE_FUZZ_SEED=<seed> MARIONETTE_FUZZ_ITERATIONS=1 marionette_fuzz_tests
// More cases: MARIONETTE_FUZZ_ITERATIONS=1000000.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "control/executor.hpp"
#include "control/framing.hpp"
#include "control/parse.hpp"
#include "fake_executor.hpp"
#include "random_command.hpp"
#include "sim/seed.hpp"

using namespace marionette;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    return text == nullptr ? fallback : parse_seed(text);
}

std::uint64_t base_seed() { return env_u64("MARIONETTE_FUZZ_SEED", 0x5eed); }
std::uint64_t iterations(std::uint64_t fallback) { return env_u64("MARIONETTE_FUZZ_ITERATIONS", fallback); }

std::string hex(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        static constexpr char digits[] = "0123456789abcdef";
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 0xf];
    }
    return out;
}

std::string random_bytes(Prng& prng) {
    std::string out(prng.uint_less_than(120), '\0');
    const bool printable = prng.uint_less_than(2) == 0;
    for (char& c : out) {
        c = printable ? static_cast<char>(' ' + prng.uint_less_than(95)) : static_cast<char>(prng.uint_less_than(256));
    }
    return out;
}

// Bytes that matter to the lexer and parser, for insertions.
constexpr std::string_view interesting = " \t'\"\\#=.,-0123456789%/\xff\xc3\x80\n\r";

std::string mutate(std::string line, Prng& prng) {
    const std::uint64_t count = 1 + prng.uint_less_than(4);
    for (std::uint64_t k = 0; k < count; ++k) {
        const std::size_t at = line.empty() ? 0 : prng.uint_less_than(line.size());
        switch (prng.uint_less_than(6)) {
            case 0: if (!line.empty()) line[at] = static_cast<char>(prng.uint_less_than(256)); break;
            case 1: line.insert(at, 1, interesting[prng.uint_less_than(interesting.size())]); break;
            case 2: if (!line.empty()) line.erase(at, 1 + prng.uint_less_than(4)); break;
            case 3: line.insert(at, line.substr(at, prng.uint_less_than(10))); break;
            case 4: line.resize(at); break;
            default: {
                // Replace a word by another command's word.
                Prng other = prng.derive("word", k);
                const std::string donor = to_string(test::random_command(other));
                line.insert(at, donor.substr(0, donor.find(' ')) + " ");
            }
        }
    }
    return line;
}

// The properties every input must satisfy.
void check_line(std::string_view input) {
    ParsedLine parsed;
    REQUIRE_NOTHROW(parsed = parse_line(input));
    if (parsed.is_error()) {
        const ParseError& e = parsed.error();
        REQUIRE_FALSE(e.message.empty());
        REQUIRE(e.column >= 1);
        REQUIRE(e.column <= std::max(input.size(), max_request_line_bytes) + 1);
    } else if (parsed.is_command()) {
        const std::string text = to_string(parsed.command());
        const ParsedLine again = parse_line(text);
        INFO("canonical: " << text);
        REQUIRE(again.is_command());
        REQUIRE(again.command() == parsed.command());
    }
    test::RecordingExecutor executor;
    const LineOutcome outcome = handle_line(executor, input);
    const std::string reply = format_reply(outcome.reply);
    REQUIRE(reply.find('\n') == std::string::npos);
    REQUIRE(check_line_bytes(reply.substr(0, max_request_line_bytes)) == std::nullopt);
    REQUIRE(parse_reply(reply) == outcome.reply);
}

}  // namespace

TEST_CASE("parser: random bytes") {
    const std::uint64_t base = base_seed();
    for (std::uint64_t i = 0; i < iterations(20000); ++i) {
        Prng prng(base + i);
        const std::string input = random_bytes(prng);
        INFO("reproduce: MARIONETTE_FUZZ_SEED=" << base + i << " MARIONETTE_FUZZ_ITERATIONS=1; input hex " << hex(input));
        check_line(input);
    }
}

TEST_CASE("parser: mutations of valid lines") {
    const std::uint64_t base = base_seed();
    for (std::uint64_t i = 0; i < iterations(20000); ++i) {
        Prng prng(base + i);
        const std::string input = mutate(to_string(test::random_command(prng)), prng);
        INFO("reproduce: MARIONETTE_FUZZ_SEED=" << base + i << " MARIONETTE_FUZZ_ITERATIONS=1; input hex " << hex(input));
        check_line(input);
    }
}

TEST_CASE("line assembler: random streams and chunkings never yield an oversized line") {
    const std::uint64_t base = base_seed();
    for (std::uint64_t i = 0; i < iterations(20000) / 20; ++i) {
        Prng prng(base + i);
        const std::size_t limit = 1 + prng.uint_less_than(100);
        std::string stream;
        const std::uint64_t pieces = prng.uint_less_than(50);
        for (std::uint64_t p = 0; p < pieces; ++p) {
            stream += prng.uint_less_than(3) == 0 ? std::string(prng.uint_less_than(300), 'x') : random_bytes(prng);
            if (prng.uint_less_than(2) == 0) stream += '\n';
        }
        INFO("reproduce: MARIONETTE_FUZZ_SEED=" << base + i << " MARIONETTE_FUZZ_ITERATIONS=1; limit " << limit);
        LineAssembler assembler(limit);
        std::size_t accounted = 0;
        std::string_view rest = stream;
        while (!rest.empty()) {
            const std::size_t n = 1 + prng.uint_less_than(std::min<std::uint64_t>(rest.size(), 200));
            for (const Frame& frame : assembler.feed(rest.substr(0, n))) {
                REQUIRE(frame.text.size() <= limit);
                REQUIRE((frame.kind == Frame::Kind::too_long) == (frame.length_bytes > limit));
                REQUIRE(frame.text.find('\n') == std::string::npos);
                accounted += frame.length_bytes + 1;
            }
            REQUIRE(assembler.buffered_bytes() <= limit);
            rest.remove_prefix(n);
        }
        // Every byte is in a frame (plus its newline) or still pending.
        REQUIRE(accounted + assembler.pending_bytes() == stream.size());
    }
}

TEST_CASE("fuzz inputs are a function of the seed") {
    Prng a(42), b(42), c(43);
    CHECK(mutate(to_string(test::random_command(a)), a) == mutate(to_string(test::random_command(b)), b));
    std::string from_a, from_c;
    for (int i = 0; i < 20; ++i) {
        from_a += random_bytes(a);
        from_c += random_bytes(c);
    }
    CHECK(from_a != from_c);
}
