// The run API's non-template half: running a case twice, comparing traces,
// and reporting failures (see include/marionette/run.hpp).
#include "marionette/run.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "sim/seed.hpp"

namespace marionette {

std::string_view to_string(FailureKind kind) {
    switch (kind) {
        case FailureKind::scenario_error: return "scenario_error";
        case FailureKind::check_failed: return "check_failed";
        case FailureKind::determinism_mismatch: return "determinism_mismatch";
    }
    return "unknown";
}

std::string Failure::summary() const {
    std::string line = "marionette failure: kind=" + std::string(to_string(kind)) + " seed=" + std::to_string(seed) +
                       " name=" + escape_value(name) + " first_events=" + std::to_string(first_events) +
                       " second_events=" + std::to_string(second_events);
    if (first_difference) line += " first_difference=" + std::to_string(*first_difference);
    if (!error.empty()) line += " error=" + escape_value(error);
    if (!check.empty()) line += " check=" + escape_value(check);
    return line;
}

std::string Failure::replay_hint() const {
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    const std::string program = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "<test binary>";
    return "marionette replay: MARIONETTE_SEED=" + std::to_string(seed) + " " + program +
           " <this test>   (add MARIONETTE_TRACE_OUT=<file> to keep the trace)";
}

std::string RunReport::trace_text() const {
    std::string text;
    for (const TraceEvent& event : events) text += render_event(event, TraceFormat::text) + "\n";
    return text;
}

namespace detail {

bool CaseRun::scenario_step(const std::function<void()>& body) {
    try {
        body();
        return true;
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown exception";
    }
    kind = FailureKind::scenario_error;
    world_->recorder().record("run.scenario_error", {{"error", error}});
    return false;
}

bool CaseRun::check_step(const std::string& name, const std::function<void()>& body) {
    try {
        body();
        world_->recorder().record("run.check", {{"name", name}, {"passed", true}});
        return true;
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown exception";
    }
    kind = FailureKind::check_failed;
    check = name;
    world_->recorder().record("run.check", {{"name", name}, {"passed", false}, {"error", error}});
    return false;
}

namespace {

struct OneRun {
    std::optional<FailureKind> kind;
    std::string error;
    std::string check;
    std::vector<TraceEvent> events;
    std::uint64_t hash = trace_hash_seed;
};

OneRun run_once(std::uint64_t seed, const WorldOptions& options, const CaseBody& body) {
    OneRun out;
    World world(seed, options);
    CaseRun run(world);
    body(world, run);
    out.kind = run.kind;
    out.error = run.error;
    out.check = run.check;
    out.events = world.trace().events();
    out.hash = world.trace().hash();
    return out;
}

std::optional<std::uint64_t> first_difference(const std::vector<TraceEvent>& a, const std::vector<TraceEvent>& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (render_event(a[i], TraceFormat::text) != render_event(b[i], TraceFormat::text)) return i;
    }
    if (a.size() != b.size()) return n;
    return std::nullopt;
}

void write_trace_out(const RunReport& report) {
    const char* path = std::getenv("MARIONETTE_TRACE_OUT");
    if (path == nullptr || *path == '\0') return;
    std::ofstream out(path);
    TraceHeader header;
    header.seed = report.seed;
    header.options = {{"api", "embedded"}, {"name", report.name}};
    out << render_header(header) << "\n" << report.trace_text();
}

}  // namespace

RunReport run_twice(std::uint64_t seed, const std::string& name, const WorldOptions& options, const CaseBody& body) {
    OneRun first = run_once(seed, options, body);
    OneRun second = run_once(seed, options, body);
    RunReport report;
    report.seed = seed;
    report.name = name;
    report.trace_hash = first.hash;
    Failure failure;
    failure.seed = seed;
    failure.name = name;
    failure.first_events = first.events.size();
    failure.second_events = second.events.size();
    if (first.hash != second.hash || first.events.size() != second.events.size()) {
        failure.kind = FailureKind::determinism_mismatch;
        failure.first_difference = first_difference(first.events, second.events);
        report.failure = failure;
    } else if (first.kind) {
        failure.kind = *first.kind;
        failure.error = first.error;
        failure.check = first.check;
        report.failure = failure;
    }
    report.events = std::move(first.events);
    write_trace_out(report);
    return report;
}

std::uint64_t fuzz_seed(std::uint64_t base, std::uint64_t iteration) {
    return base ^ 0x9E3779B97F4A7C15ULL ^ iteration;
}

std::optional<std::uint64_t> seed_override() {
    const char* text = std::getenv("MARIONETTE_SEED");
    if (text == nullptr || *text == '\0') return std::nullopt;
    return parse_seed(text);
}

void print_failure(const RunReport& report) {
    if (!report.failure) return;
    std::fprintf(stderr, "%s\n%s\n", report.failure->summary().c_str(), report.failure->replay_hint().c_str());
    const std::size_t tail = 12;
    const std::size_t begin = report.events.size() > tail ? report.events.size() - tail : 0;
    std::fprintf(stderr, "last %zu trace events:\n", report.events.size() - begin);
    for (std::size_t i = begin; i < report.events.size(); ++i) {
        std::fprintf(stderr, "  %s\n", render_event(report.events[i], TraceFormat::text).c_str());
    }
}

void throw_failure(const std::string& prefix, RunReport report) {
    std::string message = prefix;
    if (report.failure) message += "\n" + report.failure->summary() + "\n" + report.failure->replay_hint();
    throw ExpectationFailed(message, std::move(report));
}

void expect_failed_run(RunReport& report) {
    if (report.passed()) {
        throw_failure("expected the case to fail, but it passed: seed=" + std::to_string(report.seed) +
                          " name=" + report.name,
                      std::move(report));
    }
    if (report.failure->kind == FailureKind::determinism_mismatch) {
        print_failure(report);
        throw_failure("expected a scenario or check failure, got a determinism mismatch", std::move(report));
    }
}

}  // namespace detail

}  // namespace marionette
