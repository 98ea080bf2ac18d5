#include "launcher/shrink.hpp"
#include "launcher/validate.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <deque>
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
/// How close the bisection of a crash time gets (a crash earlier by less is
/// not worth another run).
constexpr Ns crash_resolution = 100 * ns_per_us;

/// Options of the shrink itself, or that name one run's outputs: a child
/// run gets every other argument unchanged.
constexpr std::string_view dropped_flags[] = {"--shrink", "--summary", "--quiet"};
constexpr std::string_view dropped_with_value[] = {"--shrink-out", "--shrink-budget", "--shrink-jobs", "--scenario",
                                                   "--trace",      "--export-disk",   "--run-report",  "--record-faults"};

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
    /// A time-based crash (`at <t> crash <node>`, or `crash random within`
    /// once its drawn time is known): its node and time, which the search
    /// tries to move earlier.
    std::optional<Ns> crash_at;
    std::string crash_node;
};

/// How one child run ended.
struct ChildRun {
    int code = 3;
    std::string outcome;
    std::vector<Candidate> fired;
    std::vector<std::pair<std::string, Ns>> crash_randoms;  ///< each `crash random within`: node, time drawn
    std::string log_path;
    std::string record_path;
    pid_t pid = -1;
};

std::string format_time(Ns ns) {
    if (ns % ns_per_s == 0) return std::to_string(ns / ns_per_s) + "s";
    if (ns % ns_per_ms == 0) return std::to_string(ns / ns_per_ms) + "ms";
    return fmt::format("{:.6f}s", static_cast<double>(ns) / 1e9);
}

/// A time exactly, in the scenario language (`52746us`, `52746123ns`).
std::string exact_time(Ns ns) {
    if (ns % ns_per_ms == 0) return std::to_string(ns / ns_per_ms) + "ms";
    if (ns % ns_per_us == 0) return std::to_string(ns / ns_per_us) + "us";
    return std::to_string(ns) + "ns";
}

std::string crash_line(Ns at, const std::string& node) {
    return "at " + exact_time(at) + " crash" + (node.empty() ? "" : " " + node);
}

/// Starts the launcher once with `args` (plus --record-faults).
ChildRun start_child(const std::vector<std::string>& args, const std::string& dir, std::size_t index) {
    ChildRun run;
    run.log_path = dir + "/run-" + std::to_string(index) + ".log";
    run.record_path = dir + "/run-" + std::to_string(index) + ".faults";
    std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string(), "--quiet", "--record-faults",
                                     run.record_path};
    argv.insert(argv.end(), args.begin(), args.end());
    run.pid = start_logged(std::move(argv), run.log_path);
    return run;
}

/// Waits for a started child and reads back what it recorded.
void finish_child(ChildRun& run) {
    int status = 0;
    while (::waitpid(run.pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::runtime_error("waitpid failed while shrinking");
    }
    run.code = exit_code_of(status);
    std::ifstream in(run.record_path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("outcome ", 0) == 0) {
            run.outcome = line.substr(8);
            continue;
        }
        if (line.rfind("crash_random ", 0) == 0) {
            std::istringstream words(line.substr(13));
            std::string node;
            Ns at = 0;
            words >> node >> at;
            run.crash_randoms.emplace_back(node, at);
            continue;
        }
        const std::size_t space = line.find(' ');
        if (space == std::string::npos) continue;
        const Ns at = std::stoull(line.substr(0, space));
        run.fired.push_back(Candidate{line.substr(space + 1), "at " + format_time(at), 0, {}, {}});
    }
}

