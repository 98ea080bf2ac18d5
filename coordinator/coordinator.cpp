#include "coordinator/coordinator.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "coordinator/fd_io.hpp"
#include "coordinator/forwarded.hpp"
#include "sim/random.hpp"
#include "sim/vfs/path.hpp"

namespace marionette {

struct Coordinator::Process {
    explicit Process(NodeFiles& node) : files(node, "/") {}
    explicit Process(ProcessFiles copy) : files(std::move(copy)) {}
    ProcessFiles files;
    bool introduced = false;
    std::int64_t real_pid = 0;
    std::optional<wire::HelloReply> identity;
};

namespace {

/// How many events named `name` the run's trace has counted.
std::uint64_t run_count(const Trace& trace, const std::string& name) {
    const auto& counts = trace.summary().by_name;
    const auto it = counts.find(name);
    return it == counts.end() ? 0 : it->second;
}

std::unique_ptr<Store> make_store(const std::filesystem::path& dir) {
    if (dir.empty()) return std::make_unique<MemStore>();
    std::filesystem::create_directories(dir);
    return std::make_unique<DirStore>(dir);
}

template <typename T>
T read_struct(std::span<const std::byte> bytes) {
    T value;
    std::memcpy(&value, bytes.data(), sizeof value);
    return value;
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options, Trace& trace)
    : options_(std::move(options)),
      trace_(trace),
      own_clock_(options_.start_ns),
      clock_(options_.shared_clock != nullptr ? *options_.shared_clock : own_clock_),
      store_(make_store(options_.store_dir)),
      disk_(std::make_unique<Disk>(options_.disk, *store_, Prng(options_.seed).derive("disk", options_.node_index), trace_, clock_)),
      files_(trace_) {
    for (const MountSpec& m : options_.mounts) {
        files_.mount(m.host_prefix, *disk_, m.disk_prefix);
        if (!m.import_from.empty()) {
            disk_->import_tree(m.import_from, m.disk_prefix);
        }
    }
    if (options_.host_view) {
        files_.mount("/", *disk_, host_view_disk_prefix);
        disk_->attach_host(host_view_disk_prefix, "/");
        for (std::string_view real : always_real_paths) files_.keep_real(real);
        for (const std::string& real : options_.real_paths) files_.keep_real(real);
    }
}

std::vector<std::string> shim_mount_lines(const CoordinatorOptions& options) {
    std::vector<std::string> lines;
    for (const MountSpec& m : options.mounts) lines.push_back(m.host_prefix);
    if (options.host_view) {
        lines.emplace_back("/");
        for (std::string_view real : always_real_paths) lines.push_back("!" + std::string(real));
        for (const std::string& real : options.real_paths) lines.push_back("!" + real);
    }
    return lines;
}

Coordinator::~Coordinator() {
    // Descriptors close before the disk goes away.
    processes_.clear();
}

ProcessId Coordinator::add_process() {
    const ProcessId id = next_id_++;
    processes_.emplace(id, std::make_unique<Process>(files_));
    return id;
}

ProcessId Coordinator::fork_process(ProcessId parent) {
    const ProcessId id = next_id_++;
    processes_.emplace(id, std::make_unique<Process>(processes_.at(parent)->files.fork_copy()));
    return id;
}

void Coordinator::set_identity(ProcessId id, const wire::HelloReply& identity) {
    processes_.at(id)->identity = identity;
}

void Coordinator::end_process(ProcessId id) { processes_.erase(id); }

ProcessFiles* Coordinator::process_files(ProcessId id) {
    auto it = processes_.find(id);
    return it == processes_.end() ? nullptr : &it->second->files;
}

CrashReport Coordinator::crash() {
    processes_.clear();
    disarm_crash();
    crash_requested_ = false;
    return disk_->crash();
}

void Coordinator::restart() {
    disk_->restart();
    crash_requested_ = false;
}

void Coordinator::arm_crash_at(Ns at_ns) {
    crash_at_ns_ = at_ns;
    trace_.emit("coordinator.crash_armed", {{"crash_at_ns", at_ns - std::min(at_ns, options_.start_ns)}});
}

void Coordinator::arm_crash_after(std::string event, std::uint64_t count, bool own_events) {
    trace_.emit("coordinator.crash_armed", {{"after_event", event}, {"count", count}});
    crash_event_ = std::move(event);
    crash_event_count_ = count;
    crash_event_own_ = own_events;
    crash_event_caused_ = 0;
    crash_event_mark_ = run_count(trace_, crash_event_);
}

void Coordinator::begin_caused() {
    if (crash_event_own_ && !crash_event_.empty()) crash_event_mark_ = run_count(trace_, crash_event_);
}

void Coordinator::end_caused() {
    if (!crash_event_own_ || crash_event_.empty()) return;
    crash_event_caused_ += run_count(trace_, crash_event_) - crash_event_mark_;
    crash_event_mark_ = run_count(trace_, crash_event_);
}

void Coordinator::arm_crash_rate(Rate rate, Prng stream) {
    trace_.emit("coordinator.crash_armed", {{"rate", rate.to_string()}});
    crash_rate_ = rate;
    crash_rate_stream_ = stream;
    crash_rate_fired_ = false;
}

void Coordinator::request_crash(ProcessId id) {
    crash_requested_ = true;
    disarm_crash();
    trace_.emit("coordinator.crash_point", {{"process", id}});
}

void Coordinator::disarm_crash() {
    crash_at_ns_.reset();
    crash_event_.clear();
    crash_event_own_ = false;
    crash_rate_.reset();
    crash_rate_fired_ = false;
}

bool Coordinator::crash_point_reached() const {
    if (crash_rate_fired_) return true;
    if (crash_at_ns_ && clock_.now_ns() >= *crash_at_ns_) return true;
    if (crash_event_.empty()) return false;
    if (crash_event_own_) {
        // Inside a message of this node (begin_caused .. end_caused): what
        // it caused before, and in this message so far.
        return crash_event_caused_ + (run_count(trace_, crash_event_) - crash_event_mark_) >= crash_event_count_;
    }
    return run_count(trace_, crash_event_) >= crash_event_count_;
}

std::vector<std::byte> Coordinator::reply(std::uint32_t sequence, long result, std::span<const std::byte> out,
                                          std::uint32_t flags) {
    wire::Header header;
    header.kind = static_cast<std::uint16_t>(wire::Kind::reply);
    header.sequence = sequence;
    wire::SyscallReply body;
    body.result = result;
    body.now_ns = clock_.now_ns();
    body.out_bytes = static_cast<std::uint32_t>(out.size());
    body.flags = flags;
    header.payload_bytes = static_cast<std::uint32_t>(sizeof body + out.size());
    std::vector<std::byte> bytes(sizeof header + sizeof body + out.size());
    std::memcpy(bytes.data(), &header, sizeof header);
    std::memcpy(bytes.data() + sizeof header, &body, sizeof body);
    if (!out.empty()) std::memcpy(bytes.data() + sizeof header + sizeof body, out.data(), out.size());
    return bytes;
}

std::vector<std::byte> Coordinator::protocol_error(ProcessId id, std::uint32_t sequence, const std::string& why) {
    trace_.emit("coordinator.protocol_error", {{"process", id}, {"reason", why}});
    return reply(sequence, -EPROTO, {});
}

std::vector<std::byte> Coordinator::handle(ProcessId id, const wire::Header& header, std::span<const std::byte> payload) {
    if (header.magic != wire::wire_magic) return protocol_error(id, header.sequence, "bad magic");
    if (header.version != wire::wire_version) {
        return protocol_error(id, header.sequence,
                              "wire version " + std::to_string(header.version) + ", coordinator speaks " +
                                  std::to_string(wire::wire_version));
    }
    if (header.payload_bytes != payload.size()) return protocol_error(id, header.sequence, "payload size mismatch");
    if (!processes_.contains(id)) return protocol_error(id, header.sequence, "unknown process");
    switch (static_cast<wire::Kind>(header.kind)) {
        case wire::Kind::hello: return handle_hello(id, header, payload);
        case wire::Kind::syscall: return handle_syscall(id, header, payload);
        case wire::Kind::exit: end_process(id); return reply(header.sequence, 0, {});
        default: return protocol_error(id, header.sequence, "unknown message kind " + std::to_string(header.kind));
    }
}

std::vector<std::byte> Coordinator::handle_hello(ProcessId id, const wire::Header& header,
                                                 std::span<const std::byte> payload) {
    if (payload.size() < sizeof(wire::Hello)) return protocol_error(id, header.sequence, "short hello");
    auto hello = read_struct<wire::Hello>(payload);
    if (payload.size() != sizeof hello + hello.cwd_bytes || hello.cwd_bytes == 0) {
        return protocol_error(id, header.sequence, "hello cwd size mismatch");
    }
    Process& p = *processes_.at(id);
    // The first image on a connection the launcher made cannot tell itself
    // from a later one: the first hello of a process is its introduction.
    if (hello.origin == wire::Origin::exec && !p.introduced) hello.origin = wire::Origin::launched;
    const bool new_image = hello.origin == wire::Origin::exec || hello.origin == wire::Origin::spawned;
    if (hello.origin == wire::Origin::exec && hello.real_pid != p.real_pid) {
        trace_.emit("coordinator.refused_hello", {{"process", id}, {"reason", "exec_of_unknown_process"}});
        return reply(header.sequence, -EPERM, {});
    }
    if (hello.origin != wire::Origin::exec && p.introduced) {
        // One connection speaks for one process: a second introduction on
        // it would let two processes share a descriptor table.
        trace_.emit("coordinator.refused_hello", {{"process", id}, {"reason", "already_introduced"}});
        return reply(header.sequence, -EPERM, {});
    }
    p.real_pid = hello.real_pid;
    // A new image after execve: close-on-exec descriptors go, the others
    // stay (as in the kernel).
    if (new_image) p.files.close_on_exec();
    std::string cwd(reinterpret_cast<const char*>(payload.data() + sizeof hello), hello.cwd_bytes);
    if (!p.introduced || !p.files.cwd_simulated()) p.files.set_cwd(normalize_path("/", cwd));
    p.files.set_umask(hello.umask);
    p.introduced = true;
    clock_.run_until(std::max(clock_.now_ns(), hello.now_ns));
    // The reply gives the identity, then lists the simulated descriptors
    // the image inherits, so its shim knows which numbers to forward.
    wire::HelloReply identity{hello.pid, hello.ppid, hello.process_index};
    if (p.identity) identity = *p.identity;
    p.identity = identity;
    std::vector<std::byte> out(sizeof identity);
    std::memcpy(out.data(), &identity, sizeof identity);
    for (int fd : p.files.descriptors()) {
        const auto value = static_cast<std::int32_t>(fd);
        const auto* bytes = reinterpret_cast<const std::byte*>(&value);
        out.insert(out.end(), bytes, bytes + sizeof value);
    }
    return reply(header.sequence, 0, out);
}

std::vector<std::byte> Coordinator::handle_syscall(ProcessId id, const wire::Header& header,
                                                   std::span<const std::byte> payload) {
    Process& p = *processes_.at(id);
    if (!p.introduced) return protocol_error(id, header.sequence, "syscall before hello");
    if (payload.size() < sizeof(wire::SyscallRequest)) return protocol_error(id, header.sequence, "short request");
    const auto request = read_struct<wire::SyscallRequest>(payload);
    const std::size_t inputs = std::size_t{request.in_bytes[0]} + request.in_bytes[1];
    if (payload.size() != sizeof request + inputs) return protocol_error(id, header.sequence, "input size mismatch");
    if (request.out_capacity > wire::max_payload_bytes) return protocol_error(id, header.sequence, "output too large");
    // The caller's clock may be ahead (its own per-call costs); events due
    // by then happen first.
    clock_.run_until(std::max(clock_.now_ns(), request.now_ns));
    std::vector<std::byte> out(request.out_capacity);
    detail::CallContext ctx{p.files, request, {}, out};
    ctx.in[0] = payload.subspan(sizeof request, request.in_bytes[0]);
    ctx.in[1] = payload.subspan(sizeof request + request.in_bytes[0], request.in_bytes[1]);
    const long result = detail::run_forwarded(ctx);
    clock_.advance(p.files.take_latency_ns());
    if (ctx.passthrough) return reply(header.sequence, 0, {}, wire::reply_passthrough);
    // One draw per call the node served, so the crash point is a function
    // of the seed and the sequence of calls.
    if (crash_rate_ && !crash_requested_ && crash_rate_->roll(crash_rate_stream_).fired) crash_rate_fired_ = true;
    return reply(header.sequence, result, std::span(out).first(ctx.out_size));
}

bool Coordinator::serve_one(int fd, ProcessId id) {
    wire::Header header;
    if (!read_exact(fd, &header, sizeof header) || header.magic != wire::wire_magic ||
        header.payload_bytes > wire::max_payload_bytes + sizeof(wire::SyscallRequest)) {
        end_process(id);
        return false;
    }
    std::vector<std::byte> payload(header.payload_bytes);
    if (!read_exact(fd, payload.data(), payload.size())) {
        end_process(id);
        return false;
    }
    const std::vector<std::byte> answer = handle(id, header, payload);
    if (!crash_requested_ && crash_point_reached()) {
        // Power goes right after this call reached the node's kernel: the
        // caller never learns how it ended.
        request_crash(id);
        return false;
    }
    std::size_t done = 0;
    while (done < answer.size()) {
        const ssize_t n = ::write(fd, answer.data() + done, answer.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            end_process(id);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return processes_.contains(id);
}

}  // namespace marionette
