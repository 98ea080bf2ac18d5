#include "coordinator/forwarded.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sim/vfs/kernel_abi.hpp"

namespace marionette::detail {

std::string_view CallContext::path(int which) const {
    std::span<const std::byte> b = in[which];
    if (b.empty()) return {};
    std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
    if (s.back() == '\0') s.remove_suffix(1);
    return s;
}

bool CallContext::host_file_unchanged(const Route& r) const {
    return r.simulated() && !r.disk->unchanged_host_file(r.disk_path).empty();
}

Route CallContext::route(int dirfd, std::string_view p) {
    Route r = files.route_at(dirfd, p, "/");
    // A host FIFO, socket or device seen through the host view is the real
    // kernel's to serve.
    if (!r.simulated() || r.disk->host_special(r.disk_path)) passthrough = true;
    return r;
}

void CallContext::put(const void* bytes, std::size_t n) {
    out_size = std::min(n, out.size());
    std::memcpy(out.data(), bytes, out_size);
}

namespace {

using Handler = long (*)(CallContext&);

std::span<std::byte> out_span(CallContext& c) { return std::span(c.out); }

/// Output of a read-like call: the bytes it produced are the result.
long produced(CallContext& c, long n) {
    c.out_size = n > 0 ? static_cast<std::size_t>(n) : 0;
    return n;
}

long stat_reply(CallContext& c, long r, const Stat& st) {
    if (r < 0) return r;
    struct stat ks;
    to_kernel_stat(st, ks);
    c.put(&ks, sizeof ks);
    return 0;
}

// --- descriptors -------------------------------------------------------------

long h_openat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    if (c.passthrough) return 0;
    if (c.request.bind_fd < 0) return -EINVAL;
    const int flags = static_cast<int>(c.arg(2));
    // Reading a host file the run never changed: the real kernel opens it
    // (shared libraries, scripts, data files), with its real descriptor.
    const bool reads_only = (flags & O_ACCMODE) == O_RDONLY && (flags & (O_CREAT | O_TRUNC | O_DIRECTORY)) == 0;
    if (reads_only && c.host_file_unchanged(r)) {
        c.passthrough = true;
        return 0;
    }
    ProcessFiles::Opened o = c.files.open(r, flags, static_cast<std::uint32_t>(c.arg(3)));
    if (o.error) return neg(o.error);
    const int fd = static_cast<int>(c.request.bind_fd);
    c.files.install(fd, o.file, (flags & O_CLOEXEC) != 0);
    return fd;
}

long h_close(CallContext& c) { return c.files.close(c.fd_arg(0)); }

long h_dup3(CallContext& c) {
    auto file = c.files.file(c.fd_arg(0));
    if (!file) return -EBADF;
    const int to = c.fd_arg(1);
    if (to == c.fd_arg(0)) return -EINVAL;
    c.files.install(to, std::move(file), (c.arg(2) & O_CLOEXEC) != 0);
    return to;
}

long h_fcntl(CallContext& c) {
    const int fd = c.fd_arg(0);
    const long cmd = c.arg(1);
    if (!c.files.owns(fd)) return -EBADF;
    if (wire::fcntl_dups(cmd)) {
        if (c.request.bind_fd < 0) return -EINVAL;
        c.files.install(static_cast<int>(c.request.bind_fd), c.files.file(fd), cmd == F_DUPFD_CLOEXEC);
        return c.request.bind_fd;
    }
    if (wire::fcntl_uses_flock(cmd)) {
        // One process of a node at a time may hold the disk today, so every
        // lock is granted; F_GETLK reports no conflicting lock.
        if (c.in[0].size() != sizeof(struct flock)) return -EFAULT;
        struct flock lock;
        std::memcpy(&lock, c.in[0].data(), sizeof lock);
        if (cmd == F_GETLK || cmd == F_OFD_GETLK) lock.l_type = F_UNLCK;
        c.put(&lock, sizeof lock);
        return 0;
    }
    return c.files.fcntl(fd, static_cast<int>(cmd), c.arg(2));
}

// --- data --------------------------------------------------------------------

long h_read(CallContext& c) { return produced(c, c.files.read(c.fd_arg(0), out_span(c))); }
long h_pread64(CallContext& c) { return produced(c, c.files.pread(c.fd_arg(0), out_span(c), c.arg(3))); }
long h_readv(CallContext& c) { return produced(c, c.files.read(c.fd_arg(0), out_span(c))); }
long h_preadv(CallContext& c) { return produced(c, c.files.pread(c.fd_arg(0), out_span(c), c.arg(3))); }
long h_write(CallContext& c) { return c.files.write(c.fd_arg(0), c.in[0]); }
long h_pwrite64(CallContext& c) { return c.files.pwrite(c.fd_arg(0), c.in[0], c.arg(3)); }
long h_pwritev(CallContext& c) { return c.files.pwrite(c.fd_arg(0), c.in[0], c.arg(3)); }
long h_lseek(CallContext& c) { return c.files.lseek(c.fd_arg(0), c.arg(1), static_cast<int>(c.arg(2))); }
long h_fsync(CallContext& c) { return c.files.fsync(c.fd_arg(0)); }
long h_fdatasync(CallContext& c) { return c.files.fdatasync(c.fd_arg(0)); }
long h_sync_file_range(CallContext& c) {
    return c.files.sync_file_range(c.fd_arg(0), c.arg(1), c.arg(2), static_cast<unsigned>(c.arg(3)));
}
long h_syncfs(CallContext& c) { return c.files.owns(c.fd_arg(0)) ? c.files.sync_all() : -EBADF; }
long h_sync(CallContext& c) { return c.files.sync_all(); }
long h_ftruncate(CallContext& c) { return c.files.ftruncate(c.fd_arg(0), c.arg(1)); }
long h_truncate(CallContext& c) {
    const Route r = c.route(AT_FDCWD, c.path(0));
    return c.passthrough ? 0 : c.files.truncate(r, c.arg(1));
}
long h_fallocate(CallContext& c) {
    return c.files.fallocate(c.fd_arg(0), static_cast<int>(c.arg(1)), c.arg(2), c.arg(3));
}

// --- metadata ----------------------------------------------------------------

long h_fstat(CallContext& c) {
    Stat st;
    return stat_reply(c, c.files.fstat(c.fd_arg(0), st), st);
}

long h_newfstatat(CallContext& c) {
    Stat st;
    const int flags = static_cast<int>(c.arg(3));
    if (c.path(0).empty() && (flags & AT_EMPTY_PATH)) return stat_reply(c, c.files.fstat(c.fd_arg(0), st), st);
    const Route r = c.route(c.fd_arg(0), c.path(0));
    // A host file the run never changed is the host's: its stat agrees
    // with an fstat of the real descriptor an open of it gives.
    if (c.passthrough || c.host_file_unchanged(r)) {
        c.passthrough = true;
        return 0;
    }
    return stat_reply(c, c.files.stat(r, (flags & AT_SYMLINK_NOFOLLOW) == 0, st), st);
}

long h_statx(CallContext& c) {
    Stat st;
    const int flags = static_cast<int>(c.arg(2));
    long r = 0;
    if (c.path(0).empty() && (flags & AT_EMPTY_PATH)) {
        r = c.files.fstat(c.fd_arg(0), st);
    } else {
        const Route route = c.route(c.fd_arg(0), c.path(0));
        if (c.passthrough || c.host_file_unchanged(route)) {
            c.passthrough = true;
            return 0;
        }
        r = c.files.stat(route, (flags & AT_SYMLINK_NOFOLLOW) == 0, st);
    }
    if (r < 0) return r;
    struct statx sx;
    to_kernel_statx(st, sx);
    c.put(&sx, sizeof sx);
    return 0;
}

long h_faccessat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    return c.passthrough ? 0 : c.files.access(r, static_cast<int>(c.arg(2)));
}

