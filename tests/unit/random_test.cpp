// Tests for sim/random: the generator's exact sequence, stream independence,
// bounded draws (edges and uniformity) and fill().
#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <vector>

#include "sim/random.hpp"

using marionette::Prng;

namespace {

std::vector<std::uint64_t> draws(Prng prng, std::size_t n) {
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(prng.next_u64());
    return out;
}

}  // namespace

// Expected values were computed once with an independent ~25-line Python
// re-implementation written from the reference C sources (Vigna's
// splitmix64.c and Blackman & Vigna's xoshiro256starstar.c): the four state
// words are splitmix64 outputs 1..4 starting from state = seed, then
// next() = rotl(s1 * 5, 7) * 9 with the standard state update. As a sanity
// check of that script, its splitmix64 from state 0 yields the published
// 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f.
TEST_CASE("splitmix64 matches the published sequence from state 0", "[random]") {
    std::uint64_t state = 0;
    CHECK(marionette::splitmix64(state) == 0xe220a8397b1dcdafULL);
    CHECK(marionette::splitmix64(state) == 0x6e789e6aa1b965f4ULL);
    CHECK(marionette::splitmix64(state) == 0x06c45d188009454fULL);
}

TEST_CASE("xoshiro256** seeded through splitmix64 gives the reference sequence", "[random]") {
    CHECK(draws(Prng(0), 5) == std::vector<std::uint64_t>{0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL,
                                                          0x1a5f849d4933e6e0ULL, 0x6aa594f1262d2d2cULL,
                                                          0xbba5ad4a1f842e59ULL});
    CHECK(draws(Prng(42), 5) == std::vector<std::uint64_t>{0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL,
                                                           0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL,
                                                           0xfde6dc7fe2ec5e64ULL});
    CHECK(draws(Prng(UINT64_MAX), 5) == std::vector<std::uint64_t>{0x8f5520d52a7ead08ULL, 0xc476a018caa1802dULL,
                                                                   0x81de31c0d260469eULL, 0xbf658d7e065f3c2fULL,
                                                                   0x913593fda1bca32aULL});
}

TEST_CASE("uint_less_than follows Lemire's method on the reference sequence", "[random]") {
    // Same Python script: Lemire's multiply-high with rejection when the low
    // word falls below (2^64 - bound) % bound, bound 10, seed 42.
    Prng prng(42);
    std::vector<std::uint64_t> got;
    for (int i = 0; i < 10; ++i) got.push_back(prng.uint_less_than(10));
    CHECK(got == std::vector<std::uint64_t>{0, 3, 6, 9, 9, 7, 7, 8, 7, 5});
}

TEST_CASE("a copy continues the same sequence and the seed is kept", "[random]") {
    Prng a(123);
    (void)a.next_u64();
    Prng b = a;
    CHECK(draws(a, 20) == draws(b, 20));
    CHECK(a.seed() == 123);
    CHECK(Prng(1).next_u64() != Prng(2).next_u64());
}

TEST_CASE("derived streams are independent of each other's draws", "[random]") {
    const Prng root(7);
    Prng disk = root.derive("disk.faults", 2);
    Prng net = root.derive("net.latency", 2);
    const std::vector<std::uint64_t> disk_alone = draws(disk, 50);

    // The network stream draws a lot (and the root is used too) before the
    // disk stream is derived again: the disk sequence must not move.
    Prng root_used = root;
    for (int i = 0; i < 1000; ++i) (void)net.next_u64();
    for (int i = 0; i < 1000; ++i) (void)root_used.next_u64();
    CHECK(draws(root_used.derive("disk.faults", 2), 50) == disk_alone);
    CHECK(draws(root.derive("disk.faults", 2), 50) == disk_alone);

    // Interleaving draws does not change either sequence.
    Prng d = root.derive("disk.faults", 2);
    Prng n = root.derive("net.latency", 2);
    std::vector<std::uint64_t> d_seen;
    for (int i = 0; i < 50; ++i) {
        d_seen.push_back(d.next_u64());
        for (int k = 0; k < i % 5; ++k) (void)n.next_u64();
    }
    CHECK(d_seen == disk_alone);
}

TEST_CASE("different purposes, indices and seeds give different streams", "[random]") {
    const Prng root(7);
    std::set<std::vector<std::uint64_t>> seen;
    std::size_t made = 0;
    for (const char* purpose : {"disk.faults", "disk.latency", "net.latency", "net.faults", "buggify", ""}) {
        for (std::uint64_t index = 0; index < 8; ++index) {
            seen.insert(draws(root.derive(purpose, index), 4));
            ++made;
        }
    }
    for (std::uint64_t seed = 100; seed < 108; ++seed) {  // root (seed 7) is covered above
        seen.insert(draws(Prng(seed).derive("disk.faults", 0), 4));
        ++made;
    }
    CHECK(seen.size() == made);
    // A derived stream is not the parent's own sequence either.
    CHECK(draws(root.derive("disk.faults"), 4) != draws(root, 4));
    // derive() defaults the index to 0.
    CHECK(draws(root.derive("x"), 4) == draws(root.derive("x", 0), 4));
}

