// rdtsc/rdtscp on hosts where the kernel's trap has no effect
// (launcher/tsc_probe.hpp): the instructions are rewritten into ud2, and
// the SIGILL handler (signals.cpp) answers them from the virtual clock.
//
// For each executable file mapping not seen before, the coordinator finds
// the bytes of rdtsc (0f 31) and rdtscp (0f 01 f9) in the file and decides
// which are instructions (coordinator/tsc_sites.hpp, the `code` message;
// most such bytes are parts of other instructions); only those are
// rewritten, after the shim checked the bytes in memory: rdtsc to `0f 0b` (ud2), rdtscp to `0f 0b cc`. The
// sites go into a lock-free table the SIGILL handler reads. Candidates that
// cannot be proven to be code (undecodable surroundings, anonymous
// executable memory, a file that no longer matches its mapping) are left
// alone and reported: a `determinism.escape source=rdtsc` event and a
// warning.
//
// When: at start-up; whenever the dynamic loader changes the set of loaded
// objects (a dlopen), through the debugger interface: the function
// `_r_debug.r_brk` points at (_dl_debug_state, a bare `ret` the loader
// calls once the new objects are mapped and before their relocation and
// constructors) is itself rewritten into ud2, and the SIGILL handler
// searches the new mappings and returns for it; and after the program's
// own mmap/mprotect with PROT_EXEC. Code written into executable memory
// after it was made executable (JIT) is not seen (docs/determinism.md).
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "interpose/process.hpp"
#include "interpose/raw_syscall.hpp"
#include "interpose/shim.hpp"
#include "interpose/shim_internal.hpp"
#include "marionette/wire.hpp"
#include "sim/kernel/event_line.hpp"

