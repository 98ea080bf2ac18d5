// rename(2) in the disk model. Kept apart from disk_namespace.cpp because its
// rules (directory over directory, moving a directory under itself, same
// inode) are the longest of the namespace operations.
#include "sim/disk/disk.hpp"
#include "sim/disk/disk_internal.hpp"

namespace marionette {

using detail::errno_name;

int Disk::rename(std::string_view from, std::string_view to, bool no_replace) {
    if (int e = check_up("rename")) return e;
    charge_latency();
    auto src = resolve(from, false);
    auto dst = resolve(to, false);
    int error = src.error != 0 ? src.error : (src.value.ino == 0 ? ENOENT : dst.error);
    if (error == 0 && (src.value.ino == root_ino || src.value.name == ".." || dst.value.name == ".." ||
                       dst.value.name.empty())) {
        error = EBUSY;
    }
    const bool same = error == 0 && src.value.ino == dst.value.ino;
    if (error == 0 && !same) {
        const bool src_dir = find(src.value.ino)->type == FileType::directory;
        if (dst.value.ino != 0) {
            const detail::Inode& target = *find(dst.value.ino);
            const bool dst_dir = target.type == FileType::directory;
            if (target.unlisted) list_host(target);
            if (no_replace) error = EEXIST;
            else if (src_dir && !dst_dir) error = ENOTDIR;
            else if (!src_dir && dst_dir) error = EISDIR;
            else if (dst_dir && !target.entries.empty()) error = ENOTEMPTY;
        }
        if (error == 0 && src_dir) {
            // A directory cannot move below itself.
            for (Ino up = dst.value.parent;; up = find(up)->parent) {
                if (up == src.value.ino) {
                    error = EINVAL;
                    break;
                }
                if (up == root_ino) break;
            }
        }
    }
    if (error == 0 && !same) {
        if (dst.value.ino != 0) remove_entry(*find(dst.value.parent), dst.value.name);
        add_entry(*find(dst.value.parent), dst.value.name, src.value.ino);
        remove_entry(*find(src.value.parent), src.value.name);
    }
    trace_.emit("disk.rename", {{"path", from}, {"new_path", to}, {"ino", src.value.ino},
                                {"status", errno_name(error)}, {"latency_ns", last_latency_ns_}});
    return error;
}

}  // namespace marionette
