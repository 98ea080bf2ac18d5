// The simulated file system of one node, with its disk fault model.
//
// A Disk is the node's kernel file system plus the disk under it. Programs
// see the *current* state at once (write-through into a Store, which plays
// the page cache); what a power loss keeps is the *durable* state, tracked
// as an undo journal of unsynced changes per inode plus, for directories, a
// durable copy of their entries. fsync & co. drop journal entries; crash()
// replays the journal backwards under the seeded fault model (each unsynced
// change lost, torn at sector granularity, or kept) and rebuilds the
// namespace from the durable directory entries. docs/disk-model.md states
// the semantics. The Disk is owned by the node's coordinator, never by a
// guest process, so the durable state never depends on a dying process.
//
// The API is the kernel's view: paths are absolute inside the disk ("/a/b"),
// open files are referenced by inode (the fd table lives above), and every
// operation returns a POSIX errno (0 = success). Each operation is traced
// as `disk.<op>` with its latency; faults as `disk.fault`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/disk/interval_set.hpp"
#include "sim/disk/store.hpp"
#include "sim/event_queue.hpp"
#include "sim/random.hpp"
#include "sim/rate.hpp"
#include "sim/time.hpp"
#include "sim/trace.hpp"

namespace marionette {

/// Fault rates of a disk; names match the Zig library, CLI and trace.
struct DiskFaults {
    Rate read_error_rate = Rate::never();           ///< read fails with EIO
    Rate write_error_rate = Rate::never();          ///< write fails with EIO, nothing written
    Rate corrupt_read_rate = Rate::never();         ///< returned bytes differ; stored bytes intact
    Rate crash_lost_write_rate = Rate::never();     ///< at crash, an unsynced change is lost
    Rate crash_torn_write_rate = Rate::never();     ///< at crash, an unsynced write keeps some sectors
    Rate misdirected_write_rate = Rate::never();    ///< a write lands at another sector-aligned offset
    Rate latent_sector_error_rate = Rate::never();  ///< a written sector then fails reads until rewritten
    Rate fsync_error_rate = Rate::never();          ///< fsync EIO with Linux semantics (pages marked clean)
    Rate short_io_rate = Rate::never();             ///< read/write transfers fewer bytes than asked
    /// When false, what survives a crash is a prefix of the unsynced changes
    /// in issue order; when true (default) any subset may survive.
    bool crash_reorder_writes = true;
};

/// When namespace changes (create, rename, unlink, mkdir, rmdir, link,
/// symlink) become durable.
enum class MetadataDurability {
    strict,   ///< when the parent directory is fsynced (or sync/syncfs)
    lenient,  ///< at once
};

/// Parses `strict` or `lenient`; throws std::invalid_argument otherwise.
MetadataDurability parse_metadata_durability(std::string_view text);

struct DiskOptions {
    std::uint64_t sector_size_bytes = 4096;  ///< torn writes, corrupt_sector, latent errors
    std::uint64_t block_size_bytes = 4096;   ///< allocation unit (st_blocks, capacity)
    std::uint64_t capacity_bytes = 0;        ///< ENOSPC past this many allocated bytes; 0 = unlimited
    Ns latency_ns_min = 0;                   ///< latency of every operation: min + uniform jitter
    Ns latency_ns_jitter = 0;
    MetadataDurability metadata = MetadataDurability::strict;
    std::uint64_t device_id = 0x4d41;  ///< st_dev reported for every file
    DiskFaults faults{};
};

enum class FileType : std::uint8_t { regular, directory, symlink };

/// What stat reports, all virtual: deterministic inode numbers and times.
struct Stat {
    Ino ino = 0;
    FileType type = FileType::regular;
    std::uint32_t mode = 0;  ///< permission bits only
    std::uint64_t nlink = 0;
    std::uint64_t size = 0;
    std::uint64_t blocks = 0;  ///< 512-byte units allocated
    std::uint64_t block_size = 0;
    std::uint64_t dev = 0;
    Ns atime_ns = 0;
    Ns mtime_ns = 0;
    Ns ctime_ns = 0;
};

struct DirEntry {
    std::string name;
    Ino ino = 0;
    FileType type = FileType::regular;
};

/// A value or an errno.
template <typename T>
struct Result {
    T value{};
    int error = 0;
    bool ok() const { return error == 0; }
};

struct OpenFlags {
    bool create = false;     ///< O_CREAT
    bool exclusive = false;  ///< O_EXCL
    bool truncate = false;   ///< O_TRUNC
    bool directory = false;  ///< O_DIRECTORY
    bool nofollow = false;   ///< O_NOFOLLOW
};

/// O_SYNC / O_DSYNC on a write: the write is durable when it returns.
enum class WriteSync { none, data, full };

/// What crash() decided, for tests and the scenario report.
struct CrashReport {
    std::uint64_t pending = 0;
    std::uint64_t landed = 0;
    std::uint64_t lost = 0;
    std::uint64_t torn = 0;
    std::uint64_t removed_inodes = 0;
    /// Directory entries whose last change was never made durable and is
    /// undone: names created or renamed in that vanish, names unlinked or
    /// renamed away that come back.
    std::uint64_t namespace_lost = 0;
};

/// A random disk fault that fired, as the arguments of the `disk.force`
/// line that forces it again without the node (`read_error 7`,
/// `lost 1 3`, `torn 1 4 0110`); `at_ns` is when it fired (docs/shrinking.md).
struct DiskFiredFault {
    Ns at_ns = 0;
    std::string what;
    std::string args;
};

/// The random I/O fault kinds a run can force, by the name `disk.force` and
/// the `disk.fault` trace event give them.
const std::vector<std::string_view>& disk_forced_fault_kinds();

namespace detail {

/// Old bytes of [offset, offset + length); empty data means zeros (the
/// range was past the end of the file).
struct UndoPiece {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::vector<std::byte> data;
};

/// One unsynced change to a regular file.
struct JournalEntry {
    enum class Kind : std::uint8_t { write, truncate, extend };
    std::uint64_t seq = 0;
    Kind kind = Kind::write;
    std::uint64_t offset = 0;     ///< write: first byte; truncate/extend: new size
    std::uint64_t length = 0;     ///< write: bytes written
    bool doomed = false;          ///< its fsync failed: it will never reach the disk
    bool synced = false;          ///< an O_SYNC write: durable already, kept for its place in the order
    std::vector<UndoPiece> undo;  ///< what the change overwrote
};

struct Inode {
    Ino ino = 0;
    FileType type = FileType::regular;
    std::uint32_t mode = 0;
    std::uint64_t size = 0;
    std::uint64_t durable_size = 0;
    Ns atime_ns = 0, mtime_ns = 0, ctime_ns = 0;
    std::uint32_t links = 0;         ///< current directory entries naming it
    std::uint32_t open_count = 0;    ///< open handles
    std::uint32_t durable_refs = 0;  ///< durable directory entries naming it
    Ino parent = 0;                  ///< directories: the current parent
    std::string target;              ///< symlinks
    std::map<std::string, Ino> entries;          ///< directories: current
    std::map<std::string, Ino> durable_entries;  ///< directories: as of the last fsync
    IntervalSet allocated;                       ///< block indices
    std::vector<JournalEntry> journal;           ///< unsynced changes, oldest first
    std::set<std::uint64_t> bad_sectors;         ///< latent sector errors
    /// Copy-on-write view of the host (attach_host): the host path this
    /// inode still mirrors; its entries (directory) or bytes (regular file)
    /// are read from there on first need, and never written back.
    std::string host;
    bool unlisted = false;  ///< directory: the host's entries not read yet
    bool unloaded = false;  ///< regular file: the bytes are still the host's
    bool in_view = false;   ///< directory inside a host view: absolute symlinks resolve from the view's root
    bool special = false;   ///< a host FIFO, socket or device: only the real kernel can serve it
    std::uint64_t host_ino = 0;  ///< st_ino and st_dev on the host, reported for the inode's whole life, so a
    std::uint64_t host_dev = 0;  ///< stat of it agrees with the host's (the real kernel serves unchanged ones)
};

}  // namespace detail

class Disk {
public:
    /// `faults_prng` should be derived per node (`derive("disk", node)`);
    /// the disk derives its own sub-streams per purpose from it. `clock`
    /// supplies timestamps; the disk never moves it: the caller charges
    /// last_latency_ns() to the calling process.
    Disk(DiskOptions options, Store& store, const Prng& prng, Trace& trace, const EventQueue& clock);

