// One simulated node of a launcher run: its coordinator (disk, mounts,
// descriptors, clock) and the record of the node's own trace events, plus the
// step every user of it needs — run one process on the node and collect the
// node events that process caused.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/coordinator.hpp"
#include "launcher/program_run.hpp"

namespace marionette {

/// The TMPDIR every process of a node gets: a host path that exists only on
/// the node's simulated disk (its /tmp). One name for every run, so programs
/// print the same in every run; never created on the real file system, so
/// runs at the same time share nothing there (docs/processes.md).
inline constexpr std::string_view simulated_tmpdir = "/tmp/marionette-node-tmp";

/// A --disk directory as a mount: DIR at its own path, /data on the disk,
/// its contents copied onto the disk when the node is made (DIR itself is
/// never written).
MountSpec data_mount(const std::string& dir);

class SimulatedNode {
public:
    /// The node for `options` (--disk DIR mounted at /data, TMPDIR at /tmp,
    /// disk model options applied). `start_ns`: virtual realtime at start.
    SimulatedNode(const RunCommandOptions& options, std::uint64_t seed, Ns start_ns);

    Coordinator& coordinator() { return *coordinator_; }
    const std::vector<std::string>& mount_prefixes() const { return prefixes_; }
    Ns start_ns() const { return start_ns_; }

    /// `run` made a process of this node: its coordinator, mounts, TMPDIR
    /// and the virtual time already elapsed.
    ProgramRunOptions on_node(ProgramRunOptions run);

    /// Runs one process on the node (connected to the coordinator) and
    /// returns its result; `node_events` holds the events the node recorded
    /// since the previous run.
    ProgramRunResult run(ProgramRunOptions run);

    /// Node events recorded since the last run() (e.g. a crash applied
    /// between runs); consumed.
    std::vector<TraceEvent> take_events();

    /// A host path as the disk names it ("" if not on a mount).
    std::string disk_path(const std::string& host_path) const;

private:
    Ns start_ns_;
    Trace trace_{TraceHeader{}, nullptr, true};
    std::unique_ptr<Coordinator> coordinator_;
    std::vector<std::string> prefixes_;
};

}  // namespace marionette
