// The shim's connection to the coordinator (see process.hpp).
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include "interpose/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interpose/channel.hpp"
#include "interpose/files.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "marionette/wire_client.hpp"

namespace marionette::shim {
namespace {

int conn = -1;
int owner_pid = 0;  // the process the connection speaks for
std::uint32_t sequence = 0;
char address[108] = {};
std::uint64_t launched_process_index = 0;  // MARIONETTE_PROCESS_INDEX
std::uint64_t horizon = 0;                  // the next event in the run (absolute), 0 none
bool yielding = false;
std::size_t address_length = 0;

/// Blocks every signal while the process is parked: a signal that arrives
/// then is delivered when the process runs again, at the same point of its
/// execution in every run (docs/processes.md). The mask comes back only
/// once the shim is left (shim.hpp: defer_signal_mask_restore), so the
/// program's handlers run as the program, not inside the shim.
class MaskSignals {
public:
    MaskSignals() {
        std::uint64_t all = ~std::uint64_t{0};
        std::uint64_t saved = 0;
        raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, arg(&all), arg(&saved), sizeof saved);
        defer_signal_mask_restore(saved);
    }
    MaskSignals(const MaskSignals&) = delete;
    MaskSignals& operator=(const MaskSignals&) = delete;
};

/// A reply's framed size with `output` bytes after its SyscallReply.
constexpr std::size_t reply_size(std::size_t output) { return sizeof(wire::Header) + sizeof(wire::SyscallReply) + output; }

bool is_socket(long fd) {
    struct stat st {};
    return raw_syscall(SYS_fstat, fd, arg(&st)) == 0 && S_ISSOCK(st.st_mode);
}

/// A fresh connection to the coordinator's listening socket, moved to
/// connection_fd (close-on-exec); -1 if there is none.
int connect_fresh() {
    if (address_length == 0) return -1;
    const long fd = raw_syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::memcpy(to.sun_path + 1, address, address_length);
    const auto length = static_cast<long>(sizeof(sa_family_t) + 1 + address_length);
    if (raw_syscall(SYS_connect, fd, arg(&to), length) != 0) {
        raw_syscall(SYS_close, fd);
        return -1;
    }
    if (fd != connection_fd) {
        if (raw_syscall(SYS_dup3, fd, connection_fd, O_CLOEXEC) < 0) {
            raw_syscall(SYS_close, fd);
            return -1;
        }
        raw_syscall(SYS_close, fd);
    }
    return connection_fd;
}

/// Says hello on `fd` and takes the identity and time the reply gives.
/// Runs where no other thread can be inside the shim (initialisation, the
/// child right after fork).
bool introduce(int fd, wire::Origin origin) {
    Kernel& kernel = locked_kernel();
    char cwd[4096];
    const long got = raw_syscall(SYS_getcwd, arg(cwd), sizeof cwd);
    const std::size_t cwd_length = got > 1 ? static_cast<std::size_t>(got - 1) : 1;
    if (got <= 0) cwd[0] = '/';
    const long mask = raw_syscall(SYS_umask, 022);
    raw_syscall(SYS_umask, mask);
    wire::Hello hello;
    hello.now_ns = now_realtime_ns();
    hello.real_pid = owner_pid;
    hello.real_ppid = raw_syscall(SYS_getppid);
    hello.umask = static_cast<std::uint32_t>(mask);
    hello.cwd_bytes = static_cast<std::uint32_t>(cwd_length);
    hello.origin = origin;
    hello.pid = kernel.pid();
    hello.ppid = kernel.ppid();
    hello.process_index = static_cast<std::uint32_t>(launched_process_index);
    wire::HelloReply identity;
    std::uint64_t now = 0;
    std::uint64_t next_event = 0;
    std::int32_t inherited[1024];
    std::size_t count = 0;
    bool ok;
    {
        MaskSignals masked;
        ok = wire::hello<SocketIo>(fd, hello, cwd, identity, now, inherited, 1024, &count, &next_event);
    }
    if (!ok) return false;
    kernel.become(identity.pid, identity.ppid, identity.process_index);
    absorb_reply_time(now, next_event);
    files_adopt(inherited, count < 1024 ? count : 1024, cwd, cwd_length);
    channel_open(fd);
    return true;
}

void after_fork_in_child() {
    reset_main_thread();
    threads_after_fork();
    if (conn < 0) return;
    owner_pid = static_cast<int>(raw_syscall(SYS_getpid));
    // The inherited descriptor and channel are the parent's: never speak on them.
    channel_forget();
    raw_syscall(SYS_close, connection_fd);
    conn = connect_fresh();
    if (conn < 0 || !introduce(conn, wire::Origin::forked)) lost_coordinator();
    restore_signal_mask_now();
}

}  // namespace

