// The embedded API's directory streams: opendir, fdopendir, readdir,
// readdir64, closedir, dirfd and rewinddir on simulated directories, so
// std::filesystem::directory_iterator and plain readdir loops see the
// simulated disk. glibc's own opendir would open the directory with an
// internal call we cannot see, so for a simulated path the DIR* we return is
// our own SimDir; every other DIR* is glibc's and passes through. The records
// are the kernel's linux_dirent64, which on x86-64 is glibc's struct dirent
// and struct dirent64 byte for byte (glibc itself returns pointers into its
// getdents buffer the same way).
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/posix_common.hpp"
#include "embed/real_libc.hpp"

using namespace marionette;
using namespace marionette::detail;

namespace {

static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "x86-64: dirent and dirent64 share a layout");

/// The state if `handle` is one of its streams.
SimState* dir_owner(const void* handle, SimDir*& stream) {
    SimState* s = enter();
    if (s == nullptr) return nullptr;
    stream = s->dir(handle);
    return stream == nullptr ? nullptr : s;
}

struct dirent64* next_entry(SimState& s, SimDir& stream) {
    if (stream.position >= stream.end) {
        const long n = sim_call<long>(s, [&] { return s.files().getdents64(stream.fd, stream.buffer); });
        if (n <= 0) return nullptr;  // end (errno untouched) or error (errno set)
        stream.position = 0;
        stream.end = static_cast<std::size_t>(n);
    }
    auto* entry = reinterpret_cast<struct dirent64*>(stream.buffer.data() + stream.position);
    stream.position += entry->d_reclen;
    return entry;
}

}  // namespace

extern "C" {

DIR* fdopendir(int fd) {
    SimState* s = enter();
    if (s == nullptr || s->kind(fd) == FdKind::real) return MARIONETTE_REAL(fdopendir)(fd);
    struct stat st {};
    if (s->kind(fd) != FdKind::simulated || ::fstat(fd, &st) != 0) {
        errno = s->kind(fd) == FdKind::stale ? EIO : EBADF;
        return nullptr;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return nullptr;
    }
    InsideSim inside;
    return reinterpret_cast<DIR*>(s->add_dir(fd));
}

DIR* opendir(const char* path) {
    SimState* s = enter();
    if (s == nullptr || !s->route(path).simulated()) return MARIONETTE_REAL(opendir)(path);
    const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    InsideSim inside;
    return reinterpret_cast<DIR*>(s->add_dir(fd));
}

struct dirent64* readdir64(DIR* handle) {
    SimDir* stream = nullptr;
    SimState* s = dir_owner(handle, stream);
    if (s == nullptr) return MARIONETTE_REAL(readdir64)(handle);
    return next_entry(*s, *stream);
}

struct dirent* readdir(DIR* handle) {
    SimDir* stream = nullptr;
    SimState* s = dir_owner(handle, stream);
    if (s == nullptr) return MARIONETTE_REAL(readdir)(handle);
    return reinterpret_cast<struct dirent*>(next_entry(*s, *stream));
}

int closedir(DIR* handle) {
    SimDir* stream = nullptr;
    SimState* s = dir_owner(handle, stream);
    if (s == nullptr) return MARIONETTE_REAL(closedir)(handle);
    const int fd = stream->fd;
    {
        InsideSim inside;
        s->remove_dir(handle);
    }
    return ::close(fd);
}

int dirfd(DIR* handle) noexcept {
    SimDir* stream = nullptr;
    if (dir_owner(handle, stream) == nullptr) return MARIONETTE_REAL(dirfd)(handle);
    return stream->fd;
}

void rewinddir(DIR* handle) noexcept {
    SimDir* stream = nullptr;
    if (dir_owner(handle, stream) == nullptr) {
        MARIONETTE_REAL(rewinddir)(handle);
        return;
    }
    stream->position = stream->end = 0;
    ::lseek(stream->fd, 0, SEEK_SET);
}

}  // extern "C"
