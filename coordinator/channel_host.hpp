// The coordinator's side of a process's shared-memory channel
// (include/marionette/channel.hpp explains the region and the handshake).
//
// The region is the guest's memory as much as ours: it can write anything
// there at any moment. So nothing is trusted: the request is copied out
// before it is looked at, every size is checked against the buffer, the
// message kinds that may arrive this way are a fixed list, and the region
// cannot shrink under us (the guest sealed the memfd; adopt() checks the
// seals, or a truncation would fault the launcher). A malformed request is
// reported as a ChannelError: the run is invalid (exit 3), and no other
// process's state was touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "marionette/channel.hpp"
#include "marionette/wire.hpp"

namespace marionette {

/// A process broke its channel's rules (the run cannot be trusted).
class ChannelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ChannelHost {
public:
    /// Maps the region behind `memfd` (the guest's `channel` message);
    /// throws ChannelError if it is not a sealed region of the expected
    /// layout. The descriptor stays the caller's. `first_request_posted`:
    /// a new thread's region, whose first request waits already.
    static std::unique_ptr<ChannelHost> adopt(int memfd, const wire::ChannelSetup& setup, bool first_request_posted = false);
    ~ChannelHost();
    ChannelHost(const ChannelHost&) = delete;
    ChannelHost& operator=(const ChannelHost&) = delete;

    /// A request was posted since the last one taken.
    bool pending() const;
    /// Spins up to `iterations` (with `pause`) for a request; true if one
    /// is pending.
    bool spin_for_request(unsigned iterations) const;
    /// Copies the pending request out (header, payload); throws
    /// ChannelError if it is malformed.
    void take(wire::Header& header, std::vector<std::byte>& payload);
    /// True from take() until reply() or acknowledge().
    bool reply_due() const { return reply_due_; }
    /// Writes `bytes` (a framed reply) as the answer to the request taken
    /// last and wakes the guest if it sleeps. Throws ChannelError if it does
    /// not fit (the request asked for more output than the buffer holds).
    void reply(std::span<const std::byte> bytes);
    /// Answers a message without a reply (a trace line): it was taken.
    void acknowledge() { reply({}); }
    /// Tells the guest whether we are about to sleep in poll(2) (it then
    /// rings the doorbell after posting).
    void set_waiting(bool waiting);
    /// The guest's call counts (numbers only: whatever it wrote there).
    const wire::ChannelCallCounts& call_counts() const { return region_->counts; }

private:
    explicit ChannelHost(wire::ChannelRegion* region) : region_(region) {}

    wire::ChannelRegion* region_;
    wire::Channel& channel() const { return region_->channels[0]; }
    std::uint32_t taken_seq_ = 0;
    bool reply_due_ = false;
};

}  // namespace marionette
