// durable_broadcast: a leader that logs an operation to its write-ahead log
// and broadcasts it to three replicas over UDP; an operation acknowledged by
// a quorum must be recoverable from the leader's log after a crash.
//
// The leader's log is one 24-byte record (magic, op id, value, checksum) in
// a file created durably (file and directory fsynced). submit() appends and,
// with sync_before_broadcast, fsyncs before broadcasting. The deliberate bug
// is sync_before_broadcast = false: the replicas acknowledge an operation
// the leader's disk does not hold yet, and a crash loses it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "marionette/recorder.hpp"
#include "udp.hpp"

namespace durable_broadcast {

inline constexpr std::size_t replica_count = 3;
inline constexpr std::size_t quorum = 2;
inline constexpr std::uint32_t leader_node = replica_count;
inline constexpr std::uint32_t magic = 0x4d444231;  // "MDB1"
inline constexpr std::size_t record_size = 24;

enum Kind : std::uint8_t { replicate = 1, ack = 2 };

struct Op {
    std::uint64_t id = 0;
    std::uint64_t value = 0;
    friend bool operator==(const Op&, const Op&) = default;
};

inline std::uint32_t checksum(const Op& op) {
    const auto fold = [](std::uint64_t v) { return static_cast<std::uint32_t>(v ^ (v >> 32)); };
    return magic ^ (fold(op.id) * 2654435761u) ^ (fold(op.value) * 40503u) ^ 0x5a5aa5a5u;
}

class Service {
public:
    template <typename Address>
    Service(Address address, std::string wal_path, marionette::Recorder recorder)
        : wal_path_(std::move(wal_path)), recorder_(recorder) {
        for (std::size_t i = 0; i < replica_count; ++i) {
            replicas_[i] = std::make_unique<udp::Endpoint>(address(static_cast<std::uint32_t>(i)));
        }
        leader_ = std::make_unique<udp::Endpoint>(address(leader_node));
        create_log();
    }
    ~Service() { close_log(); }
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    /// Logs `op` (fsynced first when `sync_before_broadcast`), then
    /// broadcasts it until a quorum acknowledges or `retry_limit` rounds pass.
    void submit(Op op, int retry_limit, bool sync_before_broadcast) {
        append(op, sync_before_broadcast);
        broadcast(op, retry_limit);
    }

    /// After a crash: reads the log back (a new descriptor: the old one died
    /// with the machine).
    void recover() {
        close_log();
        fd_ = check(::open(wal_path_.c_str(), O_RDWR), "open");
        std::array<unsigned char, record_size> bytes{};
        durable_op_.reset();
        if (::pread(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) durable_op_ = decode(bytes);
        if (durable_op_) {
            recorder_.record("durable.recover.record", {{"op", durable_op_->id}, {"value", durable_op_->value}});
        } else {
            recorder_.record("durable.recover.reject", {{"offset", 0}});
        }
    }

    /// Re-broadcasts what recovery found.
    void broadcast_recovered(int retry_limit) {
        if (durable_op_) broadcast(*durable_op_, retry_limit);
    }

    const std::optional<Op>& durable_op() const { return durable_op_; }
    const std::optional<Op>& last_quorum_op() const { return last_quorum_op_; }
    const std::array<std::optional<Op>, replica_count>& accepted() const { return accepted_; }

private:
    static int check(int result, const char* what) {
        if (result < 0) throw std::system_error(errno, std::generic_category(), what);
        return result;
    }

    void create_log() {
        fd_ = check(::open(wal_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644), "open");
        check(::fsync(fd_), "fsync");
        const std::string dir = wal_path_.substr(0, wal_path_.rfind('/'));
        const int dir_fd = check(::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY), "open dir");
        check(::fsync(dir_fd), "fsync dir");
        ::close(dir_fd);
    }
    void close_log() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    void append(const Op& op, bool sync) {
        std::array<unsigned char, record_size> bytes{};
        const std::uint32_t sum = checksum(op);
        std::memcpy(&bytes[0], &magic, 4);
        std::memcpy(&bytes[4], &op.id, 8);
        std::memcpy(&bytes[12], &op.value, 8);
        std::memcpy(&bytes[20], &sum, 4);
        if (::pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
            throw std::system_error(errno, std::generic_category(), "pwrite");
        }
        if (sync) {
            check(::fsync(fd_), "fsync");
            durable_op_ = op;
        }
        recorder_.record("durable.append", {{"op", op.id}, {"value", op.value}, {"sync", sync}});
    }

