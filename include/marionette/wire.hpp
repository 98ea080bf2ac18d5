// The shim <-> coordinator wire protocol.
//
// A simulated process reaches the state it shares with other processes of its
// node (the disk, descriptors of simulated files, later pipes and sockets)
// through the coordinator — the launcher — over a socketpair it inherits
// (docs/processes.md). Every message is a fixed 16-byte Header followed by a
// payload. A syscall request carries the syscall number, its six raw
// arguments, the caller's virtual time and the *input* buffers its arguments
// point at (paths, data to write), in the order the marshalling table below
// names them; the reply carries the result (`-errno` on failure), the new
// virtual time and the *output* buffer (data read, a struct stat, ...).
// Pointers never cross the wire: the coordinator sees the bytes, and its
// reply is copied into the caller's memory by the shim.
//
// Everything here is fixed-width, little-endian (x86_64 only), free of
// allocation and usable from the preload shim.
//
// Version rules: any change to a struct layout, a Kind value or a row of the
// marshalling table bumps `wire_version`; the coordinator refuses a hello
// with another version, naming both.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace marionette::wire {

inline constexpr std::uint32_t wire_magic = 0x544e524d;  // "MRNT"
inline constexpr std::uint16_t wire_version = 9;
/// Largest payload either side accepts: the shim shortens a larger read or
/// write to this size (a short count, as POSIX allows).
inline constexpr std::uint32_t max_payload_bytes = 16u << 20;
/// The descriptor number of a process's connection to the coordinator: the
/// launcher puts it there, the shim keeps it there.
inline constexpr int connection_fd = 1001;
/// Most descriptors one block request waits on (SCM_RIGHTS carries 253).
inline constexpr std::uint32_t max_block_fds = 128;

enum class Kind : std::uint16_t {
    hello = 1,    ///< payload: Hello + cwd bytes; reply output: the inherited
                  ///< simulated descriptors as int32 (a second hello = execve)
    syscall = 2,  ///< payload: SyscallRequest + input buffers
    exit = 3,     ///< payload: ExitNotice
    trace = 4,    ///< payload: one trace line (no newline); no reply
    block = 5,    ///< payload: BlockRequest; descriptors to wait on travel
                  ///< as SCM_RIGHTS; the reply comes when the scheduler
                  ///< resumes the caller (result: a wake reason or -EINTR)
    forked = 6,   ///< payload: PidQuery (the child's real pid); reply: the
                  ///< child's virtual pid, when the scheduler resumes the parent
    pid = 7,      ///< payload: PidQuery; reply: the translated pid or -ESRCH
    signal = 8,   ///< payload: SignalNotice (the shim delivered it itself)
    net = 9,      ///< payload: NetRequest; reply output: NetAnswer, and for
                  ///< `socket`/`accept` the new descriptor as SCM_RIGHTS
    timer = 10,   ///< payload: TimerRequest (timerfd_settime sends the
                  ///< timer's eventfd as SCM_RIGHTS); reply output: TimerAnswer
    code = 11,    ///< payload: CodeRequest + path; reply: result = N proven
                  ///< rdtsc/rdtscp in the mapping (or -errno), output =
                  ///< uint32 unproven count, then N uint32 offsets into it
    channel = 12,   ///< payload: ChannelSetup (include/marionette/channel.hpp),
                    ///< the region's memfd as SCM_RIGHTS; reply: 1 if the
                    ///< coordinator can take the process's descriptors by
                    ///< number (BlockRequest::fds_by_number), 0 if not, or -errno
    doorbell = 13,  ///< no payload, no reply: a request waits in the channel
    thread = 14,    ///< payload: ThreadRequest; reply: see ThreadOp
    futex = 15,     ///< payload: FutexRequest; reply: the futex(2) result
                    ///< (a wait's comes when the scheduler resumes the caller)
    reply = 0x8001,
};

struct Header {
    std::uint32_t magic = wire_magic;
    std::uint16_t version = wire_version;
    std::uint16_t kind = 0;
    std::uint32_t payload_bytes = 0;
    std::uint32_t sequence = 0;
};
static_assert(sizeof(Header) == 16);

