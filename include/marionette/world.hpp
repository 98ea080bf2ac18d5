// The embedded API: a simulated world inside a test binary.
//
// A test links `marionette::marionette` (libmarionette_embed) and builds a
// World from a seed. `world.simulate({...})` creates the simulated machine
// (virtual clock, seeded randomness, a disk mounted at a host path) and makes
// it active on the calling thread: from then on, plain POSIX calls made by
// any code on that thread — open/pwrite/fsync on paths under `env.root()`,
// clock_gettime, getrandom, nanosleep — are served by the simulator, through
// libmarionette_embed's definitions of those libc symbols. Everything else
// (other paths, other descriptors, other threads, or no active simulation)
// goes to the real libc. The scenario injects faults through Control
// (crash, restart, corrupt_sector, set_faults, run_for).
//
// Env and Control are the two surfaces of the Zig library: application code
// sees Env (root directory, Recorder, buggify, clock); tests drive Control.
// Production gives the same Env over the real OS (a fresh temp directory,
// real clock), so one harness runs both ways; its Control refuses every
// fault with Unavailable. docs/embedded-api.md is the guide.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "marionette/recorder.hpp"
#include "sim/disk/disk.hpp"
#include "sim/net/address.hpp"
#include "sim/net/options.hpp"
#include "sim/rate.hpp"
#include "sim/time.hpp"
#include "sim/trace.hpp"

namespace marionette {

/// A fault or simulator operation asked of Production (the real OS).
class Unavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Options of a World.
struct WorldOptions {
    /// CLOCK_REALTIME when the world starts, ns since the Unix epoch
    /// (default 2026-01-01T00:00:00Z, as the launcher's).
    Ns start_time_ns = 1'767'225'600ULL * ns_per_s;
};

/// The simulated network of a World: in-process nodes on one thread.
struct NetworkOptions {
    /// Number of nodes; 0 = no simulated network (sockets stay real). Node n
    /// owns 10.0.0.(n+1) (Env::node_address), plus 127/8 meaning itself.
    std::uint32_t nodes = 0;
    /// Latency, loss, duplication, clogs, partition dynamics, TCP model.
    NetOptions options{};
    /// The node a socket belongs to when it is used before being bound to
    /// a node's address (connect or sendto first).
    NodeId default_node = 0;
};

/// What `World::simulate` builds.
struct SimulationOptions {
    /// The disk under `root` (sector size, latency, faults, capacity).
    DiskOptions disk{};
    /// The network (none by default).
    NetworkOptions network{};
    /// Host path prefix the simulated disk serves; files the harness keeps
    /// under it never touch the real file system.
    std::string root = "/marionette";
    /// Virtual time each intercepted call costs, so a loop polling the
    /// clock always makes progress.
    Ns call_cost_ns = 1000;
    /// Simulated descriptors are numbered from here up (real descriptors
    /// reserved with F_DUPFD), so their numbers - which appear in the trace -
    /// do not depend on what else the test process has open.
    int fd_base = 512;
};

namespace detail {

/// The operations behind Env and Control; implemented by the simulation
/// (embed/sim_state.hpp) and by Production.
class Backend : public RecordSink {
public:
    virtual bool simulated() const = 0;
    virtual std::uint64_t seed() const = 0;
    virtual const std::string& root() const = 0;
    virtual bool buggify(std::string_view hook, Rate rate) = 0;
    virtual Ns now_ns() = 0;
    virtual std::uint64_t random_u64() = 0;
    virtual CrashReport disk_crash() = 0;
    virtual void disk_restart() = 0;
    virtual void disk_corrupt_sector(std::string_view path, std::uint64_t offset) = 0;
    virtual void disk_set_bad_sector(std::string_view path, std::uint64_t offset) = 0;
    virtual void disk_set_faults(const DiskFaults& faults) = 0;
    virtual DiskFaults disk_faults() const = 0;
    virtual bool disk_crashed() const = 0;
    virtual void run_for(Ns duration_ns) = 0;
    virtual std::string node_address(NodeId node) const = 0;
    virtual void net_partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) = 0;
    virtual void net_heal() = 0;
    virtual NetOptions net_options() const = 0;
    virtual void net_set_options(const NetOptions& options, std::string_view what) = 0;
    virtual void net_clog(NodeId from, NodeId to, Ns duration_ns) = 0;
    virtual void net_set_node(NodeId node, bool up) = 0;

protected:
    ~Backend() = default;
};

class SimState;

}  // namespace detail

