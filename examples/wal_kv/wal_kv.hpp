// wal_kv: a tiny write-ahead-log key-value store, written as production code
// (plain POSIX: open, pwrite, fsync, pread) with no knowledge of Marionette
// beyond an optional Recorder for its own trace events.
//
// The log is a preallocated file of fixed 16-byte slots; each record is
// magic, key, value and a checksum over the first three (little-endian
// u32s). put() writes the next slot and, with Sync::sync, fsyncs before
// returning: a synced record must survive any crash. recover() scans the
// slots from the start and stops at the first one that is not a valid
// record. Recovery::magic_only is the deliberate bug: it trusts any slot
// whose magic is right, so a torn write (magic landed, value and checksum
// did not) comes back as a record that was never written.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "marionette/recorder.hpp"

namespace wal_kv {

inline constexpr std::uint32_t magic = 0x57414c31;  // "WAL1"
inline constexpr std::uint64_t record_size = 16;
inline constexpr std::uint64_t slots = 16;

enum class Sync { no_sync, sync };
enum class Recovery { strict, magic_only };

inline std::uint32_t checksum(std::uint32_t key, std::uint32_t value) {
    std::uint32_t h = 2166136261u;  // FNV-1a over the 12 record bytes
    for (std::uint32_t word : {magic, key, value}) {
        for (int i = 0; i < 4; ++i) h = (h ^ ((word >> (8 * i)) & 0xff)) * 16777619u;
    }
    return h;
}

class Store {
public:
    /// Opens (creating and preallocating if needed) the log at `path`.
    Store(std::string path, marionette::Recorder recorder) : path_(std::move(path)), recorder_(recorder) { open_log(); }
    ~Store() { close_log(); }
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// Appends key=value; with Sync::sync it is durable when put returns.
    void put(std::uint32_t key, std::uint32_t value, Sync sync) {
        if (next_slot_ >= slots) throw std::runtime_error("wal full");
        std::array<unsigned char, record_size> bytes{};
        encode(bytes, key, value);
        check(::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(next_slot_ * record_size)), "pwrite");
        if (sync == Sync::sync) check(::fsync(fd_), "fsync");
        ++next_slot_;
        values_[key] = value;
        recorder_.record("wal.append", {{"key", key}, {"value", value}, {"sync", sync == Sync::sync}});
    }

    /// Re-reads the log (after a crash: reopens it, since the old descriptor
    /// died with the machine) and rebuilds the table.
    void recover(Recovery mode) {
        close_log();
        open_log();
        values_.clear();
        next_slot_ = 0;
        std::array<unsigned char, record_size> bytes{};
        while (next_slot_ < slots) {
            const ssize_t n = ::pread(fd_, bytes.data(), bytes.size(), static_cast<off_t>(next_slot_ * record_size));
            check(n, "pread");
            std::uint32_t key = 0, value = 0;
            if (n != static_cast<ssize_t>(record_size) || !decode(bytes, mode, key, value)) break;
            values_[key] = value;
            ++next_slot_;
        }
        recorder_.record("wal.recover", {{"records", next_slot_}, {"strict", mode == Recovery::strict}});
    }

    const std::map<std::uint32_t, std::uint32_t>& values() const { return values_; }
    const std::string& path() const { return path_; }

private:
    static void put_u32(unsigned char* out, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
    }
    static std::uint32_t get_u32(const unsigned char* in) {
        return static_cast<std::uint32_t>(in[0]) | static_cast<std::uint32_t>(in[1]) << 8 |
               static_cast<std::uint32_t>(in[2]) << 16 | static_cast<std::uint32_t>(in[3]) << 24;
    }
    static void encode(std::array<unsigned char, record_size>& out, std::uint32_t key, std::uint32_t value) {
        put_u32(&out[0], magic);
        put_u32(&out[4], key);
        put_u32(&out[8], value);
        put_u32(&out[12], checksum(key, value));
    }
    static bool decode(const std::array<unsigned char, record_size>& in, Recovery mode, std::uint32_t& key,
                       std::uint32_t& value) {
        if (get_u32(&in[0]) != magic) return false;
        key = get_u32(&in[4]);
        value = get_u32(&in[8]);
        return mode == Recovery::magic_only || get_u32(&in[12]) == checksum(key, value);
    }
    static long check(long result, const char* what) {
        if (result < 0) throw std::system_error(errno, std::generic_category(), what);
        return result;
    }

    void open_log() {
        fd_ = static_cast<int>(check(::open(path_.c_str(), O_RDWR | O_CREAT, 0644), "open"));
        // A fresh log is preallocated (zeroed slots) and made durable with
        // its directory entry, so the slots exist whatever crashes later.
        if (::lseek(fd_, 0, SEEK_END) == 0) {
            check(::ftruncate(fd_, static_cast<off_t>(slots * record_size)), "ftruncate");
            check(::fsync(fd_), "fsync");
            const std::string dir = path_.substr(0, path_.rfind('/') == 0 ? 1 : path_.rfind('/'));
            const int dir_fd = static_cast<int>(check(::open(dir.c_str(), O_RDONLY | O_DIRECTORY), "open dir"));
            check(::fsync(dir_fd), "fsync dir");
            ::close(dir_fd);
        }
    }
    void close_log() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    std::string path_;
    marionette::Recorder recorder_;
    int fd_ = -1;
    std::uint64_t next_slot_ = 0;
    std::map<std::uint32_t, std::uint32_t> values_;
};

}  // namespace wal_kv