/// Where a hello comes from (docs/processes.md, "Processes and the scheduler").
enum class Origin : std::uint32_t {
    launched = 0,  ///< the first image of a process the launcher started
    exec = 1,      ///< a new image of the same process, on its own connection
    forked = 2,    ///< a child right after fork, on a fresh connection
    spawned = 3,   ///< the first image of a child created without our fork
                   ///< wrapper (posix_spawn, vfork+exec), on a fresh connection
};

struct Hello {
    std::uint64_t now_ns = 0;
    /// The caller's real pid and parent pid: the coordinator matches a new
    /// connection to the fork that created it, and one connection always
    /// speaks for one process.
    std::int64_t real_pid = 0;
    std::int64_t real_ppid = 0;
    std::uint32_t umask = 022;
    std::uint32_t cwd_bytes = 0;  ///< followed by the cwd (no NUL)
    Origin origin = Origin::launched;
    /// For `launched`: the identity the shim derived from the seed (the
    /// coordinator adopts it); ignored otherwise.
    std::int32_t pid = 0;
    std::int32_t ppid = 0;
    std::uint32_t process_index = 0;
};
static_assert(sizeof(Hello) == 48);

/// The hello reply's output starts with the identity the process must use,
/// followed by the inherited simulated descriptors as int32.
struct HelloReply {
    std::int32_t pid = 0;
    std::int32_t ppid = 0;
    std::uint64_t process_index = 0;  ///< selects the process's random streams
};
static_assert(sizeof(HelloReply) == 16);

/// What a blocked process waits for; any one of them wakes it.
struct BlockRequest {
    std::uint64_t now_ns = 0;
    /// Absolute virtual realtime to wake at; 0: no deadline.
    std::uint64_t deadline_ns = 0;
    /// Waiting for a child to exit: -1 any child, > 0 that virtual pid; 0 not.
    std::int64_t child = 0;
    /// Number of descriptors sent with the message (SCM_RIGHTS, in order)
    /// and the poll(2) events wanted on each.
    std::uint32_t fd_count = 0;
    /// What the process is doing (BlockWhat), for deadlock reports.
    std::uint32_t what = 0;
    /// 1: the descriptors are not sent; `numbers` names them in the
    /// caller, and the coordinator takes its own copies (pidfd_getfd), as
    /// the `channel` reply allowed. The request can then use the channel.
    std::uint32_t fds_by_number = 0;
    std::uint32_t reserved = 0;
    std::int16_t events[max_block_fds] = {};
    std::int32_t numbers[max_block_fds] = {};
};

/// BlockRequest::what.
enum class BlockWhat : std::uint32_t {
    sleep = 0,
    poll = 1,
    read = 2,
    write = 3,
    wait_child = 4,
    fork = 5,
    yield = 6,
    futex = 7,     ///< a FUTEX_WAIT (Kind::futex), never in a BlockRequest
    thread = 8,    ///< a new thread, until its first turn
    signal = 9,    ///< pause, sigsuspend, sigtimedwait: only a signal ends it
};

/// Wake reasons in the block reply's result.
inline constexpr long woke_deadline = 0;
inline constexpr long woke_ready = 1;
inline constexpr long woke_child = 2;
inline constexpr long woke_scheduled = 3;

/// Threads (docs/processes.md, "Threads"). Each scheduled thread has its
/// own channel region; only its creator, which holds the run's token, uses
/// the socket or names descriptors for it.
enum class ThreadOp : std::uint32_t {
    /// The new thread's first message, through its own channel, before it
    /// runs any of the program's code; the reply (its virtual tid) comes
    /// when the scheduler gives it its first turn.
    arrive = 1,
    /// The creator, once the new thread has posted `arrive`: `region_fd`
    /// names (by number, taken with pidfd_getfd) the thread's channel
    /// region; reply: the new thread's virtual tid, when the scheduler
    /// resumes the creator.
    start = 2,
    /// The thread is about to leave (the exit syscall): `clear_tid` is the
    /// address the kernel clears and futex-wakes at its end (set_tid_address,
    /// CLONE_CHILD_CLEARTID), 0 if none. Reply 0 at once; the coordinator
    /// finishes the thread (and wakes the waiters on `clear_tid`) once the
    /// kernel has let it go.
    exit = 3,
    /// A thread of the caller's process (`real_tid`) was sent signal
    /// `clear_tid` (tgkill): if it is parked, it wakes (EINTR) to take it.
    signal = 4,
};

