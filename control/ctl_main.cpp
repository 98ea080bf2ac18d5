// marionette-ctl: send control commands to a running simulation.
//
//   marionette-ctl SOCKET run 2s            one command from the arguments
//   marionette-ctl SOCKET 'run until idle'  the same: one argument is one line
//   marionette-ctl SOCKET -c 'run 2s' -c crash   several commands
//   marionette-ctl SOCKET < scenario.txt    one command per stdin line
//
// Prints each reply decoded for reading (values %-unescaped, a multi-line
// value such as trace.read's as its own lines); --raw prints the wire form. Exit codes: 0 every reply was ok, 1 at least one
// error reply, 2 usage error, 3 connection failure (cannot connect, the run
// closed the connection, or it speaks another protocol version).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "control/command.hpp"
#include "marionette/control_protocol.hpp"
#include "control/parse.hpp"
#include "control/socket.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_error_reply = 1;
constexpr int exit_usage = 2;
constexpr int exit_connection = 3;

struct ConnectionLost {
    std::string reason;
};

// One request and its reply line, in lock-step with the server.
std::string exchange(int fd, std::string& pending, const std::string& line) {
    if (!marionette::send_all(fd, line + "\n")) throw ConnectionLost{"cannot send to the run"};
    std::optional<std::string> reply;
    try {
        reply = marionette::receive_line(fd, pending, marionette::max_reply_line_bytes);
    } catch (const std::runtime_error& e) {
        throw ConnectionLost{e.what()};
    }
    if (!reply) throw ConnectionLost{"the run closed the control connection"};
    return *reply;
}

std::string command_list() {
    std::string out = "Commands (docs/control-protocol.md):\n";
    for (const marionette::CommandInfo& info : marionette::command_table()) {
        out += fmt::format("  {}\n      {}\n", info.usage, info.summary);
    }
    return out;
}

// The argument words as one line, each quoted as needed so that a word with
// spaces (already unquoted by the shell) stays one word.
std::string join_words(const std::vector<std::string>& words) {
    std::string line;
    for (const std::string& word : words) line += (line.empty() ? "" : " ") + marionette::quote_word(word);
    return line;
}

// A reply as a person reads it: `ok key=value ...` with values decoded, a
// value that spans lines printed after the first line under `key:`, an
// error's message decoded. A line that is not a reply is printed as is.
std::string display_reply(const std::string& line) {
    marionette::Reply reply;
    try {
        reply = marionette::parse_reply(line);
    } catch (const std::invalid_argument&) {
        return line;
    }
    if (!reply.ok) {
        std::string out = "error " + std::string(marionette::to_string(reply.code));
        return reply.message.empty() ? out : out + " " + reply.message;
    }
    std::string out = "ok";
    std::string blocks;
    for (const auto& [key, value] : reply.fields) {
        if (value.find('\n') == std::string::npos) {
            out += " " + key + "=" + value;
        } else {
            blocks += "\n" + key + ":\n" + value;
            if (!value.empty() && value.back() == '\n') blocks.pop_back();
        }
    }
    return out + blocks;
}

int run(const std::string& socket_path, const std::vector<std::string>& lines, bool from_stdin, bool raw) {
    int fd = -1;
    try {
        fd = marionette::connect_unix(socket_path);
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "marionette-ctl: {}\n", e.what());
        return exit_connection;
    }
    std::string pending;
    int status = exit_ok;
    try {
        const std::string hello = exchange(fd, pending, fmt::format("hello {}", marionette::control_protocol_version));
        if (hello.rfind("ok", 0) != 0) {
            fmt::print(stderr, "marionette-ctl: handshake failed: {}\n", hello);
            ::close(fd);
            return exit_connection;
        }
        auto send = [&](const std::string& line) {
            const std::string reply = exchange(fd, pending, line);
            fmt::print("{}\n", raw ? reply : display_reply(reply));
            std::fflush(stdout);
            if (reply.rfind("ok", 0) != 0) status = exit_error_reply;
        };
        for (const std::string& line : lines) send(line);
        if (from_stdin) {
            std::string line;
            while (std::getline(std::cin, line)) {
                if (marionette::parse_line(line).is_blank()) continue;
                send(line);
            }
        }
    } catch (const ConnectionLost& lost) {
        fmt::print(stderr, "marionette-ctl: {}\n", lost.reason);
        status = exit_connection;
    }
    ::close(fd);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"marionette-ctl: send control-language commands to a Marionette run's control socket\n"
                 "(marionette-launch --control SOCKET) and print one reply line per command.\n"
                 "  marionette-ctl SOCKET COMMAND WORDS...    the words after SOCKET form one command\n"
                 "  marionette-ctl SOCKET 'COMMAND WORDS'     one argument: a whole command line\n"
                 "  marionette-ctl SOCKET -c LINE [-c LINE]   whole command lines, sent in order\n"
                 "  marionette-ctl SOCKET < FILE              one command per stdin line"};
    app.footer(command_list() +
               "\nExamples:\n"
               "  marionette-ctl /tmp/run.sock run 2s\n"
               "  marionette-ctl /tmp/run.sock 'run until idle'\n"
               "  marionette-ctl /tmp/run.sock -c 'disk.set_faults crash_lost_write_rate=always' -c crash -c restart\n"
               "  marionette-ctl /tmp/run.sock < scenario.txt\n"
               "\nExit codes: 0 all replies ok, 1 an error reply, 2 usage error, 3 connection failure.");
    std::string socket_path;
    std::vector<std::string> commands;
    app.add_option("SOCKET", socket_path, "path of the run's Unix control socket")->required();
    app.add_option("-c,--command", commands, "a whole command line to send (repeatable, sent in order)");
    bool raw = false;
    app.add_flag("--raw", raw, "print replies as they came over the wire (values %-escaped, one line each)");
    app.set_version_flag("--version", "marionette-ctl " MARIONETTE_VERSION);
    // Everything after SOCKET that is not an option is the command's words,
    // including `--` and words starting with `-` (spawn's argv).
    app.prefix_command();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? exit_ok : exit_usage;  // --version is a "parse error" that succeeds
    }
    const std::vector<std::string> words = app.remaining();
    // One argument is a whole command line as typed (`'run until idle'`,
    // quotes inside it as the control language reads them); several are
    // words, each kept one word.
    if (words.size() == 1) {
        commands.push_back(words.front());
    } else if (!words.empty()) {
        commands.push_back(join_words(words));
    }
    return run(socket_path, commands, commands.empty(), raw);
}
