// Pieces the scheduler's files share (coordinator/scheduler*.cpp only).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "marionette/wire.hpp"

namespace marionette::scheduler_detail {

/// Children of the first process get virtual pids after it, in fork order.
inline constexpr std::uint64_t child_process_index_base = 1024;
/// True if the process behind `pidfd` has ended (a zombie, or reaped).
/// Never waits: how long the kernel takes to tear a process down is wall
/// time, which must not decide anything in a run. A process not ended yet
/// stays `exiting`, and Scheduler::poll_once finishes it when its pidfd
/// becomes readable, however long that takes.
inline bool ended_now(int pidfd) {
    pollfd gone{pidfd, POLLIN, 0};
    return ::poll(&gone, 1, 0) > 0;
}

inline int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

inline std::string program_name(pid_t real_pid) {
    std::ifstream comm("/proc/" + std::to_string(real_pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.empty() ? "?" : name;
}

inline std::string_view what_name(wire::BlockWhat what) {
    switch (what) {
        case wire::BlockWhat::sleep: return "sleep";
        case wire::BlockWhat::poll: return "poll";
        case wire::BlockWhat::read: return "read";
        case wire::BlockWhat::write: return "write";
        case wire::BlockWhat::wait_child: return "wait_child";
        case wire::BlockWhat::fork: return "fork";
        case wire::BlockWhat::yield: return "yield";
        case wire::BlockWhat::futex: return "futex";
        case wire::BlockWhat::thread: return "thread_start";
        case wire::BlockWhat::signal: return "signal";
    }
    return "?";
}

/// How a process that has just ended ended, as wait(2) would say, read from
/// its zombie's /proc/PID/stat (field 52, exit_code); -1 if unknown (it
/// was already reaped).
inline int zombie_status(pid_t real_pid) {
    std::ifstream stat("/proc/" + std::to_string(real_pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos) return -1;
    // Fields after the command name start at field 3.
    std::size_t field = 3, position = close + 2;
    while (field < 52 && position < text.size()) {
        position = text.find(' ', position);
        if (position == std::string::npos) return -1;
        ++position;
        ++field;
    }
    if (position >= text.size()) return -1;
    return std::stoi(text.substr(position, text.find(' ', position) - position));
}

/// Signals whose default action is to do nothing: they wake nobody.
inline bool ignored_by_default(long signal) {
    return signal == SIGCHLD || signal == SIGURG || signal == SIGWINCH || signal == SIGCONT || signal == 0;
}

}  // namespace marionette::scheduler_detail
