// The embedded API's path and metadata calls: the stat family (as glibc
// 2.36 exports it: stat/fstat/lstat/fstatat and their 64 names, statx),
// access, mkdir, rmdir, unlink, remove, rename, link, symlink, readlink, chmod,
// truncate and getdents64. Paths under the simulation's root and simulated
// descriptors are served by ProcessFiles; everything else goes to glibc.
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "embed/posix_common.hpp"
#include "embed/real_libc.hpp"
#include "sim/vfs/kernel_abi.hpp"

using namespace marionette;
using namespace marionette::detail;

namespace {

static_assert(sizeof(struct stat) == sizeof(struct stat64), "x86_64: stat and stat64 share a layout");

/// stat/lstat/fstatat of a simulated route into a kernel struct stat.
long stat_route(SimState& s, const Route& route, bool follow, struct stat* out) {
    Stat st;
    const long result = s.files().stat(route, follow, st);
    if (result == 0) to_kernel_stat(st, *out);
    return result;
}

long fstat_fd(SimState& s, int fd, struct stat* out) {
    Stat st;
    const long result = s.files().fstat(fd, st);
    if (result == 0) to_kernel_stat(st, *out);
    return result;
}

int fstatat_impl(int dirfd, const char* path, struct stat* out, int flags) {
    int result = 0;
    if ((flags & AT_EMPTY_PATH) != 0 && path != nullptr && path[0] == '\0') {
        if (sim_fd(dirfd, result, [&](SimState& s) { return fstat_fd(s, dirfd, out); })) return result;
    } else if (sim_path_at(dirfd, path, result, [&](SimState& s, const Route& r) {
                   return stat_route(s, r, (flags & AT_SYMLINK_NOFOLLOW) == 0, out);
               })) {
        return result;
    }
    return MARIONETTE_REAL(fstatat)(dirfd, path, out, flags);
}

}  // namespace

extern "C" {

int stat(const char* path, struct stat* out) noexcept { return fstatat_impl(AT_FDCWD, path, out, 0); }
int lstat(const char* path, struct stat* out) noexcept {
    return fstatat_impl(AT_FDCWD, path, out, AT_SYMLINK_NOFOLLOW);
}
int fstatat(int dirfd, const char* path, struct stat* out, int flags) noexcept {
    return fstatat_impl(dirfd, path, out, flags);
}

int fstat(int fd, struct stat* out) noexcept {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return fstat_fd(s, fd, out); })) return result;
    return MARIONETTE_REAL(fstat)(fd, out);
}

int stat64(const char* path, struct stat64* out) noexcept {
    return fstatat_impl(AT_FDCWD, path, reinterpret_cast<struct stat*>(out), 0);
}
int lstat64(const char* path, struct stat64* out) noexcept {
    return fstatat_impl(AT_FDCWD, path, reinterpret_cast<struct stat*>(out), AT_SYMLINK_NOFOLLOW);
}
int fstatat64(int dirfd, const char* path, struct stat64* out, int flags) noexcept {
    return fstatat_impl(dirfd, path, reinterpret_cast<struct stat*>(out), flags);
}
int fstat64(int fd, struct stat64* out) noexcept { return fstat(fd, reinterpret_cast<struct stat*>(out)); }

int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* out) noexcept {
    int result = 0;
    Stat st;
    long found = 0;
    const bool handled = ((flags & AT_EMPTY_PATH) != 0 && path[0] == '\0')
                             ? sim_fd(dirfd, result, [&](SimState& s) { return found = s.files().fstat(dirfd, st); })
                             : sim_path_at(dirfd, path, result, [&](SimState& s, const Route& r) {
                                   return found = s.files().stat(r, (flags & AT_SYMLINK_NOFOLLOW) == 0, st);
                               });
    if (!handled) return MARIONETTE_REAL(statx)(dirfd, path, flags, mask, out);
    if (result == 0 && found == 0) to_kernel_statx(st, *out);
    return result;
}

int faccessat(int dirfd, const char* path, int mode, int flags) noexcept {
    int result = 0;
    if (sim_path_at(dirfd, path, result, [&](SimState& s, const Route& r) { return s.files().access(r, mode); })) {
        return result;
    }
    return MARIONETTE_REAL(faccessat)(dirfd, path, mode, flags);
}

int access(const char* path, int mode) noexcept {
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) { return s.files().access(r, mode); })) return result;
    return MARIONETTE_REAL(access)(path, mode);
}

int mkdirat(int dirfd, const char* path, mode_t mode) noexcept {
    int result = 0;
    if (sim_path_at(dirfd, path, result, [&](SimState& s, const Route& r) { return s.files().mkdir(r, mode); })) {
        return result;
    }
    return MARIONETTE_REAL(mkdirat)(dirfd, path, mode);
}

