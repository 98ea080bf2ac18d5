#include "launcher/shrink.hpp"
#include "launcher/validate.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "control/command.hpp"
#include "control/overloaded.hpp"
#include "control/scenario.hpp"
#include "launcher/replay.hpp"
#include "launcher/sweep.hpp"
#include "sim/seed.hpp"
#include "sim/time.hpp"

namespace marionette {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t default_budget = 200;

/// Options of the shrink itself, or that name one run's outputs: a child
/// run gets every other argument unchanged.
constexpr std::string_view dropped_flags[] = {"--shrink", "--summary", "--quiet"};
constexpr std::string_view dropped_with_value[] = {"--shrink-out",  "--shrink-budget", "--scenario",     "--trace",
                                                   "--export-disk", "--run-report",    "--record-faults"};

/// argv[1..] without the dropped options (up to `--`).
std::vector<std::string> kept_arguments(int argc, char** argv) {
    std::vector<std::string> out;
    bool after_dashes = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (!after_dashes) {
            if (arg == "--") after_dashes = true;
            if (std::find(std::begin(dropped_flags), std::end(dropped_flags), arg) != std::end(dropped_flags)) continue;
            if (const std::optional<std::string_view> name = option_named(arg, dropped_with_value)) {
                if (arg == *name) ++i;  // its value is the next argument
                continue;
            }
        }
        out.push_back(arg);
    }
    return out;
}

/// One fault the search may keep or drop: a recorded random fault (a
/// `net.force` line) or a fault line of the original scenario.
struct Candidate {
    std::string line;
    std::string note;               ///< `at 12.5ms`, for the reader
    std::size_t scenario_line = 0;  ///< its line in the original scenario (0: recorded)
};

/// How one child run ended.
struct ChildRun {
    int code = 3;
    std::string outcome;
    std::vector<Candidate> fired;
    std::string log_path;
};

std::string format_time(Ns ns) {
    if (ns % ns_per_s == 0) return std::to_string(ns / ns_per_s) + "s";
    if (ns % ns_per_ms == 0) return std::to_string(ns / ns_per_ms) + "ms";
    return fmt::format("{:.6f}s", static_cast<double>(ns) / 1e9);
}

/// Runs the launcher once with `args` (plus --record-faults) and reads back
/// what it recorded.
ChildRun run_child(const std::vector<std::string>& args, const std::string& dir, std::size_t index) {
    ChildRun run;
    run.log_path = dir + "/run-" + std::to_string(index) + ".log";
    const std::string record = dir + "/run-" + std::to_string(index) + ".faults";
    std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string(), "--quiet", "--record-faults", record};
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = start_logged(std::move(argv), run.log_path);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::runtime_error("waitpid failed while shrinking");
    }
    run.code = exit_code_of(status);
    std::ifstream in(record);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("outcome ", 0) == 0) {
            run.outcome = line.substr(8);
            continue;
        }
        const std::size_t space = line.find(' ');
        if (space == std::string::npos) continue;
        const Ns at = std::stoull(line.substr(0, space));
        run.fired.push_back(Candidate{line.substr(space + 1), "at " + format_time(at), 0});
    }
    return run;
}

/// A scenario line that is a fault the search may remove.
bool removable(const Command& command) {
    auto fault_action = [](const Action& action) {
        return std::holds_alternative<Crash>(action) || std::holds_alternative<Kill>(action) ||
               std::holds_alternative<NetPartition>(action) || std::holds_alternative<NetClog>(action) ||
               (std::holds_alternative<NetFailConnect>(action) && std::get<NetFailConnect>(action).on) ||
               std::holds_alternative<DiskCorruptSector>(action);
    };
    return std::visit(detail::Overloaded{
                          [&](const At& c) { return fault_action(c.action); },
                          [&](const After& c) { return fault_action(c.action); },
                          [](const CrashRandom&) { return true; },
                          [](const NetForce& c) { return c.what != "only"; },
                          [](const ExpectExit&) { return false; },
                          [](const ExpectOutput&) { return false; },
                          [](const Run&) { return false; },
                          [](const Hello&) { return false; },
                          [](const Status&) { return false; },
                          [](const Quit&) { return false; },
                          [](const TraceRead&) { return false; },
                          [&](const auto& action) { return fault_action(Action(action)); },
                      },
                      command);
}

