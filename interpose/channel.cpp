// The shim's side of the shared-memory channel (see channel.hpp and
// include/marionette/channel.hpp).
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include "interpose/channel.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "marionette/channel.hpp"
#include "marionette/wire_client.hpp"

namespace marionette::shim {
namespace {

/// How long the guest spins for a reply before it sleeps
/// (wire::SpinPolicy). A reply that comes when the scheduler resumes the
/// process (after a block or a fork) usually comes after another process
/// ran: that wait spins only briefly and leaves the policy alone.
constexpr unsigned parked_spin_iterations = 100;

enum class Mode { none, channel, socket };

#define MARIONETTE_THREAD_STATE __attribute__((tls_model("initial-exec"))) thread_local

// The process's own region (the main thread's channel and the call counts).
wire::ChannelRegion* process_region = nullptr;
bool descriptors_by_number = false;
RoundTrips trips;  // only the thread holding the run's token counts

// Per thread: each scheduled thread has its own region and exchange.
MARIONETTE_THREAD_STATE wire::SpinPolicy spin;
MARIONETTE_THREAD_STATE wire::ChannelRegion* region = nullptr;
MARIONETTE_THREAD_STATE wire::Channel* channel = nullptr;
// The current exchange.
MARIONETTE_THREAD_STATE Mode mode = Mode::none;
MARIONETTE_THREAD_STATE bool posted = false;
MARIONETTE_THREAD_STATE bool parks = false;
MARIONETTE_THREAD_STATE std::uint32_t written = 0;      // request bytes in the buffer
MARIONETTE_THREAD_STATE std::uint32_t read_cursor = 0;  // reply bytes handed out
MARIONETTE_THREAD_STATE std::uint32_t reply_length = 0;
// The last request posted, and whether its acknowledgement is still due
// (a message without a reply).
MARIONETTE_THREAD_STATE std::uint32_t sequence = 0;
MARIONETTE_THREAD_STATE bool unacknowledged = false;

/// The coordinator's end of the socket is closed (it died): the one thing
/// the socket still tells a process that talks through the channel.
bool coordinator_gone(int conn) {
    pollfd p{conn, POLLRDHUP, 0};
    if (raw_syscall(SYS_poll, arg(&p), 1, 0) < 0) return false;
    return (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0;
}

void ring_doorbell(int conn) {
    wire::Header header;
    header.kind = static_cast<std::uint16_t>(wire::Kind::doorbell);
    iovec part{&header, sizeof header};
    if (!wire::detail::send_all<SocketIo>(conn, &part, 1)) lost_coordinator();
}

void post(int conn) {
    wire::ChannelWords& words = channel->words;
    words.request_bytes.store(written, std::memory_order_relaxed);
    words.request_seq.store(++sequence, std::memory_order_seq_cst);
    posted = true;
    // Either the coordinator sees the request before it sleeps, or we see
    // that it sleeps (both stores and loads are seq_cst).
    if (words.coordinator_waiting.load(std::memory_order_seq_cst) != 0) ring_doorbell(conn);
}

/// Waits until the coordinator has answered (or acknowledged) the last
/// request: spins, then sleeps on reply_seq, looking at the socket each
/// time the sleep times out.
void wait_reply(int conn, bool parked) {
    std::atomic<std::uint32_t>& reply = channel->words.reply_seq;
    const unsigned spins = parked ? parked_spin_iterations : spin.next();
    for (unsigned i = 0; i < spins; ++i) {
        if (reply.load(std::memory_order_acquire) == sequence) {
            if (!parked) spin.caught(true);
            return;
        }
        __builtin_ia32_pause();
    }
    if (!parked && spins > 0) spin.caught(false);
    // Another thread of this process may be resumed while this one is
    // parked: it must be able to enter the shim.
    LockReleased released(parked);
    std::atomic<std::uint32_t>& waiting = channel->words.guest_waiting;
    waiting.store(1, std::memory_order_seq_cst);
    for (;;) {
        const std::uint32_t seen = reply.load(std::memory_order_seq_cst);
        if (seen == sequence) break;
        const timespec limit{0, wire::channel_liveness_ms * 1000000};
        // A shared futex (no FUTEX_PRIVATE_FLAG): the waker is another process.
        const long r = raw_syscall(SYS_futex, arg(&reply), FUTEX_WAIT, seen, arg(&limit));
        if (r == -ETIMEDOUT && coordinator_gone(conn)) lost_coordinator();
    }
    waiting.store(0, std::memory_order_relaxed);
}

void settle(int conn) {
    if (channel == nullptr || !unacknowledged) return;
    wait_reply(conn, false);
    unacknowledged = false;
}

}  // namespace

namespace {

/// A fresh region: a memfd sealed at its size (the coordinator maps it
/// too, and a region that could shrink under it would fault in the
/// launcher), mapped here, its header written.
bool create_region(ThreadChannel& out) {
    const long fd = raw_syscall(SYS_memfd_create, arg("marionette-channel"), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return false;
    void* mapped = MAP_FAILED;
    if (raw_syscall(SYS_ftruncate, fd, static_cast<long>(wire::channel_region_bytes)) == 0 &&
        raw_syscall(SYS_fcntl, fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0) {
        mapped = reinterpret_cast<void*>(raw_syscall(SYS_mmap, 0, static_cast<long>(wire::channel_region_bytes),
                                                     PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        if (reinterpret_cast<long>(mapped) < 0 && reinterpret_cast<long>(mapped) > -4096) mapped = MAP_FAILED;
    }
    if (mapped == MAP_FAILED) {
        raw_syscall(SYS_close, fd);
        return false;
    }
    static_cast<wire::ChannelRegion*>(mapped)->header = wire::ChannelRegionHeader{};
    out.region = mapped;
    out.fd = static_cast<int>(fd);
    return true;
}

void use_region(void* mapped) {
    region = static_cast<wire::ChannelRegion*>(mapped);
    channel = region != nullptr ? &region->channels[0] : nullptr;
    mode = Mode::none;
    sequence = 0;
    unacknowledged = false;
}

}  // namespace

void channel_open(int conn) {
    ThreadChannel fresh;
    if (!create_region(fresh)) return;
    wire::ChannelSetup setup;
    const int passed = fresh.fd;
    const wire::CallResult r =
        wire::message<SocketIo>(conn, wire::Kind::channel, &setup, sizeof setup, next_sequence(), &passed, 1);
    raw_syscall(SYS_close, fresh.fd);
    if (!r.transport_ok) lost_coordinator();
    if (r.result < 0) {
        raw_syscall(SYS_munmap, arg(fresh.region), static_cast<long>(wire::channel_region_bytes));
        return;
    }
    descriptors_by_number = r.result == 1;
    process_region = static_cast<wire::ChannelRegion*>(fresh.region);
    use_region(fresh.region);
}

bool channel_create_for_thread(ThreadChannel& out) { return process_region != nullptr && descriptors_by_number && create_region(out); }

void channel_discard(ThreadChannel& thread) {
    if (thread.region != nullptr) raw_syscall(SYS_munmap, arg(thread.region), static_cast<long>(wire::channel_region_bytes));
    if (thread.fd >= 0) raw_syscall(SYS_close, thread.fd);
    thread = ThreadChannel{};
}

void channel_adopt(void* thread_region) { use_region(thread_region); }

bool channel_posted(const void* thread_region) {
    const auto* r = static_cast<const wire::ChannelRegion*>(thread_region);
    return r->channels[0].words.request_seq.load(std::memory_order_acquire) != 0;
}

void channel_leave_thread() {
    if (region == nullptr || region == process_region) return;
    raw_syscall(SYS_munmap, arg(region), static_cast<long>(wire::channel_region_bytes));
    use_region(nullptr);
}

bool channel_ready() { return channel != nullptr; }

bool channel_takes_descriptors() { return channel != nullptr && descriptors_by_number; }

void channel_forget() {
    descriptors_by_number = false;
    // The forking thread's own region (if it was not the main thread) and
    // the process's; other threads' regions stay mapped, unused.
    if (region != nullptr && region != process_region) {
        raw_syscall(SYS_munmap, arg(region), static_cast<long>(wire::channel_region_bytes));
    }
    if (process_region != nullptr) raw_syscall(SYS_munmap, arg(process_region), static_cast<long>(wire::channel_region_bytes));
    process_region = nullptr;
    use_region(nullptr);
    trips = {};
}

void channel_settle(int conn) { settle(conn); }

Exchange::Exchange(int conn, std::size_t request_bytes, std::size_t reply_bytes, bool with_fds, bool parks_process)
    : conn_(conn) {
    // Whatever was posted before is taken before anything else is sent, on
    // either transport: the coordinator sees messages in the order sent.
    settle(conn);
    const bool fits = request_bytes <= wire::channel_buffer_bytes && reply_bytes <= wire::channel_buffer_bytes;
    mode = channel != nullptr && fits && !with_fds ? Mode::channel : Mode::socket;
    // A message without a reply (a trace line) is no round trip.
    if (reply_bytes > 0 && mode == Mode::channel) ++trips.channel;
    if (reply_bytes > 0 && mode == Mode::socket) ++trips.socket;
    posted = false;
    parks = parks_process;
    written = 0;
    read_cursor = 0;
    reply_length = 0;
}

Exchange::~Exchange() {
    if (mode == Mode::channel && !posted) {
        // A message without a reply: posted now, acknowledged later.
        post(conn_);
        unacknowledged = true;
    }
    mode = Mode::none;
}

long SocketIo::sendmsg(int fd, const struct msghdr* msg) { return raw_syscall(SYS_sendmsg, fd, arg(msg), MSG_NOSIGNAL); }

long SocketIo::read(int fd, void* buf, std::size_t n) { return raw_syscall(SYS_read, fd, arg(buf), static_cast<long>(n)); }

long ChannelIo::sendmsg(int fd, const struct msghdr* msg) {
    if (mode != Mode::channel) return SocketIo::sendmsg(fd, msg);
    std::size_t total = 0;
    for (std::size_t i = 0; i < msg->msg_iovlen; ++i) total += msg->msg_iov[i].iov_len;
    if (posted || msg->msg_controllen != 0 || written + total > wire::channel_buffer_bytes) {
        // Larger than announced: what is buffered goes to the socket first,
        // then the rest of the exchange follows it there.
        iovec prefix{channel->buffer, written};
        if (written > 0 && !wire::detail::send_all<SocketIo>(fd, &prefix, 1)) return -EPIPE;
        mode = Mode::socket;
        --trips.channel;
        ++trips.socket;
        return SocketIo::sendmsg(fd, msg);
    }
    for (std::size_t i = 0; i < msg->msg_iovlen; ++i) {
        std::memcpy(channel->buffer + written, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
        written += static_cast<std::uint32_t>(msg->msg_iov[i].iov_len);
    }
    return static_cast<long>(total);
}

long ChannelIo::read(int fd, void* buf, std::size_t n) {
    if (mode != Mode::channel) return SocketIo::read(fd, buf, n);
    if (!posted) {
        post(fd);
        wait_reply(fd, parks);
        reply_length = channel->words.reply_bytes.load(std::memory_order_acquire);
        if (reply_length > wire::channel_buffer_bytes) return -EPROTO;
    }
    const std::size_t left = reply_length - read_cursor;
    const std::size_t take = n < left ? n : left;
    if (take == 0) return 0;  // a reply shorter than its header says
    std::memcpy(buf, channel->buffer + read_cursor, take);
    read_cursor += static_cast<std::uint32_t>(take);
    return static_cast<long>(take);
}

RoundTrips round_trips() { return trips; }

namespace {
/// Only this process writes its counts, one thread at a time (the run's
/// token, or the shim's lock): no locked instruction needed.
void bump(std::atomic<std::uint64_t>& count) { count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
}  // namespace

void count_call(long nr, RoundTrips before) {
    if (process_region == nullptr || nr < 0 || nr >= static_cast<long>(wire::counted_syscalls)) return;
    wire::ChannelCallCounts& table = process_region->counts;
    const auto n = static_cast<std::size_t>(nr);
    bump(table.calls[n]);
    if (trips.channel == before.channel && trips.socket == before.socket) return;
    bump(table.forwarded[n]);
    if (trips.socket != before.socket) bump(table.over_socket[n]);
}

}  // namespace marionette::shim
