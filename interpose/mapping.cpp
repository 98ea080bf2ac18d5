// mmap of simulated files. The descriptor behind a simulated file is a
// placeholder on /dev/null, so the real mmap cannot see the file's bytes.
// A private mapping is served from a copy: the bytes of the mapped range
// are read through the simulated file into a memfd, which is mapped
// instead. A shared mapping (read-only or writable) maps the file's memfd
// kept by shared_maps.cpp, whose stores reach the simulated disk and which
// follows the file's writes. munmap, msync and mremap are wrapped here for
// those mappings; every other mapping goes to the real kernel untouched.
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>

#include "interpose/files.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shared_maps.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace {

using marionette::shim::arg;
using marionette::shim::raw_syscall;

void* fail(int error) {
    errno = error;
    return MAP_FAILED;
}

/// Copies [offset, offset + length) of simulated file `fd` into a new memfd.
long copy_to_memfd(int fd, std::size_t length, long offset) {
    const long memfd = raw_syscall(SYS_memfd_create, arg("marionette-mmap"), MFD_CLOEXEC);
    if (memfd < 0) return memfd;
    if (raw_syscall(SYS_ftruncate, memfd, static_cast<long>(length)) != 0) {
        raw_syscall(SYS_close, memfd);
        return -ENOMEM;
    }
    if (length == 0) return memfd;
    // Read straight into the memfd's pages (no buffer on the caller's
    // stack, which may be a small thread stack).
    const long view = raw_syscall(SYS_mmap, 0, static_cast<long>(length), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (view < 0 && view > -4096) {
        raw_syscall(SYS_close, memfd);
        return view;
    }
    auto* bytes = reinterpret_cast<char*>(view);
    std::size_t done = 0;
    long result = memfd;
    while (done < length) {
        const long got = marionette::shim::invoke(SYS_pread64, fd, arg(bytes + done), static_cast<long>(length - done),
                                                  offset + static_cast<long>(done));
        if (got < 0) {
            result = got;
            break;
        }
        if (got == 0) break;  // past the end: the rest stays zero
        done += static_cast<std::size_t>(got);
    }
    raw_syscall(SYS_munmap, view, static_cast<long>(length));
    if (result < 0) raw_syscall(SYS_close, memfd);
    return result;
}

void* result_of(long result) {
    return result < 0 && result > -4096 ? fail(static_cast<int>(-result)) : reinterpret_cast<void*>(result);
}

void* map(void* address, std::size_t length, int prot, int flags, int fd, long offset) {
    if ((flags & MAP_ANONYMOUS) != 0 || fd < 0 || !marionette::shim::simulated_file(fd)) {
        // A MAP_FIXED mapping may replace a tracked one: its stores first.
        if ((flags & MAP_FIXED) != 0 && marionette::shim::shared_maps_active()) {
            marionette::shim::Enter enter;
            if (enter.entered()) marionette::shim::shared_maps_release_range(arg(address), length);
        }
        const long result = raw_syscall(SYS_mmap, arg(address), static_cast<long>(length), prot, flags, fd, offset);
        if (result < 0 && result > -4096) return fail(static_cast<int>(-result));
        marionette::shim::tsc_patch_after_mapping(prot);
        return reinterpret_cast<void*>(result);
    }
    if ((flags & MAP_TYPE) != MAP_PRIVATE) {
        marionette::shim::Enter enter;
        if (!enter.entered()) return fail(ENODEV);  // the shim's own call
        return result_of(marionette::shim::shared_map(arg(address), length, prot, flags, fd, offset));
    }
    if (length == 0 || offset < 0) return fail(EINVAL);
    const long memfd = copy_to_memfd(fd, length, offset);
    if (memfd < 0) return fail(static_cast<int>(-memfd));
    if ((flags & MAP_FIXED) != 0 && marionette::shim::shared_maps_active()) {
        marionette::shim::Enter enter;
        if (enter.entered()) marionette::shim::shared_maps_release_range(arg(address), length);
    }
    const long result = raw_syscall(SYS_mmap, arg(address), static_cast<long>(length), prot, flags, memfd, 0);
    raw_syscall(SYS_close, memfd);  // the mapping keeps the memfd alive
    return result_of(result);
}

int int_result(long result) {
    if (result < 0 && result > -4096) {
        errno = static_cast<int>(-result);
        return -1;
    }
    return 0;
}

}  // namespace

MARIONETTE_EXPORT void* mmap(void* address, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    return map(address, length, prot, flags, fd, offset);
}

MARIONETTE_EXPORT void* mmap64(void* address, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    return map(address, length, prot, flags, fd, offset);
}

/// munmap: a shared mapping of a simulated file writes its stores back first.
MARIONETTE_EXPORT int munmap(void* address, std::size_t length) noexcept {
    if (marionette::shim::shared_maps_active()) {
        marionette::shim::Enter enter;
        if (enter.entered()) return int_result(marionette::shim::shared_unmap(arg(address), length));
    }
    return int_result(raw_syscall(SYS_munmap, arg(address), static_cast<long>(length)));
}

/// msync: the stores of a shared mapping of a simulated file become writes
/// of the simulated disk; MS_SYNC makes them durable.
MARIONETTE_EXPORT int msync(void* address, std::size_t length, int flags) {
    if (marionette::shim::shared_maps_active()) {
        marionette::shim::Enter enter;
        if (enter.entered()) return int_result(marionette::shim::shared_msync(arg(address), length, flags));
    }
    return int_result(raw_syscall(SYS_msync, arg(address), static_cast<long>(length), flags));
}

/// mremap: a whole shared mapping of a simulated file may grow, shrink or
/// move (its memfd grows with it); part of one is refused.
MARIONETTE_EXPORT void* mremap(void* old_address, std::size_t old_length, std::size_t new_length, int flags, ...) noexcept {
    void* new_address = nullptr;
    if ((flags & MREMAP_FIXED) != 0) {
        va_list rest;
        va_start(rest, flags);
        new_address = va_arg(rest, void*);
        va_end(rest);
    }
    if (marionette::shim::shared_maps_active()) {
        marionette::shim::Enter enter;
        if (enter.entered()) {
            bool handled = false;
            const long result = marionette::shim::shared_remap(arg(old_address), old_length, new_length, flags,
                                                               arg(new_address), handled);
            if (handled) return result_of(result);
            if ((flags & MREMAP_FIXED) != 0) marionette::shim::shared_maps_release_range(arg(new_address), new_length);
        }
    }
    return result_of(raw_syscall(SYS_mremap, arg(old_address), static_cast<long>(old_length), static_cast<long>(new_length),
                                 flags, arg(new_address)));
}
