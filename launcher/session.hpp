// A session: programs launched onto one or more simulated nodes and run
// under one scheduler (coordinator/scheduler.hpp) until they are done, a
// virtual time limit pauses them, a node loses power, or they deadlock.
//
// The launcher's one-shot runs, the control language's `run <duration>`,
// `kill` and `restart`, and cluster runs all drive this. The session spawns
// each program with the preload library and its configuration in the
// environment, forwards and hashes its stdout/stderr, and ends processes
// only by the pids it knows (the ones it started and their descendants).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.hpp"
#include "launcher/program_run.hpp"

namespace marionette {

class Session {
public:
    /// Why run() returned.
    enum class Stop {
        idle,          ///< every process has ended
        time_limit,    ///< the virtual time limit was reached
        crashed,       ///< a node reached its crash point (crashed_node())
        deadlock,      ///< every process blocked for good (deadlock())
        wall_timeout,  ///< the wall-clock guard fired; everything was killed
        finished,      ///< the launched process run() was asked to wait for ended
    };

    /// `clock` is the run's; `seed` drives the scheduler. The processes'
    /// own trace lines go to `trace` in execution order (with `pid=`, and
    /// `node=` in a cluster); `hooks.on_line` is the session's own.
    Session(EventQueue& clock, Trace& trace, std::uint64_t seed, Ns wall_timeout_ns, SchedulerHooks hooks = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Starts `options.argv` on `node` (options.coordinator is ignored);
    /// `node_name` labels its events in a cluster ("" for one node).
    /// Returns an id for result(); a program that cannot start gets a
    /// result with spawn_error at once.
    ProcessId launch(Coordinator& node, const ProgramRunOptions& options, std::string node_name = {});

    /// Runs until one of the Stop conditions; `until_ns` (absolute virtual
    /// time) pauses the node there.
    /// With `until_finished`, also returns (Stop::finished) as soon as that
    /// launched process has ended and its output is read.
    Stop run(std::optional<Ns> until_ns = std::nullopt, std::optional<ProcessId> until_finished = std::nullopt);

    /// Ends every process of `node` (SIGKILL, by pid) and waits until the
    /// scheduler has seen them go and their output pipes are drained; their
    /// results say killed. Returns how many processes were alive.
    std::size_t kill_node(Coordinator& node);
    /// Processes of `node` alive now (launched ones and their descendants).
    std::size_t alive(const Coordinator& node) const { return scheduler_.real_pids(&node).size(); }
    /// After Stop::crashed: the node whose power went.
    Coordinator* crashed_node() const { return scheduler_.crashed_node(); }
    const std::optional<std::string>& deadlock() const { return scheduler_.deadlock(); }

    /// True once the launched process `id` has ended and its output pipes
    /// are closed; then result() is final.
    bool finished(ProcessId id) const;
    const ProgramRunResult& result(ProcessId id) const;
    /// Launched processes not finished yet.
    std::size_t running() const;
    Scheduler& scheduler() { return scheduler_; }

private:
    struct Launched;
    SchedulerHooks with_line_hook(SchedulerHooks hooks);
    void pump_outputs(std::span<pollfd> fds, std::vector<Launched*>& owners);
    /// One read of pipe `which` (stdout, stderr, trace) of `l`; false when
    /// nothing more is there now (or it hit end-of-file and was closed).
    bool read_pipe(Launched& l, std::size_t which);
    void drain_outputs();
    /// At a scheduling decision: forwards what the stdout/stderr pipes
    /// hold now (one poll over a kept list of them).
    void forward_ready_outputs();
    void reap(Launched& l);
    void end_all();

    EventQueue& clock_;
    Trace& trace_;
    Ns wall_timeout_ns_;
    Scheduler scheduler_;
    std::map<ProcessId, std::unique_ptr<Launched>> launches_;
    std::map<const Coordinator*, std::string> node_names_;
    /// The open stdout/stderr pipes for forward_ready_outputs, rebuilt when
    /// a launch adds pipes or one is closed.
    std::vector<pollfd> output_fds_;
    std::vector<std::pair<Launched*, std::size_t>> output_owners_;
    bool output_fds_stale_ = true;
};

}  // namespace marionette