struct ThreadRequest {
    ThreadOp op = ThreadOp::arrive;
    std::int32_t real_tid = 0;
    std::int32_t region_fd = -1;
    std::uint32_t reserved = 0;
    std::uint64_t clear_tid = 0;
    std::uint64_t now_ns = 0;
};
static_assert(sizeof(ThreadRequest) == 32);

/// futex(2) on the virtual clock. The shim checks the futex words itself
/// (the caller holds the run's token, so nothing changes them meanwhile),
/// performs FUTEX_WAKE_OP's operation and writes PI lock words; the
/// coordinator keeps the wait queues, keyed by FutexKey.
enum class FutexOp : std::uint32_t {
    wait = 1,      ///< key, bitset, deadline_ns (0: none)
    wake = 2,      ///< key, count, bitset; reply: how many woke
    requeue = 3,   ///< wake `count` on key, move up to `count2` to key2
    wake_two = 4,  ///< wake `count` on key and `count2` on key2 (WAKE_OP)
    /// futex_waitv: `count` FutexKeys follow the request (key is unused);
    /// parks until a wake on any of them; reply: the index woken + 1, or
    /// woke_deadline.
    wait_any = 5,
    /// A priority-inheritance lock (FUTEX_LOCK_PI): parks as a PI waiter on
    /// key until unlock_pi hands it the lock, or deadline_ns.
    lock_pi = 6,
    /// FUTEX_UNLOCK_PI: picks one PI waiter of key (the seed's choice) and
    /// wakes it; reply: its real tid, plus futex_more_waiters if others
    /// still wait, or 0 if none waits (the shim writes the word).
    unlock_pi = 7,
};

/// Which futex a call names. A private one is a word of the caller's
/// process (offset: its address); a shared one a word of an object mapped
/// MAP_SHARED, possibly by several processes (the object's device and
/// inode, the word's offset in it), as the kernel keys them.
struct FutexKey {
    std::uint64_t offset = 0;
    std::uint64_t inode = 0;
    std::uint32_t device = 0;
    std::uint32_t shared = 0;  ///< 1: device, inode and offset name it
};
static_assert(sizeof(FutexKey) == 24);

struct FutexRequest {
    FutexOp op = FutexOp::wait;
    std::uint32_t bitset = 0xffffffff;
    FutexKey key;
    FutexKey key2;
    std::uint32_t count = 0;
    std::uint32_t count2 = 0;
    std::uint64_t deadline_ns = 0;  ///< absolute virtual realtime
    std::uint64_t now_ns = 0;
};
static_assert(sizeof(FutexRequest) == 80);

/// futex_waitv's most words (the kernel's FUTEX_WAITV_MAX).
inline constexpr std::uint32_t max_futex_waitv = 128;
/// Added to unlock_pi's reply when more PI waiters remain.
inline constexpr long futex_more_waiters = 1L << 32;

struct PidQuery {
    std::int64_t pid = 0;
    /// 0: virtual -> real; 1: real -> virtual; 2: real -> virtual, and the
    /// child was reaped (the coordinator forgets it).
    std::uint32_t op = 0;
    std::uint32_t reserved = 0;
};