/// What application code sees: where its files live, its recorder, BUGGIFY
/// and the clock. A cheap copyable handle, valid while its World or
/// Production lives.
class Env {
public:
    explicit Env(detail::Backend& backend) : backend_(&backend) {}

    /// The directory the harness keeps its files in (`/marionette` in a
    /// simulation, a fresh temp directory under Production).
    const std::string& root() const { return backend_->root(); }
    /// `root() + "/" + name`.
    std::string path(std::string_view name) const;
    /// The recorder for application events.
    Recorder recorder() const { return Recorder(backend_); }
    /// BUGGIFY: decides `hook` from the seed and traces it; always false
    /// under Production.
    bool buggify(std::string_view hook, Rate rate) const { return backend_->buggify(hook, rate); }
    /// CLOCK_REALTIME in ns (virtual in a simulation).
    Ns now_ns() const { return backend_->now_ns(); }
    /// 64 random bits: seeded and traced (`world.random_u64`) in a
    /// simulation, from the OS under Production.
    std::uint64_t random_u64() const { return backend_->random_u64(); }
    bool simulated() const { return backend_->simulated(); }
    std::uint64_t seed() const { return backend_->seed(); }
    /// The address node `node` binds to: 10.0.0.(node+1) in a simulation,
    /// 127.0.0.(node+1) under Production (distinct real loopback
    /// addresses, so the same harness runs on both).
    std::string node_address(NodeId node) const { return backend_->node_address(node); }

private:
    detail::Backend* backend_;
};

/// Fault injection on the simulated disk (all of it throws Unavailable
/// under Production). Paths are host paths, as the application names them.
class SimDiskControl {
public:
    explicit SimDiskControl(detail::Backend& backend) : backend_(&backend) {}

    /// Power loss. The descriptors the application holds on simulated files
    /// die with it (every later call on them fails with EIO; close() them),
    /// unsynced changes are kept, lost or torn by the fault rates, and every
    /// file operation fails with EIO until restart().
    CrashReport crash() const { return backend_->disk_crash(); }
    /// Power back on: the files are what the crash left.
    void restart() const { backend_->disk_restart(); }
    /// Overwrites the sector holding `offset` of the file at `path` with
    /// seeded garbage (sticky: survives crashes). Throws
    /// std::system_error with the errno if the file cannot be found.
    void corrupt_sector(std::string_view path, std::uint64_t offset) const {
        backend_->disk_corrupt_sector(path, offset);
    }
    /// Makes the sector holding `offset` fail reads with EIO until rewritten.
    void set_bad_sector(std::string_view path, std::uint64_t offset) const {
        backend_->disk_set_bad_sector(path, offset);
    }
    /// Replaces the disk's fault rates.
    void set_faults(const DiskFaults& faults) const { backend_->disk_set_faults(faults); }
    DiskFaults faults() const { return backend_->disk_faults(); }
    bool crashed() const { return backend_->disk_crashed(); }

private:
    detail::Backend* backend_;
};

/// Packet loss and duplication (the rest of NetOptions is kept).
struct Lossiness {
    Rate drop_rate = Rate::never();
    Rate duplicate_rate = Rate::never();
};

/// One-way latency between nodes: min + uniform [0, jitter].
struct Latency {
    Ns latency_ns_min = 0;
    Ns latency_ns_jitter = 0;
};

/// Fault injection on the simulated network (throws Unavailable under
/// Production, std::logic_error without a simulated network).
class SimNetworkControl {
public:
    explicit SimNetworkControl(detail::Backend& backend) : backend_(&backend) {}

    /// Cuts every link between `a` and `b`, both ways (replaces an earlier
    /// partition).
    void partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) const { backend_->net_partition(a, b); }
    /// Removes partitions and link cuts.
    void heal() const { backend_->net_heal(); }
    void set_lossiness(const Lossiness& lossiness) const;
    void set_latency(const Latency& latency) const;
    /// Holds packets from -> to for `duration_ns` (none dropped).
    void clog(NodeId from, NodeId to, Ns duration_ns) const { backend_->net_clog(from, to, duration_ns); }
    /// Takes a node off the network (its packets dropped) or back on.
    void set_node(NodeId node, bool up) const { backend_->net_set_node(node, up); }
    /// Every option at once.
    void set_options(const NetOptions& options) const { backend_->net_set_options(options, "net.set_options"); }
    NetOptions options() const { return backend_->net_options(); }

