// Conversions from the simulator's file metadata to the kernel's structures
// (`struct stat`, `struct statx`), shared by the preload shim and the
// coordinator so both report identical bytes. Timestamps: the disk's clock
// counts nanoseconds since the Unix epoch (the launcher starts it at
// `--start-time`), so they convert directly.
#pragma once

#include <sys/stat.h>

#include "sim/disk/disk.hpp"

namespace marionette {

/// st_mode for a simulated file: type bits plus permission bits.
unsigned kernel_mode(const Stat& st);

/// Fills `out` completely (unused fields zero).
void to_kernel_stat(const Stat& st, struct stat& out);

/// Fills `out` completely; reports every basic field (STATX_BASIC_STATS).
void to_kernel_statx(const Stat& st, struct statx& out);

}  // namespace marionette
