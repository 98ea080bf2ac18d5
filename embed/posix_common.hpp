// Shared plumbing of the embedded API's POSIX definitions (posix_*.cpp).
//
// Each definition asks whether its descriptor or path belongs to the
// simulation active on the calling thread. If so, the call runs inside the
// simulator (reentrancy guard on, one call's virtual cost charged, the
// kernel-style `-errno` turned into libc's `-1` + errno); if not, the caller
// forwards to the real libc with the original arguments untouched.
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string_view>

#include "embed/sim_state.hpp"

namespace marionette::detail {

/// Runs `op` (returning >= 0 or -errno) for `state` and converts the result
/// to libc's convention. An exception from the simulator becomes EIO rather
/// than escaping through C code.
template <typename R, typename F>
R sim_call(SimState& state, F&& op) {
    long result = 0;
    {
        InsideSim inside;
        state.charge_call();
        try {
            result = static_cast<long>(op());
        } catch (...) {
            result = -EIO;
        }
        state.charge_latency();
    }
    if (result < 0) {
        errno = static_cast<int>(-result);
        return static_cast<R>(-1);
    }
    return static_cast<R>(result);
}

/// If `fd` is the active simulation's, runs `op(state)` and stores the
/// libc-style result in `out`; returns false for a real descriptor (or no
/// simulation). Descriptors that died in a crash fail with EIO.
template <typename R, typename F>
bool sim_fd(int fd, R& out, F&& op) {
    SimState* state = enter();
    if (state == nullptr) return false;
    switch (state->kind(fd)) {
        case FdKind::real:
        case FdKind::socket:  // the socket calls (posix_net.cpp) serve these
            return false;
        case FdKind::stale:
            errno = EIO;
            out = static_cast<R>(-1);
            return true;
        case FdKind::simulated:
            out = sim_call<R>(*state, [&] { return op(*state); });
            return true;
    }
    return false;
}

/// Where a (dirfd, path) pair goes; `error` is a positive errno to fail with.
struct AtRoute {
    Route route;
    int error = 0;
    bool simulated() const { return error != 0 || route.simulated(); }
};

/// Routes `path` relative to `dirfd` (AT_FDCWD, a simulated directory, or a
/// real descriptor - then the path is real unless it is absolute).
inline AtRoute route_at(SimState& state, int dirfd, const char* path) {
    if (path[0] == '/' || dirfd == AT_FDCWD) return {state.route(path)};
    switch (state.kind(dirfd)) {
        case FdKind::real:
            return {};
        case FdKind::stale:
            return {{}, EIO};
        case FdKind::socket:
            return {{}, ENOTDIR};
        case FdKind::simulated:
            break;
    }
    auto base = state.files().base_dir(dirfd);
    if (!base) return {{}, ENOTDIR};
    return {state.files().route(*base, path)};
}

/// If (dirfd, path) is simulated, runs `op(state, route)` and stores the
/// result in `out`; returns false when the call belongs to the real OS.
template <typename R, typename F>
bool sim_path_at(int dirfd, const char* path, R& out, F&& op) {
    SimState* state = enter();
    if (state == nullptr || path == nullptr) return false;
    const AtRoute at = route_at(*state, dirfd, path);
    if (!at.simulated()) return false;
    if (at.error != 0) {
        errno = at.error;
        out = static_cast<R>(-1);
        return true;
    }
    out = sim_call<R>(*state, [&] { return op(*state, at.route); });
    return true;
}

template <typename R, typename F>
bool sim_path(const char* path, R& out, F&& op) {
    return sim_path_at(AT_FDCWD, path, out, std::forward<F>(op));
}

inline std::span<std::byte> bytes(void* data, std::size_t size) { return {static_cast<std::byte*>(data), size}; }
inline std::span<const std::byte> bytes(const void* data, std::size_t size) {
    return {static_cast<const std::byte*>(data), size};
}

/// open(2) of a simulated route: opens, reserves a number, installs.
long open_route(SimState& state, const Route& route, int flags, mode_t mode);

/// read/recv on a simulated socket; false if `fd` is not one (posix_net.cpp).
bool socket_read(int fd, void* buffer, std::size_t size, long& out);
/// write/send on a simulated socket; false if `fd` is not one.
bool socket_write(int fd, const void* buffer, std::size_t size, long& out);
/// fcntl on a simulated socket; false if `fd` is not one.
bool socket_fcntl(int fd, int cmd, long arg, int& out);

}  // namespace marionette::detail