/// A socket call on the simulated network (cluster runs). Addresses are
/// IPv4 in host byte order.
enum class NetOp : std::uint32_t {
    socket = 1,          ///< arg: 1 stream, 2 datagram
    bind = 2,
    listen = 3,          ///< arg: backlog
    connect = 4,
    connect_status = 5,  ///< 0 connected, -EINPROGRESS, or the error
    accept = 6,
    getsockname = 7,
    getpeername = 8,
    take_error = 9,      ///< getsockopt(SO_ERROR)
    shutdown = 10,       ///< arg: SHUT_RD/SHUT_WR/SHUT_RDWR
    set_v6_only = 11,    ///< arg: IPV6_V6ONLY 0/1
    get_buffer = 12,     ///< result: SO_SNDBUF, or SO_RCVBUF with net_flag_receive_buffer
    set_buffer = 13,     ///< arg: the bytes setsockopt asked for (net_flag_receive_buffer: SO_RCVBUF)
};

/// NetRequest::flags and NetAnswer::flags.
/// The address is an IPv6 one (`::`, `::1`, `fd00::N`) given as its IPv4
/// image; without it an IPv6 socket's address is v4-mapped. On `socket`:
/// an AF_INET6 socket.
inline constexpr std::uint16_t net_flag_ipv6 = 1;
/// get_buffer/set_buffer: SO_RCVBUF instead of SO_SNDBUF.
inline constexpr std::uint16_t net_flag_receive_buffer = 2;

struct NetRequest {
    NetOp op = NetOp::socket;
    std::uint32_t ipv4 = 0;
    std::uint64_t socket = 0;  ///< the simulated socket's id
    std::int64_t arg = 0;
    std::uint64_t now_ns = 0;
    std::uint16_t port = 0;
    std::uint16_t flags = 0;  ///< net_flag_*
    std::uint16_t reserved[2] = {};
};
static_assert(sizeof(NetRequest) == 40);

struct NetAnswer {
    std::uint64_t socket = 0;  ///< socket/accept: the new socket's id
    std::uint32_t ipv4 = 0;    ///< accept/getsockname/getpeername
    std::uint16_t port = 0;
    std::uint16_t flags = 0;  ///< net_flag_ipv6: the address is an IPv6 one
};
static_assert(sizeof(NetAnswer) == 16);

/// Timers on the virtual clock: alarm(2)/setitimer(ITIMER_REAL) deliver
/// SIGALRM, a timerfd is an eventfd the scheduler adds expirations to.
enum class TimerOp : std::uint32_t {
    alarm_set = 1,    ///< value_ns: relative (0 cancels); interval_ns for setitimer
    alarm_get = 2,
    timerfd_set = 3,  ///< timer: the id; value_ns relative or absolute (flags)
    timerfd_get = 4,
};

struct TimerRequest {
    TimerOp op = TimerOp::alarm_set;
    std::uint32_t absolute = 0;  ///< TFD_TIMER_ABSTIME: value_ns is CLOCK_REALTIME/MONOTONIC-relative absolute
    std::uint64_t timer = 0;
    std::uint64_t value_ns = 0;
    std::uint64_t interval_ns = 0;
    std::uint64_t now_ns = 0;
};
static_assert(sizeof(TimerRequest) == 40);

/// The timer's previous (set) or current (get) setting, relative.
struct TimerAnswer {
    std::uint64_t remaining_ns = 0;
    std::uint64_t interval_ns = 0;
};

/// An executable file mapping, on a host where the shim rewrites
/// rdtsc/rdtscp (coordinator/tsc_sites.hpp); followed by `path_bytes` bytes
/// of the mapped file's path. The coordinator decodes the file once per run.
struct CodeRequest {
    std::uint64_t file_offset = 0;  ///< of the mapping's first byte
    std::uint64_t length = 0;
    std::uint32_t path_bytes = 0;
    std::uint32_t reserved = 0;
};
static_assert(sizeof(CodeRequest) == 24);

/// Most proven sites one code reply carries.
inline constexpr std::uint32_t max_code_sites = 4096;

struct SignalNotice {
    std::int64_t pid = 0;  ///< virtual pid signalled
    std::int64_t signal = 0;
};

struct ExitNotice {
    std::int64_t status = 0;
    std::uint64_t now_ns = 0;
};

