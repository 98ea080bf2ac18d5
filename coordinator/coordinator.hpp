// The coordinator: the launcher-side owner of everything simulated processes
// share — the node's disk and mounts, the descriptors of simulated files, the
// global clock — serving the calls each process's shim forwards over the
// wire protocol (include/marionette/wire.hpp).
//
// It is deliberately transport-agnostic at its core: handle() takes one
// decoded message and returns the encoded reply, so unit tests drive it
// directly; serve() runs that over a socket. One process is served at a
// time. docs/processes.md explains why this state lives here and not in the
// program's own address space: a crash must be applied after every process
// of the node is gone, from state no dying process can corrupt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "marionette/wire.hpp"
#include "sim/disk/disk.hpp"
#include "sim/event_queue.hpp"
#include "sim/random.hpp"
#include "sim/rate.hpp"
#include "sim/trace.hpp"
#include "sim/vfs/vfs.hpp"

namespace marionette {

/// A host directory served from the simulated disk.
struct MountSpec {
    std::string host_prefix;                ///< absolute host path the program uses
    std::string disk_prefix;                ///< directory inside the node's disk
    std::filesystem::path import_from = {};  ///< real tree copied in at start (read-only), if set
};

struct CoordinatorOptions {
    std::uint64_t seed = 0;
    /// Virtual time at start, nanoseconds since the Unix epoch.
    Ns start_ns = 0;
    DiskOptions disk;
    std::vector<MountSpec> mounts;
    /// Where a DirStore keeps file bytes (created, owned by the run); empty
    /// keeps them in memory.
    std::filesystem::path store_dir;
    /// The run's clock when several nodes share one (a cluster); null: the
    /// node has its own, starting at start_ns.
    EventQueue* shared_clock = nullptr;
    /// Index of the node in the run (its disk's random stream).
    std::uint64_t node_index = 0;
    /// Everything outside the mounts is a copy-on-write view of the host
    /// on the node's disk (at host_view_disk_prefix), except real_paths
    /// and always_real_paths, which stay the real kernel's.
    bool host_view = false;
    std::vector<std::string> real_paths;
};

/// Where the host view lives on a node's disk: "/x" is "/host/x" there.
inline constexpr std::string_view host_view_disk_prefix = "/host";
/// Host paths that are never part of the host view: the kernel's.
inline constexpr std::string_view always_real_paths[] = {"/proc", "/dev", "/sys"};

/// The shim's MARIONETTE_MOUNTS lines for a node: the simulated prefixes,
/// then "!PREFIX" for each prefix the real kernel keeps (the longest
/// matching line decides).
std::vector<std::string> shim_mount_lines(const CoordinatorOptions& options);

/// Identifies a simulated process inside the coordinator (not a real pid).
using ProcessId = std::uint32_t;

class Coordinator {
public:
    /// Builds the node: clock, store, disk (with imports) and mounts. The
    /// trace must outlive the coordinator.
    Coordinator(CoordinatorOptions options, Trace& trace);
    ~Coordinator();
    Coordinator(const Coordinator&) = delete;
    Coordinator& operator=(const Coordinator&) = delete;

    /// Registers a process; it must say hello before anything else.
    ProcessId add_process();
    /// Registers a forked child of `parent`: it shares the parent's open
    /// file descriptions (descriptor table copied, as fork(2) does).
    ProcessId fork_process(ProcessId parent);
    /// The identity the next hello of `id` is answered with (the scheduler
    /// assigns virtual pids); without one, a hello's own pid is echoed.
    void set_identity(ProcessId id, const wire::HelloReply& identity);
    /// The process is gone (exited, killed, crashed): its descriptors close.
    void end_process(ProcessId id);
    bool has_process(ProcessId id) const { return processes_.contains(id); }

