#include "launcher/sweep.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "launcher/run_report.hpp"
#include "sim/seed.hpp"

namespace marionette {
namespace {

constexpr std::uint64_t max_range_seeds = 10'000'000;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Starts one run with its output in `log_path` and its end report in
/// `report_path`; returns the child's pid.
pid_t start_run(const SweepOptions& options, std::uint64_t seed, const std::string& log_path,
                const std::string& report_path) {
    std::vector<std::string> argv = options.run_argv;
    argv.insert(argv.begin() + 1, {"--seed", std::to_string(seed), "--run-report", report_path});
    return start_logged(std::move(argv), log_path);
}

/// The run's first line of Marionette's own (`marionette: ...` or
/// `marionette-launch: ...`), without the prefix: with --quiet a run prints
/// only why it failed, so that line says how. Summary lines are skipped.
std::string first_diagnostic(const std::string& log_path) {
    std::ifstream log(log_path);
    std::string line;
    while (std::getline(log, line)) {
        for (const std::string_view prefix : {"marionette: ", "marionette-launch: "}) {
            if (line.rfind(prefix, 0) != 0) continue;
            const std::string text = line.substr(prefix.size());
            if (text.rfind("seed=", 0) == 0 || text.rfind("replay with", 0) == 0) continue;
            return text.size() > 200 ? text.substr(0, 200) + "..." : text;
        }
    }
    return {};
}

/// Everything the sweep knows of a finished run.
void complete_run(const SweepOptions& options, SweepRun& run, int status, const std::string& report_path,
                  std::chrono::steady_clock::time_point started) {
    run.exit_code = exit_code_of(status);
    run.wall_time_ms = static_cast<std::uint64_t>(seconds_since(started) * 1000.0);
    if (run.exit_code != 0) run.message = first_diagnostic(run.log_path);
    if (const std::optional<RunReport> report = read_run_report(report_path)) {
        run.events = report->events;
        run.trace_hash = report->trace_hash;
        run.virtual_duration_ns = report->virtual_duration_ns;
    }
    std::filesystem::remove(report_path);
    run.replay = replay_command(options, run.seed);
}

void show_progress(std::FILE* out, bool live, std::uint64_t done, std::uint64_t total, std::size_t failed,
                   double seconds, std::uint64_t& last_decile) {
    if (out == nullptr) return;
    const std::string line = format_sweep_progress(done, total, failed, seconds);
    if (live) {
        std::fprintf(out, "\r%s   ", line.c_str());
        if (done == total) std::fputc('\n', out);
        std::fflush(out);
        return;
    }
    const std::uint64_t decile = total == 0 ? 10 : done * 10 / total;
    if (decile != last_decile || done == total) {
        last_decile = decile;
        std::fprintf(out, "%s\n", line.c_str());
        std::fflush(out);
    }
}

std::string format_eta(double seconds) {
    const auto total = static_cast<std::uint64_t>(std::ceil(seconds));
    char text[64];
    if (total < 60) {
        std::snprintf(text, sizeof text, "%llus", static_cast<unsigned long long>(total));
    } else if (total < 3600) {
        std::snprintf(text, sizeof text, "%llum%02llus", static_cast<unsigned long long>(total / 60),
                      static_cast<unsigned long long>(total % 60));
    } else {
        std::snprintf(text, sizeof text, "%lluh%02llum", static_cast<unsigned long long>(total / 3600),
                      static_cast<unsigned long long>(total / 60 % 60));
    }
    return text;
}

}  // namespace

std::string format_sweep_progress(std::uint64_t done, std::uint64_t total, std::size_t failed, double seconds) {
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    char line[160];
    std::snprintf(line, sizeof line, "marionette sweep: %llu/%llu runs, %zu failed, %.1f runs/s",
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), failed, rate);
    std::string out = line;
    if (done == total) return out + ", done";
    if (rate > 0) return out + ", ETA " + format_eta(static_cast<double>(total - done) / rate);
    return out + ", ETA ?";
}

SweepProgress parse_sweep_progress(std::string_view text) {
    if (text == "auto") return SweepProgress::automatic;
    if (text == "live") return SweepProgress::live;
    if (text == "lines") return SweepProgress::lines;
    if (text == "off") return SweepProgress::off;
    throw std::invalid_argument("invalid --progress '" + std::string(text) + "' (expected auto, live, lines or off)");
}

std::string_view verdict_of(int exit_code) {
    switch (exit_code) {
        case 0: return "pass";
        case 1: return "fail";
        case 2: return "usage";
        default: return exit_code >= 128 ? "killed" : "error";
    }
}

std::string replay_command(const SweepOptions& options, std::uint64_t seed) {
    std::vector<std::string> argv = options.run_argv;
    argv[0] = options.display_launcher;
    argv.insert(argv.begin() + 1, {"--seed", std::to_string(seed)});
    return options.display_prefix + shell_join(argv);
}

