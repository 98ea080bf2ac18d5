#include "sim/net/options.hpp"

#include <charconv>
#include <functional>
#include <stdexcept>

namespace marionette {
namespace {

enum GroupBit : unsigned { lossiness_bit = 1, latency_bit = 2, dynamics_bit = 4, other_bit = 8 };

struct OptionKey {
    std::string_view name;
    unsigned groups;
    std::function<void(NetOptions&, std::string_view)> set;
    std::function<std::string(const NetOptions&)> get;
};

std::uint64_t parse_count(std::string_view text) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
        throw std::invalid_argument("'" + std::string(text) + "' is not a whole number");
    }
    return value;
}

OptionKey rate_key(std::string_view name, unsigned groups, Rate NetOptions::*field) {
    return {name, groups, [field](NetOptions& o, std::string_view v) { o.*field = Rate::parse(v); },
            [field](const NetOptions& o) { return (o.*field).to_string(); }};
}

OptionKey duration_key(std::string_view name, unsigned groups, Ns NetOptions::*field) {
    return {name, groups, [field](NetOptions& o, std::string_view v) { o.*field = parse_duration(v); },
            [field](const NetOptions& o) { return std::to_string(o.*field); }};
}

OptionKey count_key(std::string_view name, unsigned groups, std::uint64_t NetOptions::*field) {
    return {name, groups, [field](NetOptions& o, std::string_view v) { o.*field = parse_count(v); },
            [field](const NetOptions& o) { return std::to_string(o.*field); }};
}

const std::vector<OptionKey>& option_keys() {
    static const std::vector<OptionKey> keys = {
        duration_key("latency_ns_min", latency_bit, &NetOptions::latency_ns_min),
        duration_key("latency_ns_jitter", latency_bit, &NetOptions::latency_ns_jitter),
        duration_key("loopback_latency_ns", latency_bit, &NetOptions::loopback_latency_ns),
        rate_key("latency_tail_rate", latency_bit, &NetOptions::latency_tail_rate),
        duration_key("latency_tail_ns_max", latency_bit, &NetOptions::latency_tail_ns_max),
        rate_key("drop_rate", lossiness_bit, &NetOptions::drop_rate),
        rate_key("duplicate_rate", lossiness_bit, &NetOptions::duplicate_rate),
        rate_key("path_clog_rate", lossiness_bit, &NetOptions::path_clog_rate),
        duration_key("path_clog_duration_ns", lossiness_bit, &NetOptions::path_clog_duration_ns),
        rate_key("connection_reset_rate", lossiness_bit, &NetOptions::connection_reset_rate),
        rate_key("partial_write_rate", lossiness_bit, &NetOptions::partial_write_rate),
        rate_key("partition_rate", dynamics_bit, &NetOptions::partition_rate),
        rate_key("unpartition_rate", dynamics_bit, &NetOptions::unpartition_rate),
        duration_key("partition_stability_ns_min", dynamics_bit, &NetOptions::partition_stability_ns_min),
        duration_key("unpartition_stability_ns_min", dynamics_bit, &NetOptions::unpartition_stability_ns_min),
        {"stability_ns_min", dynamics_bit,
         [](NetOptions& o, std::string_view v) {
             o.partition_stability_ns_min = parse_duration(v);
             o.unpartition_stability_ns_min = o.partition_stability_ns_min;
         },
         nullptr},
        duration_key("partition_tick_ns", dynamics_bit, &NetOptions::partition_tick_ns),
        {"partition_mode", dynamics_bit,
         [](NetOptions& o, std::string_view v) {
             if (v == "isolate_single") {
                 o.partition_mode = PartitionMode::isolate_single;
             } else if (v == "uniform_split") {
                 o.partition_mode = PartitionMode::uniform_split;
             } else {
                 throw std::invalid_argument("expected isolate_single or uniform_split");
             }
         },
         [](const NetOptions& o) {
             return std::string(o.partition_mode == PartitionMode::isolate_single ? "isolate_single"
                                                                                  : "uniform_split");
         }},
        count_key("udp_queue_capacity", other_bit, &NetOptions::udp_queue_capacity),
        duration_key("tcp_timeout_ns", other_bit, &NetOptions::tcp_timeout_ns),
        duration_key("tcp_rto_ns_min", other_bit, &NetOptions::tcp_rto_ns_min),
        duration_key("tcp_rto_ns_max", other_bit, &NetOptions::tcp_rto_ns_max),
        count_key("tcp_mss_bytes", other_bit, &NetOptions::tcp_mss_bytes),
        count_key("tcp_send_buffer_bytes", other_bit, &NetOptions::tcp_send_buffer_bytes),
        count_key("tcp_receive_buffer_bytes", other_bit, &NetOptions::tcp_receive_buffer_bytes),
        count_key("tcp_window_bytes", other_bit, &NetOptions::tcp_window_bytes),
        duration_key("tcp_ack_delay_ns", other_bit, &NetOptions::tcp_ack_delay_ns),
    };
    return keys;
}