TEST_CASE("uint_less_than edge bounds", "[random]") {
    Prng prng(99);
    for (int i = 0; i < 100; ++i) CHECK(prng.uint_less_than(1) == 0);

    // 2^63 + 1: almost half of all 64-bit words are rejected, so this also
    // exercises the retry loop; results must stay below the bound and cover
    // both halves.
    const std::uint64_t big = (std::uint64_t{1} << 63) + 1;
    bool low_half = false;
    bool high_half = false;
    for (int i = 0; i < 200; ++i) {
        const std::uint64_t v = prng.uint_less_than(big);
        CHECK(v < big);
        (v < (std::uint64_t{1} << 62) ? low_half : high_half) = true;
    }
    CHECK(low_half);
    CHECK(high_half);

    // UINT64_MAX: only the single word whose low product is 0 is rejected.
    for (int i = 0; i < 200; ++i) CHECK(prng.uint_less_than(UINT64_MAX) < UINT64_MAX);

    // Power of two: exactly the top bits of one draw, never a retry.
    Prng a(5);
    Prng b(5);
    for (int i = 0; i < 100; ++i) CHECK(a.uint_less_than(1024) == b.next_u64() >> 54);
}

TEST_CASE("uint_less_than(0) and inverted ranges are errors", "[random]") {
    Prng prng(1);
    CHECK_THROWS_AS(prng.uint_less_than(0), std::invalid_argument);
    CHECK_THROWS_AS(prng.uint_in_range(5, 4), std::invalid_argument);
}

TEST_CASE("uint_in_range is inclusive and handles the full range", "[random]") {
    Prng prng(3);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t v = prng.uint_in_range(10, 14);
        CHECK(v >= 10);
        CHECK(v <= 14);
        seen.insert(v);
    }
    CHECK(seen == std::set<std::uint64_t>{10, 11, 12, 13, 14});
    CHECK(prng.uint_in_range(7, 7) == 7);
    // [0, max] is one raw draw.
    Prng a(11);
    Prng b(11);
    CHECK(a.uint_in_range(0, UINT64_MAX) == b.next_u64());
    CHECK(a.uint_in_range(1, UINT64_MAX) >= 1);
}

TEST_CASE("uint_less_than is uniform for a non-power-of-two bound (chi-square)", "[random]") {
    // 10 buckets, 100000 draws, fixed seed. Under uniformity the statistic
    // follows chi-square with 9 degrees of freedom; its 0.999 quantile is
    // 27.877, so a correct generator fails this with probability 0.1% per
    // seed, and with a fixed seed the outcome is fixed. A biased reduction
    // such as `next_u64() % 10` would not show here (bias 2^-60), but an
    // off-by-one or a wrong half of the product would, wildly.
    constexpr std::size_t buckets = 10;
    constexpr std::size_t n = 100'000;
    std::array<std::size_t, buckets> counts{};
    Prng prng(20260101);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t v = prng.uint_less_than(buckets);
        REQUIRE(v < buckets);
        ++counts[v];
    }
    const double expected = static_cast<double>(n) / buckets;
    double chi2 = 0;
    for (const std::size_t c : counts) {
        const double d = static_cast<double>(c) - expected;
        chi2 += d * d / expected;
    }
    INFO("chi-square = " << chi2);
    CHECK(chi2 < 27.877);
    // A non-power-of-two bound whose biased zone is large: (2/3) * 2^64.
    // Every value in [0, 3) must still appear about 1/3 of the time.
    const std::uint64_t third = UINT64_MAX / 3 * 2;  // not a power of two
    std::array<std::size_t, 3> thirds{};
    for (std::size_t i = 0; i < 30'000; ++i) ++thirds[prng.uint_less_than(third) / (third / 3 + 1)];
    for (const std::size_t c : thirds) {
        CHECK(c > 9'000);
        CHECK(c < 11'000);
    }
}

TEST_CASE("fill writes little-endian words and handles partial tails", "[random]") {
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
                                   std::size_t{31}}) {
        INFO(size);
        Prng a(17);
        Prng b(17);
        std::vector<std::byte> bytes(size, std::byte{0});
        a.fill(bytes);
        for (std::size_t offset = 0; offset < size; offset += 8) {
            const std::uint64_t word = b.next_u64();
            for (std::size_t i = 0; i < 8 && offset + i < size; ++i) {
                CHECK(bytes[offset + i] == static_cast<std::byte>((word >> (8 * i)) & 0xff));
            }
        }
        // A partial tail consumes a whole word: both generators are aligned.
        CHECK(a.next_u64() == b.next_u64());
    }
    // Against the known first word of seed 0 (0x99ec5f36cb75f2b4).
    Prng zero(0);
    std::array<std::byte, 3> head{};
    zero.fill(head);
    CHECK(head[0] == std::byte{0xb4});
    CHECK(head[1] == std::byte{0xf2});
    CHECK(head[2] == std::byte{0x75});
}
