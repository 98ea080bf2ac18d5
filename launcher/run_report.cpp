#include "launcher/run_report.hpp"

#include <cinttypes>
#include <cstdio>

namespace marionette {

void write_run_report(const std::string& path, const Trace& trace) {
    if (path.empty()) return;
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
        std::fprintf(stderr, "marionette: cannot write the run report '%s'\n", path.c_str());
        return;
    }
    std::fprintf(file, "events=%" PRIu64 " trace_hash=%016" PRIx64 " virtual_duration_ns=%" PRIu64 "\n", trace.size(),
                 trace.hash(), static_cast<std::uint64_t>(trace.summary().final_ns));
    std::fclose(file);
}

std::optional<RunReport> read_run_report(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "r");
    if (file == nullptr) return std::nullopt;
    RunReport report;
    const int fields = std::fscanf(file, "events=%" SCNu64 " trace_hash=%" SCNx64 " virtual_duration_ns=%" SCNu64,
                                   &report.events, &report.trace_hash, &report.virtual_duration_ns);
    std::fclose(file);
    if (fields != 3) return std::nullopt;
    return report;
}

}  // namespace marionette