struct SyscallRequest {
    std::int64_t nr = 0;
    std::int64_t args[6] = {};
    std::uint64_t now_ns = 0;
    /// For calls that create a descriptor (openat, dup3, fcntl dup): the
    /// number the shim reserved in the real kernel; -1 otherwise.
    std::int64_t bind_fd = -1;
    /// Sizes of the input buffers that follow, in table order.
    std::uint32_t in_bytes[2] = {};
    /// Capacity of the caller's output buffer.
    std::uint32_t out_capacity = 0;
    std::uint32_t reserved = 0;
};
static_assert(sizeof(SyscallRequest) == 88);

/// SyscallReply::flags: the path did not route to a simulated mount after
/// all; the shim must issue the call to the real kernel itself.
inline constexpr std::uint32_t reply_passthrough = 1;

struct SyscallReply {
    std::int64_t result = 0;
    std::uint64_t now_ns = 0;
    std::uint32_t out_bytes = 0;  ///< output bytes that follow
    std::uint32_t flags = 0;      ///< reply_passthrough
    /// The time of the next event anywhere in the run (a sleeper's deadline,
    /// a timer, a packet), 0 if none: a process whose own clock passes it
    /// yields (BlockWhat::yield), so time-driven events are not starved by a
    /// process that computes without blocking.
    std::uint64_t horizon_ns = 0;
};
static_assert(sizeof(SyscallReply) == 32);

/// How one argument's buffer travels.
enum class BufKind : std::uint8_t {
    none,
    path,   ///< NUL-terminated string at args[arg] (may be null: 0 bytes)
    bytes,  ///< args[arg] points at args[len_arg] bytes
    fixed,  ///< args[arg] points at `fixed_bytes` bytes (may be null)
    iov,    ///< args[arg] is an iovec array of args[len_arg] entries
};

struct Buf {
    BufKind kind = BufKind::none;
    std::uint8_t arg = 0;
    std::uint8_t len_arg = 0;
    std::uint32_t fixed_bytes = 0;
};

/// The marshalling of one forwarded syscall: up to two input buffers and
/// one output buffer. `binds_fd` marks calls whose success installs a new
/// simulated descriptor at the reserved number.
struct Spec {
    long nr;
    Buf in[2];
    Buf out;
    bool binds_fd = false;
};

constexpr Buf path_at(std::uint8_t arg) { return {BufKind::path, arg, 0, 0}; }
constexpr Buf bytes_at(std::uint8_t arg, std::uint8_t len_arg) { return {BufKind::bytes, arg, len_arg, 0}; }
constexpr Buf fixed_at(std::uint8_t arg, std::uint32_t size) { return {BufKind::fixed, arg, 0, size}; }
constexpr Buf iov_at(std::uint8_t arg, std::uint8_t count_arg) { return {BufKind::iov, arg, count_arg, 0}; }

