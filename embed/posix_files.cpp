// The embedded API's file descriptor calls: open, read, write, seek,
// truncate, sync, close, dup and fcntl. Each definition shadows glibc's (see
// real_libc.hpp) and serves simulated descriptors and paths from the active
// World's ProcessFiles; everything else goes to glibc unchanged. Signatures
// and exception specifications match glibc 2.36's declarations; the _2/_chk
// variants are what _FORTIFY_SOURCE builds call instead.
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdarg>
#include <vector>

#include "embed/posix_common.hpp"
#include "embed/real_libc.hpp"

using namespace marionette;
using namespace marionette::detail;

extern "C" {
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
ssize_t __read_chk(int fd, void* buffer, size_t size, size_t buffer_size);
ssize_t __pread_chk(int fd, void* buffer, size_t size, off_t offset, size_t buffer_size);
ssize_t __pread64_chk(int fd, void* buffer, size_t size, off64_t offset, size_t buffer_size);
}

namespace marionette::detail {

long open_route(SimState& state, const Route& route, int flags, mode_t mode) {
    ProcessFiles::Opened opened = state.files().open(route, flags, mode);
    if (opened.error != 0) return -opened.error;
    const int fd = state.reserve_fd();
    if (fd < 0) return fd;  // the open file is released with `opened`
    state.install(fd, std::move(opened.file), (flags & O_CLOEXEC) != 0);
    return fd;
}

}  // namespace marionette::detail

namespace {

/// Reads open's optional mode argument only when the flags carry one.
bool has_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

int open_at(int dirfd, const char* path, int flags, mode_t mode) {
    int result = 0;
    if (sim_path_at(dirfd, path, result,
                    [&](SimState& s, const Route& r) { return open_route(s, r, flags, mode); })) {
        return result;
    }
    return MARIONETTE_REAL(openat)(dirfd, path, flags, mode);
}

std::vector<std::span<std::byte>> io_spans(const struct iovec* iov, int count) {
    std::vector<std::span<std::byte>> spans;
    for (int i = 0; i < count; ++i) spans.push_back(bytes(iov[i].iov_base, iov[i].iov_len));
    return spans;
}

std::vector<std::span<const std::byte>> const_io_spans(const struct iovec* iov, int count) {
    std::vector<std::span<const std::byte>> spans;
    for (int i = 0; i < count; ++i) spans.push_back(bytes(static_cast<const void*>(iov[i].iov_base), iov[i].iov_len));
    return spans;
}

/// dup/dup2/dup3/F_DUPFD of a simulated `fd` onto a new number.
long dup_simulated(SimState& s, int fd, int minimum, bool cloexec) {
    const int copy = s.reserve_fd(minimum);
    if (copy < 0) return copy;
    s.install(copy, s.files().file(fd), cloexec);
    return copy;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (has_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    return open_at(AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (has_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    return open_at(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
    mode_t mode = 0;
    if (has_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    return open_at(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    mode_t mode = 0;
    if (has_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    return open_at(dirfd, path, flags, mode);
}

int __open_2(const char* path, int flags) { return open_at(AT_FDCWD, path, flags, 0); }
int __open64_2(const char* path, int flags) { return open_at(AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char* path, int flags) { return open_at(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char* path, int flags) { return open_at(dirfd, path, flags, 0); }

int creat(const char* path, mode_t mode) { return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char* path, mode_t mode) { return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

int close(int fd) {
    if (SimState* s = enter(); s != nullptr && s->kind(fd) != FdKind::real) {
        return sim_call<int>(*s, [&] { return s->close_fd(fd); });
    }
    return MARIONETTE_REAL(close)(fd);
}

ssize_t read(int fd, void* buffer, size_t size) {
    if (long r = 0; socket_read(fd, buffer, size, r)) return r;
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().read(fd, bytes(buffer, size)); })) return result;
    return MARIONETTE_REAL(read)(fd, buffer, size);
}

ssize_t __read_chk(int fd, void* buffer, size_t size, size_t /*buffer_size*/) { return read(fd, buffer, size); }

ssize_t write(int fd, const void* buffer, size_t size) {
    if (long r = 0; socket_write(fd, buffer, size, r)) return r;
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().write(fd, bytes(buffer, size)); })) return result;
    return MARIONETTE_REAL(write)(fd, buffer, size);
}

ssize_t pread(int fd, void* buffer, size_t size, off_t offset) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().pread(fd, bytes(buffer, size), offset); })) {
        return result;
    }
    return MARIONETTE_REAL(pread)(fd, buffer, size, offset);
}

ssize_t pread64(int fd, void* buffer, size_t size, off64_t offset) { return pread(fd, buffer, size, offset); }
ssize_t __pread_chk(int fd, void* buffer, size_t size, off_t offset, size_t) { return pread(fd, buffer, size, offset); }
ssize_t __pread64_chk(int fd, void* buffer, size_t size, off64_t offset, size_t) {
    return pread(fd, buffer, size, offset);
}

ssize_t pwrite(int fd, const void* buffer, size_t size, off_t offset) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().pwrite(fd, bytes(buffer, size), offset); })) {
        return result;
    }
    return MARIONETTE_REAL(pwrite)(fd, buffer, size, offset);
}

ssize_t pwrite64(int fd, const void* buffer, size_t size, off64_t offset) { return pwrite(fd, buffer, size, offset); }

