// The packet layer: nodes, the resolver, topology faults, and moving packets
// from node to node in (deliver_at, packet_id) order.
#include <algorithm>
#include <stdexcept>

#include "sim/net/network.hpp"

namespace marionette {
namespace {

// Why a directed link is cut; several causes may hold at once.
constexpr std::uint8_t cut_partition = 1;  // partition()
constexpr std::uint8_t cut_link = 2;       // set_link(a, b, false)
constexpr std::uint8_t cut_auto = 4;       // partition dynamics

std::string flags_text(std::uint8_t flags) {
    std::string out;
    auto add = [&](std::uint8_t bit, const char* name) {
        if ((flags & bit) == 0) return;
        if (!out.empty()) out += '+';
        out += name;
    };
    add(detail::tcp_syn, "syn");
    add(detail::tcp_ack, "ack");
    add(detail::tcp_fin, "fin");
    add(detail::tcp_rst, "rst");
    add(detail::tcp_probe, "probe");
    return out.empty() ? "none" : out;
}

}  // namespace

Network::Network(EventQueue& events, Trace* trace, const Prng& prng, NetOptions options)
    : events_(events), trace_(trace), options_(options), streams_(prng) {
    validate_net_options(options_);
}

Network::~Network() {
    // Timers hold `this`; cancel them so a longer-lived EventQueue never
    // calls into a destroyed network.
    if (delivery_timer_ != 0) events_.cancel(delivery_timer_);
    if (dynamics_timer_ != 0) events_.cancel(dynamics_timer_);
    for (auto& [path, clog_state] : clogs_) events_.cancel(clog_state.timer);
    for (auto& [id, socket] : sockets_) {
        if (socket->tcp.timer != 0) events_.cancel(socket->tcp.timer);
        if (socket->tcp.keepalive_timer != 0) events_.cancel(socket->tcp.keepalive_timer);
        if (socket->tcp.ack_timer != 0) events_.cancel(socket->tcp.ack_timer);
    }
}

// ---- nodes and resolver ------------------------------------------------------

NodeId Network::add_node(std::string name, std::optional<Ipv4> address) {
    const auto id = static_cast<NodeId>(nodes_.size());
    const Ipv4 ip = address.value_or(Ipv4{0x0a000000u + id + 1});
    if (ip.is_loopback() || ip.is_any()) throw std::invalid_argument("node address " + to_string(ip) + " is reserved");
    if (name.empty() || name == "localhost" || parse_ipv4(name)) {
        throw std::invalid_argument("node name '" + name + "' would shadow the resolver");
    }
    for (const detail::NetNode& node : nodes_) {
        if (node.name == name) throw std::invalid_argument("duplicate node name '" + name + "'");
        if (node.address == ip) throw std::invalid_argument("duplicate node address " + to_string(ip));
    }
    nodes_.push_back(detail::NetNode{std::move(name), ip});
    resize_topology();
    update_dynamics();  // dynamics need two nodes before they tick
    return id;
}

std::size_t Network::node_count() const { return nodes_.size(); }
const std::string& Network::node_name(NodeId node) const { return nodes_.at(node).name; }
Ipv4 Network::node_address(NodeId node) const { return nodes_.at(node).address; }
std::uint64_t Network::node_incarnation(NodeId node) const { return nodes_.at(node).incarnation; }
bool Network::node_up(NodeId node) const { return nodes_.at(node).up; }

std::optional<NodeId> Network::node_of(Ipv4 address) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].address == address) return static_cast<NodeId>(i);
    }
    return std::nullopt;
}

std::optional<NodeId> Network::node_named(std::string_view name) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].name == name) return static_cast<NodeId>(i);
    }
    return std::nullopt;
}

