// Simulated files in the shim: routing and forwarding (see files.hpp).
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub. Paths are
// normalised lexically into fixed buffers; descriptor ownership is a bitmap.
// The coordinator is the authority: if it answers "passthrough" for a path
// the shim thought simulated, the shim issues the call to the real kernel.
#include "interpose/files.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "interpose/blocking.hpp"
#include "interpose/channel.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shared_maps.hpp"
#include "interpose/shim.hpp"
#include "interpose/sockets.hpp"
#include "interpose/timers.hpp"
#include "marionette/wire_client.hpp"

namespace marionette::shim {
namespace {

constexpr std::size_t path_capacity = 4096;
constexpr int max_mounts = 32;
constexpr long max_fd = 65536;

/// Host path prefixes: simulated ones, and ones the real kernel keeps
/// (MARIONETTE_MOUNTS lines starting with '!'); the longest match decides.
char mounts[max_mounts][path_capacity];
std::size_t mount_lengths[max_mounts];
bool mount_real[max_mounts];
int mount_count = 0;
char cwd[path_capacity] = "/";
std::size_t cwd_length = 1;

/// A set of descriptor numbers, lock-free (threads may close concurrently).
class FdSet {
public:
    bool has(long fd_arg) const {
        const long fd = static_cast<int>(fd_arg);  // zero-extended through the trap
        return fd >= 0 && fd < max_fd && ((bits_[fd / 64].load(std::memory_order_relaxed) >> (fd % 64)) & 1) != 0;
    }
    void set(long fd_arg, bool on) {
        const long fd = static_cast<int>(fd_arg);
        if (fd < 0 || fd >= max_fd) return;
        const std::uint64_t bit = std::uint64_t{1} << (fd % 64);
        if (on) {
            bits_[fd / 64].fetch_or(bit, std::memory_order_relaxed);
        } else {
            bits_[fd / 64].fetch_and(~bit, std::memory_order_relaxed);
        }
    }

private:
    std::atomic<std::uint64_t> bits_[max_fd / 64] = {};
};

FdSet simulated_fds;
FdSet random_fds;

/// A descriptor number now names a simulated file (perhaps another one than
/// it named before: shared_maps.cpp's memory of it goes).
void adopt_simulated(long fd) {
    simulated_fds.set(fd, true);
    shared_maps_forget_fd(fd);
}

long raw(const SyscallArgs& a) { return raw_syscall(a.nr, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); }

SyscallArgs with(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0) {
    SyscallArgs a;
    a.nr = nr;
    a.a[0] = a0, a.a[1] = a1, a.a[2] = a2, a.a[3] = a3, a.a[4] = a4, a.a[5] = a5;
    return a;
}

// --- paths -------------------------------------------------------------------

/// Appends `path`'s components to the absolute normalised path in `out`
/// ("/" or "/a/b"), resolving "." and ".." lexically. False if too long.
bool append_components(char* out, std::size_t& length, const char* path) {
    const char* p = path;
    while (*p != '\0') {
        while (*p == '/') ++p;
        const char* start = p;
        while (*p != '\0' && *p != '/') ++p;
        const std::size_t n = static_cast<std::size_t>(p - start);
        if (n == 0 || (n == 1 && start[0] == '.')) continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            while (length > 1 && out[length - 1] != '/') --length;
            if (length > 1) --length;  // drop the slash too, unless at the root
            out[length] = '\0';
            continue;
        }
        if (length + 1 + n + 1 > path_capacity) return false;
        if (length > 1) out[length++] = '/';
        std::memcpy(out + length, start, n);
        length += n;
        out[length] = '\0';
    }
    return true;
}

/// The absolute normalised form of `path` relative to `dirfd`; false if it
/// cannot be known (too long, unreadable real descriptor).
bool absolute(long dirfd, const char* path, char* out, std::size_t& length) {
    if (path[0] == '/') {
        out[0] = '/', out[1] = '\0', length = 1;
    } else if (dirfd == AT_FDCWD) {
        std::memcpy(out, cwd, cwd_length + 1);
        length = cwd_length;
    } else {
        char link[32] = "/proc/self/fd/";
        std::size_t n = std::strlen(link);
        char digits[12];
        int d = 0;
        for (long v = dirfd; d == 0 || v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
        while (d > 0) link[n++] = digits[--d];
        link[n] = '\0';
        const long got = raw_syscall(SYS_readlinkat, AT_FDCWD, arg(link), arg(out), path_capacity - 1);
        if (got <= 0 || out[0] != '/') return false;
        out[got] = '\0';
        length = static_cast<std::size_t>(got);
    }
    return append_components(out, length, path);
}

bool under_mount(const char* path, std::size_t length) {
    std::size_t longest = 0;
    bool simulated = false;
    for (int i = 0; i < mount_count; ++i) {
        const std::size_t m = mount_lengths[i];
        const bool matches = (m == 1 && path[0] == '/') ||
                             (length >= m && std::memcmp(path, mounts[i], m) == 0 && (length == m || path[m] == '/'));
        if (matches && m >= longest) {
            // At equal length a kept-real prefix wins (--real-path /).
            if (m > longest || mount_real[i]) simulated = !mount_real[i];
            longest = m;
        }
    }
    return simulated;
}

/// True if (dirfd, path) names something on a simulated mount. `buffer`
/// receives its absolute form unless it is relative to a simulated
/// directory (then it is left empty: the coordinator resolves it).
bool simulated_path(long dirfd_arg, long path_arg, char* buffer) {
    // An int argument arrives zero-extended through the trap (AT_FDCWD is
    // 0xffffff9c there): compare it as the int the kernel reads.
    const int dirfd = static_cast<int>(dirfd_arg);
    const char* path = reinterpret_cast<const char*>(path_arg);
    buffer[0] = '\0';
    if (mount_count == 0 || path == nullptr) return false;
    // Relative to a simulated directory: the coordinator resolves it.
    if (path[0] != '/' && dirfd != AT_FDCWD && simulated_fds.has(dirfd)) return true;
    std::size_t length = 0;
    if (absolute(dirfd, path, buffer, length) && under_mount(buffer, length)) return true;
    buffer[0] = '\0';
    return false;
}

/// Gives a simulated call its absolute path (from simulated_path's
/// `buffer`), relative to nothing: the coordinator and a passthrough
/// reissue then agree on what it names whatever the real working
/// directory is (a chdir into the simulation does not move the real one).
void use_absolute(SyscallArgs& a, int dirfd_index, int path_index, const char* buffer) {
    const char* path = reinterpret_cast<const char*>(a.a[path_index]);
    if (buffer[0] == '\0' || path == nullptr || path[0] == '\0') return;
    if (dirfd_index >= 0) a.a[dirfd_index] = AT_FDCWD;
    a.a[path_index] = arg(buffer);
}

bool is_random_device(long path_arg) {
    const char* path = reinterpret_cast<const char*>(path_arg);
    return path != nullptr && (std::strcmp(path, "/dev/urandom") == 0 || std::strcmp(path, "/dev/random") == 0);
}

// --- forwarding --------------------------------------------------------------------

struct Forwarded {
    long result;
    bool passthrough;
};

/// A read or write larger than one message carries (wire::max_payload_bytes)
/// becomes a shorter one, as POSIX allows (Linux itself caps one transfer
/// at MAX_RW_COUNT): the caller gets a short count and goes on. A vector
/// call keeps the iovecs that fit, or only the first one, shortened.
SyscallArgs within_payload(const SyscallArgs& a) {
    // Sector-aligned, with room for the message's own headers in the
    // channel's buffer (a transfer of exactly max_payload_bytes does not fit).
    constexpr long most = wire::max_payload_bytes - (64 << 10);
    SyscallArgs capped = a;
    switch (a.nr) {
        case SYS_read:
        case SYS_pread64:
        case SYS_write:
        case SYS_pwrite64:
        case SYS_getdents64:
            if (a.a[2] > most) capped.a[2] = most;
            return capped;
        case SYS_readv:
        case SYS_preadv:
        case SYS_writev:
        case SYS_pwritev: {
            const auto* iov = reinterpret_cast<const struct iovec*>(a.a[1]);
            if (iov == nullptr || a.a[2] <= 0) return capped;
            unsigned long total = 0;
            long fits = 0;
            for (; fits < a.a[2] && total + iov[fits].iov_len <= static_cast<unsigned long>(most); ++fits) total += iov[fits].iov_len;
            if (fits == a.a[2]) return capped;
            if (fits > 0) {
                capped.a[2] = fits;
                return capped;
            }
            const bool reading = a.nr == SYS_readv || a.nr == SYS_preadv;
            const bool positioned = a.nr == SYS_preadv || a.nr == SYS_pwritev;
            const long nr = reading ? (positioned ? SYS_pread64 : SYS_read) : (positioned ? SYS_pwrite64 : SYS_write);
            return with(nr, a.a[0], reinterpret_cast<long>(iov[0].iov_base), most, positioned ? a.a[3] : 0);
        }
        default: return capped;
    }
}

Forwarded forward(const SyscallArgs& original, long bind_fd = -1) {
    const int fd = connection();
    if (fd < 0) return {-EACCES, false};
    const SyscallArgs a = within_payload(original);
    const Ns now = now_realtime_ns();
    const wire::CallSizes sizes = wire::call_sizes(a.nr, a.a);
    Exchange exchange(fd, sizes.request_bytes(), sizes.reply_bytes());
    const wire::CallResult r = wire::call<ChannelIo>(fd, a.nr, a.a, now, bind_fd, next_sequence());
    if (!r.transport_ok) {
        // The launcher is gone: nothing simulated can be served any more.
        warn("lost the connection to marionette-launch; exiting");
        raw_syscall(SYS_exit_group, 3);
    }
    absorb_reply_time(r.now_ns, r.horizon_ns);
    return {r.result, r.passthrough};
}

/// Forwards, or issues for real when the coordinator says passthrough.
long forward_or_raw(const SyscallArgs& a) {
    const Forwarded f = forward(a);
    return f.passthrough ? raw(a) : f.result;
}

long by_fd(SyscallArgs& a) { return simulated_fds.has(a.a[0]) ? forward_or_raw(a) : raw(a); }

/// What a call on a simulated file does to its shared mappings
/// (shared_maps.hpp): any call first sees the mappings' stores written
/// back; a write then reaches the mappings.
enum class MappedIo { read, write_at, write_at_cursor, resize };

/// Forwards call `a` on simulated descriptor a.a[0], keeping the file's
/// shared mappings and the file in step.
long through_mappings(const SyscallArgs& a, MappedIo io) {
    const int file = shared_maps_active() ? shared_maps_file_of(a.a[0]) : -1;
    if (file < 0) return forward_or_raw(a);
    shared_maps_write_back(file);
    const long result = forward_or_raw(a);
    if (result <= 0 && io != MappedIo::resize) return result;
    switch (io) {
        case MappedIo::read: break;
        case MappedIo::write_at: shared_maps_refresh(file, a.a[3], result); break;
        case MappedIo::write_at_cursor: {
            // write/writev (also with O_APPEND): the bytes end at the new offset.
            const Forwarded at = forward(with(SYS_lseek, a.a[0], 0, SEEK_CUR));
            if (at.result >= result) shared_maps_refresh(file, at.result - result, result);
            break;
        }
        case MappedIo::resize:
            if (result == 0) shared_maps_refresh(file, 0, -1);
            break;
    }
    return result;
}

/// The real call on a path; a /proc path naming virtual ids gets the real
/// ones (proc_task.cpp).
long raw_path(const SyscallArgs& a, int path_index) {
    char real_ids[path_capacity];
    if (!proc_path_by_real_ids(reinterpret_cast<const char*>(a.a[path_index]), real_ids, sizeof real_ids)) return raw(a);
    SyscallArgs call = a;
    call.a[path_index] = arg(real_ids);
    return raw(call);
}

long by_path(SyscallArgs& a, int dirfd_index, int path_index) {
    const long dirfd = dirfd_index < 0 ? AT_FDCWD : a.a[dirfd_index];
    char buffer[path_capacity];
    if (!simulated_path(dirfd, a.a[path_index], buffer)) return raw_path(a, path_index);
    SyscallArgs call = a;
    use_absolute(call, dirfd_index, path_index, buffer);
    return forward_or_raw(call);
}

long serve_random(void* buffer, std::size_t length) {
    locked_kernel().read_random_device({static_cast<std::byte*>(buffer), length});
    return static_cast<long>(length);
}

long serve_random_iov(long iov_arg, long count) {
    const auto* iov = reinterpret_cast<const struct iovec*>(iov_arg);
    long total = 0;
    for (long i = 0; i < count; ++i) total += serve_random(iov[i].iov_base, iov[i].iov_len);
    return total;
}

/// Refreshes the local copy of the working directory after a chdir.
void refresh_cwd(bool simulated, const char* absolute_path, std::size_t length) {
    if (simulated && absolute_path != nullptr) {
        std::memcpy(cwd, absolute_path, length + 1);
        cwd_length = length;
        return;
    }
    if (simulated) {
        const Forwarded f = forward(with(SYS_getcwd, arg(cwd), path_capacity));
        if (f.result > 0) cwd_length = static_cast<std::size_t>(f.result - 1);
        return;
    }
    const long got = raw_syscall(SYS_getcwd, arg(cwd), path_capacity);
    if (got > 0) cwd_length = static_cast<std::size_t>(got - 1);
}

}  // namespace

// --- set-up ------------------------------------------------------------------

bool files_active() { return coordinated(); }
bool simulated_file(long fd) { return simulated_fds.has(fd); }

long simulated_call(long nr, long a0, long a1, long a2, long a3) { return forward_or_raw(with(nr, a0, a1, a2, a3)); }

void files_init() {
    // Mounts: absolute prefixes separated by newlines.
    if (const char* text = std::getenv("MARIONETTE_MOUNTS"); text != nullptr) {
        while (*text != '\0' && mount_count < max_mounts) {
            const char* end = std::strchr(text, '\n');
            const std::size_t n = end == nullptr ? std::strlen(text) : static_cast<std::size_t>(end - text);
            const bool real = n > 1 && text[0] == '!';
            const char* prefix = real ? text + 1 : text;
            const std::size_t length = real ? n - 1 : n;
            if (length > 0 && length < path_capacity && prefix[0] == '/') {
                std::memcpy(mounts[mount_count], prefix, length);
                mounts[mount_count][length] = '\0';
                mount_real[mount_count] = real;
                mount_lengths[mount_count++] = length;
            }
            text += n + (end != nullptr ? 1 : 0);
        }
    }
    const long got = raw_syscall(SYS_getcwd, arg(cwd), path_capacity);
    cwd_length = got > 0 ? static_cast<std::size_t>(got - 1) : 1;
}

void files_adopt(const std::int32_t* inherited, std::size_t count, const char* real_cwd, std::size_t real_cwd_length) {
    for (std::size_t i = 0; i < count; ++i) adopt_simulated(inherited[i]);
    if (real_cwd_length < path_capacity) {
        std::memcpy(cwd, real_cwd, real_cwd_length);
        cwd[real_cwd_length] = '\0';
        cwd_length = real_cwd_length;
    }
    // If the cwd is simulated the new image must ask for it.
    if (under_mount(cwd, cwd_length)) refresh_cwd(true, nullptr, 0);
}

// --- descriptors ----------------------------------------------------------------

long handle_openat(SyscallArgs& a) {
    char buffer[path_capacity];
    if (!simulated_path(a.a[0], a.a[1], buffer)) {
        const long fd = raw_path(a, 1);
        if (fd >= 0) random_fds.set(fd, is_random_device(a.a[1]));
        return fd;
    }
    SyscallArgs call = a;
    use_absolute(call, 0, 1, buffer);
    // Reserve the number the kernel would give, on /dev/null, then bind it.
    const long flags = a.a[2];
    const long placeholder = raw_syscall(SYS_openat, AT_FDCWD, arg("/dev/null"), O_RDONLY | (flags & O_CLOEXEC));
    if (placeholder < 0) return placeholder;
    if (placeholder >= max_fd) {
        // The shim tracks simulated files by number up to max_fd: past it, a
        // clear error rather than a descriptor that reads /dev/null.
        raw_syscall(SYS_close, placeholder);
        return -EMFILE;
    }
    const Forwarded f = forward(call, placeholder);
    if (f.passthrough || f.result < 0) {
        raw_syscall(SYS_close, placeholder);
        return f.passthrough ? raw(call) : f.result;
    }
    adopt_simulated(placeholder);
    random_fds.set(placeholder, false);
    return placeholder;
}

long handle_open(SyscallArgs& a) {
    SyscallArgs at = with(SYS_openat, AT_FDCWD, a.a[0], a.a[1], a.a[2]);
    return handle_openat(at);
}

long handle_creat(SyscallArgs& a) {
    SyscallArgs at = with(SYS_openat, AT_FDCWD, a.a[0], O_CREAT | O_WRONLY | O_TRUNC, a.a[1]);
    return handle_openat(at);
}

long handle_close(SyscallArgs& a) {
    const long fd = a.a[0];
    // The program may close "every descriptor"; the connection stays.
    if (shim_descriptor(fd) || shared_map_descriptor(fd)) return 0;
    random_fds.set(fd, false);
    forget_socket(fd);
    forget_timer(fd);
    if (simulated_fds.has(fd)) {
        forward(a);
        simulated_fds.set(fd, false);
    }
    return raw(a);
}

/// The lowest descriptor in [first, last] the program must not close (the
/// connection, the shared mappings' own), or -1.
long protected_descriptor(long first, unsigned long last) {
    long lowest = shared_maps_descriptor_in(first, last);
    if (coordinated() && first <= connection_fd && last >= static_cast<unsigned long>(connection_fd) &&
        (lowest < 0 || connection_fd < lowest)) {
        lowest = connection_fd;
    }
    return lowest;
}

long handle_close_range(SyscallArgs& a) {
    const long first = static_cast<unsigned>(a.a[0]);
    const unsigned long real_last = static_cast<unsigned>(a.a[1]);
    if (const long kept = protected_descriptor(first, real_last); kept >= 0) {
        // Around a kept descriptor: two ranges.
        SyscallArgs below = with(SYS_close_range, first, kept - 1, a.a[2]);
        SyscallArgs above = with(SYS_close_range, kept + 1, a.a[1], a.a[2]);
        const long result = first < kept ? handle_close_range(below) : 0;
        if (result != 0 || real_last == static_cast<unsigned long>(kept)) return result;
        return handle_close_range(above);
    }
    const long last = a.a[1] < max_fd && a.a[1] >= 0 ? a.a[1] : max_fd - 1;
    for (long fd = first; fd <= last && fd >= 0; ++fd) {
        if (!simulated_fds.has(fd)) continue;
        if (a.a[2] & CLOSE_RANGE_CLOEXEC) {
            forward(with(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC));
        } else {
            forward(with(SYS_close, fd));
            simulated_fds.set(fd, false);
        }
    }
    return raw(a);
}

/// dup/dup2/dup3/F_DUPFD: the kernel picks the number on the placeholder,
/// the coordinator binds it to the same open file.
long bind_duplicate(long old_fd, long new_fd, bool cloexec) {
    if (new_fd >= max_fd) {  // past what the shim tracks (see handle_openat)
        raw_syscall(SYS_close, new_fd);
        return -EMFILE;
    }
    const Forwarded f = forward(with(SYS_dup3, old_fd, new_fd, cloexec ? O_CLOEXEC : 0));
    if (f.result < 0) {
        raw_syscall(SYS_close, new_fd);
        return f.result;
    }
    adopt_simulated(new_fd);
    return new_fd;
}

long simulated_duplicate(long fd, long lowest) {
    long new_fd = raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, lowest);
    if (new_fd < 0) new_fd = raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);  // lowest past RLIMIT_NOFILE
    return new_fd < 0 ? new_fd : bind_duplicate(fd, new_fd, true);
}