ssize_t readv(int fd, const struct iovec* iov, int count) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().readv(fd, io_spans(iov, count)); })) return result;
    return MARIONETTE_REAL(readv)(fd, iov, count);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().writev(fd, const_io_spans(iov, count)); })) {
        return result;
    }
    return MARIONETTE_REAL(writev)(fd, iov, count);
}

ssize_t preadv(int fd, const struct iovec* iov, int count, off_t offset) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().readv(fd, io_spans(iov, count), offset); })) {
        return result;
    }
    return MARIONETTE_REAL(preadv)(fd, iov, count, offset);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().writev(fd, const_io_spans(iov, count), offset); })) {
        return result;
    }
    return MARIONETTE_REAL(pwritev)(fd, iov, count, offset);
}

ssize_t preadv64(int fd, const struct iovec* iov, int count, off64_t offset) { return preadv(fd, iov, count, offset); }
ssize_t pwritev64(int fd, const struct iovec* iov, int count, off64_t offset) {
    return pwritev(fd, iov, count, offset);
}

off_t lseek(int fd, off_t offset, int whence) noexcept {
    off_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().lseek(fd, offset, whence); })) return result;
    return MARIONETTE_REAL(lseek)(fd, offset, whence);
}

off64_t lseek64(int fd, off64_t offset, int whence) noexcept { return lseek(fd, offset, whence); }

int ftruncate(int fd, off_t length) noexcept {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().ftruncate(fd, length); })) return result;
    return MARIONETTE_REAL(ftruncate)(fd, length);
}

int ftruncate64(int fd, off64_t length) noexcept { return ftruncate(fd, length); }

int fsync(int fd) {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().fsync(fd); })) return result;
    return MARIONETTE_REAL(fsync)(fd);
}

int fdatasync(int fd) {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().fdatasync(fd); })) return result;
    return MARIONETTE_REAL(fdatasync)(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t length, unsigned int flags) {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().sync_file_range(fd, offset, length, flags); })) {
        return result;
    }
    return MARIONETTE_REAL(sync_file_range)(fd, offset, length, flags);
}

int syncfs(int fd) noexcept {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().sync_all(); })) return result;
    return MARIONETTE_REAL(syncfs)(fd);
}

void sync() noexcept {
    // In a simulation, sync(2) syncs the simulated disk only: the real one
    // holds nothing of the run's.
    if (SimState* s = enter()) {
        sim_call<int>(*s, [&] { return s->files().sync_all(); });
        return;
    }
    MARIONETTE_REAL(sync)();
}

int fallocate(int fd, int mode, off_t offset, off_t length) {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().fallocate(fd, mode, offset, length); })) {
        return result;
    }
    return MARIONETTE_REAL(fallocate)(fd, mode, offset, length);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t length) { return fallocate(fd, mode, offset, length); }

int posix_fallocate(int fd, off_t offset, off_t length) {
    // Returns the error number instead of setting errno.
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().fallocate(fd, 0, offset, length); })) {
        return result < 0 ? errno : 0;
    }
    return MARIONETTE_REAL(posix_fallocate)(fd, offset, length);
}

int posix_fallocate64(int fd, off64_t offset, off64_t length) { return posix_fallocate(fd, offset, length); }

int dup(int fd) noexcept {
    if (SimState* s = enter(); s != nullptr && s->kind(fd) == FdKind::socket) {
        errno = EOPNOTSUPP;  // dup of simulated sockets is not modelled
        return -1;
    }
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return dup_simulated(s, fd, 0, false); })) return result;
    return MARIONETTE_REAL(dup)(fd);
}

int dup3(int fd, int target, int flags) noexcept {
    SimState* s = enter();
    if (s == nullptr || (s->kind(fd) == FdKind::real && s->kind(target) == FdKind::real)) {
        return MARIONETTE_REAL(dup3)(fd, target, flags);
    }
    if (s->kind(fd) == FdKind::stale) {
        errno = EIO;
        return -1;
    }
    if (s->kind(fd) == FdKind::socket) {
        errno = EOPNOTSUPP;  // dup of simulated sockets is not modelled
        return -1;
    }
    if (fd == target) {
        errno = EINVAL;
        return -1;
    }
    // Make the real number `target` what `fd` is (a placeholder or a real
    // file), then bind it in the simulation if `fd` is simulated.
    s->forget(target);
    const int result = MARIONETTE_REAL(dup3)(fd, target, flags);
    if (result < 0 || s->kind(fd) == FdKind::real) return result;
    return sim_call<int>(*s, [&]() -> long {
        s->adopt(target);
        s->install(target, s->files().file(fd), (flags & O_CLOEXEC) != 0);
        return target;
    });
}

int dup2(int fd, int target) noexcept {
    if (fd == target) {
        SimState* s = enter();
        if (s != nullptr && s->kind(fd) == FdKind::simulated) return fd;
        return MARIONETTE_REAL(dup2)(fd, target);
    }
    return dup3(fd, target, 0);
}

int fcntl(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = va_arg(args, void*);
    va_end(args);
    int result = 0;
    if (socket_fcntl(fd, cmd, reinterpret_cast<long>(arg), result)) return result;
    const auto op = [&](SimState& s) -> long {
        if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
            return dup_simulated(s, fd, static_cast<int>(reinterpret_cast<long>(arg)), cmd == F_DUPFD_CLOEXEC);
        }
        return s.files().fcntl(fd, cmd, reinterpret_cast<long>(arg));
    };
    if (sim_fd(fd, result, op)) return result;
    return MARIONETTE_REAL(fcntl)(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = va_arg(args, void*);
    va_end(args);
    return fcntl(fd, cmd, arg);
}

}  // extern "C"
