#include "launcher/sweep_results.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <tuple>

// The sweep's results are flat JSON objects of strings and integers, the
// subset the trace's JSON Lines reader already reads strictly.
#include "sim/trace_json.hpp"

namespace marionette {
namespace {

std::string hex16(std::uint64_t value) {
    char text[17];
    std::snprintf(text, sizeof text, "%016" PRIx64, value);
    return text;
}

const TraceValue* member(const std::vector<detail::JsonMember>& members, std::string_view key) {
    for (const detail::JsonMember& m : members) {
        if (m.key == key && !m.is_object) return &m.value;
    }
    return nullptr;
}

std::uint64_t number_member(const std::vector<detail::JsonMember>& members, std::string_view key) {
    const TraceValue* value = member(members, key);
    const auto* number = value != nullptr ? std::get_if<std::uint64_t>(value) : nullptr;
    if (number == nullptr) throw std::invalid_argument("'" + std::string(key) + "' is missing or not a whole number");
    return *number;
}

std::string string_member(const std::vector<detail::JsonMember>& members, std::string_view key) {
    const TraceValue* value = member(members, key);
    const auto* text = value != nullptr ? std::get_if<std::string>(value) : nullptr;
    if (text == nullptr) throw std::invalid_argument("'" + std::string(key) + "' is missing or not a string");
    return *text;
}

std::string plural(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string format_result_line(const SweepRun& run) {
    std::string line = "{\"seed\":" + std::to_string(run.seed) + ",\"verdict\":\"" + std::string(verdict_of(run.exit_code)) +
                       "\",\"exit_code\":" + std::to_string(run.exit_code) +
                       ",\"message\":" + detail::json_quote(run.message);
    if (run.virtual_duration_ns) line += ",\"virtual_duration_ns\":" + std::to_string(*run.virtual_duration_ns);
    line += ",\"wall_time_ms\":" + std::to_string(run.wall_time_ms);
    if (run.events) line += ",\"events\":" + std::to_string(*run.events);
    if (run.trace_hash) line += ",\"trace_hash\":\"" + hex16(*run.trace_hash) + "\"";
    return line + ",\"replay\":" + detail::json_quote(run.replay) + "}";
}

SweepRun parse_result_line(std::string_view line) {
    const std::vector<detail::JsonMember> members = detail::parse_json_object(line);
    SweepRun run;
    run.seed = number_member(members, "seed");
    const std::uint64_t code = number_member(members, "exit_code");
    if (code > 255) throw std::invalid_argument("'exit_code' is not an exit code");
    run.exit_code = static_cast<int>(code);
    if (string_member(members, "verdict") != verdict_of(run.exit_code)) {
        throw std::invalid_argument("'verdict' does not match 'exit_code'");
    }
    run.message = string_member(members, "message");
    run.wall_time_ms = number_member(members, "wall_time_ms");
    run.replay = string_member(members, "replay");
    if (member(members, "events") != nullptr) run.events = number_member(members, "events");
    if (member(members, "virtual_duration_ns") != nullptr) {
        run.virtual_duration_ns = number_member(members, "virtual_duration_ns");
    }
    if (member(members, "trace_hash") != nullptr) {
        const std::string text = string_member(members, "trace_hash");
        std::uint64_t hash = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), hash, 16);
        if (text.size() != 16 || error != std::errc{} || end != text.data() + text.size()) {
            throw std::invalid_argument("'trace_hash' is not 16 hex digits");
        }
        run.trace_hash = hash;
    }
    return run;
}

std::FILE* open_results_file(const std::string& path) {
    if (path.empty()) throw std::invalid_argument("--results needs a file name");
    if (path == "-") {
        // Standard output: the sweep writes nothing else there (its report
        // and progress go to stderr, the runs' output to their logs), so
        // GNU parallel or a pod's log can collect the lines.
        const int fd = ::dup(1);
        if (fd < 0) throw std::invalid_argument("--results -: standard output is closed");
        return ::fdopen(fd, "w");
    }
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
        throw std::invalid_argument("--results '" + path + "' is a directory (expected a file to write)");
    }
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, error)) {
        throw std::invalid_argument("--results '" + path + "': no directory '" + parent.string() + "'");
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::invalid_argument("--results '" + path + "': cannot write: " + std::strerror(errno));
    return ::fdopen(fd, "w");
}

