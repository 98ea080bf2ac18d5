// The simulated kernel's file layer: descriptors, open file descriptions and
// path routing on top of the disk model.
//
// A node has mounts (NodeFiles): host path prefixes such as the absolute path
// of `--disk ./data`, or `/tmp`, each mapped onto a directory of the node's
// simulated Disk. Everything else passes through to the real kernel
// read-only. Each simulated process has a ProcessFiles: its descriptor table,
// working directory and umask. Descriptors point at shared OpenFile objects
// (the kernel's open file description: offset, status flags), so `dup` and
// `fork` share offsets exactly as on Linux.
//
// The layer is kernel-shaped and pure: calls take descriptor numbers and
// buffers and return a non-negative result or `-errno`, with no OS calls. The
// caller — the preload shim, the coordinator, or the embedded API — reserves
// descriptor *numbers* in the real kernel (so simulated and real descriptors
// never collide and lowest-free numbering holds), then binds them here with
// install(). The caller also charges take_latency_ns() to the calling
// process's clock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/disk/disk.hpp"
#include "sim/trace.hpp"

namespace marionette {

/// A host path prefix served by a simulated disk.
struct Mount {
    std::string host_prefix;  ///< absolute, normalised (e.g. /home/u/proj/data)
    Disk* disk = nullptr;
    std::string disk_prefix;  ///< directory inside the disk (e.g. /data)
};

/// Where a path goes. `disk == nullptr` means the real kernel (passthrough).
struct Route {
    std::string host_path;  ///< absolute, normalised
    Disk* disk = nullptr;
    std::string disk_path;
    bool simulated() const { return disk != nullptr; }
};

/// The mounts of one node.
class NodeFiles {
public:
    explicit NodeFiles(Trace& trace) : trace_(&trace) {}

    /// Serves `host_prefix` (made absolute and normalised against "/") from
    /// `disk_prefix` of `disk`, creating that directory on the disk if
    /// missing. The longest matching prefix wins.
    void mount(std::string_view host_prefix, Disk& disk, std::string_view disk_prefix);

    /// Keeps `host_prefix` the real kernel's even below a mount (the
    /// longest matching prefix decides).
    void keep_real(std::string_view host_prefix);

    /// Routes an absolute, normalised host path.
    Route route(std::string host_path) const;

    const std::vector<Mount>& mounts() const { return mounts_; }
    Trace& trace() const { return *trace_; }

private:
    Trace* trace_;
    std::vector<Mount> mounts_;
};

/// The kernel's open file description for a simulated file.
struct OpenFile {
    OpenFile(Disk& d, Ino i, std::string path, int flags) : disk(&d), ino(i), host_path(std::move(path)), status_flags(flags) {}
    ~OpenFile();
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;

    Disk* disk;
    Ino ino;
    std::string host_path;
    int status_flags;  ///< O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC ...
    std::uint64_t offset = 0;
    bool directory = false;
    /// Directory listing snapshot for getdents64, taken at offset 0.
    std::vector<DirEntry> listing;
};

/// One process's descriptors, working directory and umask.
class ProcessFiles {
public:
    /// `cwd` is the process's absolute working directory at start.
    ProcessFiles(NodeFiles& node, std::string cwd, std::uint32_t umask = 022);

    /// A copy for a forked child: the same open file descriptions, shared.
    ProcessFiles fork_copy() const { return *this; }

    // --- routing -----------------------------------------------------------
    /// The directory a relative path is resolved against for `dirfd`
    /// (AT_FDCWD or a simulated directory descriptor); nullopt for a
    /// descriptor this layer doesn't own (a real one: the caller finds its
    /// path) and for a simulated non-directory (ENOTDIR).
    std::optional<std::string> base_dir(int dirfd) const;
    /// Routes `path` relative to `base` (an absolute directory).
    Route route(std::string_view base, std::string_view path) const;
    /// route(base_dir(dirfd), path); for an unknown dirfd `real_base` (the
    /// caller's resolution of the real descriptor) is used.
    Route route_at(int dirfd, std::string_view path, std::string_view real_base = "/") const;
    /// True if `fd` is a simulated descriptor.
    bool owns(int fd) const { return fds_.contains(fd); }
    /// Descriptors owned, in order (for close_range and exec).
    std::vector<int> descriptors() const;
    const std::string& cwd() const { return cwd_; }
    bool cwd_simulated() const { return node_->route(cwd_).simulated(); }

