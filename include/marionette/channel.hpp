// The shared-memory channel between a simulated process and the
// coordinator (docs/architecture.md, "The channel").
//
// A forwarded call over the process's unix socket costs a socket round trip
// (~32 us on the project's 2-core VMs); the same request and reply through
// shared memory, with the waiting side spinning briefly before it sleeps on
// a futex, cost a few microseconds. So every process maps a region it
// creates (a sealed memfd it passes to the coordinator once, in a `channel`
// message) and sends most messages through it, byte for byte the same
// framing as on the socket: a wire::Header, its payload, and a reply that is
// again a Header, a SyscallReply and its output.
//
// The region holds `channel_count` channels, one per simulated thread of
// control: today only channel 0 (a process's threads are not scheduled and
// share it under the shim's lock); the threads issue gives each scheduled
// thread its own. One channel is one request slot and one reply slot in the
// same buffer (a call is synchronous: the reply replaces the request).
//
// Handshake, one 32-bit word per direction (Shadow's scchannel is the model):
//   guest:       write the request, request_bytes; request_seq = s
//                (seq_cst); if coordinator_waiting: ring the doorbell (a
//                `doorbell` message on the socket, which the coordinator
//                polls while it sleeps)
//   coordinator: sees request_seq != the last one it served (spinning, or
//                after the doorbell), copies the request out, validates it
//                (the guest can write anything there), handles it, writes
//                the reply, reply_seq = s (seq_cst); FUTEX_WAKE only if
//                guest_waiting
//   guest:       spins on reply_seq, then sets guest_waiting and sleeps in
//                FUTEX_WAIT with a timeout, checking that the coordinator's
//                end of the socket is still open each time it wakes
// The socket remains for set-up, descriptors (SCM_RIGHTS), messages too big
// for the buffer, and death: a dead guest closes it (the coordinator's poll
// sees it), a dead coordinator closes it (the sleeping guest sees it within
// channel_liveness_ms).
//
// Fixed-width, no allocation: included by the preload shim.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace marionette::wire {

inline constexpr std::uint32_t channel_magic = 0x4c4e4843;  // "CHNL"
/// Channels in one region (one per scheduled thread, later).
inline constexpr std::uint32_t channel_count = 1;
/// Bytes of one channel's message buffer: a request or a reply (header
/// included) that does not fit goes over the socket instead.
inline constexpr std::uint32_t channel_buffer_bytes = 1u << 20;

/// The words both sides touch, each on its own cache line so the guest's
/// spinning on reply_seq does not bounce the line the coordinator writes.
struct alignas(64) ChannelWords {
    alignas(64) std::atomic<std::uint32_t> request_seq{0};
    std::atomic<std::uint32_t> request_bytes{0};  ///< bytes of the posted request
    alignas(64) std::atomic<std::uint32_t> reply_seq{0};
    std::atomic<std::uint32_t> reply_bytes{0};  ///< bytes of the reply (0: an acknowledgement)
    alignas(64) std::atomic<std::uint32_t> guest_waiting{0};        ///< the guest sleeps on reply_seq
    alignas(64) std::atomic<std::uint32_t> coordinator_waiting{0};  ///< the coordinator sleeps in poll(2)
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

struct Channel {
    ChannelWords words;
    alignas(64) std::byte buffer[channel_buffer_bytes];
};

/// The start of the region: written once by the shim before it is sent.
struct alignas(64) ChannelRegionHeader {
    std::uint32_t magic = channel_magic;
    std::uint32_t count = channel_count;
    std::uint32_t buffer_bytes = channel_buffer_bytes;
    std::uint32_t reserved = 0;
};

/// Syscall numbers the call counts cover (x86_64 has fewer than 512).
inline constexpr std::uint32_t counted_syscalls = 512;

/// What the shim did with the calls it intercepted, by syscall number: how
/// many it handled, how many of those needed a round trip to the
/// coordinator, and how many of those went over the socket. Written by the
/// guest only; read by the coordinator for `--summary` when the image ends.
/// Not part of the trace (how a call travels depends on timing, never on
/// what it does).
struct ChannelCallCounts {
    std::atomic<std::uint64_t> calls[counted_syscalls];
    std::atomic<std::uint64_t> forwarded[counted_syscalls];
    std::atomic<std::uint64_t> over_socket[counted_syscalls];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

struct ChannelRegion {
    ChannelRegionHeader header;
    Channel channels[channel_count];
    ChannelCallCounts counts;
};

inline constexpr std::size_t channel_region_bytes = (sizeof(ChannelRegion) + 4095) & ~std::size_t{4095};

/// How long a sleeping guest waits before checking that the coordinator
/// still exists (a dead coordinator never leaves a guest behind for longer).
inline constexpr long channel_liveness_ms = 100;

/// How long a waiting side spins (in `pause` iterations, ~20 ns each on
/// the project's machines) before it sleeps: the guest waiting for a reply
/// and the scheduler waiting for the running process's next request each
/// keep one.
///
/// Spinning pays only while both sides have a CPU: a 2-core machine running
/// other work (a parallel test suite, a build) preempts the side that is
/// being waited for, and then each spin burns the CPU that side needs; a
/// blocking wait would have let the kernel hand it over at once. So a spin
/// that runs out makes the next one four times shorter, down to none (the
/// channel then costs what the socket did: one wake-up each way), one
/// that catches its answer restores the full length, and while the spin is
/// off every 64th wait spins in full to find out whether the machine has
/// become quiet again.
class SpinPolicy {
public:
    static constexpr unsigned full_iterations = 2500;  ///< ~50 us: a round trip and some computing

    /// Iterations for the next wait.
    unsigned next() {
        if (budget_ > 0) return budget_;
        return ++idle_waits_ % 64 == 0 ? full_iterations : 0;
    }
    /// What the wait that used next() found: its answer while spinning, or not.
    void caught(bool in_time) { budget_ = in_time ? full_iterations : budget_ / 4; }

private:
    unsigned budget_ = full_iterations;
    unsigned idle_waits_ = 0;
};

/// The `channel` message's payload (the memfd travels as SCM_RIGHTS).
struct ChannelSetup {
    std::uint64_t region_bytes = channel_region_bytes;
    std::uint32_t count = channel_count;
    std::uint32_t buffer_bytes = channel_buffer_bytes;
};
static_assert(sizeof(ChannelSetup) == 16);

}  // namespace marionette::wire
