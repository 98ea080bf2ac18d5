// The disk model's data path: read, write, truncate, fallocate, the undo
// journal they feed, block allocation (st_blocks, ENOSPC) and the per-op
// faults (see disk.hpp and docs/disk-model.md).
#include <algorithm>
#include <limits>

#include "sim/assert.hpp"
#include "sim/disk/disk.hpp"
#include "sim/disk/disk_internal.hpp"

namespace marionette {

using detail::errno_name;
using detail::Inode;
using detail::JournalEntry;
using detail::UndoPiece;

bool Disk::fault(std::string_view kind, const Rate& rate, Prng& prng, Ino ino) {
    const RateRoll r = rate.roll(prng);
    // Every roll is counted per kind: `disk.force read_error 7` names the
    // 7th read_error roll (disk_forced.cpp). Under force_only() the roll is
    // still drawn, so the stream does not shift, but only forced ones fire.
    auto count = fault_rolls_.find(kind);
    if (count == fault_rolls_.end()) count = fault_rolls_.emplace(std::string(kind), 0).first;
    const std::uint64_t number = ++count->second;
    bool fires = r.fired;
    if (forced_only_) {
        const auto forced = forced_faults_.find(kind);
        fires = forced != forced_faults_.end() && forced->second.contains(number);
    }
    if (!forced_only_ && fires) fired(std::string(kind), std::to_string(number));
    // A `never` rate still draws (so the stream does not shift) but is not a
    // decision worth a trace line.
    if (!rate.is_never() || fires) {
        trace_.emit("disk.fault", {{"kind", kind}, {"ino", ino}, {"rate", rate.to_string()}, {"roll", r.roll},
                                   {"fired", fires}});
    }
    return fires;
}

void Disk::journal_write(Inode& inode, std::uint64_t offset, std::uint64_t length) {
    JournalEntry entry{next_seq_++, JournalEntry::Kind::write, offset, length, false, false, {}};
    const std::uint64_t end = offset + length;
    if (offset < inode.size) {
        const std::uint64_t old_end = std::min(end, inode.size);
        UndoPiece piece{offset, old_end - offset, std::vector<std::byte>(old_end - offset)};
        store_.read(inode.ino, offset, piece.data);
        entry.undo.push_back(std::move(piece));
    }
    if (end > inode.size) {
        const std::uint64_t zero_begin = std::max(offset, inode.size);
        entry.undo.push_back(UndoPiece{zero_begin, end - zero_begin, {}});
    }
    inode.journal.push_back(std::move(entry));
}

void Disk::journal_truncate(Inode& inode, std::uint64_t new_size) {
    JournalEntry entry{next_seq_++, JournalEntry::Kind::truncate, new_size, 0, false, false, {}};
    if (new_size < inode.size) {
        UndoPiece piece{new_size, inode.size - new_size, std::vector<std::byte>(inode.size - new_size)};
        store_.read(inode.ino, new_size, piece.data);
        entry.undo.push_back(std::move(piece));
    }
    inode.journal.push_back(std::move(entry));
}

int Disk::reserve_blocks(Inode& inode, std::uint64_t offset, std::uint64_t length, std::uint64_t* fits) {
    const std::uint64_t bs = options_.block_size_bytes;
    *fits = length;
    if (length == 0) return 0;
    const std::uint64_t first = offset / bs;
    const std::uint64_t last = (offset + length - 1) / bs;
    const std::uint64_t fresh = (last - first + 1) - inode.allocated.covered(first, last + 1);
    const std::uint64_t capacity_blocks =
        options_.capacity_bytes == 0 ? std::numeric_limits<std::uint64_t>::max() : options_.capacity_bytes / bs;
    const std::uint64_t allocated_before = allocated_blocks_;
    if (allocated_blocks_ + fresh <= capacity_blocks) {
        inode.allocated.add(first, last + 1);
        allocated_blocks_ += fresh;
        return 0;
    }
    // Not everything fits: allocate block by block and cut the write where
    // the disk is full, as a file system does (a short write, then ENOSPC).
    std::uint64_t block = first;
    for (; block <= last; ++block) {
        if (inode.allocated.contains(block)) continue;
        if (allocated_blocks_ >= capacity_blocks) break;
        inode.allocated.add(block, block + 1);
        ++allocated_blocks_;
    }
    MARIONETTE_ASSERT(allocated_blocks_ <= std::max(capacity_blocks, allocated_before),
                      "a write never allocates past the disk's capacity");
    *fits = block > last ? length : (block * bs > offset ? block * bs - offset : 0);
    return *fits == 0 ? ENOSPC : 0;
}

void Disk::release_blocks_past(Inode& inode, std::uint64_t size) {
    const std::uint64_t keep = (size + options_.block_size_bytes - 1) / options_.block_size_bytes;
    const std::uint64_t before = inode.allocated.total();
    inode.allocated.remove(keep, std::numeric_limits<std::uint64_t>::max());
    release_blocks(before - inode.allocated.total());
}

void Disk::release_blocks(std::uint64_t count) {
    MARIONETTE_ASSERT(count <= allocated_blocks_, "a disk never frees more blocks than it has allocated");
    allocated_blocks_ -= count;
}

Result<std::uint64_t> Disk::read(Ino ino, std::uint64_t offset, std::span<std::byte> out) {
    if (int e = check_up("read")) return {0, e};
    Inode* inode = find(ino);
    if (inode == nullptr) return {0, EBADF};
    if (inode->type == FileType::directory) return {0, EISDIR};
    charge_latency();
    std::uint64_t n = offset >= inode->size ? 0 : std::min<std::uint64_t>(out.size(), inode->size - offset);
    int error = 0;
    bool corrupted = false;
    if (fault("read_error", options_.faults.read_error_rate, io_prng_, ino)) error = EIO;
    if (error == 0 && n > 0 && !inode->bad_sectors.empty()) {
        const std::uint64_t ss = options_.sector_size_bytes;
        auto bad = inode->bad_sectors.lower_bound(offset / ss);
        if (bad != inode->bad_sectors.end() && *bad <= (offset + n - 1) / ss) {
            trace_.emit("disk.fault", {{"kind", "latent_sector_error"}, {"ino", ino}, {"sector", *bad}, {"fired", true}});
            error = EIO;
        }
    }
    if (error == 0 && n >= 2 && fault("short_read", options_.faults.short_io_rate, io_prng_, ino)) {
        n = io_prng_.uint_in_range(1, n - 1);
    }
    if (error == 0) {
        if (inode->unloaded) read_host(*inode, offset, out.first(n));
        else store_.read(ino, offset, out.first(n));
        if (n > 0 && fault("corrupt_read", options_.faults.corrupt_read_rate, io_prng_, ino)) {
            // Flip bits in one returned byte; the stored byte stays intact.
            const std::uint64_t at = io_prng_.uint_less_than(n);
            out[at] ^= static_cast<std::byte>(1 + io_prng_.uint_less_than(255));
            corrupted = true;
        }
    }
    trace_.emit("disk.read", {{"ino", ino}, {"offset", offset}, {"len", out.size()}, {"read", error ? 0 : n},
                              {"status", corrupted ? std::string_view("corrupt") : errno_name(error)},
                              {"latency_ns", last_latency_ns_}});
    return {error ? 0 : n, error};
}

Result<std::uint64_t> Disk::write(Ino ino, std::uint64_t offset, std::span<const std::byte> data, WriteSync sync) {
    if (int e = check_up("write")) return {0, e};
    Inode* inode = find(ino);
    if (inode == nullptr) return {0, EBADF};
    if (inode->type != FileType::regular) return {0, EISDIR};
    load_host(*inode);
    charge_latency();
    std::uint64_t n = data.size();
    std::uint64_t target = offset;
    int error = 0;
    if (n > 0 && fault("write_error", options_.faults.write_error_rate, io_prng_, ino)) error = EIO;
    if (error == 0 && n >= 2 && fault("short_write", options_.faults.short_io_rate, io_prng_, ino)) {
        n = io_prng_.uint_in_range(1, n - 1);
    }
    if (error == 0 && n > 0 && fault("misdirected_write", options_.faults.misdirected_write_rate, io_prng_, ino)) {
        // The bytes land 1..8 sectors away (never before offset 0); the
        // program is told the write succeeded.
        const std::uint64_t shift = options_.sector_size_bytes * io_prng_.uint_in_range(1, 8);
        const bool back = io_prng_.uint_less_than(2) == 0 && offset >= shift;
        target = back ? offset - shift : offset + shift;
    }
    if (error == 0 && n > 0) {
        std::uint64_t fits = 0;
        error = reserve_blocks(*inode, target, n, &fits);
        n = fits;
    }
    if (error == 0 && n > 0) {
        journal_write(*inode, target, n);
        store_.write(ino, target, data.first(n));
        inode->size = std::max(inode->size, target + n);
        inode->mtime_ns = inode->ctime_ns = clock_.now_ns();
        const std::uint64_t ss = options_.sector_size_bytes;
        if (!inode->bad_sectors.empty() && (target + ss - 1) / ss < (target + n) / ss) {
            // Rewriting a whole sector remaps it: the latent error is gone.
            const std::uint64_t first_whole = (target + ss - 1) / ss;
            const std::uint64_t end_whole = (target + n) / ss;
            inode->bad_sectors.erase(inode->bad_sectors.lower_bound(first_whole),
                                     inode->bad_sectors.lower_bound(end_whole));
        }
        if (fault("latent_sector_error", options_.faults.latent_sector_error_rate, io_prng_, ino)) {
            inode->bad_sectors.insert(target / ss + io_prng_.uint_less_than((target + n - 1) / ss - target / ss + 1));
        }
        if (sync != WriteSync::none) {
            // O_SYNC/O_DSYNC: this write and the size it needs are durable on
            // return; other pending changes stay pending. It stays in the
            // journal (without undo bytes) so a crash applies it in its
            // place among them: always landing, protecting its bytes from
            // older undo, and counting for the size after a lost truncate.
            JournalEntry& entry = inode->journal.back();
            entry.synced = true;
            entry.undo.clear();
            const bool all_synced = std::all_of(inode->journal.begin(), inode->journal.end(),
                                                [](const JournalEntry& e) { return e.synced; });
            if (all_synced) make_durable(*inode);
        }
    }
    trace_.emit("disk.write", {{"ino", ino}, {"offset", offset}, {"len", data.size()}, {"written", error ? 0 : n},
                               {"target_offset", target}, {"sync", sync != WriteSync::none},
                               {"status", errno_name(error)}, {"latency_ns", last_latency_ns_}});
    return {error ? 0 : n, error};
}

int Disk::truncate(Ino ino, std::uint64_t size) {
    if (int e = check_up("truncate")) return e;
    Inode* inode = find(ino);
    if (inode == nullptr) return EBADF;
    if (inode->type != FileType::regular) return inode->type == FileType::directory ? EISDIR : EINVAL;
    load_host(*inode);
    charge_latency();
    const std::uint64_t old_size = inode->size;
    if (size != old_size) {
        journal_truncate(*inode, size);
        store_.truncate(ino, size);
        if (size < old_size) release_blocks_past(*inode, size);
        inode->size = size;
    }
    inode->mtime_ns = inode->ctime_ns = clock_.now_ns();
    trace_.emit("disk.truncate", {{"ino", ino}, {"old_size", old_size}, {"size", size}, {"status", "ok"},
                                  {"latency_ns", last_latency_ns_}});
    return 0;
}

int Disk::fallocate(Ino ino, std::uint64_t offset, std::uint64_t length, bool keep_size) {
    if (int e = check_up("fallocate")) return e;
    Inode* inode = find(ino);
    if (inode == nullptr) return EBADF;
    if (inode->type != FileType::regular) return EISDIR;
    if (length == 0) return EINVAL;
    load_host(*inode);
    charge_latency();
    // fallocate is all or nothing: check the free space before reserving.
    const std::uint64_t bs = options_.block_size_bytes;
    const std::uint64_t first = offset / bs;
    const std::uint64_t last = (offset + length - 1) / bs;
    const std::uint64_t fresh = (last - first + 1) - inode->allocated.covered(first, last + 1);
    int error = 0;
    if (options_.capacity_bytes != 0 && allocated_blocks_ + fresh > options_.capacity_bytes / bs) {
        error = ENOSPC;
    } else {
        std::uint64_t fits = 0;
        error = reserve_blocks(*inode, offset, length, &fits);
    }
    if (error == 0 && !keep_size && offset + length > inode->size) {
        inode->journal.push_back(
            JournalEntry{next_seq_++, JournalEntry::Kind::extend, offset + length, 0, false, false, {}});
        inode->size = offset + length;
        inode->mtime_ns = inode->ctime_ns = clock_.now_ns();
    }
    trace_.emit("disk.fallocate", {{"ino", ino}, {"offset", offset}, {"len", length}, {"keep_size", keep_size},
                                   {"status", errno_name(error)}, {"latency_ns", last_latency_ns_}});
    return error;
}

std::uint64_t Disk::journal_entries() const {
    std::uint64_t n = 0;
    for (const auto& [ino, inode] : inodes_) n += inode.journal.size();
    return n;
}

std::uint64_t Disk::journal_bytes() const {
    std::uint64_t n = 0;
    for (const auto& [ino, inode] : inodes_) {
        for (const JournalEntry& entry : inode.journal) {
            for (const UndoPiece& piece : entry.undo) n += piece.data.size();
        }
    }
    return n;
}

}  // namespace marionette
