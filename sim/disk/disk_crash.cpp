// Power loss in the disk model: every unsynced change is decided (landed,
// lost, torn at sector granularity) in issue order from the crash stream,
// then each file's journal is replayed backwards, restoring old bytes where
// a change did not survive and no later surviving change covers them; the
// namespace becomes the durable directory entries. Also the scripted
// sector faults (see disk.hpp and docs/disk-model.md).
#include <algorithm>
#include <deque>
#include <limits>
#include <set>

#include "sim/assert.hpp"
#include "sim/disk/disk.hpp"
#include "sim/disk/disk_internal.hpp"

namespace marionette {

using detail::Inode;
using detail::IntervalSet;
using detail::JournalEntry;
using detail::UndoPiece;

namespace {

enum Outcome : std::uint8_t { landed, lost, torn, doomed, synced };

constexpr std::string_view outcome_name(std::uint8_t outcome) {
    switch (outcome) {
        case landed: return "landed";
        case lost: return "lost";
        case torn: return "torn";
        case synced: return "synced";
        default: return "doomed";
    }
}

constexpr std::string_view kind_name(JournalEntry::Kind kind) {
    switch (kind) {
        case JournalEntry::Kind::write: return "write";
        case JournalEntry::Kind::truncate: return "truncate";
        case JournalEntry::Kind::extend: return "extend";
    }
    return "write";
}

/// Calls fn(begin, end, sector_index_within_write) for each sector-sized
/// piece of a write, split at absolute sector boundaries.
template <typename F>
void for_each_sector(const JournalEntry& entry, std::uint64_t sector_bytes, F&& fn) {
    const std::uint64_t end = entry.offset + entry.length;
    std::uint64_t i = 0;
    for (std::uint64_t b = entry.offset; b < end; ++i) {
        const std::uint64_t e = std::min(end, (b / sector_bytes + 1) * sector_bytes);
        fn(b, e, i);
        b = e;
    }
}

std::uint64_t sector_count(const JournalEntry& entry, std::uint64_t sector_bytes) {
    if (entry.length == 0) return 0;
    return (entry.offset + entry.length - 1) / sector_bytes - entry.offset / sector_bytes + 1;
}

}  // namespace

std::vector<Ino> Disk::durable_reachable(std::map<Ino, std::vector<std::string>>* dropped) const {
    // Breadth-first over durable entries in name order. A directory reached a
    // second time (renamed between two directories synced separately) keeps
    // its first name, as fsck would leave it.
    std::vector<Ino> order{root_ino};
    std::set<Ino> seen{root_ino};
    for (std::size_t i = 0; i < order.size(); ++i) {
        const Inode& dir = *find(order[i]);
        if (dir.type != FileType::directory) continue;
        for (const auto& [name, child] : dir.durable_entries) {
            const bool is_dir = find(child)->type == FileType::directory;
            if (seen.contains(child)) {
                if (is_dir && dropped != nullptr) (*dropped)[dir.ino].push_back(name);
                continue;
            }
            seen.insert(child);
            order.push_back(child);
        }
    }
    return order;
}

void Disk::restore(Inode& inode, const JournalEntry& entry, std::uint64_t begin, std::uint64_t end,
                   const IntervalSet& protect, std::uint64_t final_size) {
    end = std::min(end, final_size);
    std::vector<std::byte> zeros;
    for (const UndoPiece& piece : entry.undo) {
        const std::uint64_t b = std::max(begin, piece.offset);
        const std::uint64_t e = std::min(end, piece.offset + piece.length);
        if (b >= e) continue;
        protect.for_each_gap(b, e, [&](std::uint64_t gb, std::uint64_t ge) {
            if (piece.data.empty()) {
                zeros.assign(ge - gb, std::byte{0});
                store_.write(inode.ino, gb, zeros);
            } else {
                store_.write(inode.ino, gb, std::span(piece.data).subspan(gb - piece.offset, ge - gb));
            }
        });
    }
}

void Disk::undo_inode(Inode& inode, const std::vector<std::uint8_t>& results,
                      const std::vector<std::vector<bool>>& kept_sectors) {
    const std::uint64_t ss = options_.sector_size_bytes;
    // The size a crash leaves: the durable size with the surviving changes
    // applied in order (doomed ones never count).
    std::uint64_t size = inode.durable_size;
    for (std::size_t i = 0; i < inode.journal.size(); ++i) {
        const JournalEntry& entry = inode.journal[i];
        if (results[i] == landed || results[i] == synced) {
            if (entry.kind == JournalEntry::Kind::write) size = std::max(size, entry.offset + entry.length);
            if (entry.kind == JournalEntry::Kind::truncate) size = entry.offset;
            if (entry.kind == JournalEntry::Kind::extend) size = std::max(size, entry.offset);
        } else if (results[i] == torn) {
            MARIONETTE_ASSERT(entry.kind == JournalEntry::Kind::write, "only a write can be torn");
            MARIONETTE_ASSERT(kept_sectors[i].size() == sector_count(entry, ss),
                              "a torn write decides each of its own sectors, no more, no fewer");
            for_each_sector(entry, ss, [&](std::uint64_t, std::uint64_t e, std::uint64_t k) {
                if (kept_sectors[i][k]) size = std::max(size, e);
            });
        }
    }
    // Backwards: bytes a later surviving change wrote are protected; every
    // other byte a non-surviving change touched gets its old value back.
    IntervalSet protect;
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = inode.journal.size(); i-- > 0;) {
        const JournalEntry& entry = inode.journal[i];
        if (entry.kind == JournalEntry::Kind::extend) continue;
        const bool is_write = entry.kind == JournalEntry::Kind::write;
        const std::uint64_t end = is_write ? entry.offset + entry.length : max;
        if (results[i] == landed || results[i] == synced) {
            protect.add(entry.offset, end);
        } else if (results[i] == torn) {
            for_each_sector(entry, ss, [&](std::uint64_t b, std::uint64_t e, std::uint64_t k) {
                if (!kept_sectors[i][k]) restore(inode, entry, b, e, protect, size);
            });
            for_each_sector(entry, ss, [&](std::uint64_t b, std::uint64_t e, std::uint64_t k) {
                MARIONETTE_ASSERT(b >= entry.offset && e <= entry.offset + entry.length && b < e,
                                  "a torn write keeps only bytes it wrote");
                if (kept_sectors[i][k]) protect.add(b, e);
            });
        } else {
            restore(inode, entry, entry.offset, end, protect, size);
        }
    }
    store_.truncate(inode.ino, size);
    release_blocks_past(inode, size);
    inode.size = size;
    inode.durable_size = size;
    inode.journal.clear();
}

