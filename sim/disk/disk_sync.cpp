// Durability in the disk model: fsync, fdatasync, sync_file_range,
// sync/syncfs and O_SYNC writes drop undo-journal entries; directory fsync
// snapshots the directory's entries as durable. fsync failures follow
// Linux: the failed pages are marked clean, so the data never reaches the
// disk and a retried fsync reports success (docs/disk-model.md).
#include <limits>

#include "sim/disk/disk.hpp"
#include "sim/disk/disk_internal.hpp"

namespace marionette {

using detail::errno_name;
using detail::Inode;
using detail::JournalEntry;
using detail::UndoPiece;

namespace {

/// Removes [begin, end) from the entry's undo pieces: those bytes are now
/// durable through a later change, so undoing this entry must not touch them.
void trim_entry(JournalEntry& entry, std::uint64_t begin, std::uint64_t end) {
    std::vector<UndoPiece> kept;
    for (UndoPiece& piece : entry.undo) {
        const std::uint64_t p_end = piece.offset + piece.length;
        if (p_end <= begin || piece.offset >= end) {
            kept.push_back(std::move(piece));
            continue;
        }
        auto slice = [&piece](std::uint64_t b, std::uint64_t e) {
            UndoPiece out{b, e - b, {}};
            if (!piece.data.empty()) {
                const auto from = piece.data.begin() + static_cast<std::ptrdiff_t>(b - piece.offset);
                out.data.assign(from, from + static_cast<std::ptrdiff_t>(e - b));
            }
            return out;
        };
        if (piece.offset < begin) kept.push_back(slice(piece.offset, begin));
        if (p_end > end) kept.push_back(slice(end, p_end));
    }
    entry.undo = std::move(kept);
}

/// The bytes an entry changed, as a range (truncate: everything past the
/// new size; extend: nothing).
std::pair<std::uint64_t, std::uint64_t> changed_range(const JournalEntry& entry) {
    switch (entry.kind) {
        case JournalEntry::Kind::write: return {entry.offset, entry.offset + entry.length};
        case JournalEntry::Kind::truncate: return {entry.offset, std::numeric_limits<std::uint64_t>::max()};
        case JournalEntry::Kind::extend: return {0, 0};
    }
    return {0, 0};
}

}  // namespace

void Disk::trim_older(Inode& inode, std::uint64_t begin, std::uint64_t end, std::size_t before) {
    for (std::size_t i = 0; i < before && i < inode.journal.size(); ++i) trim_entry(inode.journal[i], begin, end);
}

void Disk::make_durable(Inode& inode) {
    // Doomed entries (a failed fsync) stay: their bytes never reach the
    // disk. They are all older than the pending ones, so each pending entry
    // trims them before it is dropped.
    std::vector<JournalEntry> doomed;
    for (JournalEntry& entry : inode.journal) {
        if (entry.doomed) {
            doomed.push_back(std::move(entry));
            continue;
        }
        const auto [b, e] = changed_range(entry);
        for (JournalEntry& old : doomed) trim_entry(old, b, e);
    }
    inode.journal = std::move(doomed);
    inode.durable_size = inode.size;
}

int Disk::fsync(Ino ino) {
    if (int e = check_up("fsync")) return e;
    Inode* inode = find(ino);
    if (inode == nullptr) return EBADF;
    charge_latency();
    std::uint64_t pending = 0;
    int error = 0;
    if (inode->type == FileType::directory) {
        pending = inode->entries != inode->durable_entries;
        if (pending && fault("fsync_error", options_.faults.fsync_error_rate, io_prng_, ino)) error = EIO;
        if (error == 0) set_durable_entries(*inode, inode->entries);
    } else if (inode->type == FileType::regular) {
        for (const JournalEntry& entry : inode->journal) pending += !entry.doomed && !entry.synced;
        if (pending > 0 && fault("fsync_error", options_.faults.fsync_error_rate, io_prng_, ino)) {
            // Linux marks the failed pages clean: they are never written
            // again, and the next fsync has nothing to report.
            for (JournalEntry& entry : inode->journal) entry.doomed = !entry.synced;
            error = EIO;
        }
        if (error == 0) make_durable(*inode);
    }
    trace_.emit("disk.fsync", {{"ino", ino}, {"committed_writes", error ? 0 : pending},
                               {"doomed_writes", error ? pending : 0}, {"status", errno_name(error)},
                               {"latency_ns", last_latency_ns_}});
    return error;
}

int Disk::fdatasync(Ino ino) { return fsync(ino); }

int Disk::sync_range(Ino ino, std::uint64_t offset, std::uint64_t length) {
    if (int e = check_up("sync_range")) return e;
    Inode* inode = find(ino);
    if (inode == nullptr) return EBADF;
    if (inode->type != FileType::regular) return ESPIPE;
    charge_latency();
    // length 0 means "to the end of the file", as in sync_file_range(2).
    const std::uint64_t end = length == 0 ? std::numeric_limits<std::uint64_t>::max() : offset + length;
    std::uint64_t committed = 0;
    for (std::size_t i = 0; i < inode->journal.size();) {
        const JournalEntry& entry = inode->journal[i];
        if (entry.doomed || entry.synced || entry.kind != JournalEntry::Kind::write || entry.offset < offset ||
            entry.offset + entry.length > end) {
            ++i;
            continue;
        }
        trim_older(*inode, entry.offset, entry.offset + entry.length, i);
        inode->journal.erase(inode->journal.begin() + static_cast<std::ptrdiff_t>(i));
        ++committed;
    }
    trace_.emit("disk.sync_range", {{"ino", ino}, {"offset", offset}, {"len", length}, {"committed_writes", committed},
                                    {"status", "ok"}, {"latency_ns", last_latency_ns_}});
    return 0;
}

int Disk::sync_all() {
    if (int e = check_up("sync")) return e;
    charge_latency();
    std::vector<Ino> all;
    for (const auto& [ino, inode] : inodes_) all.push_back(ino);
    std::uint64_t committed = 0;
    for (Ino ino : all) {
        Inode* inode = find(ino);  // an earlier directory may have freed it
        if (inode == nullptr) continue;
        if (inode->type == FileType::directory) {
            set_durable_entries(*inode, inode->entries);
        } else if (inode->type == FileType::regular) {
            for (const JournalEntry& entry : inode->journal) committed += !entry.doomed && !entry.synced;
            make_durable(*inode);
        }
    }
    trace_.emit("disk.sync", {{"committed_writes", committed}, {"status", "ok"}, {"latency_ns", last_latency_ns_}});
    return 0;
}

}  // namespace marionette