long handle_dup(SyscallArgs& a) {
    const long fd = raw(a);
    if (fd >= 0) {
        copy_socket(a.a[0], fd);
        copy_timer(a.a[0], fd);
    }
    if (fd >= 0 && simulated_fds.has(a.a[0])) return bind_duplicate(a.a[0], fd, false);
    if (fd >= 0) random_fds.set(fd, random_fds.has(a.a[0]));
    return fd;
}

long dup_onto(long old_fd, long new_fd, long flags, const SyscallArgs& real_call) {
    // The connection's number, or a mapping's own descriptor, is taken.
    if (shim_descriptor(new_fd) || shared_map_descriptor(new_fd)) return -EBUSY;
    if (old_fd != new_fd && simulated_fds.has(new_fd)) {
        forward(with(SYS_close, new_fd));
        simulated_fds.set(new_fd, false);
    }
    const long fd = raw(real_call);
    if (fd < 0 || old_fd == new_fd) return fd;
    copy_socket(old_fd, fd);
    copy_timer(old_fd, fd);
    random_fds.set(fd, random_fds.has(old_fd));
    if (simulated_fds.has(old_fd)) return bind_duplicate(old_fd, fd, (flags & O_CLOEXEC) != 0);
    return fd;
}

long handle_dup2(SyscallArgs& a) { return dup_onto(a.a[0], a.a[1], 0, a); }
long handle_dup3(SyscallArgs& a) { return dup_onto(a.a[0], a.a[1], a.a[2], a); }

