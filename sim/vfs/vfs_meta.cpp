// Metadata calls: stat, access, directory listing and namespace changes on
// simulated routes (see vfs.hpp). A change that would cross from one disk to
// another, or between a disk and the real file system, fails with EXDEV as a
// cross-device operation does on Linux.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sim/vfs/path.hpp"
#include "sim/vfs/vfs.hpp"

namespace marionette {
namespace {

unsigned char dirent_type(FileType type) {
    switch (type) {
        case FileType::regular: return DT_REG;
        case FileType::directory: return DT_DIR;
        case FileType::symlink: return DT_LNK;
    }
    return DT_UNKNOWN;
}

long errno_or_zero(int error) { return error ? neg(error) : 0; }

}  // namespace

long ProcessFiles::stat(const Route& route, bool follow, Stat& out) {
    Result<Stat> st = route.disk->stat(route.disk_path, follow);
    charge(*route.disk);
    if (!st.ok()) return neg(st.error);
    out = st.value;
    return 0;
}

long ProcessFiles::fstat(int fd, Stat& out) {
    const OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    Result<Stat> st = f->disk->fstat(f->ino);
    if (!st.ok()) return neg(st.error);
    out = st.value;
    return 0;
}

long ProcessFiles::access(const Route& route, int mode) {
    Stat st;
    if (long r = stat(route, true, st); r < 0) return r;
    // Simulated processes run with the launcher's credentials (root in CI):
    // read and write are granted; execute needs an x bit, as for root.
    if ((mode & X_OK) && st.type != FileType::directory && (st.mode & 0111) == 0) return neg(EACCES);
    return 0;
}

long ProcessFiles::getdents64(int fd, std::span<std::byte> out) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    if (!f->directory) return neg(ENOTDIR);
    if (f->offset == 0 || f->listing.empty()) {
        // Snapshot at the start of a listing: "." and ".." then the entries
        // in name order, so every run lists a directory identically.
        Result<std::vector<DirEntry>> entries = f->disk->readdir(f->ino);
        charge(*f->disk);
        if (!entries.ok()) return neg(entries.error);
        Ino parent = f->ino;
        const Route self = node_->route(f->host_path);
        if (self.disk_path != "/") {
            if (Result<Stat> up = f->disk->stat(normalize_path(self.disk_path, ".."), true); up.ok()) parent = up.value.ino;
        }
        f->listing.clear();
        f->listing.push_back(DirEntry{".", f->ino, FileType::directory});
        f->listing.push_back(DirEntry{"..", parent, FileType::directory});
        f->listing.insert(f->listing.end(), entries.value.begin(), entries.value.end());
    }
    std::size_t used = 0;
    while (f->offset < f->listing.size()) {
        const DirEntry& e = f->listing[f->offset];
        // struct linux_dirent64: ino, off, reclen, type, name + NUL, 8-aligned.
        const std::size_t header = 8 + 8 + 2 + 1;
        const std::size_t reclen = (header + e.name.size() + 1 + 7) & ~std::size_t{7};
        if (used + reclen > out.size()) {
            if (used == 0) return neg(EINVAL);
            break;
        }
        std::byte* rec = out.data() + used;
        std::memset(rec, 0, reclen);
        const std::uint64_t ino = e.ino;
        const std::int64_t next = static_cast<std::int64_t>(f->offset + 1);
        const auto len16 = static_cast<std::uint16_t>(reclen);
        const unsigned char type = dirent_type(e.type);
        std::memcpy(rec, &ino, 8);
        std::memcpy(rec + 8, &next, 8);
        std::memcpy(rec + 16, &len16, 2);
        std::memcpy(rec + 18, &type, 1);
        std::memcpy(rec + header, e.name.data(), e.name.size());
        used += reclen;
        ++f->offset;
    }
    return static_cast<long>(used);
}

long ProcessFiles::mkdir(const Route& route, std::uint32_t mode) {
    const int e = route.disk->mkdir(route.disk_path, mode & ~umask_ & 07777);
    charge(*route.disk);
    return errno_or_zero(e);
}

long ProcessFiles::rmdir(const Route& route) {
    const int e = route.disk->rmdir(route.disk_path);
    charge(*route.disk);
    return errno_or_zero(e);
}

long ProcessFiles::unlink(const Route& route) {
    const int e = route.disk->unlink(route.disk_path);
    charge(*route.disk);
    return errno_or_zero(e);
}

long ProcessFiles::rename(const Route& from, const Route& to, unsigned flags) {
    if (from.disk != to.disk) return neg(EXDEV);
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) return neg(EINVAL);
    const int e = from.disk->rename(from.disk_path, to.disk_path, (flags & RENAME_NOREPLACE) != 0);
    charge(*from.disk);
    return errno_or_zero(e);
}

long ProcessFiles::link(const Route& existing, const Route& new_path) {
    if (existing.disk != new_path.disk) return neg(EXDEV);
    const int e = existing.disk->link(existing.disk_path, new_path.disk_path);
    charge(*existing.disk);
    return errno_or_zero(e);
}

long ProcessFiles::symlink(std::string_view target, const Route& path) {
    const int e = path.disk->symlink(target, path.disk_path);
    charge(*path.disk);
    return errno_or_zero(e);
}

long ProcessFiles::readlink(const Route& route, std::span<char> out) {
    Result<std::string> target = route.disk->readlink(route.disk_path);
    charge(*route.disk);
    if (!target.ok()) return neg(target.error);
    if (out.empty()) return neg(EINVAL);
    const std::size_t n = std::min(out.size(), target.value.size());
    std::memcpy(out.data(), target.value.data(), n);
    return static_cast<long>(n);
}

long ProcessFiles::chmod(const Route& route, std::uint32_t mode) {
    const int e = route.disk->chmod(route.disk_path, mode);
    charge(*route.disk);
    return errno_or_zero(e);
}

long ProcessFiles::fchmod(int fd, std::uint32_t mode) {
    const OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    return chmod(node_->route(f->host_path), mode);
}

long ProcessFiles::utimens(const Route& route, Ns atime_ns, Ns mtime_ns) {
    Stat st;
    if (long r = stat(route, true, st); r < 0) return r;
    return errno_or_zero(route.disk->set_times(st.ino, atime_ns, mtime_ns));
}

}  // namespace marionette
