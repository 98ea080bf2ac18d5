#include "sim/random.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace marionette {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) {
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash) {
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001B3ULL;
    }
    return hash;
}

Prng::Prng(std::uint64_t seed) : seed_(seed) {
    std::uint64_t sm = seed;
    for (auto& word : state_) word = splitmix64(sm);
}

std::uint64_t Prng::next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
}

std::uint64_t Prng::uint_less_than(std::uint64_t bound) {
    if (bound == 0) throw std::invalid_argument("Prng::uint_less_than: bound must be > 0");
    // Lemire: the high word of x * bound is uniform once the low word is
    // outside the biased zone [0, 2^64 mod bound).
    unsigned __int128 product = static_cast<unsigned __int128>(next_u64()) * bound;
    auto low = static_cast<std::uint64_t>(product);
    if (low < bound) {
        const std::uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            product = static_cast<unsigned __int128>(next_u64()) * bound;
            low = static_cast<std::uint64_t>(product);
        }
    }
    return static_cast<std::uint64_t>(product >> 64);
}

std::uint64_t Prng::uint_in_range(std::uint64_t min, std::uint64_t max) {
    if (min > max) throw std::invalid_argument("Prng::uint_in_range: min > max");
    if (min == 0 && max == UINT64_MAX) return next_u64();
    return min + uint_less_than(max - min + 1);
}

void Prng::fill(std::span<std::byte> bytes) {
    std::size_t offset = 0;
    while (offset < bytes.size()) {
        const std::uint64_t word = next_u64();
        const std::size_t n = std::min<std::size_t>(8, bytes.size() - offset);
        for (std::size_t i = 0; i < n; ++i) {
            bytes[offset + i] = static_cast<std::byte>((word >> (8 * i)) & 0xff);
        }
        offset += n;
    }
}

Prng Prng::derive(std::string_view purpose, std::uint64_t index) const {
    std::uint64_t mix = seed_ ^ fnv1a64(purpose);
    const std::uint64_t a = splitmix64(mix);
    mix ^= index * 0xD1B54A32D192ED03ULL;
    const std::uint64_t b = splitmix64(mix);
    return Prng(a ^ rotl(b, 23));
}

}  // namespace marionette
