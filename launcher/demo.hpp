// The built-in demo scenario: a small, fully simulated run that exercises the
// clock, the event queue, seeded rates and BUGGIFY hooks without any program.
// It is what `marionette-launch --demo` runs and the smallest proof that a
// run is a function of its seed.
#pragma once

#include <cstdint>

#include "sim/trace.hpp"

namespace marionette {

struct DemoOptions {
    /// Virtual time the demo simulates.
    Ns duration_ns = 10 * ns_per_s;
    /// Chance that a simulated request's reply is lost.
    std::uint64_t loss_percent = 20;
};

/// Runs the demo, recording into `trace` (whose header carries the seed).
/// Returns the number of requests that got a reply.
std::uint64_t run_demo(std::uint64_t seed, const DemoOptions& options, Trace& trace);

}  // namespace marionette
