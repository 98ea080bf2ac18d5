// The shim's side of the shared-memory channel to the coordinator
// (include/marionette/channel.hpp explains the region and the handshake).
//
// Every exchange with the coordinator is framed exactly as on the socket;
// an Exchange decides, before the first byte, whether this one travels
// through the channel (it fits both ways and carries no descriptors) or over
// the socket, and ChannelIo is the wire client's I/O policy that follows
// that decision. So wire::call and wire::message serve both transports with
// one marshalling.
//
// Every scheduled thread has its own region (the main thread's is the
// process's, made by channel_open; a new thread's is made by its creator,
// channel_create_for_thread, and adopted by the thread); the exchange state
// is per thread. Only the thread holding the run's token sends anything.
//
// The rules of interpose/ apply.
#pragma once

#include <sys/socket.h>

#include <cstddef>

namespace marionette::shim {

/// Creates this process's region and hands it to the coordinator on
/// `conn` (after the hello, which travels on the socket). Without it
/// (an old coordinator, no memfd) every exchange uses the socket.
void channel_open(int conn);
/// A new thread's region, made by its creator: the mapping and its memfd
/// (which the coordinator takes by number).
struct ThreadChannel {
    void* region = nullptr;
    int fd = -1;
};
/// False if threads cannot have channels here (no process channel, or the
/// coordinator cannot take descriptors by number).
bool channel_create_for_thread(ThreadChannel& out);
/// Unmaps and closes what channel_create_for_thread made.
void channel_discard(ThreadChannel& thread);
/// In the new thread: its exchanges go through `region` from now on.
void channel_adopt(void* region);
/// True once the thread owning `region` has posted its first request.
bool channel_posted(const void* region);
/// A thread about to end unmaps its own region (not the process's).
void channel_leave_thread();
/// True if the calling thread has a channel.
bool channel_ready();
/// True if the coordinator takes this process's descriptors by number
/// (wire::BlockRequest::fds_by_number), so a block on descriptors can use
/// the channel.
bool channel_takes_descriptors();
/// The child after fork: the inherited region is the parent's; it is
/// unmapped without a word written to it.
void channel_forget();
/// Waits until the coordinator has taken the last message posted without a
/// reply (a trace line), before anything that the coordinator must see
/// after it arrives another way (an execve's new hello).
void channel_settle(int conn);

/// One message and its reply (if any) between construction and
/// destruction. `request_bytes` and `reply_bytes` bound the framed sizes
/// (headers included); `with_fds`: descriptors ride along, so the socket.
/// `parks`: the reply comes when the scheduler resumes the process (a
/// block, a fork), so waiting for it sleeps at once instead of spinning.
class Exchange {
public:
    Exchange(int conn, std::size_t request_bytes, std::size_t reply_bytes, bool with_fds = false, bool parks = false);
    /// A message without a reply (a trace line) is posted here; the next
    /// exchange waits for the coordinator to have taken it.
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

private:
    int conn_;
};

/// The wire client's I/O policy on the socket itself, through the raw stub
/// (the hello, the `channel` message, net calls, and ChannelIo's fallback).
struct SocketIo {
    static long sendmsg(int fd, const struct msghdr* msg);
    static long read(int fd, void* buf, std::size_t n);
};

/// The wire client's I/O policy: the current Exchange's transport.
struct ChannelIo {
    static long sendmsg(int fd, const struct msghdr* msg);
    static long read(int fd, void* buf, std::size_t n);
};

/// Round trips so far (messages with a reply), through the channel and
/// over the socket.
struct RoundTrips {
    unsigned long channel = 0;
    unsigned long socket = 0;
};
RoundTrips round_trips();
/// Counts intercepted call `nr` in the region (for --summary): forwarded
/// if a round trip happened since `before`.
void count_call(long nr, RoundTrips before);

}  // namespace marionette::shim
