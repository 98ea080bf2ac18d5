// Fault rates: how often a fault point fires.
//
// A rate is a fraction n/d. A decision draws `roll` uniformly from [0, d)
// and fires when roll < n, so `never` (0/1) never fires and `always` (1/1)
// always does, and both still consume exactly one draw: changing a rate never
// shifts the rest of its stream. The same names appear in code
// (Rate::percent(20)), on the command line (`--crash-lost-write-rate 20%`),
// in scenario files and in traces (`rate=1/5`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sim/random.hpp"

namespace marionette {

/// The outcome of one rate decision, kept for the trace.
struct RateRoll {
    std::uint64_t roll;
    bool fired;
};

/// A probability n/d with 0 <= n <= d and d > 0.
class Rate {
public:
    /// 0/1: never fires.
    static constexpr Rate never() { return Rate(0, 1); }
    /// 1/1: always fires.
    static constexpr Rate always() { return Rate(1, 1); }
    /// p/100 for p in [0, 100].
    static Rate percent(std::uint64_t p) { return ratio(p, 100); }
    /// 1/n for n > 0.
    static Rate one_in(std::uint64_t n) { return ratio(1, n); }
    /// n/d; throws std::invalid_argument if d == 0 or n > d.
    static Rate ratio(std::uint64_t numerator, std::uint64_t denominator);

    /// Parses `never`, `always`, `20%`, `12.5%`, `1/8`, `percent(20)`,
    /// `one_in(8)` or `ratio(1,8)`. Throws std::invalid_argument naming the
    /// text and the accepted forms.
    static Rate parse(std::string_view text);

    std::uint64_t numerator() const { return numerator_; }
    std::uint64_t denominator() const { return denominator_; }
    bool is_never() const { return numerator_ == 0; }

    /// Draws one roll from the stream and decides.
    RateRoll roll(Prng& prng) const;

    /// `n/d`, the form used in traces.
    std::string to_string() const;

    friend bool operator==(const Rate&, const Rate&) = default;

private:
    constexpr Rate(std::uint64_t n, std::uint64_t d) : numerator_(n), denominator_(d) {}
    std::uint64_t numerator_;
    std::uint64_t denominator_;
};

}  // namespace marionette
