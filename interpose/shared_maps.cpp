// Shared mappings of simulated files (see shared_maps.hpp).
//
// The rules of interpose/ apply: fixed tables instead of allocation, every
// real syscall through the raw stub, calls on the simulated file through
// files.cpp's forwarding (never the handlers, which would call back here).
#include "interpose/shared_maps.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "interpose/files.hpp"
#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "marionette/wire.hpp"
#include "sim/kernel/kernel.hpp"

namespace marionette::shim {
namespace {

constexpr long page_bytes = 4096;
constexpr int max_files = 64;
constexpr int max_regions = 2048;
/// The mappings' own descriptors start here, above the connection, where a
/// program's own descriptors rarely reach.
constexpr long first_own_fd = wire::connection_fd + 1;
/// One write-back pwrite carries at most this much (a forwarded call is
/// capped below wire::max_payload_bytes anyway).
constexpr long most_per_write = 8L << 20;

/// A mapped simulated file: its memfd, the shim's view of it, and the clean
/// snapshot (what the simulated file holds) of the same size.
struct MappedFile {
    bool used = false;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    long fd = -1;      // the mappings' own simulated descriptor
    long memfd = -1;
    char* view = nullptr;
    char* clean = nullptr;
    long size = 0;     // bytes of memfd, view and clean (whole pages)
    int regions = 0;
    long marker = -1;  // the socket naming this mapping in the run (below)
    long write_error = 0;  // a failed write-back, reported by the next msync
};

/// One mapping the program made, as the program sees it.
struct Region {
    bool used = false;
    long start = 0;
    long length = 0;  // whole pages
    long offset = 0;  // in the file
    int file = -1;
};

MappedFile files[max_files];
Region regions[max_regions];
int region_count = 0;

/// What each simulated descriptor names, so that a read or write asks the
/// coordinator (fstat) only the first time: 0 not known, -1 no mapped
/// file, k + 1 mapped file k. Forgotten when a number is reused
/// (shared_maps_forget_fd) and all at once when a mapped file comes or goes.
constexpr long max_known_fd = 65536;
std::int8_t known_fds[max_known_fd];

void forget_known_fds() { std::memset(known_fds, 0, sizeof known_fds); }

long round_up(long bytes) { return (bytes + page_bytes - 1) / page_bytes * page_bytes; }
bool failed(long result) { return result < 0 && result > -4096; }

void escape_once(bool& warned, const char* what, const char* message) {
    if (!warned) {
        warned = true;
        warn(message);
    }
    locked_kernel().emit_escape("mmap", what);
}

/// Copies [from, to) of the simulated file into the memfd and the snapshot
/// (zeros past the end of the file).
void fill(MappedFile& f, long from, long to) {
    long at = from;
    while (at < to) {
        const long got = simulated_call(SYS_pread64, f.fd, arg(f.view + at), to - at, at);
        if (got <= 0) break;
        at += got;
    }
    std::memcpy(f.clean + from, f.view + from, static_cast<std::size_t>(at - from));
    if (at >= to) return;
    // Past the end of the file: zeros. Whole pages become holes again (a
    // large sparse mapping, LMDB's, costs no memory), the rest is cleared.
    const long page_end = round_up(at) < to ? round_up(at) : to;
    std::memset(f.view + at, 0, static_cast<std::size_t>(page_end - at));
    std::memset(f.clean + at, 0, static_cast<std::size_t>(page_end - at));
    if (page_end < to) {
        raw_syscall(SYS_fallocate, f.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_end, to - page_end);
        raw_syscall(SYS_madvise, arg(f.clean + page_end), to - page_end, MADV_DONTNEED);
    }
}

/// Grows the memfd, the view and the snapshot to `size` bytes and fills the
/// new part from the file.
long grow(MappedFile& f, long size) {
    if (size <= f.size) return 0;
    if (const long r = raw_syscall(SYS_ftruncate, f.memfd, size); r != 0) return r;
    long view = 0;
    long clean = 0;
    if (f.view == nullptr) {
        view = raw_syscall(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, f.memfd, 0);
        clean = raw_syscall(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
        view = raw_syscall(SYS_mremap, arg(f.view), f.size, size, MREMAP_MAYMOVE);
        clean = raw_syscall(SYS_mremap, arg(f.clean), f.size, size, MREMAP_MAYMOVE);
    }
    if (failed(view)) return view;
    if (failed(clean)) return clean;
    f.view = reinterpret_cast<char*>(view);
    f.clean = reinterpret_cast<char*>(clean);
    const long old_size = f.size;
    f.size = size;
    fill(f, old_size, size);
    return 0;
}

/// Moves raw descriptor `fd` to `first_own_fd` or above (out of the
/// program's way) where the limit allows; returns its number.
long move_high(long fd) {
    const long high = raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, first_own_fd);
    if (high < 0) return fd;
    raw_syscall(SYS_close, fd);
    return high;
}

/// Cross-process coherence is not modelled: each process has its own
/// memfd. An abstract socket named after the launcher, the node and the file marks
/// "this file is mapped shared in this run"; a second process finding the
/// name taken warns (a forked child shares its parent's memfd and socket).
void mark_mapped(MappedFile& f) {
    static bool warned = false;
    struct ucred peer = {};
    socklen_t peer_length = sizeof peer;
    if (raw_syscall(SYS_getsockopt, connection_fd, SOL_SOCKET, SO_PEERCRED, arg(&peer), arg(&peer_length)) != 0) return;
    const long sock = raw_syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return;
    sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    char* name = address.sun_path + 1;  // sun_path[0] == 0: abstract
    std::size_t n = 0;
    const char prefix[] = "marionette-mmap";
    std::memcpy(name, prefix, sizeof prefix - 1);
    n += sizeof prefix - 1;
    const std::uint64_t parts[3] = {static_cast<std::uint64_t>(peer.pid), f.device, f.inode};
    for (const std::uint64_t part : parts) {
        name[n++] = '-';
        char digits[24];
        int d = 0;
        for (std::uint64_t v = part; d == 0 || v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
        while (d > 0) name[n++] = digits[--d];
    }
    // Nodes of a cluster share the launcher (and their disks' numbering):
    // the node's name tells them apart.
    const std::string_view host = locked_kernel().hostname();
    name[n++] = '-';
    for (std::size_t i = 0; i < host.size() && n + 1 < sizeof address.sun_path - 1; ++i) name[n++] = host[i];
    const auto length = static_cast<long>(offsetof(sockaddr_un, sun_path) + 1 + n);
    if (raw_syscall(SYS_bind, sock, arg(&address), length) == 0) {
        f.marker = move_high(sock);
        return;
    }
    raw_syscall(SYS_close, sock);
    escape_once(warned, "shared_across_processes",
                "two processes map the same simulated file shared: each sees only its own stores until they are "
                "written back (docs/disk-model.md, \"Shared file mappings\")");
}

/// The record for the file simulated descriptor `fd` names, made if new.
int file_for(long fd, long& error) {
    struct stat st = {};
    error = simulated_call(SYS_fstat, fd, arg(&st));
    if (error < 0) return -1;
    error = -ENODEV;  // as Linux says for a directory, FIFO or device
    if (!S_ISREG(st.st_mode)) return -1;
    int free_slot = -1;
    for (int i = 0; i < max_files; ++i) {
        if (files[i].used && files[i].device == st.st_dev && files[i].inode == st.st_ino) return i;
        if (!files[i].used && free_slot < 0) free_slot = i;
    }
    error = -ENOMEM;
    if (free_slot < 0) return -1;
    MappedFile& f = files[free_slot];
    f = MappedFile{};
    f.device = st.st_dev;
    f.inode = st.st_ino;
    f.fd = simulated_duplicate(fd, first_own_fd);
    if (f.fd < 0) {
        error = f.fd;
        return -1;
    }
    f.memfd = raw_syscall(SYS_memfd_create, arg("marionette-mmap"), MFD_CLOEXEC);
    if (f.memfd >= 0) f.memfd = move_high(f.memfd);
    if (f.memfd < 0) {
        error = f.memfd;
        simulated_call(SYS_close, f.fd);
        raw_syscall(SYS_close, f.fd);
        return -1;
    }
    f.used = true;
    forget_known_fds();
    mark_mapped(f);
    return free_slot;
}

void release(MappedFile& f) {
    if (f.view != nullptr) raw_syscall(SYS_munmap, arg(f.view), f.size);
    if (f.clean != nullptr) raw_syscall(SYS_munmap, arg(f.clean), f.size);
    raw_syscall(SYS_close, f.memfd);
    if (f.marker >= 0) raw_syscall(SYS_close, f.marker);
    simulated_call(SYS_close, f.fd);
    raw_syscall(SYS_close, f.fd);
    f = MappedFile{};
    forget_known_fds();
}

/// pwrite of [from, to) of the memfd to the file, as far as the file
/// reaches (Linux drops stores past the end of the file's last page).
void write_run(MappedFile& f, long from, long to, long file_size) {
    static bool warned = false;
    if (to > file_size) {
        if (round_up(file_size) < to) {
            escape_once(warned, "store_past_eof",
                        "stores to a shared mapping past the end of its simulated file are dropped (Linux would "
                        "raise SIGBUS)");
        }
        to = file_size;
    }
    for (long at = from; at < to;) {
        const long chunk = to - at < most_per_write ? to - at : most_per_write;
        const long wrote = simulated_call(SYS_pwrite64, f.fd, arg(f.view + at), chunk, at);
        if (wrote <= 0) {
            static bool warned_failure = false;
            escape_once(warned_failure, "write_back_failed",
                        "writing a shared mapping's stores back to its simulated file failed; they are lost");
            f.write_error = wrote < 0 ? wrote : -EIO;
            return;
        }
        at += wrote;
    }
}

/// Writes back the changed pages of [from, to) (whole pages) of mapped file
/// `f`, comparing the memfd with the snapshot.
void compare_and_write(MappedFile& f, long from, long to, long& file_size) {
    long run_start = -1;
    for (long at = from; at <= to; at += page_bytes) {
        const bool dirty = at < to && std::memcmp(f.view + at, f.clean + at, page_bytes) != 0;
        if (dirty) {
            // The snapshot takes the page before the write: a store racing
            // with the write-back stays dirty and is written next time.
            std::memcpy(f.clean + at, f.view + at, page_bytes);
            if (run_start < 0) run_start = at;
            continue;
        }
        if (run_start < 0) continue;
        if (file_size < 0) {
            struct stat st = {};
            file_size = simulated_call(SYS_fstat, f.fd, arg(&st)) == 0 ? st.st_size : 0;
        }
        write_run(f, run_start, at, file_size);
        run_start = -1;
    }
}

/// Writes back the stores in [from, to) of mapped file `f`, visiting only
/// the memfd's data extents (its holes were never stored to: a large
/// sparse mapping costs nothing).
void write_back_range(MappedFile& f, long from, long to) {
    if (to > f.size) to = f.size;
    long file_size = -1;
    long at = from / page_bytes * page_bytes;
    while (at < to) {
        const long data = raw_syscall(SYS_lseek, f.memfd, at, SEEK_DATA);
        if (data < 0 || data >= to) return;  // ENXIO: no data past `at`
        long hole = raw_syscall(SYS_lseek, f.memfd, data, SEEK_HOLE);
        if (hole < 0 || hole > to) hole = to;
        const long end = round_up(hole) < to ? round_up(hole) : to;
        compare_and_write(f, data / page_bytes * page_bytes, end, file_size);
        at = end;
    }
}

void write_back_file(MappedFile& f) { write_back_range(f, 0, f.size); }

int free_region() {
    for (int i = 0; i < max_regions; ++i) {
        if (!regions[i].used) return i;
    }
    return -1;
}

void forget_region(Region& r) {
    MappedFile& f = files[r.file];
    r = Region{};
    --region_count;
    if (--f.regions == 0) release(f);
}

bool overlaps(const Region& r, long start, long end) { return r.used && r.start < end && start < r.start + r.length; }

/// Forgets [start, end) of every tracked mapping (the real pages are gone
/// or about to be replaced): writes back first, trims or splits records.
void forget_range(long start, long end) {
    for (int i = 0; i < max_regions; ++i) {
        Region& r = regions[i];
        if (!overlaps(r, start, end)) continue;
        const long cut_start = start > r.start ? start : r.start;
        const long cut_end = end < r.start + r.length ? end : r.start + r.length;
        MappedFile& f = files[r.file];
        write_back_range(f, r.offset + (cut_start - r.start), r.offset + (cut_end - r.start));
        const long region_end = r.start + r.length;
        if (cut_start == r.start && cut_end == region_end) {
            forget_region(r);
        } else if (cut_start == r.start) {
            r.offset += cut_end - r.start;
            r.length = region_end - cut_end;
            r.start = cut_end;
        } else if (cut_end == region_end) {
            r.length = cut_start - r.start;
        } else {
            // A hole in the middle: the tail becomes a record of its own.
            const int tail = free_region();
            if (tail >= 0) {
                regions[tail] = Region{true, cut_end, region_end - cut_end, r.offset + (cut_end - r.start), r.file};
                ++region_count;
                ++f.regions;
            }
            r.length = cut_start - r.start;
        }
    }
}

}  // namespace

bool shared_maps_active() { return region_count > 0; }

bool shared_map_descriptor(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    return region_count > 0 && shared_maps_descriptor_in(fd, static_cast<unsigned long>(fd)) == fd;
}

long shared_maps_descriptor_in(long first, unsigned long last) {
    if (region_count == 0 || first < 0) return -1;
    long lowest = -1;
    for (const MappedFile& f : files) {
        if (!f.used) continue;
        for (const long fd : {f.fd, f.memfd, f.marker}) {
            if (fd >= first && static_cast<unsigned long>(fd) <= last && (lowest < 0 || fd < lowest)) lowest = fd;
        }
    }
    return lowest;
}

long shared_map(long address, std::size_t length_arg, int prot, int flags, long fd, long offset) {
    const auto length = static_cast<long>(length_arg);
    if (length <= 0 || offset < 0 || offset % page_bytes != 0) return -EINVAL;
    // Linux: a shared mapping needs a readable descriptor, and a writable
    // one for PROT_WRITE.
    const long status = simulated_call(SYS_fcntl, fd, F_GETFL);
    if (status < 0) return status;
    const long mode = status & O_ACCMODE;
    if (mode == O_WRONLY || ((prot & PROT_WRITE) != 0 && mode != O_RDWR)) return -EACCES;
    if ((flags & MAP_FIXED) != 0) forget_range(address, address + round_up(length));
    const int slot = free_region();
    if (slot < 0) return -ENOMEM;
    long error = 0;
    const int index = file_for(fd, error);
    if (index < 0) return error;
    MappedFile& f = files[index];
    if (const long r = grow(f, offset + round_up(length)); r != 0) {
        if (f.regions == 0) release(f);
        return r;
    }
    const long result = raw_syscall(SYS_mmap, address, length, prot, flags, f.memfd, offset);
    if (failed(result)) {
        if (f.regions == 0) release(f);
        return result;
    }
    // Replacing part of a tracked mapping without MAP_FIXED cannot happen
    // (the kernel picks free addresses); with MAP_FIXED it was forgotten.
    regions[slot] = Region{true, result, round_up(length), offset, index};
    ++region_count;
    ++f.regions;
    return result;
}

long shared_unmap(long address, std::size_t length) {
    if (address % page_bytes != 0 || length == 0) return -EINVAL;
    forget_range(address, address + round_up(static_cast<long>(length)));
    return raw_syscall(SYS_munmap, address, static_cast<long>(length));
}

long shared_msync(long address, std::size_t length, int flags) {
    // The real msync first: it validates the arguments and the range.
    const long result = raw_syscall(SYS_msync, address, static_cast<long>(length), flags);
    if (result != 0) return result;
    const long end = address + round_up(static_cast<long>(length));
    bool synced[max_files] = {};
    bool touched[max_files] = {};
    for (const Region& r : regions) {
        if (!overlaps(r, address, end)) continue;
        const long from = address > r.start ? address : r.start;
        const long to = end < r.start + r.length ? end : r.start + r.length;
        write_back_range(files[r.file], r.offset + (from - r.start), r.offset + (to - r.start));
        touched[r.file] = true;
        if ((flags & MS_SYNC) != 0) synced[r.file] = true;
    }
    // MS_SYNC: the file's data reaches the disk as with fdatasync (ext4's
    // msync is a ranged fsync that also commits the size).
    long error = 0;
    for (int i = 0; i < max_files; ++i) {
        if (!synced[i] && !touched[i]) continue;
        // A failed write-back is reported once, as Linux reports a
        // writeback error (the pages are clean again: the stores are lost).
        if (files[i].write_error != 0 && error == 0) error = files[i].write_error;
        files[i].write_error = 0;
        if (!synced[i]) continue;
        const long sync = simulated_call(SYS_fdatasync, files[i].fd);
        if (sync != 0 && error == 0) error = sync;
    }
    return error;
}

long shared_remap(long old_address, std::size_t old_length_arg, std::size_t new_length_arg, int flags, long new_address,
                  bool& handled) {
    const long old_length = round_up(static_cast<long>(old_length_arg));
    handled = false;
    for (Region& r : regions) {
        if (!overlaps(r, old_address, old_address + (old_length > 0 ? old_length : page_bytes))) continue;
        handled = true;
        // The whole mapping, growing or shrinking in place or moving (what
        // SQLite and LMDB do); anything else is refused, never half done.
        if (r.start != old_address || r.length != old_length || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) != 0) {
            static bool warned = false;
            escape_once(warned, "remap_partial",
                        "mremap of part of a shared mapping of a simulated file is not supported; it fails with EINVAL");
            return -EINVAL;
        }
        const long new_length = round_up(static_cast<long>(new_length_arg));
        MappedFile& f = files[r.file];
        if (const long g = grow(f, r.offset + new_length); g != 0) return g;
        if (new_length < old_length) write_back_range(f, r.offset + new_length, r.offset + old_length);
        const long result = raw_syscall(SYS_mremap, old_address, old_length, new_length, flags, new_address);
        if (failed(result)) return result;
        r.start = result;
        r.length = new_length;
        return result;
    }
    return 0;
}

void shared_maps_release_range(long address, std::size_t length) {
    if (region_count > 0) forget_range(address, address + round_up(static_cast<long>(length)));
}

int shared_maps_file_of(long fd_arg) {
    if (region_count == 0) return -1;
    const long fd = static_cast<int>(fd_arg);
    const bool cached = fd >= 0 && fd < max_known_fd;
    if (cached && known_fds[fd] != 0) return known_fds[fd] < 0 ? -1 : known_fds[fd] - 1;
    struct stat st = {};
    if (simulated_call(SYS_fstat, fd, arg(&st)) != 0) return -1;
    int file = -1;
    for (int i = 0; i < max_files && file < 0; ++i) {
        if (files[i].used && files[i].device == st.st_dev && files[i].inode == st.st_ino) file = i;
    }
    if (cached) known_fds[fd] = static_cast<std::int8_t>(file + 1 == 0 ? -1 : file + 1);
    return file;
}

void shared_maps_forget_fd(long fd_arg) {
    const long fd = static_cast<int>(fd_arg);
    if (fd >= 0 && fd < max_known_fd) known_fds[fd] = 0;
}

void shared_maps_write_back(int file) {
    for (int i = 0; i < max_files; ++i) {
        if (files[i].used && (file < 0 || file == i)) write_back_file(files[i]);
    }
}

void shared_maps_refresh(int file, long offset, long length) {
    MappedFile& f = files[file];
    long from = length < 0 ? 0 : offset / page_bytes * page_bytes;
    long to = length < 0 ? f.size : round_up(offset + length);
    if (from < 0) from = 0;
    if (to > f.size) to = f.size;
    if (from < to) fill(f, from, to);
}

}  // namespace marionette::shim
