// Options changes and the partition dynamics (random partitions over time).
#include <stdexcept>

#include "sim/net/network.hpp"

namespace marionette {
namespace {
constexpr std::uint8_t cut_auto = 4;  // matches transport.cpp
}

void Network::set_options(const NetOptions& options) {
    validate_net_options(options);
    options_ = options;
    update_dynamics();
}

void Network::apply_option_text(std::string_view text, NetOptionGroup group, std::string_view command) {
    NetOptions updated = options_;
    const std::vector<std::string> keys = apply_net_options(updated, text, group);
    options_ = updated;
    if (trace_ != nullptr) {
        std::vector<TraceField> fields{{"command", command}};
        for (const auto& [key, value] : describe_net_options(options_)) {
            for (const std::string& set_key : keys) {
                if (set_key == key) fields.emplace_back(key, value);
            }
        }
        trace_->emit("net.options", std::move(fields));
    }
    update_dynamics();
}

void Network::set_faults(std::string_view text) { apply_option_text(text, NetOptionGroup::all, "set_faults"); }
void Network::set_lossiness(std::string_view text) {
    apply_option_text(text, NetOptionGroup::lossiness, "set_lossiness");
}
void Network::set_latency(std::string_view text) { apply_option_text(text, NetOptionGroup::latency, "set_latency"); }
void Network::set_partition_dynamics(std::string_view text) {
    apply_option_text(text, NetOptionGroup::partition_dynamics, "set_partition_dynamics");
}

// The dynamics tick only exists while a dynamics rate is set, so an idle
// network with dynamics off schedules nothing and virtual time can jump.
void Network::update_dynamics() {
    const bool enabled = !options_.partition_rate.is_never() || !options_.unpartition_rate.is_never();
    if (enabled && dynamics_timer_ == 0 && nodes_.size() >= 2) {
        dynamics_timer_ = events_.schedule_after(options_.partition_tick_ns, [this] { dynamics_tick(); });
    } else if (!enabled && dynamics_timer_ != 0) {
        events_.cancel(dynamics_timer_);
        dynamics_timer_ = 0;
    }
    if (!enabled && auto_partitioned_) apply_auto_heal("disabled");  // turning dynamics off heals what they cut
}

void Network::dynamics_tick() {
    dynamics_timer_ = 0;
    const std::uint64_t tick = ++dynamics_ticks_;
    const Ns now = events_.now_ns();
    const Ns since = now - auto_changed_ns_;
    const std::size_t n = nodes_.size();
    // Under `net.force only` the draws below still happen (the stream
    // advances as in the recording) but only a forced change applies.
    if (!auto_partitioned_ && since >= options_.unpartition_stability_ns_min &&
        options_.partition_rate.roll(streams_.partition).fired) {
        // Choose the sides: one node alone, or every node on a random side
        // (re-drawn until both sides are non-empty).
        std::vector<bool> side(n, false);
        if (options_.partition_mode == PartitionMode::isolate_single) {
            side[streams_.partition.uint_less_than(n)] = true;
        } else {
            for (;;) {
                std::size_t count = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    side[i] = streams_.partition.uint_less_than(2) == 1;
                    count += side[i] ? 1 : 0;
                }
                if (count != 0 && count != n) break;
            }
        }
        if (!forced_only_) {
            std::string names;
            for (NodeId a = 0; a < n; ++a) {
                if (side[a]) names += (names.empty() ? "" : ",") + nodes_[a].name;
            }
            fired("net.force partition " + std::to_string(tick) + " " + names);
            apply_auto_partition(side);
        }
    } else if (auto_partitioned_ && since >= options_.partition_stability_ns_min &&
               options_.unpartition_rate.roll(streams_.partition).fired) {
        if (!forced_only_) {
            fired("net.force heal " + std::to_string(tick));
            apply_auto_heal("");
        }
    }
    if (forced_only_) {
        if (const auto forced = forced_partition_.find(tick); forced != forced_partition_.end()) {
            std::vector<bool> side(n, false);
            for (NodeId node : forced->second) side[node] = true;
            if (auto_partitioned_) apply_auto_heal("forced");
            apply_auto_partition(side);
        } else if (forced_heal_.contains(tick) && auto_partitioned_) {
            apply_auto_heal("");
        }
    }
    update_dynamics();
}

void Network::apply_auto_partition(const std::vector<bool>& side) {
    const std::size_t n = nodes_.size();
    std::string isolated;
    for (NodeId a = 0; a < n; ++a) {
        if (side[a]) isolated += (isolated.empty() ? "" : ",") + std::to_string(a);
        for (NodeId b = 0; b < n; ++b) {
            if (side[a] != side[b]) cut(a, b) = static_cast<std::uint8_t>(cut(a, b) | cut_auto);
        }
    }
    auto_partitioned_ = true;
    auto_changed_ns_ = events_.now_ns();
    if (trace_ != nullptr) trace_->emit("net.auto_partition", {{"action", "partition"}, {"side", isolated}});
}

void Network::apply_auto_heal(std::string_view reason) {
    for (std::uint8_t& c : cuts_) c = static_cast<std::uint8_t>(c & ~cut_auto);
    auto_partitioned_ = false;
    auto_changed_ns_ = events_.now_ns();
    if (trace_ == nullptr) return;
    if (reason.empty()) {
        trace_->emit("net.auto_partition", {{"action", "heal"}});
    } else {
        trace_->emit("net.auto_partition", {{"action", "heal"}, {"reason", reason}});
    }
}

}  // namespace marionette
