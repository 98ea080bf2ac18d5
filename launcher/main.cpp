// marionette-launch: runs a program (or the built-in demo) under simulation.
//
// This file owns the command line only; the work lives in the modules it
// calls. Exit codes (docs/cli.md): 0 success, 1 the program under test failed,
// 2 usage error, 3 Marionette itself failed.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <filesystem>
#include <list>
#include <thread>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "control/lexer.hpp"
#include "coordinator/channel_host.hpp"
#include "launcher/audit.hpp"
#include "launcher/demo.hpp"
#include "launcher/program_run.hpp"
#include "launcher/help_names.hpp"
#include "launcher/replay.hpp"
#include "launcher/suggest.hpp"
#include "launcher/validate.hpp"
#include "launcher/cluster.hpp"
#include "launcher/scenario_run.hpp"
#include "launcher/shrink.hpp"
#include "launcher/sweep_command.hpp"
#include "sim/disk/disk_options.hpp"
#include "sim/seed.hpp"
#include "sim/trace.hpp"

namespace {

constexpr int exit_usage = 2;
constexpr int exit_internal = 3;

struct Cli {
    std::string seed_text = "0";
    std::string trace_path;
    std::string trace_format_text = "text";
    bool summary = false;
    bool demo = false;
    std::string check_trace;
    std::string audit;
    marionette::RunCommandOptions run;
    std::vector<std::string> disk_specs;  ///< every --disk, resolved by assign_disks
    std::string argv0;
};

int check_trace_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        fmt::print(stderr, "marionette-launch: cannot open trace '{}'\n", path);
        return exit_usage;
    }
    try {
        const marionette::ParsedTrace trace = marionette::parse_trace(in);
        fmt::print("{}: valid {} trace, seed={}, {} events\n", path, marionette::to_string(trace.header.format),
                   trace.header.seed, trace.events.size());
        fmt::print("{}", trace.summary.format());
        return 0;
    } catch (const marionette::TraceError& e) {
        fmt::print(stderr, "{}: {}\n", path, e.what());
        return 1;
    }
}

