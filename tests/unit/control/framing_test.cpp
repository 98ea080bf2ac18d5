// LineAssembler: complete lines from arbitrary chunks, bounded memory.
#include <catch2/catch.hpp>

#include "control/framing.hpp"
#include "sim/random.hpp"

using namespace marionette;

namespace {

// Feeds `stream` in random chunk sizes and collects every frame.
std::vector<Frame> feed_randomly(LineAssembler& assembler, std::string_view stream, Prng& prng) {
    std::vector<Frame> frames;
    while (!stream.empty()) {
        const std::size_t n = 1 + prng.uint_less_than(std::min<std::uint64_t>(stream.size(), 50));
        for (Frame& f : assembler.feed(stream.substr(0, n))) frames.push_back(std::move(f));
        stream.remove_prefix(n);
        REQUIRE(assembler.buffered_bytes() <= assembler.max_line_bytes());
    }
    return frames;
}

}  // namespace

TEST_CASE("lines come out whole, in order, without newline or CR") {
    LineAssembler assembler(100);
    CHECK(assembler.feed("run ").empty());
    CHECK(assembler.pending_bytes() == 4);
    const std::vector<Frame> frames = assembler.feed("2s\ncrash\r\n\nsta");
    REQUIRE(frames.size() == 3);
    CHECK(frames[0] == Frame{Frame::Kind::line, "run 2s", 6});
    CHECK(frames[1] == Frame{Frame::Kind::line, "crash", 6});
    CHECK(frames[2] == Frame{Frame::Kind::line, "", 0});
    CHECK(assembler.pending_bytes() == 3);
    CHECK(assembler.finish() == 3);  // "sta" never completed: dropped
    CHECK(assembler.feed("tus\n") == std::vector<Frame>{{Frame::Kind::line, "tus", 3}});
}

TEST_CASE("an oversized line becomes one too_long frame and the stream resynchronises") {
    LineAssembler assembler(10);
    CHECK(assembler.feed("0123456789\n") == std::vector<Frame>{{Frame::Kind::line, "0123456789", 10}});
    CHECK(assembler.feed("0123456789A").empty());
    CHECK(assembler.feed(std::string(100000, 'x')).empty());
    CHECK(assembler.pending_bytes() == 100011);
    CHECK(assembler.buffered_bytes() == 0);
    const std::vector<Frame> frames = assembler.feed("yz\nrun 1s\n");
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == Frame{Frame::Kind::too_long, "", 100013});
    CHECK(frames[1] == Frame{Frame::Kind::line, "run 1s", 6});
}

TEST_CASE("random chunkings give the same frames as one big chunk") {
    const std::uint64_t seed = GENERATE(1, 2, 3, 4, 5, 6, 7, 8);
    Prng prng(seed);
    INFO("seed " << seed);
    std::string stream;
    std::vector<Frame> expected;
    for (int i = 0; i < 300; ++i) {
        const std::size_t length = prng.uint_less_than(4) == 0 ? prng.uint_less_than(200) : prng.uint_less_than(40);
        std::string line(length, 'a');
        for (char& c : line) c = static_cast<char>(' ' + prng.uint_less_than(95));
        stream += line + "\n";
        if (length > 64) {
            expected.push_back({Frame::Kind::too_long, "", length});
        } else {
            expected.push_back({Frame::Kind::line, line, length});
        }
    }
    LineAssembler whole(64);
    CHECK(whole.feed(stream) == expected);
    LineAssembler chunked(64);
    const std::vector<Frame> frames = feed_randomly(chunked, stream, prng);
    CHECK(frames == expected);
    for (const Frame& f : frames) CHECK(f.text.size() <= 64);
}
