// BUGGIFY-style fault points.
//
// Code under simulation asks `buggify.fire("wal.skip_sync", Rate::one_in(8))`
// at places where a rare behaviour is legal (a short read, a slow path, an
// early retry). In a simulation the answer is drawn from the seed and traced
// (`buggify.roll hook=... rate=1/8 roll=3 fired=false`); outside a simulation
// (production) it is always false and draws nothing.
#pragma once

#include <string_view>

#include "sim/random.hpp"
#include "sim/rate.hpp"
#include "sim/trace.hpp"

namespace marionette {

class Buggify {
public:
    /// An enabled instance drawing from `prng` and recording into `trace`.
    Buggify(Prng prng, Trace& trace) : prng_(prng), trace_(&trace), enabled_(true) {}
    /// A disabled instance: fire() is always false (production).
    Buggify() : prng_(0), trace_(nullptr), enabled_(false) {}

    bool enabled() const { return enabled_; }

    /// The stream the hooks draw from, as it stands now (so a test can
    /// check how many draws decisions took, and that a disabled instance
    /// took none).
    const Prng& prng() const { return prng_; }

    /// Decides whether the named hook fires; `hook` must be a valid trace
    /// value (any text; it is escaped).
    bool fire(std::string_view hook, Rate rate);

private:
    Prng prng_;
    Trace* trace_;
    bool enabled_;
};

}  // namespace marionette
