#include "launcher/session.hpp"

#include "launcher/tsc_probe.hpp"
#include "marionette/wire.hpp"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace marionette {
namespace {

/// The descriptor numbers the shim's trace pipe and coordinator connection
/// get in the child.
constexpr int child_trace_fd = 1000;
constexpr int child_coordinator_fd = wire::connection_fd;

struct Pipe {
    int read_end = -1;
    int write_end = -1;
};

Pipe make_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    return {fds[0], fds[1]};
}

/// Seccomp filters the launcher itself runs under (a container's), so the
/// shim can tell its own inherited filter from those.
int own_seccomp_filters() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Seccomp_filters:", 0) == 0) return std::stoi(line.substr(16));
    }
    return 0;
}

std::vector<std::string> child_environment(const ProgramRunOptions& options, int trace_fd) {
    std::vector<std::pair<std::string, std::string>> set = {
        {"MARIONETTE_SEED", std::to_string(options.seed)},
        {"MARIONETTE_TRACE_FD", std::to_string(trace_fd)},
        {"MARIONETTE_BASE_FILTERS", std::to_string(own_seccomp_filters())},
        {"MARIONETTE_TSC", std::string(tsc_env_value(tsc_mechanism()))},
    };
    if (options.start_realtime_ns != 0) set.emplace_back("MARIONETTE_START_TIME_NS", std::to_string(options.start_realtime_ns));
    if (options.start_elapsed_ns != 0) set.emplace_back("MARIONETTE_START_ELAPSED_NS", std::to_string(options.start_elapsed_ns));
    if (options.virtual_timeout_ns != 0) set.emplace_back("MARIONETTE_TIMEOUT_NS", std::to_string(options.virtual_timeout_ns));
    std::string mounts;
    for (const std::string& prefix : options.mount_prefixes) mounts += (mounts.empty() ? "" : "\n") + prefix;
    set.emplace_back("MARIONETTE_MOUNTS", mounts);
    const char* old_preload = std::getenv("LD_PRELOAD");
    set.emplace_back("LD_PRELOAD", old_preload != nullptr && *old_preload != '\0'
                                       ? options.preload_path + ":" + old_preload
                                       : options.preload_path);
    for (const auto& extra : options.extra_env) set.push_back(extra);
    for (const auto& extra : options.process_env) set.push_back(extra);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string_view key = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& [k, v] : set) overridden = overridden || key == k;
        if (!overridden) env.emplace_back(entry);
    }
    for (const auto& [k, v] : set) env.push_back(k + "=" + v);
    return env;
}

[[noreturn]] void exec_child(const ProgramRunOptions& options, const std::vector<std::string>& env, Pipe out, Pipe err,
                             Pipe trace, Pipe exec_error, int coordinator_socket) {
    // Only async-signal-safe calls from here on (the launcher may have threads).
    // The program starts with every signal at its default and none blocked,
    // however the launcher was started (a background job ignores SIGINT and
    // SIGQUIT, nohup SIGHUP): a shell's start-up differs with them.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) {
        if (signal != SIGKILL && signal != SIGSTOP) sigaction(signal, &default_action, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(out.write_end, 1);
    dup2(err.write_end, 2);
    // Docker's default seccomp profile, for one, refuses this flag.
    if (personality(ADDR_NO_RANDOMIZE) == -1) {
        static const char warning[] =
            "marionette: warning: cannot disable ASLR (personality refused); addresses may differ between runs\n";
        (void)!write(2, warning, sizeof warning - 1);
    }
    int trace_fd = dup2(trace.write_end, child_trace_fd);
    if (trace_fd < 0) trace_fd = fcntl(trace.write_end, F_DUPFD, 100);
    (void)trace_fd;
    // dup2 clears FD_CLOEXEC: the connection survives exec into the program.
    if (coordinator_socket >= 0) dup2(coordinator_socket, child_coordinator_fd);
    // Nothing else of the launcher's may leak into the program (its trace
    // file, say): the program would see descriptor numbers taken that a
    // plain run has free. Close-on-exec, so the exec error pipe still works.
    syscall(SYS_close_range, 3, child_trace_fd - 1, CLOSE_RANGE_CLOEXEC);
    syscall(SYS_close_range, child_coordinator_fd + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    std::vector<char*> argv;
    for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    execvpe(argv[0], argv.data(), envp.data());
    const int error = errno;
    (void)!write(exec_error.write_end, &error, sizeof error);
    _exit(127);
}

/// argv[0] as execvp would find it ("" if not found).
std::string resolve_program(const std::string& program) {
    if (program.find('/') != std::string::npos) return program;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        const std::string candidate = dir + "/" + program;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return {};
}

/// True for an ELF executable without PT_INTERP: the preload cannot reach it.
bool is_static_executable(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    Elf64_Ehdr header{};
    if (!in.read(reinterpret_cast<char*>(&header), sizeof header)) return false;
    if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64) return false;
    if (header.e_phentsize != sizeof(Elf64_Phdr)) return false;
    for (int i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr program{};
        in.seekg(static_cast<std::streamoff>(header.e_phoff + static_cast<std::uint64_t>(i) * sizeof program));
        if (!in.read(reinterpret_cast<char*>(&program), sizeof program)) return false;
        if (program.p_type == PT_INTERP) return false;
    }
    return true;
}

}  // namespace

