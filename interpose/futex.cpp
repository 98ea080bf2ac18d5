// futex(2) and futex_waitv(2) on the virtual clock (docs/processes.md,
// "Threads"; interpose/threads.cpp starts and ends the threads).
//
// The caller holds the run's token, so it checks the futex words itself
// without a race and parks in the coordinator, which keeps the wait queues
// and wakes waiters in a seeded order. A futex is named by a wire::FutexKey:
// a private one (FUTEX_PRIVATE_FLAG, or a word in memory the process does
// not share) by the process and its address, a shared one (a word of a
// MAP_SHARED mapping: anonymous shared memory inherited across fork, a
// memfd, a shm_open or file mapping) by the mapped object's device, inode
// and offset, found in /proc/self/maps, so that waiters and wakers of
// different processes meet, as in the kernel's get_futex_key.
//
// Priority-inheritance futexes need no priorities here (one thread of the
// run executes at a time): a PI lock is an owner-tid word, taken when 0,
// else marked FUTEX_WAITERS while its waiters park; FUTEX_UNLOCK_PI hands
// it to one of them, the seed's choice, as the kernel hands it to its top
// waiter.
//
// The rules of interpose/ apply: no program malloc, no stdio, no locks the
// program may hold, every real syscall through the raw stub.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "marionette/wire.hpp"