long handle_fcntl(SyscallArgs& a) {
    const long fd = a.a[0];
    const long cmd = a.a[1];
    if (!simulated_fds.has(fd)) {
        const long result = raw(a);
        if (result >= 0 && wire::fcntl_dups(cmd)) {
            random_fds.set(result, random_fds.has(fd));
            copy_socket(fd, result);
            copy_timer(fd, result);
        }
        return result;
    }
    if (wire::fcntl_dups(cmd)) {
        const long new_fd = raw(a);
        return new_fd < 0 ? new_fd : bind_duplicate(fd, new_fd, cmd == F_DUPFD_CLOEXEC);
    }
    // The placeholder carries FD_CLOEXEC for the real execve.
    if (cmd == F_SETFD) raw(a);
    return forward(a).result;
}

// Extended attributes: the simulated disk has none (docs/disk-model.md).
// On a simulated path or descriptor the answer is EOPNOTSUPP, as from a
// file system without xattr support; ls, cp -a and tar carry on.
long xattr_by_path(SyscallArgs& a) {
    char buffer[path_capacity];
    return simulated_path(AT_FDCWD, a.a[0], buffer) ? -EOPNOTSUPP : raw(a);
}
long xattr_by_fd(SyscallArgs& a) { return simulated_fds.has(a.a[0]) ? -EOPNOTSUPP : raw(a); }
long handle_getxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_lgetxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_listxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_llistxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_setxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_lsetxattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_removexattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_lremovexattr(SyscallArgs& a) { return xattr_by_path(a); }
long handle_fgetxattr(SyscallArgs& a) { return xattr_by_fd(a); }
long handle_flistxattr(SyscallArgs& a) { return xattr_by_fd(a); }
long handle_fsetxattr(SyscallArgs& a) { return xattr_by_fd(a); }
long handle_fremovexattr(SyscallArgs& a) { return xattr_by_fd(a); }