ChildRun run_child(const std::vector<std::string>& args, const std::string& dir, std::size_t index) {
    ChildRun run = start_child(args, dir, index);
    finish_child(run);
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
                          [](const DiskForce& c) { return c.what != "only"; },
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
    bool forced_only = false;       ///< it already holds `net.force only` (a shrunk scenario, shrunk again)
    bool disk_forced_only = false;  ///< it already holds `disk.force only`
    /// Lines written otherwise: `crash random within` as `at <time> crash`,
    /// crash times moved earlier.
    std::map<std::size_t, std::string> replaced;
    std::vector<std::size_t> crash_random_lines;  ///< in order
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
        if (const auto* force = std::get_if<DiskForce>(&step.command); force != nullptr && force->what == "only") {
            out.disk_forced_only = true;
        }
        if (removable(step.command)) {
            Candidate candidate{out.lines.at(step.line - 1), "line " + std::to_string(step.line), step.line, {}, {}};
            if (const auto* at = std::get_if<At>(&step.command)) {
                if (const auto* crash = std::get_if<Crash>(&at->action)) {
                    candidate.crash_at = at->at_ns;
                    candidate.crash_node = crash->node;
                }
            }
            if (std::holds_alternative<CrashRandom>(step.command)) out.crash_random_lines.push_back(step.line);
            out.candidates.push_back(std::move(candidate));
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
    if (!original.disk_forced_only) out += "disk.force only\n";
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
        const auto replaced = original.replaced.find(n);
        out += (replaced != original.replaced.end() ? replaced->second : original.lines[n - 1]) + "\n";
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

std::vector<std::size_t> delta_debug(
    std::size_t count, const std::function<std::optional<bool>(const std::vector<std::size_t>&)>& fails,
    const std::function<void(const std::vector<std::vector<std::size_t>>&)>& plan) {
    std::vector<std::size_t> current(count);
    std::iota(current.begin(), current.end(), std::size_t{0});
    if (count == 0) return current;
    if (plan) plan({{}});
    const std::optional<bool> without_any = fails({});
    if (!without_any) return current;
    if (*without_any) return {};
    std::size_t parts = 2;
    while (current.size() >= 2) {
        const std::vector<std::vector<std::size_t>> chunks = split(current, std::min(parts, current.size()));
        if (plan) {  // this round's tests, in order: each chunk, then (for more than 2) each complement
            std::vector<std::vector<std::size_t>> upcoming = chunks;
            for (std::size_t i = 0; chunks.size() > 2 && i < chunks.size(); ++i) {
                std::vector<std::size_t> complement;
                std::set_difference(current.begin(), current.end(), chunks[i].begin(), chunks[i].end(),
                                    std::back_inserter(complement));
                upcoming.push_back(std::move(complement));
            }
            plan(upcoming);
        }
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

Lookahead::Lookahead(std::size_t jobs, std::uint64_t budget, std::uint64_t runs_so_far, Runner runner)
    : jobs_(std::max<std::size_t>(jobs, 1)), budget_(budget), runs_(runs_so_far), runner_(std::move(runner)) {}

std::optional<bool> Lookahead::test(const std::string& key) {
    if (const auto it = done_.find(key); it != done_.end()) return it->second;
    if (runs_ >= budget_) {
        ran_out_ = true;
        return std::nullopt;
    }
    if (!prefetched_.contains(key)) {
        // This one, then the planned tests after it, as many as may still be
        // consumed within the budget.
        std::vector<std::string> batch{key};
        const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(jobs_, budget_ - runs_));
        auto next = std::find(upcoming_.begin(), upcoming_.end(), key);
        next = next == upcoming_.end() ? upcoming_.begin() : next + 1;
        for (; next != upcoming_.end() && batch.size() < room; ++next) {
            if (done_.contains(*next) || prefetched_.contains(*next)) continue;
            if (std::find(batch.begin(), batch.end(), *next) == batch.end()) batch.push_back(*next);
        }
        const std::vector<bool> results = runner_(batch);
        started_ += batch.size();
        for (std::size_t i = 0; i < batch.size(); ++i) prefetched_[batch[i]] = results.at(i);
    }
    const auto it = prefetched_.find(key);
    const bool result = it->second;
    prefetched_.erase(it);
    done_.emplace(key, result);
    ++runs_;
    return result;
}

std::uint64_t bisect_earliest(std::uint64_t lo, std::uint64_t hi, std::uint64_t resolution,
                              const std::function<std::optional<bool>(std::uint64_t)>& fails,
                              const std::function<void(const std::vector<std::uint64_t>&)>& plan, std::size_t lookahead) {
    resolution = std::max<std::uint64_t>(resolution, 1);
    auto middle = [&](std::uint64_t a, std::uint64_t b) {
        const std::uint64_t exact = a + (b - a) / 2;
        const std::uint64_t rounded = exact / resolution * resolution;  // round numbers read better
        return rounded > a ? rounded : exact;
    };
    while (hi - lo > resolution) {
        if (plan) {  // the next levels of the bisection, breadth first
            std::vector<std::uint64_t> upcoming;
            std::deque<std::pair<std::uint64_t, std::uint64_t>> intervals{{lo, hi}};
            while (!intervals.empty() && upcoming.size() < lookahead) {
                const auto [a, b] = intervals.front();
                intervals.pop_front();
                if (b - a <= resolution) continue;
                const std::uint64_t m = middle(a, b);
                upcoming.push_back(m);
                intervals.emplace_back(a, m);
                intervals.emplace_back(m, b);
            }
            plan(upcoming);
        }
        const std::uint64_t m = middle(lo, hi);
        const std::optional<bool> result = fails(m);
        if (!result) break;
        (*result ? hi : lo) = m;
    }
    return hi;
}

void check_shrink_options(const ShrinkCommand& command, const RunCommandOptions& run, bool sweep) {
    if (!command.shrink) {
        if (!command.out_path.empty()) throw std::invalid_argument("--shrink-out goes with --shrink");
        if (!command.budget_text.empty()) throw std::invalid_argument("--shrink-budget goes with --shrink");
        if (!command.jobs_text.empty()) throw std::invalid_argument("--shrink-jobs goes with --shrink");
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
    if (!command.jobs_text.empty()) {
        const std::string& text = command.jobs_text;
        if (text.size() > 4 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoull(text) < 1) {
            throw std::invalid_argument("invalid --shrink-jobs '" + text + "' (expected a number of runs at a time, 1 to 9999)");
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
    const std::size_t jobs = command.jobs_text.empty() ? 1 : std::stoul(command.jobs_text);
    const std::string out_path =
        command.out_path.empty() ? "marionette-shrink-" + std::to_string(seed) + ".scenario" : command.out_path;
    const std::string client =
        !run.client_node.empty() ? run.client_node : run.nodes.back().substr(0, run.nodes.back().find('='));
    Original original = read_original(run.scenario_path);
    const std::vector<std::string> base = kept_arguments(argc, argv);
    char pattern[] = "/tmp/marionette-shrink.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("cannot create the shrink's work directory");
    const std::string dir = pattern;
    // The work directory goes when the shrink ends well; when it does not,
    // the messages name the logs in it.
    auto remove_dir = [&] {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    };
    const auto started = std::chrono::steady_clock::now();

    // 1. The run as given, recording the faults that fired.
    std::vector<std::string> first_args = base;
    if (!run.scenario_path.empty()) first_args.insert(first_args.begin(), {"--scenario", run.scenario_path});
    std::size_t processes = 0;  // child launchers started (names their files)
    const ChildRun first = run_child(first_args, dir, processes++);
    if (first.code == 0) {
        fmt::print(stderr, "marionette shrink: nothing to shrink: the run passes (seed {})\n", seed);
        remove_dir();
        return 0;
    }
    if (first.code != 1 || first.outcome.empty()) {
        fmt::print(stderr, "marionette shrink: the run did not fail as a program or scenario fails (exit {}); "
                           "its output is in {}\n", first.code, first.log_path);
        return first.code == 2 ? 2 : 3;
    }
    // A `crash random within` becomes `at <the time it drew> crash <node>`:
    // the same crash, and no longer a draw that removing another line shifts.
    for (std::size_t i = 0; i < original.crash_random_lines.size() && i < first.crash_randoms.size(); ++i) {
        const std::size_t line = original.crash_random_lines[i];
        const auto& [node, at] = first.crash_randoms[i];
        original.replaced[line] = crash_line(at, node);
        for (Candidate& candidate : original.candidates) {
            if (candidate.scenario_line != line) continue;
            candidate.crash_at = at;
            candidate.crash_node = node;
        }
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
    auto header_of = [&](std::size_t kept) {
        return fmt::format("# Written by marionette-launch --shrink (docs/shrinking.md): seed {}, {} fault{} kept of {}.\n"
                           "# It replaces the run's --scenario; replay: {}\n",
                           seed, kept, kept == 1 ? "" : "s", candidates.size(), replay);
    };
    auto text_of = [&](const std::vector<std::size_t>& kept) {
        return scenario_text(candidates, kept, original, client, header_of(kept.size()));
    };

    // Candidate runs, `jobs` at a time (Lookahead): what each ended as, by
    // scenario text, for the progress line printed when the search takes it.
    std::map<std::string, std::string> ended;
    Lookahead lookahead(jobs, budget, 1, [&](const std::vector<std::string>& texts) {
        std::vector<ChildRun> children;
        for (const std::string& text : texts) {
            const std::string path = dir + "/candidate-" + std::to_string(processes) + ".scenario";
            std::ofstream(path) << text;
            std::vector<std::string> args = base;
            args.insert(args.begin(), {"--scenario", path});
            children.push_back(start_child(args, dir, processes++));
        }
        std::vector<bool> same;
        for (std::size_t i = 0; i < children.size(); ++i) {
            ChildRun& child = children[i];
            finish_child(child);
            same.push_back(child.code == 1 && child.outcome == expected);
            ended[texts[i]] = same.back()      ? "fails the same way"
                              : child.code == 0 ? "passes"
                                                : "fails differently (exit " + std::to_string(child.code) + ", " +
                                                      (child.outcome.empty() ? "no outcome" : child.outcome) +
                                                      "; its output: " + child.log_path + ")";
        }
        return same;
    });
    std::size_t best_size = candidates.size();
    auto test_text = [&](const std::string& text, const std::string& what, std::optional<std::size_t> size) {
        const bool fresh = !lookahead.consumed(text);
        const std::optional<bool> result = lookahead.test(text);
        if (result && fresh) {
            if (*result && size) best_size = std::min(best_size, *size);
            fmt::print(stderr, "marionette shrink: run {}/{}: {}: {}; smallest failing set so far: {}\n", lookahead.runs(),
                       budget, what, ended[text], best_size);
        }
        return result;
    };
    auto test = [&](const std::vector<std::size_t>& kept) {
        return test_text(text_of(kept), fmt::format("{} fault{}", kept.size(), kept.size() == 1 ? "" : "s"), kept.size());
    };
    auto plan = [&](const std::vector<std::vector<std::size_t>>& upcoming) {
        std::vector<std::string> texts;
        for (const std::vector<std::size_t>& kept : upcoming) texts.push_back(text_of(kept));
        lookahead.plan(std::move(texts));
    };
    std::vector<std::size_t> all(candidates.size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    const std::optional<bool> full = test(all);
    if (!full || !*full) {
        fmt::print(stderr,
                   "marionette shrink: the recorded faults, forced, do not end the run as it ended ({} instead of "
                   "exit 1, {}): a bug in Marionette, please report it with the command\n",
                   full ? ended[text_of(all)] : "the budget allowed no run", expected);
        return 3;
    }
    const std::vector<std::size_t> kept = delta_debug(candidates.size(), test, plan);
    const bool minimal = !lookahead.ran_out();

    // 3. Each kept time-based crash, moved as early as it still fails the
    // same way (bisection to crash_resolution, within the budget).
    std::vector<std::string> moved;
    for (std::size_t i : kept) {
        Candidate& crash = candidates[i];
        if (!crash.crash_at || *crash.crash_at <= crash_resolution) continue;
        const Ns was = *crash.crash_at;
        auto text_at = [&](Ns at) {
            Original moved_original = original;
            moved_original.replaced[crash.scenario_line] = crash_line(at, crash.crash_node);
            return scenario_text(candidates, kept, moved_original, client, header_of(kept.size()));
        };
        const Ns earliest = bisect_earliest(
            0, was, crash_resolution,
            [&](Ns at) { return test_text(text_at(at), "crash " + crash.crash_node + " at " + exact_time(at), std::nullopt); },
            [&](const std::vector<Ns>& times) {
                std::vector<std::string> texts;
                for (Ns at : times) texts.push_back(text_at(at));
                lookahead.plan(std::move(texts));
            },
            jobs);
        if (earliest < was) {
            crash.crash_at = earliest;
            original.replaced[crash.scenario_line] = crash_line(earliest, crash.crash_node);
            moved.push_back(fmt::format("{} from {} to {}", crash.crash_node.empty() ? "the crash" : crash.crash_node,
                                        exact_time(was), exact_time(earliest)));
        }
    }

    const std::string best_text = text_of(kept);
    {
        std::ofstream out(out_path);
        out << best_text;
        if (!out) throw std::runtime_error("cannot write --shrink-out '" + out_path + "'");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print(stderr, "shrink: faults={} -> {}{}\n", candidates.size(), kept.size(),
               !minimal ? " (the budget of " + std::to_string(budget) + " runs ran out: maybe not minimal)"
                        : " (1-minimal: removing any one of them, the failure goes away or changes)");
    for (const std::string& line : moved) fmt::print(stderr, "shrink: crash moved earlier: {}\n", line);
    std::istringstream lines(best_text);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.front() != '#') fmt::print(stderr, "  {}\n", line);
    }
    fmt::print(stderr, "marionette shrink: {} runs in {:.1f}s ({} launched, {} at a time); the failure: {}\n",
               lookahead.runs(), seconds, processes, jobs, first.outcome);
    fmt::print(stderr, "marionette shrink: scenario written to {}\n", out_path);
    fmt::print(stderr, "marionette shrink: replay with: {}\n", replay);
    remove_dir();
    return 1;
}

}  // namespace marionette