void lost_coordinator() {
    warn("lost the connection to marionette-launch; exiting");
    raw_syscall(SYS_exit_group, 3);
    __builtin_unreachable();
}

void absorb_reply_time(std::uint64_t now_ns, std::uint64_t horizon_ns) {
    horizon = horizon_ns;
    Kernel& kernel = locked_kernel();
    const Ns start = kernel.clock().options().start_realtime_ns;
    if (now_ns > start) kernel.catch_up(now_ns - start);
}

void maybe_yield() {
    if (horizon == 0 || yielding || connection() < 0 || now_realtime_ns() < horizon) return;
    yielding = true;
    block(wire::BlockWhat::yield, 0, 0, nullptr, nullptr, 0);
    yielding = false;
}

std::uint64_t now_realtime_ns() {
    const VirtualClock& clock = locked_kernel().clock();
    return clock.options().start_realtime_ns + clock.elapsed_ns();
}

void process_init() {
    if (const char* text = std::getenv("MARIONETTE_PROCESS_INDEX"); text != nullptr) {
        launched_process_index = std::strtoull(text, nullptr, 10);
    }
    if (const char* text = std::getenv("MARIONETTE_COORDINATOR_ADDRESS"); text != nullptr) {
        address_length = std::strlen(text);
        if (address_length >= sizeof address - 1) address_length = 0;
        std::memcpy(address, text, address_length);
    }
    owner_pid = static_cast<int>(raw_syscall(SYS_getpid));
    wire::Origin origin = wire::Origin::exec;
    int fd = -1;
    // The launcher's connection, or our own process's kept across execve.
    if (raw_syscall(SYS_fcntl, connection_fd, F_GETFD) >= 0 && is_socket(connection_fd)) {
        fd = connection_fd;
        raw_syscall(SYS_fcntl, connection_fd, F_SETFD, FD_CLOEXEC);
    } else {
        fd = connect_fresh();
        origin = wire::Origin::spawned;
    }
    if (fd < 0) return;
    conn = fd;
    const bool introduced = introduce(fd, origin);
    restore_signal_mask_now();
    if (!introduced) {
        conn = -1;
        warn("the coordinator refused this process; it runs outside the simulation");
        locked_kernel().emit_escape("process", "no_coordinator");
        return;
    }
    pthread_atfork(nullptr, nullptr, &after_fork_in_child);
}

bool coordinated() { return conn >= 0; }

int connection() {
    // A child made by a raw clone (no atfork handler ran) may share our
    // memory (vfork, posix_spawn): it must neither speak on the parent's
    // connection nor touch the parent's state. Its image after exec
    // connects on its own; until then it is outside the scheduler.
    if (conn < 0 || raw_syscall(SYS_getpid) != owner_pid) return -1;
    // A thread the scheduler does not know (started before the shim, or
    // by a raw clone) must not speak: the scheduled ones wait for replies.
    if (!scheduled_thread()) return -1;
    return conn;
}

std::uint32_t next_sequence() { return ++sequence; }

bool keep_connection_across_exec() {
    if (connection() < 0) return false;
    // The new image says hello on the socket: what this one posted comes first.
    channel_settle(connection_fd);
    return raw_syscall(SYS_fcntl, connection_fd, F_SETFD, 0) == 0;
}

void exec_failed() { raw_syscall(SYS_fcntl, connection_fd, F_SETFD, FD_CLOEXEC); }

bool shim_descriptor(long fd_arg) {
    const int fd = static_cast<int>(fd_arg);
    return conn >= 0 && fd == connection_fd;
}

bool send_trace_line(std::string_view line) {
    if (conn < 0 || raw_syscall(SYS_getpid) != owner_pid) return false;
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    Exchange exchange(conn, sizeof(wire::Header) + line.size(), 0);
    return wire::message<ChannelIo>(conn, wire::Kind::trace, line.data(), line.size(), 0).transport_ok;
}

