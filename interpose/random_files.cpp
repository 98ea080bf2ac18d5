// The libc symbol wrappers for open/read/close and fopen.
//
// open/read/close reach the file layer (files.cpp) through the dispatch
// table without a seccomp trap: it routes simulated paths to the coordinator
// and serves /dev/urandom and /dev/random from the process's seeded stream
// (descriptors on those paths are real, so fstat and close behave, but
// remembered, including through dup, readv and pread). fopen() of a random
// device returns a fopencookie stream, because stdio's internal reads only
// reach the file layer through the seccomp trap, which does not cover file
// calls when no coordinator is connected (docs/determinism.md).
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

bool is_random_device(const char* path) {
    return path != nullptr && (std::strcmp(path, "/dev/urandom") == 0 || std::strcmp(path, "/dev/random") == 0);
}

// The file layer (files.cpp) routes simulated paths and serves the random
// devices; these wrappers only reach it without a seccomp trap.
long open_common(int dirfd, const char* path, int flags, unsigned mode) {
    return invoke(SYS_openat, dirfd, arg(path), flags, mode);
}

unsigned mode_argument(int flags, va_list& args) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, unsigned) : 0;
}

long read_common(int fd, void* buffer, std::size_t length) {
    return invoke(SYS_read, fd, arg(buffer), static_cast<long>(length));
}

ssize_t cookie_read(void* cookie, char* buffer, std::size_t length) {
    return read_common(static_cast<int>(reinterpret_cast<long>(cookie)), buffer, length);
}

int cookie_close(void* cookie) {
    return static_cast<int>(libc_result(invoke(SYS_close, reinterpret_cast<long>(cookie))));
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
        if (stream == nullptr) invoke(SYS_close, fd);
        return stream;
    }
    using Real = FILE* (*)(const char*, const char*);
    auto real = reinterpret_cast<Real>(libc_dlsym(RTLD_NEXT, real_name));
    return real(path, mode);
}

}  // namespace
}  // namespace marionette::shim

using marionette::shim::invoke;
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

MARIONETTE_EXPORT int close(int fd) { return static_cast<int>(libc_result(marionette::shim::invoke(SYS_close, fd))); }

MARIONETTE_EXPORT FILE* fopen(const char* path, const char* mode) {
    return marionette::shim::fopen_common(path, mode, "fopen");
}

MARIONETTE_EXPORT FILE* fopen64(const char* path, const char* mode) {
    return marionette::shim::fopen_common(path, mode, "fopen64");
}
