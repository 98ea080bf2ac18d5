// The shim's half of simulated files (see docs/processes.md).
//
// Paths under the run's mounts (`--disk DIR`, /tmp) and descriptors of files
// opened there belong to the coordinator: the handlers here route each file
// syscall — by descriptor or by path — and either issue it to the real
// kernel or forward it over the wire protocol, reserving real descriptor
// numbers (placeholders on /dev/null) so that simulated and real descriptors
// never collide. /dev/urandom and /dev/random are served from the process's
// random stream. Every handler is reached from both entry paths (libc symbol
// wrappers and the seccomp trap) through the dispatch table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "interpose/shim_internal.hpp"

namespace marionette::shim {

/// Reads the mounts from the environment and the working directory.
void files_init();
/// Takes what the hello reply said: the simulated descriptors this image
/// inherits and the working directory.
void files_adopt(const std::int32_t* inherited, std::size_t count, const char* real_cwd, std::size_t real_cwd_length);

/// True if file syscalls are being routed (a coordinator is connected).
bool files_active();
/// True if `fd` is a descriptor of a simulated file.
bool simulated_file(long fd);
/// Issues call `nr` on a simulated file to the coordinator (to the real
/// kernel if it says passthrough), bypassing the handlers: shared_maps.cpp's
/// way to read and write the files it maps.
long simulated_call(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0);
/// A close-on-exec duplicate of simulated descriptor `fd`, numbered
/// `lowest` or above if the limit allows; -errno on failure.
long simulated_duplicate(long fd, long lowest);

#define MARIONETTE_FILE_HANDLERS(X)                                                                             \
    X(openat) X(open) X(creat) X(close) X(close_range) X(read) X(pread64) X(readv) X(preadv) X(preadv2)        \
    X(write) X(pwrite64) X(writev) X(pwritev) X(pwritev2) X(lseek) X(fsync) X(fdatasync) X(sync_file_range)    \
    X(syncfs) X(sync) X(ftruncate) X(truncate) X(fallocate) X(fstat) X(newfstatat) X(stat) X(lstat) X(statx)    \
    X(access) X(faccessat) X(faccessat2) X(getdents64) X(mkdir) X(mkdirat) X(rmdir) X(unlink) X(unlinkat)      \
    X(rename) X(renameat) X(renameat2) X(link) X(linkat) X(symlink) X(symlinkat) X(readlink) X(readlinkat)     \
    X(chmod) X(fchmod) X(fchmodat) X(utimensat) X(chdir) X(fchdir) X(getcwd) X(dup) X(dup2) X(dup3) X(fcntl)  \
    X(flock) X(getxattr) X(lgetxattr) X(listxattr) X(llistxattr) X(setxattr) X(lsetxattr) X(removexattr)      \
    X(lremovexattr) X(fgetxattr) X(flistxattr) X(fsetxattr) X(fremovexattr)

#define MARIONETTE_DECLARE_HANDLER(name) long handle_##name(SyscallArgs& args);
MARIONETTE_FILE_HANDLERS(MARIONETTE_DECLARE_HANDLER)
#undef MARIONETTE_DECLARE_HANDLER

}  // namespace marionette::shim
