// Forced disk faults: the random fault decisions of one run, replayed one by
// one (docs/shrinking.md), like the network's (sim/net/forced.cpp). A
// recording run lists every random disk fault that fired (an I/O fault by
// its kind and roll number, a crash decision by the power loss and the
// change's place in it); under force_only() every I/O fault is still rolled,
// so the disk's I/O stream advances as in the recording, but a fault fires
// only where forced, and a power loss loses or tears exactly the forced
// changes. Forcing every recorded fault therefore replays the recording.
#include <algorithm>
#include <stdexcept>

#include "sim/disk/disk.hpp"

namespace marionette {

const std::vector<std::string_view>& disk_forced_fault_kinds() {
    static const std::vector<std::string_view> kinds = {"read_error",        "short_read",          "corrupt_read",
                                                        "write_error",       "short_write",         "misdirected_write",
                                                        "latent_sector_error", "fsync_error"};
    return kinds;
}

void Disk::force_only() {
    forced_only_ = true;
    trace_.emit("disk.force", {{"what", "only"}});
}

void Disk::force_fault(std::string_view kind, std::uint64_t roll) {
    const auto& kinds = disk_forced_fault_kinds();
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
        throw std::invalid_argument("disk.force: unknown fault '" + std::string(kind) + "'");
    }
    if (roll == 0) throw std::invalid_argument("disk.force: rolls count from 1");
    forced_faults_[std::string(kind)].insert(roll);
}

void Disk::force_crash(std::uint64_t crash, std::uint64_t position, std::string mask) {
    if (crash == 0 || position == 0) throw std::invalid_argument("disk.force: power losses and changes count from 1");
    if (!std::all_of(mask.begin(), mask.end(), [](char c) { return c == '0' || c == '1'; })) {
        throw std::invalid_argument("disk.force torn: the sector mask is 0s and 1s, got '" + mask + "'");
    }
    forced_crash_[{crash, position}] = std::move(mask);
}

void Disk::fired(std::string what, std::string args) {
    if (!forced_only_) fired_.push_back(DiskFiredFault{clock_.now_ns(), std::move(what), std::move(args)});
}

}  // namespace marionette
