// Production: the embedded API's Env over the real OS, for parity tests
// (see include/marionette/world.hpp).
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "marionette/world.hpp"

namespace marionette {

namespace {

[[noreturn]] void unavailable(std::string_view what) {
    throw Unavailable(std::string(what) + " is unavailable in production (the real OS has no fault injection; "
                                          "run the harness in a World to inject faults)");
}

}  // namespace

Production::Production(ProductionOptions options) : trace_(TraceHeader{}, nullptr, true) {
    trace_.set_clock([] { return Ns{0}; });
    if (!options.root_dir.empty()) {
        root_ = options.root_dir;
        return;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/marionette-production-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    root_ = pattern;
    owns_root_ = true;
}

Production::~Production() {
    if (!owns_root_) return;
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
}

Ns Production::now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<Ns>(now.tv_sec) * ns_per_s + static_cast<Ns>(now.tv_nsec);
}

std::uint64_t Production::random_u64() {
    std::uint64_t value = 0;
    while (::getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
    }
    return value;
}

void Production::record(std::string_view name, std::vector<TraceField> fields) { trace_.emit(name, std::move(fields)); }

CrashReport Production::disk_crash() { unavailable("disk.crash"); }
void Production::disk_restart() { unavailable("disk.restart"); }
void Production::disk_corrupt_sector(std::string_view, std::uint64_t) { unavailable("disk.corrupt_sector"); }
void Production::disk_set_bad_sector(std::string_view, std::uint64_t) { unavailable("disk.set_bad_sector"); }
void Production::disk_set_faults(const DiskFaults&) { unavailable("disk.set_faults"); }
DiskFaults Production::disk_faults() const { return DiskFaults{}; }

std::string Production::node_address(NodeId node) const {
    if (node >= 254) throw std::out_of_range("node_address: at most 254 nodes under Production");
    return "127.0.0." + std::to_string(node + 1);
}

void Production::net_partition(const std::vector<NodeId>&, const std::vector<NodeId>&) {
    unavailable("network.partition");
}
void Production::net_heal() { unavailable("network.heal"); }
NetOptions Production::net_options() const { return NetOptions{}; }
void Production::net_set_options(const NetOptions&, std::string_view what) { unavailable(what); }
void Production::net_clog(NodeId, NodeId, Ns) { unavailable("network.clog"); }
void Production::net_set_node(NodeId, bool) { unavailable("network.set_node"); }

void Production::run_for(Ns duration_ns) {
    // Time passes for real: the production answer to "let time go by".
    timespec request{static_cast<time_t>(duration_ns / ns_per_s), static_cast<long>(duration_ns % ns_per_s)};
    while (::nanosleep(&request, &request) != 0 && errno == EINTR) {
    }
}

}  // namespace marionette
