// DirStore: one real backing file per inode (see store.hpp). This and
// disk_tree.cpp are the only parts of the disk model that call the host OS,
// and only inside the run's own backing directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>

#include "sim/disk/store.hpp"

namespace marionette {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

DirStore::DirStore(std::filesystem::path root) : root_(std::move(root)) {
    if (!std::filesystem::is_directory(root_)) {
        throw std::system_error(ENOTDIR, std::generic_category(), "DirStore root " + root_.string());
    }
}

DirStore::~DirStore() {
    for (const auto& [ino, fd] : fds_) ::close(fd);
}

std::filesystem::path DirStore::backing_path(Ino ino) const { return root_ / std::to_string(ino); }

int DirStore::fd_for(Ino ino, bool create) {
    auto it = fds_.find(ino);
    if (it != fds_.end()) return it->second;
    if (fds_.size() >= max_open_files) {
        // Stay well inside the process's descriptor limit; reopening is cheap.
        for (const auto& [cached, cached_fd] : fds_) ::close(cached_fd);
        fds_.clear();
    }
    const int fd = ::open(backing_path(ino).c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0 && !create && errno == ENOENT) return -1;
    if (fd < 0) fail("DirStore open");
    fds_.emplace(ino, fd);
    return fd;
}

void DirStore::create(Ino ino) {
    if (::ftruncate(fd_for(ino), 0) != 0) fail("DirStore create");
}

void DirStore::remove(Ino ino) {
    auto it = fds_.find(ino);
    if (it != fds_.end()) {
        ::close(it->second);
        fds_.erase(it);
    }
    if (::unlink(backing_path(ino).c_str()) != 0 && errno != ENOENT) fail("DirStore remove");
}

void DirStore::read(Ino ino, std::uint64_t offset, std::span<std::byte> out) {
    const int fd = fd_for(ino, false);
    std::size_t done = 0;
    while (fd >= 0 && done < out.size()) {
        const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("DirStore read");
        }
        if (n == 0) break;  // past the backing file's end: zeros
        done += static_cast<std::size_t>(n);
    }
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(done), out.end(), std::byte{0});
}

void DirStore::write(Ino ino, std::uint64_t offset, std::span<const std::byte> data) {
    const int fd = fd_for(ino);
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("DirStore write");
        }
        done += static_cast<std::size_t>(n);
    }
}

void DirStore::truncate(Ino ino, std::uint64_t size) {
    if (::ftruncate(fd_for(ino), static_cast<off_t>(size)) != 0) fail("DirStore truncate");
}

std::uint64_t DirStore::footprint_bytes() const {
    std::uint64_t total = 0;
    for (const auto& entry : std::filesystem::directory_iterator(root_)) {
        struct stat st {};
        if (::lstat(entry.path().c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return total;
}

}  // namespace marionette
