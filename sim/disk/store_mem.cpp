// MemStore: chunked sparse files in memory (see store.hpp).
#include <algorithm>
#include <cstring>

#include "sim/disk/store.hpp"

namespace marionette {

void MemStore::create(Ino ino) { files_[ino] = File{}; }

void MemStore::remove(Ino ino) { files_.erase(ino); }

void MemStore::read(Ino ino, std::uint64_t offset, std::span<std::byte> out) {
    auto file = files_.find(ino);
    if (file == files_.end()) {
        std::fill(out.begin(), out.end(), std::byte{0});
        return;
    }
    std::uint64_t done = 0;
    while (done < out.size()) {
        const std::uint64_t pos = offset + done;
        const std::uint64_t index = pos / chunk_bytes;
        const std::uint64_t within = pos % chunk_bytes;
        const std::uint64_t n = std::min<std::uint64_t>(chunk_bytes - within, out.size() - done);
        auto chunk = file->second.chunks.find(index);
        if (chunk != file->second.chunks.end()) {
            std::memcpy(out.data() + done, chunk->second.get() + within, n);
        } else {
            std::memset(out.data() + done, 0, n);  // a hole
        }
        done += n;
    }
}

void MemStore::write(Ino ino, std::uint64_t offset, std::span<const std::byte> data) {
    File& file = files_[ino];
    std::uint64_t done = 0;
    while (done < data.size()) {
        const std::uint64_t pos = offset + done;
        const std::uint64_t index = pos / chunk_bytes;
        const std::uint64_t within = pos % chunk_bytes;
        const std::uint64_t n = std::min<std::uint64_t>(chunk_bytes - within, data.size() - done);
        Chunk& chunk = file.chunks[index];
        if (!chunk) {
            // A chunk the write fills completely needs no zeroing first.
            chunk = n == chunk_bytes ? std::make_unique_for_overwrite<std::byte[]>(chunk_bytes)
                                     : std::make_unique<std::byte[]>(chunk_bytes);
        }
        std::memcpy(chunk.get() + within, data.data() + done, n);
        done += n;
    }
}

void MemStore::truncate(Ino ino, std::uint64_t size) {
    File& file = files_[ino];
    // Drop whole chunks past the end, then zero the tail of the last one so
    // a later extension reads zeros, as POSIX requires.
    const std::uint64_t keep = (size + chunk_bytes - 1) / chunk_bytes;
    file.chunks.erase(file.chunks.lower_bound(keep), file.chunks.end());
    if (size % chunk_bytes != 0) {
        auto last = file.chunks.find(size / chunk_bytes);
        if (last != file.chunks.end()) {
            const std::uint64_t within = size % chunk_bytes;
            std::memset(last->second.get() + within, 0, chunk_bytes - within);
        }
    }
}

std::uint64_t MemStore::footprint_bytes() const {
    std::uint64_t total = 0;
    for (const auto& [ino, file] : files_) total += file.chunks.size() * chunk_bytes;
    return total;
}

}  // namespace marionette