namespace marionette::shim {
namespace {

// The rewritten sites: an open-addressed set of `address | length << 56`,
// written under the shim's lock, read without one by the SIGILL handler.
constexpr std::size_t site_slots = std::size_t{1} << 15;
constexpr std::uint64_t address_mask = (std::uint64_t{1} << 56) - 1;
std::atomic<std::uint64_t> sites[site_slots];
std::size_t site_count = 0;

std::size_t slot_of(std::uintptr_t address) { return (address * 0x9e3779b97f4a7c15ULL >> 40) & (site_slots - 1); }

bool remember_site(std::uintptr_t address, int length) {
    if (site_count * 2 >= site_slots) return false;  // the table stays at most half full
    for (std::size_t i = slot_of(address);; i = (i + 1) & (site_slots - 1)) {
        const std::uint64_t entry = sites[i].load(std::memory_order_relaxed);
        if ((entry & address_mask) == address) return true;
        if (entry != 0) continue;
        sites[i].store(address | (static_cast<std::uint64_t>(length) << 56), std::memory_order_release);
        ++site_count;
        return true;
    }
}

// Mappings already searched: a mapping is searched again only if it is new
// (another start, end or file).
struct Searched {
    std::uintptr_t start;
    std::uintptr_t end;
    std::uint64_t inode;
};
constexpr std::size_t max_searched = 1024;
Searched searched[max_searched];
std::size_t searched_count = 0;

bool already_searched(std::uintptr_t start, std::uintptr_t end, std::uint64_t inode) {
    for (std::size_t i = 0; i < searched_count; ++i) {
        if (searched[i].start == start && searched[i].end == end && searched[i].inode == inode) return true;
    }
    if (searched_count < max_searched) searched[searched_count++] = {start, end, inode};
    return false;
}

struct Mapping {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    int prot = 0;
    std::uint64_t offset = 0;
    std::uint64_t inode = 0;
    const char* path = nullptr;  // "" for anonymous memory
    std::size_t path_length = 0;
};

std::uint64_t parse_hex(const char*& p) {
    std::uint64_t value = 0;
    for (;; ++p) {
        const char c = *p;
        if (c >= '0' && c <= '9') value = value * 16 + static_cast<std::uint64_t>(c - '0');
        else if (c >= 'a' && c <= 'f') value = value * 16 + static_cast<std::uint64_t>(c - 'a' + 10);
        else return value;
    }
}

/// One line of /proc/self/maps: `start-end perms offset dev inode path`.
bool parse_mapping(const char* p, const char* end, Mapping& m) {
    m.start = parse_hex(p);
    if (*p++ != '-') return false;
    m.end = parse_hex(p);
    if (*p++ != ' ' || end - p < 5) return false;
    m.prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
    p += 5;
    m.offset = parse_hex(p);
    while (p < end && *p == ' ') ++p;
    while (p < end && *p != ' ') ++p;  // the device
    while (p < end && *p == ' ') ++p;
    m.inode = 0;
    for (; p < end && *p >= '0' && *p <= '9'; ++p) m.inode = m.inode * 10 + static_cast<std::uint64_t>(*p - '0');
    while (p < end && *p == ' ') ++p;
    m.path = p;
    m.path_length = static_cast<std::size_t>(end - p);
    return true;
}

// What one search found, for the trace.
struct Tally {
    std::uint64_t mappings = 0;
    std::uint64_t rewritten = 0;
    std::uint64_t unproven = 0;
    std::uint64_t unwritable = 0;
};

// A request being built (the CodeRequest and the path) and its answer.
alignas(8) std::byte request_buffer[sizeof(wire::CodeRequest) + 4096];
std::uint32_t answer[wire::max_code_sites + 1];

/// Rewrites the proven sites `offsets` of mapping `m`.
void rewrite(const Mapping& m, const std::uint32_t* offsets, long count, Tally& tally) {
    const long length = static_cast<long>(m.end - m.start);
    if (raw_syscall(SYS_mprotect, static_cast<long>(m.start), length, m.prot | PROT_WRITE) != 0) {
        tally.unwritable += static_cast<std::uint64_t>(count);
        return;
    }
    for (long i = 0; i < count; ++i) {
        if (offsets[i] + 3 > length) continue;
        auto* code = reinterpret_cast<unsigned char*>(m.start + offsets[i]);
        const int size = tsc_instruction_length(code);
        if (size == 0 || !remember_site(m.start + offsets[i], size)) {
            if (size != 0) ++tally.unwritable;
            continue;
        }
        // The first byte stays 0f: one store of the rest is all another
        // thread can observe half-done, and either half traps here.
        if (size == 2) {
            code[1] = 0x0b;
        } else {
            const std::uint16_t rest = 0xcc0b;  // 0b cc
            std::memcpy(code + 1, &rest, sizeof rest);
        }
        ++tally.rewritten;
    }
    raw_syscall(SYS_mprotect, static_cast<long>(m.start), length, m.prot);
}

/// Candidates in `m` that stay as they are: a `determinism.escape` event
/// naming the mapping, and a warning (once per process).
void report_escape(Kernel& kernel, const Mapping& m, std::uint64_t count, const char* why) {
    const std::string_view object = m.path_length > 0 ? std::string_view(m.path, m.path_length) : "anonymous";
    EventLine escape("determinism.escape", kernel.clock().elapsed_ns());
    escape.add_text("source", "rdtsc").add_text("object", object).add("sites", count).add_text("reason", why);
    trace_write(escape.line());
    static bool warned = false;
    if (warned) return;
    warned = true;
    char message[512];
    std::size_t n = 0;
    const auto put = [&](std::string_view text) {
        for (const char c : text) {
            if (n + 1 < sizeof message) message[n++] = c;
        }
    };
    put("rdtsc/rdtscp bytes in ");
    put(object);
    put(" could not be rewritten (");
    put(why);
    put("); if they are instructions, they read the real time-stamp counter (determinism.escape source=rdtsc)");
    message[n] = '\0';
    warn(message);
}

/// rdtsc/rdtscp byte patterns in memory (for mappings no file describes).
std::uint64_t count_candidates(const Mapping& m) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(m.start);
    const std::size_t size = m.end - m.start;
    std::uint64_t count = 0;
    for (std::size_t at = 0; at + 1 < size; ++at) {
        const void* next = std::memchr(bytes + at, 0x0f, size - at - 1);
        if (next == nullptr) break;
        at = static_cast<std::size_t>(static_cast<const unsigned char*>(next) - bytes);
        if (bytes[at + 1] == 0x31 || (bytes[at + 1] == 0x01 && at + 2 < size && bytes[at + 2] == 0xf9)) ++count;
    }
    return count;
}

/// Searches one executable mapping: the coordinator decodes the file
/// behind it; without one, every candidate in memory is unproven.
void search(Kernel& kernel, const Mapping& m, Tally& tally) {
    if ((m.prot & PROT_READ) == 0) return;  // execute-only: nothing we can read (nor rewrite)
    const bool from_file = m.path_length > 0 && m.path[0] == '/' && m.path_length <= 4096;
    Tally mine;
    long proven = -ENOEXEC;
    if (from_file) {
        wire::CodeRequest request;
        request.file_offset = m.offset;
        request.length = m.end - m.start;
        request.path_bytes = static_cast<std::uint32_t>(m.path_length);
        std::memcpy(request_buffer, &request, sizeof request);
        std::memcpy(request_buffer + sizeof request, m.path, m.path_length);
        proven = code_query(request_buffer, sizeof request + m.path_length, answer, wire::max_code_sites + 1);
    }
    if (proven >= 0) {
        const long kept = proven < static_cast<long>(wire::max_code_sites) ? proven : static_cast<long>(wire::max_code_sites);
        mine.unproven = answer[0];
        mine.unwritable = static_cast<std::uint64_t>(proven - kept);
        if (kept > 0) rewrite(m, answer + 1, kept, mine);
    } else {
        mine.unproven = count_candidates(m);
    }
    if (mine.rewritten + mine.unproven + mine.unwritable == 0) return;
    if (mine.unproven > 0) report_escape(kernel, m, mine.unproven, from_file ? "unproven" : "not_from_a_file");
    if (mine.unwritable > 0) report_escape(kernel, m, mine.unwritable, "unwritable");
    tally.mappings += 1;
    tally.rewritten += mine.rewritten;
    tally.unproven += mine.unproven;
    tally.unwritable += mine.unwritable;
}

// /proc/self/maps is read in pieces into this buffer.
char maps_buffer[65536];

// The loader's breakpoint function (_dl_debug_state), rewritten to ud2.
std::uintptr_t loader_hook = 0;

/// Rewrites the loader's breakpoint function into ud2 if it is a bare
/// `ret` (optionally behind endbr64) followed by padding, as in glibc.
bool hook_loader() {
    auto* code = reinterpret_cast<unsigned char*>(_r_debug.r_brk);
    if (code == nullptr) return false;
    const bool bare_ret = code[0] == 0xc3 && (code[1] == 0x66 || code[1] == 0x90 || code[1] == 0xcc || code[1] == 0x0f);
    const bool endbr_ret = code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa && code[4] == 0xc3;
    if (!bare_ret && !endbr_ret) return false;
    const std::uintptr_t page = reinterpret_cast<std::uintptr_t>(code) & ~std::uintptr_t{4095};
    const long length = reinterpret_cast<std::uintptr_t>(code) + 2 > page + 4096 ? 8192 : 4096;
    if (raw_syscall(SYS_mprotect, static_cast<long>(page), length, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return false;
    loader_hook = reinterpret_cast<std::uintptr_t>(code);
    code[1] = 0x0b;
    code[0] = 0x0f;
    raw_syscall(SYS_mprotect, static_cast<long>(page), length, PROT_READ | PROT_EXEC);
    return true;
}

}  // namespace

void tsc_patch_init(Kernel& kernel) {
    if (!hook_loader()) {
        EventLine escape("determinism.escape", kernel.clock().elapsed_ns());
        escape.add_text("source", "rdtsc").add_text("object", "dlopen").add_text("reason", "no_loader_hook");
        trace_write(escape.line());
        warn("cannot watch the dynamic loader (_r_debug.r_brk is not a bare ret): rdtsc in libraries loaded with dlopen "
             "reads the real time-stamp counter unless they are mapped with mmap/mprotect");
    }
    tsc_patch_scan(kernel);
}

bool tsc_patch_loader_event(std::uintptr_t rip, std::uintptr_t& return_to, std::uintptr_t& stack) {
    if (loader_hook == 0 || rip != loader_hook) return false;
    {
        Enter enter;
        if (enter.entered()) tsc_patch_scan(enter.kernel());
    }
    // The function was a bare `ret`.
    std::memcpy(&return_to, reinterpret_cast<const void*>(stack), sizeof return_to);
    stack += sizeof return_to;
    return true;
}

int tsc_patched_site(std::uintptr_t address) {
    for (std::size_t i = slot_of(address), n = 0; n < site_slots; i = (i + 1) & (site_slots - 1), ++n) {
        const std::uint64_t entry = sites[i].load(std::memory_order_acquire);
        if (entry == 0) return 0;
        if ((entry & address_mask) == address) return static_cast<int>(entry >> 56);
    }
    return 0;
}

void tsc_patch_scan(Kernel& kernel) {
    const long fd = raw_syscall(SYS_openat, AT_FDCWD, arg("/proc/self/maps"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const auto own = reinterpret_cast<std::uintptr_t>(&tsc_patch_scan);
    Tally tally;
    std::size_t held = 0;
    for (;;) {
        const long got = raw_syscall(SYS_read, fd, arg(maps_buffer + held), static_cast<long>(sizeof maps_buffer - held));
        if (got <= 0) break;
        held += static_cast<std::size_t>(got);
        std::size_t line = 0;
        for (std::size_t i = 0; i < held; ++i) {
            if (maps_buffer[i] != '\n') continue;
            Mapping m;
            if (parse_mapping(maps_buffer + line, maps_buffer + i, m) && (m.prot & PROT_EXEC) != 0 &&
                !(own >= m.start && own < m.end) && !(m.path_length > 0 && m.path[0] == '[') &&
                !already_searched(m.start, m.end, m.inode)) {
                search(kernel, m, tally);
            }
            line = i + 1;
        }
        std::memmove(maps_buffer, maps_buffer + line, held - line);
        held -= line;
        if (held == sizeof maps_buffer) held = 0;  // a line longer than the buffer: skipped
    }
    raw_syscall(SYS_close, fd);
    if (tally.mappings == 0) return;
    EventLine line("tsc.patch", kernel.clock().elapsed_ns());
    line.add("mappings", tally.mappings).add("sites", tally.rewritten).add("escapes", tally.unproven + tally.unwritable);
    trace_write(line.line());
}

void tsc_patch_after_mapping(int prot) {
    if (!features().tsc_patch || (prot & PROT_EXEC) == 0) return;
    Enter enter;
    if (enter.entered()) tsc_patch_scan(enter.kernel());
}

}  // namespace marionette::shim

/// mprotect: memory made executable is searched for rdtsc (a JIT's code,
/// once written, or a loader of its own).
MARIONETTE_EXPORT int mprotect(void* address, std::size_t length, int prot) noexcept {
    const long result = marionette::shim::raw_syscall(SYS_mprotect, marionette::shim::arg(address), static_cast<long>(length), prot);
    if (result < 0) {
        errno = static_cast<int>(-result);
        return -1;
    }
    marionette::shim::tsc_patch_after_mapping(prot);
    return 0;
}