private:
    detail::Backend* backend_;
};

/// What tests drive: faults and the passage of time.
class Control {
public:
    explicit Control(detail::Backend& backend) : backend_(&backend) {}

    SimDiskControl disk() const { return SimDiskControl(*backend_); }
    SimNetworkControl network() const { return SimNetworkControl(*backend_); }
    /// Advances virtual time by `duration_ns`, running every event due.
    void run_for(Ns duration_ns) const { backend_->run_for(duration_ns); }
    /// False under Production (every control call then throws Unavailable).
    bool available() const { return backend_->simulated(); }

private:
    detail::Backend* backend_;
};

/// The environment and the control handle of a simulation.
class Simulation {
public:
    explicit Simulation(detail::Backend& backend) : backend_(&backend) {}
    Env env() const { return Env(*backend_); }
    Control control() const { return Control(*backend_); }

private:
    detail::Backend* backend_;
};

/// One deterministic run: a seed, a start time and (after simulate) the
/// simulated machine. Not copyable or movable: interception refers to it.
class World {
public:
    explicit World(std::uint64_t seed, WorldOptions options = {});
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    /// Builds the simulated machine and activates it on the calling thread
    /// until the World is destroyed. Once per World (std::logic_error on a
    /// second call).
    Simulation simulate(SimulationOptions options = {});

    std::uint64_t seed() const { return seed_; }
    /// The trace so far (empty before simulate()).
    const Trace& trace() const;
    /// True once simulate() was called.
    bool simulated() const { return state_ != nullptr; }
    /// Records into the trace (world-level events such as check results);
    /// records nothing before simulate().
    Recorder recorder() const;

private:
    std::uint64_t seed_;
    WorldOptions options_;
    std::unique_ptr<detail::SimState> state_;
    Trace empty_trace_;
};

/// Options of Production.
struct ProductionOptions {
    /// Directory to use as root(); empty: a fresh directory under $TMPDIR
    /// (or /tmp), removed with everything in it when Production ends.
    std::string root_dir;
};

/// The same Env over the real OS, for parity tests: real files, real clock,
/// OS randomness, BUGGIFY off. Application events go to trace(). Control
/// calls throw Unavailable ("... is unavailable in production").
class Production final : private detail::Backend {
public:
    explicit Production(ProductionOptions options = {});
    ~Production();
    Production(const Production&) = delete;
    Production& operator=(const Production&) = delete;

    Env env() { return Env(*this); }
    Control control() { return Control(*this); }
    /// Application events recorded so far (at_ns is always 0: production
    /// traces are for comparing event sequences, not times).
    const Trace& trace() const { return trace_; }

private:
    bool simulated() const override { return false; }
    std::uint64_t seed() const override { return 0; }
    const std::string& root() const override { return root_; }
    bool buggify(std::string_view, Rate) override { return false; }
    Ns now_ns() override;
    std::uint64_t random_u64() override;
    void record(std::string_view name, std::vector<TraceField> fields) override;
    CrashReport disk_crash() override;
    void disk_restart() override;
    void disk_corrupt_sector(std::string_view path, std::uint64_t offset) override;
    void disk_set_bad_sector(std::string_view path, std::uint64_t offset) override;
    void disk_set_faults(const DiskFaults& faults) override;
    DiskFaults disk_faults() const override;
    bool disk_crashed() const override { return false; }
    void run_for(Ns duration_ns) override;
    std::string node_address(NodeId node) const override;
    void net_partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) override;
    void net_heal() override;
    NetOptions net_options() const override;
    void net_set_options(const NetOptions& options, std::string_view what) override;
    void net_clog(NodeId from, NodeId to, Ns duration_ns) override;
    void net_set_node(NodeId node, bool up) override;

    std::string root_;
    bool owns_root_ = false;
    Trace trace_;
};

}  // namespace marionette
