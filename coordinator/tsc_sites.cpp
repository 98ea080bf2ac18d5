#include "coordinator/tsc_sites.hpp"

#include <capstone/capstone.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace marionette {
namespace {

/// Bytes of the ModRM byte at `modrm` and what follows it (SIB,
/// displacement), or 0 if they run past `end`.
std::size_t modrm_length(const std::uint8_t* modrm, const std::uint8_t* end) {
    if (modrm >= end) return 0;
    const unsigned mod = *modrm >> 6;
    const unsigned rm = *modrm & 7;
    std::size_t length = 1;
    if (mod == 3) return length;
    if (rm == 4) {
        if (modrm + 1 >= end) return 0;
        ++length;
        if (mod == 0 && (modrm[1] & 7) == 5) length += 4;  // SIB without a base: disp32
    } else if (mod == 0 && rm == 5) {
        length += 4;  // rip-relative
    }
    if (mod == 1) length += 1;
    if (mod == 2) length += 4;
    return modrm + length <= end ? length : 0;
}

/// Map 1 (0f) opcodes with an 8-bit immediate under VEX and EVEX.
bool map1_has_imm8(std::uint8_t opcode) {
    return (opcode >= 0x70 && opcode <= 0x73) || opcode == 0xc2 || (opcode >= 0xc4 && opcode <= 0xc6);
}

/// Length of a VEX (c4, c5) or EVEX (62) encoded instruction at `p`, with
/// optional 67/segment prefixes, or 0 if it is not one. Capstone 4 cannot
/// decode AVX-512 (EVEX, and the VEX-encoded mask-register instructions
/// such as kmovq) that glibc's string functions use; the sweep steps over
/// them with this length and goes on validating with Capstone. It never
/// proves a site: only Capstone's decoding of an rdtsc does.
std::size_t vex_length(const std::uint8_t* p, const std::uint8_t* end) {
    const std::uint8_t* at = p;
    while (at < end && (*at == 0x67 || *at == 0x2e || *at == 0x3e || *at == 0x26 || *at == 0x36 || *at == 0x64 || *at == 0x65)) ++at;
    if (at >= end) return 0;
    unsigned map = 0;
    const std::uint8_t* opcode = nullptr;
    if (*at == 0xc5 && at + 2 < end) {
        map = 1;
        opcode = at + 2;
    } else if (*at == 0xc4 && at + 3 < end) {
        map = at[1] & 0x1f;
        opcode = at + 3;
    } else if (*at == 0x62 && at + 4 < end) {
        map = at[1] & 0x07;
        if ((at[2] & 0x04) == 0) return 0;  // EVEX.P1 bit 2 is always 1
        opcode = at + 4;
    } else {
        return 0;
    }
    if (map < 1 || map > 6 || map == 4) return 0;
    if (*at == 0xc5 || *at == 0xc4) {
        if (map > 3) return 0;
        // vzeroupper/vzeroall: no ModRM.
        if (map == 1 && *opcode == 0x77) return static_cast<std::size_t>(opcode + 1 - p);
    }
    const std::size_t modrm = modrm_length(opcode + 1, end);
    if (modrm == 0) return 0;
    const bool imm8 = map == 3 || (map == 1 && map1_has_imm8(*opcode));
    const std::size_t length = static_cast<std::size_t>(opcode + 1 - p) + modrm + (imm8 ? 1 : 0);
    return p + length <= end ? length : 0;
}

/// Capstone without detail: only instruction ids and lengths are needed.
class Decoder {
public:
    Decoder() {
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) throw std::runtime_error("capstone: cs_open failed");
        insn_ = cs_malloc(handle_);
    }
    ~Decoder() {
        cs_free(insn_, 1);
        cs_close(&handle_);
    }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    enum class Verdict { instruction, inside_another, undecodable };

