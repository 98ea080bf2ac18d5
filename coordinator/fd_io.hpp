// Reading whole messages from a descriptor (the coordinator's and the
// scheduler's framing of the wire protocol).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace marionette {

/// Reads exactly `n` bytes (retrying on EINTR and short reads); false at
/// end-of-file or on an error.
inline bool read_exact(int fd, void* buffer, std::size_t n) {
    auto* p = static_cast<char*>(buffer);
    while (n > 0) {
        const ssize_t got = ::read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

}  // namespace marionette
