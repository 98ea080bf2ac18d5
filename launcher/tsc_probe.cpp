#include "launcher/tsc_probe.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace marionette {
namespace {

bool probe_trap() {
    const pid_t child = fork();
    if (child < 0) return false;  // cannot tell: rewriting works everywhere
    if (child == 0) {
        // Only async-signal-safe calls: the launcher may have threads.
        signal(SIGSEGV, SIG_DFL);
        if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0) _exit(1);
        std::uint32_t lo = 0;
        std::uint32_t hi = 0;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        _exit(lo == 0 && hi == 0 ? 2 : 0);  // 0: it ran natively
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
    }
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

}  // namespace

bool tsc_trap_works() {
    static const bool works = probe_trap();
    return works;
}

TscMechanism tsc_mechanism() {
    const char* text = std::getenv("MARIONETTE_TSC");
    const std::string value = text != nullptr ? text : "";
    if (value.empty() || value == "auto") return tsc_trap_works() ? TscMechanism::trap : TscMechanism::patch;
    if (value == "patch") return TscMechanism::patch;
    if (value == "off" || value == "0") {
        static bool warned = false;
        if (!warned) {
            warned = true;
            std::fputs("marionette: warning: MARIONETTE_TSC=off: rdtsc/rdtscp read the real time-stamp counter "
                       "(an escape; the trace header says tsc=escape)\n", stderr);
        }
        return TscMechanism::off;
    }
    if (value == "trap") {
        if (!tsc_trap_works()) {
            throw std::invalid_argument(
                "MARIONETTE_TSC=trap: on this host prctl(PR_SET_TSC) is accepted but rdtsc does not fault; "
                "use MARIONETTE_TSC=auto or patch");
        }
        return TscMechanism::trap;
    }
    throw std::invalid_argument("MARIONETTE_TSC='" + value + "': expected auto, trap, patch or off");
}

std::string_view tsc_env_value(TscMechanism mechanism) {
    switch (mechanism) {
        case TscMechanism::trap: return "trap";
        case TscMechanism::patch: return "patch";
        case TscMechanism::off: return "0";
    }
    return "0";
}

std::string_view tsc_trace_value(TscMechanism mechanism) {
    switch (mechanism) {
        case TscMechanism::trap: return "trap";
        case TscMechanism::patch: return "patched";
        case TscMechanism::off: return "escape";
    }
    return "escape";
}

}  // namespace marionette
