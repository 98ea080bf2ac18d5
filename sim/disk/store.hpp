// Where the disk model keeps file bytes.
//
// The model (disk.hpp) owns everything a program can observe about files
// except their contents: the namespace, inode metadata, the undo journal and
// the fault decisions. A Store holds the *current* bytes of each regular
// file, written through at once, exactly as a page cache would present them.
// Two stores implement the same interface: MemStore (in memory; unit tests
// and the embedded API) and DirStore (one real backing file per inode in a
// directory owned by the launcher, so the host kernel's page cache does the
// caching and other processes can read the bytes directly). The store knows
// nothing about durability: the crash logic rewrites it from the journal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace marionette {

/// An inode number of the simulated file system.
using Ino = std::uint64_t;

/// Byte storage for regular files, addressed by inode number. Reads beyond
/// what was written return zeros; the model clips reads to the file size.
class Store {
public:
    virtual ~Store() = default;
    /// Creates an empty file for `ino` (replacing any previous one).
    virtual void create(Ino ino) = 0;
    /// Forgets `ino` and frees its bytes.
    virtual void remove(Ino ino) = 0;
    /// Fills `out` with the bytes at [offset, offset + out.size()).
    virtual void read(Ino ino, std::uint64_t offset, std::span<std::byte> out) = 0;
    /// Stores `data` at `offset`, growing the file if needed.
    virtual void write(Ino ino, std::uint64_t offset, std::span<const std::byte> data) = 0;
    /// Cuts or zero-extends the file to `size` bytes.
    virtual void truncate(Ino ino, std::uint64_t size) = 0;
    /// Bytes of real memory or disk the store uses (for the benchmark).
    virtual std::uint64_t footprint_bytes() const = 0;
};

/// In-memory store: sparse files as maps of fixed-size chunks, so a write at
/// a huge offset costs one chunk, not the whole gap.
class MemStore final : public Store {
public:
    static constexpr std::uint64_t chunk_bytes = 4096;

    void create(Ino ino) override;
    void remove(Ino ino) override;
    void read(Ino ino, std::uint64_t offset, std::span<std::byte> out) override;
    void write(Ino ino, std::uint64_t offset, std::span<const std::byte> data) override;
    void truncate(Ino ino, std::uint64_t size) override;
    std::uint64_t footprint_bytes() const override;

private:
    using Chunk = std::unique_ptr<std::byte[]>;
    struct File {
        std::map<std::uint64_t, Chunk> chunks;  // chunk index -> chunk_bytes bytes
    };
    std::unordered_map<Ino, File> files_;
};

/// Write-through store over real files: inode N lives in `<root>/N`. The
/// root must exist and belong to the run (the launcher creates it); the
/// store never touches anything else. Throws std::system_error on host I/O
/// failure (that is a Marionette failure, not a simulated fault).
class DirStore final : public Store {
public:
    explicit DirStore(std::filesystem::path root);
    ~DirStore() override;
    DirStore(const DirStore&) = delete;
    DirStore& operator=(const DirStore&) = delete;

    void create(Ino ino) override;
    void remove(Ino ino) override;
    void read(Ino ino, std::uint64_t offset, std::span<std::byte> out) override;
    void write(Ino ino, std::uint64_t offset, std::span<const std::byte> data) override;
    void truncate(Ino ino, std::uint64_t size) override;
    std::uint64_t footprint_bytes() const override;

    /// Backing files kept open at once; past this the cache is emptied.
    static constexpr std::size_t max_open_files = 256;

    /// The real file holding `ino` (the interposer may read it directly).
    std::filesystem::path backing_path(Ino ino) const;

private:
    /// The cached descriptor; without `create`, -1 if there is no file.
    int fd_for(Ino ino, bool create = true);
    std::filesystem::path root_;
    std::unordered_map<Ino, int> fds_;
};

}  // namespace marionette
