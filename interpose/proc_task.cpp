// /proc by the ids the program knows (docs/processes.md, "Threads").
//
// The program sees its virtual pid and its threads' virtual tids (getpid,
// gettid); /proc is the real kernel's. So a path of /proc naming the
// process by its virtual pid, or one of its threads by its virtual tid
// (/proc/self/task/TID/..., /proc/PID/task/TID, /proc/TID), is rewritten to
// the real ids before the real call, and a listing of the process's own
// task directory names its threads by their virtual tids. Threads the
// scheduler does not know (a raw clone) keep their real tids.
//
// The rules of interpose/ apply: no program malloc, no stdio, every real
// syscall through the raw stub.
#include <fcntl.h>
#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"

namespace marionette::shim {
namespace {

/// A decimal number of up to 9 digits at `p`, ending at '/' or the end;
/// -1 if there is none. `p` moves past it.
long parse_id(const char*& p) {
    long value = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; ++p, ++digits) value = value * 10 + (*p - '0');
    if (digits == 0 || digits > 9 || (*p != '/' && *p != '\0')) return -1;
    return value;
}

/// Writes `value` in decimal at `out`; returns the digits written.
std::size_t format_id(long value, char* out) {
    char digits[16];
    std::size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value > 0 && n < sizeof digits);
    for (std::size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    return n;
}

/// The real id of virtual `id` of this process (its pid or a thread's
/// tid), or 0 if it is not one.
long real_id_of(long id) {
    if (id == locked_kernel().pid()) return real_pid();
    return real_tid_of(static_cast<std::int32_t>(id));
}

/// The virtual id of real `id` of this process, or 0 if unknown.
long virtual_id_of(long id) {
    if (id == real_pid()) return locked_kernel().pid();
    return virtual_tid_of(static_cast<std::int32_t>(id));
}

/// Appends `length` bytes to out[used..capacity); false if they do not fit.
bool append(char* out, std::size_t capacity, std::size_t& used, const char* text, std::size_t length) {
    if (used + length >= capacity) return false;
    std::memcpy(out + used, text, length);
    used += length;
    return true;
}

/// Copies an id component (`p` at its start), translated if it is one of
/// ours; `changed` notes a translation.
bool copy_id(const char*& p, char* out, std::size_t capacity, std::size_t& used, bool& changed) {
    const char* start = p;
    const long id = parse_id(p);
    const long real = id > 0 ? real_id_of(id) : 0;
    if (real <= 0) {
        p = start;
        return true;
    }
    char digits[16];
    const std::size_t n = format_id(real, digits);
    changed = changed || real != id;
    return append(out, capacity, used, digits, n);
}

constexpr char proc_prefix[] = "/proc/";
constexpr std::size_t proc_prefix_length = sizeof proc_prefix - 1;

}  // namespace

bool proc_path_by_real_ids(const char* path, char* out, std::size_t capacity) {
    if (path == nullptr || std::strncmp(path, proc_prefix, proc_prefix_length) != 0 || !coordinated()) return false;
    const char* p = path + proc_prefix_length;
    std::size_t used = 0;
    bool changed = false;
    if (!append(out, capacity, used, proc_prefix, proc_prefix_length)) return false;
    // /proc/self or /proc/ID
    if (std::strncmp(p, "self", 4) == 0 && (p[4] == '/' || p[4] == '\0')) {
        if (!append(out, capacity, used, p, 4)) return false;
        p += 4;
    } else if (!copy_id(p, out, capacity, used, changed)) {
        return false;
    }
    // .../task/ID
    if (std::strncmp(p, "/task/", 6) == 0) {
        if (!append(out, capacity, used, p, 6)) return false;
        p += 6;
        if (!copy_id(p, out, capacity, used, changed)) return false;
    }
    if (!changed) return false;
    const std::size_t rest = std::strlen(p);
    if (!append(out, capacity, used, p, rest)) return false;
    out[used] = '\0';
    return true;
}

bool own_task_directory(long fd) {
    if (!coordinated() || fd < 0) return false;
    char link[32] = "/proc/self/fd/";
    link[14 + format_id(fd, link + 14)] = '\0';
    char target[64];
    const long length = raw_syscall(SYS_readlinkat, AT_FDCWD, arg(link), arg(target), static_cast<long>(sizeof target - 1));
    if (length <= 0) return false;
    target[length] = '\0';
    char expected[64];
    std::size_t used = 0;
    append(expected, sizeof expected, used, proc_prefix, proc_prefix_length);
    used += format_id(real_pid(), expected + used);
    append(expected, sizeof expected, used, "/task", 5);
    expected[used] = '\0';
    return std::strcmp(target, expected) == 0;
}

long task_listing(long fd, void* user_buffer, long count) {
    // linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    constexpr std::size_t name_at = 19;
    constexpr std::size_t reclen_at = 16;
    constexpr std::size_t off_at = 8;
    alignas(8) char in[4096];
    // A virtual tid may be longer than the real one: a record grows by at
    // most 8 of its at least 24 bytes, so three quarters of `count` fit.
    const long fits = count - count / 4;
    const long asked = fits < static_cast<long>(sizeof in) ? fits : static_cast<long>(sizeof in);
    const long got = raw_syscall(SYS_getdents64, fd, arg(in), asked);
    if (got <= 0) return got;
    auto* out = static_cast<char*>(user_buffer);
    long written = 0;
    std::int64_t next_offset = 0;  // the kernel's position after the last record copied
    for (long at = 0; at < got;) {
        std::uint16_t length_in = 0;
        std::memcpy(&length_in, in + at + reclen_at, sizeof length_in);
        const char* name = in + at + name_at;
        const char* p = name;
        const long real = parse_id(p);
        const long id = real > 0 ? virtual_id_of(real) : 0;
        char digits[16];
        const std::size_t name_length = id > 0 ? format_id(id, digits) : std::strlen(name);
        const std::size_t record = (name_at + name_length + 1 + 7) & ~std::size_t{7};
        if (written + static_cast<long>(record) > count) {
            // A longer name did not fit: the rest is read again next time.
            if (written == 0) return -EINVAL;
            raw_syscall(SYS_lseek, fd, static_cast<long>(next_offset), SEEK_SET);
            break;
        }
        std::memcpy(out + written, in + at, name_at);
        const auto record_length = static_cast<std::uint16_t>(record);
        std::memcpy(out + written + reclen_at, &record_length, sizeof record_length);
        std::memset(out + written + name_at, 0, record - name_at);
        std::memcpy(out + written + name_at, id > 0 ? digits : name, name_length);
        std::memcpy(&next_offset, in + at + off_at, sizeof next_offset);
        written += static_cast<long>(record);
        at += length_in;
    }
    return written;
}

}  // namespace marionette::shim
