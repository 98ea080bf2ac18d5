#include "coordinator/channel_host.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace marionette {
namespace {

/// The kinds a guest may send through the channel: everything that is
/// neither set-up (hello, channel), nor the doorbell, nor a reply.
bool allowed_on_channel(std::uint16_t kind) {
    switch (static_cast<wire::Kind>(kind)) {
        case wire::Kind::syscall:
        case wire::Kind::exit:
        case wire::Kind::trace:
        case wire::Kind::block:
        case wire::Kind::forked:
        case wire::Kind::pid:
        case wire::Kind::signal:
        case wire::Kind::net:
        case wire::Kind::timer:
        case wire::Kind::code:
        case wire::Kind::thread:
        case wire::Kind::futex: return true;
        default: return false;
    }
}

}  // namespace

std::unique_ptr<ChannelHost> ChannelHost::adopt(int memfd, const wire::ChannelSetup& setup, bool first_request_posted) {
    if (setup.region_bytes != wire::channel_region_bytes || setup.count != wire::channel_count ||
        setup.buffer_bytes != wire::channel_buffer_bytes) {
        throw ChannelError(fmt::format("its channel has another layout ({} bytes, {} channels of {} bytes; expected {}, {}, {})",
                                       setup.region_bytes, setup.count, setup.buffer_bytes, wire::channel_region_bytes,
                                       wire::channel_count, wire::channel_buffer_bytes));
    }
    const int seals = ::fcntl(memfd, F_GET_SEALS);
    struct stat st {};
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0 || ::fstat(memfd, &st) != 0 ||
        static_cast<std::uint64_t>(st.st_size) < wire::channel_region_bytes) {
        throw ChannelError("its channel is not a sealed memfd of the channel's size");
    }
    void* mapped = ::mmap(nullptr, wire::channel_region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mapped == MAP_FAILED) throw ChannelError(fmt::format("mapping its channel failed: {}", std::strerror(errno)));
    auto* region = static_cast<wire::ChannelRegion*>(mapped);
    if (region->header.magic != wire::channel_magic) {
        ::munmap(mapped, wire::channel_region_bytes);
        throw ChannelError("its channel does not start with the channel magic");
    }
    auto host = std::unique_ptr<ChannelHost>(new ChannelHost(region));
    host->taken_seq_ = first_request_posted ? 0 : host->channel().words.request_seq.load(std::memory_order_acquire);
    return host;
}

ChannelHost::~ChannelHost() { ::munmap(region_, wire::channel_region_bytes); }

bool ChannelHost::pending() const {
    return channel().words.request_seq.load(std::memory_order_acquire) != taken_seq_;
}

bool ChannelHost::spin_for_request(unsigned iterations) const {
    for (unsigned i = 0; i < iterations; ++i) {
        if (pending()) return true;
        __builtin_ia32_pause();
    }
    return pending();
}

void ChannelHost::take(wire::Header& header, std::vector<std::byte>& payload) {
    wire::Channel& c = channel();
    const std::uint32_t seq = c.words.request_seq.load(std::memory_order_acquire);
    const std::uint32_t bytes = c.words.request_bytes.load(std::memory_order_relaxed);
    if (reply_due_) throw ChannelError("it posted a request before the previous one was answered");
    if (seq != taken_seq_ + 1) {
        throw ChannelError(fmt::format("its channel's request number jumped from {} to {}", taken_seq_, seq));
    }
    if (bytes < sizeof header || bytes > wire::channel_buffer_bytes) {
        throw ChannelError(fmt::format("its channel holds a request of {} bytes", bytes));
    }
    std::memcpy(&header, c.buffer, sizeof header);
    if (header.magic != wire::wire_magic || header.version != wire::wire_version) {
        throw ChannelError(fmt::format("its channel holds a message with magic {:#x} version {}", header.magic, header.version));
    }
    if (!allowed_on_channel(header.kind)) {
        throw ChannelError(fmt::format("its channel holds a message of kind {}, which only the socket carries", header.kind));
    }
    if (header.payload_bytes != bytes - sizeof header) {
        throw ChannelError(fmt::format("its channel holds {} bytes for a payload of {}", bytes - sizeof header, header.payload_bytes));
    }
    payload.resize(header.payload_bytes);
    if (!payload.empty()) std::memcpy(payload.data(), c.buffer + sizeof header, payload.size());
    taken_seq_ = seq;
    reply_due_ = true;
}

void ChannelHost::reply(std::span<const std::byte> bytes) {
    if (!reply_due_) return;
    if (bytes.size() > wire::channel_buffer_bytes) {
        throw ChannelError(fmt::format("its reply of {} bytes does not fit its channel", bytes.size()));
    }
    wire::Channel& c = channel();
    if (!bytes.empty()) std::memcpy(c.buffer, bytes.data(), bytes.size());
    c.words.reply_bytes.store(static_cast<std::uint32_t>(bytes.size()), std::memory_order_relaxed);
    c.words.reply_seq.store(taken_seq_, std::memory_order_seq_cst);
    reply_due_ = false;
    if (c.words.guest_waiting.load(std::memory_order_seq_cst) != 0) {
        ::syscall(SYS_futex, &c.words.reply_seq, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }
}

void ChannelHost::set_waiting(bool waiting) {
    channel().words.coordinator_waiting.store(waiting ? 1 : 0, std::memory_order_seq_cst);
}

}  // namespace marionette