/// The original scenario: its lines as written, and which are candidates.
struct Original {
    std::vector<std::string> lines;
    std::vector<Candidate> candidates;
    bool forced_only = false;  ///< it already holds `net.force only` (a shrunk scenario, shrunk again)
};

Original read_original(const std::string& path) {
    Original out;
    if (path.empty()) return out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.lines.push_back(line);
    const ScenarioParse parsed = read_scenario_file(path);
    if (!parsed.ok()) throw std::invalid_argument(parsed.format_errors());
    for (const ScenarioStep& step : parsed.scenario.steps) {
        if (const auto* force = std::get_if<NetForce>(&step.command); force != nullptr && force->what == "only") {
            out.forced_only = true;
        }
        if (removable(step.command)) {
            out.candidates.push_back(Candidate{out.lines.at(step.line - 1), "line " + std::to_string(step.line), step.line});
        }
    }
    return out;
}

/// The scenario that forces exactly `kept` (indices into `candidates`).
std::string scenario_text(const std::vector<Candidate>& candidates, const std::vector<std::size_t>& kept,
                          const Original& original, const std::string& client, const std::string& header) {
    std::vector<bool> keep(candidates.size(), false);
    for (std::size_t i : kept) keep[i] = true;
    std::string out = header;
    if (!original.forced_only) out += "net.force only\n";
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (keep[i] && candidates[i].scenario_line == 0) out += candidates[i].line + "   # fired " + candidates[i].note + "\n";
    }
    if (original.lines.empty()) {
        // A run without a scenario ends with its client's program, whose
        // exit status is the verdict: the same here, as an expectation.
        out += "run until exit " + client + "\n";
        out += "expect exit " + client + " 0\n";
        return out;
    }
    std::map<std::size_t, bool> scenario_kept;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (candidates[i].scenario_line != 0) scenario_kept[candidates[i].scenario_line] = keep[i];
    }
    for (std::size_t n = 1; n <= original.lines.size(); ++n) {
        const auto it = scenario_kept.find(n);
        if (it != scenario_kept.end() && !it->second) continue;
        out += original.lines[n - 1] + "\n";
    }
    return out;
}

std::vector<std::vector<std::size_t>> split(const std::vector<std::size_t>& items, std::size_t parts) {
    std::vector<std::vector<std::size_t>> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < parts; ++i) {
        const std::size_t end = start + (items.size() - start) / (parts - i);
        out.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(start), items.begin() + static_cast<std::ptrdiff_t>(end));
        start = end;
    }
    return out;
}

}  // namespace

std::vector<std::size_t> delta_debug(std::size_t count,
                                     const std::function<std::optional<bool>(const std::vector<std::size_t>&)>& fails) {
    std::vector<std::size_t> current(count);
    std::iota(current.begin(), current.end(), std::size_t{0});
    if (count == 0) return current;
    const std::optional<bool> without_any = fails({});
    if (!without_any) return current;
    if (*without_any) return {};
    std::size_t parts = 2;
    while (current.size() >= 2) {
        const std::vector<std::vector<std::size_t>> chunks = split(current, std::min(parts, current.size()));
        bool reduced = false;
        for (const std::vector<std::size_t>& chunk : chunks) {  // one chunk alone
            const std::optional<bool> result = fails(chunk);
            if (!result) return current;
            if (*result) {
                current = chunk;
                parts = 2;
                reduced = true;
                break;
            }
        }
        if (!reduced && chunks.size() > 2) {  // everything but one chunk (for 2 chunks, the same tests)
            for (const std::vector<std::size_t>& chunk : chunks) {
                std::vector<std::size_t> complement;
                std::set_difference(current.begin(), current.end(), chunk.begin(), chunk.end(), std::back_inserter(complement));
                const std::optional<bool> result = fails(complement);
                if (!result) return current;
                if (*result) {
                    current = complement;
                    parts = std::max<std::size_t>(parts - 1, 2);
                    reduced = true;
                    break;
                }
            }
        }
        if (!reduced) {
            if (chunks.size() >= current.size()) break;  // every single removal failed: 1-minimal
            parts = std::min(parts * 2, current.size());
        }
    }
    return current;
}

