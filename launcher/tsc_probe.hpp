// How rdtsc/rdtscp are kept on the virtual clock in this run: the kernel's
// trap (PR_SET_TSC, PR_TSC_SIGSEGV), or, on hosts where the prctl is
// accepted and has no effect (some hypervisors ignore the TSD bit), the
// shim's rewriting of the instructions (docs/determinism.md, "rdtsc").
//
// The launcher probes the host once and hands the answer to every process
// of the run in MARIONETTE_TSC; the same variable in the launcher's own
// environment forces a mechanism (tests force `patch` where the trap works,
// so both paths are covered on every host).
#pragma once

#include <string_view>

namespace marionette {

enum class TscMechanism {
    trap,   ///< the kernel faults rdtsc; the shim's SIGSEGV handler answers
    patch,  ///< the shim rewrites rdtsc sites to ud2; its SIGILL handler answers
    off,    ///< neither: rdtsc reads the real counter (an escape, warned)
};

/// True if rdtsc faults under PR_TSC_SIGSEGV on this host: a forked child
/// executes one and the launcher sees how it ended. Probed once, cached.
bool tsc_trap_works();

/// The mechanism for this run: MARIONETTE_TSC from the launcher's
/// environment (`auto`, the default; `trap`, `patch`, `off`), `auto`
/// resolved by the probe. Throws std::invalid_argument (a usage error) for
/// an unknown value, or `trap` on a host where the trap has no effect.
TscMechanism tsc_mechanism();

/// The value the shim reads in MARIONETTE_TSC: "trap", "patch" or "0".
std::string_view tsc_env_value(TscMechanism mechanism);
/// The trace header's `tsc=` value: "trap", "patched" or "escape".
std::string_view tsc_trace_value(TscMechanism mechanism);

}  // namespace marionette
