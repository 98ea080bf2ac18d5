#include <exception>

#include "control/executor.hpp"
#include "control/overloaded.hpp"
#include "control/parse.hpp"
#include "sim/trace.hpp"

#ifndef MARIONETTE_VERSION
#define MARIONETTE_VERSION "unknown"
#endif

namespace marionette {
namespace {

using detail::Overloaded;

Reply hello(const Hello& command) {
    if (command.protocol && *command.protocol != control_protocol_version) {
        return Reply::failure(ErrorCode::version, "this server speaks control protocol " +
                                                      std::to_string(control_protocol_version) + ", not " +
                                                      std::to_string(*command.protocol));
    }
    return Reply::success({{"protocol", std::to_string(control_protocol_version)},
                           {"server", "marionette"},
                           {"version", MARIONETTE_VERSION}});
}

Reply route(CommandExecutor& e, const Command& command) {
    return std::visit(Overloaded{
                          [&](const Hello& c) { return hello(c); },
                          [&](const Status& c) { return e.status(c); },
                          [&](const Quit& c) { return e.quit(c); },
                          [&](const TraceRead& c) { return e.trace_read(c); },
                          [&](const Run& c) { return e.run(c); },
                          [&](const At& c) { return e.schedule_at(c); },
                          [&](const After& c) { return e.schedule_after(c); },
                          [&](const CrashRandom& c) { return e.crash_random(c); },
                          [&](const Crash& c) { return e.crash(c); },
                          [&](const Kill& c) { return e.kill(c); },
                          [&](const Restart& c) { return e.restart(c); },
                          [&](const DiskSetFaults& c) { return e.disk_set_faults(c); },
                          [&](const DiskCorruptSector& c) { return e.disk_corrupt_sector(c); },
                          [&](const NetPartition& c) { return e.net_partition(c); },
                          [&](const NetHeal& c) { return e.net_heal(c); },
                          [&](const NetSetOptions& c) { return e.net_set_options(c); },
                          [&](const NetClog& c) { return e.net_clog(c); },
                          [&](const NetUnclog& c) { return e.net_unclog(c); },
                          [&](const NetFailConnect& c) { return e.net_fail_connect(c); },
                          [&](const NetForce& c) { return e.net_force(c); },
                          [&](const DiskForce& c) { return e.disk_force(c); },
                          [&](const Spawn& c) { return e.spawn(c); },
                          [&](const ExpectExit& c) { return e.expect_exit(c); },
                          [&](const ExpectOutput& c) { return e.expect_output(c); },
                      },
                      command);
}

// An executor bug must not produce a reply that breaks the framing.
Reply checked(Reply reply) {
    if (reply.ok) {
        for (const auto& [key, value] : reply.fields) {
            if (!valid_field_key(key)) {
                return Reply::failure(ErrorCode::internal, "executor replied with malformed field key '" + key + "'");
            }
        }
    }
    return reply;
}

}  // namespace

Reply CommandExecutor::net_fail_connect(const NetFailConnect&) {
    return Reply::failure(ErrorCode::unsupported, "net.fail_connect needs a cluster run (--node)");
}

Reply CommandExecutor::net_force(const NetForce&) {
    return Reply::failure(ErrorCode::unsupported, "net.force needs a cluster run (--node)");
}

Reply CommandExecutor::disk_force(const DiskForce&) {
    return Reply::failure(ErrorCode::unsupported, "disk.force needs a cluster run (--node)");
}

Reply dispatch(CommandExecutor& executor, const Command& command) {
    try {
        return checked(route(executor, command));
    } catch (const std::exception& e) {
        return Reply::failure(ErrorCode::internal, std::string(command_name(command)) + " failed: " + e.what());
    } catch (...) {
        return Reply::failure(ErrorCode::internal, std::string(command_name(command)) + " failed: unknown exception");
    }
}

Reply dispatch_action(CommandExecutor& executor, const Action& action) { return dispatch(executor, to_command(action)); }

Reply error_reply(const ParseError& error) { return Reply::failure(error.code, error.describe()); }

LineOutcome handle_line(CommandExecutor& executor, std::string_view line) {
    const ParsedLine parsed = parse_line(line);
    if (parsed.is_blank()) return {Reply::success(), false};
    if (parsed.is_error()) return {error_reply(parsed.error()), false};
    LineOutcome outcome{dispatch(executor, parsed.command()), false};
    outcome.quit = outcome.reply.ok && std::holds_alternative<Quit>(parsed.command());
    return outcome;
}

}  // namespace marionette