void check_shrink_options(const ShrinkCommand& command, const RunCommandOptions& run, bool sweep) {
    if (!command.shrink) {
        if (!command.out_path.empty()) throw std::invalid_argument("--shrink-out goes with --shrink");
        if (!command.budget_text.empty()) throw std::invalid_argument("--shrink-budget goes with --shrink");
        return;
    }
    if (sweep) {
        throw std::invalid_argument("--shrink works on one failing seed: give it the replay command a sweep printed "
                                    "for that seed, plus --shrink");
    }
    if (run.nodes.empty()) {
        throw std::invalid_argument("--shrink works on cluster runs (--node) for now: it shrinks their network faults "
                                    "and their scenario's fault lines (docs/shrinking.md)");
    }
    if (!run.control_path.empty()) throw std::invalid_argument("--shrink cannot repeat commands sent over --control: use a --scenario");
    if (run.verify) throw std::invalid_argument("--shrink does not go with --verify (every candidate run is replayed as is)");
    if (const std::string point = crash_point_text(run); !point.empty()) {
        throw std::invalid_argument("--shrink does not go with " + point.substr(0, point.find(' ')) +
                                    ": write the crash in a --scenario ('at <time> crash <node>', 'after <n> <event> crash "
                                    "<node>'), whose lines it can shrink");
    }
    if (!command.budget_text.empty()) {
        const std::string& text = command.budget_text;
        if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoull(text) < 2) {
            throw std::invalid_argument("invalid --shrink-budget '" + text + "' (expected a number of runs, at least 2)");
        }
    }
    if (!command.out_path.empty()) {
        const fs::path parent = fs::absolute(command.out_path).parent_path();
        std::error_code error;
        if (!fs::is_directory(parent, error)) {
            throw std::invalid_argument("--shrink-out '" + command.out_path + "': no directory " + parent.string());
        }
        if (fs::is_directory(command.out_path, error)) {
            throw std::invalid_argument("--shrink-out '" + command.out_path + "' is a directory; name the scenario file to write");
        }
    }
}

