// The C++ control client: drive a Marionette run from a test.
//
// A test driver launches a run (ControlClient::launch starts
// `marionette-launch --control SOCKET ...`) or attaches to one
// (ControlClient::connect), and steps it with typed calls — run_for, crash,
// restart, disk().set_faults(...), read_trace() — instead of writing
// protocol lines by hand. Each call sends one command of the control
// language (docs/control-protocol.md) and waits for its reply; the
// simulation is paused between calls, so a driven run is as deterministic as
// a scenario file.
//
// Errors are exceptions, always: every method throws ControlError when the
// reply is `error <code> <message>` (code() and message() carry them), when
// an argument is invalid before anything is sent (bad_argument, or the
// parser's code, e.g. encoding for a newline in a text), and
// when the connection fails (code connection). A method that returns has
// succeeded; its Reply gives access to the reply's fields.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "marionette/control_protocol.hpp"
#include "sim/time.hpp"

namespace marionette {

/// An error reply, an invalid argument or a failed connection.
class ControlError : public std::runtime_error {
public:
    ControlError(ErrorCode code, std::string message);
    /// The reply's code (ErrorCode::connection for transport failures).
    ErrorCode code() const { return code_; }
    /// The reply's message, without the code.
    const std::string& message() const { return message_; }

private:
    ErrorCode code_;
    std::string message_;
};

class ControlClient;

/// Disk commands of one node (the default node when the name is empty).
class DiskControl {
public:
    /// `disk.set_faults key=rate ...`, e.g. {{"crash_lost_write_rate", "always"}}.
    Reply set_faults(const std::vector<std::pair<std::string, std::string>>& faults);
    /// `disk.corrupt_sector path=<path> offset=<offset>`.
    Reply corrupt_sector(std::string_view path, std::uint64_t offset);

private:
    friend class ControlClient;
    DiskControl(ControlClient& client, std::string node) : client_(client), node_(std::move(node)) {}
    ControlClient& client_;
    std::string node_;
};

/// Network commands.
class NetControl {
public:
    /// `net.partition a,b c`: nodes in different groups cannot talk.
    Reply partition(const std::vector<std::vector<std::string>>& groups);
    Reply heal();
    /// `net.set_faults key=value ...`: any network option, e.g.
    /// {{"drop_rate", "10%"}, {"latency_ns_jitter", "2ms"}}.
    Reply set_faults(const std::vector<std::pair<std::string, std::string>>& settings);
    /// `net.set_lossiness key=value ...`, e.g. {{"drop_rate", "1/8"}}.
    Reply set_lossiness(const std::vector<std::pair<std::string, std::string>>& settings);
    /// `net.set_latency key=value ...`.
    Reply set_latency(const std::vector<std::pair<std::string, std::string>>& settings);
    /// `net.set_latency latency_ns_min=<min> latency_ns_jitter=<jitter>`.
    Reply set_latency(Ns latency_ns_min, Ns latency_ns_jitter);
    /// `net.set_partition_dynamics key=value ...`.
    Reply set_partition_dynamics(const std::vector<std::pair<std::string, std::string>>& settings);
    Reply clog(std::string_view from, std::string_view to, Ns duration_ns);
    /// Releases the clog from -> to, or every clog when both are empty.
    Reply unclog(std::string_view from = {}, std::string_view to = {});

private:
    friend class ControlClient;
    explicit NetControl(ControlClient& client) : client_(client) {}
    ControlClient& client_;
};

/// A connection to a run's control socket. Move-only. Destruction closes
/// the connection; for a launched run it also reaps the launcher — waiting
/// for it after quit(), otherwise terminating it (SIGTERM) first, since a
/// run without a client would wait for the next one forever.
class ControlClient {
public:
    /// Connects to the socket at `path` and checks the protocol version with
    /// `hello 1` (ErrorCode::version if the server speaks another one).
    static ControlClient connect(const std::string& socket_path);
    /// Adopts an already connected stream socket (e.g. one end of a
    /// socketpair) and performs the same handshake.
    static ControlClient adopt(int connected_fd);
    /// Starts a run — `argv` is a marionette-launch command line that
    /// includes `--control <socket_path>` — waits (up to `wait`, wall clock)
    /// until its socket accepts a connection, and attaches. Throws
    /// ControlError(connection) if the process exits first (naming its exit
    /// status), cannot be started, or the socket does not appear in time.
    static ControlClient launch(const std::vector<std::string>& argv, const std::string& socket_path,
                                std::chrono::milliseconds wait = std::chrono::seconds(30));

    ControlClient(ControlClient&& other) noexcept;
    ControlClient& operator=(ControlClient&& other) noexcept;
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;
    ~ControlClient();

    /// The fields of the server's hello reply (protocol, server, version).
    const Reply& hello_reply() const { return hello_; }

    /// Sends one line of the control language as written and returns its
    /// reply. The line is checked locally first (bad_argument, parse, ...).
    Reply request(std::string_view line);

    Reply run_for(Ns duration_ns);
    Reply run_for(std::chrono::nanoseconds duration);
    Reply run_until_idle();
    /// Runs until the absolute virtual time `time_ns`.
    Reply run_until(Ns time_ns);

    Reply crash(std::string_view node = {});
    Reply kill(std::string_view node = {});
    Reply restart(std::string_view node = {});
    /// `crash random within <from>..<to> [node]`.
    Reply crash_random_within(Ns from_ns, Ns to_ns, std::string_view node = {});
    /// `at <time> <action>`; `action` is a schedulable command's text.
    Reply at(Ns time_ns, std::string_view action);
    /// `after <count> <event> <action>`.
    Reply after(std::uint64_t count, std::string_view event, std::string_view action);

    DiskControl disk(std::string_view node = {});
    NetControl net();

    Reply spawn(std::string_view name, const std::vector<std::string>& argv, std::string_view node = {});
    /// Throws ControlError with ErrorCode::expect_failed if it does not hold.
    Reply expect_exit(int code, std::string_view name = {});
    Reply expect_output(std::string_view name, std::string_view text);

    /// The text trace from event `since_event` on (the reply's `trace` field).
    std::string read_trace(std::uint64_t since_event = 0);
    Reply status();
    /// Ends the run.
    void quit();

    /// For a launched run: closes the connection, waits for the launcher to
    /// exit and returns its exit code (128 + signal number if a signal ended
    /// it). Call after quit(). Throws ControlError(state) if the run was
    /// attached rather than launched, or already waited for.
    int wait();

private:
    friend class DiskControl;
    friend class NetControl;
    explicit ControlClient(int fd);
    void release() noexcept;
    Reply exchange(const std::string& line);

    int fd_ = -1;
    int child_pid_ = -1;  // launched runs only; -1 once reaped
    bool quit_sent_ = false;
    Reply hello_;
    std::string pending_;  // reply bytes read past the last reply line
};

}  // namespace marionette
