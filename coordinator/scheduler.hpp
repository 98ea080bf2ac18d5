// The scheduler: every process of a node, one at a time.
//
// Each simulated process has its own connection to the launcher (the first
// process inherits one; forked children and spawned images connect to a
// listening socket in the abstract namespace). Exactly one process runs at a
// time — the token holder; every other is parked inside a call to the
// coordinator, waiting for its reply. The token changes hands only when the
// holder blocks (a sleep, a wait for a child, a read or poll on a descriptor
// that is not ready, a fork) or ends, and the next process is chosen by a
// seeded draw among those that can run. Decisions are taken only when the
// node is quiescent — no process is being born or dying behind our back —
// so the interleaving is a function of the seed, and the real kernel's
// state (pipe contents, zombies) is the same at every decision in every run
// with that seed. docs/processes.md explains the model and its limits.
//
// Virtual time moves only here: when nobody can run, the clock jumps to the
// earliest deadline of a sleeping process. Nobody able to run, no deadline
// and nothing outside the node that could wake anyone is a deadlock: the
// scheduler reports what each process waits for.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coordinator/channel_host.hpp"
#include "coordinator/coordinator.hpp"
#include "coordinator/transport_stats.hpp"
#include "coordinator/tsc_sites.hpp"
#include "marionette/wire.hpp"
#include "sim/random.hpp"

namespace marionette {

/// What a network call returned (SchedulerHooks::on_net).
struct NetResponse {
    long result = -EAFNOSUPPORT;
    wire::NetAnswer answer;
    int fd = -1;  ///< a descriptor for the caller (sent, then closed here)
};

struct SchedulerHooks {
    /// A socket call of a process of `node` (cluster runs); without this
    /// hook every network call fails with EAFNOSUPPORT.
    std::function<NetResponse(Coordinator& node, const wire::NetRequest& request)> on_net;
    /// A trace line a process of `node` sent (`name at_ns=... k=v ...`),
    /// with its virtual pid, in the order the processes ran.
    std::function<void(Coordinator& node, std::int32_t pid, std::string_view line)> on_line;
    /// Called at every scheduling decision (the network pumps here).
    std::function<void()> on_decision;
    /// Earliest time something outside the processes is due (network).
    std::function<std::optional<Ns>()> next_event_ns;
};

class Scheduler {
public:
    /// `clock` is the run's (every node's coordinator shares it); `seed`
    /// drives the choice among runnable processes.
    Scheduler(EventQueue& clock, Trace& trace, std::uint64_t seed, SchedulerHooks hooks = {});
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// Name of the listening socket (abstract namespace, without the
    /// leading NUL) for MARIONETTE_COORDINATOR_ADDRESS.
    const std::string& address() const { return address_; }

    /// Registers a process the launcher is about to start on `node`. The
    /// descriptor is the process's end of its connection (the caller gives it
    /// to the child and closes it after the fork).
    struct Launch {
        ProcessId id = 0;
        int child_fd = -1;
    };
    Launch prepare_launch(Coordinator& node, std::string name);
    /// The launched process's real pid (after fork).
    void launched(ProcessId id, pid_t real_pid);
    /// True once that launched process has ended (its descendants may not).
    bool ended(ProcessId id) const { return !processes_.contains(id); }

    /// Waits up to `timeout_ms` of wall time for messages and handles them;
    /// `extra` descriptors are polled along (their revents are filled).
    void poll_once(std::span<pollfd> extra, int timeout_ms);

    /// Every process has ended.
    bool done() const { return processes_.empty(); }
    /// Real pids of the processes still alive (to end them by pid); only
    /// those of `node` if given.
    std::vector<pid_t> real_pids(const Coordinator* node = nullptr) const;
    /// A node reached its crash point: nothing more is scheduled until the
    /// launcher has applied it (then resume()).
    Coordinator* crashed_node() const;
    bool crash_requested() const { return crashed_node() != nullptr; }