long handle_flock(SyscallArgs& a) {
    // One process at a time holds a node's files today: no lock contends.
    return simulated_fds.has(a.a[0]) ? 0 : raw(a);
}

// --- data ----------------------------------------------------------------------

long handle_read(SyscallArgs& a) {
    if (random_fds.has(a.a[0])) return serve_random(reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2]));
    if (simulated_fds.has(a.a[0])) return through_mappings(a, MappedIo::read);
    return read_when_ready(a, a.a[0]);
}

long handle_pread64(SyscallArgs& a) {
    if (random_fds.has(a.a[0])) return serve_random(reinterpret_cast<void*>(a.a[1]), static_cast<std::size_t>(a.a[2]));
    return simulated_fds.has(a.a[0]) ? through_mappings(a, MappedIo::read) : raw(a);
}

long handle_readv(SyscallArgs& a) {
    if (random_fds.has(a.a[0])) return serve_random_iov(a.a[1], a.a[2]);
    if (simulated_fds.has(a.a[0])) return through_mappings(a, MappedIo::read);
    return read_when_ready(a, a.a[0]);
}

long handle_preadv(SyscallArgs& a) {
    if (random_fds.has(a.a[0])) return serve_random_iov(a.a[1], a.a[2]);
    return simulated_fds.has(a.a[0]) ? through_mappings(a, MappedIo::read) : raw(a);
}

