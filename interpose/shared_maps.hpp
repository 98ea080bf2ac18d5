// Shared mappings of simulated files (docs/disk-model.md, "Shared file
// mappings").
//
// The descriptor behind a simulated file is a placeholder on /dev/null, so
// the real kernel cannot map the file. A MAP_SHARED mapping maps instead a
// memfd that holds the file's bytes: one memfd per mapped file in the
// process (all its mappings of that file see each other's stores), the
// shim's own view of it, and a clean snapshot of what the simulated file
// holds. Stores are found by comparing the memfd with the snapshot page by
// page and written back through the simulated file (a pwrite of each
// changed run of pages: an unsynced write of the disk model) at msync,
// munmap, before a read, write, sync or resize of that file, before execve
// and at a normal exit; msync(MS_SYNC) then makes them durable. A write to
// the file through write/pwrite/ftruncate is copied into the memfd, so the
// mappings see it. Each mapped file keeps a simulated descriptor of its own
// (a duplicate of the program's, close-on-exec), so the program may close
// its descriptor after mmap as on Linux.
//
// Every function here runs with the caller holding an Enter.
#pragma once

#include <cstddef>

namespace marionette::shim {

/// True if this process has a shared mapping of a simulated file (the hooks
/// below are skipped otherwise: no extra round trip for other programs).
bool shared_maps_active();
/// True if `fd` is a descriptor the mappings own: a file's simulated
/// descriptor, its memfd, its marker socket (the program's close,
/// close_range and dup2 leave them alone, as they leave the connection).
bool shared_map_descriptor(long fd);
/// The lowest descriptor the mappings own in [first, last], or -1.
long shared_maps_descriptor_in(long first, unsigned long last);

/// mmap(MAP_SHARED) of simulated descriptor `fd`: the address or -errno.
long shared_map(long address, std::size_t length, int prot, int flags, long fd, long offset);
/// munmap: writes back what the range's stores changed, unmaps, forgets.
long shared_unmap(long address, std::size_t length);
/// msync: writes back the range's stores; MS_SYNC makes them durable.
long shared_msync(long address, std::size_t length, int flags);
/// mremap of a tracked mapping; `handled` is false if `old_address` is none
/// of them (the caller issues the real call).
long shared_remap(long old_address, std::size_t old_length, std::size_t new_length, int flags, long new_address,
                  bool& handled);
/// Before any of the above replaces part of a tracked mapping (MAP_FIXED).
void shared_maps_release_range(long address, std::size_t length);

/// The mapped file simulated descriptor `fd` names, or -1 (an fstat the
/// first time a descriptor is asked about, remembered after).
int shared_maps_file_of(long fd);
/// Descriptor number `fd` names a newly opened or duplicated file.
void shared_maps_forget_fd(long fd);
/// Writes back the stores in mapped file `file` (all files if -1).
void shared_maps_write_back(int file);
/// After a write through a descriptor: bytes [offset, offset + length) of
/// mapped file `file` are read again into its memfd and snapshot (length
/// -1: everything mapped, after a resize).
void shared_maps_refresh(int file, long offset, long length);

}  // namespace marionette::shim
