// Data calls on simulated descriptors: read/write families, seeking, sizes
// and durability (see vfs.hpp). Linux semantics are kept where programs can
// tell, including the odd ones: pwrite on an O_APPEND descriptor appends.
#include <fcntl.h>

#include <cerrno>
#include <vector>

#include "sim/vfs/vfs.hpp"

namespace marionette {
namespace {

bool readable(const OpenFile& f) { return (f.status_flags & O_ACCMODE) != O_WRONLY && (f.status_flags & O_PATH) == 0; }
bool writable(const OpenFile& f) { return (f.status_flags & O_ACCMODE) != O_RDONLY && (f.status_flags & O_PATH) == 0; }

WriteSync write_sync(int flags) {
    if ((flags & O_SYNC) == O_SYNC) return WriteSync::full;
    if (flags & O_DSYNC) return WriteSync::data;
    return WriteSync::none;
}

std::size_t total_size(auto buffers) {
    std::size_t n = 0;
    for (const auto& b : buffers) n += b.size();
    return n;
}

}  // namespace

long ProcessFiles::read(int fd, std::span<std::byte> out) {
    OpenFile* f = lookup(fd);
    if (f == nullptr || !readable(*f)) return neg(EBADF);
    long n = pread(fd, out, static_cast<std::int64_t>(f->offset));
    if (n > 0) f->offset += static_cast<std::uint64_t>(n);
    return n;
}

long ProcessFiles::pread(int fd, std::span<std::byte> out, std::int64_t offset) {
    OpenFile* f = lookup(fd);
    if (f == nullptr || !readable(*f)) return neg(EBADF);
    if (f->directory) return neg(EISDIR);
    if (offset < 0) return neg(EINVAL);
    Result<std::uint64_t> r = f->disk->read(f->ino, static_cast<std::uint64_t>(offset), out);
    charge(*f->disk);
    return r.ok() ? static_cast<long>(r.value) : neg(r.error);
}

long ProcessFiles::readv(int fd, std::span<const std::span<std::byte>> out, std::optional<std::int64_t> offset) {
    // One read into a bounce buffer, then scatter: a single disk operation,
    // as the kernel does for a regular file.
    std::vector<std::byte> buffer(total_size(out));
    const long n = offset ? pread(fd, buffer, *offset) : read(fd, buffer);
    if (n <= 0) return n;
    std::size_t done = 0;
    for (const auto& piece : out) {
        const std::size_t take = std::min(piece.size(), static_cast<std::size_t>(n) - done);
        std::copy_n(buffer.begin() + static_cast<std::ptrdiff_t>(done), take, piece.begin());
        done += take;
        if (done == static_cast<std::size_t>(n)) break;
    }
    return n;
}

long ProcessFiles::write_at(OpenFile& f, std::span<const std::byte> data, std::uint64_t offset) {
    if (f.status_flags & O_APPEND) {
        Result<Stat> st = f.disk->fstat(f.ino);
        if (!st.ok()) return neg(st.error);
        offset = st.value.size;
    }
    Result<std::uint64_t> r = f.disk->write(f.ino, offset, data, write_sync(f.status_flags));
    charge(*f.disk);
    if (!r.ok()) return neg(r.error);
    return static_cast<long>(r.value);
}

long ProcessFiles::write(int fd, std::span<const std::byte> data) {
    OpenFile* f = lookup(fd);
    if (f == nullptr || !writable(*f)) return neg(EBADF);
    const bool append = (f->status_flags & O_APPEND) != 0;
    const long n = write_at(*f, data, f->offset);
    if (n >= 0) {
        if (append) {
            Result<Stat> st = f->disk->fstat(f->ino);
            f->offset = st.ok() ? st.value.size : f->offset;
        } else {
            f->offset += static_cast<std::uint64_t>(n);
        }
    }
    return n;
}

long ProcessFiles::pwrite(int fd, std::span<const std::byte> data, std::int64_t offset) {
    OpenFile* f = lookup(fd);
    if (f == nullptr || !writable(*f)) return neg(EBADF);
    if (offset < 0) return neg(EINVAL);
    return write_at(*f, data, static_cast<std::uint64_t>(offset));
}

long ProcessFiles::writev(int fd, std::span<const std::span<const std::byte>> data, std::optional<std::int64_t> offset) {
    // Gather into one write so the data is one disk operation (one journal
    // entry, one fault decision), as writev is atomic for regular files.
    std::vector<std::byte> buffer;
    buffer.reserve(total_size(data));
    for (const auto& piece : data) buffer.insert(buffer.end(), piece.begin(), piece.end());
    return offset ? pwrite(fd, buffer, *offset) : write(fd, buffer);
}

long ProcessFiles::lseek(int fd, std::int64_t offset, int whence) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    Result<Stat> st = f->disk->fstat(f->ino);
    if (!st.ok()) return neg(st.error);
    const auto size = static_cast<std::int64_t>(st.value.size);
    std::int64_t target = 0;
    switch (whence) {
        case SEEK_SET: target = offset; break;
        case SEEK_CUR: target = static_cast<std::int64_t>(f->offset) + offset; break;
        case SEEK_END: target = size + offset; break;
        case SEEK_DATA:
            // Holes are not tracked at this level: all data until the end.
            if (offset < 0 || offset >= size) return neg(ENXIO);
            target = offset;
            break;
        case SEEK_HOLE:
            if (offset < 0 || offset >= size) return neg(ENXIO);
            target = size;
            break;
        default: return neg(EINVAL);
    }
    if (target < 0) return neg(EINVAL);
    f->offset = static_cast<std::uint64_t>(target);
    if (f->directory && target == 0) f->listing.clear();
    return static_cast<long>(target);
}

