// Disk options as text: the names the CLI, scenarios and control use.
#include <catch2/catch.hpp>

#include "sim/disk/disk_options.hpp"

using namespace marionette;

TEST_CASE("every fault rate can be set by its name", "[disk][options]") {
    DiskOptions options;
    for (std::string_view name : disk_fault_rate_names()) {
        set_disk_option(options, name, "1/7");
        REQUIRE(find_fault_rate(options.faults, name) != nullptr);
        CHECK(*find_fault_rate(options.faults, name) == Rate::ratio(1, 7));
    }
    CHECK(disk_fault_rate_names().size() == 9);
    CHECK(options.faults.fsync_error_rate == Rate::ratio(1, 7));
    CHECK(find_fault_rate(options.faults, "no_such_rate") == nullptr);
}

TEST_CASE("sizes, durations, modes and CLI spellings parse", "[disk][options]") {
    DiskOptions options;
    set_disk_option(options, "sector-size-bytes", "512");
    set_disk_option(options, "capacity_bytes", "1048576");
    set_disk_option(options, "latency_ns_min", "2ms");
    set_disk_option(options, "latency_ns_jitter", "500us");
    set_disk_option(options, "metadata", "lenient");
    set_disk_option(options, "crash_reorder_writes", "false");
    set_disk_option(options, "crash-lost-write-rate", "20%");
    CHECK(options.sector_size_bytes == 512);
    CHECK(options.capacity_bytes == 1048576);
    CHECK(options.latency_ns_min == 2'000'000);
    CHECK(options.latency_ns_jitter == 500'000);
    CHECK(options.metadata == MetadataDurability::lenient);
    CHECK_FALSE(options.faults.crash_reorder_writes);
    CHECK(options.faults.crash_lost_write_rate == Rate::percent(20));
    CHECK_THROWS_AS(set_disk_option(options, "sector_size_bytes", "0"), std::invalid_argument);
    CHECK_THROWS_AS(set_disk_option(options, "capacity_bytes", "lots"), std::invalid_argument);
    CHECK_THROWS_AS(set_disk_option(options, "metadata", "eventual"), std::invalid_argument);
    CHECK_THROWS_WITH(set_disk_option(options, "speed", "1"), "unknown disk option 'speed'");
}

TEST_CASE("options render as trace header pairs", "[disk][options]") {
    DiskOptions options;
    options.faults.crash_torn_write_rate = Rate::percent(5);
    const auto pairs = disk_option_pairs(options);
    REQUIRE(pairs.size() == 17);
    CHECK(pairs[0] == std::pair<std::string, std::string>{"disk.sector_size_bytes", "4096"});
    CHECK(pairs[5] == std::pair<std::string, std::string>{"disk.metadata", "strict"});
    CHECK(pairs[11] == std::pair<std::string, std::string>{"disk.crash_torn_write_rate", "5/100"});
    CHECK(pairs.back() == std::pair<std::string, std::string>{"disk.crash_reorder_writes", "true"});
}