    static std::optional<Op> decode(const std::array<unsigned char, record_size>& bytes) {
        std::uint32_t m = 0, sum = 0;
        Op op;
        std::memcpy(&m, &bytes[0], 4);
        std::memcpy(&op.id, &bytes[4], 8);
        std::memcpy(&op.value, &bytes[12], 8);
        std::memcpy(&sum, &bytes[20], 4);
        if (m != magic || op.id == 0 || sum != checksum(op)) return std::nullopt;
        return op;
    }

    void broadcast(const Op& op, int retry_limit) {
        std::array<bool, replica_count> acked{};
        std::size_t acks = 0;
        for (int attempt = 0; attempt < retry_limit && acks < quorum; ++attempt) {
            for (std::size_t i = 0; i < replica_count; ++i) {
                if (!acked[i]) leader_->send(replicas_[i]->address(), {replicate, op.id, op.value});
            }
            pump(10, [&](std::size_t replica) {
                if (!acked[replica]) ++acks;
                acked[replica] = true;
            }, [&] { return acks >= quorum; }, op);
        }
        if (acks >= quorum) last_quorum_op_ = op;
        recorder_.record(acks >= quorum ? "durable.broadcast.quorum" : "durable.broadcast.no_quorum",
                         {{"op", op.id}, {"value", op.value}, {"acks", acks}});
    }

    /// Steps every node for up to `budget_ms`: replicas accept and ack, the
    /// leader counts acks for `op`.
    template <typename OnAck, typename Done>
    void pump(int budget_ms, OnAck on_ack, Done done, const Op& op) {
        const std::uint64_t deadline = udp::monotonic_ns() + static_cast<std::uint64_t>(budget_ms) * 1'000'000ULL;
        std::vector<int> fds{leader_->fd()};
        for (const auto& replica : replicas_) fds.push_back(replica->fd());
        while (!done()) {
            bool progressed = false;
            for (std::size_t i = 0; i < replica_count; ++i) {
                while (auto r = replicas_[i]->receive()) {
                    progressed = true;
                    const Op got{r->message.version, r->message.value};
                    if (!accepted_[i] || accepted_[i]->id <= got.id) accepted_[i] = got;
                    recorder_.record("durable.replica_accept", {{"replica", i}, {"op", got.id}, {"value", got.value}});
                    replicas_[i]->send(r->from, {ack, got.id, got.value});
                }
            }
            while (auto r = leader_->receive()) {
                progressed = true;
                for (std::size_t i = 0; i < replica_count; ++i) {
                    if (udp::same_endpoint(r->from, replicas_[i]->address()) && r->message.version == op.id) on_ack(i);
                }
            }
            if (progressed) continue;
            const std::uint64_t now = udp::monotonic_ns();
            if (now >= deadline) break;
            udp::wait_readable(fds, static_cast<int>((deadline - now + 999'999) / 1'000'000));
        }
    }

    std::string wal_path_;
    marionette::Recorder recorder_;
    int fd_ = -1;
    std::array<std::unique_ptr<udp::Endpoint>, replica_count> replicas_;
    std::unique_ptr<udp::Endpoint> leader_;
    std::array<std::optional<Op>, replica_count> accepted_{};
    std::optional<Op> durable_op_;
    std::optional<Op> last_quorum_op_;
};

}  // namespace durable_broadcast
