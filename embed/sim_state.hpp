// The simulated machine behind a World, and the per-thread switch that
// routes intercepted POSIX calls to it.
//
// One SimState per simulating World: the event queue (virtual clock), the
// trace, the disk model over a MemStore, the file layer (NodeFiles mounting
// `root` onto the disk, ProcessFiles as the descriptor table) and the random
// streams. The POSIX definitions in posix_*.cpp ask `enter()` for the state
// active on the calling thread; it returns null when there is none or when
// the call comes from inside the simulator itself (the reentrancy guard), in
// which case the call goes to the real libc.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "marionette/world.hpp"
#include "sim/buggify.hpp"
#include "sim/disk/disk.hpp"
#include "sim/disk/store.hpp"
#include "sim/event_queue.hpp"
#include "sim/net/network.hpp"
#include "sim/random.hpp"
#include "sim/trace.hpp"
#include "sim/vfs/vfs.hpp"

namespace marionette::detail {

/// An open directory stream (opendir) on a simulated directory: the DIR*
/// handed to the application points at one of these.
struct SimDir {
    int fd = -1;
    std::vector<std::byte> buffer = std::vector<std::byte>(32 * 1024);
    std::size_t position = 0;  ///< next record in buffer
    std::size_t end = 0;       ///< bytes of records in buffer
};

/// How the simulation sees a descriptor number.
enum class FdKind { real, simulated, socket, stale };

/// A simulated socket descriptor. The network socket is created lazily, at
/// bind/connect/listen/sendto, because the address decides its node.
struct SimSocket {
    SocketId id = 0;  ///< 0 until created in the network
    SocketType type = SocketType::datagram;
    bool nonblocking = false;
    Ns receive_timeout_ns = 0;  ///< SO_RCVTIMEO; 0 = none
    Ns send_timeout_ns = 0;     ///< SO_SNDTIMEO; 0 = none
};

class SimState final : public Backend {
public:
    SimState(std::uint64_t seed, const WorldOptions& world, SimulationOptions options);
    ~SimState();
    SimState(const SimState&) = delete;
    SimState& operator=(const SimState&) = delete;

    // --- Backend -------------------------------------------------------------
    bool simulated() const override { return true; }
    std::uint64_t seed() const override { return seed_; }
    const std::string& root() const override { return root_; }
    bool buggify(std::string_view hook, Rate rate) override;
    Ns now_ns() override { return queue_.now_ns(); }
    std::uint64_t random_u64() override;
    void record(std::string_view name, std::vector<TraceField> fields) override;
    CrashReport disk_crash() override;
    void disk_restart() override;
    void disk_corrupt_sector(std::string_view path, std::uint64_t offset) override;
    void disk_set_bad_sector(std::string_view path, std::uint64_t offset) override;
    void disk_set_faults(const DiskFaults& faults) override;
    DiskFaults disk_faults() const override { return disk_.options().faults; }
    bool disk_crashed() const override { return disk_.crashed(); }
    void run_for(Ns duration_ns) override;
    std::string node_address(NodeId node) const override;
    void net_partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) override;
    void net_heal() override;
    NetOptions net_options() const override;
    void net_set_options(const NetOptions& options, std::string_view what) override;
    void net_clog(NodeId from, NodeId to, Ns duration_ns) override;
    void net_set_node(NodeId node, bool up) override;

    // --- sockets -------------------------------------------------------------
    /// The simulated network, or null when the simulation has none.
    Network* network() { return network_.get(); }
    NodeId default_node() const { return options_.network.default_node; }
    /// The socket behind a simulated descriptor, or null.
    SimSocket* socket(int fd);
    /// Reserves a descriptor for a new socket; -errno on failure.
    int add_socket(SimSocket socket, bool cloexec);
    /// Runs events until `ready()` holds, `timeout_ns` (0 = none) of
    /// virtual time passes, or nothing is left to happen (which, with every
    /// node on this one thread, means it never will). True if ready.
    bool wait_until(const std::function<bool()>& ready, Ns timeout_ns);

