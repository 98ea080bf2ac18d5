// The C++ control client (include/marionette/control.hpp).
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "control/command.hpp"
#include "control/parse.hpp"
#include "control/socket.hpp"
#include "marionette/control.hpp"

namespace marionette {
namespace {

[[noreturn]] void throw_reply(const Reply& reply) { throw ControlError(reply.code, reply.message); }

// Parses a command's text locally so that a bad argument is reported before
// anything reaches the run, and returns the canonical text to send.
std::string checked_text(std::string_view line) {
    const ParsedLine parsed = parse_line(line);
    if (parsed.is_error()) throw ControlError(parsed.error().code, parsed.error().describe());
    if (parsed.is_blank()) throw ControlError(ErrorCode::bad_argument, "empty command");
    return to_string(parsed.command());
}

// The canonical text of a command built from typed arguments; it must parse
// back to the same command (a name with a space, a rate that is no rate...).
std::string checked_text(const Command& command) {
    const std::string text = to_string(command);
    const ParsedLine parsed = parse_line(text);
    if (parsed.is_error()) throw ControlError(parsed.error().code, parsed.error().message + " in '" + text + "'");
    if (!parsed.is_command() || !(parsed.command() == command)) {
        throw ControlError(ErrorCode::bad_argument, "arguments cannot be expressed as a command: '" + text + "'");
    }
    return text;
}

// `command key=value ...` with each word quoted as needed; the parser then
// checks keys and values (unknown keys get its "did you mean").
std::string settings_line(std::string_view command, const std::vector<std::pair<std::string, std::string>>& settings) {
    std::string line(command);
    for (const auto& [key, value] : settings) line += " " + quote_word(key + "=" + value);
    return line;
}

Rate rate_argument(std::string_view text) {
    try {
        return Rate::parse(text);
    } catch (const std::invalid_argument& e) {
        throw ControlError(ErrorCode::bad_argument, e.what());
    }
}

// Exit code of a waitpid status: the code, or 128 + signal like a shell.
int exit_code_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

pid_t spawn_process(const std::vector<std::string>& argv) {
    if (argv.empty()) throw ControlError(ErrorCode::bad_argument, "launch needs a command line");
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int error = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
    if (error != 0) {
        throw ControlError(ErrorCode::connection, "cannot start '" + argv[0] + "': " + std::strerror(error));
    }
    return pid;
}

}  // namespace

ControlError::ControlError(ErrorCode code, std::string message)
    : std::runtime_error(std::string(to_string(code)) + ": " + message), code_(code), message_(std::move(message)) {}

ControlClient::ControlClient(int fd) : fd_(fd) {}

ControlClient ControlClient::connect(const std::string& socket_path) {
    int fd = -1;
    try {
        fd = connect_unix(socket_path);
    } catch (const std::runtime_error& e) {
        throw ControlError(ErrorCode::connection, e.what());
    }
    return adopt(fd);
}

ControlClient ControlClient::adopt(int connected_fd) {
    ControlClient client(connected_fd);
    client.hello_ = client.exchange("hello " + std::to_string(control_protocol_version));
    return client;
}

ControlClient ControlClient::launch(const std::vector<std::string>& argv, const std::string& socket_path,
                                   std::chrono::milliseconds wait) {
    const pid_t pid = spawn_process(argv);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            throw ControlError(ErrorCode::connection, "'" + argv[0] + "' exited with status " +
                                                          std::to_string(exit_code_of(status)) +
                                                          " before its control socket accepted a connection");
        }
        int fd = -1;
        try {
            fd = connect_unix(socket_path);
        } catch (const std::runtime_error& e) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &status, 0);
                throw ControlError(ErrorCode::connection, std::string("timed out waiting for the run: ") + e.what());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        ControlClient client(fd);
        client.child_pid_ = pid;  // from here on the destructor reaps it
        client.hello_ = client.exchange("hello " + std::to_string(control_protocol_version));
        return client;
    }
}

int ControlClient::wait() {
    if (child_pid_ < 0) throw ControlError(ErrorCode::state, "this client did not launch a run, or already waited");
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    int status = 0;
    while (::waitpid(child_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    child_pid_ = -1;
    return exit_code_of(status);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      child_pid_(std::exchange(other.child_pid_, -1)),
      quit_sent_(other.quit_sent_),
      hello_(std::move(other.hello_)),
      pending_(std::move(other.pending_)) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = std::exchange(other.fd_, -1);
        child_pid_ = std::exchange(other.child_pid_, -1);
        quit_sent_ = other.quit_sent_;
        hello_ = std::move(other.hello_);
        pending_ = std::move(other.pending_);
    }
    return *this;
}

ControlClient::~ControlClient() { release(); }

void ControlClient::release() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (child_pid_ > 0) {
        if (!quit_sent_) ::kill(child_pid_, SIGTERM);
        int status = 0;
        while (::waitpid(child_pid_, &status, 0) < 0 && errno == EINTR) {
        }
        child_pid_ = -1;
    }
}