unsigned group_mask(NetOptionGroup group) {
    switch (group) {
        case NetOptionGroup::all: return lossiness_bit | latency_bit | dynamics_bit | other_bit;
        case NetOptionGroup::lossiness: return lossiness_bit;
        case NetOptionGroup::latency: return latency_bit;
        case NetOptionGroup::partition_dynamics: return dynamics_bit;
    }
    return 0;
}

std::string accepted_keys(unsigned mask) {
    std::string out;
    for (const OptionKey& key : option_keys()) {
        if ((key.groups & mask) == 0) continue;
        if (!out.empty()) out += ", ";
        out += key.name;
    }
    return out;
}

}  // namespace

void validate_net_options(const NetOptions& o) {
    if (o.tcp_mss_bytes == 0) throw std::invalid_argument("tcp_mss_bytes must be > 0");
    if (o.tcp_window_bytes == 0) throw std::invalid_argument("tcp_window_bytes must be > 0");
    if (o.tcp_receive_buffer_bytes == 0) throw std::invalid_argument("tcp_receive_buffer_bytes must be > 0");
    if (o.tcp_rto_ns_min == 0) throw std::invalid_argument("tcp_rto_ns_min must be > 0");
    if (o.partition_tick_ns == 0) throw std::invalid_argument("partition_tick_ns must be > 0");
    if (o.tcp_rto_ns_max < o.tcp_rto_ns_min) throw std::invalid_argument("tcp_rto_ns_max must be >= tcp_rto_ns_min");
    if (o.tcp_ack_delay_ns >= o.tcp_rto_ns_min) {
        throw std::invalid_argument("tcp_ack_delay_ns must be below tcp_rto_ns_min (else every ack races a retransmission)");
    }
}

std::vector<std::string> apply_net_options(NetOptions& options, std::string_view text, NetOptionGroup group) {
    const unsigned mask = group_mask(group);
    NetOptions updated = options;
    std::vector<std::string> set_keys;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find_first_of(" \t,\n", pos);
        const std::string_view pair = text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            throw std::invalid_argument("network option '" + std::string(pair) + "' is not key=value");
        }
        const std::string_view key = pair.substr(0, eq);
        const std::string_view value = pair.substr(eq + 1);
        const OptionKey* found = nullptr;
        for (const OptionKey& candidate : option_keys()) {
            if (candidate.name == key && (candidate.groups & mask) != 0) found = &candidate;
        }
        if (found == nullptr) {
            throw std::invalid_argument("unknown network option '" + std::string(key) +
                                        "' (accepted: " + accepted_keys(mask) + ")");
        }
        try {
            found->set(updated, value);
        } catch (const std::invalid_argument& error) {
            throw std::invalid_argument("network option " + std::string(key) + ": " + error.what());
        }
        set_keys.emplace_back(key);
    }
    validate_net_options(updated);
    options = updated;
    return set_keys;
}

std::vector<std::pair<std::string, std::string>> describe_net_options(const NetOptions& options) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const OptionKey& key : option_keys()) {
        if (key.get) out.emplace_back(std::string(key.name), key.get(options));
    }
    return out;
}

}  // namespace marionette