int mkdir(const char* path, mode_t mode) noexcept { return mkdirat(AT_FDCWD, path, mode); }

int rmdir(const char* path) noexcept {
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) { return s.files().rmdir(r); })) return result;
    return MARIONETTE_REAL(rmdir)(path);
}

int unlinkat(int dirfd, const char* path, int flags) noexcept {
    int result = 0;
    if (sim_path_at(dirfd, path, result, [&](SimState& s, const Route& r) {
            return (flags & AT_REMOVEDIR) != 0 ? s.files().rmdir(r) : s.files().unlink(r);
        })) {
        return result;
    }
    return MARIONETTE_REAL(unlinkat)(dirfd, path, flags);
}

int unlink(const char* path) noexcept { return unlinkat(AT_FDCWD, path, 0); }

int remove(const char* path) noexcept {
    // stdio's remove: glibc calls its internal unlink/rmdir, which we cannot
    // see, so the simulated path is handled here (unlink, then rmdir for a
    // directory, as glibc does).
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) {
            const long unlinked = s.files().unlink(r);
            return unlinked == -EISDIR ? s.files().rmdir(r) : unlinked;
        })) {
        return result;
    }
    return MARIONETTE_REAL(remove)(path);
}

int renameat2(int from_dirfd, const char* from, int to_dirfd, const char* to, unsigned int flags) noexcept {
    SimState* s = enter();
    if (s != nullptr && from != nullptr && to != nullptr) {
        const AtRoute a = route_at(*s, from_dirfd, from);
        const AtRoute b = route_at(*s, to_dirfd, to);
        if (a.simulated() || b.simulated()) {
            if (a.error != 0 || b.error != 0) {
                errno = a.error != 0 ? a.error : b.error;
                return -1;
            }
            // Between the simulated disk and the real file system: the
            // kernel's answer for a rename across file systems.
            if (!a.route.simulated() || !b.route.simulated()) {
                errno = EXDEV;
                return -1;
            }
            return sim_call<int>(*s, [&] { return s->files().rename(a.route, b.route, flags); });
        }
    }
    return MARIONETTE_REAL(renameat2)(from_dirfd, from, to_dirfd, to, flags);
}

int renameat(int from_dirfd, const char* from, int to_dirfd, const char* to) noexcept {
    return renameat2(from_dirfd, from, to_dirfd, to, 0);
}

int rename(const char* from, const char* to) noexcept { return renameat2(AT_FDCWD, from, AT_FDCWD, to, 0); }

int link(const char* existing, const char* path) noexcept {
    SimState* s = enter();
    if (s != nullptr) {
        const Route a = s->route(existing);
        const Route b = s->route(path);
        if (a.simulated() != b.simulated()) {
            errno = EXDEV;
            return -1;
        }
        if (a.simulated()) return sim_call<int>(*s, [&] { return s->files().link(a, b); });
    }
    return MARIONETTE_REAL(link)(existing, path);
}

int symlink(const char* target, const char* path) noexcept {
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) { return s.files().symlink(target, r); })) {
        return result;
    }
    return MARIONETTE_REAL(symlink)(target, path);
}

ssize_t readlink(const char* path, char* buffer, size_t size) noexcept {
    ssize_t result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) {
            return s.files().readlink(r, std::span<char>(buffer, size));
        })) {
        return result;
    }
    return MARIONETTE_REAL(readlink)(path, buffer, size);
}

int chmod(const char* path, mode_t mode) noexcept {
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) { return s.files().chmod(r, mode); })) return result;
    return MARIONETTE_REAL(chmod)(path, mode);
}

int fchmod(int fd, mode_t mode) noexcept {
    int result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().fchmod(fd, mode); })) return result;
    return MARIONETTE_REAL(fchmod)(fd, mode);
}

int truncate(const char* path, off_t length) noexcept {
    int result = 0;
    if (sim_path(path, result, [&](SimState& s, const Route& r) { return s.files().truncate(r, length); })) {
        return result;
    }
    return MARIONETTE_REAL(truncate)(path, length);
}

int truncate64(const char* path, off64_t length) noexcept { return truncate(path, length); }

ssize_t getdents64(int fd, void* buffer, size_t size) noexcept {
    ssize_t result = 0;
    if (sim_fd(fd, result, [&](SimState& s) { return s.files().getdents64(fd, bytes(buffer, size)); })) {
        return result;
    }
    return MARIONETTE_REAL(getdents64)(fd, buffer, size);
}

}  // extern "C"