struct Session::Launched {
    ProcessId id = 0;
    Coordinator* node = nullptr;
    pid_t pid = -1;
    ProgramRunOptions options;
    ProgramRunResult result;
    pollfd pipes[3] = {{-1, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    std::string trace_buffer;
    bool reaped = false;
};

Session::Session(EventQueue& clock, Trace& trace, std::uint64_t seed, Ns wall_timeout_ns, SchedulerHooks hooks)
    : clock_(clock), trace_(trace), wall_timeout_ns_(wall_timeout_ns),
      scheduler_(clock, trace, seed, with_line_hook(std::move(hooks))) {}

SchedulerHooks Session::with_line_hook(SchedulerHooks hooks) {
    // The processes' own events join the node's in the order they happen;
    // a process's clock may run ahead of the node's (its per-call costs),
    // and the run's time follows it.
    hooks.on_line = [this](Coordinator& node, std::int32_t pid, std::string_view line) {
        TraceEvent event = parse_shim_line(line);
        const Ns at = node.start_ns() + event.at_ns;
        if (at > clock_.now_ns()) clock_.run_until(at);
        const bool has_pid = std::any_of(event.fields.begin(), event.fields.end(),
                                         [](const TraceField& field) { return field.key == "pid"; });
        if (!has_pid) event.fields.emplace_back("pid", static_cast<std::uint64_t>(pid));
        if (auto it = node_names_.find(&node); it != node_names_.end()) event.fields.emplace_back("node", it->second);
        trace_.emit(event.name, event.fields);
    };
    // At every decision the process that ran last has finished its writes
    // to its stdout/stderr pipes: forwarding them now puts the output of
    // different processes (a cluster's nodes) in the order they ran, the
    // same in every run, not in the order the launcher happens to read.
    hooks.on_decision = [this, next = std::move(hooks.on_decision)] {
        forward_ready_outputs();
        if (next) next();
    };
    return hooks;
}

Session::~Session() {
    end_all();
    for (auto& [id, l] : launches_) {
        for (pollfd& p : l->pipes) {
            if (p.fd >= 0) close(p.fd);
        }
        if (!l->reaped && l->pid > 0) waitpid(l->pid, nullptr, 0);
    }
}

ProcessId Session::launch(Coordinator& node, const ProgramRunOptions& options, std::string node_name) {
    auto l = std::make_unique<Launched>();
    l->node = &node;
    l->options = options;
    if (!node_name.empty()) node_names_[&node] = node_name;
    if (const std::string path = resolve_program(options.argv.at(0)); !path.empty() && is_static_executable(path)) {
        l->result.spawn_error = "'" + path + "' is statically linked: the preload library cannot reach it, so it would "
                                "run outside the simulation; not started";
        l->reaped = true;
        const ProcessId id = static_cast<ProcessId>(0x80000000u + launches_.size());
        l->id = id;
        launches_.emplace(id, std::move(l));
        return id;
    }
    Pipe out = make_pipe(), err = make_pipe(), trace = make_pipe(), exec_error = make_pipe();
    const Scheduler::Launch launch = scheduler_.prepare_launch(node, std::filesystem::path(options.argv[0]).filename().string());
    std::vector<std::string> env = child_environment(options, child_trace_fd);
    env.push_back("MARIONETTE_COORDINATOR_ADDRESS=" + scheduler_.address());
    if (!node_name.empty()) env.push_back("MARIONETTE_NODE=" + node_name);
    // What the world outside the node can feed: the processes block on
    // these natively (interpose/blocking.hpp).
    std::string external;
    for (int fd : {0, out.write_end, err.write_end}) {
        struct stat st {};
        if (fstat(fd, &st) == 0) {
            external += (external.empty() ? "" : ",") + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        }
    }
    env.push_back("MARIONETTE_EXTERNAL_FILES=" + external);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) exec_child(options, env, out, err, trace, exec_error, launch.child_fd);
    for (int fd : {out.write_end, err.write_end, trace.write_end, exec_error.write_end, launch.child_fd}) close(fd);
    scheduler_.launched(launch.id, pid);
    l->id = launch.id;
    l->pid = pid;
    int exec_errno = 0;
    if (read(exec_error.read_end, &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
        l->result.spawn_error = "cannot execute '" + options.argv[0] + "': " + std::strerror(exec_errno);
    }
    close(exec_error.read_end);
    l->pipes[0].fd = out.read_end;
    l->pipes[1].fd = err.read_end;
    l->pipes[2].fd = trace.read_end;
    // Never blocking: a pipe poll said was ready may have been drained at a
    // decision since (with_line_hook).
    for (const pollfd& p : l->pipes) fcntl(p.fd, F_SETFL, O_NONBLOCK);
    output_fds_stale_ = true;
    launches_.emplace(launch.id, std::move(l));
    return launch.id;
}

bool Session::finished(ProcessId id) const { return launches_.at(id)->reaped; }

const ProgramRunResult& Session::result(ProcessId id) const { return launches_.at(id)->result; }

std::size_t Session::running() const {
    std::size_t n = 0;
    for (const auto& [id, l] : launches_) n += finished(id) ? 0 : 1;
    return n;
}

void Session::reap(Launched& l) {
    if (l.reaped || l.pid <= 0 || !scheduler_.ended(l.id)) return;
    int status = 0;
    while (waitpid(l.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) l.result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) l.result.signal = WTERMSIG(status);
    l.reaped = true;
    // Everything the process wrote is in its pipes now: read it here, so
    // its output is complete at the same point of every run. (A descendant
    // still holding a pipe keeps it open; its later output is read later.)
    for (std::size_t which = 0; which < 3; ++which) {
        if (l.pipes[which].fd < 0) continue;
        fcntl(l.pipes[which].fd, F_SETFL, O_NONBLOCK);
        while (read_pipe(l, which)) {
        }
    }
}

bool Session::read_pipe(Launched& l, std::size_t which) {
    char buffer[65536];
    pollfd& p = l.pipes[which];
    const ssize_t n = read(p.fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (n <= 0) {
        close(p.fd);
        p.fd = -1;
        output_fds_stale_ = true;
        return false;
    }
    const std::string_view data(buffer, static_cast<std::size_t>(n));
    if (which == 2) {
        // Lines of an image that could not reach the coordinator.
        l.trace_buffer.append(data);
        std::size_t newline;
        while ((newline = l.trace_buffer.find('\n')) != std::string::npos) {
            l.result.shim_events.push_back(parse_shim_line(std::string_view(l.trace_buffer).substr(0, newline)));
            l.trace_buffer.erase(0, newline + 1);
        }
        return true;
    }
    (which == 0 ? l.result.stdout_digest : l.result.stderr_digest).add(data);
    if (which == 0 && l.options.capture_stdout) l.result.stdout_text.append(data);
    if (l.options.forward_output) (void)!write(which == 0 ? 1 : 2, data.data(), data.size());
    return true;
}

void Session::pump_outputs(std::span<pollfd> fds, std::vector<Launched*>& owners) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        Launched& l = *owners[i / 3];
        if (l.pipes[i % 3].fd == fds[i].fd) read_pipe(l, i % 3);
    }
}

void Session::end_all() {
    scheduler_.stop();
    for (pid_t p : scheduler_.real_pids()) kill(p, SIGKILL);
    for (auto& [id, l] : launches_) {
        if (!l->reaped && l->pid > 0) kill(l->pid, SIGKILL);
    }
}

Session::Stop Session::run(std::optional<Ns> until_ns, std::optional<ProcessId> until_finished) {
    scheduler_.set_time_limit(until_ns);
    scheduler_.pause_when_ended(until_finished);
    scheduler_.resume();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(wall_timeout_ns_);
    bool timed_out = false;
    for (;;) {
        for (auto& [id, l] : launches_) reap(*l);
        const bool pipes_open = std::any_of(launches_.begin(), launches_.end(), [](const auto& entry) {
            return std::any_of(std::begin(entry.second->pipes), std::end(entry.second->pipes), [](const pollfd& p) { return p.fd >= 0; });
        });
        if (running() == 0 && scheduler_.done() && !pipes_open) return timed_out ? Stop::wall_timeout : Stop::idle;
        if (until_finished && !timed_out && finished(*until_finished)) return Stop::finished;
        if (!timed_out) {
            if (scheduler_.paused()) {
                // Everything the paused processes wrote is in their pipes
                // already: a caller looking at the output sees all of it.
                drain_outputs();
                return Stop::time_limit;
            }
            // A crashed node whose processes are all gone is the caller's to
            // restart; the rest of the run goes on.
            if (scheduler_.crash_requested() && !scheduler_.real_pids(scheduler_.crashed_node()).empty()) {
                for (auto& [id, l] : launches_) {
                    if (l->node == scheduler_.crashed_node() && !l->reaped) l->result.crashed = true;
                }
                return Stop::crashed;
            }
            if (scheduler_.deadlock()) {
                if (!scheduler_.launched_all_ended()) {
                    for (auto& [id, l] : launches_) {
                        if (!l->reaped) l->result.deadlock = *scheduler_.deadlock();
                    }
                    return Stop::deadlock;
                }
                // Processes left behind by finished programs, all blocked
                // for good: the run is over.
                end_all();
            }
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 && !timed_out) {
            end_all();
            timed_out = true;
            for (auto& [id, l] : launches_) {
                if (!l->reaped) l->result.timed_out = true;
            }
        }
        // Processes that will not die even so: give up on them.
        if (left.count() <= -5000) return Stop::wall_timeout;
        std::vector<pollfd> fds;
        std::vector<Launched*> owners;
        for (auto& [id, l] : launches_) {
            if (std::all_of(std::begin(l->pipes), std::end(l->pipes), [](const pollfd& p) { return p.fd < 0; })) continue;
            owners.push_back(l.get());
            for (const pollfd& p : l->pipes) fds.push_back({p.fd, POLLIN, 0});  // fd -1 is ignored by poll
        }
        scheduler_.poll_once(fds, static_cast<int>(std::clamp<long long>(left.count(), 10, 1000)));
        pump_outputs(fds, owners);
    }
}

void Session::forward_ready_outputs() {
    if (output_fds_stale_) {
        output_fds_.clear();
        output_owners_.clear();
        for (auto& [id, l] : launches_) {
            for (std::size_t which = 0; which < 2; ++which) {
                if (l->pipes[which].fd < 0) continue;
                output_fds_.push_back({l->pipes[which].fd, POLLIN, 0});
                output_owners_.emplace_back(l.get(), which);
            }
        }
        output_fds_stale_ = false;
    }
    if (output_fds_.empty() || ::poll(output_fds_.data(), output_fds_.size(), 0) <= 0) return;
    for (std::size_t i = 0; i < output_fds_.size(); ++i) {
        if ((output_fds_[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        auto [l, which] = output_owners_[i];
        while (l->pipes[which].fd == output_fds_[i].fd && read_pipe(*l, which)) {
        }
    }
}

void Session::drain_outputs() {
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<Launched*> owners;
        for (auto& [id, l] : launches_) {
            owners.push_back(l.get());
            for (const pollfd& p : l->pipes) fds.push_back({p.fd, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), 0) <= 0) return;
        pump_outputs(fds, owners);
    }
}

std::size_t Session::kill_node(Coordinator& node) {
    scheduler_.stop();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto pump = [&](bool through_scheduler) {
        std::vector<pollfd> fds;
        std::vector<Launched*> owners;
        for (auto& [id, l] : launches_) {
            owners.push_back(l.get());
            for (const pollfd& p : l->pipes) fds.push_back({p.fd, POLLIN, 0});
        }
        if (through_scheduler) {
            scheduler_.poll_once(fds, 100);
        } else if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
            return;
        }
        pump_outputs(fds, owners);
        for (auto& [id, l] : launches_) reap(*l);
    };
    auto alive = [&](pid_t pid) {
        const std::vector<pid_t> pids = scheduler_.real_pids(&node);
        return std::find(pids.begin(), pids.end(), pid) != pids.end();
    };
    // One at a time, in the scheduler's order, each gone before the next
    // is signalled: the processes' ends are traced in the same order in
    // every run. Parents come before their children, who are not woken by
    // a SIGCHLD of their own making.
    const std::vector<pid_t> pids = scheduler_.real_pids(&node);
    for (pid_t pid : pids) {
        kill(pid, SIGKILL);
        while (alive(pid) && std::chrono::steady_clock::now() < deadline) pump(true);
    }
    for (auto& [id, l] : launches_) {
        if (l->node == &node && !l->reaped && l->pid > 0) kill(l->pid, SIGKILL);
    }
    while (!scheduler_.real_pids(&node).empty() && std::chrono::steady_clock::now() < deadline) pump(true);
    scheduler_.clear_deadlock();
    for (auto& [id, l] : launches_) reap(*l);
    // Their pipes end once the kernel has closed the dead processes'
    // descriptors; what they wrote before dying is part of their output.
    while (std::chrono::steady_clock::now() < deadline &&
           std::any_of(launches_.begin(), launches_.end(),
                       [&](const auto& entry) { return entry.second->node == &node && !finished(entry.first); })) {
        pump(false);
    }
    return pids.size();
}

}  // namespace marionette