long h_getdents64(CallContext& c) { return produced(c, c.files.getdents64(c.fd_arg(0), out_span(c))); }

long h_mkdirat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    return c.passthrough ? 0 : c.files.mkdir(r, static_cast<std::uint32_t>(c.arg(2)));
}

long h_unlinkat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    if (c.passthrough) return 0;
    return (c.arg(2) & AT_REMOVEDIR) ? c.files.rmdir(r) : c.files.unlink(r);
}

/// Routes the two paths of rename/link. Both real: passthrough. Exactly
/// one simulated: EXDEV, as across devices. Both simulated: 0, routes set.
long two_routes(CallContext& c, Route& from, Route& to) {
    from = c.files.route_at(c.fd_arg(0), c.path(0), "/");
    to = c.files.route_at(c.fd_arg(2), c.path(1), "/");
    if (!from.simulated() && !to.simulated()) {
        c.passthrough = true;
        return 0;
    }
    return from.simulated() && to.simulated() ? 0 : -EXDEV;
}

long h_renameat2(CallContext& c) {
    Route from, to;
    if (long r = two_routes(c, from, to); r != 0 || c.passthrough) return r;
    return c.files.rename(from, to, static_cast<unsigned>(c.arg(4)));
}

long h_linkat(CallContext& c) {
    Route from, to;
    if (long r = two_routes(c, from, to); r != 0 || c.passthrough) return r;
    return c.files.link(from, to);
}

long h_symlinkat(CallContext& c) {
    const Route r = c.route(c.fd_arg(1), c.path(1));
    return c.passthrough ? 0 : c.files.symlink(c.path(0), r);
}

