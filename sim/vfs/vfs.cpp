// Routing, descriptors and the working directory (see vfs.hpp).
#include "sim/vfs/vfs.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "sim/vfs/path.hpp"

namespace marionette {

OpenFile::~OpenFile() { disk->close(ino); }

void NodeFiles::mount(std::string_view host_prefix, Disk& disk, std::string_view disk_prefix) {
    Mount m{normalize_path("/", host_prefix), &disk, normalize_path("/", disk_prefix)};
    // mkdir -p the directory the mount serves (an existing one is fine) and
    // make it durable: it is part of the machine's set-up, not of the run,
    // so a crash must not take the mount point away.
    std::string partial;
    std::string_view rest = m.disk_prefix;
    bool created = false;
    while (rest.size() > 1) {
        const std::size_t next = rest.find('/', 1);
        partial += rest.substr(0, next);
        created |= disk.mkdir(partial, 0755) == 0;
        if (next == std::string_view::npos) break;
        rest = rest.substr(next);
    }
    if (created) disk.sync_all();
    mounts_.push_back(std::move(m));
    // Longest prefix first, so lookups can stop at the first match.
    std::stable_sort(mounts_.begin(), mounts_.end(),
                     [](const Mount& a, const Mount& b) { return a.host_prefix.size() > b.host_prefix.size(); });
}

void NodeFiles::keep_real(std::string_view host_prefix) {
    mounts_.push_back(Mount{normalize_path("/", host_prefix), nullptr, {}});
    std::stable_sort(mounts_.begin(), mounts_.end(),
                     [](const Mount& a, const Mount& b) { return a.host_prefix.size() > b.host_prefix.size(); });
}

Route NodeFiles::route(std::string host_path) const {
    for (const Mount& m : mounts_) {
        if (path_is_under(host_path, m.host_prefix)) {
            if (m.disk == nullptr) break;  // kept real
            std::string disk_path = rebase_path(host_path, m.host_prefix, m.disk_prefix);
            return Route{std::move(host_path), m.disk, std::move(disk_path)};
        }
    }
    return Route{std::move(host_path), nullptr, {}};
}

ProcessFiles::ProcessFiles(NodeFiles& node, std::string cwd, std::uint32_t umask)
    : node_(&node), cwd_(normalize_path("/", cwd)), umask_(umask & 0777) {}

std::optional<std::string> ProcessFiles::base_dir(int dirfd) const {
    if (dirfd == AT_FDCWD) return cwd_;
    const OpenFile* f = lookup(dirfd);
    if (f == nullptr || !f->directory) return std::nullopt;
    return f->host_path;
}

Route ProcessFiles::route(std::string_view base, std::string_view path) const {
    return node_->route(normalize_path(base, path));
}

Route ProcessFiles::route_at(int dirfd, std::string_view path, std::string_view real_base) const {
    if (!path.empty() && path.front() == '/') return route("/", path);
    const std::optional<std::string> base = base_dir(dirfd);
    return route(base ? std::string_view(*base) : real_base, path);
}

std::vector<int> ProcessFiles::descriptors() const {
    std::vector<int> out;
    for (const auto& entry : fds_) out.push_back(entry.first);
    return out;
}

OpenFile* ProcessFiles::lookup(int fd) const {
    auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : it->second.file.get();
}

std::shared_ptr<OpenFile> ProcessFiles::file(int fd) const {
    auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : it->second.file;
}

ProcessFiles::Opened ProcessFiles::open(const Route& route, int flags, std::uint32_t mode) {
    Disk& disk = *route.disk;
    if ((flags & O_TMPFILE) == O_TMPFILE) return {nullptr, EOPNOTSUPP};
    if ((flags & O_CREAT) && (flags & O_DIRECTORY)) return {nullptr, EINVAL};
    OpenFlags open_flags;
    open_flags.create = (flags & O_CREAT) != 0;
    open_flags.exclusive = (flags & O_EXCL) != 0;
    open_flags.truncate = (flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY;
    open_flags.directory = (flags & O_DIRECTORY) != 0;
    open_flags.nofollow = (flags & O_NOFOLLOW) != 0;
    const bool wants_write = (flags & O_ACCMODE) != O_RDONLY;
    // A directory must not be opened for writing: check before Disk::open,
    // which would otherwise count a handle we'd immediately give back.
    if (wants_write) {
        Result<Stat> existing = disk.stat(route.disk_path, !open_flags.nofollow);
        charge(disk);
        if (existing.ok() && existing.value.type == FileType::directory) return {nullptr, EISDIR};
    }
    Result<Ino> ino = disk.open(route.disk_path, open_flags, mode & ~umask_ & 07777);
    charge(disk);
    if (!ino.ok()) return {nullptr, ino.error};
    auto file = std::make_shared<OpenFile>(disk, ino.value, route.host_path,
                                           flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC));
    Result<Stat> st = disk.fstat(ino.value);
    file->directory = st.ok() && st.value.type == FileType::directory;
    return {std::move(file), 0};
}

void ProcessFiles::install(int fd, std::shared_ptr<OpenFile> file, bool cloexec) {
    node_->trace().emit("fs.open", {{"fd", fd}, {"path", file->host_path}, {"ino", file->ino}, {"cloexec", cloexec}});
    fds_[fd] = Slot{std::move(file), cloexec};
}

long ProcessFiles::close(int fd) {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return neg(EBADF);
    node_->trace().emit("fs.close", {{"fd", fd}});
    fds_.erase(it);
    return 0;
}

std::vector<int> ProcessFiles::close_on_exec() {
    std::vector<int> closed;
    for (auto it = fds_.begin(); it != fds_.end();) {
        if (it->second.cloexec) {
            closed.push_back(it->first);
            it = fds_.erase(it);
        } else {
            ++it;
        }
    }
    return closed;
}

long ProcessFiles::fcntl(int fd, int cmd, long arg) {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return neg(EBADF);
    OpenFile& f = *it->second.file;
    switch (cmd) {
        case F_GETFD: return it->second.cloexec ? FD_CLOEXEC : 0;
        case F_SETFD: it->second.cloexec = (arg & FD_CLOEXEC) != 0; return 0;
        case F_GETFL: return f.status_flags;
        case F_SETFL: {
            // Linux lets F_SETFL change only these; the access mode stays.
            constexpr int changeable = O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT | O_ASYNC;
            f.status_flags = (f.status_flags & ~changeable) | (static_cast<int>(arg) & changeable);
            return 0;
        }
        default: return neg(EINVAL);
    }
}

long ProcessFiles::chdir(const Route& route) {
    Stat st;
    if (long r = stat(route, true, st); r < 0) return r;
    if (st.type != FileType::directory) return neg(ENOTDIR);
    cwd_ = route.host_path;
    return 0;
}

long ProcessFiles::fchdir(int fd) {
    const OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    if (!f->directory) return neg(ENOTDIR);
    cwd_ = f->host_path;
    return 0;
}

std::uint32_t ProcessFiles::set_umask(std::uint32_t mask) {
    const std::uint32_t old = umask_;
    umask_ = mask & 0777;
    return old;
}

Ns ProcessFiles::take_latency_ns() {
    const Ns latency = latency_ns_;
    latency_ns_ = 0;
    return latency;
}

}  // namespace marionette
