// Disk options as text: the one place where the names users type on the
// command line (`--crash-lost-write-rate 20%`), in scenario files and in
// the control protocol (`disk.set_faults crash_lost_write_rate=20%`) are
// mapped onto DiskOptions, and where options are rendered back as
// key/value pairs for the trace header. Keeping it here means the launcher,
// the control executor and the docs cannot drift apart.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/disk/disk.hpp"

namespace marionette {

/// The rate fields of DiskFaults by name, in declaration order.
const std::vector<std::string_view>& disk_fault_rate_names();

/// The rate field named `key` (e.g. `crash_torn_write_rate`), or nullptr.
Rate* find_fault_rate(DiskFaults& faults, std::string_view key);
const Rate* find_fault_rate(const DiskFaults& faults, std::string_view key);

/// Sets one option from text. Keys: every rate name (any Rate::parse form),
/// `crash_reorder_writes` (true/false), `sector_size_bytes`,
/// `block_size_bytes`, `capacity_bytes`, `device_id` (integers),
/// `latency_ns_min`, `latency_ns_jitter` (durations such as `2ms`),
/// `metadata` (strict/lenient). Dashes are accepted for underscores, so
/// CLI spellings work. Throws std::invalid_argument naming the key.
void set_disk_option(DiskOptions& options, std::string_view key, std::string_view value);

/// Every option as `disk.<key>` / text pairs, in a fixed order.
std::vector<std::pair<std::string, std::string>> disk_option_pairs(const DiskOptions& options);

}  // namespace marionette
