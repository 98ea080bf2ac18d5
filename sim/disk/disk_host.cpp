// The disk as a copy-on-write view of the host file system (attach_host):
// directories list the host's entries on first lookup, regular files read
// the host's bytes until a change copies them onto the disk. Like the tree
// import, this only ever reads the host.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "sim/disk/disk.hpp"

namespace marionette {

namespace fs = std::filesystem;
using detail::Inode;

namespace {

std::uint32_t mode_of(const fs::file_status& status) {
    return static_cast<std::uint32_t>(status.permissions() & fs::perms::mask);
}

/// A host entry's inode number: a hash of its host path, so it does not
/// depend on which other host entries the run happened to look at (nor on
/// files that came and went on the host between two runs). Numbers the
/// disk gives its own files count up from 11 and never reach this range.
Ino host_ino_base(std::string_view host) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char c : host) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return (Ino{1} << 40) | (hash & ((Ino{1} << 40) - 1));
}

/// pread of the whole range (short only at the host file's end).
std::uint64_t read_all(int fd, std::uint64_t offset, std::span<std::byte> out) {
    std::uint64_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n <= 0) break;
        done += static_cast<std::uint64_t>(n);
    }
    return done;
}

}  // namespace

void Disk::attach_host(std::string_view into, const fs::path& host_dir) {
    if (!fs::is_directory(host_dir)) throw std::runtime_error("attach_host: not a directory: " + host_dir.string());
    auto r = resolve(into, true);
    if (r.error == 0 && r.value.ino == 0) {
        if (int e = mkdir(into, 0755); e != 0) r.error = e;
        else r = resolve(into, true);
    }
    Inode* dir = r.error == 0 && r.value.ino != 0 ? find(r.value.ino) : nullptr;
    if (dir == nullptr || dir->type != FileType::directory) {
        throw std::runtime_error("attach_host: no such directory in the disk: " + std::string(into));
    }
    dir->host = host_dir.string();
    dir->unlisted = true;
    dir->in_view = true;
    host_root_ino_ = dir->ino;
    // Its entry in its parent is part of the disk image from the start.
    if (Inode* parent = find(dir->parent); parent != nullptr && dir->ino != root_ino) {
        set_durable_entries(*parent, parent->entries);
    }
}

void Disk::list_host(const Inode& listed) const {
    auto& self = const_cast<Disk&>(*this);
    Inode& dir = *self.find(listed.ino);
    dir.unlisted = false;
    std::error_code error;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(dir.host, error), end; !error && it != end; it.increment(error)) {
        entries.push_back(*it);
    }
    // Host directory order is a hash order; the simulation's is by name.
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
    const Ino dir_ino = dir.ino;
    for (const fs::directory_entry& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (self.find(dir_ino)->entries.contains(name)) continue;
        const fs::file_status status = entry.symlink_status(error);
        if (error) continue;
        Ino ino = 0;
        const std::string host = entry.path().string();
        if (fs::is_symlink(status)) {
            Inode& link = self.new_host_inode(FileType::symlink, 0777, host);
            link.target = fs::read_symlink(entry.path(), error).string();
            ino = link.ino;
        } else if (fs::is_directory(status)) {
            Inode& sub = self.new_host_inode(FileType::directory, mode_of(status), host);
            sub.unlisted = true;
            sub.in_view = true;
            ino = sub.ino;
        } else if (fs::is_regular_file(status)) {
            Inode& file = self.new_host_inode(FileType::regular, mode_of(status), host);
            file.size = file.durable_size = entry.file_size(error);
            file.unloaded = true;
            ino = file.ino;
        } else {
            // FIFOs, sockets, devices: a placeholder the caller passes to
            // the real kernel (host_special).
            Inode& other = self.new_host_inode(FileType::regular, mode_of(status), host);
            other.special = true;
            ino = other.ino;
        }
        Inode& parent = *self.find(dir_ino);
        parent.entries[name] = ino;
        Inode& child = *self.find(ino);
        ++child.links;
        if (child.type == FileType::directory) child.parent = dir_ino;
        self.set_durable_entry(parent, name, ino);
    }
    // Not traced: what the host holds beside what the program looks at
    // (the previous run's files, say) must not change the trace.
}