    // --- directory streams ------------------------------------------------------
    /// The stream behind a DIR* we handed out, or null.
    SimDir* dir(const void* handle);
    /// A new stream over the simulated directory descriptor `fd` (owned).
    SimDir* add_dir(int fd);
    /// Forgets the stream (the caller closes its descriptor).
    void remove_dir(const void* handle);

    // --- for the POSIX layer ----------------------------------------------------
    Trace& trace() { return trace_; }
    const Trace& trace() const { return trace_; }
    ProcessFiles& files() { return files_; }
    FdKind kind(int fd) const;
    /// Reserves a real descriptor number >= max(minimum, fd_base) (a
    /// close-on-exec /dev/null); -errno on failure.
    int reserve_fd(int minimum = 0);
    /// Binds a reserved number to an open file.
    void install(int fd, std::shared_ptr<OpenFile> file, bool cloexec) { files_.install(fd, std::move(file), cloexec); }
    /// close(2) of a simulated or stale descriptor: forgets it and releases
    /// the reserved number.
    long close_fd(int fd);
    /// Drops the binding of `fd` (simulated or stale) without closing the
    /// real number: a real dup2 is about to replace it.
    void forget(int fd);
    /// Records `fd` as a placeholder we own (a real dup2 made it /dev/null).
    void adopt(int fd) { reserved_.insert(fd); }
    /// Charges one intercepted call's cost (before it runs, so a clock read
    /// sees it, as the preload shim's do).
    void charge_call() { advance(options_.call_cost_ns); }
    /// Charges the disk latency the call accumulated (after it ran).
    void charge_latency() { advance(files_.take_latency_ns()); }
    /// Advances virtual time by `duration_ns`, running due events.
    void advance(Ns duration_ns);
    /// CLOCK_MONOTONIC and friends: a fixed uptime plus elapsed time.
    Ns monotonic_ns() const { return monotonic_start_ns_ + (queue_.now_ns() - start_ns_); }
    Ns elapsed_ns() const { return queue_.now_ns() - start_ns_; }
    /// The getrandom stream.
    Prng& random_stream() { return getrandom_prng_; }
    /// Routes a host path (relative ones against the cwd).
    Route route(std::string_view path) const { return files_.route(files_.cwd(), path); }
    /// The disk path of a host path under the mount; throws
    /// std::invalid_argument if the path is not simulated.
    std::string disk_path_of(std::string_view path) const;

private:
    std::uint64_t seed_;
    SimulationOptions options_;
    std::string root_;
    Ns start_ns_;
    Ns monotonic_start_ns_;
    EventQueue queue_;
    Trace trace_;
    Prng root_prng_;
    MemStore store_;
    Disk disk_;
    NodeFiles node_;
    ProcessFiles files_;
    Buggify buggify_;
    Prng env_prng_;
    Prng getrandom_prng_;
    std::set<int> reserved_;  ///< real placeholder descriptors we own
    std::set<int> stale_;     ///< simulated descriptors that died in a crash
    std::unique_ptr<Network> network_;
    std::map<int, SimSocket> sockets_;
    std::map<const void*, std::unique_ptr<SimDir>> dirs_;
};

/// The state active on this thread for an intercepted call, or null (no
/// simulation, or the call comes from inside the simulator).
SimState* enter();

/// Makes `state` the thread's active simulation; returns the previous one.
SimState* activate(SimState* state);

/// Marks the thread as inside the simulator while alive, so calls the
/// simulator itself makes (allocation aside, it makes none today) go to the
/// real libc.
class InsideSim {
public:
    InsideSim();
    ~InsideSim();
    InsideSim(const InsideSim&) = delete;
    InsideSim& operator=(const InsideSim&) = delete;

private:
    bool previous_;
};

}  // namespace marionette::detail