Reply ControlClient::exchange(const std::string& line) {
    if (fd_ < 0) throw ControlError(ErrorCode::connection, "the control connection is closed");
    if (!send_all(fd_, line + "\n")) {
        throw ControlError(ErrorCode::connection, std::string("cannot send to the run: ") + std::strerror(errno));
    }
    std::optional<std::string> reply_line;
    try {
        reply_line = receive_line(fd_, pending_, max_reply_line_bytes);
    } catch (const std::runtime_error& e) {
        throw ControlError(ErrorCode::connection, e.what());
    }
    if (!reply_line) throw ControlError(ErrorCode::connection, "the run closed the control connection before replying");
    Reply reply;
    try {
        reply = parse_reply(*reply_line);
    } catch (const std::invalid_argument& e) {
        throw ControlError(ErrorCode::connection, std::string("malformed reply: ") + e.what());
    }
    if (!reply.ok) throw_reply(reply);
    return reply;
}

Reply ControlClient::request(std::string_view line) { return exchange(checked_text(line)); }

Reply ControlClient::run_for(Ns duration_ns) { return exchange(checked_text(Run{Run::Mode::for_duration, duration_ns, {}})); }
Reply ControlClient::run_for(std::chrono::nanoseconds duration) {
    if (duration.count() < 0) throw ControlError(ErrorCode::bad_argument, "negative duration");
    return run_for(static_cast<Ns>(duration.count()));
}
Reply ControlClient::run_until_idle() { return exchange(checked_text(Run{Run::Mode::until_idle, 0, {}})); }
Reply ControlClient::run_until(Ns time_ns) { return exchange(checked_text(Run{Run::Mode::until_time, time_ns, {}})); }

Reply ControlClient::crash(std::string_view node) { return exchange(checked_text(Crash{std::string(node)})); }
Reply ControlClient::kill(std::string_view node) { return exchange(checked_text(Kill{std::string(node)})); }
Reply ControlClient::restart(std::string_view node) { return exchange(checked_text(Restart{std::string(node)})); }
Reply ControlClient::crash_random_within(Ns from_ns, Ns to_ns, std::string_view node) {
    return exchange(checked_text(CrashRandom{from_ns, to_ns, std::string(node)}));
}
Reply ControlClient::at(Ns time_ns, std::string_view action) {
    return request("at " + format_duration(time_ns) + " " + std::string(action));
}
Reply ControlClient::after(std::uint64_t count, std::string_view event, std::string_view action) {
    return request("after " + std::to_string(count) + " " + std::string(event) + " " + std::string(action));
}

DiskControl ControlClient::disk(std::string_view node) { return DiskControl(*this, std::string(node)); }
NetControl ControlClient::net() { return NetControl(*this); }

Reply ControlClient::spawn(std::string_view name, const std::vector<std::string>& argv, std::string_view node) {
    return exchange(checked_text(Spawn{std::string(name), std::string(node), argv}));
}
Reply ControlClient::expect_exit(int code, std::string_view name) {
    return exchange(checked_text(ExpectExit{std::string(name), code}));
}
Reply ControlClient::expect_output(std::string_view name, std::string_view text) {
    return exchange(checked_text(ExpectOutput{std::string(name), std::string(text)}));
}

std::string ControlClient::read_trace(std::uint64_t since_event) {
    const Reply reply = exchange(checked_text(TraceRead{since_event}));
    const std::string* trace = reply.find("trace");
    if (trace == nullptr) throw ControlError(ErrorCode::internal, "trace.read reply has no trace field");
    return *trace;
}
Reply ControlClient::status() { return exchange(checked_text(Status{})); }
void ControlClient::quit() {
    exchange(checked_text(Quit{}));
    quit_sent_ = true;
}

Reply DiskControl::set_faults(const std::vector<std::pair<std::string, std::string>>& faults) {
    // Through the text form, so unknown keys get the parser's "did you mean".
    for (const auto& fault : faults) rate_argument(fault.second);
    std::string line = settings_line("disk.set_faults", faults);
    if (!node_.empty()) line += " node=" + quote_word(node_);
    return client_.request(line);
}

Reply DiskControl::corrupt_sector(std::string_view path, std::uint64_t offset) {
    return client_.exchange(checked_text(DiskCorruptSector{node_, std::string(path), offset}));
}

Reply NetControl::partition(const std::vector<std::vector<std::string>>& groups) {
    return client_.exchange(checked_text(NetPartition{groups}));
}
Reply NetControl::heal() { return client_.exchange(checked_text(NetHeal{})); }
Reply NetControl::set_faults(const std::vector<std::pair<std::string, std::string>>& settings) {
    return client_.request(settings_line("net.set_faults", settings));
}
Reply NetControl::set_lossiness(const std::vector<std::pair<std::string, std::string>>& settings) {
    return client_.request(settings_line("net.set_lossiness", settings));
}
Reply NetControl::set_latency(const std::vector<std::pair<std::string, std::string>>& settings) {
    return client_.request(settings_line("net.set_latency", settings));
}
Reply NetControl::set_latency(Ns latency_ns_min, Ns latency_ns_jitter) {
    return set_latency({{"latency_ns_min", format_duration(latency_ns_min)},
                        {"latency_ns_jitter", format_duration(latency_ns_jitter)}});
}
Reply NetControl::set_partition_dynamics(const std::vector<std::pair<std::string, std::string>>& settings) {
    return client_.request(settings_line("net.set_partition_dynamics", settings));
}
Reply NetControl::clog(std::string_view from, std::string_view to, Ns duration_ns) {
    return client_.exchange(checked_text(NetClog{std::string(from), std::string(to), duration_ns}));
}
Reply NetControl::unclog(std::string_view from, std::string_view to) {
    return client_.exchange(checked_text(NetUnclog{std::string(from), std::string(to)}));
}

}  // namespace marionette
