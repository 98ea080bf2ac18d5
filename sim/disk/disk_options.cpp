// Disk options as text (see disk_options.hpp).
#include "sim/disk/disk_options.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace marionette {
namespace {

struct RateField {
    std::string_view name;
    Rate DiskFaults::*field;
};

constexpr RateField rate_fields[] = {
    {"read_error_rate", &DiskFaults::read_error_rate},
    {"write_error_rate", &DiskFaults::write_error_rate},
    {"corrupt_read_rate", &DiskFaults::corrupt_read_rate},
    {"crash_lost_write_rate", &DiskFaults::crash_lost_write_rate},
    {"crash_torn_write_rate", &DiskFaults::crash_torn_write_rate},
    {"misdirected_write_rate", &DiskFaults::misdirected_write_rate},
    {"latent_sector_error_rate", &DiskFaults::latent_sector_error_rate},
    {"fsync_error_rate", &DiskFaults::fsync_error_rate},
    {"short_io_rate", &DiskFaults::short_io_rate},
};

std::uint64_t parse_count(std::string_view key, std::string_view value) {
    std::uint64_t out = 0;
    int base = 10;
    if (value.starts_with("0x")) {
        value.remove_prefix(2);
        base = 16;
    }
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out, base);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
        throw std::invalid_argument("disk option " + std::string(key) + ": not a number: '" + std::string(value) + "'");
    }
    return out;
}

bool parse_bool(std::string_view key, std::string_view value) {
    if (value == "true" || value == "1" || value == "on") return true;
    if (value == "false" || value == "0" || value == "off") return false;
    throw std::invalid_argument("disk option " + std::string(key) + ": expected true or false, got '" +
                                std::string(value) + "'");
}

}  // namespace

const std::vector<std::string_view>& disk_fault_rate_names() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> out;
        for (const RateField& f : rate_fields) out.push_back(f.name);
        return out;
    }();
    return names;
}

Rate* find_fault_rate(DiskFaults& faults, std::string_view key) {
    for (const RateField& f : rate_fields) {
        if (f.name == key) return &(faults.*(f.field));
    }
    return nullptr;
}

const Rate* find_fault_rate(const DiskFaults& faults, std::string_view key) {
    return find_fault_rate(const_cast<DiskFaults&>(faults), key);
}

void set_disk_option(DiskOptions& options, std::string_view key_text, std::string_view value) {
    std::string key(key_text);
    std::replace(key.begin(), key.end(), '-', '_');
    if (Rate* rate = find_fault_rate(options.faults, key)) {
        *rate = Rate::parse(value);
    } else if (key == "crash_reorder_writes") {
        options.faults.crash_reorder_writes = parse_bool(key, value);
    } else if (key == "sector_size_bytes" || key == "block_size_bytes") {
        const std::uint64_t n = parse_count(key, value);
        if (n == 0) throw std::invalid_argument("disk option " + key + " must be > 0");
        (key == "sector_size_bytes" ? options.sector_size_bytes : options.block_size_bytes) = n;
    } else if (key == "capacity_bytes") {
        options.capacity_bytes = parse_count(key, value);
    } else if (key == "device_id") {
        options.device_id = parse_count(key, value);
    } else if (key == "latency_ns_min") {
        options.latency_ns_min = parse_duration(value);
    } else if (key == "latency_ns_jitter") {
        options.latency_ns_jitter = parse_duration(value);
    } else if (key == "metadata") {
        options.metadata = parse_metadata_durability(value);
    } else {
        throw std::invalid_argument("unknown disk option '" + std::string(key_text) + "'");
    }
}

std::vector<std::pair<std::string, std::string>> disk_option_pairs(const DiskOptions& options) {
    std::vector<std::pair<std::string, std::string>> out{
        {"disk.sector_size_bytes", std::to_string(options.sector_size_bytes)},
        {"disk.block_size_bytes", std::to_string(options.block_size_bytes)},
        {"disk.capacity_bytes", std::to_string(options.capacity_bytes)},
        {"disk.latency_ns_min", std::to_string(options.latency_ns_min)},
        {"disk.latency_ns_jitter", std::to_string(options.latency_ns_jitter)},
        {"disk.metadata", options.metadata == MetadataDurability::strict ? "strict" : "lenient"},
        {"disk.device_id", std::to_string(options.device_id)},
    };
    for (const RateField& f : rate_fields) {
        out.emplace_back("disk." + std::string(f.name), (options.faults.*(f.field)).to_string());
    }
    out.emplace_back("disk.crash_reorder_writes", options.faults.crash_reorder_writes ? "true" : "false");
    return out;
}

}  // namespace marionette
