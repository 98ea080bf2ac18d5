// Forced faults: the random fault decisions of one run, replayed one by one
// (docs/shrinking.md). A recording run lists every random fault that fired
// as the `net.force` line that names it; a run under `net.force only` still
// draws every decision, so the random streams advance exactly as in the
// recording, but a fault fires only where a line forces it. Forcing every
// recorded fault therefore replays the recording; forcing a subset is the
// same run without the others, which is what shrinking searches over.
#include "sim/net/network.hpp"

#include <stdexcept>

namespace marionette {
namespace {

std::string_view kind_word(ForcedFault kind) {
    switch (kind) {
        case ForcedFault::drop: return "drop";
        case ForcedFault::duplicate: return "duplicate";
        case ForcedFault::clog: return "clog";
        case ForcedFault::reset: return "reset";
    }
    return "?";
}

}  // namespace

void Network::force_only() {
    forced_only_ = true;
    if (trace_ != nullptr) trace_->emit("net.force", {{"what", "only"}});
}

void Network::force(ForcedFault kind, NodeId from, NodeId to, std::uint64_t packet) {
    if (from >= nodes_.size() || to >= nodes_.size()) throw std::invalid_argument("net.force: no such node");
    if (from == to) throw std::invalid_argument("net.force: loopback packets are never faulted");
    if (packet == 0) throw std::invalid_argument("net.force: packets count from 1");
    forced_.emplace(kind, from, to, packet);
}

void Network::force_partial_write(std::uint64_t send, std::uint64_t accepted) {
    if (send == 0 || accepted == 0) throw std::invalid_argument("net.force partial_write: sends and bytes count from 1");
    forced_partial_[send] = accepted;
}

void Network::force_partition(std::uint64_t tick, std::vector<NodeId> side) {
    if (tick == 0) throw std::invalid_argument("net.force partition: ticks count from 1");
    if (side.empty() || side.size() >= nodes_.size()) {
        throw std::invalid_argument("net.force partition: the side must hold some nodes but not all");
    }
    for (NodeId node : side) {
        if (node >= nodes_.size()) throw std::invalid_argument("net.force partition: no such node");
    }
    forced_partition_[tick] = std::move(side);
}

void Network::force_heal(std::uint64_t tick) {
    if (tick == 0) throw std::invalid_argument("net.force heal: ticks count from 1");
    forced_heal_.insert(tick);
}

bool Network::decide(ForcedFault kind, const detail::NetPacket& packet, bool drawn) {
    if (forced_only_) return forced_.contains({kind, packet.from, packet.to, packet.link_seq});
    if (drawn) {
        fired("net.force " + std::string(kind_word(kind)) + " " + nodes_[packet.from].name + " " + nodes_[packet.to].name +
              " " + std::to_string(packet.link_seq));
    }
    return drawn;
}

void Network::fired(std::string line) {
    if (!forced_only_) fired_.push_back(FiredFault{events_.now_ns(), std::move(line)});
}

}  // namespace marionette