int run_demo(const Cli& cli) {
    const std::uint64_t seed = marionette::parse_seed(cli.seed_text);
    marionette::TraceHeader header;
    header.format = marionette::parse_trace_format(cli.trace_format_text);
    header.seed = seed;
    header.options = {{"mode", "demo"}};
    std::unique_ptr<std::ofstream> file;
    std::ostream* out = &std::cout;
    if (!cli.trace_path.empty()) {
        file = std::make_unique<std::ofstream>(cli.trace_path);
        if (!*file) throw std::runtime_error("cannot write trace file '" + cli.trace_path + "'");
        out = file.get();
    }
    marionette::Trace trace(header, out);
    const std::uint64_t replies = marionette::run_demo(seed, marionette::DemoOptions{}, trace);
    out->flush();
    std::ostream& report = cli.trace_path.empty() ? std::cerr : std::cout;
    report << fmt::format("marionette: demo finished seed={} replies={} events={}\n", seed, replies, trace.size());
    if (!cli.trace_path.empty()) report << fmt::format("marionette: trace written to {}\n", cli.trace_path);
    if (cli.summary) report << trace.summary().format();
    report << fmt::format("marionette: replay with: {} --demo --seed {}\n", marionette::launcher_for_replay(cli.argv0), seed);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"marionette-launch: run a program under deterministic simulation"};
    Cli cli;
    cli.argv0 = argv[0];
    app.set_version_flag("--version", "marionette-launch " MARIONETTE_VERSION);
    app.footer("Exit codes: 0 success; 1 the program, its check or a scenario expectation failed (or --verify found a\n"
               "divergence); 2 usage error; 3 Marionette itself failed (a bug: please report it with the seed).\n"
               "Durations take a unit: ns, us, ms, s, m, h (e.g. --wall-timeout 30s).\n\n"
               "Examples:\n"
               "  marionette-launch --seed 7 -- python3 -c 'import random; print(random.random())'\n\n"
               "  marionette-launch --seed 7 --disk data --crash-at 20ms --after-crash 'python3 check.py data/db' -- "
               "python3 workload.py data/db\n\n"
               "  marionette-launch --seeds 1..100 --jobs 2 --node server='./server 7000' --node client='./client server 7000'\n");
    app.add_option("--seed", cli.seed_text, "Seed: decimal, 0x-hex, or a 40-hex-digit git hash")->capture_default_str();
    app.add_option("--trace", cli.trace_path, "Write the trace to FILE (default: standard output for --demo)");
    app.add_option("--trace-format", cli.trace_format_text, "Trace format: text or jsonl")
        ->check(CLI::IsMember({"text", "jsonl"}))
        ->capture_default_str();
    app.add_flag("--summary", cli.summary, "Print a summary of the trace at the end");
    app.add_flag("--demo", cli.demo, "Run the built-in demo scenario (no program)");
    app.add_option("--check-trace", cli.check_trace, "Validate a trace file and print its summary");
    app.add_flag("--verify", cli.run.verify, "Run the program twice and fail, naming the first diverging event, if the runs differ");
    app.add_option("--audit", cli.audit, "List the determinism escapes in PROGRAM and its libraries (no run)");
    app.add_option("--start-time", cli.run.start_time_text,
                   "Virtual CLOCK_REALTIME at start: YYYY-MM-DDTHH:MM:SSZ or Unix seconds (default 2026-01-01T00:00:00Z)");
    app.add_option("--wall-timeout", cli.run.wall_timeout_text, "Kill the program after this much real time (e.g. 30s)")
        ->capture_default_str();
    app.add_option("--timeout", cli.run.timeout_text,
                   "Virtual time limit of the run (e.g. 10s): a process that reaches it ends with status 124");
    app.add_flag("--quiet", cli.run.quiet, "Print nothing of Marionette's own unless something failed");
    app.add_option("--disk", cli.disk_specs,
                   "Start the simulated disk from a copy of DIR, seen at DIR's own path; DIR is never written. "
                   "In a cluster every node gets its own copy; --disk NAME=DIR (repeatable) gives node NAME its own DIR")
        ->allow_extra_args(false);
    app.add_option("--real-path", cli.run.real_paths,
                   "Let the program reach PATH on the real file system (repeatable; an escape from the simulation: "
                   "everything else it writes lands on the simulated disk, never the host)")
        ->allow_extra_args(false);
    app.add_option("--export-disk", cli.run.export_disk_dir,
                   "After the run, write the disk's durable state (what a crash would keep) to DIR (new or empty)");
    // One flag per disk model option, named as in the model and the trace
    // (--crash-torn-write-rate 20%, --latency-ns-min 2ms, --metadata lenient).
    // A list: CLI11 keeps a reference to each value, which a vector would
    // invalidate as it grows.
    std::list<std::pair<std::string, std::string>> disk_texts;
    for (const auto& [key, value] : marionette::disk_option_pairs(marionette::DiskOptions{})) {
        const std::string name = key.substr(key.find('.') + 1);
        std::string flag = name;
        std::replace(flag.begin(), flag.end(), '_', '-');
        disk_texts.emplace_back(name, "");
        app.add_option("--" + flag, disk_texts.back().second, "Disk model: " + name + " (default " + value + ")")
            ->group("Disk model (the node's simulated disk)");
    }
    std::string after_crash;
    app.add_option("--crash-at", cli.run.crash_at_text,
                   "Power loss at this virtual time (e.g. 20ms; in a cluster, of the node named: server=20ms, "
                   "as for every --crash-* option)")
        ->group("Crash points (power loss of the node)");
    app.add_option("--crash-after", cli.run.crash_after_text,
                   "Power loss right after the N-th trace event of a kind, e.g. '150 disk.write'")
        ->group("Crash points (power loss of the node)");
    app.add_option("--crash-random-within", cli.run.crash_random_text,
                   "Power loss at a seeded virtual time in FROM..TO (e.g. 0..50ms)")
        ->group("Crash points (power loss of the node)");
    app.add_option("--crash-rate", cli.run.crash_rate_text,
                   "After every forwarded file call, power loss with this probability (e.g. 1%, 1/500; "
                   "seeded)")
        ->group("Crash points (power loss of the node)");
    app.add_option("--after-crash", after_crash,
                   "A check run on the surviving disk after the crash (words split as in --node: blanks, "
                   "quotes, backslash); its exit "
                   "code is the verdict; it finds the program's stdout in $MARIONETTE_PROGRAM_OUTPUT")
        ->group("Crash points (power loss of the node)");
    app.add_flag("--require-crash", cli.run.require_crash,
                 "With a crash point: fail the run (exit 1) if the crash point is never reached")
        ->group("Crash points (power loss of the node)");
    app.add_option("--scenario", cli.run.scenario_path,
                   "Drive the run with a scenario file (docs/control-protocol.md)");
    app.add_option("--control", cli.run.control_path,
                   "Serve the control protocol on this Unix socket (after --scenario, if given) until "
                   "a client sends quit; marionette-ctl SOCKET COMMAND talks to it");
    app.add_option("--node", cli.run.nodes,
                   "Cluster: NAME=COMMAND, once per node (address 10.0.0.N in order, hostname NAME); the run ends when "
                   "the client node's program ends")
        ->group("Clusters");
    app.add_option("--client", cli.run.client_node, "Cluster: the node whose program decides the run (default: the last --node)")
        ->group("Clusters");
    app.add_option("--net", cli.run.net_options,
                   "Cluster: network model options, 'key=value ...' (e.g. 'latency_ns_min=2ms drop_rate=1%'; docs/network-model.md)")
        ->group("Clusters");
    app.set_config("--config", "", "Read options from a TOML/INI file (CLI11 config; e.g. node = [\"a=./server\", \"b=./client a\"])");
    app.allow_config_extras(CLI::config_extras_mode::error);  // an unknown key is a usage error, never ignored
    marionette::SweepCommand sweep;
    app.add_option("--runs", sweep.runs_text, "Sweep: run N seeds derived from --seed (seed_i = seed ^ 0x9E3779B97F4A7C15 ^ i)")
        ->group("Seed sweeps");
    app.add_option("--seeds", sweep.seeds_text, "Sweep: run every seed in A..B")->group("Seed sweeps");
    app.add_option("--jobs", sweep.jobs, "Sweep: runs in parallel (default: the number of CPUs)")->group("Seed sweeps");
    app.add_option("--shard", sweep.shard_text,
                   "Sweep: run only the K-th of N contiguous slices of --seeds (K/N), or take K and N from the "
                   "environment (env: Slurm array, Kubernetes Indexed Job, MARIONETTE_SHARD=K/N; docs/scale-out.md)")
        ->group("Seed sweeps");
    app.add_option("--shard-count", sweep.shard_count_text,
                   "Sweep: with --shard env in a Kubernetes Indexed Job, the number of shards (else MARIONETTE_SHARD_COUNT)")
        ->group("Seed sweeps");
    app.add_option("--results", sweep.results_path,
                   "Sweep: write one JSON line per seed to FILE (verdict, exit code, times, events, trace hash, replay command)")
        ->group("Seed sweeps");
    app.add_option("--progress", sweep.progress_text,
                   "Sweep: progress on stderr: auto (live line on a terminal, else a line per 10%), live, lines, off")
        ->group("Seed sweeps");
    app.add_option("--merge-results", sweep.merge_paths,
                   "Read --results files (shards, concatenated or not) and print the sweep's report; with --seeds A..B "
                   "also check that every seed is there")
        ->group("Seed sweeps");
    marionette::ShrinkCommand shrink;
    app.add_flag("--shrink", shrink.shrink,
                 "On a failing cluster run: find a small set of its faults that still fails the same way, and write it "
                 "as a scenario that replays the failure (docs/shrinking.md)")
        ->group("Shrinking");
    app.add_option("--shrink-out", shrink.out_path,
                   "Shrink: the scenario file to write (default marionette-shrink-SEED.scenario)")
        ->group("Shrinking");
    app.add_option("--shrink-budget", shrink.budget_text, "Shrink: at most this many runs (default 200)")->group("Shrinking");
    app.add_option("--shrink-jobs", shrink.jobs_text,
                   "Shrink: candidate runs at a time (default 1); the result is the same for every value")
        ->group("Shrinking");
    app.add_option("--run-report", cli.run.run_report_path)->group("");  // written for the sweep (launcher/run_report.hpp)
    app.add_option("--record-faults", cli.run.record_faults_path)->group("");  // written for --shrink (launcher/shrink.hpp)
    app.add_option("command", cli.run.command, "The program and its arguments, after --");
    marionette::name_option_values(app);  // SEED, DURATION, RATE, ... instead of TEXT
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (app.exit(e) == 0) return 0;
        std::vector<std::string> known;
        for (const CLI::Option* option : app.get_options()) {
            for (const std::string& name : option->get_lnames()) known.push_back(name);
        }
        std::vector<std::string> unknown(argv + 1, argv + argc);
        // CLI11 names an unknown --config key as "INI was not able to parse KEY".
        const std::string config_prefix = "INI was not able to parse ";
        if (const std::string what = e.what(); what.rfind(config_prefix, 0) == 0) {
            unknown = {"--" + what.substr(config_prefix.size())};
            fmt::print(stderr, "marionette-launch: in the --config file (keys are the long options without the dashes):\n");
        }
        fmt::print(stderr, "{}", marionette::suggest_options(unknown, known));
        return exit_usage;
    }
    try {
        for (std::string& path : cli.run.real_paths) {
            if (path.empty()) throw std::invalid_argument("--real-path: empty path");
            std::string normal = std::filesystem::absolute(path).lexically_normal().string();
            while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
            path = normal;
        }
        if (!cli.check_trace.empty()) return check_trace_file(cli.check_trace);
        if (!cli.audit.empty()) return marionette::run_audit(cli.audit);
        if (cli.demo) return run_demo(cli);
        // Words as in a --node command: blanks separate, quotes and a backslash as in a shell.
        const marionette::SplitLine check_words = marionette::split_words(after_crash);
        if (check_words.error) throw std::invalid_argument("--after-crash: " + check_words.error->describe());
        for (const marionette::Word& word : check_words.words) cli.run.check_command.push_back(word.text);
        for (const auto& [name, text] : disk_texts) {
            if (!text.empty()) cli.run.disk_options.emplace_back(name, text);
        }
        marionette::assign_disks(cli.run, cli.disk_specs);
        cli.run.invocation.assign(argv, argv + argc);
        sweep.seed_text = cli.seed_text;
        marionette::check_sweep_options(sweep);
        if (!sweep.merge_paths.empty()) return marionette::run_merge_command(sweep);
        const bool sweeping = sweep.is_sweep();
        if (sweeping || !cli.run.nodes.empty() || !cli.run.command.empty()) marionette::validate_run_options(cli.run, sweeping);
        marionette::check_shrink_options(shrink, cli.run, sweeping);
        if (sweeping) return marionette::run_sweep_command(argc, argv, sweep);
        if (shrink.shrink) {
            cli.run.seed_text = cli.seed_text;
            return marionette::run_shrink_command(argc, argv, shrink, cli.run);
        }
        if (!cli.run.nodes.empty()) {
            cli.run.seed_text = cli.seed_text;
            cli.run.trace_path = cli.trace_path;
            cli.run.trace_format_text = cli.trace_format_text;
            cli.run.summary = cli.summary;
            return marionette::run_cluster_command(cli.run);
        }
        if (!cli.run.command.empty()) {
            cli.run.seed_text = cli.seed_text;
            cli.run.trace_path = cli.trace_path;
            cli.run.trace_format_text = cli.trace_format_text;
            cli.run.summary = cli.summary;
            if (!cli.run.scenario_path.empty() || !cli.run.control_path.empty()) {
                return marionette::run_scenario_command(cli.run);
            }
            return marionette::run_command(cli.run);
        }
        fmt::print(stderr, "marionette-launch: nothing to run; pass --demo or a program after --\n{}", app.help());
        return exit_usage;
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "marionette-launch: {}\n", e.what());
        return exit_usage;
    } catch (const marionette::ChannelError& e) {
        // A process wrote nonsense into its channel: nothing it did since can
        // be trusted, so the run has no result.
        fmt::print(stderr, "marionette-launch: the run is invalid: {}\n", e.what());
        return exit_internal;
    } catch (const std::exception& e) {
        fmt::print(stderr, "marionette-launch: internal error: {}\n", e.what());
        return exit_internal;
    }
}