Inode& Disk::new_host_inode(FileType type, std::uint32_t mode, const std::string& host) {
    Ino ino = host_ino_base(host);
    while (inodes_.contains(ino)) ++ino;
    Inode& inode = inodes_[ino];
    inode.ino = ino;
    inode.type = type;
    inode.mode = mode & 07777;
    inode.atime_ns = inode.mtime_ns = inode.ctime_ns = clock_.now_ns();
    inode.host = host;
    struct stat st {};
    if (::lstat(host.c_str(), &st) == 0) {
        inode.host_ino = st.st_ino;
        inode.host_dev = st.st_dev;
        inode.atime_ns = static_cast<Ns>(st.st_atim.tv_sec) * 1'000'000'000 + static_cast<Ns>(st.st_atim.tv_nsec);
        inode.mtime_ns = static_cast<Ns>(st.st_mtim.tv_sec) * 1'000'000'000 + static_cast<Ns>(st.st_mtim.tv_nsec);
        inode.ctime_ns = static_cast<Ns>(st.st_ctim.tv_sec) * 1'000'000'000 + static_cast<Ns>(st.st_ctim.tv_nsec);
    }
    if (type == FileType::regular) store_.create(ino);
    return inode;
}

void Disk::load_host(Inode& file) {
    if (!file.unloaded) return;
    file.unloaded = false;
    const int fd = ::open(file.host.c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<std::byte> buffer(1 << 16);
    std::uint64_t at = 0;
    while (fd >= 0 && at < file.size) {
        const std::uint64_t want = std::min<std::uint64_t>(buffer.size(), file.size - at);
        const std::uint64_t got = read_all(fd, at, std::span(buffer).first(want));
        if (got == 0) break;
        std::uint64_t fits = 0;
        reserve_blocks(file, at, got, &fits);  // like an import: capacity is not enforced
        store_.write(file.ino, at, std::span(buffer).first(got));
        at += got;
    }
    if (fd >= 0) ::close(fd);
    // A host file that shrank since it was listed reads as zeros past its end.
    if (at < file.size) store_.truncate(file.ino, file.size);
    trace_.emit("disk.host_copy", {{"ino", file.ino}, {"host", file.host}, {"bytes", at}});
}

void Disk::read_host(const Inode& file, std::uint64_t offset, std::span<std::byte> out) const {
    const int fd = ::open(file.host.c_str(), O_RDONLY | O_CLOEXEC);
    const std::uint64_t got = fd < 0 ? 0 : read_all(fd, offset, out);
    if (fd >= 0) ::close(fd);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(got), out.end(), std::byte{0});
}

std::string Disk::unchanged_host_file(std::string_view path) {
    bool at_host = true;
    auto r = resolve(path, true, &at_host);
    if (r.error != 0 || r.value.ino == 0 || !at_host) return {};
    const Inode& inode = *find(r.value.ino);
    return inode.type == FileType::regular && inode.unloaded ? inode.host : std::string();
}

}  // namespace marionette

namespace marionette {

Ino Disk::live_host_special(const Inode& listed, const std::string& name) const {
    if (listed.unlisted || name.empty() || name == "." || name == "..") return 0;
    const std::string host = listed.host == "/" ? "/" + name : listed.host + "/" + name;
    std::error_code error;
    const fs::file_status status = fs::symlink_status(host, error);
    if (error || !fs::exists(status) || fs::is_regular_file(status) || fs::is_directory(status) || fs::is_symlink(status)) {
        return 0;
    }
    auto& self = const_cast<Disk&>(*this);
    Inode& special = self.new_host_inode(FileType::regular, mode_of(status), host);
    special.special = true;
    Inode& dir = *self.find(listed.ino);
    dir.entries[name] = special.ino;
    ++special.links;
    self.set_durable_entry(dir, name, special.ino);
    return special.ino;
}

bool Disk::host_special(std::string_view path) {
    bool at_host = true;
    auto r = resolve(path, true, &at_host);
    return r.error == 0 && r.value.ino != 0 && at_host && find(r.value.ino)->special;
}

}  // namespace marionette
