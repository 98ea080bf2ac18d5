// The shim's connection to the coordinator and its place in the scheduler
// (docs/processes.md, "Processes and the scheduler").
//
// Every simulated process has its own connection, always at descriptor
// `connection_fd` (close-on-exec except across our own execve, protected from
// the program's close/dup2): the first process inherits it from the
// launcher, a forked child opens a fresh one to the coordinator's listening
// socket in its atfork handler, a spawned image (posix_spawn, vfork+exec)
// opens one in its constructor. The process runs only while the scheduler
// lets it: a hello, a block or a fork report returns when it is this
// process's turn again.
#pragma once

#include <cstdint>
#include <string_view>

#include "marionette/wire.hpp"

namespace marionette::shim {

/// The descriptor number of the connection in every simulated process.
inline constexpr int connection_fd = wire::connection_fd;

/// Connects (or takes the inherited connection) and says hello; sets the
/// kernel's identity and clock. Runs inside the shim's initialisation.
void process_init();
/// The coordinator is gone: warns and exits with status 3.
[[noreturn]] void lost_coordinator();
/// True if this process is scheduled by a coordinator.
bool coordinated();
/// The connection, or -1; used by files.cpp to forward calls.
int connection();
/// Before execve: lets the connection survive into the new image (only
/// the process it speaks for); false if there is nothing to keep.
bool keep_connection_across_exec();
/// The execve failed: the connection is close-on-exec again.
void exec_failed();
/// Next message sequence number.
std::uint32_t next_sequence();
/// True if `fd` is the connection (the program cannot close it or dup2 onto it).
bool shim_descriptor(long fd);

/// Sends a trace line to the coordinator (dropped without one).
bool send_trace_line(std::string_view line);

/// Parks the process until the scheduler resumes it; the caller holds an
/// Enter. Descriptors in `fds` are sent along (the scheduler polls them).
/// Returns the wake reason (wire::woke_*) or -EINTR; the clock has caught up.
long block(wire::BlockWhat what, std::uint64_t deadline_ns, std::int64_t child, const int* fds, const short* events,
           std::uint32_t fd_count);
/// Takes what a reply says about time: the clock catches up with the run's
/// `now_ns` (absolute realtime) and `horizon_ns` is the next event anywhere
/// in the run (0: none).
void absorb_reply_time(std::uint64_t now_ns, std::uint64_t horizon_ns);
/// Yields to the scheduler if this process's clock has passed the next
/// event (a process that computes without blocking must not starve the
/// run's timers and packets). Called after each intercepted call.
void maybe_yield();

/// Absolute virtual realtime now (for deadlines).
std::uint64_t now_realtime_ns();

/// The parent's side of a fork: reports the child's real pid, waits for
/// its turn and returns the child's virtual pid (the real pid without a
/// coordinator).
long report_fork(long real_pid);
/// A thread message (wire::Kind::thread); `parks`: the reply comes when
/// the scheduler gives the caller its turn. -ENOSYS without a channel.
long thread_call(const wire::ThreadRequest& request, bool parks);
/// A futex call on the virtual clock (wire::Kind::futex); a wait parks.
/// `keys`: futex_waitv's words (FutexOp::wait_any). -ENOSYS if this
/// thread is not scheduled.
long futex_call(wire::FutexRequest request, const wire::FutexKey* keys = nullptr, std::uint32_t key_count = 0);
/// What the kernel does at a thread's end for the robust mutexes it holds
/// (set_robust_list(2)), done before it because the kernel's wake would
/// reach no waiter (they wait in the scheduler): FUTEX_OWNER_DIED, and one
/// waiter wakes or, for a PI mutex, is handed it (futex.cpp).
void release_robust_futexes();
/// In a forked child: its one thread is its main thread (threads.cpp).
void threads_after_fork();
/// The calling thread's virtual tid if it is a scheduled thread other than
/// the main one, else 0.
std::int32_t scheduled_tid();
/// A thread the scheduler does not run entered the shim (call `nr`): warns
/// once, with a trace event, unless it is a thread starting up.
void note_unscheduled_call(long nr);
/// Tells the scheduler that thread `real_tid` of this process was sent
/// `signal` (tgkill, tkill, pthread_kill): parked, it is woken to take it.
void report_thread_signal(std::int32_t real_tid, long signal);
/// The real tid of a scheduled thread of this process, 0 if unknown.
std::int32_t real_tid_of(std::int32_t virtual_tid);
/// The virtual tid of a scheduled thread of this process, 0 if unknown.
std::int32_t virtual_tid_of(std::int32_t real_tid);

// /proc by the ids the program knows (proc_task.cpp).
/// A /proc path naming this process by its virtual pid or a thread by its
/// virtual tid, rewritten into `out` with the real ids; false if unchanged.
bool proc_path_by_real_ids(const char* path, char* out, std::size_t capacity);
/// `fd` is this process's /proc task directory (/proc/self/task).
bool own_task_directory(long fd);
/// getdents64 on the task directory: its entries named by virtual tids.
long task_listing(long fd, void* buffer, long count);
/// Pid translation through the coordinator; `op` as in wire::PidQuery.
/// Returns the translated pid or -ESRCH.
long translate_pid(long pid, std::uint32_t op);
/// A timer call (alarm, setitimer, timerfd): `fd` (or -1) travels along.
/// Returns the result and fills `answer`; -ENOSYS without a coordinator.
long timer_call(wire::TimerRequest request, int fd, wire::TimerAnswer& answer);
/// A `code` message (wire::Kind::code): `payload` is a CodeRequest with its
/// candidates and path. Returns how many proven offsets `answer` holds after
/// its first element (the unproven count), or -errno (-ENOSYS without a
/// coordinator).
long code_query(const void* payload, std::size_t payload_bytes, std::uint32_t* answer, std::size_t answer_count);
/// Tells the scheduler that virtual pid `pid` was sent `signal`.
void report_signal(long pid, long signal);

}  // namespace marionette::shim
