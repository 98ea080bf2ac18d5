// Virtual time units and duration text.
//
// Simulated time is an unsigned count of nanoseconds since the simulation's
// epoch. Everything that needs "when" in the simulator uses these helpers, so
// a duration typed by a user (`2s`, `150ms`) and one written in a trace mean
// the same number.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace marionette {

/// Nanoseconds of virtual time.
using Ns = std::uint64_t;

inline constexpr Ns ns_per_us = 1'000;
inline constexpr Ns ns_per_ms = 1'000'000;
inline constexpr Ns ns_per_s = 1'000'000'000;

/// Parses a duration such as `250ns`, `10us`, `150ms`, `2s`, `5m`, `1h` or a
/// bare number of nanoseconds. Throws std::invalid_argument with a message
/// naming the bad text on malformed input or overflow.
Ns parse_duration(std::string_view text);

/// Renders a duration in the largest unit that divides it exactly (`2s`,
/// `1500us`), the inverse of parse_duration.
std::string format_duration(Ns duration_ns);

}  // namespace marionette
