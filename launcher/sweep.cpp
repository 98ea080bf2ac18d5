#include "launcher/sweep.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "sim/seed.hpp"

namespace marionette {
namespace {

constexpr std::uint64_t max_range_seeds = 10'000'000;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Starts one run with its output in `log_path`; returns the child's pid.
pid_t start_run(const SweepOptions& options, std::uint64_t seed, const std::string& log_path) {
    std::vector<std::string> argv = options.run_argv;
    argv.insert(argv.begin() + 1, {"--seed", std::to_string(seed)});
    std::vector<char*> c_argv;
    for (std::string& arg : argv) c_argv.push_back(arg.data());
    c_argv.push_back(nullptr);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) throw std::runtime_error("cannot create sweep log '" + log_path + "'");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed while starting a sweep run");
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

void show_progress(std::FILE* out, bool live, std::uint64_t done, std::uint64_t total, std::size_t failed,
                   double seconds, std::uint64_t& last_decile) {
    if (out == nullptr) return;
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    if (live) {
        std::fprintf(out, "\rmarionette sweep: %llu/%llu runs, %zu failed, %.1f runs/s   ",
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), failed, rate);
        if (done == total) std::fputc('\n', out);
        std::fflush(out);
        return;
    }
    const std::uint64_t decile = total == 0 ? 10 : done * 10 / total;
    if (decile != last_decile || done == total) {
        last_decile = decile;
        std::fprintf(out, "marionette sweep: %llu/%llu runs, %zu failed, %.1f runs/s\n",
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), failed, rate);
        std::fflush(out);
    }
}

}  // namespace

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
    const bool live = progress != nullptr && ::isatty(::fileno(progress));
    const unsigned jobs = options.jobs == 0 ? 1 : options.jobs;
    SweepResult result;
    std::map<pid_t, SweepRun> running;
    std::map<std::uint64_t, SweepRun> failed;  // ordered by seed for the report
    std::size_t next = 0;
    std::uint64_t done = 0, last_decile = 0;
    while (next < options.seeds.size() || !running.empty()) {
        while (next < options.seeds.size() && running.size() < jobs) {
            const std::uint64_t seed = options.seeds[next++];
            const std::string log = options.log_dir + "/seed-" + std::to_string(seed) + ".log";
            running.emplace(start_run(options, seed, log), SweepRun{seed, 0, log});
        }
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("waitpid failed during the sweep");
        }
        auto it = running.find(pid);
        if (it == running.end()) continue;  // not one of ours
        SweepRun run = it->second;
        running.erase(it);
        run.exit_code = exit_code_of(status);
        if (run.exit_code != 0) failed.emplace(run.seed, run);
        ++done;
        show_progress(progress, live, done, options.seeds.size(), failed.size(), seconds_since(start), last_decile);
    }
    result.runs = done;
    for (auto& [seed, run] : failed) result.failures.push_back(run);
    result.wall_seconds = seconds_since(start);
    return result;
}

std::string format_sweep_report(const SweepOptions& options, const SweepResult& result) {
    char line[256];
    const double rate = result.wall_seconds > 0 ? static_cast<double>(result.runs) / result.wall_seconds : 0.0;
    std::snprintf(line, sizeof line, "marionette sweep: %llu runs, %llu passed, %zu failed in %.1fs (%.1f runs/s)\n",
                  static_cast<unsigned long long>(result.runs),
                  static_cast<unsigned long long>(result.runs - result.failures.size()), result.failures.size(),
                  result.wall_seconds, rate);
    std::string out = line;
    if (result.failures.empty()) return out;
    out += "failing seeds (exit 1: the program failed; 3: Marionette failed; 128+n: killed by signal n):\n";
    for (const SweepRun& run : result.failures) {
        std::vector<std::string> argv = options.run_argv;
        argv[0] = options.display_launcher;
        argv.insert(argv.begin() + 1, {"--seed", std::to_string(run.seed)});
        std::snprintf(line, sizeof line, "  seed=%-20llu exit=%-3d log=", static_cast<unsigned long long>(run.seed),
                      run.exit_code);
        out += line + run.log_path + "\n    replay: " + options.display_prefix + shell_join(argv) + "\n";
    }
    return out;
}

}  // namespace marionette
