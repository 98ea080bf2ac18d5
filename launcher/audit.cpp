#include "launcher/audit.hpp"

#include <capstone/capstone.h>
#include <elf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <fmt/core.h>

#include "coordinator/tsc_sites.hpp"
#include "launcher/tsc_probe.hpp"

namespace marionette {
namespace {

constexpr int arch_set_cpuid = 0x1012;

std::string find_in_path(const std::string& program) {
    if (program.find('/') != std::string::npos) return program;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
        if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return program;
}

bool is_libc_file(const std::string& path) {
    const std::string name = std::filesystem::path(path).filename().string();
    return name.rfind("libc.so", 0) == 0 || name.rfind("ld-linux", 0) == 0;
}

std::string read_command_output(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe) return {};
    std::string out;
    std::array<char, 4096> buffer{};
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) out.append(buffer.data(), n);
    return out;
}

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// How this host keeps rdtsc/rdtscp on the virtual clock, and what of
/// the program's sites that covers (launcher/tsc_probe.hpp).
template <typename Files>
void print_tsc_verdict(const Files& files, std::uint64_t sites) {
    switch (tsc_mechanism()) {
        case TscMechanism::trap:
            fmt::print("  rdtsc/rdtscp: {} sites; trapped (PR_SET_TSC) and answered from the virtual clock. Deterministic.\n", sites);
            return;
        case TscMechanism::off:
            fmt::print("  rdtsc/rdtscp: {} sites; NOT simulated (MARIONETTE_TSC=off): they read the real time-stamp counter.\n", sites);
            return;
        case TscMechanism::patch: break;
    }
    TscSiteCache cache;
    std::uint64_t proven = 0;
    std::uint64_t unproven = 0;
    for (const auto& f : files) {
        if (const TscSites* found = cache.sites(f.path); found != nullptr) {
            proven += found->proven.size();
            unproven += found->unproven.size();
        }
    }
    fmt::print("  rdtsc/rdtscp: {} sites; trapped by rewriting (this host accepts PR_SET_TSC but rdtsc does not fault): "
               "the {} proven to be instructions become ud2 and are answered from the virtual clock.{}\n",
               sites, proven,
               unproven == 0 ? " Deterministic."
                             : fmt::format(" {} byte sequences could not be proven to be code and stay as they are "
                                           "(an escape if they are executed).", unproven));
}

}  // namespace

AuditCounts scan_code(const std::uint8_t* code, std::size_t size, std::uint64_t address) {
    AuditCounts counts;
    csh handle;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) throw std::runtime_error("capstone: cs_open failed");
    // Data inside text (jump tables, padding) is skipped, not fatal.
    cs_option(handle, CS_OPT_SKIPDATA, CS_OPT_ON);
    cs_insn* insn = cs_malloc(handle);
    while (size > 0 && cs_disasm_iter(handle, &code, &size, &address, insn)) {
        ++counts.instructions;
        switch (insn->id) {
            case X86_INS_SYSCALL: ++counts.syscall; break;
            case X86_INS_RDTSC: ++counts.rdtsc; break;
            case X86_INS_RDTSCP: ++counts.rdtscp; break;
            case X86_INS_RDRAND: ++counts.rdrand; break;
            case X86_INS_RDSEED: ++counts.rdseed; break;
            case X86_INS_CPUID: ++counts.cpuid; break;
            default: break;
        }
    }
    cs_free(insn, 1);
    cs_close(&handle);
    return counts;
}

AuditCounts scan_elf_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read '" + path + "'");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
        throw std::runtime_error("'" + path + "' is not an ELF file");
    }
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof header);
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != EM_X86_64) {
        throw std::runtime_error("'" + path + "' is not an x86-64 ELF file");
    }
    AuditCounts total;
    for (int i = 0; i < header.e_shnum; ++i) {
        Elf64_Shdr section;
        const std::size_t at = header.e_shoff + static_cast<std::size_t>(i) * sizeof section;
        if (at + sizeof section > bytes.size()) break;
        std::memcpy(&section, bytes.data() + at, sizeof section);
        if ((section.sh_flags & SHF_EXECINSTR) == 0 || section.sh_type != SHT_PROGBITS) continue;
        if (section.sh_offset + section.sh_size > bytes.size()) continue;
        const AuditCounts counts = scan_code(reinterpret_cast<const std::uint8_t*>(bytes.data() + section.sh_offset),
                                             section.sh_size, section.sh_addr);
        total.syscall += counts.syscall;
        total.rdtsc += counts.rdtsc;
        total.rdtscp += counts.rdtscp;
        total.rdrand += counts.rdrand;
        total.rdseed += counts.rdseed;
        total.cpuid += counts.cpuid;
        total.instructions += counts.instructions;
    }
    return total;
}