long ProcessFiles::ftruncate(int fd, std::int64_t length) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    if (!writable(*f) || f->directory || length < 0) return neg(EINVAL);
    const int e = f->disk->truncate(f->ino, static_cast<std::uint64_t>(length));
    charge(*f->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::truncate(const Route& route, std::int64_t length) {
    if (length < 0) return neg(EINVAL);
    Opened o = open(route, O_WRONLY, 0);
    if (o.error) return neg(o.error);
    const int e = o.file->disk->truncate(o.file->ino, static_cast<std::uint64_t>(length));
    charge(*o.file->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::fallocate(int fd, int mode, std::int64_t offset, std::int64_t length) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    if (!writable(*f)) return neg(EBADF);
    if (offset < 0 || length <= 0) return neg(EINVAL);
    if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE) return neg(EOPNOTSUPP);
    const int e = f->disk->fallocate(f->ino, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length),
                                     mode == FALLOC_FL_KEEP_SIZE);
    charge(*f->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::fsync(int fd) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    const int e = f->disk->fsync(f->ino);
    charge(*f->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::fdatasync(int fd) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    const int e = f->disk->fdatasync(f->ino);
    charge(*f->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::sync_file_range(int fd, std::int64_t offset, std::int64_t length, unsigned flags) {
    OpenFile* f = lookup(fd);
    if (f == nullptr) return neg(EBADF);
    if (offset < 0 || length < 0) return neg(EINVAL);
    // Only WAIT_AFTER promises the range reached the disk; the other flags
    // start or wait for writeback that may not be complete.
    if ((flags & SYNC_FILE_RANGE_WAIT_AFTER) == 0) return 0;
    const std::uint64_t len = length == 0 ? UINT64_MAX - static_cast<std::uint64_t>(offset) : static_cast<std::uint64_t>(length);
    const int e = f->disk->sync_range(f->ino, static_cast<std::uint64_t>(offset), len);
    charge(*f->disk);
    return e ? neg(e) : 0;
}

long ProcessFiles::sync_all() {
    std::vector<Disk*> done;
    for (const Mount& m : node_->mounts()) {
        if (m.disk == nullptr || std::find(done.begin(), done.end(), m.disk) != done.end()) continue;
        done.push_back(m.disk);
        m.disk->sync_all();
        charge(*m.disk);
    }
    return 0;
}

}  // namespace marionette