std::string Network::describe() const {
    std::string out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        const detail::NetNode& n = nodes_[i];
        out += "node id=" + std::to_string(i) + " name=" + escape_value(n.name) + " address=" + to_string(n.address) +
               " up=" + (n.up ? "true" : "false") + " incarnation=" + std::to_string(n.incarnation) + "\n";
    }
    for (NodeId a = 0; a < nodes_.size(); ++a) {
        for (NodeId b = 0; b < nodes_.size(); ++b) {
            const std::uint8_t why = cut(a, b);
            if (why == 0) continue;
            out += "cut from=" + std::to_string(a) + " to=" + std::to_string(b) +
                   " partition=" + ((why & cut_partition) != 0 ? "true" : "false") +
                   " link=" + ((why & cut_link) != 0 ? "true" : "false") +
                   " auto=" + ((why & cut_auto) != 0 ? "true" : "false") + "\n";
        }
    }
    for (const auto& [path, state] : clogs_) {
        out += "clog from=" + std::to_string(path.first) + " to=" + std::to_string(path.second) +
               " until_ns=" + std::to_string(state.until_ns) + " held=" + std::to_string(state.held.size()) + "\n";
    }
    for (const auto& [from, to] : connect_failures_) {
        out += "connect_failure from=" + std::to_string(from) + " to=" + std::to_string(to) + "\n";
    }
    out += "options";
    for (const auto& [key, value] : describe_net_options(options_)) out += " " + key + "=" + value;
    return out + "\n";
}

std::optional<Ipv4> Network::resolve(std::string_view name) const {
    if (name == "localhost") return ipv4_loopback;
    if (std::optional<Ipv4> literal = parse_ipv4(name)) return literal;
    for (const detail::NetNode& node : nodes_) {
        if (node.name == name) return node.address;
    }
    return std::nullopt;
}

void Network::resize_topology() {
    const std::size_t old_n = nodes_.size() - 1;
    const std::size_t n = nodes_.size();
    std::vector<std::uint8_t> cuts(n * n, 0);
    std::vector<LinkStats> links(n * n);
    for (std::size_t a = 0; a < old_n; ++a) {
        for (std::size_t b = 0; b < old_n; ++b) {
            cuts[a * n + b] = cuts_[a * old_n + b];
            links[a * n + b] = links_[a * old_n + b];
        }
    }
    cuts_ = std::move(cuts);
    links_ = std::move(links);
}

std::uint8_t& Network::cut(NodeId from, NodeId to) { return cuts_[from * nodes_.size() + to]; }
std::uint8_t Network::cut(NodeId from, NodeId to) const { return cuts_[from * nodes_.size() + to]; }

// ---- topology faults -----------------------------------------------------------

void Network::partition(const std::vector<std::vector<NodeId>>& groups) {
    std::vector<int> group_of(nodes_.size(), -1);
    std::string text;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        if (g > 0) text += '|';
        for (std::size_t i = 0; i < groups[g].size(); ++i) {
            const NodeId node = groups[g][i];
            if (node >= nodes_.size()) throw std::invalid_argument("partition: no node " + std::to_string(node));
            if (group_of[node] != -1) throw std::invalid_argument("partition: node " + std::to_string(node) + " in two groups");
            group_of[node] = static_cast<int>(g);
            if (i > 0) text += ',';
            text += std::to_string(node);
        }
    }
    for (NodeId a = 0; a < nodes_.size(); ++a) {
        for (NodeId b = 0; b < nodes_.size(); ++b) {
            const bool split = group_of[a] != -1 && group_of[b] != -1 && group_of[a] != group_of[b];
            cut(a, b) = static_cast<std::uint8_t>(split ? (cut(a, b) | cut_partition) : (cut(a, b) & ~cut_partition));
        }
    }
    if (trace_ != nullptr) trace_->emit("net.partition", {{"groups", text}});
}

void Network::set_link(NodeId from, NodeId to, bool on) {
    if (from >= nodes_.size() || to >= nodes_.size()) throw std::invalid_argument("set_link: no such node");
    cut(from, to) = static_cast<std::uint8_t>(on ? (cut(from, to) & ~cut_link) : (cut(from, to) | cut_link));
    if (trace_ != nullptr) trace_->emit("net.link", {{"from", from}, {"to", to}, {"on", on}});
}

void Network::heal() {
    std::fill(cuts_.begin(), cuts_.end(), std::uint8_t{0});
    auto_partitioned_ = false;
    auto_changed_ns_ = events_.now_ns();
    if (trace_ != nullptr) trace_->emit("net.heal");
}

void Network::set_connect_failure(NodeId from, NodeId to, bool on) {
    if (from >= nodes_.size() || to >= nodes_.size()) throw std::invalid_argument("set_connect_failure: no such node");
    if (on) {
        connect_failures_.insert({from, to});
    } else {
        connect_failures_.erase({from, to});
    }
    if (trace_ != nullptr) trace_->emit("net.connect_failure", {{"from", from}, {"to", to}, {"on", on}});
}