    /// Pauses once virtual time reaches `at_ns` (absolute) at a scheduling
    /// point; nullopt: no limit.
    void set_time_limit(std::optional<Ns> at_ns) { time_limit_ns_ = at_ns; paused_ = false; }
    /// Pauses as soon as process `id` has ended (nobody else is resumed
    /// after it), so the caller acts at a deterministic point.
    void pause_when_ended(std::optional<ProcessId> id) { pause_on_end_ = id; }
    bool paused() const { return paused_; }
    /// Takes scheduling decisions again (after a pause, a crash handled, a
    /// kill): call after changing what the scheduler waits for.
    void resume() { stopped_ = false; schedule(); }
    /// Set when every process is blocked for good; the text names what each
    /// one waits for.
    const std::optional<std::string>& deadlock() const { return deadlock_; }
    /// Stops scheduling (the launcher is about to kill processes).
    void stop() { stopped_ = true; }
    /// Forgets a deadlock once the launcher has ended what was stuck.
    void clear_deadlock() { deadlock_.reset(); }
    /// True if no launched process is alive (only their descendants, if any).
    bool launched_all_ended() const;
    /// How messages travelled so far (complete once every process ended).
    const TransportStats& transport_stats() const { return transport_; }

private:
    enum class State { expected, ready, running, blocked, exiting };
    /// A futex as the scheduler matches it: a private one by its process
    /// and address (`offset`), a shared one (process 0) by the mapped
    /// object's device and inode and its offset in it (wire::FutexKey).
    struct FutexKey {
        ProcessId process = 0;
        std::uint64_t device = 0;
        std::uint64_t inode = 0;
        std::uint64_t offset = 0;
        bool operator==(const FutexKey&) const = default;
    };
    struct Wait {
        Ns deadline_ns = 0;
        std::int64_t child = 0;
        std::vector<int> fds;
        std::vector<short> events;
        wire::BlockWhat what = wire::BlockWhat::yield;
        /// A futex wait (what == futex): its keys (several for
        /// futex_waitv), its bitset, whether it waits for a PI lock to be
        /// handed over, whether a wake chose it and the reply it then gets.
        std::vector<FutexKey> futex_keys;
        std::uint32_t futex_bitset = 0;
        bool futex_pi = false;
        bool futex_woken = false;
        long futex_result = wire::woke_ready;
    };
    /// A scheduled entity: a process (its main thread) or another thread
    /// of one (`leader` != 0). A thread has no connection, pidfd or
    /// children of its own: those are its process's (process_of).
    struct Proc {
        Coordinator* node = nullptr;
        ProcessId id = 0;     ///< the scheduler's (unique across nodes)
        ProcessId leader = 0;   ///< a thread's process; 0: this is a process
        std::int32_t tid = 0;   ///< a thread's virtual tid (0 for a process)
        pid_t real_tid = 0;     ///< a thread's real tid
        /// The main thread left (pthread_exit) while other threads run:
        /// the process lives on, this entity never runs again.
        bool thread_ended = false;
        ProcessId local = 0;  ///< the node's coordinator's
        bool launched = false;
        std::int32_t pid = 0;   ///< virtual
        std::int32_t ppid = 0;  ///< virtual
        ProcessId parent = 0;
        pid_t real_pid = 0;
        int conn = -1;
        /// Its shared-memory channel, once it sent one (wire::Kind::channel).
        std::unique_ptr<ChannelHost> channel;
        int pidfd = -1;
        State state = State::expected;
        Wait wait;
        std::vector<std::byte> deferred;  ///< reply sent when resumed
        bool connection_closed = false;
        /// The process whose SIGKILL ended this one and waits, its reply
        /// in its `deferred`, until this one is gone (on_signal); 0: none.
        ProcessId killed_by = 0;
        /// Found dead while another process ran: its end is recorded by
        /// finish_deferred_deaths, not when the kernel let us see it.
        bool death_seen = false;
        bool interrupted = false;  ///< a signal arrived while blocked
        bool fds_ready = false;    ///< one of its descriptors is ready (poll_waits)
        Ns alarm_at = 0;           ///< alarm/ITIMER_REAL expiry (absolute), 0 none
        Ns alarm_interval = 0;
        std::string name;
    };
    struct Exited {
        Coordinator* node = nullptr;
        ProcessId parent = 0;
        std::int32_t pid = 0;
        pid_t real_pid = 0;
    };
    struct Unbound {
        int conn = -1;
        wire::Header header;
        std::vector<std::byte> payload;
        pid_t real_pid = 0;
        pid_t real_ppid = 0;
    };