    // --- namespace -------------------------------------------------------
    Result<Stat> stat(std::string_view path, bool follow = true);
    Result<Stat> fstat(Ino ino);
    /// Opens (and with flags.create, creates) a file or directory and counts
    /// the handle; every successful open needs one close().
    Result<Ino> open(std::string_view path, OpenFlags flags, std::uint32_t mode = 0644);
    void close(Ino ino);
    int mkdir(std::string_view path, std::uint32_t mode = 0755);
    int rmdir(std::string_view path);
    int unlink(std::string_view path);
    /// rename(2); with no_replace, EEXIST if `to` exists (RENAME_NOREPLACE).
    int rename(std::string_view from, std::string_view to, bool no_replace = false);
    int link(std::string_view existing, std::string_view new_path);
    int symlink(std::string_view target, std::string_view path);
    Result<std::string> readlink(std::string_view path);
    int chmod(std::string_view path, std::uint32_t mode);
    int set_times(Ino ino, Ns atime_ns, Ns mtime_ns);
    /// Entries of a directory in name order (without "." and "..").
    Result<std::vector<DirEntry>> readdir(Ino dir);

    // --- data ------------------------------------------------------------
    /// pread: bytes read (0 at or past the end), or an errno.
    Result<std::uint64_t> read(Ino ino, std::uint64_t offset, std::span<std::byte> out);
    /// pwrite: bytes written (may be short), or an errno.
    Result<std::uint64_t> write(Ino ino, std::uint64_t offset, std::span<const std::byte> data,
                                WriteSync sync = WriteSync::none);
    int truncate(Ino ino, std::uint64_t size);
    /// fallocate mode 0 or FALLOC_FL_KEEP_SIZE: allocates, never changes bytes.
    int fallocate(Ino ino, std::uint64_t offset, std::uint64_t length, bool keep_size);

