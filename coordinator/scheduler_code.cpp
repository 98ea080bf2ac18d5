// The `code` message: on hosts where the shim rewrites rdtsc/rdtscp
// (launcher/tsc_probe.hpp), a process asks which candidate bytes of an
// executable mapping are instructions (coordinator/tsc_sites.hpp).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "coordinator/scheduler.hpp"

namespace marionette {

bool Scheduler::on_code(Proc& p, const wire::Header& header, std::vector<std::byte>& payload,
                        [[maybe_unused]] std::vector<int>& fds) {
    wire::CodeRequest request;
    if (payload.size() < sizeof request) return false;
    std::memcpy(&request, payload.data(), sizeof request);
    if (payload.size() != sizeof request + request.path_bytes || request.length > std::uint64_t{1} << 32) return false;
    const std::string path(reinterpret_cast<const char*>(payload.data()) + sizeof request, request.path_bytes);
    const TscSites* sites = tsc_sites_.sites(path);
    if (sites == nullptr) {
        send(p, reply_bytes(header.sequence, -ENOEXEC));
        return true;
    }
    // The shim checks the bytes at each site before rewriting it: a file
    // replaced since it was mapped proves nothing about the memory.
    const std::uint64_t begin = request.file_offset;
    const std::uint64_t end = begin + request.length;
    const auto first = [&](const std::vector<std::uint64_t>& list) { return std::lower_bound(list.begin(), list.end(), begin); };
    const auto last = [&](const std::vector<std::uint64_t>& list) { return std::lower_bound(list.begin(), list.end(), end); };
    const auto unproven = static_cast<std::uint32_t>(last(sites->unproven) - first(sites->unproven));
    std::vector<std::byte> out(sizeof unproven);
    std::memcpy(out.data(), &unproven, sizeof unproven);
    for (auto site = first(sites->proven); site != last(sites->proven); ++site) {
        const auto relative = static_cast<std::uint32_t>(*site - begin);
        const auto* bytes = reinterpret_cast<const std::byte*>(&relative);
        out.insert(out.end(), bytes, bytes + sizeof relative);
    }
    const auto proven = static_cast<long>(out.size() / sizeof unproven - 1);
    send(p, reply_with_output(header.sequence, proven, out));
    return true;
}

}  // namespace marionette