static std::string script_interpreter(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line) || line.rfind("#!", 0) != 0) return {};
    std::stringstream words(line.substr(2));
    std::string interpreter, argument;
    words >> interpreter >> argument;
    // `#!/usr/bin/env NAME`: the interpreter is NAME, found in PATH.
    if (std::filesystem::path(interpreter).filename() == "env" && !argument.empty()) return find_in_path(argument);
    return interpreter;
}

std::vector<std::string> program_and_libraries(const std::string& program) {
    std::string path = find_in_path(program);
    // A script runs its interpreter: that is the code to audit.
    for (int depth = 0; depth < 4; ++depth) {
        const std::string interpreter = script_interpreter(path);
        if (interpreter.empty()) break;
        std::fprintf(stderr, "marionette: audit: %s is a script; auditing its interpreter %s\n", path.c_str(), interpreter.c_str());
        path = interpreter;
    }
    std::vector<std::string> files{path};
    // The loader's own resolution (what ldd does), without running the program.
    const std::string listing = read_command_output("/lib64/ld-linux-x86-64.so.2 --list " + shell_quote(path) + " 2>/dev/null");
    std::stringstream lines(listing);
    std::string line;
    while (std::getline(lines, line)) {
        std::string library;
        if (const auto arrow = line.find("=> "); arrow != std::string::npos) {
            library = line.substr(arrow + 3);
        } else if (const auto start = line.find_first_not_of(" \t"); start != std::string::npos && line[start] == '/') {
            library = line.substr(start);
        }
        library = library.substr(0, library.find(" ("));
        if (!library.empty() && library[0] == '/') files.push_back(library);
    }
    return files;
}

bool cpuid_faulting_available() {
    // Asking to keep cpuid enabled is a no-op where faulting exists and
    // ENODEV where it does not.
    return syscall(SYS_arch_prctl, arch_set_cpuid, 1) == 0;
}

int run_audit(const std::string& program) {
    std::vector<AuditFile> files;
    try {
        for (const std::string& path : program_and_libraries(program)) {
            files.push_back({path, is_libc_file(path), scan_elf_file(path)});
        }
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "marionette: audit: {}\n", e.what());
        return 2;
    }
    fmt::print("marionette audit of {} ({} files, dlopen'ed libraries not included)\n", files.front().path, files.size());
    fmt::print("  {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}  file\n", "syscall", "rdtsc", "rdtscp", "rdrand", "rdseed", "cpuid");
    AuditCounts escapes;
    std::uint64_t raw_syscall_files = 0;
    for (const AuditFile& f : files) {
        const AuditCounts& c = f.counts;
        fmt::print("  {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}  {}{}\n", c.syscall, c.rdtsc, c.rdtscp, c.rdrand, c.rdseed, c.cpuid,
                   f.path, f.is_libc ? " (libc)" : "");
        if (!f.is_libc) {
            escapes.syscall += c.syscall;
            raw_syscall_files += c.syscall != 0 ? 1 : 0;
        }
        escapes.rdtsc += c.rdtsc + c.rdtscp;
        escapes.rdrand += c.rdrand + c.rdseed;
        escapes.cpuid += c.cpuid;
    }
    const bool faulting = cpuid_faulting_available();
    fmt::print("verdict:\n");
    print_tsc_verdict(files, escapes.rdtsc);
    if (escapes.rdrand == 0) {
        fmt::print("  rdrand/rdseed: none found.\n");
    } else {
        fmt::print("  rdrand/rdseed: {} sites. These CANNOT be trapped: the values come from the CPU and differ on every run.{}\n",
                   escapes.rdrand,
                   faulting ? "" : " This machine has no CPUID faulting, so Marionette cannot even hide the feature bit from code that probes for it.");
    }
    fmt::print("  cpuid: {} sites; executed natively, they describe the real CPU (same machine, same answer).\n", escapes.cpuid);
    fmt::print("  raw syscall sites outside libc: {} in {} files; the seccomp safety net traps the simulated calls "
               "(time, randomness, identity) from any address; other syscalls reach the real kernel.\n",
               escapes.syscall, raw_syscall_files);
    if (!faulting) fmt::print("  note: CPUID faulting is not available here (ARCH_SET_CPUID: ENODEV).\n");
    fmt::print("overall: {}\n", escapes.rdrand == 0 ? "no unhideable escape found by this scan"
                                                     : "this program may use hardware randomness Marionette cannot control; runs may diverge");
    return 0;
}

}  // namespace marionette