std::uint8_t Disk::decide_crash(const JournalEntry& entry, bool broken, std::vector<bool>& sectors,
                                std::uint64_t position) {
    const DiskFaults& f = options_.faults;
    if (entry.synced) return synced;  // durable already: no decision to make
    if (entry.doomed) return doomed;
    if (broken && !f.crash_reorder_writes) return lost;  // only a prefix survives
    const std::string where = std::to_string(crashes_) + " " + std::to_string(position);
    if (forced_only_) {
        // Exactly the forced changes fail (disk_forced.cpp); the crash
        // stream is used by nothing else, so nothing is drawn.
        const auto forced = forced_crash_.find({crashes_, position});
        if (forced == forced_crash_.end()) return landed;
        const std::string& mask = forced->second;
        if (mask.empty()) return lost;
        if (entry.kind == JournalEntry::Kind::write && mask.size() == sector_count(entry, options_.sector_size_bytes)) {
            for (char c : mask) sectors.push_back(c == '1');
            return torn;
        }
        // The forced change is not the write it was recorded as (an earlier
        // change of the candidate run differs): say so, and land it.
        trace_.emit("disk.force_unmatched", {{"crash", crashes_}, {"position", position}, {"mask", mask},
                                             {"op", kind_name(entry.kind)}, {"len", entry.length}});
        return landed;
    }
    if (f.crash_lost_write_rate.roll(crash_prng_).fired) {
        fired("lost", where);
        return lost;
    }
    if (entry.kind != JournalEntry::Kind::write || !f.crash_torn_write_rate.roll(crash_prng_).fired) return landed;
    const std::uint64_t n = sector_count(entry, options_.sector_size_bytes);
    std::uint64_t kept_count = 0;
    for (std::uint64_t k = 0; k < n; ++k) {
        sectors.push_back(crash_prng_.uint_less_than(2) == 1);
        kept_count += sectors.back();
    }
    // A torn write mixes old and new sectors; a one-sector write (sectors
    // are atomic) keeps its old sector.
    if (n >= 2 && (kept_count == 0 || kept_count == n)) {
        const std::uint64_t flip = crash_prng_.uint_less_than(n);
        sectors[flip] = !sectors[flip];
    }
    MARIONETTE_ASSERT(sectors.size() == n, "one decision per sector of the torn write");
    std::string mask;
    for (bool s : sectors) mask += s ? '1' : '0';
    fired("torn", where + " " + mask);
    return torn;
}

