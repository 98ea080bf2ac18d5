// Seed text: the one number that names a run.
//
// Accepted as in the Zig library: a decimal u64, `0x`-prefixed hex of at most
// 16 digits, or a 40-hex-digit git commit hash (its low 64 bits, i.e. its last
// 16 hex digits), so a CI job can seed a run with the commit under test.
#pragma once

#include <cstdint>
#include <string_view>

namespace marionette {

/// Parses a seed; throws std::invalid_argument naming the text and the
/// accepted forms.
std::uint64_t parse_seed(std::string_view text);

}  // namespace marionette