    /// Sweeps from `from` (an instruction boundary) to `target`.
    Verdict sweep(const CodeRegion& code, std::uint64_t from, std::uint64_t target) {
        std::uint64_t address = from;
        const std::uint8_t* bytes = code.bytes.data() + (from - code.address);
        std::size_t size = code.bytes.size() - (from - code.address);
        while (address < target) {
            if (cs_disasm_iter(handle_, &bytes, &size, &address, insn_)) continue;
            const std::size_t length = vex_length(bytes, bytes + size);
            if (length == 0) return Verdict::undecodable;
            bytes += length;
            size -= length;
            address += length;
        }
        if (address != target) return Verdict::inside_another;
        if (!cs_disasm_iter(handle_, &bytes, &size, &address, insn_)) return Verdict::undecodable;
        return insn_->id == X86_INS_RDTSC || insn_->id == X86_INS_RDTSCP ? Verdict::instruction : Verdict::inside_another;
    }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

template <typename T>
bool read_at(std::span<const std::uint8_t> file, std::uint64_t offset, T& out) {
    if (offset > file.size() || file.size() - offset < sizeof out) return false;
    std::memcpy(&out, file.data() + offset, sizeof out);
    return true;
}

std::vector<Elf64_Shdr> section_headers(std::span<const std::uint8_t> elf, const Elf64_Ehdr& header) {
    std::vector<Elf64_Shdr> sections;
    if (header.e_shentsize != sizeof(Elf64_Shdr)) return sections;
    for (std::uint64_t i = 0; i < header.e_shnum; ++i) {
        Elf64_Shdr section;
        if (!read_at(elf, header.e_shoff + i * sizeof section, section)) return {};
        sections.push_back(section);
    }
    return sections;
}

/// Function starts from the unwind tables' search index (.eh_frame_hdr):
/// unlike the symbol tables, it covers static functions too, so sweeps
/// start close to every candidate. Only the encoding every x86-64
/// toolchain emits is read (a count in udata4, a table of datarel sdata4).
void add_unwind_starts(std::span<const std::uint8_t> elf, const Elf64_Shdr& hdr, std::vector<std::uint64_t>& bounds) {
    struct Prefix {
        std::uint8_t version, frame_pointer_encoding, count_encoding, table_encoding;
        std::int32_t frame_pointer;
        std::uint32_t count;
    } prefix;
    static_assert(sizeof(Prefix) == 12);
    constexpr std::uint8_t udata4 = 0x03;
    constexpr std::uint8_t datarel_sdata4 = 0x3b;
    if (!read_at(elf, hdr.sh_offset, prefix) || prefix.version != 1 || prefix.count_encoding != udata4 ||
        prefix.table_encoding != datarel_sdata4 || (prefix.frame_pointer_encoding & 0x0f) != 0x0b) {
        return;
    }
    for (std::uint64_t i = 0; i < prefix.count && 12 + (i + 1) * 8 <= hdr.sh_size; ++i) {
        std::int32_t start = 0;
        if (!read_at(elf, hdr.sh_offset + 12 + i * 8, start)) return;
        bounds.push_back(hdr.sh_addr + static_cast<std::uint64_t>(static_cast<std::int64_t>(start)));
    }
}

/// True if `section`'s name, in the section name table `names`, is `name`.
bool section_named(std::span<const std::uint8_t> elf, const Elf64_Shdr& names, const Elf64_Shdr& section, std::string_view name) {
    const std::uint64_t at = names.sh_offset + section.sh_name;
    if (section.sh_name >= names.sh_size || at + name.size() + 1 > elf.size()) return false;
    return std::memcmp(elf.data() + at, name.data(), name.size()) == 0 && elf[at + name.size()] == 0;
}

/// Instruction boundaries: the starts and ends of every function symbol
/// (.symtab and .dynsym) and every unwind table entry's start.
std::vector<std::uint64_t> function_bounds(std::span<const std::uint8_t> elf, const Elf64_Ehdr& header,
                                           const std::vector<Elf64_Shdr>& sections) {
    std::vector<std::uint64_t> bounds;
    for (const Elf64_Shdr& table : sections) {
        if ((table.sh_type != SHT_SYMTAB && table.sh_type != SHT_DYNSYM) || table.sh_entsize != sizeof(Elf64_Sym)) continue;
        for (std::uint64_t at = 0; at + sizeof(Elf64_Sym) <= table.sh_size; at += sizeof(Elf64_Sym)) {
            Elf64_Sym symbol;
            if (!read_at(elf, table.sh_offset + at, symbol)) break;
            if (ELF64_ST_TYPE(symbol.st_info) != STT_FUNC || symbol.st_value == 0) continue;
            bounds.push_back(symbol.st_value);
            if (symbol.st_size != 0) bounds.push_back(symbol.st_value + symbol.st_size);
        }
    }
    if (header.e_shstrndx < sections.size()) {
        for (const Elf64_Shdr& section : sections) {
            if (section_named(elf, sections[header.e_shstrndx], section, ".eh_frame_hdr")) add_unwind_starts(elf, section, bounds);
        }
    }
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    return bounds;
}

/// Executable segments, for a file without section headers.
std::vector<CodeRegion> executable_segments(std::span<const std::uint8_t> elf, const Elf64_Ehdr& header) {
    std::vector<CodeRegion> regions;
    for (std::uint64_t i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr segment;
        if (!read_at(elf, header.e_phoff + i * sizeof segment, segment)) break;
        if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
        if (segment.p_offset > elf.size() || elf.size() - segment.p_offset < segment.p_filesz) continue;
        regions.push_back({elf.subspan(segment.p_offset, segment.p_filesz), segment.p_offset, segment.p_vaddr});
    }
    return regions;
}

void sort_sites(TscSites& sites) {
    for (std::vector<std::uint64_t>* list : {&sites.candidates, &sites.proven, &sites.unproven}) {
        std::sort(list->begin(), list->end());
        list->erase(std::unique(list->begin(), list->end()), list->end());
    }
}

}  // namespace

