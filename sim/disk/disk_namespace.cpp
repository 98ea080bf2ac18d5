// The disk model's namespace: path resolution, directories, links, renames
// and the durable copy of directory entries (see disk.hpp).
#include <stdexcept>
#include <utility>

#include "sim/disk/disk.hpp"
#include "sim/disk/disk_internal.hpp"

namespace marionette {

using detail::errno_name;
using detail::Inode;

MetadataDurability parse_metadata_durability(std::string_view text) {
    if (text == "strict") return MetadataDurability::strict;
    if (text == "lenient") return MetadataDurability::lenient;
    throw std::invalid_argument("metadata durability '" + std::string(text) + "': expected strict or lenient");
}

std::string_view to_string(FileType type) {
    switch (type) {
        case FileType::regular: return "file";
        case FileType::directory: return "dir";
        case FileType::symlink: return "symlink";
    }
    return "unknown";
}

Disk::Disk(DiskOptions options, Store& store, const Prng& prng, Trace& trace, const EventQueue& clock)
    : options_(std::move(options)),
      store_(store),
      trace_(trace),
      clock_(clock),
      io_prng_(prng.derive("disk.io")),
      latency_prng_(prng.derive("disk.latency")),
      crash_prng_(prng.derive("disk.crash")),
      garbage_prng_(prng.derive("disk.garbage")) {
    if (options_.sector_size_bytes == 0 || options_.block_size_bytes == 0) {
        throw std::invalid_argument("disk sector_size_bytes and block_size_bytes must be > 0");
    }
    Inode& root = inodes_[root_ino];
    root.ino = root_ino;
    root.type = FileType::directory;
    root.mode = 0755;
    root.parent = root_ino;
    root.links = 1;  // the root is always named, and always durable
    root.durable_refs = 1;
    root.atime_ns = root.mtime_ns = root.ctime_ns = clock_.now_ns();
}

Inode* Disk::find(Ino ino) {
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? nullptr : &it->second;
}

const Inode* Disk::find(Ino ino) const {
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? nullptr : &it->second;
}

int Disk::check_up(std::string_view op) {
    if (!crashed_) return 0;
    trace_.emit("disk.rejected", {{"op", op}, {"reason", "crashed"}});
    return EIO;
}

Ns Disk::charge_latency() {
    last_latency_ns_ = options_.latency_ns_min;
    if (options_.latency_ns_jitter > 0) last_latency_ns_ += latency_prng_.uint_in_range(0, options_.latency_ns_jitter);
    return last_latency_ns_;
}

Result<Disk::Resolved> Disk::resolve(std::string_view path, bool follow_last, bool* at_host) const {
    if (path.empty()) return {{}, ENOENT};
    std::vector<std::string> pending;  // components still to walk, last first
    auto push_path = [&pending](std::string_view p) {
        std::vector<std::string> parts;
        std::size_t start = 0;
        while (start <= p.size()) {
            std::size_t slash = p.find('/', start);
            if (slash == std::string_view::npos) slash = p.size();
            std::string_view part = p.substr(start, slash - start);
            if (!part.empty() && part != ".") parts.emplace_back(part);
            start = slash + 1;
        }
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_back(*it);
    };
    push_path(path);
    Resolved out{root_ino, "", root_ino};
    int hops = 0;
    while (!pending.empty()) {
        std::string name = std::move(pending.back());
        pending.pop_back();
        if (name.size() > detail::max_name_bytes) return {{}, ENAMETOOLONG};
        const Inode* dir = find(out.ino);
        if (dir == nullptr) return {{}, ENOENT};
        if (dir->type != FileType::directory) return {{}, ENOTDIR};
        if (name == "..") {
            // The root of a host view is "/" to the program: ".." stays.
            const Ino up = dir->ino == host_root_ino_ ? dir->ino : dir->parent;
            out = Resolved{up, "..", up};
            continue;
        }
        if (dir->unlisted) list_host(*dir);
        auto entry = dir->entries.find(name);
        Ino child = entry == dir->entries.end() ? 0 : entry->second;
        if (child == 0 && dir->in_view && !dir->host.empty()) child = live_host_special(*dir, name);
        const bool last = pending.empty();
        if (child == 0) {
            if (at_host != nullptr) *at_host = false;
            if (!last) return {{}, ENOENT};
            return {Resolved{dir->ino, std::move(name), 0}, 0};
        }
        const Inode& node = *find(child);
        if (at_host != nullptr && dir->in_view) {
            const std::string host = dir->host == "/" ? "/" + name : dir->host + "/" + name;
            if (dir->host.empty() || node.host != host) *at_host = false;
        }
        if (node.type == FileType::symlink && (!last || follow_last)) {
            if (++hops > detail::max_symlink_hops) return {{}, ELOOP};
            // A symlink's target is resolved from its directory, or when
            // absolute from the disk's root (inside a host view: the view's).
            if (!node.target.empty() && node.target.front() == '/') {
                const Ino from = dir->in_view ? host_root_ino_ : root_ino;
                out = Resolved{from, "", from};
            }
            push_path(node.target);
            continue;
        }
        out = Resolved{dir->ino, std::move(name), child};
    }
    return {out, 0};
}

Inode& Disk::new_inode(FileType type, std::uint32_t mode) {
    const Ino ino = next_ino_++;
    Inode& inode = inodes_[ino];
    inode.ino = ino;
    inode.type = type;
    inode.mode = mode & 07777;
    inode.atime_ns = inode.mtime_ns = inode.ctime_ns = clock_.now_ns();
    if (type == FileType::regular) store_.create(ino);
    return inode;
}

void Disk::add_entry(Inode& dir, const std::string& name, Ino ino) {
    dir.entries[name] = ino;
    Inode& child = *find(ino);
    ++child.links;
    if (child.type == FileType::directory) {
        child.parent = dir.ino;
        child.in_view = child.in_view || dir.in_view;
    }
    dir.mtime_ns = dir.ctime_ns = clock_.now_ns();
    if (options_.metadata == MetadataDurability::lenient) set_durable_entry(dir, name, ino);
}

void Disk::set_durable_entry(Inode& dir, const std::string& name, Ino ino) {
    // One entry at a time, so lenient mode costs O(log n) per change, not a
    // copy of the directory.
    if (ino != 0) ++find(ino)->durable_refs;
    Ino old = 0;
    auto it = dir.durable_entries.find(name);
    if (it != dir.durable_entries.end()) {
        old = it->second;
        if (ino != 0) it->second = ino;
        else dir.durable_entries.erase(it);
    } else if (ino != 0) {
        dir.durable_entries.emplace(name, ino);
    }
    if (old != 0) {
        --find(old)->durable_refs;
        maybe_free(old);
    }
}

void Disk::remove_entry(Inode& dir, const std::string& name) {
    auto it = dir.entries.find(name);
    const Ino ino = it->second;
    dir.entries.erase(it);
    Inode& child = *find(ino);
    --child.links;
    child.ctime_ns = clock_.now_ns();
    dir.mtime_ns = dir.ctime_ns = clock_.now_ns();
    if (options_.metadata == MetadataDurability::lenient) set_durable_entry(dir, name, 0);
    maybe_free(ino);
}

void Disk::set_durable_entries(Inode& dir, const std::map<std::string, Ino>& entries) {
    // Count the new references before dropping the old ones, so an inode
    // named in both never looks unreferenced in between.
    for (const auto& [name, ino] : entries) ++find(ino)->durable_refs;
    std::map<std::string, Ino> old = std::exchange(dir.durable_entries, entries);
    for (const auto& [name, ino] : old) {
        --find(ino)->durable_refs;
        maybe_free(ino);
    }
}

void Disk::maybe_free(Ino ino) {
    Inode* inode = find(ino);
    if (inode == nullptr || ino == root_ino) return;
    if (inode->links > 0 || inode->open_count > 0 || inode->durable_refs > 0) return;
    std::map<std::string, Ino> durable = std::move(inode->durable_entries);
    if (inode->type == FileType::regular) store_.remove(ino);
    release_blocks(inode->allocated.total());
    inodes_.erase(ino);
    for (const auto& [name, child] : durable) {
        --find(child)->durable_refs;
        maybe_free(child);
    }
}

Stat Disk::make_stat(const Inode& inode) const {
    Stat st;
    st.ino = inode.ino;
    st.type = inode.type;
    st.mode = inode.mode;
    st.nlink = inode.links;
    st.size = inode.size;
    st.blocks = inode.allocated.total() * (options_.block_size_bytes / 512);
    st.block_size = options_.block_size_bytes;
    st.dev = options_.device_id;
    st.atime_ns = inode.atime_ns;
    st.mtime_ns = inode.mtime_ns;
    st.ctime_ns = inode.ctime_ns;
    if (inode.host_ino != 0) {
        st.ino = inode.host_ino;
        st.dev = inode.host_dev;
    }
    if (inode.unloaded) {
        const std::uint64_t bs = options_.block_size_bytes;
        st.blocks = (inode.size + bs - 1) / bs * (bs / 512);
    }
    if (inode.type == FileType::directory) {
        if (inode.unlisted) list_host(inode);
        std::uint64_t subdirs = 0;
        for (const auto& [name, child] : inode.entries) subdirs += find(child)->type == FileType::directory;
        st.nlink = inode.links == 0 ? 0 : 2 + subdirs;
        st.size = options_.block_size_bytes;
        st.blocks = options_.block_size_bytes / 512;
    }
    if (inode.type == FileType::symlink) st.size = inode.target.size();
    return st;
}

Result<Stat> Disk::stat(std::string_view path, bool follow) {
    if (int e = check_up("stat")) return {{}, e};
    charge_latency();
    auto r = resolve(path, follow);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    trace_.emit("disk.stat", {{"path", path}, {"status", errno_name(error)}, {"latency_ns", last_latency_ns_}});
    if (error != 0) return {{}, error};
    return {make_stat(*find(r.value.ino)), 0};
}

Result<Stat> Disk::fstat(Ino ino) {
    if (int e = check_up("fstat")) return {{}, e};
    const Inode* inode = find(ino);
    if (inode == nullptr) return {{}, EBADF};
    return {make_stat(*inode), 0};
}

Result<Ino> Disk::open(std::string_view path, OpenFlags flags, std::uint32_t mode) {
    if (int e = check_up("open")) return {{}, e};
    charge_latency();
    auto r = resolve(path, !flags.nofollow && !(flags.create && flags.exclusive));
    int error = r.error;
    bool created = false;
    Ino ino = r.value.ino;
    if (error == 0 && ino == 0) {
        if (!flags.create || r.value.name.empty()) {
            error = ENOENT;
        } else {
            Inode& inode = new_inode(FileType::regular, mode);
            ino = inode.ino;
            add_entry(*find(r.value.parent), r.value.name, ino);
            created = true;
        }
    } else if (error == 0) {
        const Inode& inode = *find(ino);
        if (flags.create && flags.exclusive) error = EEXIST;
        else if (inode.type == FileType::symlink) error = ELOOP;
        else if (flags.create && inode.type == FileType::directory) error = EISDIR;
        else if (flags.directory && inode.type != FileType::directory) error = ENOTDIR;
        else if (flags.truncate && inode.type == FileType::directory) error = EISDIR;
    }
    trace_.emit("disk.open", {{"path", path}, {"ino", ino}, {"created", created}, {"status", errno_name(error)},
                              {"latency_ns", last_latency_ns_}});
    if (error != 0) return {{}, error};
    ++find(ino)->open_count;
    if (flags.truncate && !created && find(ino)->size != 0) {
        if (int e = truncate(ino, 0)) {
            close(ino);
            return {{}, e};
        }
    }
    return {ino, 0};
}

void Disk::close(Ino ino) {
    Inode* inode = find(ino);
    if (inode == nullptr || inode->open_count == 0) return;
    --inode->open_count;
    maybe_free(ino);
}

int Disk::mkdir(std::string_view path, std::uint32_t mode) {
    if (int e = check_up("mkdir")) return e;
    charge_latency();
    auto r = resolve(path, false);
    int error = r.error != 0 ? r.error : (r.value.ino != 0 ? EEXIST : 0);
    Ino ino = 0;
    if (error == 0) {
        ino = new_inode(FileType::directory, mode).ino;
        add_entry(*find(r.value.parent), r.value.name, ino);
    }
    trace_.emit("disk.mkdir", {{"path", path}, {"ino", ino}, {"status", errno_name(error)},
                               {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::rmdir(std::string_view path) {
    if (int e = check_up("rmdir")) return e;
    charge_latency();
    auto r = resolve(path, false);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    if (error == 0) {
        const Inode& dir = *find(r.value.ino);
        if (dir.unlisted) list_host(dir);
        if (dir.type != FileType::directory) error = ENOTDIR;
        else if (r.value.ino == root_ino) error = EBUSY;
        else if (r.value.name == "..") error = ENOTEMPTY;
        else if (!dir.entries.empty()) error = ENOTEMPTY;
    }
    if (error == 0) remove_entry(*find(r.value.parent), r.value.name);
    trace_.emit("disk.rmdir", {{"path", path}, {"status", errno_name(error)}, {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::unlink(std::string_view path) {
    if (int e = check_up("unlink")) return e;
    charge_latency();
    auto r = resolve(path, false);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    if (error == 0 && find(r.value.ino)->type == FileType::directory) error = EISDIR;
    const Ino ino = r.value.ino;
    if (error == 0) remove_entry(*find(r.value.parent), r.value.name);
    trace_.emit("disk.unlink", {{"path", path}, {"ino", ino}, {"status", errno_name(error)},
                                {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::link(std::string_view existing, std::string_view new_path) {
    if (int e = check_up("link")) return e;
    charge_latency();
    auto from = resolve(existing, false);
    auto to = resolve(new_path, false);
    int error = from.error != 0 ? from.error : (from.value.ino == 0 ? ENOENT : to.error);
    if (error == 0 && to.value.ino != 0) error = EEXIST;
    if (error == 0 && find(from.value.ino)->type == FileType::directory) error = EPERM;
    if (error == 0) add_entry(*find(to.value.parent), to.value.name, from.value.ino);
    trace_.emit("disk.link", {{"path", existing}, {"new_path", new_path}, {"status", errno_name(error)},
                              {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::symlink(std::string_view target, std::string_view path) {
    if (int e = check_up("symlink")) return e;
    charge_latency();
    auto r = resolve(path, false);
    int error = r.error != 0 ? r.error : (r.value.ino != 0 ? EEXIST : 0);
    if (error == 0 && target.empty()) error = ENOENT;
    if (error == 0) {
        Inode& link = new_inode(FileType::symlink, 0777);
        link.target = std::string(target);
        add_entry(*find(r.value.parent), r.value.name, link.ino);
    }
    trace_.emit("disk.symlink", {{"path", path}, {"target_len", target.size()}, {"status", errno_name(error)},
                                 {"latency_ns", last_latency_ns_}});
    return error;
}

Result<std::string> Disk::readlink(std::string_view path) {
    if (int e = check_up("readlink")) return {{}, e};
    auto r = resolve(path, false);
    if (r.error != 0) return {{}, r.error};
    if (r.value.ino == 0) return {{}, ENOENT};
    const Inode& inode = *find(r.value.ino);
    if (inode.type != FileType::symlink) return {{}, EINVAL};
    return {inode.target, 0};
}

int Disk::chmod(std::string_view path, std::uint32_t mode) {
    if (int e = check_up("chmod")) return e;
    charge_latency();
    auto r = resolve(path, true);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    if (error == 0) {
        Inode& inode = *find(r.value.ino);
        inode.mode = mode & 07777;
        inode.ctime_ns = clock_.now_ns();
    }
    trace_.emit("disk.chmod", {{"path", path}, {"mode", mode & 07777}, {"status", errno_name(error)},
                               {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::set_times(Ino ino, Ns atime_ns, Ns mtime_ns) {
    if (int e = check_up("set_times")) return e;
    Inode* inode = find(ino);
    if (inode == nullptr) return EBADF;
    inode->atime_ns = atime_ns;
    inode->mtime_ns = mtime_ns;
    inode->ctime_ns = clock_.now_ns();
    return 0;
}

Result<std::vector<DirEntry>> Disk::readdir(Ino dir) {
    if (int e = check_up("readdir")) return {{}, e};
    charge_latency();
    const Inode* inode = find(dir);
    if (inode == nullptr) return {{}, EBADF};
    if (inode->type != FileType::directory) return {{}, ENOTDIR};
    if (inode->unlisted) list_host(*inode);
    std::vector<DirEntry> out;
    out.reserve(inode->entries.size());
    for (const auto& [name, ino] : inode->entries) out.push_back({name, ino, find(ino)->type});
    trace_.emit("disk.readdir", {{"ino", dir}, {"entries", out.size()}, {"latency_ns", last_latency_ns_}});
    return {std::move(out), 0};
}

}  // namespace marionette