/// Every syscall the shim forwards for simulated files. Calls on
/// descriptors are forwarded only when the descriptor is simulated; calls on
/// paths only when the path routes to a simulated mount.
inline constexpr Spec specs[] = {
    {SYS_openat, {path_at(1), {}}, {}, true},
    {SYS_close, {}, {}},
    {SYS_read, {}, bytes_at(1, 2)},
    {SYS_pread64, {}, bytes_at(1, 2)},
    {SYS_readv, {}, iov_at(1, 2)},
    {SYS_preadv, {}, iov_at(1, 2)},
    {SYS_write, {bytes_at(1, 2), {}}, {}},
    {SYS_pwrite64, {bytes_at(1, 2), {}}, {}},
    {SYS_writev, {iov_at(1, 2), {}}, {}},
    {SYS_pwritev, {iov_at(1, 2), {}}, {}},
    {SYS_lseek, {}, {}},
    {SYS_fsync, {}, {}},
    {SYS_fdatasync, {}, {}},
    {SYS_sync_file_range, {}, {}},
    {SYS_syncfs, {}, {}},
    {SYS_sync, {}, {}},
    {SYS_ftruncate, {}, {}},
    {SYS_truncate, {path_at(0), {}}, {}},
    {SYS_fallocate, {}, {}},
    {SYS_fstat, {}, fixed_at(1, sizeof(struct stat))},
    {SYS_newfstatat, {path_at(1), {}}, fixed_at(2, sizeof(struct stat))},
    {SYS_statx, {path_at(1), {}}, fixed_at(4, sizeof(struct statx))},
    {SYS_faccessat, {path_at(1), {}}, {}},
    {SYS_faccessat2, {path_at(1), {}}, {}},
    {SYS_getdents64, {}, bytes_at(1, 2)},
    {SYS_mkdirat, {path_at(1), {}}, {}},
    {SYS_unlinkat, {path_at(1), {}}, {}},
    {SYS_renameat2, {path_at(1), path_at(3)}, {}},
    {SYS_linkat, {path_at(1), path_at(3)}, {}},
    {SYS_symlinkat, {path_at(0), path_at(2)}, {}},
    {SYS_readlinkat, {path_at(1), {}}, bytes_at(2, 3)},
    {SYS_fchmod, {}, {}},
    {SYS_fchmodat, {path_at(1), {}}, {}},
    {SYS_utimensat, {path_at(1), fixed_at(2, 2 * sizeof(struct timespec))}, {}},
    {SYS_chdir, {path_at(0), {}}, {}},
    {SYS_getcwd, {}, bytes_at(0, 1)},
    {SYS_fchdir, {}, {}},
    {SYS_dup3, {}, {}, true},
    {SYS_fcntl, {fixed_at(2, sizeof(struct flock)), {}}, fixed_at(2, sizeof(struct flock)), true},
};

/// An iovec input is a call's only input (the client sends plain inputs
/// with the request and an iovec one after them).
constexpr bool iov_inputs_alone() {
    for (const Spec& s : specs) {
        if ((s.in[0].kind == BufKind::iov && s.in[1].kind != BufKind::none) || s.in[1].kind == BufKind::iov) return false;
    }
    return true;
}
static_assert(iov_inputs_alone());

/// The row for `nr`, or nullptr if the call is not forwarded.
constexpr const Spec* find_spec(long nr) {
    for (const Spec& s : specs) {
        if (s.nr == nr) return &s;
    }
    return nullptr;
}

/// fcntl commands whose third argument is a struct flock pointer.
constexpr bool fcntl_uses_flock(long cmd) {
    return cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_GETLK || cmd == F_OFD_SETLK ||
           cmd == F_OFD_SETLKW;
}

/// fcntl commands that create a descriptor.
constexpr bool fcntl_dups(long cmd) { return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC; }

/// The marshalling actually used for one call: `fcntl` passes a struct
/// flock only for the locking commands; for the others its third argument
/// is a plain integer and nothing travels.
constexpr Spec effective_spec(const Spec& spec, const long* args) {
    if (spec.nr == SYS_fcntl && !fcntl_uses_flock(args[1])) return Spec{spec.nr, {}, {}, fcntl_dups(args[1])};
    if (spec.nr == SYS_fcntl) return Spec{spec.nr, {spec.in[0], {}}, spec.out, false};
    return spec;
}

/// Bytes an input buffer contributes, computed from the raw arguments (in
/// the caller's address space). A null pointer contributes nothing.
inline std::size_t in_size(const Buf& b, const long* args) {
    const void* p = reinterpret_cast<const void*>(args[b.arg]);
    switch (b.kind) {
        case BufKind::none: return 0;
        case BufKind::path: return p == nullptr ? 0 : std::strlen(static_cast<const char*>(p)) + 1;
        case BufKind::bytes: return static_cast<std::size_t>(args[b.len_arg]);
        case BufKind::fixed: return p == nullptr ? 0 : b.fixed_bytes;
        case BufKind::iov: {
            const auto* iov = static_cast<const struct iovec*>(p);
            std::size_t n = 0;
            for (long i = 0; i < args[b.len_arg]; ++i) n += iov[i].iov_len;
            return n;
        }
    }
    return 0;
}

}  // namespace marionette::wire
