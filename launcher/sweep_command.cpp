#include "launcher/sweep_command.hpp"

#include "launcher/replay.hpp"

#include <fmt/core.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "launcher/replay.hpp"
#include "launcher/shard.hpp"
#include "launcher/sweep.hpp"
#include "launcher/sweep_results.hpp"
#include "sim/seed.hpp"

namespace marionette {
namespace {

/// The sweep's own options (each takes a value): a run of the sweep gets
/// every other argument of the command line, unchanged.
constexpr std::string_view sweep_only[] = {"--runs",    "--seeds",   "--jobs",     "--seed",      "--shard",
                                           "--shard-count", "--results", "--progress", "--run-report"};

std::vector<std::string> run_argv_of(int argc, char** argv) {
    std::vector<std::string> run_argv{std::filesystem::read_symlink("/proc/self/exe").string(), "--quiet"};
    bool after_dashes = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (!after_dashes) {
            if (arg == "--") after_dashes = true;
            if (const std::optional<std::string_view> name = option_named(arg, sweep_only)) {
                if (arg == *name) ++i;  // its value is the next argument
                continue;
            }
            if (arg == "--trace" || arg == "--export-disk") {
                throw std::invalid_argument(arg + " names one file; it cannot be shared by the runs of a sweep");
            }
        }
        run_argv.push_back(arg);
    }
    return run_argv;
}

std::optional<std::uint64_t> shard_count_of(const SweepCommand& command) {
    if (command.shard_count_text.empty()) return std::nullopt;
    try {
        std::size_t used = 0;
        const unsigned long long count = std::stoull(command.shard_count_text, &used);
        if (used == command.shard_count_text.size() && command.shard_count_text[0] != '-') return count;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("invalid --shard-count '" + command.shard_count_text + "' (expected a number of shards)");
}

Shard shard_of(const SweepCommand& command) {
    if (command.shard_text == "env") {
        return shard_from_env([](const char* name) { return std::getenv(name); }, shard_count_of(command));
    }
    return parse_shard(command.shard_text);
}

std::vector<std::uint64_t> seeds_of(const SweepCommand& command) {
    if (!command.seeds_text.empty()) return parse_seed_range(command.seeds_text);
    std::uint64_t runs = 0;
    try {
        runs = std::stoull(command.runs_text);
    } catch (const std::exception&) {
        throw std::invalid_argument("invalid --runs '" + command.runs_text + "' (expected a number of runs)");
    }
    if (runs == 0 || runs > 10'000'000) throw std::invalid_argument("--runs must be between 1 and 10000000");
    const std::uint64_t base = parse_seed(command.seed_text);
    std::vector<std::uint64_t> seeds;
    for (std::uint64_t i = 0; i < runs; ++i) seeds.push_back(sweep_seed(base, i));
    return seeds;
}

}  // namespace

void check_sweep_options(const SweepCommand& command) {
    if (!command.runs_text.empty() && !command.seeds_text.empty()) {
        throw std::invalid_argument("give either --runs or --seeds, not both");
    }
    if (!command.merge_paths.empty()) {
        if (!command.runs_text.empty() || !command.shard_text.empty() || !command.results_path.empty()) {
            throw std::invalid_argument("--merge-results runs nothing; of the sweep options it takes only --seeds A..B "
                                        "(to check that every seed of the range is there)");
        }
        return;
    }
    if (!command.shard_text.empty() && command.seeds_text.empty()) {
        throw std::invalid_argument("--shard needs --seeds A..B: every shard must cut the same range");
    }
    if (!command.shard_count_text.empty() && command.shard_text != "env") {
        throw std::invalid_argument("--shard-count goes with --shard env (a Kubernetes Indexed Job's number of shards)");
    }
    if (!command.is_sweep() && (!command.results_path.empty() || !command.progress_text.empty())) {
        throw std::invalid_argument(std::string(command.results_path.empty() ? "--progress" : "--results") +
                                    " needs a sweep (--seeds A..B or --runs N)");
    }
    if (!command.shard_text.empty()) shard_of(command);
    if (!command.progress_text.empty()) parse_sweep_progress(command.progress_text);
}

int run_sweep_command(int argc, char** argv, const SweepCommand& command) {
    check_sweep_options(command);
    SweepOptions sweep;
    sweep.seeds = seeds_of(command);
    if (!command.shard_text.empty()) {
        const Shard shard = shard_of(command);
        sweep.seeds = shard_slice(sweep.seeds, shard);
        fmt::print(stderr, "marionette sweep: shard {} of --seeds {}: {}\n", shard.text(), command.seeds_text,
                   sweep.seeds.empty() ? std::string("no seeds (more shards than seeds)")
                                       : fmt::format("{} seed{}, {}..{}", sweep.seeds.size(), sweep.seeds.size() == 1 ? "" : "s",
                                                     sweep.seeds.front(), sweep.seeds.back()));
    }
    if (!command.progress_text.empty()) sweep.progress = parse_sweep_progress(command.progress_text);
    sweep.jobs = command.jobs != 0 ? command.jobs : std::max(1u, std::thread::hardware_concurrency());
    sweep.display_launcher = launcher_for_replay(argv[0]);
    sweep.display_prefix = working_directory_prefix(std::vector<std::string>(argv + 1, argv + argc));
    sweep.run_argv = run_argv_of(argc, argv);
    // The results file is opened before any run, so a bad path costs nothing.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> results(nullptr, std::fclose);
    if (!command.results_path.empty()) {
        results.reset(open_results_file(command.results_path));
        sweep.on_result = [file = results.get()](const SweepRun& run) {
            std::fprintf(file, "%s\n", format_result_line(run).c_str());
            std::fflush(file);
        };
    }
    char pattern[] = "/tmp/marionette-sweep.XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("cannot create the sweep's log directory");
    sweep.log_dir = pattern;
    const SweepResult result = run_sweep(sweep, stderr);
    fmt::print(stderr, "{}", format_sweep_report(result));
    fmt::print(stderr, "marionette sweep: per-seed logs in {}\n", sweep.log_dir);
    fmt::print(stderr, "marionette sweep: replay with: {}\n",
               replay_command_line(std::vector<std::string>(argv, argv + argc), std::nullopt));
    if (results) {
        if (std::ferror(results.get()) != 0) throw std::runtime_error("writing --results '" + command.results_path + "' failed");
        if (command.results_path != "-") fmt::print(stderr, "marionette sweep: results in {}\n", command.results_path);
    }
    return result.exit_code();
}

int run_merge_command(const SweepCommand& command) {
    check_sweep_options(command);
    std::vector<std::uint64_t> expected;
    if (!command.seeds_text.empty()) expected = parse_seed_range(command.seeds_text);
    const MergedResults merged = merge_results(command.merge_paths, command.seeds_text.empty() ? nullptr : &expected);
    fmt::print("{}", format_merge_report(merged));
    if (!merged.duplicates.empty() || !merged.missing.empty()) return 2;
    return merged.result.exit_code();
}

}  // namespace marionette