std::vector<std::uint64_t> tsc_candidates(const CodeRegion& code) {
    std::vector<std::uint64_t> found;
    const std::span<const std::uint8_t> b = code.bytes;
    for (std::size_t i = 0; i + 1 < b.size(); ++i) {
        const void* next = std::memchr(b.data() + i, 0x0f, b.size() - i - 1);
        if (next == nullptr) break;
        i = static_cast<std::size_t>(static_cast<const std::uint8_t*>(next) - b.data());
        if (b[i + 1] == 0x31 || (b[i + 1] == 0x01 && i + 2 < b.size() && b[i + 2] == 0xf9)) found.push_back(code.file_offset + i);
    }
    return found;
}

void find_tsc_sites(const CodeRegion& code, std::span<const std::uint64_t> anchors, TscSites& out) {
    const std::vector<std::uint64_t> candidates = tsc_candidates(code);
    if (candidates.empty()) return;
    out.candidates.insert(out.candidates.end(), candidates.begin(), candidates.end());
    std::vector<std::uint64_t> starts(anchors.begin(), anchors.end());
    starts.push_back(code.address);
    std::sort(starts.begin(), starts.end());
    Decoder decoder;
    for (const std::uint64_t offset : candidates) {
        const std::uint64_t target = code.address + (offset - code.file_offset);
        // The nearest boundary at or before the candidate, inside the region.
        auto after = std::upper_bound(starts.begin(), starts.end(), target);
        std::uint64_t from = code.address;
        if (after != starts.begin() && *std::prev(after) >= code.address) from = *std::prev(after);
        switch (decoder.sweep(code, from, target)) {
            case Decoder::Verdict::instruction: out.proven.push_back(offset); break;
            case Decoder::Verdict::undecodable: out.unproven.push_back(offset); break;
            case Decoder::Verdict::inside_another: break;  // bytes of another instruction
        }
    }
}

TscSites find_tsc_sites_in_elf(std::span<const std::uint8_t> elf) {
    Elf64_Ehdr header;
    if (!read_at(elf, 0, header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
        header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != EM_X86_64) {
        throw std::invalid_argument("not an x86-64 ELF file");
    }
    TscSites sites;
    const std::vector<Elf64_Shdr> sections = section_headers(elf, header);
    if (sections.empty()) {
        // No boundaries known but the segment start, which may be the ELF
        // header itself: nothing can be proven.
        for (const CodeRegion& segment : executable_segments(elf, header)) {
            for (const std::uint64_t offset : tsc_candidates(segment)) {
                sites.candidates.push_back(offset);
                sites.unproven.push_back(offset);
            }
        }
        sort_sites(sites);
        return sites;
    }
    const std::vector<std::uint64_t> bounds = function_bounds(elf, header, sections);
    for (const Elf64_Shdr& section : sections) {
        if (section.sh_type != SHT_PROGBITS || (section.sh_flags & SHF_EXECINSTR) == 0) continue;
        if (section.sh_offset > elf.size() || elf.size() - section.sh_offset < section.sh_size) continue;
        const CodeRegion code{elf.subspan(section.sh_offset, section.sh_size), section.sh_offset, section.sh_addr};
        find_tsc_sites(code, bounds, sites);
    }
    sort_sites(sites);
    return sites;
}

const TscSites* TscSiteCache::sites(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
    const Key key{st.st_dev, st.st_ino, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec, st.st_size};
    if (auto found = files_.find(key); found != files_.end()) return &found->second;
    // Mapped, not read: the coordinator decodes libraries of megabytes.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    const auto size = static_cast<std::size_t>(st.st_size);
    void* mapped = size == 0 ? MAP_FAILED : ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapped == MAP_FAILED) return nullptr;
    struct Unmap {
        void* at;
        std::size_t size;
        ~Unmap() { ::munmap(at, size); }
    } unmap{mapped, size};
    const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(mapped), size);
    try {
        return &files_.emplace(key, find_tsc_sites_in_elf(bytes)).first->second;
    } catch (const std::invalid_argument&) {
        return nullptr;
    }
}

}  // namespace marionette
