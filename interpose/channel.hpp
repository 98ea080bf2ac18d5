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
// The rules of interpose/ apply; the caller holds the shim's lock (one
// exchange at a time per process).
#pragma once

#include <sys/socket.h>

#include <cstddef>

namespace marionette::shim {

/// Creates this process's region and hands it to the coordinator on
/// `conn` (after the hello, which travels on the socket). Without it
/// (an old coordinator, no memfd) every exchange uses the socket.
void channel_open(int conn);
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
