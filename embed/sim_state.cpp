// The simulated machine of a World (see sim_state.hpp).
#include "embed/sim_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "embed/real_libc.hpp"
#include "sim/vfs/path.hpp"

namespace marionette::detail {

namespace {

thread_local SimState* active_state = nullptr;
thread_local bool inside_sim = false;

/// CLOCK_MONOTONIC at the start: a plausible, fixed uptime (as the shim's).
constexpr Ns monotonic_start = 1000 * ns_per_s;

TraceHeader make_header(std::uint64_t seed, const SimulationOptions& options) {
    TraceHeader header;
    header.seed = seed;
    header.options = {{"api", "embedded"},
                      {"root", options.root},
                      {"sector_size_bytes", std::to_string(options.disk.sector_size_bytes)}};
    return header;
}

}  // namespace

SimState* enter() { return inside_sim ? nullptr : active_state; }

SimState* activate(SimState* state) {
    SimState* previous = active_state;
    active_state = state;
    return previous;
}

InsideSim::InsideSim() : previous_(inside_sim) { inside_sim = true; }
InsideSim::~InsideSim() { inside_sim = previous_; }

SimState::SimState(std::uint64_t seed, const WorldOptions& world, SimulationOptions options)
    : seed_(seed),
      options_(std::move(options)),
      root_(normalize_path("/", options_.root)),
      start_ns_(world.start_time_ns),
      monotonic_start_ns_(monotonic_start),
      queue_(world.start_time_ns),
      trace_(make_header(seed, options_), nullptr, true),
      root_prng_(seed),
      disk_(options_.disk, store_, root_prng_.derive("disk", 0), trace_, queue_),
      node_(trace_),
      files_(node_, real_cwd()),
      buggify_(root_prng_.derive("buggify"), trace_),
      env_prng_(root_prng_.derive("env.random")),
      getrandom_prng_(root_prng_.derive("random.getrandom")) {
    InsideSim inside;
    trace_.set_clock([this] { return queue_.now_ns(); });
    if (root_ == "/") throw std::invalid_argument("SimulationOptions.root must not be /");
    trace_.emit("world.simulate", {{"root", root_},
                                   {"sector_size_bytes", options_.disk.sector_size_bytes},
                                   {"call_cost_ns", options_.call_cost_ns}});
    node_.mount(root_, disk_, "/");
    if (options_.network.nodes > 0) {
        network_ = std::make_unique<Network>(queue_, &trace_, root_prng_.derive("net"), options_.network.options);
        for (NodeId n = 0; n < options_.network.nodes; ++n) network_->add_node("node" + std::to_string(n));
        if (options_.network.default_node >= options_.network.nodes) {
            throw std::invalid_argument("NetworkOptions.default_node is not a node");
        }
    }
}

SimState::~SimState() {
    InsideSim inside;
    // Descriptors the harness leaked: give the reserved numbers back.
    for (int fd : files_.descriptors()) files_.close(fd);
    if (network_ != nullptr) {
        for (auto& [fd, sock] : sockets_) {
            if (sock.id != 0 && network_->valid(sock.id)) network_->close(sock.id);
        }
    }
    for (int fd : reserved_) real::close(fd);
}

bool SimState::buggify(std::string_view hook, Rate rate) {
    InsideSim inside;
    return buggify_.fire(hook, rate);
}

std::uint64_t SimState::random_u64() {
    InsideSim inside;
    const std::uint64_t value = env_prng_.next_u64();
    trace_.emit("world.random_u64", {{"value", value}});
    return value;
}

void SimState::record(std::string_view name, std::vector<TraceField> fields) {
    InsideSim inside;
    trace_.emit(name, std::move(fields));
}

CrashReport SimState::disk_crash() {
    InsideSim inside;
    // The application's descriptors die with the machine: close them first
    // so their handles are returned to the disk before it forgets them, and
    // remember the numbers so later calls on them fail with EIO.
    for (int fd : files_.descriptors()) {
        files_.close(fd);
        stale_.insert(fd);
    }
    return disk_.crash();
}

void SimState::disk_restart() {
    InsideSim inside;
    disk_.restart();
}

std::string SimState::disk_path_of(std::string_view path) const {
    const Route r = route(path);
    if (!r.simulated()) {
        throw std::invalid_argument("path " + std::string(path) + " is not on the simulated disk (root " + root_ + ")");
    }
    return r.disk_path;
}

void SimState::disk_corrupt_sector(std::string_view path, std::uint64_t offset) {
    InsideSim inside;
    if (int e = disk_.corrupt_sector(disk_path_of(path), offset)) {
        throw std::system_error(e, std::generic_category(), "corrupt_sector " + std::string(path));
    }
}

void SimState::disk_set_bad_sector(std::string_view path, std::uint64_t offset) {
    InsideSim inside;
    if (int e = disk_.set_bad_sector(disk_path_of(path), offset)) {
        throw std::system_error(e, std::generic_category(), "set_bad_sector " + std::string(path));
    }
}

void SimState::disk_set_faults(const DiskFaults& faults) {
    InsideSim inside;
    disk_.set_faults(faults);
    trace_.emit("disk.set_faults", {{"crash_lost_write_rate", faults.crash_lost_write_rate.to_string()},
                                    {"crash_torn_write_rate", faults.crash_torn_write_rate.to_string()},
                                    {"write_error_rate", faults.write_error_rate.to_string()},
                                    {"read_error_rate", faults.read_error_rate.to_string()},
                                    {"corrupt_read_rate", faults.corrupt_read_rate.to_string()}});
}

void SimState::run_for(Ns duration_ns) {
    InsideSim inside;
    trace_.emit("world.run_for", {{"duration_ns", duration_ns}});
    queue_.run_for(duration_ns);
}

void SimState::advance(Ns duration_ns) {
    if (duration_ns > 0) queue_.run_until(queue_.now_ns() + duration_ns);
}

FdKind SimState::kind(int fd) const {
    if (files_.owns(fd)) return FdKind::simulated;
    if (sockets_.contains(fd)) return FdKind::socket;
    if (stale_.contains(fd)) return FdKind::stale;
    return FdKind::real;
}

int SimState::reserve_fd(int minimum) {
    const int placeholder = real::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (placeholder < 0) return -errno;
    const int fd = real::fcntl(placeholder, F_DUPFD_CLOEXEC, std::max(minimum, options_.fd_base));
    const int saved = errno;
    real::close(placeholder);
    if (fd < 0) return -saved;
    reserved_.insert(fd);
    return fd;
}

long SimState::close_fd(int fd) {
    long result = 0;
    if (files_.owns(fd)) {
        result = files_.close(fd);
    } else if (auto it = sockets_.find(fd); it != sockets_.end()) {
        if (it->second.id != 0 && network_->valid(it->second.id)) network_->close(it->second.id);
        sockets_.erase(it);
    } else if (!stale_.erase(fd)) {
        return -EBADF;
    }
    if (reserved_.erase(fd)) real::close(fd);
    return result;
}

void SimState::forget(int fd) {
    if (files_.owns(fd)) files_.close(fd);
    if (auto it = sockets_.find(fd); it != sockets_.end()) {
        if (it->second.id != 0 && network_->valid(it->second.id)) network_->close(it->second.id);
        sockets_.erase(it);
    }
    stale_.erase(fd);
    reserved_.erase(fd);
}

SimDir* SimState::dir(const void* handle) {
    auto it = dirs_.find(handle);
    return it == dirs_.end() ? nullptr : it->second.get();
}

SimDir* SimState::add_dir(int fd) {
    auto stream = std::make_unique<SimDir>();
    stream->fd = fd;
    SimDir* raw = stream.get();
    dirs_[raw] = std::move(stream);
    return raw;
}

void SimState::remove_dir(const void* handle) { dirs_.erase(handle); }

SimSocket* SimState::socket(int fd) {
    auto it = sockets_.find(fd);
    return it == sockets_.end() ? nullptr : &it->second;
}

int SimState::add_socket(SimSocket sock, bool cloexec) {
    (void)cloexec;  // placeholders are always close-on-exec
    const int fd = reserve_fd();
    if (fd >= 0) sockets_[fd] = sock;
    return fd;
}

bool SimState::wait_until(const std::function<bool()>& ready, Ns timeout_ns) {
    const Ns deadline = timeout_ns == 0 ? 0 : queue_.now_ns() + timeout_ns;
    while (!ready()) {
        const std::optional<Ns> next = queue_.next_at();
        if (!next || (deadline != 0 && *next > deadline)) {
            if (deadline != 0) queue_.run_until(deadline);
            return ready();
        }
        queue_.step();
    }
    return true;
}

std::string SimState::node_address(NodeId node) const {
    if (network_ != nullptr && node < network_->node_count()) return to_string(network_->node_address(node));
    return to_string(Ipv4{0x0a000001u + node});
}

namespace {
Network& need(const std::unique_ptr<Network>& network) {
    if (network == nullptr) throw std::logic_error("this simulation has no network (SimulationOptions.network.nodes = 0)");
    return *network;
}
}  // namespace

void SimState::net_partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
    InsideSim inside;
    need(network_).partition({a, b});
}

void SimState::net_heal() {
    InsideSim inside;
    need(network_).heal();
}

NetOptions SimState::net_options() const { return need(network_).options(); }

void SimState::net_set_options(const NetOptions& options, std::string_view) {
    InsideSim inside;
    need(network_).set_options(options);
}

void SimState::net_clog(NodeId from, NodeId to, Ns duration_ns) {
    InsideSim inside;
    need(network_).clog(from, to, duration_ns);
}

void SimState::net_set_node(NodeId node, bool up) {
    InsideSim inside;
    Network& network = need(network_);
    if (up) {
        network.restart(node);
    } else {
        network.crash(node);
    }
}

}  // namespace marionette::detail