long block(wire::BlockWhat what, std::uint64_t deadline_ns, std::int64_t child, const int* fds, const short* events,
           std::uint32_t fd_count) {
    const int fd = connection();
    if (fd < 0) return -ENOSYS;
    wire::BlockRequest request;
    request.now_ns = now_realtime_ns();
    request.deadline_ns = deadline_ns;
    request.child = child;
    request.what = static_cast<std::uint32_t>(what);
    if (fd_count > wire::max_block_fds) fd_count = wire::max_block_fds;
    request.fd_count = fd_count;
    for (std::uint32_t i = 0; i < fd_count; ++i) request.events[i] = events[i];
    // Descriptors by number through the channel, where the coordinator can
    // take its own copies; else as SCM_RIGHTS on the socket.
    const bool by_number = fd_count > 0 && channel_takes_descriptors();
    if (by_number) {
        request.fds_by_number = 1;
        for (std::uint32_t i = 0; i < fd_count; ++i) request.numbers[i] = fds[i];
    }
    wire::CallResult r;
    {
        MaskSignals masked;
        Exchange exchange(fd, sizeof(wire::Header) + sizeof request, reply_size(0), fd_count > 0 && !by_number, true);
        r = wire::message<ChannelIo>(fd, wire::Kind::block, &request, sizeof request, next_sequence(), by_number ? nullptr : fds,
                                     by_number ? 0 : fd_count);
    }
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

long thread_call(const wire::ThreadRequest& request, bool parks) {
    // A new thread's first message comes before it is scheduled: it speaks
    // through its own channel, never the socket.
    if (conn < 0 || !channel_ready()) return -ENOSYS;
    wire::CallResult r;
    {
        MaskSignals masked;
        Exchange exchange(conn, sizeof(wire::Header) + sizeof request, reply_size(0), false, parks);
        r = wire::message<ChannelIo>(conn, wire::Kind::thread, &request, sizeof request, next_sequence());
    }
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

long futex_call(wire::FutexRequest request, const wire::FutexKey* keys, std::uint32_t key_count) {
    const int fd = connection();
    if (fd < 0) return -ENOSYS;
    request.now_ns = now_realtime_ns();
    const bool parks = request.op == wire::FutexOp::wait || request.op == wire::FutexOp::wait_any ||
                       request.op == wire::FutexOp::lock_pi;
    // futex_waitv's keys follow the request.
    if (key_count > wire::max_futex_waitv) key_count = wire::max_futex_waitv;
    alignas(8) std::byte payload[sizeof request + wire::max_futex_waitv * sizeof(wire::FutexKey)];
    std::memcpy(payload, &request, sizeof request);
    if (key_count > 0) std::memcpy(payload + sizeof request, keys, key_count * sizeof(wire::FutexKey));
    const std::size_t size = sizeof request + key_count * sizeof(wire::FutexKey);
    wire::CallResult r;
    {
        MaskSignals masked;
        Exchange exchange(fd, sizeof(wire::Header) + size, reply_size(0), false, parks);
        r = wire::message<ChannelIo>(fd, wire::Kind::futex, payload, size, next_sequence());
    }
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

long report_fork(long real_pid) {
    const int fd = connection();
    if (fd < 0) return real_pid;
    wire::PidQuery query;
    query.pid = real_pid;
    wire::CallResult r;
    {
        MaskSignals masked;
        Exchange exchange(fd, sizeof(wire::Header) + sizeof query, reply_size(0), false, true);
        r = wire::message<ChannelIo>(fd, wire::Kind::forked, &query, sizeof query, next_sequence());
    }
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result > 0 ? r.result : real_pid;
}

long translate_pid(long pid, std::uint32_t op) {
    const int fd = connection();
    if (fd < 0) return -ESRCH;
    wire::PidQuery query;
    query.pid = pid;
    query.op = op;
    Exchange exchange(fd, sizeof(wire::Header) + sizeof query, reply_size(0));
    const wire::CallResult r = wire::message<ChannelIo>(fd, wire::Kind::pid, &query, sizeof query, next_sequence());
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

long timer_call(wire::TimerRequest request, int fd, wire::TimerAnswer& answer) {
    const int conn_fd = connection();
    if (conn_fd < 0) return -ENOSYS;
    request.now_ns = now_realtime_ns();
    Exchange exchange(conn_fd, sizeof(wire::Header) + sizeof request, reply_size(sizeof answer), fd >= 0);
    const wire::CallResult r = wire::message<ChannelIo>(conn_fd, wire::Kind::timer, &request, sizeof request, next_sequence(),
                                                    fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0, &answer, sizeof answer);
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

long code_query(const void* payload, std::size_t payload_bytes, std::uint32_t* answer, std::size_t answer_count) {
    const int fd = connection();
    if (fd < 0) return -ENOSYS;
    Exchange exchange(fd, sizeof(wire::Header) + payload_bytes, reply_size(answer_count * sizeof *answer));
    const wire::CallResult r = wire::message<ChannelIo>(fd, wire::Kind::code, payload, payload_bytes, next_sequence(), nullptr, 0,
                                                    answer, answer_count * sizeof *answer);
    if (!r.transport_ok) lost_coordinator();
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return r.result;
}

void report_signal(long pid, long signal) {
    const int fd = connection();
    if (fd < 0) return;
    wire::SignalNotice notice;
    notice.pid = pid;
    notice.signal = signal;
    Exchange exchange(fd, sizeof(wire::Header) + sizeof notice, reply_size(0));
    if (!wire::message<ChannelIo>(fd, wire::Kind::signal, &notice, sizeof notice, next_sequence()).transport_ok) {
        lost_coordinator();
    }
}

}  // namespace marionette::shim