    // --- durability ------------------------------------------------------
    /// fsync: the file's data and size; for a directory, its entries.
    int fsync(Ino ino);
    /// fdatasync: the same as fsync in this model (size is needed to read).
    int fdatasync(Ino ino);
    /// sync_file_range with SYNC_FILE_RANGE_WAIT_AFTER: writes entirely
    /// inside the range become durable; the file size does not.
    int sync_range(Ino ino, std::uint64_t offset, std::uint64_t length);
    /// sync / syncfs: everything, data and namespace.
    int sync_all();

    // --- scripted faults ---------------------------------------------------
    /// Power loss: applies the crash model; every handle is gone and every
    /// operation fails with EIO until restart(). Call it after the node's
    /// processes are stopped.
    CrashReport crash();
    void restart();
    bool crashed() const { return crashed_; }
    /// Overwrites the sector holding `offset` with seeded garbage, in both
    /// the current and the durable state (sticky, survives crashes).
    int corrupt_sector(std::string_view path, std::uint64_t offset);
    /// Marks the sector holding `offset` as a latent sector error.
    int set_bad_sector(std::string_view path, std::uint64_t offset);

    // --- forced faults (docs/shrinking.md) ---------------------------------
    /// From now on random faults are still drawn but fire only where forced.
    void force_only();
    /// The n-th roll (from 1) of the I/O fault `kind` (disk_forced_fault_kinds()) fires.
    void force_fault(std::string_view kind, std::uint64_t roll);
    /// At the crash-th power loss (from 1), the position-th unsynced change
    /// (from 1, in issue order) is lost (`mask` empty) or torn, keeping the
    /// sectors whose `mask` character is 1 (first sector first).
    void force_crash(std::uint64_t crash, std::uint64_t position, std::string mask);
    /// Every random fault that fired (empty under force_only()).
    const std::vector<DiskFiredFault>& fired_faults() const { return fired_; }

    // --- trees -------------------------------------------------------------
    /// Copies a real directory tree into the disk as durable state (regular
    /// files, directories, symlinks; modes kept). Never writes to `source`.
    /// Returns the number of entries imported; throws std::runtime_error if
    /// `source` is not a directory.
    std::uint64_t import_tree(const std::filesystem::path& source, std::string_view into = "/");
    /// Writes what a crash with no faults would keep into `destination`
    /// (created if missing; must be empty). Returns entries exported.
    std::uint64_t export_durable(const std::filesystem::path& destination);

    // --- the host, copy-on-write ---------------------------------------------
    /// Makes directory `into` (created if missing) a copy-on-write view of
    /// the host directory `host_dir`: its entries appear as the host's, read
    /// lazily on first lookup and then the disk's own, durable; a regular
    /// file's bytes are the host's until something changes them, when they
    /// are copied onto the disk. The host is only ever read. Throws
    /// std::runtime_error if `host_dir` is not a directory.
    void attach_host(std::string_view into, const std::filesystem::path& host_dir);
    /// The host file `path` still mirrors unchanged (a regular file whose
    /// bytes were never copied, under the same host path), or "".
    std::string unchanged_host_file(std::string_view path);
    /// True if `path` is a host FIFO, socket or device seen through the
    /// view (calls on it go to the real kernel).
    bool host_special(std::string_view path);

