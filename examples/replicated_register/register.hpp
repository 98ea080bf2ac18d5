// replicated_register: three replicas and a client over UDP, quorum 2.
//
// Not a real consensus protocol - a compact distributed example in the shape
// of the Zig library's: the client proposes (version, value) to every
// replica, retries the ones that did not answer, and once a quorum accepted
// it sends commit. A replica accepts a proposal unless it already accepted a
// higher version, or the same version with another value (then it answers
// nack). Everything is plain POSIX sockets stepped on one thread, so the
// whole cluster runs inside one test process, simulated or on real loopback.
//
// Bug::count_nacks is the deliberate bug: the client counts every answer as
// an acknowledgement, so a conflicting write "reaches quorum" on rejections
// and commits a second value for a version that already committed one.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "marionette/recorder.hpp"
#include "udp.hpp"

namespace replicated_register {

inline constexpr std::size_t replica_count = 3;
inline constexpr std::size_t quorum = 2;
/// Node numbers: replicas 0..2, the client 3.
inline constexpr std::uint32_t client_node = replica_count;

enum Kind : std::uint8_t { propose = 1, ack = 2, nack = 3, commit = 4 };
enum class Bug { none, count_nacks };

struct Replica {
    std::uint64_t accepted_version = 0, accepted_value = 0;
    std::uint64_t committed_version = 0, committed_value = 0;
    /// Every (version, value) this replica ever accepted / committed, for
    /// the checks.
    std::multimap<std::uint64_t, std::uint64_t> accepted_log;
    std::map<std::uint64_t, std::uint64_t> committed_log;
    std::unique_ptr<udp::Endpoint> endpoint;

    bool accept(std::uint64_t version, std::uint64_t value) {
        if (version < accepted_version) return false;
        if (version == accepted_version && accepted_version != 0 && value != accepted_value) return false;
        accepted_version = version;
        accepted_value = value;
        accepted_log.emplace(version, value);
        return true;
    }
    bool commit(std::uint64_t version, std::uint64_t value) {
        if (version < committed_version) return false;
        if (version == committed_version && committed_version != 0 && value != committed_value) return false;
        committed_version = version;
        committed_value = value;
        committed_log[version] = value;
        return true;
    }
    bool ever_accepted(std::uint64_t version, std::uint64_t value) const {
        auto [begin, end] = accepted_log.equal_range(version);
        for (auto it = begin; it != end; ++it) {
            if (it->second == value) return true;
        }
        return false;
    }
};

class Cluster {
public:
    /// `address(n)` is the IP node n binds to (Env::node_address).
    template <typename Address>
    Cluster(Address address, marionette::Recorder recorder, Bug bug = Bug::none) : recorder_(recorder), bug_(bug) {
        for (std::size_t i = 0; i < replica_count; ++i) {
            replicas_[i].endpoint = std::make_unique<udp::Endpoint>(address(static_cast<std::uint32_t>(i)));
        }
        client_ = std::make_unique<udp::Endpoint>(address(client_node));
    }

    /// Proposes (version, value); commits it if a quorum accepts within
    /// `retry_limit` rounds of `round_ms` each. True if it committed.
    bool write(std::uint64_t version, std::uint64_t value, int retry_limit, int round_ms = 10) {
        recorder_.record("register.write.start", {{"version", version}, {"value", value}, {"retry_limit", retry_limit}});
        std::array<bool, replica_count> answered{};
        std::size_t acks = 0;
        for (int attempt = 0; attempt < retry_limit && acks < quorum; ++attempt) {
            for (std::size_t i = 0; i < replica_count; ++i) {
                if (!answered[i]) client_->send(replicas_[i].endpoint->address(), {propose, version, value});
            }
            pump(round_ms, [&](const udp::Received& r) {
                if (r.message.version != version || r.message.value != value) return;
                for (std::size_t i = 0; i < replica_count; ++i) {
                    if (answered[i] || !udp::same_endpoint(r.from, replicas_[i].endpoint->address())) continue;
                    const bool counts = r.message.kind == ack || (bug_ == Bug::count_nacks && r.message.kind == nack);
                    if (r.message.kind == ack || r.message.kind == nack) answered[i] = true;
                    acks += counts ? 1 : 0;
                }
                return;
            }, [&] { return acks >= quorum; });
        }
        if (acks < quorum) {
            recorder_.record("register.write.no_quorum", {{"version", version}, {"acks", acks}});
            return false;
        }
        recorder_.record("register.write.quorum", {{"version", version}, {"value", value}, {"acks", acks}});
        for (const Replica& replica : replicas_) client_->send(replica.endpoint->address(), {commit, version, value});
        pump(round_ms, [](const udp::Received&) {}, [] { return false; });
        return true;
    }

    const std::array<Replica, replica_count>& replicas() const { return replicas_; }

private:
    /// Runs every node for up to `budget_ms`: replicas answer what they
    /// receive; the client hands answers to `on_answer`; stops early once
    /// `done()`.
    template <typename OnAnswer, typename Done>
    void pump(int budget_ms, OnAnswer on_answer, Done done) {
        const std::uint64_t deadline = udp::monotonic_ns() + static_cast<std::uint64_t>(budget_ms) * 1'000'000ULL;
        std::vector<int> fds{client_->fd()};
        for (const Replica& replica : replicas_) fds.push_back(replica.endpoint->fd());
        while (!done()) {
            bool progressed = false;
            for (std::size_t i = 0; i < replica_count; ++i) {
                while (auto r = replicas_[i].endpoint->receive()) {
                    progressed = true;
                    serve(i, *r);
                }
            }
            while (auto r = client_->receive()) {
                progressed = true;
                on_answer(*r);
            }
            if (progressed) continue;
            const std::uint64_t now = udp::monotonic_ns();
            if (now >= deadline) break;
            udp::wait_readable(fds, static_cast<int>((deadline - now + 999'999) / 1'000'000));
        }
    }

    void serve(std::size_t index, const udp::Received& r) {
        Replica& replica = replicas_[index];
        if (r.message.kind == propose) {
            const bool accepted = replica.accept(r.message.version, r.message.value);
            recorder_.record("replica.accept", {{"replica", index}, {"version", r.message.version},
                                                {"value", r.message.value}, {"accepted", accepted}});
            replica.endpoint->send(r.from, {accepted ? ack : nack, r.message.version, r.message.value});
        } else if (r.message.kind == commit) {
            const bool committed = replica.commit(r.message.version, r.message.value);
            recorder_.record("replica.commit", {{"replica", index}, {"version", r.message.version},
                                                {"value", r.message.value}, {"committed", committed}});
        }
    }

    marionette::Recorder recorder_;
    Bug bug_;
    std::array<Replica, replica_count> replicas_;
    std::unique_ptr<udp::Endpoint> client_;
};

}  // namespace replicated_register