    /// Handles one message from `id` and returns the encoded reply (header,
    /// reply struct, output bytes). A malformed message gets an error reply
    /// and a `coordinator.protocol_error` trace line; it never throws for
    /// bad input.
    std::vector<std::byte> handle(ProcessId id, const wire::Header& header, std::span<const std::byte> payload);

    /// Reads one framed message from `fd`, handles it and writes the reply.
    /// Returns false when the peer closed the socket or sent an unusable
    /// frame (the process is then ended).
    bool serve_one(int fd, ProcessId id);

    /// Power loss of the node: ends every process, then applies the disk's
    /// crash model; the crash request, if any, is then done with (the
    /// scheduler goes on with other nodes). restart() brings the disk back.
    CrashReport crash();
    void restart();

    /// Arms a crash point: the node loses power at the first forwarded call
    /// served at or after virtual time `at_ns` (absolute), or right after
    /// the `count`-th trace event named `event`: counted over the whole
    /// run, or with `own_events` only those the node's processes caused
    /// (a cluster's node: see begin_caused). The call that reaches the
    /// point gets no reply: serve_one() returns false and crash_requested()
    /// turns true, and the launcher then kills the node's processes and
    /// calls crash().
    void arm_crash_at(Ns at_ns);
    void arm_crash_after(std::string event, std::uint64_t count, bool own_events = false);
    /// Brackets the handling of one message of this node's processes, so
    /// that a crash point armed with `own_events` counts the events it
    /// caused (the scheduler handles one message at a time).
    void begin_caused();
    void end_caused();
    /// Arms a random crash point: after every forwarded call the node's
    /// kernel served (not those it passed through), power goes with
    /// probability `rate`, drawn from `stream` (one draw per call).
    void arm_crash_rate(Rate rate, Prng stream);
    bool crash_requested() const { return crash_requested_; }
    /// True once an armed crash point is reached (checked after each call);
    /// request_crash() then records that power goes now.
    bool crash_point_reached() const;
    void request_crash(ProcessId id);
    /// The armed time crash point (absolute), if any.
    std::optional<Ns> crash_at_ns() const { return crash_at_ns_; }
    /// Forgets an armed crash point that was not reached.
    void disarm_crash();

    EventQueue& clock() { return clock_; }
    /// The node's trace (disk, descriptor and scheduler events).
    Trace& trace() { return trace_; }
    /// Virtual realtime at the start of the run.
    Ns start_ns() const { return options_.start_ns; }
    Disk& disk() { return *disk_; }
    NodeFiles& files() { return files_; }
    /// The files view of a process (tests).
    ProcessFiles* process_files(ProcessId id);

private:
    struct Process;
    std::vector<std::byte> reply(std::uint32_t sequence, long result, std::span<const std::byte> out,
                                 std::uint32_t flags = 0);
    std::vector<std::byte> protocol_error(ProcessId id, std::uint32_t sequence, const std::string& why);
    std::vector<std::byte> handle_hello(ProcessId id, const wire::Header& header, std::span<const std::byte> payload);
    std::vector<std::byte> handle_syscall(ProcessId id, const wire::Header& header, std::span<const std::byte> payload);

    CoordinatorOptions options_;
    Trace& trace_;
    EventQueue own_clock_;
    EventQueue& clock_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<Disk> disk_;
    NodeFiles files_;
    std::map<ProcessId, std::unique_ptr<Process>> processes_;
    ProcessId next_id_ = 1;
    bool crash_requested_ = false;
    std::optional<Ns> crash_at_ns_;
    std::string crash_event_;
    std::uint64_t crash_event_count_ = 0;
    bool crash_event_own_ = false;         ///< count only the events this node caused
    std::uint64_t crash_event_caused_ = 0;  ///< of them, in messages handled so far
    std::uint64_t crash_event_mark_ = 0;    ///< the run's count when the current message began
    std::optional<Rate> crash_rate_;
    Prng crash_rate_stream_{0};
    bool crash_rate_fired_ = false;
};

}  // namespace marionette
