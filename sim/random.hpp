// Seeded pseudo-random streams.
//
// Every random decision in a run comes from a Prng derived from the run's
// seed. Streams are derived per purpose and per node (`disk.faults` of node
// 2, `net.latency` of node 0, ...), so a component that draws more numbers
// never shifts the draws of another: adding a network fault does not change
// which disk writes tear. The generator is xoshiro256** seeded through
// splitmix64; bounded draws use Lemire's multiply-and-reject method and are
// exactly uniform.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace marionette {

/// xoshiro256** generator. Copyable; a copy continues the same sequence.
class Prng {
public:
    /// Seeds the four state words from splitmix64(seed).
    explicit Prng(std::uint64_t seed);

    /// The next 64 uniformly distributed bits.
    std::uint64_t next_u64();

    /// A uniform integer in [0, bound); bound must be > 0.
    std::uint64_t uint_less_than(std::uint64_t bound);

    /// A uniform integer in [min, max] (inclusive).
    std::uint64_t uint_in_range(std::uint64_t min, std::uint64_t max);

    /// Fills the bytes with random data (little-endian words).
    void fill(std::span<std::byte> bytes);

    /// An independent stream for `purpose` and `index`, derived from this
    /// generator's seed without consuming any of its draws.
    Prng derive(std::string_view purpose, std::uint64_t index = 0) const;

    /// The seed this generator was created from.
    std::uint64_t seed() const { return seed_; }

private:
    std::uint64_t seed_;
    std::array<std::uint64_t, 4> state_{};
};

/// splitmix64 step: the standard 64-bit mixer (also used to derive seeds).
std::uint64_t splitmix64(std::uint64_t& state);

/// FNV-1a 64-bit hash of text; stable across platforms and runs.
std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = 0xcbf29ce484222325ULL);

}  // namespace marionette