long handle_preadv2(SyscallArgs& a) {
    if (!simulated_fds.has(a.a[0])) return random_fds.has(a.a[0]) ? serve_random_iov(a.a[1], a.a[2]) : raw(a);
    if (a.a[5] != 0) return -EOPNOTSUPP;  // RWF_* flags are not modelled
    // offset -1 means "the current position", i.e. readv.
    SyscallArgs v = a.a[3] == -1 ? with(SYS_readv, a.a[0], a.a[1], a.a[2]) : with(SYS_preadv, a.a[0], a.a[1], a.a[2], a.a[3]);
    return through_mappings(v, MappedIo::read);
}

long handle_pwritev2(SyscallArgs& a) {
    if (!simulated_fds.has(a.a[0])) return raw(a);
    if (a.a[5] != 0) return -EOPNOTSUPP;
    SyscallArgs v = a.a[3] == -1 ? with(SYS_writev, a.a[0], a.a[1], a.a[2]) : with(SYS_pwritev, a.a[0], a.a[1], a.a[2], a.a[3]);
    return through_mappings(v, a.a[3] == -1 ? MappedIo::write_at_cursor : MappedIo::write_at);
}

/// A call on a simulated file through its shared mappings, else as by_fd.
long mapped_by_fd(SyscallArgs& a, MappedIo io) { return simulated_fds.has(a.a[0]) ? through_mappings(a, io) : raw(a); }