std::string format_sweep_report(const std::string& totals, const std::vector<SweepRun>& failures) {
    std::string out = "marionette sweep: " + totals + "\n";
    if (failures.empty()) return out;
    out += "failing seeds, grouped by how they failed (exit 1: the program failed; 3: Marionette failed; 128+n: "
           "killed by signal n):\n";
    // Group by (exit code, message); biggest group first, then by first seed.
    std::map<std::pair<int, std::string>, std::vector<const SweepRun*>> groups;
    for (const SweepRun& run : failures) groups[{run.exit_code, run.message}].push_back(&run);
    std::vector<const std::vector<const SweepRun*>*> order;
    for (const auto& [key, runs] : groups) order.push_back(&runs);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return std::make_tuple(b->size(), a->front()->seed) < std::make_tuple(a->size(), b->front()->seed);
    });
    char line[96];
    for (const auto* runs : order) {
        const SweepRun& first = *runs->front();
        out += " [" + plural(runs->size(), "seed", "seeds") + "] " + std::string(verdict_of(first.exit_code)) + ", exit " +
               std::to_string(first.exit_code) + ": " + (first.message.empty() ? "(no message)" : first.message) + "\n";
        for (const SweepRun* run : *runs) {
            std::snprintf(line, sizeof line, "  seed=%-20" PRIu64 " exit=%-3d", run->seed, run->exit_code);
            out += line;
            if (!run->log_path.empty()) out += " log=" + run->log_path;
            out += "\n    replay: " + run->replay + "\n";
        }
    }
    return out;
}

std::string format_sweep_report(const SweepResult& result) {
    char line[192];
    const double rate = result.wall_seconds > 0 ? static_cast<double>(result.runs) / result.wall_seconds : 0.0;
    std::snprintf(line, sizeof line, "%" PRIu64 " runs, %" PRIu64 " passed, %zu failed in %.1fs (%.1f runs/s)", result.runs,
                  result.runs - result.failures.size(), result.failures.size(), result.wall_seconds, rate);
    return format_sweep_report(line, result.failures);
}

MergedResults merge_results(const std::vector<std::string>& paths, const std::vector<std::uint64_t>* expected) {
    MergedResults merged;
    std::map<std::uint64_t, std::string> seen;  // seed -> where first read
    std::uint64_t wall_ms = 0;
    for (const std::string& path : paths) {
        std::ifstream in(path);
        if (!in || std::filesystem::is_directory(path)) {
            throw std::invalid_argument("cannot read results file '" + path + "'");
        }
        ++merged.files;
        std::string text;
        for (std::size_t number = 1; std::getline(in, text); ++number) {
            if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
            const std::string where = path + ":" + std::to_string(number);
            SweepRun run;
            try {
                run = parse_result_line(text);
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument(where + ": not a results line: " + e.what());
            }
            const auto [it, fresh] = seen.emplace(run.seed, where);
            if (!fresh) {
                merged.duplicates.push_back("seed " + std::to_string(run.seed) + " in " + it->second + " and " + where);
                continue;
            }
            ++merged.result.runs;
            wall_ms += run.wall_time_ms;
            if (run.exit_code != 0) merged.result.failures.push_back(std::move(run));
        }
    }
    std::sort(merged.result.failures.begin(), merged.result.failures.end(),
              [](const SweepRun& a, const SweepRun& b) { return a.seed < b.seed; });
    merged.result.wall_seconds = static_cast<double>(wall_ms) / 1000.0;
    if (expected != nullptr) {
        for (const std::uint64_t seed : *expected) {
            if (seen.count(seed) == 0) merged.missing.push_back(seed);
        }
    }
    return merged;
}

std::string format_merge_report(const MergedResults& merged) {
    const SweepResult& result = merged.result;
    char line[256];
    std::snprintf(line, sizeof line, "%" PRIu64 " runs, %" PRIu64 " passed, %zu failed (merged from %s; %.1fs of run time)",
                  result.runs, result.runs - result.failures.size(), result.failures.size(),
                  plural(merged.files, "results file", "results files").c_str(), result.wall_seconds);
    std::string out = format_sweep_report(line, result.failures);
    if (!merged.duplicates.empty()) {
        out += "marionette sweep: " + plural(merged.duplicates.size(), "duplicate seed", "duplicate seeds") +
               " (a shard given twice, or overlapping ranges):\n";
        for (const std::string& duplicate : merged.duplicates) out += "  " + duplicate + "\n";
    }
    if (!merged.missing.empty()) {
        out += "marionette sweep: " + plural(merged.missing.size(), "seed", "seeds") +
               " of the range missing (a shard not run or not finished):";
        constexpr std::size_t shown = 20;
        for (std::size_t i = 0; i < std::min(shown, merged.missing.size()); ++i) {
            out += " " + std::to_string(merged.missing[i]);
        }
        if (merged.missing.size() > shown) out += " ...";
        out += "\n";
    }
    return out;
}

}  // namespace marionette
