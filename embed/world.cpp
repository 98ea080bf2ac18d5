// World: the seed, the start time and the simulated machine (see
// include/marionette/world.hpp).
#include "marionette/world.hpp"

#include <stdexcept>

#include "embed/sim_state.hpp"

namespace marionette {

std::string Env::path(std::string_view name) const {
    std::string result = root();
    if (result.empty() || result.back() != '/') result += '/';
    result += name;
    return result;
}

void SimNetworkControl::set_lossiness(const Lossiness& lossiness) const {
    NetOptions options = backend_->net_options();
    options.drop_rate = lossiness.drop_rate;
    options.duplicate_rate = lossiness.duplicate_rate;
    backend_->net_set_options(options, "network.set_lossiness");
}

void SimNetworkControl::set_latency(const Latency& latency) const {
    NetOptions options = backend_->net_options();
    options.latency_ns_min = latency.latency_ns_min;
    options.latency_ns_jitter = latency.latency_ns_jitter;
    backend_->net_set_options(options, "network.set_latency");
}

World::World(std::uint64_t seed, WorldOptions options) : seed_(seed), options_(options) {}

World::~World() {
    if (state_ != nullptr) detail::activate(nullptr);
}

Simulation World::simulate(SimulationOptions options) {
    if (state_ != nullptr) throw std::logic_error("World::simulate called twice on one World");
    if (detail::enter() != nullptr) throw std::logic_error("another World is already simulating on this thread");
    state_ = std::make_unique<detail::SimState>(seed_, options_, std::move(options));
    detail::activate(state_.get());
    return Simulation(*state_);
}

Recorder World::recorder() const { return state_ != nullptr ? Recorder(state_.get()) : Recorder(); }

const Trace& World::trace() const { return state_ != nullptr ? state_->trace() : empty_trace_; }

}  // namespace marionette