CrashReport Disk::crash() {
    CrashReport report;
    if (crashed_) return report;
    ++crashes_;
    std::map<Ino, std::vector<std::string>> dropped;
    const std::vector<Ino> reachable = durable_reachable(&dropped);
    // Decide every pending change of a file that survives, in issue order.
    struct Pending {
        std::uint64_t seq;
        Ino ino;
        std::size_t index;
    };
    std::vector<Pending> pending;
    std::map<Ino, std::vector<std::uint8_t>> results;
    std::map<Ino, std::vector<std::vector<bool>>> kept;
    for (Ino ino : reachable) {
        const Inode& inode = *find(ino);
        if (inode.journal.empty()) continue;
        results[ino].assign(inode.journal.size(), landed);
        kept[ino].assign(inode.journal.size(), {});
        for (std::size_t i = 0; i < inode.journal.size(); ++i) pending.push_back({inode.journal[i].seq, ino, i});
    }
    std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
    bool broken = false;  // without reordering, nothing after a failed change survives
    std::uint64_t position = 0;  // the change's place in this crash, from 1 (how disk.force names it)
    for (std::size_t i = 1; i < pending.size(); ++i) {
        MARIONETTE_ASSERT(pending[i - 1].seq < pending[i].seq, "every pending change has its own issue number");
    }
    for (const Pending& p : pending) {
        const JournalEntry& entry = find(p.ino)->journal[p.index];
        std::uint8_t& outcome = results[p.ino][p.index];
        std::vector<bool>& sectors = kept[p.ino][p.index];
        outcome = decide_crash(entry, broken, sectors, ++position);
        broken = broken || (outcome != landed && outcome != synced);
        std::uint64_t kept_sectors = 0;
        std::string kept_mask;  // which sectors of a torn write survived, first sector first
        for (bool s : sectors) {
            kept_sectors += s;
            kept_mask += s ? '1' : '0';
        }
        trace_.emit("disk.crash_write", {{"seq", entry.seq}, {"ino", p.ino}, {"op", kind_name(entry.kind)},
                                         {"offset", entry.offset}, {"len", entry.length},
                                         {"result", outcome_name(outcome)}, {"sectors", sectors.size()},
                                         {"kept_sectors", kept_sectors}, {"kept_mask", kept_mask}});
        ++report.pending;
        report.landed += outcome == landed || outcome == synced;
        report.lost += outcome == lost || outcome == doomed;
        report.torn += outcome == torn;
        if (outcome == torn) {
            MARIONETTE_ASSERT(sectors.size() < 2 || (kept_sectors > 0 && kept_sectors < sectors.size()),
                              "a torn write of several sectors mixes old and new ones");
        } else {
            MARIONETTE_ASSERT(sectors.empty(), "only a torn write decides sectors");
        }
    }
    MARIONETTE_ASSERT(report.landed + report.lost + report.torn == report.pending,
                      "every pending change is decided exactly once: landed, lost or torn");
    for (auto& [ino, r] : results) undo_inode(*find(ino), r, kept[ino]);
    rebuild_namespace(reachable, dropped, report);
    std::uint64_t blocks = 0;
    for (const auto& [ino, inode] : inodes_) blocks += inode.allocated.total();
    MARIONETTE_ASSERT(blocks == allocated_blocks_, "after a crash the disk's block count is its files' blocks");
    crashed_ = true;
    trace_.emit("disk.crash", {{"pending_writes", report.pending}, {"landed", report.landed}, {"lost", report.lost},
                               {"torn", report.torn}, {"removed_inodes", report.removed_inodes},
                               {"namespace_lost", report.namespace_lost}});
    return report;
}

namespace {

/// Names of a directory that differ between its live and durable entries
/// (present in one only, or naming another inode).
std::uint64_t namespace_difference(const std::map<std::string, Ino>& live, const std::map<std::string, Ino>& durable) {
    std::uint64_t count = 0;
    for (const auto& [name, ino] : live) {
        auto it = durable.find(name);
        count += it == durable.end() || it->second != ino;
    }
    for (const auto& [name, ino] : durable) count += !live.contains(name);
    return count;
}

}  // namespace