int run_shrink_command(int argc, char** argv, const ShrinkCommand& command, const RunCommandOptions& run) {
    const std::uint64_t seed = parse_seed(run.seed_text);
    const std::uint64_t budget = command.budget_text.empty() ? default_budget : std::stoull(command.budget_text);
    const std::string out_path =
        command.out_path.empty() ? "marionette-shrink-" + std::to_string(seed) + ".scenario" : command.out_path;
    const std::string client =
        !run.client_node.empty() ? run.client_node : run.nodes.back().substr(0, run.nodes.back().find('='));
    const Original original = read_original(run.scenario_path);
    const std::vector<std::string> base = kept_arguments(argc, argv);
    char pattern[] = "/tmp/marionette-shrink.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("cannot create the shrink's work directory");
    const std::string dir = pattern;
    const auto started = std::chrono::steady_clock::now();

    // 1. The run as given, recording the faults that fired.
    std::vector<std::string> first_args = base;
    if (!run.scenario_path.empty()) first_args.insert(first_args.begin(), {"--scenario", run.scenario_path});
    std::size_t runs = 0;
    const ChildRun first = run_child(first_args, dir, runs++);
    if (first.code == 0) {
        fmt::print(stderr, "marionette shrink: nothing to shrink: the run passes (seed {})\n", seed);
        return 0;
    }
    if (first.code != 1 || first.outcome.empty()) {
        fmt::print(stderr, "marionette shrink: the run did not fail as a program or scenario fails (exit {}); "
                           "its output is in {}\n", first.code, first.log_path);
        return first.code == 2 ? 2 : 3;
    }
    std::vector<Candidate> candidates = first.fired;
    candidates.insert(candidates.end(), original.candidates.begin(), original.candidates.end());
    fmt::print(stderr, "marionette shrink: seed {} fails ({}); {} fault{} to shrink: {} recorded, {} in the scenario\n", seed,
               first.outcome, candidates.size(), candidates.size() == 1 ? "" : "s", first.fired.size(),
               original.candidates.size());

    // 2. Each candidate set as a scenario; the full set must end as the
    // original did (the scenario form of a run without one fails on its
    // `expect exit <client> 0`).
    const std::string expected = original.lines.empty() ? first.outcome + " | failed expect exit " + client + " 0" : first.outcome;
    std::vector<std::string> replay_argv = {argv[0]};
    replay_argv.insert(replay_argv.end(), base.begin(), base.end());
    {
        const auto dashes = std::find(replay_argv.begin(), replay_argv.end(), "--");
        replay_argv.insert(dashes, {"--scenario", fs::absolute(out_path).lexically_normal().string()});
    }
    const std::string replay = replay_command_line(replay_argv, seed);
    std::map<std::vector<std::size_t>, bool> seen;
    std::size_t best_size = candidates.size();
    std::string last_outcome;
    bool ran_out = false;
    auto header_of = [&](std::size_t kept) {
        return fmt::format("# Written by marionette-launch --shrink (docs/shrinking.md): seed {}, {} fault{} kept of {}.\n"
                           "# It replaces the run's --scenario; replay: {}\n",
                           seed, kept, kept == 1 ? "" : "s", candidates.size(), replay);
    };
    auto test = [&](const std::vector<std::size_t>& kept) -> std::optional<bool> {
        if (const auto it = seen.find(kept); it != seen.end()) return it->second;
        if (runs >= budget) {
            ran_out = true;
            return std::nullopt;
        }
        const std::string text = scenario_text(candidates, kept, original, client, header_of(kept.size()));
        const std::string path = dir + "/candidate-" + std::to_string(runs) + ".scenario";
        std::ofstream(path) << text;
        std::vector<std::string> args = base;
        args.insert(args.begin(), {"--scenario", path});
        const ChildRun child = run_child(args, dir, runs++);
        const bool same = child.code == 1 && child.outcome == expected;
        seen.emplace(kept, same);
        last_outcome = "exit " + std::to_string(child.code) + ", " + (child.outcome.empty() ? "no outcome" : child.outcome) +
                       "; its output: " + child.log_path;
        fmt::print(stderr, "marionette shrink: run {}/{}: {} fault{}: {}; smallest failing set so far: {}\n", runs, budget,
                   kept.size(), kept.size() == 1 ? "" : "s",
                   same ? "fails the same way" : child.code == 0 ? "passes" : "fails differently (" + child.outcome + ")",
                   same && kept.size() < best_size ? kept.size() : best_size);
        if (same) best_size = std::min(best_size, kept.size());
        return same;
    };
    std::vector<std::size_t> all(candidates.size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    const std::optional<bool> full = test(all);
    if (!full || !*full) {
        fmt::print(stderr,
                   "marionette shrink: the recorded faults, forced, do not end the run as it ended ({} instead of "
                   "exit 1, {}): a bug in Marionette, please report it with the command\n",
                   full ? last_outcome : "the budget allowed no run", expected);
        return 3;
    }
    const std::vector<std::size_t> kept = delta_debug(candidates.size(), test);
    const std::string best_text = scenario_text(candidates, kept, original, client, header_of(kept.size()));
    {
        std::ofstream out(out_path);
        out << best_text;
        if (!out) throw std::runtime_error("cannot write --shrink-out '" + out_path + "'");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print(stderr, "shrink: faults={} -> {}{}\n", candidates.size(), kept.size(),
               ran_out ? " (the budget of " + std::to_string(budget) + " runs ran out: maybe not minimal)"
                              : " (1-minimal: removing any one of them, the failure goes away or changes)");
    std::istringstream lines(best_text);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.front() != '#') fmt::print(stderr, "  {}\n", line);
    }
    fmt::print(stderr, "marionette shrink: {} runs in {:.1f}s; the failure: {}\n", runs, seconds, first.outcome);
    fmt::print(stderr, "marionette shrink: scenario written to {}\n", out_path);
    fmt::print(stderr, "marionette shrink: replay with: {}\n", replay);
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return 1;
}

}  // namespace marionette