    // --- introspection -------------------------------------------------------
    const DiskOptions& options() const { return options_; }
    void set_faults(const DiskFaults& faults) { options_.faults = faults; }
    Ns last_latency_ns() const { return last_latency_ns_; }
    std::uint64_t allocated_bytes() const { return allocated_blocks_ * options_.block_size_bytes; }
    /// Unsynced journal entries and the bytes of undo data they hold.
    std::uint64_t journal_entries() const;
    std::uint64_t journal_bytes() const;
    /// The durable contents of a regular file reachable now (all unsynced
    /// changes undone); for tests and export. Empty result on error.
    Result<std::vector<std::byte>> durable_contents(Ino ino) const;
    static constexpr Ino root_ino = 2;

private:
    struct Resolved {
        Ino parent = 0;
        std::string name;
        Ino ino = 0;  // 0: no such entry
    };
    /// With `at_host`: set to whether every step from the host view down
    /// (directories, symlinks, the last entry) is the host's own entry at
    /// its host path, so the real kernel would reach the same host file.
    Result<Resolved> resolve(std::string_view path, bool follow_last, bool* at_host = nullptr) const;
    detail::Inode* find(Ino ino);
    const detail::Inode* find(Ino ino) const;
    /// Reads the host entries of an unlisted directory (logically const: the
    /// entries were always there).
    void list_host(const detail::Inode& dir) const;
    /// A FIFO, socket or device made on the host after its directory was
    /// listed (mkfifo is the real kernel's): added as a special entry; 0 if
    /// there is none.
    Ino live_host_special(const detail::Inode& dir, const std::string& name) const;
    /// Copies an unloaded file's host bytes onto the disk before a change.
    void load_host(detail::Inode& file);
    /// Reads an unloaded file's bytes from its host file.
    void read_host(const detail::Inode& file, std::uint64_t offset, std::span<std::byte> out) const;
    detail::Inode& new_inode(FileType type, std::uint32_t mode);
    /// An inode of a host entry, numbered by its host path.
    detail::Inode& new_host_inode(FileType type, std::uint32_t mode, const std::string& host);
    void add_entry(detail::Inode& dir, const std::string& name, Ino ino);
    void remove_entry(detail::Inode& dir, const std::string& name);
    void set_durable_entries(detail::Inode& dir, const std::map<std::string, Ino>& entries);
    void set_durable_entry(detail::Inode& dir, const std::string& name, Ino ino);
    void maybe_free(Ino ino);
    Stat make_stat(const detail::Inode& inode) const;
    int check_up(std::string_view op);
    Ns charge_latency();
    bool fault(std::string_view kind, const Rate& rate, Prng& prng, Ino ino);
    void journal_write(detail::Inode& inode, std::uint64_t offset, std::uint64_t length);
    void journal_truncate(detail::Inode& inode, std::uint64_t new_size);
    int reserve_blocks(detail::Inode& inode, std::uint64_t offset, std::uint64_t length, std::uint64_t* fits);
    void release_blocks_past(detail::Inode& inode, std::uint64_t size);
    /// Returns `count` blocks to the free pool (asserting it had them).
    void release_blocks(std::uint64_t count);
    void make_durable(detail::Inode& inode);
    void trim_older(detail::Inode& inode, std::uint64_t begin, std::uint64_t end, std::size_t before);
    void undo_inode(detail::Inode& inode, const std::vector<std::uint8_t>& results,
                    const std::vector<std::vector<bool>>& kept_sectors);
    void restore(detail::Inode& inode, const detail::JournalEntry& entry, std::uint64_t begin, std::uint64_t end,
                 const detail::IntervalSet& protect, std::uint64_t final_size);
    std::vector<Ino> durable_reachable(std::map<Ino, std::vector<std::string>>* dropped) const;
    std::uint8_t decide_crash(const detail::JournalEntry& entry, bool broken, std::vector<bool>& sectors,
                              std::uint64_t position);
    void fired(std::string what, std::string args);
    void rebuild_namespace(const std::vector<Ino>& reachable,
                           const std::map<Ino, std::vector<std::string>>& dropped, CrashReport& report);

    DiskOptions options_;
    Store& store_;
    Trace& trace_;
    const EventQueue& clock_;
    Prng io_prng_;
    Prng latency_prng_;
    Prng crash_prng_;
    Prng garbage_prng_;
    std::map<Ino, detail::Inode> inodes_;
    Ino next_ino_ = 11;
    Ino host_root_ino_ = 0;  ///< attach_host's directory (0: none)
    std::uint64_t next_seq_ = 0;
    std::uint64_t allocated_blocks_ = 0;
    Ns last_latency_ns_ = 0;
    bool crashed_ = false;
    // Forced faults (disk_forced.cpp).
    bool forced_only_ = false;
    std::map<std::string, std::uint64_t, std::less<>> fault_rolls_;  ///< rolls so far, per kind
    std::map<std::string, std::set<std::uint64_t>, std::less<>> forced_faults_;  ///< kind -> forced rolls
    std::uint64_t crashes_ = 0;                                                  ///< power losses so far
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> forced_crash_;  ///< (crash, position) -> mask ("" lost)
    std::vector<DiskFiredFault> fired_;
};

std::string_view to_string(FileType type);

}  // namespace marionette