void Network::clog(NodeId from, NodeId to, Ns duration_ns) {
    if (from >= nodes_.size() || to >= nodes_.size()) throw std::invalid_argument("clog: no such node");
    const Ns until = events_.now_ns() + duration_ns;
    detail::NetClog& state = clogs_[{from, to}];
    if (state.timer != 0 && state.until_ns >= until) return;  // already held at least that long
    if (state.timer != 0) events_.cancel(state.timer);
    state.until_ns = until;
    state.timer = events_.schedule_at(until, [this, from, to] { release_clog(from, to); });
    if (trace_ != nullptr) {
        trace_->emit("net.clog", {{"from", from}, {"to", to}, {"duration_ns", duration_ns}, {"until_ns", until}});
    }
}

void Network::clog_node(NodeId node, Ns duration_ns) {
    for (NodeId other = 0; other < nodes_.size(); ++other) {
        if (other == node) continue;
        clog(node, other, duration_ns);
        clog(other, node, duration_ns);
    }
}

void Network::unclog(NodeId from, NodeId to) {
    if (clogs_.contains({from, to})) release_clog(from, to);
}

void Network::unclog_all() {
    while (!clogs_.empty()) release_clog(clogs_.begin()->first.first, clogs_.begin()->first.second);
}

bool Network::path_clogged(NodeId from, NodeId to) const { return !clogs_.empty() && clogs_.contains({from, to}); }

void Network::release_clog(NodeId from, NodeId to) {
    auto it = clogs_.find({from, to});
    detail::NetClog state = std::move(it->second);
    clogs_.erase(it);
    events_.cancel(state.timer);
    if (trace_ != nullptr) trace_->emit("net.unclog", {{"from", from}, {"to", to}, {"released", state.held.size()}});
    // Held packets become deliverable now, in the order they arrived (their
    // ids break the tie), and still face partitions and down nodes.
    for (detail::NetPacket& packet : state.held) {
        packet.deliver_at_ns = events_.now_ns();
        schedule_packet(std::move(packet));
    }
    arm_delivery_timer();
}

// ---- sending and delivering ----------------------------------------------------

void Network::trace_send(const detail::NetPacket& packet, Ns latency_ns) {
    if (trace_ == nullptr) return;
    std::vector<TraceField> fields{{"id", packet.id}, {"from", packet.from}, {"to", packet.to},
                                   {"proto", packet.tcp ? "tcp" : "udp"}, {"src", to_string(packet.src)},
                                   {"dst", to_string(packet.dst)}};
    if (packet.tcp) {
        fields.emplace_back("flags", flags_text(packet.flags));
        fields.emplace_back("seq", packet.seq);
        fields.emplace_back("ack", packet.ack);
    }
    fields.emplace_back("bytes", packet.payload.size());
    if (packet.v6) fields.emplace_back("family", "ipv6");
    fields.emplace_back("deliver_at_ns", packet.deliver_at_ns);
    fields.emplace_back("latency_ns", latency_ns);
    trace_->emit("net.send", std::move(fields));
}

void Network::trace_deliver(const detail::NetPacket& packet) {
    ++stats_.packets_delivered;
    ++links_[packet.from * nodes_.size() + packet.to].delivered;
    if (trace_ != nullptr) trace_->emit("net.deliver", {{"id", packet.id}, {"from", packet.from}, {"to", packet.to}});
}

void Network::drop(const detail::NetPacket& packet, std::string_view reason) {
    ++stats_.packets_dropped;
    ++links_[packet.from * nodes_.size() + packet.to].dropped;
    if (trace_ == nullptr) return;
    trace_->emit("net.drop", {{"id", packet.id}, {"from", packet.from}, {"to", packet.to}, {"reason", reason}});
}

