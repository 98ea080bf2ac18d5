// mmap of simulated files. The descriptor behind a simulated file is a
// placeholder on /dev/null, so the real mmap cannot see the file's bytes.
// Where it is feasible the mapping is served from a copy: the bytes of the
// mapped range are read through the simulated file into a memfd, which is
// mapped instead — exact for private mappings and read-only shared ones
// (the common case: readers of databases and indexes). A writable shared
// mapping would need the program's stores to reach the simulated disk
// (msync), which a copy cannot give: it fails with ENODEV, a warning and a
// `determinism.escape mmap=shared_writable` trace line, never silently.
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>

#include "interpose/files.hpp"
#include "interpose/raw_syscall.hpp"
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

void* map(void* address, std::size_t length, int prot, int flags, int fd, long offset) {
    if ((flags & MAP_ANONYMOUS) != 0 || fd < 0 || !marionette::shim::simulated_file(fd)) {
        const long result = raw_syscall(SYS_mmap, arg(address), static_cast<long>(length), prot, flags, fd, offset);
        if (result < 0 && result > -4096) return fail(static_cast<int>(-result));
        marionette::shim::tsc_patch_after_mapping(prot);
        return reinterpret_cast<void*>(result);
    }
    if ((flags & MAP_SHARED) != 0 && (prot & PROT_WRITE) != 0) {
        static bool warned = false;
        if (!warned) {
            warned = true;
            marionette::shim::warn("a writable shared mmap of a simulated file is not supported (its stores could not "
                                   "reach the simulated disk); the program gets ENODEV");
        }
        marionette::shim::Enter enter;
        if (enter.entered()) enter.kernel().emit_escape("mmap", "shared_writable");
        return fail(ENODEV);
    }
    if (length == 0 || offset < 0) return fail(EINVAL);
    const long memfd = copy_to_memfd(fd, length, offset);
    if (memfd < 0) return fail(static_cast<int>(-memfd));
    const long result = raw_syscall(SYS_mmap, arg(address), static_cast<long>(length), prot, flags, memfd, 0);
    raw_syscall(SYS_close, memfd);  // the mapping keeps the memfd alive
    return result < 0 && result > -4096 ? fail(static_cast<int>(-result)) : reinterpret_cast<void*>(result);
}

}  // namespace

MARIONETTE_EXPORT void* mmap(void* address, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    return map(address, length, prot, flags, fd, offset);
}

MARIONETTE_EXPORT void* mmap64(void* address, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    return map(address, length, prot, flags, fd, offset);
}