    void accept_connections();
    /// Reads and handles one message on `conn`; false when it closed.
    bool serve(int conn);
    void handle(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    void dispatch(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    // One per message kind (scheduler_messages.cpp); false: malformed.
    bool on_hello(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_syscall(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_block(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_forked(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_pid(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_signal(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_net(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    bool on_timer(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    /// Which rdtsc candidates of an executable mapping are instructions
    /// (scheduler_code.cpp, coordinator/tsc_sites.hpp).
    bool on_code(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    /// A thread starts, arrives or ends (scheduler_threads.cpp).
    bool on_thread(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    /// futex on the virtual clock (scheduler_threads.cpp).
    bool on_futex(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    /// The key `p` names with `key`.
    FutexKey futex_key(Proc& p, const wire::FutexKey& key);
    /// Wakes up to `count` futex waiters on `key` whose bitset meets
    /// `bitset` (PI waiters only if `pi`), in a seeded order; returns how
    /// many. `handed`: the real tid of the first one woken.
    std::uint32_t futex_wake(const FutexKey& key, std::uint32_t count, std::uint32_t bitset, bool pi = false,
                             pid_t* handed = nullptr);
    /// A process ended: the kernel marked the robust mutexes it held
    /// FUTEX_OWNER_DIED and woke their waiters, which wait here instead, so
    /// every waiter on a shared futex wakes (a futex wait may wake
    /// spuriously; glibc looks at the word again).
    void wake_shared_futex_waiters();
    /// Some thread still waits for the PI lock `key` to be handed over.
    bool any_pi_waiter(const FutexKey& key) const;
    /// Signal `signal` reached `process` (a process, not a thread): its main
    /// thread, if blocked, wakes with EINTR unless the signal does nothing
    /// by default, and so does every thread of it parked waiting for a
    /// signal (pause, sigsuspend, sigtimedwait).
    void interrupt(Proc& process, long signal);
    /// A thread is gone: its joiners (waiting on `clear_tid`) wake, it is
    /// forgotten.
    void finish_thread(Proc& thread, std::uint64_t clear_tid);
    /// The process a scheduled entity belongs to (itself for a process).
    Proc& process_of(Proc& p);
    /// Serves every channel of `process` and its threads (a doorbell).
    void serve_process_channels(Proc& process);
    /// The process's channel region (scheduler_channel.cpp).
    bool on_channel(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds);
    /// Handles the request waiting in `p`'s channel, if any; true if one was.
    bool serve_channel(Proc& p);
    /// Serves the running process's channel while requests keep coming
    /// (spinning briefly between them); true if any was served.
    bool serve_channels_spinning();
    /// Before sleeping in poll(2): tells every channel to ring the doorbell;
    /// false (nothing told) if a request is already waiting.
    bool prepare_to_sleep();
    void woke_up();
    /// Adds the call counts of `p`'s current image to transport_.
    void harvest_call_counts(Proc& p);
    /// A process broke its channel's rules: it is killed and the run fails.
    [[noreturn]] void channel_failure(Proc& p, const ChannelError& error);
    void handle_unbound_hello(int conn, const wire::Header& header, std::vector<std::byte> payload);
    void bind(Proc& child, Unbound unbound);
    void connection_closed(Proc& p);
    void finish_exit(Proc& p);
    /// True if `p`'s end, found now, must wait until the running process
    /// reports the kill or stops running (see scheduler.cpp).
    bool defers_death(Proc& p);
    /// Records the ends found while another process ran, in id order.
    void finish_deferred_deaths();
    void adopt_unknown_children(Proc& p);
    /// A new child of `parent` with real pid `real_child` (traced as `event`),
    /// bound to its hello if that came first.
    Proc& add_child(Proc& parent, pid_t real_child, std::string_view event);
    void schedule();
    bool can_run(Proc& p);
    void poll_waits();
    void handle_timer(Proc& p, const wire::Header& header, const wire::TimerRequest& request, std::vector<int>& fds);
    /// Fires alarms and timerfds that are due; returns the next deadline.
    std::optional<Ns> fire_timers();
    /// A reply whose output is `out` (the time fields are set when sent).
    std::vector<std::byte> reply_with_output(std::uint32_t sequence, long result, std::span<const std::byte> out);
    void resume(Proc& p, long result);
    void send(Proc& p, std::vector<std::byte> bytes);
    /// Sets a reply's horizon (the next event) as it leaves.
    void stamp_horizon(std::vector<std::byte>& bytes);
    /// The next event's time (see wire::SyscallReply::horizon_ns).
    std::uint64_t horizon();
    void send_with_fd(Proc& p, std::vector<std::byte> bytes, int fd);
    void report_deadlock();
    Proc* by_conn(int conn);
    Proc* by_real(pid_t real_pid);
    Proc* by_pid(const Coordinator* node, std::int32_t pid);
    Proc* running();
    std::int32_t next_pid();
    std::vector<std::byte> reply_bytes(std::uint32_t sequence, long result);

    EventQueue& clock_;
    Trace& trace_;
    SchedulerHooks hooks_;
    Prng choice_;
    std::string address_;
    int listener_ = -1;
    std::map<ProcessId, std::unique_ptr<Proc>> processes_;
    std::vector<Exited> exited_;
    struct Timer {
        int fd = -1;  ///< our duplicate of the timer's eventfd
        Ns deadline = 0;
        Ns interval = 0;
    };
    /// By node and the shim's id (virtual pid and counter).
    std::map<std::pair<const Coordinator*, std::uint64_t>, Timer> timers_;
    std::vector<Unbound> unbound_;
    std::vector<int> anonymous_;  ///< accepted, no hello yet
    std::int32_t last_pid_ = 0;
    ProcessId next_id_ = 1;
    ProcessId last_runner_ = 0;  ///< the process that ran last (children to adopt)
    std::uint64_t forks_ = 0;
    std::vector<Coordinator*> nodes_;
    TscSiteCache tsc_sites_;
    TransportStats transport_;
    wire::SpinPolicy channel_spin_;
    std::optional<Ns> time_limit_ns_;
    std::optional<ProcessId> pause_on_end_;
    bool paused_ = false;
    bool stopped_ = false;
    std::optional<std::string> deadlock_;
    /// The process whose request is being served from its socket (its
    /// reply goes back there, even if its channel awaits a reply: a thread
    /// of it may be parked).
    const Proc* socket_requester_ = nullptr;
    /// Virtual time a process or thread runs without blocking before it
    /// yields, if another one could run (see horizon()).
    static constexpr Ns time_slice_ns = 1'000'000;
    Ns slice_end_ns_ = 0;
    Ns last_decision_ns_ = 0;  ///< virtual time at the last decision (never goes back)
    ProcessId running_hint_ = 0;   ///< running()'s last answer
    ProcessId told_to_ring_ = 0;   ///< whose channel prepare_to_sleep told
};

}  // namespace marionette