long handle_write(SyscallArgs& a) {
    return simulated_fds.has(a.a[0]) ? through_mappings(a, MappedIo::write_at_cursor) : write_when_ready(a, a.a[0]);
}
long handle_pwrite64(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::write_at); }
long handle_writev(SyscallArgs& a) {
    return simulated_fds.has(a.a[0]) ? through_mappings(a, MappedIo::write_at_cursor) : write_when_ready(a, a.a[0]);
}
long handle_pwritev(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::write_at); }
long handle_lseek(SyscallArgs& a) { return by_fd(a); }
// A sync of a file writes its mappings' stores back first (they are in the
// page cache on Linux, which fsync writes out).
long handle_fsync(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::read); }
long handle_fdatasync(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::read); }
long handle_sync_file_range(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::read); }
long handle_syncfs(SyscallArgs& a) {
    if (simulated_fds.has(a.a[0]) && shared_maps_active()) shared_maps_write_back(-1);
    return by_fd(a);
}
long handle_ftruncate(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::resize); }
long handle_fallocate(SyscallArgs& a) { return mapped_by_fd(a, MappedIo::resize); }
long handle_fstat(SyscallArgs& a) { return by_fd(a); }
long handle_getdents64(SyscallArgs& a) {
    if (!simulated_fds.has(a.a[0]) && own_task_directory(a.a[0])) return task_listing(a.a[0], reinterpret_cast<void*>(a.a[1]), a.a[2]);
    return by_fd(a);
}
long handle_fchmod(SyscallArgs& a) { return by_fd(a); }

