// Options of the simulated network: latency, one rate per fault, partition
// dynamics and the TCP/UDP model's sizes and timeouts.
//
// One struct holds every knob so a scenario, the control plane
// (`net.set_faults drop_rate=10% latency_ns_jitter=2ms`) and the CLI name
// them the same way. The text form is `key=value` pairs separated by spaces
// (or commas); rates go through Rate::parse and durations through
// parse_duration, so `drop_rate=1/8` and `tcp_timeout_ns=30s` both work.
// Unknown keys are errors naming the accepted keys: a typo never silently
// disables a fault.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/rate.hpp"
#include "sim/time.hpp"

namespace marionette {

/// How the partition dynamics choose the sides of a random partition.
enum class PartitionMode {
    isolate_single,  ///< one random node cut off from all others
    uniform_split,   ///< every node on a random side, both sides non-empty
};

struct NetOptions {
    // Latency of a packet between two different nodes: min + uniform [0, jitter].
    Ns latency_ns_min = 100 * ns_per_us;  ///< one-way latency floor
    Ns latency_ns_jitter = 0;             ///< extra uniform latency; > 0 reorders packets
    Ns loopback_latency_ns = ns_per_us;   ///< latency inside one node (127/8, own address); never faulted
    Rate latency_tail_rate = Rate::never();  ///< a packet is slow: extra uniform [0, latency_tail_ns_max]
    Ns latency_tail_ns_max = 200 * ns_per_ms;

    Rate drop_rate = Rate::never();              ///< a packet is lost at send (`net.drop reason=send_drop`)
    Rate duplicate_rate = Rate::never();         ///< a UDP datagram is delivered twice (`net.duplicate`)
    Rate path_clog_rate = Rate::never();         ///< a send clogs its path (holds, never drops)
    Ns path_clog_duration_ns = 100 * ns_per_ms;  ///< how long a random clog holds its path
    Rate connection_reset_rate = Rate::never();  ///< a delivered TCP data segment resets its connection
    Rate partial_write_rate = Rate::never();     ///< a stream send() accepts fewer bytes than it could

    // Partition dynamics: each tick, roll to isolate (when healed for at
    // least unpartition_stability_ns_min) or to heal (when partitioned for at
    // least partition_stability_ns_min).
    Rate partition_rate = Rate::never();
    Rate unpartition_rate = Rate::never();
    Ns partition_stability_ns_min = 0;
    Ns unpartition_stability_ns_min = 0;
    Ns partition_tick_ns = 100 * ns_per_ms;  ///< how often the dynamics roll (only while a rate is set)
    PartitionMode partition_mode = PartitionMode::isolate_single;

    std::uint64_t udp_queue_capacity = 256;  ///< datagrams a UDP socket queues; more are dropped (queue_full)

    // TCP model.
    Ns tcp_timeout_ns = 30 * ns_per_s;          ///< unacknowledged this long (data or SYN) -> ETIMEDOUT
    Ns tcp_rto_ns_min = 200 * ns_per_ms;        ///< first retransmission timeout; doubles per retry
    Ns tcp_rto_ns_max = 5 * ns_per_s;           ///< retransmission backoff ceiling
    std::uint64_t tcp_mss_bytes = 1460;         ///< largest segment payload
    // Linux's defaults: what getsockopt reports for a fresh TCP socket
    // (net.ipv4.tcp_wmem / tcp_rmem, middle values). The model counts
    // payload bytes against them.
    std::uint64_t tcp_send_buffer_bytes = 16 * 1024;       ///< default SO_SNDBUF
    std::uint64_t tcp_receive_buffer_bytes = 128 * 1024;   ///< default SO_RCVBUF (the largest advertised window)
    std::uint64_t tcp_window_bytes = 64 * 1024;           ///< most bytes in flight per connection
    /// Delayed acknowledgement: 0 acks every data segment at once; > 0
    /// waits up to this long for outgoing data to carry the ack (every
    /// second segment, out-of-order data and FINs are still acked at once).
    Ns tcp_ack_delay_ns = 0;

    friend bool operator==(const NetOptions&, const NetOptions&) = default;
};

/// Which keys a `key=value` text may set.
enum class NetOptionGroup {
    all,                 ///< net.set_faults: every key
    lossiness,           ///< net.set_lossiness: drop, duplicate, reset and clog rates
    latency,             ///< net.set_latency: latency_ns_min, latency_ns_jitter, loopback_latency_ns, tail
    partition_dynamics,  ///< net.set_partition_dynamics: rates, floors (stability_ns_min sets both), tick, mode
};

/// Applies `key=value ...` to `options` (all or nothing). Throws
/// std::invalid_argument naming the bad pair and, for an unknown key, the
/// keys accepted by `group`. Returns the keys that were set, in order.
std::vector<std::string> apply_net_options(NetOptions& options, std::string_view text,
                                           NetOptionGroup group = NetOptionGroup::all);

/// Throws std::invalid_argument if the options cannot work together (a zero
/// segment size, an ack delay not below the retransmission timeout, ...).
void validate_net_options(const NetOptions& options);

/// Every option as `key=value` pairs, in declaration order (for traces and
/// `net.show`).
std::vector<std::pair<std::string, std::string>> describe_net_options(const NetOptions& options);

}  // namespace marionette
