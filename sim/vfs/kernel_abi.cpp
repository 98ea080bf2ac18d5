#include "sim/vfs/kernel_abi.hpp"

#include <cstring>

namespace marionette {
namespace {

struct timespec to_timespec(Ns ns) {
    struct timespec ts {};
    ts.tv_sec = static_cast<time_t>(ns / ns_per_s);
    ts.tv_nsec = static_cast<long>(ns % ns_per_s);
    return ts;
}

struct statx_timestamp to_statx_timestamp(Ns ns) {
    struct statx_timestamp ts {};
    ts.tv_sec = static_cast<std::int64_t>(ns / ns_per_s);
    ts.tv_nsec = static_cast<std::uint32_t>(ns % ns_per_s);
    return ts;
}

}  // namespace

unsigned kernel_mode(const Stat& st) {
    unsigned type = S_IFREG;
    if (st.type == FileType::directory) type = S_IFDIR;
    if (st.type == FileType::symlink) type = S_IFLNK;
    return type | (st.mode & 07777);
}

void to_kernel_stat(const Stat& st, struct stat& out) {
    std::memset(&out, 0, sizeof out);
    out.st_dev = st.dev;
    out.st_ino = st.ino;
    out.st_mode = kernel_mode(st);
    out.st_nlink = st.nlink;
    out.st_uid = 0;
    out.st_gid = 0;
    out.st_size = static_cast<off_t>(st.size);
    out.st_blksize = static_cast<blksize_t>(st.block_size);
    out.st_blocks = static_cast<blkcnt_t>(st.blocks);
    out.st_atim = to_timespec(st.atime_ns);
    out.st_mtim = to_timespec(st.mtime_ns);
    out.st_ctim = to_timespec(st.ctime_ns);
}

void to_kernel_statx(const Stat& st, struct statx& out) {
    std::memset(&out, 0, sizeof out);
    out.stx_mask = STATX_BASIC_STATS;
    out.stx_blksize = static_cast<std::uint32_t>(st.block_size);
    out.stx_nlink = static_cast<std::uint32_t>(st.nlink);
    out.stx_mode = static_cast<std::uint16_t>(kernel_mode(st));
    out.stx_ino = st.ino;
    out.stx_size = st.size;
    out.stx_blocks = st.blocks;
    out.stx_atime = to_statx_timestamp(st.atime_ns);
    out.stx_mtime = to_statx_timestamp(st.mtime_ns);
    out.stx_ctime = to_statx_timestamp(st.ctime_ns);
    out.stx_dev_major = static_cast<std::uint32_t>(st.dev >> 8);
    out.stx_dev_minor = static_cast<std::uint32_t>(st.dev & 0xff);
}

}  // namespace marionette
