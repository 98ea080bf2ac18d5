#include "sim/buggify.hpp"

namespace marionette {

bool Buggify::fire(std::string_view hook, Rate rate) {
    if (!enabled_) return false;
    const RateRoll roll = rate.roll(prng_);
    trace_->emit("buggify.roll", {{"hook", hook}, {"rate", rate.to_string()}, {"roll", roll.roll}, {"fired", roll.fired}});
    return roll.fired;
}

}  // namespace marionette