namespace marionette::shim {
namespace {

constexpr std::uint64_t ns_per_second = 1'000'000'000;

/// A timespec the program passed, in nanoseconds; false if malformed.
bool timespec_ns(long address, std::uint64_t& ns) {
    const auto* value = reinterpret_cast<const timespec*>(address);
    if (value->tv_sec < 0 || value->tv_nsec < 0 || value->tv_nsec >= static_cast<long>(ns_per_second)) return false;
    ns = static_cast<std::uint64_t>(value->tv_sec) * ns_per_second + static_cast<std::uint64_t>(value->tv_nsec);
    return true;
}

/// An absolute time on CLOCK_REALTIME (`realtime`) or CLOCK_MONOTONIC as
/// absolute virtual realtime (never 0, which means "none" on the wire).
std::uint64_t absolute_deadline(std::uint64_t at_ns, bool realtime) {
    std::uint64_t deadline = at_ns;
    if (!realtime) {
        const std::uint64_t now = now_realtime_ns();
        TimeSpec monotonic;
        locked_kernel().clock_gettime(clock_monotonic, monotonic);
        const std::uint64_t monotonic_now = static_cast<std::uint64_t>(monotonic.sec) * ns_per_second + static_cast<std::uint64_t>(monotonic.nsec);
        deadline = at_ns > monotonic_now ? now + (at_ns - monotonic_now) : now;
    }
    return deadline == 0 ? 1 : deadline;
}

/// The absolute virtual realtime a FUTEX_WAIT/WAIT_BITSET ends at (0:
/// never), or -EINVAL for a bad timeout.
long wait_deadline(int command, int flags, long timeout_address, std::uint64_t& deadline) {
    deadline = 0;
    if (timeout_address == 0) return 0;
    std::uint64_t value = 0;
    if (!timespec_ns(timeout_address, value)) return -EINVAL;
    // FUTEX_WAIT: relative (on CLOCK_MONOTONIC); WAIT_BITSET: absolute.
    deadline = command == FUTEX_WAIT ? now_realtime_ns() + value : absolute_deadline(value, (flags & FUTEX_CLOCK_REALTIME) != 0);
    return 0;
}

/// FUTEX_WAKE_OP's operation on *word; returns whether the comparison on
/// the old value holds (futex(2), "FUTEX_WAKE_OP").
bool futex_operate(std::uint32_t* word, std::uint32_t encoded) {
    const unsigned operation = (encoded >> 28) & 7;
    const unsigned comparison = (encoded >> 24) & 15;
    auto sign_extend_12 = [](std::uint32_t v) { return static_cast<std::int32_t>(v << 20) >> 20; };
    std::int32_t operand = sign_extend_12((encoded >> 12) & 0xfff);
    const std::int32_t compare_with = sign_extend_12(encoded & 0xfff);
    if ((encoded >> 28) & FUTEX_OP_OPARG_SHIFT) operand = static_cast<std::int32_t>(1u << (operand & 31));
    auto* atomic_word = reinterpret_cast<std::atomic<std::int32_t>*>(word);
    std::int32_t old = atomic_word->load(std::memory_order_relaxed);
    std::int32_t updated;
    do {
        switch (operation) {
            case FUTEX_OP_SET: updated = operand; break;
            case FUTEX_OP_ADD: updated = static_cast<std::int32_t>(static_cast<std::uint32_t>(old) + static_cast<std::uint32_t>(operand)); break;
            case FUTEX_OP_OR: updated = old | operand; break;
            case FUTEX_OP_ANDN: updated = old & ~operand; break;
            default: updated = old ^ operand; break;  // FUTEX_OP_XOR
        }
    } while (!atomic_word->compare_exchange_weak(old, updated, std::memory_order_seq_cst));
    switch (comparison) {
        case FUTEX_OP_CMP_EQ: return old == compare_with;
        case FUTEX_OP_CMP_NE: return old != compare_with;
        case FUTEX_OP_CMP_LT: return old < compare_with;
        case FUTEX_OP_CMP_LE: return old <= compare_with;
        case FUTEX_OP_CMP_GT: return old > compare_with;
        default: return old >= compare_with;  // FUTEX_OP_CMP_GE
    }
}

std::atomic<std::uint32_t>& word_at(long address) { return *reinterpret_cast<std::atomic<std::uint32_t>*>(address); }

std::uint32_t load_word(long address) { return word_at(address).load(std::memory_order_seq_cst); }

std::uint32_t own_tid() { return static_cast<std::uint32_t>(raw_syscall(SYS_gettid)); }

// --- keys ------------------------------------------------------------------------

/// One line of /proc/self/maps: `start-end perms offset major:minor inode path`.
struct MapLine {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::uint64_t offset = 0;
    std::uint64_t inode = 0;
    std::uint32_t device = 0;
    bool shared = false;
};

std::uint64_t parse_number(const char*& p, const char* end, unsigned base) {
    std::uint64_t value = 0;
    for (; p < end; ++p) {
        unsigned digit;
        if (*p >= '0' && *p <= '9') digit = static_cast<unsigned>(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f') digit = static_cast<unsigned>(*p - 'a' + 10);
        else break;
        value = value * base + digit;
    }
    return value;
}

bool parse_map_line(const char* p, const char* end, MapLine& m) {
    m.start = parse_number(p, end, 16);
    if (p >= end || *p++ != '-') return false;
    m.end = parse_number(p, end, 16);
    if (end - p < 6 || *p++ != ' ') return false;
    m.shared = p[3] == 's';
    p += 5;
    m.offset = parse_number(p, end, 16);
    if (p >= end || *p++ != ' ') return false;
    const std::uint64_t major = parse_number(p, end, 16);
    if (p >= end || *p++ != ':') return false;
    const std::uint64_t minor = parse_number(p, end, 16);
    if (p >= end || *p++ != ' ') return false;
    m.device = static_cast<std::uint32_t>((major << 20) | minor);  // the kernel's dev_t
    m.inode = parse_number(p, end, 10);
    return true;
}

/// The mapping that holds `address`, read from /proc/self/maps (read at
/// each call: mmap and munmap are not trapped, so a cache could not know
/// when a range was mapped again; only calls without FUTEX_PRIVATE_FLAG
/// on a page that may be shared pay for it).
bool mapping_of(std::uint64_t address, MapLine& found) {
    const long fd = raw_syscall(SYS_openat, AT_FDCWD, arg("/proc/self/maps"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buffer[4096];
    std::size_t held = 0;
    bool skipping = false;  // the rest of a line longer than the buffer
    bool done = false;
    while (!done) {
        const long got = raw_syscall(SYS_read, fd, arg(buffer + held), static_cast<long>(sizeof buffer - held));
        if (got <= 0) break;
        held += static_cast<std::size_t>(got);
        std::size_t line = 0;
        for (std::size_t i = 0; i < held && !done; ++i) {
            if (buffer[i] != '\n') continue;
            MapLine m;
            if (!skipping && parse_map_line(buffer + line, buffer + i, m) && address >= m.start && address < m.end) {
                found = m;
                done = true;
            }
            // Lines come in address order.
            if (!skipping && m.start > address) done = true;
            skipping = false;
            line = i + 1;
        }
        if (line == 0 && held == sizeof buffer) {
            // A line longer than the buffer (a long path): its fields are at its start.
            MapLine m;
            if (!skipping && parse_map_line(buffer, buffer + held, m) && address >= m.start && address < m.end) {
                found = m;
                done = true;
            }
            skipping = true;
            held = 0;
            continue;
        }
        for (std::size_t i = line; i < held; ++i) buffer[i - line] = buffer[i];
        held -= line;
    }
    raw_syscall(SYS_close, fd);
    return found.end != 0;
}

/// False if the page holding `address` is surely private anonymous memory
/// (a stack, the heap: /proc/self/pagemap's "file page or shared
/// anonymous" bit is clear), where every futex is the process's own. One
/// small read, where the maps file of a process with thousands of threads
/// is a large one (pthread_join waits without FUTEX_PRIVATE_FLAG).
bool maybe_shared(long address) {
    // Mapped in first: a page never touched here would read as absent.
    (void)load_word(address);
    const long fd = raw_syscall(SYS_openat, AT_FDCWD, arg("/proc/self/pagemap"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return true;
    constexpr std::uint64_t page_bytes = 4096;
    std::uint64_t entry = 0;
    const long got = raw_syscall(SYS_pread64, fd, arg(&entry), sizeof entry,
                                 static_cast<long>(static_cast<std::uint64_t>(address) / page_bytes * sizeof entry));
    raw_syscall(SYS_close, fd);
    constexpr std::uint64_t file_or_shared = std::uint64_t{1} << 61;
    return got != sizeof entry || (entry & file_or_shared) != 0;
}

/// The key of the futex word at `address`: the process's own unless the
/// call may be shared (no FUTEX_PRIVATE_FLAG) and the word lies in a
/// MAP_SHARED mapping; then the mapped object's, so that every process
/// mapping it meets the same waiters.
wire::FutexKey key_of(long address, bool private_flag) {
    wire::FutexKey key;
    key.offset = static_cast<std::uint64_t>(address);
    if (private_flag || !maybe_shared(address)) return key;
    MapLine m;
    if (!mapping_of(static_cast<std::uint64_t>(address), m) || !m.shared) return key;
    key.shared = 1;
    key.device = m.device;
    key.inode = m.inode;
    key.offset = m.offset + (static_cast<std::uint64_t>(address) - m.start);
    return key;
}

// --- priority inheritance ------------------------------------------------------

/// Gives the PI lock word at `address` to one of its waiters (the seed's
/// choice), or frees it if none waits; `keep` (FUTEX_OWNER_DIED at a robust
/// owner's end) stays set.
void hand_over(long address, const wire::FutexKey& key, std::uint32_t keep) {
    wire::FutexRequest request;
    request.op = wire::FutexOp::unlock_pi;
    request.key = key;
    const long answer = futex_call(request);
    std::uint32_t next = keep;
    if (answer > 0) {
        next |= static_cast<std::uint32_t>(answer & FUTEX_TID_MASK);
        if ((answer & wire::futex_more_waiters) != 0) next |= FUTEX_WAITERS;
    }
    word_at(address).store(next, std::memory_order_seq_cst);
}

/// FUTEX_LOCK_PI, LOCK_PI2, TRYLOCK_PI: take the word if its owner is 0
/// (keeping FUTEX_OWNER_DIED for the caller to see), else set
/// FUTEX_WAITERS and park until an unlock hands it over.
long lock_pi(long address, const wire::FutexKey& key, std::uint64_t deadline, bool try_only) {
    const std::uint32_t own = own_tid();
    auto& word = word_at(address);
    bool parked = false;
    for (;;) {
        std::uint32_t seen = word.load(std::memory_order_seq_cst);
        if ((seen & FUTEX_TID_MASK) == own) return parked ? 0 : -EDEADLK;
        if ((seen & FUTEX_TID_MASK) == 0) {
            if (word.compare_exchange_strong(seen, own | (seen & (FUTEX_OWNER_DIED | FUTEX_WAITERS)))) return 0;
            continue;
        }
        if (try_only) return -EAGAIN;
        if ((seen & FUTEX_WAITERS) == 0 && !word.compare_exchange_strong(seen, seen | FUTEX_WAITERS)) continue;
        if (deadline != 0 && deadline <= now_realtime_ns()) return -ETIMEDOUT;
        wire::FutexRequest request;
        request.op = wire::FutexOp::lock_pi;
        request.key = key;
        request.deadline_ns = deadline;
        const long woke = futex_call(request);
        parked = true;
        // Handed over (the unlocker wrote our tid before we ran again).
        if ((word.load(std::memory_order_seq_cst) & FUTEX_TID_MASK) == own) return 0;
        if (woke == wire::woke_deadline) return -ETIMEDOUT;
        // A signal: the kernel restarts LOCK_PI after the handler; so do we.
        if (woke < 0 && woke != -EINTR) return woke;
    }
}

long unlock_pi(long address, const wire::FutexKey& key) {
    if ((load_word(address) & FUTEX_TID_MASK) != own_tid()) return -EPERM;
    hand_over(address, key, 0);
    return 0;
}

long raw_futex(const SyscallArgs& a, long number) {
    // A real wait must not hold the shim's lock.
    LockReleased released(true);
    return raw_syscall(number, a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]);
}

std::uint32_t clamp_count(long count) { return static_cast<std::uint32_t>(count < 0 ? 0 : count > INT_MAX ? INT_MAX : count); }

long futex_wait(const SyscallArgs& a, int command, int flags, const wire::FutexKey& key) {
    wire::FutexRequest request;
    request.op = wire::FutexOp::wait;
    request.key = key;
    request.bitset = command == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a.a[5]);
    if (request.bitset == 0) return -EINVAL;
    if (const long bad = wait_deadline(command, flags, a.a[3], request.deadline_ns); bad != 0) return bad;
    // Nothing else runs: the check and the wait are one step.
    if (load_word(a.a[0]) != static_cast<std::uint32_t>(a.a[2])) return -EAGAIN;
    if (request.deadline_ns != 0 && request.deadline_ns <= now_realtime_ns()) return -ETIMEDOUT;
    const long woke = futex_call(request);
    if (woke < 0) return woke;
    return woke == wire::woke_deadline ? -ETIMEDOUT : 0;
}

/// The deadline of LOCK_PI (absolute CLOCK_REALTIME) or LOCK_PI2 (absolute
/// CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME).
long lock_deadline(const SyscallArgs& a, int command, int flags, std::uint64_t& deadline) {
    deadline = 0;
    if (a.a[3] == 0) return 0;
    std::uint64_t at_ns = 0;
    if (!timespec_ns(a.a[3], at_ns)) return -EINVAL;
    deadline = absolute_deadline(at_ns, command == FUTEX_LOCK_PI || (flags & FUTEX_CLOCK_REALTIME) != 0);
    return 0;
}

}  // namespace

long handle_futex(SyscallArgs& a) {
    if (connection() < 0) return raw_futex(a, SYS_futex);
    const int flags = static_cast<int>(a.a[1]);
    const int command = flags & FUTEX_CMD_MASK;
    const bool private_flag = (flags & FUTEX_PRIVATE_FLAG) != 0;
    if (a.a[0] == 0 || (a.a[0] & 3) != 0) return -EINVAL;
    const bool two_words = command == FUTEX_REQUEUE || command == FUTEX_CMP_REQUEUE || command == FUTEX_WAKE_OP;
    if (two_words && (a.a[4] == 0 || (a.a[4] & 3) != 0)) return -EINVAL;
    wire::FutexRequest request;
    switch (command) {
        case FUTEX_WAIT:
        case FUTEX_WAIT_BITSET:
            return futex_wait(a, command, flags, key_of(a.a[0], private_flag));
        case FUTEX_WAKE:
        case FUTEX_WAKE_BITSET:
            request.op = wire::FutexOp::wake;
            request.key = key_of(a.a[0], private_flag);
            request.count = clamp_count(a.a[2]);
            request.bitset = command == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a.a[5]);
            if (request.bitset == 0) return -EINVAL;
            return futex_call(request);
        case FUTEX_REQUEUE:
        case FUTEX_CMP_REQUEUE:
            if (command == FUTEX_CMP_REQUEUE && load_word(a.a[0]) != static_cast<std::uint32_t>(a.a[5])) return -EAGAIN;
            request.op = wire::FutexOp::requeue;
            request.key = key_of(a.a[0], private_flag);
            request.key2 = key_of(a.a[4], private_flag);
            request.count = clamp_count(a.a[2]);
            request.count2 = clamp_count(a.a[3]);
            // bitset 1: the result counts the requeued waiters too (CMP_REQUEUE).
            request.bitset = command == FUTEX_CMP_REQUEUE ? 1 : 0;
            return futex_call(request);
        case FUTEX_WAKE_OP: {
            request.op = wire::FutexOp::wake_two;
            request.key = key_of(a.a[0], private_flag);
            request.key2 = key_of(a.a[4], private_flag);
            request.count = clamp_count(a.a[2]);
            const bool second = futex_operate(reinterpret_cast<std::uint32_t*>(a.a[4]), static_cast<std::uint32_t>(a.a[5]));
            request.count2 = second ? clamp_count(a.a[3]) : 0;
            return futex_call(request);
        }
        case FUTEX_LOCK_PI:
        case FUTEX_LOCK_PI2:
        case FUTEX_TRYLOCK_PI: {
            std::uint64_t deadline = 0;
            if (command != FUTEX_TRYLOCK_PI) {
                if (const long bad = lock_deadline(a, command, flags, deadline); bad != 0) return bad;
            }
            return lock_pi(a.a[0], key_of(a.a[0], private_flag), deadline, command == FUTEX_TRYLOCK_PI);
        }
        case FUTEX_UNLOCK_PI:
            return unlock_pi(a.a[0], key_of(a.a[0], private_flag));
        default:
            // FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI (glibc's condition
            // variables have not used them since 2.25) and unknown ones.
            locked_kernel().emit_escape("futex", "unsupported_operation", command);
            return -ENOSYS;
    }
}

long handle_futex_waitv(SyscallArgs& a) {
    if (connection() < 0) return raw_futex(a, SYS_futex_waitv);
    const auto* waiters = reinterpret_cast<const futex_waitv*>(a.a[0]);
    const auto count = static_cast<unsigned long>(a.a[1]);
    if (a.a[2] != 0 || waiters == nullptr || count == 0 || count > wire::max_futex_waitv) return -EINVAL;
    std::uint64_t deadline = 0;
    if (a.a[3] != 0) {
        const long clock = a.a[4];
        std::uint64_t at_ns = 0;
        if ((clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME) || !timespec_ns(a.a[3], at_ns)) return -EINVAL;
        deadline = absolute_deadline(at_ns, clock == CLOCK_REALTIME);
    }
    wire::FutexKey keys[wire::max_futex_waitv];
    for (unsigned long i = 0; i < count; ++i) {
        const futex_waitv& w = waiters[i];
        if ((w.flags & ~static_cast<std::uint32_t>(FUTEX_32 | FUTEX_PRIVATE_FLAG)) != 0 || (w.flags & FUTEX_32) == 0 ||
            w.__reserved != 0 || w.uaddr == 0 || (w.uaddr & 3) != 0 || w.val > UINT32_MAX) {
            return -EINVAL;
        }
        keys[i] = key_of(static_cast<long>(w.uaddr), (w.flags & FUTEX_PRIVATE_FLAG) != 0);
    }
    // Nothing else runs: the checks and the wait are one step.
    for (unsigned long i = 0; i < count; ++i) {
        if (load_word(static_cast<long>(waiters[i].uaddr)) != static_cast<std::uint32_t>(waiters[i].val)) return -EAGAIN;
    }
    if (deadline != 0 && deadline <= now_realtime_ns()) return -ETIMEDOUT;
    wire::FutexRequest request;
    request.op = wire::FutexOp::wait_any;
    request.deadline_ns = deadline;
    request.count = static_cast<std::uint32_t>(count);
    const long woke = futex_call(request, keys, request.count);
    if (woke < 0) return woke;
    return woke == wire::woke_deadline ? -ETIMEDOUT : woke - 1;
}

void release_robust_futexes() {
    robust_list_head* head = nullptr;
    std::size_t length = 0;
    if (raw_syscall(SYS_get_robust_list, 0, arg(&head), arg(&length)) != 0 || head == nullptr) return;
    const std::uint32_t own = own_tid();
    // As the kernel's handle_futex_death: the word gets FUTEX_OWNER_DIED;
    // one waiter wakes (a PI lock is handed to it). The kernel names the
    // word as a shared futex, which in private memory is the private one.
    auto release = [&](std::uintptr_t entry, bool pi) {
        const auto address = static_cast<long>(entry + static_cast<std::uintptr_t>(head->futex_offset));
        auto& word = word_at(address);
        std::uint32_t seen = word.load(std::memory_order_seq_cst);
        if ((seen & FUTEX_TID_MASK) != own) return;
        while (!word.compare_exchange_weak(seen, (seen & FUTEX_WAITERS) | FUTEX_OWNER_DIED, std::memory_order_seq_cst)) {
        }
        if ((seen & FUTEX_WAITERS) == 0) return;
        const wire::FutexKey key = key_of(address, false);
        if (pi) {
            hand_over(address, key, FUTEX_OWNER_DIED);
            return;
        }
        wire::FutexRequest wake;
        wake.op = wire::FutexOp::wake;
        wake.key = key;
        wake.count = 1;
        futex_call(wake);
    };
    // The list is the program's memory: bounded like the kernel's walk. An
    // entry's PI flag is bit 0 of the pointer to it.
    const auto pending = reinterpret_cast<std::uintptr_t>(head->list_op_pending);
    auto next = reinterpret_cast<std::uintptr_t>(head->list.next);
    for (int limit = 2048; (next & ~std::uintptr_t{1}) != reinterpret_cast<std::uintptr_t>(&head->list) && next != 0 && limit > 0;
         --limit) {
        const std::uintptr_t entry = next & ~std::uintptr_t{1};
        const bool pi = (next & 1) != 0;
        next = reinterpret_cast<std::uintptr_t>(reinterpret_cast<const robust_list*>(entry)->next);
        if (entry != (pending & ~std::uintptr_t{1})) release(entry, pi);
    }
    if (pending != 0) release(pending & ~std::uintptr_t{1}, (pending & 1) != 0);
}

}  // namespace marionette::shim