long h_readlinkat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    if (c.passthrough) return 0;
    std::span<char> buf(reinterpret_cast<char*>(c.out.data()), c.out.size());
    return produced(c, c.files.readlink(r, buf));
}

long h_fchmod(CallContext& c) { return c.files.fchmod(c.fd_arg(0), static_cast<std::uint32_t>(c.arg(1))); }

long h_fchmodat(CallContext& c) {
    const Route r = c.route(c.fd_arg(0), c.path(0));
    return c.passthrough ? 0 : c.files.chmod(r, static_cast<std::uint32_t>(c.arg(2)));
}

long h_utimensat(CallContext& c) {
    // Times are virtual; the request's clock stands for "now" (UTIME_NOW).
    const Ns now = c.request.now_ns;
    Ns times[2] = {now, now};
    if (c.in[1].size() == 2 * sizeof(struct timespec)) {
        struct timespec ts[2];
        std::memcpy(ts, c.in[1].data(), sizeof ts);
        for (int i = 0; i < 2; ++i) {
            if (ts[i].tv_nsec == UTIME_OMIT) return -EOPNOTSUPP;
            if (ts[i].tv_nsec != UTIME_NOW) {
                times[i] = static_cast<Ns>(ts[i].tv_sec) * ns_per_s + static_cast<Ns>(ts[i].tv_nsec);
            }
        }
    }
    Route r;
    if (c.path(0).empty()) {
        auto file = c.files.file(c.fd_arg(0));
        if (!file) return -EBADF;
        r = c.files.route("/", file->host_path);
    } else {
        r = c.route(c.fd_arg(0), c.path(0));
        if (c.passthrough) return 0;
    }
    return c.files.utimens(r, times[0], times[1]);
}

long h_chdir(CallContext& c) {
    const Route r = c.route(AT_FDCWD, c.path(0));
    return c.passthrough ? 0 : c.files.chdir(r);
}

long h_fchdir(CallContext& c) { return c.files.fchdir(c.fd_arg(0)); }

long h_getcwd(CallContext& c) {
    const std::string& cwd = c.files.cwd();
    if (cwd.size() + 1 > c.out.size()) return -ERANGE;
    std::memcpy(c.out.data(), cwd.c_str(), cwd.size() + 1);
    c.out_size = cwd.size() + 1;
    return static_cast<long>(cwd.size() + 1);
}

struct Row {
    long nr;
    Handler handler;
};

constexpr Row rows[] = {
    {SYS_openat, h_openat},       {SYS_close, h_close},         {SYS_dup3, h_dup3},
    {SYS_fcntl, h_fcntl},         {SYS_read, h_read},           {SYS_pread64, h_pread64},
    {SYS_readv, h_readv},         {SYS_preadv, h_preadv},       {SYS_write, h_write},
    {SYS_pwrite64, h_pwrite64},   {SYS_writev, h_write},        {SYS_pwritev, h_pwritev},
    {SYS_lseek, h_lseek},         {SYS_fsync, h_fsync},         {SYS_fdatasync, h_fdatasync},
    {SYS_sync_file_range, h_sync_file_range},                   {SYS_syncfs, h_syncfs},
    {SYS_sync, h_sync},           {SYS_ftruncate, h_ftruncate}, {SYS_truncate, h_truncate},
    {SYS_fallocate, h_fallocate}, {SYS_fstat, h_fstat},         {SYS_newfstatat, h_newfstatat},
    {SYS_statx, h_statx},         {SYS_faccessat, h_faccessat}, {SYS_faccessat2, h_faccessat},
    {SYS_getdents64, h_getdents64},                             {SYS_mkdirat, h_mkdirat},
    {SYS_unlinkat, h_unlinkat},   {SYS_renameat2, h_renameat2}, {SYS_linkat, h_linkat},
    {SYS_symlinkat, h_symlinkat}, {SYS_readlinkat, h_readlinkat},
    {SYS_fchmod, h_fchmod},       {SYS_fchmodat, h_fchmodat},   {SYS_utimensat, h_utimensat},
    {SYS_chdir, h_chdir},         {SYS_fchdir, h_fchdir},       {SYS_getcwd, h_getcwd},
};

// Every marshalled syscall has a handler and vice versa: the two tables
// cannot drift apart silently.
constexpr bool tables_agree() {
    for (const wire::Spec& spec : wire::specs) {
        bool found = false;
        for (const Row& row : rows) found |= row.nr == spec.nr;
        if (!found) return false;
    }
    return std::size(rows) == std::size(wire::specs);
}
static_assert(tables_agree(), "every row of wire::specs needs a coordinator handler");

}  // namespace

long run_forwarded(CallContext& ctx) {
    for (const Row& row : rows) {
        if (row.nr == ctx.request.nr) return row.handler(ctx);
    }
    return -ENOSYS;
}

}  // namespace marionette::detail
