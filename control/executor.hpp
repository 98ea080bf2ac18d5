// The interface between the control language and whatever executes it.
//
// The launcher's coordinator implements CommandExecutor: one virtual method
// per command, each returning the one-line Reply for that command. The
// language side (scenario files, the socket server, tests) only ever calls
// dispatch(), which routes a parsed Command to the right method, answers
// `hello` itself, and turns exceptions escaping an executor into
// `error internal` replies, so a failing command never kills the server and
// the run keeps its state. While a method runs, no other command is read:
// between commands the simulation is paused, which keeps a driven run as
// deterministic as a scripted one.
#pragma once

#include <string_view>

#include "control/command.hpp"
#include "control/lexer.hpp"
#include "marionette/control_protocol.hpp"

namespace marionette {

/// Executes commands; implemented by the launcher (and by fakes in tests).
/// Methods return Reply::failure(...) for expected failures (`state`,
/// `unsupported`, `expect_failed`, `bad_argument` for arguments only the
/// run can judge, such as an unknown node); exceptions are reserved for
/// Marionette's own failures and become `error internal`.
class CommandExecutor {
public:
    virtual ~CommandExecutor() = default;

    /// `run ...`: advance virtual time; reply fields should include `now_ns`.
    virtual Reply run(const Run& command) = 0;
    /// `at <time> <action>`: schedule for an absolute virtual time.
    virtual Reply schedule_at(const At& command) = 0;
    /// `after <n> <event> <action>`: schedule after the n-th such event.
    virtual Reply schedule_after(const After& command) = 0;
    /// `crash random within <t1>..<t2> [node]`: draw a crash time from the seed.
    virtual Reply crash_random(const CrashRandom& command) = 0;
    virtual Reply crash(const Crash& command) = 0;
    virtual Reply kill(const Kill& command) = 0;
    virtual Reply restart(const Restart& command) = 0;
    virtual Reply disk_set_faults(const DiskSetFaults& command) = 0;
    virtual Reply disk_corrupt_sector(const DiskCorruptSector& command) = 0;
    virtual Reply net_partition(const NetPartition& command) = 0;
    virtual Reply net_heal(const NetHeal& command) = 0;
    /// net.set_faults / set_lossiness / set_latency / set_partition_dynamics:
    /// apply_net_options(options, command.text(), command.group).
    virtual Reply net_set_options(const NetSetOptions& command) = 0;
    virtual Reply net_clog(const NetClog& command) = 0;
    virtual Reply net_unclog(const NetUnclog& command) = 0;
    /// Not pure: executors without a network refuse it as unsupported.
    virtual Reply net_fail_connect(const NetFailConnect& command);
    /// `net.force ...` (shrinking); not pure: refused where there is no network.
    virtual Reply net_force(const NetForce& command);
    /// `disk.force ...` (shrinking); refused where there is no cluster.
    virtual Reply disk_force(const DiskForce& command);
    virtual Reply spawn(const Spawn& command) = 0;
    /// Fails with ErrorCode::expect_failed when the expectation does not hold.
    virtual Reply expect_exit(const ExpectExit& command) = 0;
    virtual Reply expect_output(const ExpectOutput& command) = 0;
    /// Reply field `trace` holds the text trace from `since_event` on.
    virtual Reply trace_read(const TraceRead& command) = 0;
    virtual Reply status(const Status& command) = 0;
    /// End the run; the server stops serving after replying.
    virtual Reply quit(const Quit& command) = 0;
};

/// Routes a command to the executor. Never throws: exceptions become
/// `error internal`, malformed reply keys too.
Reply dispatch(CommandExecutor& executor, const Command& command);

/// Routes a scheduled action when it fires (same guarantees as dispatch).
Reply dispatch_action(CommandExecutor& executor, const Action& action);

/// The reply to a line that did not parse: `error <code> column <c>: ...`.
Reply error_reply(const ParseError& error);

/// What handling one request line did.
struct LineOutcome {
    Reply reply;
    bool quit = false;  ///< the line was a successful `quit`
};

/// Parses and dispatches one request line. Blank and comment lines reply
/// `ok`, so every request line has exactly one reply.
LineOutcome handle_line(CommandExecutor& executor, std::string_view line);

}  // namespace marionette
