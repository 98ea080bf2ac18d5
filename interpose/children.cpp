// Child processes under the scheduler (docs/processes.md).
//
// fork reports the child to the coordinator, which gives it a virtual pid
// and decides, by the seed, whether parent or child runs first; the child
// connects in the atfork handler (process.cpp). vfork is a fork here (the
// child must not share our memory while it talks to the coordinator).
// posix_spawn, system and popen are built on that fork, so every child is
// known when it is born; children made behind our back (a raw clone) are
// still found by the coordinator through /proc.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

extern char** environ;

namespace {

using marionette::shim::coordinated;
using marionette::shim::ensure_init;

pid_t real_fork() {
    static std::atomic<pid_t (*)()> real{nullptr};
    return marionette::shim::next_symbol(real, "fork")();
}

/// The parent's side: the child's virtual pid, after the scheduler's turn.
pid_t parent_after_fork(pid_t real_child) {
    marionette::shim::Enter enter;
    if (!enter.entered()) return real_child;
    return static_cast<pid_t>(marionette::shim::report_fork(real_child));
}

pid_t fork_child() {
    ensure_init();
    const pid_t child = real_fork();
    if (child <= 0 || !coordinated()) return child;
    return parent_after_fork(child);
}

/// Runs `/bin/sh -c command` in a forked child with the given stdio.
pid_t spawn_shell(const char* command, int child_stdin, int child_stdout, const sigset_t* child_mask) {
    const pid_t pid = fork_child();
    if (pid != 0) return pid;
    if (child_stdin >= 0 && child_stdin != 0) {
        dup2(child_stdin, 0);
        close(child_stdin);
    }
    if (child_stdout >= 0 && child_stdout != 1) {
        dup2(child_stdout, 1);
        close(child_stdout);
    }
    if (child_mask != nullptr) sigprocmask(SIG_SETMASK, child_mask, nullptr);
    execl("/bin/sh", "sh", "-c", command, static_cast<char*>(nullptr));
    _exit(127);
}

/// popen's children, to find the pid pclose waits for.
struct PopenEntry {
    FILE* stream = nullptr;
    pid_t pid = 0;
};
/// At most this many popen streams open at once per process; one more
/// fails with EMFILE before anything is started (docs/processes.md).
constexpr int max_popen = 256;
PopenEntry popen_entries[max_popen];
std::atomic_flag popen_lock = ATOMIC_FLAG_INIT;

/// A free entry, held (pid -1) until fill_popen or release_popen; -1 if
/// every entry is in use.
int reserve_popen() {
    int slot = -1;
    while (popen_lock.test_and_set(std::memory_order_acquire)) {
    }
    for (int i = 0; i < max_popen; ++i) {
        if (popen_entries[i].stream == nullptr && popen_entries[i].pid == 0) {
            popen_entries[i].pid = -1;
            slot = i;
            break;
        }
    }
    popen_lock.clear(std::memory_order_release);
    return slot;
}

void fill_popen(int slot, FILE* stream, pid_t pid) {
    while (popen_lock.test_and_set(std::memory_order_acquire)) {
    }
    popen_entries[slot] = {stream, pid};
    popen_lock.clear(std::memory_order_release);
}

void release_popen(int slot) {
    while (popen_lock.test_and_set(std::memory_order_acquire)) {
    }
    popen_entries[slot] = {};
    popen_lock.clear(std::memory_order_release);
}

pid_t forget_popen(FILE* stream) {
    pid_t pid = -1;
    while (popen_lock.test_and_set(std::memory_order_acquire)) {
    }
    for (PopenEntry& e : popen_entries) {
        if (e.stream == stream && stream != nullptr) {
            pid = e.pid;
            e = {};
            break;
        }
    }
    popen_lock.clear(std::memory_order_release);
    return pid;
}

}  // namespace

MARIONETTE_EXPORT pid_t fork() { return fork_child(); }

// The child of a vfork may only exec or _exit, which a forked child does
// just as well; sharing our memory with a parent that waits in the
// coordinator would not be safe.
MARIONETTE_EXPORT pid_t vfork() { return fork_child(); }

namespace {

int spawn_common(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attributes,
                 char* const argv[], char* const envp[], const char* symbol) {
    using Real = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*, char* const[],
                         char* const[]);
    static std::atomic<Real> real_spawn{nullptr};
    static std::atomic<Real> real_spawnp{nullptr};
    std::atomic<Real>& cache = symbol[11] == 'p' ? real_spawnp : real_spawn;
    ensure_init();
    pid_t child = 0;
    const int result = marionette::shim::next_symbol(cache, symbol)(&child, path, actions, attributes, argv, envp);
    if (result == 0 && coordinated()) child = parent_after_fork(child);
    if (result == 0 && pid != nullptr) *pid = child;
    return result;
}

}  // namespace

MARIONETTE_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                  const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
    return spawn_common(pid, path, actions, attributes, argv, envp, "posix_spawn");
}

MARIONETTE_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                   const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
    return spawn_common(pid, file, actions, attributes, argv, envp, "posix_spawnp");
}

// system(3) as POSIX describes it: SIGINT and SIGQUIT ignored and SIGCHLD
// blocked in the caller while the shell runs.
MARIONETTE_EXPORT int system(const char* command) {
    if (command == nullptr) return 1;
    struct sigaction ignore {}, old_int {}, old_quit {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    sigset_t block_child, old_mask;
    sigemptyset(&block_child);
    sigaddset(&block_child, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block_child, &old_mask);
    const pid_t pid = fork_child();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, nullptr);
        sigaction(SIGQUIT, &old_quit, nullptr);
        sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        execl("/bin/sh", "sh", "-c", command, static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = -1;
    if (pid > 0) {
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                status = -1;
                break;
            }
        }
    }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return status;
}

MARIONETTE_EXPORT FILE* popen(const char* command, const char* mode) {
    const bool reading = mode != nullptr && mode[0] == 'r';
    const bool writing = mode != nullptr && mode[0] == 'w';
    if ((!reading && !writing) || command == nullptr) {
        errno = EINVAL;
        return nullptr;
    }
    const bool cloexec = std::strchr(mode, 'e') != nullptr;
    const int slot = reserve_popen();
    if (slot < 0) {
        errno = EMFILE;
        return nullptr;
    }
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) {
        release_popen(slot);
        return nullptr;
    }
    const int ours = reading ? ends[0] : ends[1];
    const int theirs = reading ? ends[1] : ends[0];
    const pid_t pid = reading ? spawn_shell(command, -1, theirs, nullptr) : spawn_shell(command, theirs, -1, nullptr);
    close(theirs);
    if (pid < 0) {
        close(ours);
        release_popen(slot);
        return nullptr;
    }
    if (!cloexec) fcntl(ours, F_SETFD, 0);
    FILE* stream = fdopen(ours, reading ? "r" : "w");
    if (stream == nullptr) {
        close(ours);
        release_popen(slot);  // the child runs on; nobody waits for it, as with glibc
        return nullptr;
    }
    fill_popen(slot, stream, pid);
    return stream;
}

MARIONETTE_EXPORT int pclose(FILE* stream) {
    const pid_t pid = forget_popen(stream);
    if (pid < 0) {
        // Not one of ours (opened before the shim was loaded, say).
        using Real = int (*)(FILE*);
        static std::atomic<Real> real{nullptr};
        return marionette::shim::next_symbol(real, "pclose")(stream);
    }
    fclose(stream);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}
