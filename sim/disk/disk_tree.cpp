// Import of a real directory tree into the disk model, and export of the
// model's durable state. Besides DirStore these are the only parts of the
// disk model that touch the host file system; import only ever reads.
#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "sim/disk/disk.hpp"

namespace marionette {

namespace fs = std::filesystem;
using detail::Inode;

namespace {

std::uint32_t mode_of(const fs::file_status& status) {
    return static_cast<std::uint32_t>(status.permissions() & fs::perms::mask);
}

std::vector<fs::directory_entry> sorted_entries(const fs::path& dir) {
    std::vector<fs::directory_entry> entries{fs::directory_iterator(dir), fs::directory_iterator{}};
    // Host directory order is a hash order; the simulation's must not be.
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
    return entries;
}

}  // namespace

std::uint64_t Disk::import_tree(const fs::path& source, std::string_view into) {
    if (!fs::is_directory(source)) throw std::runtime_error("import_tree: not a directory: " + source.string());
    auto target = resolve(into, true);
    if (target.error != 0 || target.value.ino == 0 || find(target.value.ino)->type != FileType::directory) {
        throw std::runtime_error("import_tree: no such directory in the disk: " + std::string(into));
    }
    std::uint64_t count = 0;
    std::vector<std::pair<fs::path, Ino>> work{{source, target.value.ino}};
    std::vector<Ino> dirs{target.value.ino};
    std::vector<char> buffer(1 << 16);
    while (!work.empty()) {
        auto [dir_path, dir_ino] = work.back();
        work.pop_back();
        for (const fs::directory_entry& entry : sorted_entries(dir_path)) {
            const std::string name = entry.path().filename().string();
            if (find(dir_ino)->entries.contains(name)) continue;  // keep what the disk already has
            const fs::file_status status = entry.symlink_status();
            Ino ino = 0;
            if (fs::is_symlink(status)) {
                Inode& link = new_inode(FileType::symlink, 0777);
                link.target = fs::read_symlink(entry.path()).string();
                ino = link.ino;
            } else if (fs::is_directory(status)) {
                ino = new_inode(FileType::directory, mode_of(status)).ino;
                work.emplace_back(entry.path(), ino);
                dirs.push_back(ino);
            } else if (fs::is_regular_file(status)) {
                Inode& file = new_inode(FileType::regular, mode_of(status));
                ino = file.ino;
                std::ifstream in(entry.path(), std::ios::binary);
                while (in) {
                    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                    const auto n = static_cast<std::uint64_t>(in.gcount());
                    if (n == 0) break;
                    std::uint64_t fits = 0;
                    reserve_blocks(file, file.size, n, &fits);  // capacity is not enforced on import
                    store_.write(ino, file.size, std::as_bytes(std::span(buffer.data(), n)));
                    file.size += n;
                }
                file.durable_size = file.size;
            } else {
                continue;  // sockets, fifos, devices: not part of a disk image
            }
            add_entry(*find(dir_ino), name, ino);
            ++count;
        }
    }
    for (Ino dir : dirs) set_durable_entries(*find(dir), find(dir)->entries);
    trace_.emit("disk.import", {{"entries", count}});
    return count;
}

std::uint64_t Disk::export_durable(const fs::path& destination) {
    fs::create_directories(destination);
    if (!fs::is_empty(destination)) throw std::runtime_error("export_durable: not empty: " + destination.string());
    std::uint64_t count = 0;
    std::vector<std::pair<Ino, fs::path>> work{{root_ino, destination}};
    std::set<Ino> seen{root_ino};
    while (!work.empty()) {
        auto [dir_ino, dir_path] = work.back();
        work.pop_back();
        for (const auto& [name, ino] : find(dir_ino)->durable_entries) {
            const Inode& inode = *find(ino);
            const fs::path path = dir_path / name;
            if (inode.type == FileType::directory) {
                // The host view is the host's, not the disk's image.
                if (ino == host_root_ino_) continue;
                if (!seen.insert(ino).second) continue;
                fs::create_directory(path);
                work.emplace_back(ino, path);
            } else if (inode.type == FileType::symlink) {
                fs::create_symlink(inode.target, path);
            } else {
                auto bytes = durable_contents(ino);
                std::ofstream out(path, std::ios::binary);
                out.write(reinterpret_cast<const char*>(bytes.value.data()), static_cast<std::streamsize>(bytes.value.size()));
            }
            if (inode.type != FileType::symlink) {
                fs::permissions(path, static_cast<fs::perms>(inode.mode & 0777));
            }
            ++count;
        }
    }
    trace_.emit("disk.export", {{"entries", count}});
    return count;
}

}  // namespace marionette