long handle_sync(SyscallArgs& a) {
    // The simulated disk's sync; the host's page cache is not the model's.
    if (mount_count > 0 && connection() >= 0) {
        if (shared_maps_active()) shared_maps_write_back(-1);
        return forward(a).result;
    }
    return raw(a);
}

// --- metadata by path --------------------------------------------------------------

long handle_truncate(SyscallArgs& a) { return by_path(a, -1, 0); }
long handle_newfstatat(SyscallArgs& a) {
    // fstatat(fd, "", AT_EMPTY_PATH) is fstat(fd).
    const char* path = reinterpret_cast<const char*>(a.a[1]);
    if (path != nullptr && path[0] == '\0' && (a.a[3] & AT_EMPTY_PATH)) return by_fd(a);
    return by_path(a, 0, 1);
}
long handle_statx(SyscallArgs& a) {
    const char* path = reinterpret_cast<const char*>(a.a[1]);
    if (path != nullptr && path[0] == '\0' && (a.a[2] & AT_EMPTY_PATH)) return by_fd(a);
    return by_path(a, 0, 1);
}
long handle_faccessat(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_faccessat2(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_mkdirat(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_unlinkat(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_readlinkat(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_fchmodat(SyscallArgs& a) { return by_path(a, 0, 1); }
long handle_utimensat(SyscallArgs& a) {
    if (a.a[1] == 0) return by_fd(a);  // futimens(fd, ...)
    return by_path(a, 0, 1);
}
long handle_symlinkat(SyscallArgs& a) { return by_path(a, 1, 2); }

long two_paths(SyscallArgs& a) {
    char from[path_capacity];
    char to[path_capacity];
    const bool from_simulated = simulated_path(a.a[0], a.a[1], from);
    const bool to_simulated = simulated_path(a.a[2], a.a[3], to);
    if (!from_simulated && !to_simulated) return raw(a);
    SyscallArgs call = a;
    use_absolute(call, 0, 1, from);
    use_absolute(call, 2, 3, to);
    return forward_or_raw(call);
}
long handle_renameat2(SyscallArgs& a) { return two_paths(a); }
long handle_linkat(SyscallArgs& a) { return two_paths(a); }

// Legacy calls become their *at forms (glibc on x86_64 still issues several).
long handle_stat(SyscallArgs& a) {
    SyscallArgs at = with(SYS_newfstatat, AT_FDCWD, a.a[0], a.a[1], 0);
    return handle_newfstatat(at);
}
long handle_lstat(SyscallArgs& a) {
    SyscallArgs at = with(SYS_newfstatat, AT_FDCWD, a.a[0], a.a[1], AT_SYMLINK_NOFOLLOW);
    return handle_newfstatat(at);
}
long handle_access(SyscallArgs& a) {
    SyscallArgs at = with(SYS_faccessat, AT_FDCWD, a.a[0], a.a[1]);
    return handle_faccessat(at);
}
long handle_mkdir(SyscallArgs& a) {
    SyscallArgs at = with(SYS_mkdirat, AT_FDCWD, a.a[0], a.a[1]);
    return handle_mkdirat(at);
}
long handle_rmdir(SyscallArgs& a) {
    SyscallArgs at = with(SYS_unlinkat, AT_FDCWD, a.a[0], AT_REMOVEDIR);
    return handle_unlinkat(at);
}
long handle_unlink(SyscallArgs& a) {
    SyscallArgs at = with(SYS_unlinkat, AT_FDCWD, a.a[0], 0);
    return handle_unlinkat(at);
}
long handle_readlink(SyscallArgs& a) {
    SyscallArgs at = with(SYS_readlinkat, AT_FDCWD, a.a[0], a.a[1], a.a[2]);
    return handle_readlinkat(at);
}
long handle_chmod(SyscallArgs& a) {
    SyscallArgs at = with(SYS_fchmodat, AT_FDCWD, a.a[0], a.a[1]);
    return handle_fchmodat(at);
}
long handle_rename(SyscallArgs& a) {
    SyscallArgs at = with(SYS_renameat2, AT_FDCWD, a.a[0], AT_FDCWD, a.a[1], 0);
    return handle_renameat2(at);
}
long handle_renameat(SyscallArgs& a) {
    SyscallArgs at = with(SYS_renameat2, a.a[0], a.a[1], a.a[2], a.a[3], 0);
    return handle_renameat2(at);
}
long handle_link(SyscallArgs& a) {
    SyscallArgs at = with(SYS_linkat, AT_FDCWD, a.a[0], AT_FDCWD, a.a[1], 0);
    return handle_linkat(at);
}
long handle_symlink(SyscallArgs& a) {
    SyscallArgs at = with(SYS_symlinkat, a.a[0], AT_FDCWD, a.a[1]);
    return handle_symlinkat(at);
}

// --- working directory ------------------------------------------------------------

long handle_chdir(SyscallArgs& a) {
    const char* path = reinterpret_cast<const char*>(a.a[0]);
    char target[path_capacity];
    std::size_t length = 0;
    const bool known = path != nullptr && absolute(AT_FDCWD, path, target, length);
    if (known && under_mount(target, length)) {
        SyscallArgs call = a;
        call.a[0] = arg(target);
        const Forwarded f = forward(call);
        if (!f.passthrough) {
            if (f.result == 0) {
                refresh_cwd(true, target, length);
                // Where the host has the directory too, the real working
                // directory follows, for what the real kernel resolves.
                raw_syscall(SYS_chdir, arg(target));
            }
            return f.result;
        }
    }
    const long result = raw(a);
    if (result == 0) refresh_cwd(false, nullptr, 0);
    return result;
}

long handle_fchdir(SyscallArgs& a) {
    if (simulated_fds.has(a.a[0])) {
        const long result = forward(a).result;
        if (result == 0) refresh_cwd(true, nullptr, 0);
        return result;
    }
    const long result = raw(a);
    if (result == 0) refresh_cwd(false, nullptr, 0);
    return result;
}

long handle_getcwd(SyscallArgs& a) {
    if (!under_mount(cwd, cwd_length)) return raw(a);
    const auto size = static_cast<std::size_t>(a.a[1]);
    if (cwd_length + 1 > size) return -ERANGE;
    std::memcpy(reinterpret_cast<char*>(a.a[0]), cwd, cwd_length + 1);
    return static_cast<long>(cwd_length + 1);
}

}  // namespace marionette::shim