pid_t start_logged(std::vector<std::string> argv, const std::string& log_path) {
    std::vector<char*> c_argv;
    for (std::string& arg : argv) c_argv.push_back(arg.data());
    c_argv.push_back(nullptr);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) throw std::runtime_error("cannot create the run's log '" + log_path + "'");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed while starting a run of '" + argv.front() + "'");
    if (pid == 0) {
        const int null_in = ::open("/dev/null", O_RDONLY);
        ::dup2(null_in, 0);
        ::dup2(log, 1);
        ::dup2(log, 2);
        ::execv(c_argv[0], c_argv.data());
        ::_exit(127);
    }
    ::close(log);
    return pid;
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 3;
}

std::uint64_t sweep_seed(std::uint64_t base, std::uint64_t i) { return base ^ 0x9E3779B97F4A7C15ULL ^ i; }

std::vector<std::uint64_t> parse_seed_range(std::string_view text) {
    const std::size_t dots = text.find("..");
    if (dots == std::string_view::npos) {
        throw std::invalid_argument("invalid seed range '" + std::string(text) + "' (expected A..B, e.g. 1..200)");
    }
    const std::uint64_t first = parse_seed(text.substr(0, dots));
    const std::uint64_t last = parse_seed(text.substr(dots + 2));
    if (last < first) throw std::invalid_argument("invalid seed range '" + std::string(text) + "': end before start");
    if (last - first >= max_range_seeds) {
        throw std::invalid_argument("invalid seed range '" + std::string(text) + "': more than 10000000 seeds");
    }
    std::vector<std::uint64_t> seeds;
    for (std::uint64_t s = first;; ++s) {
        seeds.push_back(s);
        if (s == last) break;
    }
    return seeds;
}

std::string shell_join(const std::vector<std::string>& argv) {
    std::string out;
    for (const std::string& arg : argv) {
        if (!out.empty()) out += ' ';
        const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                 "0123456789-_./=:,+@%") == std::string::npos;
        if (plain) {
            out += arg;
            continue;
        }
        out += '\'';
        for (char c : arg) {
            if (c == '\'') {
                out += "'\\''";
            } else {
                out += c;
            }
        }
        out += '\'';
    }
    return out;
}

int SweepResult::exit_code() const {
    int code = 0;
    for (const SweepRun& run : failures) {
        if (run.exit_code == 3 || run.exit_code >= 128) return 3;
        if (run.exit_code == 2) code = 2;
        if (code == 0) code = 1;
    }
    return code;
}

SweepResult run_sweep(const SweepOptions& options, std::FILE* progress) {
    if (options.run_argv.empty()) throw std::invalid_argument("sweep: no command to run");
    std::filesystem::create_directories(options.log_dir);
    const auto start = std::chrono::steady_clock::now();
    if (options.progress == SweepProgress::off) progress = nullptr;
    const bool live = progress != nullptr && (options.progress == SweepProgress::live ||
                                              (options.progress == SweepProgress::automatic && ::isatty(::fileno(progress))));
    const unsigned jobs = options.jobs == 0 ? 1 : options.jobs;
    struct Running {
        std::size_t position;  // in options.seeds
        SweepRun run;
        std::string report_path;
        std::chrono::steady_clock::time_point started;
    };
    SweepResult result;
    std::map<pid_t, Running> running;
    std::map<std::size_t, SweepRun> finished;  // by position, until the ones before them are reported
    std::map<std::uint64_t, SweepRun> failed;  // ordered by seed for the report
    std::size_t next = 0, reported = 0;
    std::uint64_t done = 0, last_decile = 0;
    while (next < options.seeds.size() || !running.empty()) {
        while (next < options.seeds.size() && running.size() < jobs) {
            const std::uint64_t seed = options.seeds[next];
            const std::string log = options.log_dir + "/seed-" + std::to_string(seed) + ".log";
            const std::string report = options.log_dir + "/seed-" + std::to_string(seed) + ".report";
            SweepRun run;
            run.seed = seed;
            run.log_path = log;
            const auto started = std::chrono::steady_clock::now();
            running.emplace(start_run(options, seed, log, report), Running{next, std::move(run), report, started});
            ++next;
        }
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("waitpid failed during the sweep");
        }
        auto it = running.find(pid);
        if (it == running.end()) continue;  // not one of ours
        Running ended = std::move(it->second);
        running.erase(it);
        complete_run(options, ended.run, status, ended.report_path, ended.started);
        if (ended.run.exit_code != 0) failed.emplace(ended.run.seed, ended.run);
        finished.emplace(ended.position, std::move(ended.run));
        for (auto first = finished.begin(); first != finished.end() && first->first == reported;
             first = finished.erase(first), ++reported) {
            if (options.on_result) options.on_result(first->second);
        }
        ++done;
        show_progress(progress, live, done, options.seeds.size(), failed.size(), seconds_since(start), last_decile);
    }
    result.runs = done;
    for (auto& [seed, run] : failed) result.failures.push_back(run);
    result.wall_seconds = seconds_since(start);
    return result;
}

}  // namespace marionette
