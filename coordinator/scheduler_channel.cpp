// The scheduler's use of the processes' shared-memory channels
// (include/marionette/channel.hpp, coordinator/channel_host.hpp).
//
// Only the running process sends anything (the others are parked, waiting
// for a reply), so while it runs the scheduler spins on its channel for a
// short while after each answer: a program doing file I/O in a loop gets
// each reply within microseconds and no syscall is made on either side.
// When the spin runs out the scheduler sleeps in poll(2) like before, having
// told every channel to ring the doorbell (a message on the socket) when a
// request is posted.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "coordinator/scheduler.hpp"

namespace marionette {
namespace {

/// Requests served in one burst before the sockets (new processes, deaths,
/// output pipes, the control socket) are looked at again.
constexpr unsigned burst_requests = 512;
constexpr auto burst_limit = std::chrono::milliseconds(2);

}  // namespace

bool Scheduler::on_channel(Proc& p, const wire::Header& header, std::vector<std::byte>& payload, std::vector<int>& fds) {
    wire::ChannelSetup setup;
    if (payload.size() < sizeof setup || fds.size() != 1) return false;
    std::memcpy(&setup, payload.data(), sizeof setup);
    try {
        p.channel = ChannelHost::adopt(fds.front(), setup);
    } catch (const ChannelError& error) {
        channel_failure(p, error);
    }
    // Can we take its descriptors by number (a block on descriptors then
    // needs no SCM_RIGHTS, so it can use the channel)? pidfd_getfd needs
    // ptrace rights over it: try its connection.
    long result = 0;
    if (p.pidfd >= 0) {
        const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, p.pidfd, wire::connection_fd, 0));
        if (copy >= 0) {
            ::close(copy);
            result = 1;
        }
    }
    send(p, reply_bytes(header.sequence, result));
    return true;
}

bool Scheduler::serve_channel(Proc& p) {
    if (!p.channel || !p.channel->pending()) return false;
    wire::Header header;
    std::vector<std::byte> payload;
    try {
        p.channel->take(header, payload);
    } catch (const ChannelError& error) {
        channel_failure(p, error);
    }
    ++transport_.through_channel;
    std::vector<int> no_fds;
    // Served from a doorbell on the socket, the reply still goes to the channel.
    const Proc* from_socket = std::exchange(socket_requester_, nullptr);
    const ProcessId id = p.id;
    const bool trace_line = header.kind == static_cast<std::uint16_t>(wire::Kind::trace);
    handle(p, header, payload, no_fds);
    socket_requester_ = from_socket;
    // A thread's `exit` message ends its Proc inside handle(): look it up
    // again before touching it (ASan found the read after free).
    const auto it = processes_.find(id);
    if (it == processes_.end() || it->second.get() != &p) return true;
    // A trace line has no reply: the guest learns it was taken.
    if (p.channel && trace_line) p.channel->acknowledge();
    return true;
}

void Scheduler::serve_process_channels(Proc& process) {
    if (Proc* runner = running(); runner != nullptr && &process_of(*runner) == &process) {
        serve_channel(*runner);
        return;
    }
    std::vector<ProcessId> ids{process.id};
    for (const auto& [id, p] : processes_) {
        if (p->leader == process.id) ids.push_back(id);
    }
    for (ProcessId id : ids) {
        if (auto it = processes_.find(id); it != processes_.end()) serve_channel(*it->second);
    }
}

bool Scheduler::serve_channels_spinning() {
    const auto start = std::chrono::steady_clock::now();
    bool served = false;
    for (unsigned n = 0; n < burst_requests; ++n) {
        Proc* runner = running();
        if (runner == nullptr || !runner->channel || process_of(*runner).conn < 0) break;
        // How long to spin: wire::SpinPolicy, like the guest's.
        const unsigned spins = channel_spin_.next();
        const bool caught = runner->channel->spin_for_request(spins);
        if (spins > 0) channel_spin_.caught(caught);
        if (!caught) break;
        ++transport_.caught_spinning;
        serve_channel(*runner);
        served = true;
        if (stopped_ || running() == nullptr) finish_deferred_deaths();
        schedule();
        if (n % 64 == 63 && std::chrono::steady_clock::now() - start > burst_limit) break;
    }
    return served;
}

bool Scheduler::prepare_to_sleep() {
    // Only the running process or thread can post (the others wait for
    // replies): its channel is the one to ring the doorbell.
    Proc* runner = running();
    if (runner == nullptr || !runner->channel) return true;
    told_to_ring_ = runner->id;
    runner->channel->set_waiting(true);
    // Posted before it could see the flag: serve it instead of sleeping.
    if (!runner->channel->pending()) return true;
    woke_up();
    return false;
}

void Scheduler::woke_up() {
    if (auto it = processes_.find(told_to_ring_); it != processes_.end() && it->second->channel) {
        it->second->channel->set_waiting(false);
    }
    told_to_ring_ = 0;
}

void Scheduler::harvest_call_counts(Proc& p) {
    if (!p.channel) return;
    const wire::ChannelCallCounts& counts = p.channel->call_counts();
    for (std::uint32_t nr = 0; nr < wire::counted_syscalls; ++nr) {
        const std::uint64_t calls = counts.calls[nr].load(std::memory_order_relaxed);
        if (calls == 0) continue;
        TransportStats::Calls& sum = transport_.calls[nr];
        sum.calls += calls;
        sum.forwarded += counts.forwarded[nr].load(std::memory_order_relaxed);
        sum.over_socket += counts.over_socket[nr].load(std::memory_order_relaxed);
    }
}

std::string TransportStats::format() const {
    std::string out = fmt::format(
        "  transport: {} requests through shared memory ({} caught while the scheduler spun), {} messages over "
        "sockets, {} doorbells\n",
        through_channel, caught_spinning, over_socket, doorbells);
    if (calls.empty()) return out;
    out += fmt::format("  calls intercepted:\n    {:<20} {:>10} {:>10} {:>10}\n", "syscall", "calls", "forwarded", "by socket");
    std::vector<std::pair<long, Calls>> rows(calls.begin(), calls.end());
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.calls > b.second.calls; });
    for (const auto& [nr, row] : rows) {
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, static_cast<int>(nr));
        out += fmt::format("    {:<20} {:>10} {:>10} {:>10}\n", name != nullptr ? name : fmt::format("#{}", nr), row.calls,
                           row.forwarded, row.over_socket);
        std::free(name);
    }
    return out;
}

void Scheduler::channel_failure(Proc& p, const ChannelError& error) {
    const std::string message =
        fmt::format("process {} ({}) broke its channel to the coordinator: {}", p.pid, p.name, error.what());
    trace_.emit("coordinator.channel_error", {{"pid", static_cast<std::uint64_t>(p.pid)}, {"program", p.name},
                                              {"reason", std::string(error.what())}});
    // Nothing it says can be trusted any more; the launcher ends the rest.
    if (p.real_pid > 0) ::kill(p.real_pid, SIGKILL);
    throw ChannelError(message);
}

}  // namespace marionette
