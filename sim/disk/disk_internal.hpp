// Helpers shared by the disk model's translation units (not public API).
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

namespace marionette::detail {

/// Lower-case errno name for traces (`ok` for 0).
inline std::string_view errno_name(int error) {
    switch (error) {
        case 0: return "ok";
        case ENOENT: return "enoent";
        case EEXIST: return "eexist";
        case ENOTDIR: return "enotdir";
        case EISDIR: return "eisdir";
        case ENOTEMPTY: return "enotempty";
        case EINVAL: return "einval";
        case EIO: return "eio";
        case ENOSPC: return "enospc";
        case ELOOP: return "eloop";
        case EBADF: return "ebadf";
        case ENAMETOOLONG: return "enametoolong";
        case EBUSY: return "ebusy";
        case EPERM: return "eperm";
        case EFBIG: return "efbig";
        case ESPIPE: return "espipe";
        default: return "error";
    }
}

inline constexpr int max_symlink_hops = 40;
inline constexpr std::size_t max_name_bytes = 255;

}  // namespace marionette::detail