void Disk::rebuild_namespace(const std::vector<Ino>& reachable,
                             const std::map<Ino, std::vector<std::string>>& dropped, CrashReport& report) {
    const std::set<Ino> keep(reachable.begin(), reachable.end());
    for (auto it = inodes_.begin(); it != inodes_.end();) {
        if (keep.contains(it->first)) {
            ++it;
            continue;
        }
        if (it->second.type == FileType::regular) store_.remove(it->first);
        release_blocks(it->second.allocated.total());
        ++report.removed_inodes;
        it = inodes_.erase(it);
    }
    for (auto& [ino, inode] : inodes_) {
        inode.links = 0;
        inode.durable_refs = 0;
        inode.open_count = 0;
        if (inode.type == FileType::directory) {
            auto d = dropped.find(ino);
            if (d != dropped.end()) {
                for (const std::string& name : d->second) inode.durable_entries.erase(name);
            }
            report.namespace_lost += namespace_difference(inode.entries, inode.durable_entries);
            inode.entries = inode.durable_entries;
        }
    }
    for (auto& [ino, inode] : inodes_) {
        for (const auto& [name, child] : inode.entries) {
            Inode& c = *find(child);
            ++c.links;
            ++c.durable_refs;
            if (c.type == FileType::directory) c.parent = ino;
        }
    }
    Inode& root = *find(root_ino);
    root.links = root.durable_refs = 1;
    root.parent = root_ino;
}

void Disk::restart() {
    crashed_ = false;
    trace_.emit("disk.restart", {});
}

int Disk::corrupt_sector(std::string_view path, std::uint64_t offset) {
    auto r = resolve(path, true);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    Inode* inode = error == 0 ? find(r.value.ino) : nullptr;
    if (inode != nullptr && (inode->type != FileType::regular || offset >= inode->size)) error = EINVAL;
    std::uint64_t sector = 0;
    if (error == 0) {
        load_host(*inode);
        const std::uint64_t ss = options_.sector_size_bytes;
        sector = offset / ss;
        const std::uint64_t b = sector * ss;
        const std::uint64_t e = std::min(b + ss, inode->size);
        std::vector<std::byte> garbage(e - b);
        garbage_prng_.fill(garbage);
        store_.write(inode->ino, b, garbage);
        // The garbage is on the medium: no crash undo may restore over it.
        trim_older(*inode, b, e, inode->journal.size());
    }
    trace_.emit("disk.corrupt_sector", {{"path", path}, {"offset", offset}, {"sector", sector},
                                        {"status", detail::errno_name(error)}});
    return error;
}

int Disk::set_bad_sector(std::string_view path, std::uint64_t offset) {
    auto r = resolve(path, true);
    int error = r.error != 0 ? r.error : (r.value.ino == 0 ? ENOENT : 0);
    if (error == 0 && find(r.value.ino)->type != FileType::regular) error = EINVAL;
    const std::uint64_t sector = offset / options_.sector_size_bytes;
    if (error == 0) find(r.value.ino)->bad_sectors.insert(sector);
    trace_.emit("disk.bad_sector", {{"path", path}, {"sector", sector}, {"status", detail::errno_name(error)}});
    return error;
}

Result<std::vector<std::byte>> Disk::durable_contents(Ino ino) const {
    const Inode* inode = find(ino);
    if (inode == nullptr) return {{}, EBADF};
    if (inode->type != FileType::regular) return {{}, EINVAL};
    std::uint64_t extent = std::max(inode->size, inode->durable_size);
    for (const JournalEntry& entry : inode->journal) {
        for (const UndoPiece& piece : entry.undo) extent = std::max(extent, piece.offset + piece.length);
    }
    std::vector<std::byte> bytes(extent);
    if (inode->unloaded) read_host(*inode, 0, bytes);
    else store_.read(ino, 0, bytes);
    for (auto entry = inode->journal.rbegin(); entry != inode->journal.rend(); ++entry) {
        for (const UndoPiece& piece : entry->undo) {
            if (piece.data.empty()) {
                std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(piece.offset), piece.length, std::byte{0});
            } else {
                std::copy(piece.data.begin(), piece.data.end(), bytes.begin() + static_cast<std::ptrdiff_t>(piece.offset));
            }
        }
    }
    bytes.resize(inode->durable_size);
    return {std::move(bytes), 0};
}

}  // namespace marionette
