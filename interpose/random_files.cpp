// /dev/urandom and /dev/random served from the process's seeded stream.
//
// Descriptors opened on those paths through the libc symbols are real (so
// fstat and close behave) but remembered; read() on them returns seeded
// bytes. fopen() of those paths returns a fopencookie stream, because
// stdio's internal reads never pass through the read() symbol. Known gaps
// (docs/determinism.md): dup'ed descriptors, readv/pread, and opens that
// bypass the libc symbols (raw syscalls, libc internals) read real entropy.
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>

#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

constexpr int max_tracked_fd = 4096;
std::atomic<std::uint64_t> random_fds[max_tracked_fd / 64];

bool is_random_device(const char* path) {
    return path != nullptr && (std::strcmp(path, "/dev/urandom") == 0 || std::strcmp(path, "/dev/random") == 0);
}

void set_tracked(long fd, bool tracked) {
    if (fd < 0 || fd >= max_tracked_fd) return;
    const std::uint64_t bit = std::uint64_t{1} << (fd % 64);
    if (tracked) {
        random_fds[fd / 64].fetch_or(bit, std::memory_order_relaxed);
    } else {
        random_fds[fd / 64].fetch_and(~bit, std::memory_order_relaxed);
    }
}

bool tracked(long fd) {
    if (fd < 0 || fd >= max_tracked_fd) return false;
    return (random_fds[fd / 64].load(std::memory_order_relaxed) >> (fd % 64) & 1) != 0;
}

long open_common(int dirfd, const char* path, int flags, unsigned mode) {
    const long fd = raw_syscall(SYS_openat, dirfd, arg(path), flags, mode);
    if (fd >= 0 && is_random_device(path)) set_tracked(fd, true);
    return fd;
}

unsigned mode_argument(int flags, va_list& args) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, unsigned) : 0;
}

/// Serves `length` bytes from the seeded stream; false if nested in the shim.
bool serve_random(void* buffer, std::size_t length) {
    ensure_init();
    Enter enter;
    if (!enter.entered()) return false;
    enter.kernel().read_random_device({static_cast<std::byte*>(buffer), length});
    return true;
}

long read_common(int fd, void* buffer, std::size_t length) {
    if (tracked(fd) && serve_random(buffer, length)) return static_cast<long>(length);
    return raw_syscall(SYS_read, fd, arg(buffer), static_cast<long>(length));
}

ssize_t cookie_read(void* cookie, char* buffer, std::size_t length) {
    if (serve_random(buffer, length)) return static_cast<ssize_t>(length);
    return raw_syscall(SYS_read, reinterpret_cast<long>(cookie), arg(buffer), static_cast<long>(length));
}

int cookie_close(void* cookie) {
    const long fd = reinterpret_cast<long>(cookie);
    set_tracked(fd, false);
    return static_cast<int>(libc_result(raw_syscall(SYS_close, fd)));
}

FILE* fopen_common(const char* path, const char* mode, const char* real_name) {
    if (is_random_device(path)) {
        const long fd = open_common(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) {
            libc_result(fd);
            return nullptr;
        }
        cookie_io_functions_t functions{};
        functions.read = &cookie_read;
        functions.close = &cookie_close;
        FILE* stream = fopencookie(reinterpret_cast<void*>(fd), mode, functions);
        if (stream == nullptr) raw_syscall(SYS_close, fd);
        return stream;
    }
    using Real = FILE* (*)(const char*, const char*);
    auto real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, real_name));
    return real(path, mode);
}

}  // namespace
}  // namespace marionette::shim

using marionette::shim::libc_result;
using marionette::shim::mode_argument;
using marionette::shim::open_common;

MARIONETTE_EXPORT int open(const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const unsigned mode = mode_argument(flags, args);
    va_end(args);
    return static_cast<int>(libc_result(open_common(AT_FDCWD, path, flags, mode)));
}

MARIONETTE_EXPORT int open64(const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const unsigned mode = mode_argument(flags, args);
    va_end(args);
    return static_cast<int>(libc_result(open_common(AT_FDCWD, path, flags, mode)));
}

MARIONETTE_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const unsigned mode = mode_argument(flags, args);
    va_end(args);
    return static_cast<int>(libc_result(open_common(dirfd, path, flags, mode)));
}

MARIONETTE_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const unsigned mode = mode_argument(flags, args);
    va_end(args);
    return static_cast<int>(libc_result(open_common(dirfd, path, flags, mode)));
}

// _FORTIFY_SOURCE variants (no mode argument).
MARIONETTE_EXPORT int __open_2(const char* path, int flags) {
    return static_cast<int>(libc_result(open_common(AT_FDCWD, path, flags, 0)));
}
MARIONETTE_EXPORT int __open64_2(const char* path, int flags) {
    return static_cast<int>(libc_result(open_common(AT_FDCWD, path, flags, 0)));
}
MARIONETTE_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
    return static_cast<int>(libc_result(open_common(dirfd, path, flags, 0)));
}
MARIONETTE_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
    return static_cast<int>(libc_result(open_common(dirfd, path, flags, 0)));
}

MARIONETTE_EXPORT ssize_t read(int fd, void* buffer, std::size_t length) {
    return libc_result(marionette::shim::read_common(fd, buffer, length));
}

MARIONETTE_EXPORT ssize_t __read_chk(int fd, void* buffer, std::size_t length, std::size_t) {
    return libc_result(marionette::shim::read_common(fd, buffer, length));
}

MARIONETTE_EXPORT int close(int fd) {
    marionette::shim::set_tracked(fd, false);
    return static_cast<int>(libc_result(marionette::shim::raw_syscall(SYS_close, fd)));
}

MARIONETTE_EXPORT FILE* fopen(const char* path, const char* mode) {
    return marionette::shim::fopen_common(path, mode, "fopen");
}

MARIONETTE_EXPORT FILE* fopen64(const char* path, const char* mode) {
    return marionette::shim::fopen_common(path, mode, "fopen64");
}