    // --- descriptors -----------------------------------------------------------
    struct Opened {
        std::shared_ptr<OpenFile> file;
        int error = 0;  ///< positive errno
    };
    /// open(2) semantics on a simulated route (flags are Linux O_* flags).
    /// On success the caller reserves a number and calls install().
    Opened open(const Route& route, int flags, std::uint32_t mode);
    /// Binds descriptor `fd` (reserved by the caller) to an open file,
    /// replacing any previous binding of that number.
    void install(int fd, std::shared_ptr<OpenFile> file, bool cloexec);
    /// The open file behind a simulated descriptor, or nullptr.
    std::shared_ptr<OpenFile> file(int fd) const;
    /// Forgets `fd`; -EBADF if it is not simulated.
    long close(int fd);
    /// Drops every close-on-exec descriptor (execve); returns them.
    std::vector<int> close_on_exec();

    // --- data ----------------------------------------------------------------
    long read(int fd, std::span<std::byte> out);
    long pread(int fd, std::span<std::byte> out, std::int64_t offset);
    long readv(int fd, std::span<const std::span<std::byte>> out, std::optional<std::int64_t> offset = std::nullopt);
    long write(int fd, std::span<const std::byte> data);
    long pwrite(int fd, std::span<const std::byte> data, std::int64_t offset);
    long writev(int fd, std::span<const std::span<const std::byte>> data, std::optional<std::int64_t> offset = std::nullopt);
    long lseek(int fd, std::int64_t offset, int whence);
    long ftruncate(int fd, std::int64_t length);
    long truncate(const Route& route, std::int64_t length);
    long fallocate(int fd, int mode, std::int64_t offset, std::int64_t length);
    long fsync(int fd);
    long fdatasync(int fd);
    long sync_file_range(int fd, std::int64_t offset, std::int64_t length, unsigned flags);
    /// syncfs(fd) and sync(): every disk of the node.
    long sync_all();
    long fcntl(int fd, int cmd, long arg);

    // --- metadata --------------------------------------------------------------
    long stat(const Route& route, bool follow, Stat& out);
    long fstat(int fd, Stat& out);
    long access(const Route& route, int mode);
    long getdents64(int fd, std::span<std::byte> out);
    long mkdir(const Route& route, std::uint32_t mode);
    long rmdir(const Route& route);
    long unlink(const Route& route);
    /// renameat2 flags: RENAME_NOREPLACE supported; RENAME_EXCHANGE -EINVAL.
    long rename(const Route& from, const Route& to, unsigned flags);
    long link(const Route& existing, const Route& new_path);
    long symlink(std::string_view target, const Route& path);
    long readlink(const Route& route, std::span<char> out);
    long chmod(const Route& route, std::uint32_t mode);
    long fchmod(int fd, std::uint32_t mode);
    long utimens(const Route& route, Ns atime_ns, Ns mtime_ns);
    /// chdir into a simulated directory (the caller handles real ones and
    /// then calls set_cwd).
    long chdir(const Route& route);
    long fchdir(int fd);
    void set_cwd(std::string cwd) { cwd_ = std::move(cwd); }
    std::uint32_t umask() const { return umask_; }
    std::uint32_t set_umask(std::uint32_t mask);

    /// Disk latency accumulated since the last call; the caller charges it.
    Ns take_latency_ns();

private:
    struct Slot {
        std::shared_ptr<OpenFile> file;
        bool cloexec = false;
    };
    OpenFile* lookup(int fd) const;
    void charge(const Disk& disk) { latency_ns_ += disk.last_latency_ns(); }
    long write_at(OpenFile& f, std::span<const std::byte> data, std::uint64_t offset);

    NodeFiles* node_;
    std::string cwd_;
    std::uint32_t umask_;
    std::map<int, Slot> fds_;
    Ns latency_ns_ = 0;
};

/// Linux errno as a negative return value.
inline long neg(int error) { return -static_cast<long>(error); }

}  // namespace marionette