void Network::transmit(detail::NetPacket packet) {
    const Ns now = events_.now_ns();
    packet.id = next_packet_id_++;
    packet.sent_ns = now;
    ++stats_.packets_sent;
    packet.link_seq = ++links_[packet.from * nodes_.size() + packet.to].sent;
    if (packet.from == packet.to) {  // loopback: never faulted
        packet.deliver_at_ns = now + options_.loopback_latency_ns;
        trace_send(packet, options_.loopback_latency_ns);
        schedule_packet(std::move(packet));
        return;
    }
    Ns latency = options_.latency_ns_min;
    if (options_.latency_ns_jitter > 0) latency += streams_.latency.uint_in_range(0, options_.latency_ns_jitter);
    if (!options_.latency_tail_rate.is_never() && options_.latency_tail_rate.roll(streams_.tail).fired) {
        latency += streams_.tail.uint_in_range(0, options_.latency_tail_ns_max);  // the long tail
    }
    packet.deliver_at_ns = now + latency;
    trace_send(packet, latency);
    if (!nodes_[packet.from].up) return drop(packet, "source_down");
    // Each decision is drawn, then decide() may override it (forced.cpp).
    if (decide(ForcedFault::drop, packet, !options_.drop_rate.is_never() && options_.drop_rate.roll(streams_.drop).fired)) {
        return drop(packet, forced_only_ ? "forced" : "send_drop");
    }
    if (!path_clogged(packet.from, packet.to) &&
        decide(ForcedFault::clog, packet,
               !options_.path_clog_rate.is_never() && options_.path_clog_rate.roll(streams_.clog).fired)) {
        clog(packet.from, packet.to, options_.path_clog_duration_ns);
    }
    if (!packet.tcp && decide(ForcedFault::duplicate, packet,
                              !options_.duplicate_rate.is_never() &&
                                  options_.duplicate_rate.roll(streams_.duplicate).fired)) {
        detail::NetPacket copy = packet;
        copy.id = next_packet_id_++;
        Ns copy_latency = options_.latency_ns_min;
        // The copy's latency comes from the duplicate stream, so turning
        // duplication on leaves every original's latency unchanged.
        if (options_.latency_ns_jitter > 0) copy_latency += streams_.duplicate.uint_in_range(0, options_.latency_ns_jitter);
        copy.deliver_at_ns = now + copy_latency;
        ++stats_.packets_duplicated;
        copy.link_seq = ++links_[copy.from * nodes_.size() + copy.to].sent;
        if (trace_ != nullptr) {
            trace_->emit("net.duplicate", {{"id", copy.id}, {"of", packet.id}, {"from", copy.from}, {"to", copy.to},
                                           {"deliver_at_ns", copy.deliver_at_ns}, {"latency_ns", copy_latency}});
        }
        schedule_packet(std::move(copy));
    }
    schedule_packet(std::move(packet));
}

void Network::schedule_packet(detail::NetPacket packet) {
    in_flight_.push_back(std::move(packet));
    std::push_heap(in_flight_.begin(), in_flight_.end(), detail::PacketLater{});
    arm_delivery_timer();
}

void Network::arm_delivery_timer() {
    if (in_flight_.empty()) return;  // a pending timer finds nothing and stops
    const Ns head = in_flight_.front().deliver_at_ns;
    if (delivery_timer_ != 0 && delivery_timer_at_ <= head) return;
    if (delivery_timer_ != 0) events_.cancel(delivery_timer_);
    delivery_timer_at_ = head;
    delivery_timer_ = events_.schedule_at(head, [this] {
        delivery_timer_ = 0;
        deliver_due();
    });
}

std::optional<Ns> Network::next_delivery_ns() const {
    if (in_flight_.empty()) return std::nullopt;
    return in_flight_.front().deliver_at_ns;
}

void Network::deliver_due() {
    while (!in_flight_.empty() && in_flight_.front().deliver_at_ns <= events_.now_ns()) {
        std::pop_heap(in_flight_.begin(), in_flight_.end(), detail::PacketLater{});
        detail::NetPacket packet = std::move(in_flight_.back());
        in_flight_.pop_back();
        deliver(packet);
    }
    arm_delivery_timer();
}

void Network::deliver(detail::NetPacket& packet) {
    if (packet.from != packet.to) {
        if (!nodes_[packet.to].up) return drop(packet, "destination_down");
        const std::uint8_t why = cut(packet.from, packet.to);
        if ((why & (cut_partition | cut_auto)) != 0) return drop(packet, "partition");
        if ((why & cut_link) != 0) return drop(packet, "link_disabled");
        if (path_clogged(packet.from, packet.to)) {
            if (trace_ != nullptr) trace_->emit("net.hold", {{"id", packet.id}, {"from", packet.from}, {"to", packet.to}});
            clogs_[{packet.from, packet.to}].held.push_back(std::move(packet));
            return;
        }
    }
    // The protocol handlers trace the delivery themselves, after the checks
    // that may still drop the packet at the receiver (queue full, backlog).
    if (packet.tcp) {
        tcp_receive(packet);
    } else {
        udp_receive(packet);
    }
}

}  // namespace marionette
