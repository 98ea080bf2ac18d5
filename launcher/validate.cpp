#include "launcher/validate.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "sim/disk/disk_options.hpp"
#include "sim/time.hpp"

namespace marionette {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void usage(const std::string& message) { throw std::invalid_argument(message); }

/// A duration option must carry a unit: `--wall-timeout 5` used to mean
/// 5 ns. A bare 0 is unambiguous.
void require_unit(const std::string& flag, const std::string& text) {
    if (text.empty() || text == "0") return;
    if (text.find_first_not_of("0123456789") == std::string::npos) {
        usage(flag + " '" + text + "' has no unit: write e.g. " + text + "s (units: ns, us, ms, s, m, h)");
    }
    try {
        parse_duration(text);
    } catch (const std::invalid_argument& e) {
        usage(flag + ": " + e.what());
    }
}

void check_cluster(const RunCommandOptions& options) {
    auto reject = [](bool given, const std::string& what, const std::string& why) {
        if (given) usage(what + " does not apply to a cluster run (--node): " + why);
    };
    if (options.verify && !options.control_path.empty()) {
        usage("--verify does not apply with --control (the commands sent cannot be repeated): use a --scenario");
    }
    reject(!options.check_command.empty(), "--after-crash",
           "use a --scenario with 'restart <node>', 'spawn NAME node=NODE -- CHECK' and 'expect exit NAME 0'");
    const std::string point = crash_point_text(options);
    if (!point.empty() && (!options.scenario_path.empty() || !options.control_path.empty())) {
        usage(point.substr(0, point.find(' ')) +
              " does not apply to a run driven by --scenario/--control: write 'at <time> crash <node>', 'after <n> "
              "<event> crash <node>' or 'crash random within <a>..<b> <node>' in the scenario");
    }
    if (options.require_crash && (!options.scenario_path.empty() || !options.control_path.empty())) {
        usage("--require-crash does not apply to a run driven by --scenario/--control: write 'expect' lines in the scenario");
    }
}

/// A single program driven by --scenario/--control: the control language
/// crashes, checks and exports, not the one-shot options.
void check_driven(const RunCommandOptions& options) {
    auto reject = [](bool given, const std::string& what, const std::string& instead) {
        if (given) usage(what + " does not apply to a run driven by --scenario/--control: " + instead);
    };
    reject(options.verify, "--verify", "run it twice with the same --seed and compare the trace_hash lines");
    reject(!crash_point_text(options).empty(), crash_point_text(options).substr(0, crash_point_text(options).find(' ')),
           "write 'at <time> crash', 'after <n> <event> crash' or 'crash random within <a>..<b>' in the scenario");
    reject(options.require_crash, "--require-crash", "write 'expect' lines in the scenario");
    reject(!options.check_command.empty(), "--after-crash", "write 'spawn NAME -- CHECK' and 'expect exit NAME 0' in the scenario");
    reject(!options.export_disk_dir.empty(), "--export-disk", "it is not exported from a scenario run yet; remove it");
}

/// The bytes of the regular files under `dir` (symbolic links not followed).
std::uintmax_t bytes_under(const std::string& dir) {
    std::uintmax_t total = 0;
    std::error_code error;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, error), end;
         !error && it != end; it.increment(error)) {
        if (it->is_regular_file(error) && !it->is_symlink(error)) total += it->file_size(error);
    }
    return total;
}

/// `capacity_bytes`: 0 when unlimited.
void check_disk_dir(const std::string& text, const std::string& dir, std::uint64_t capacity_bytes) {
    std::error_code error;
    if (!fs::exists(dir, error)) usage("--disk '" + text + "' does not exist (give an existing directory)");
    if (!fs::is_directory(dir, error)) usage("--disk '" + text + "' is not a directory");
    if (capacity_bytes == 0) return;
    if (const std::uintmax_t held = bytes_under(dir); held > capacity_bytes) {
        usage("--disk '" + text + "' holds " + std::to_string(held) + " bytes, more than the disk's capacity (--capacity-bytes " +
              std::to_string(capacity_bytes) + "): it would not fit on the simulated disk");
    }
}

void check_disk_paths(const RunCommandOptions& options, bool sweep) {
    std::error_code error;
    DiskOptions disk;
    for (const auto& [key, value] : options.disk_options) set_disk_option(disk, key, value);
    if (!options.disk_dir.empty()) check_disk_dir(options.disk_dir, options.disk_dir, disk.capacity_bytes);
    for (const auto& [node, dir] : options.node_disks) check_disk_dir(node + "=" + dir, dir, disk.capacity_bytes);
    if (options.export_disk_dir.empty()) return;
    if (sweep) usage("--export-disk names one directory; it cannot be shared by the runs of a sweep");
    if (options.disk_dir.empty() && options.node_disks.empty()) {
        usage("--export-disk needs --disk DIR (only a simulated disk can be exported)");
    }
    const fs::path out = options.export_disk_dir;
    if (fs::exists(out, error)) {
        if (!fs::is_directory(out, error)) usage("--export-disk '" + out.string() + "' exists and is not a directory");
        if (!fs::is_empty(out, error)) usage("--export-disk '" + out.string() + "' is not empty (give a new or empty directory)");
    }
}

void check_control_paths(const RunCommandOptions& options, bool sweep) {
    std::error_code error;
    if (!options.scenario_path.empty()) {
        if (!fs::exists(options.scenario_path, error)) usage("--scenario '" + options.scenario_path + "' does not exist");
        if (fs::is_directory(options.scenario_path, error)) usage("--scenario '" + options.scenario_path + "' is a directory, not a scenario file");
    }
    if (options.control_path.empty()) return;
    if (sweep) usage("--control names one socket; it cannot be shared by the runs of a sweep");
    const fs::path socket = options.control_path;
    const fs::path dir = socket.has_parent_path() ? socket.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, error)) usage("--control '" + socket.string() + "': directory '" + dir.string() + "' does not exist");
    struct stat info {};
    if (::lstat(socket.c_str(), &info) == 0 && !S_ISSOCK(info.st_mode)) {
        usage("--control '" + socket.string() + "' exists and is not a socket (give a new path)");
    }
    if (socket.string().size() >= 108) usage("--control '" + socket.string() + "' is too long for a Unix socket (at most 107 bytes)");
}

void check_crash_after(const std::string& text) {
    const std::size_t space = text.find(' ');
    if (space == std::string::npos) return;  // malformed: program_run's check names the form
    const std::string event = text.substr(space + 1);
    const auto& names = crash_after_event_names();
    if (std::find(names.begin(), names.end(), event) != names.end()) return;
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    usage("--crash-after '" + text + "': no run emits the event '" + event + "' (known: " + list + ")");
}

/// The node names of `--node NAME=COMMAND` texts (malformed ones are
/// named later, by parse_node_spec).
std::vector<std::string> node_names(const std::vector<std::string>& nodes) {
    std::vector<std::string> names;
    for (const std::string& text : nodes) names.push_back(text.substr(0, text.find('=')));
    return names;
}

}  // namespace

void assign_disks(RunCommandOptions& options, const std::vector<std::string>& specs) {
    if (options.nodes.empty()) {
        if (specs.size() > 1) {
            usage("--disk given " + std::to_string(specs.size()) +
                  " times: a run of one program has one disk (--disk NAME=DIR gives cluster nodes their own)");
        }
        if (!specs.empty()) options.disk_dir = specs.front();
        return;
    }
    const std::vector<std::string> names = node_names(options.nodes);
    for (const std::string& spec : specs) {
        const std::size_t equals = spec.find('=');
        const std::string name = equals == std::string::npos ? std::string() : spec.substr(0, equals);
        if (!name.empty() && std::find(names.begin(), names.end(), name) != names.end()) {
            for (const auto& [node, dir] : options.node_disks) {
                if (node == name) usage("--disk " + spec + ": node '" + name + "' already has --disk " + node + "=" + dir);
            }
            options.node_disks.emplace_back(name, spec.substr(equals + 1));
            continue;
        }
        if (!options.disk_dir.empty()) {
            usage("--disk '" + spec + "': every node already gets --disk '" + options.disk_dir +
                  "' (give a node its own with --disk NAME=DIR, NAME one of the --node names)");
        }
        options.disk_dir = spec;
    }
}

const std::vector<std::string>& crash_after_event_names() {
    static const std::vector<std::string> names = {
        "disk.bad_sector", "disk.chmod", "disk.corrupt_sector", "disk.fallocate", "disk.fault", "disk.fsync",
        "disk.link", "disk.mkdir", "disk.open", "disk.read", "disk.readdir", "disk.rejected", "disk.rename",
        "disk.rmdir", "disk.stat", "disk.symlink", "disk.sync", "disk.sync_range", "disk.truncate", "disk.unlink",
        "disk.write", "fs.close", "fs.open", "process.end", "process.exec", "process.reaped", "process.signal_sent",
        "scheduler.blocked", "thread.end", "thread.signal_sent", "thread.start", "timer.alarm", "timer.alarm_set",
        "timer.fire", "timer.timerfd_set"};
    return names;
}

std::string crash_point_text(const RunCommandOptions& options) {
    if (!options.crash_at_text.empty()) return "--crash-at " + options.crash_at_text;
    if (!options.crash_after_text.empty()) return "--crash-after '" + options.crash_after_text + "'";
    if (!options.crash_random_text.empty()) return "--crash-random-within " + options.crash_random_text;
    if (!options.crash_rate_text.empty()) return "--crash-rate " + options.crash_rate_text;
    return "";
}

std::string take_crash_node(RunCommandOptions& options) {
    if (options.nodes.empty()) return "";
    const std::vector<std::string> names = node_names(options.nodes);
    std::string node;
    auto take = [&](const char* flag, std::string& text, const char* example) {
        if (text.empty()) return;
        const std::size_t equals = text.find('=');
        const std::string name = equals == std::string::npos ? std::string() : text.substr(0, equals);
        if (name.empty()) {
            usage(std::string(flag) + " '" + text + "' in a cluster names the node that loses power: " + flag + " " +
                  names.front() + "=" + example);
        }
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            usage(std::string(flag) + " '" + text + "': no node named '" + name + "'");
        }
        node = name;
        text = text.substr(equals + 1);
    };
    take("--crash-at", options.crash_at_text, "20ms");
    take("--crash-after", options.crash_after_text, "'150 disk.write'");
    take("--crash-random-within", options.crash_random_text, "5ms..50ms");
    take("--crash-rate", options.crash_rate_text, "1%");
    return node;
}

void validate_run_options(const RunCommandOptions& given, bool sweep) {
    // A cluster's crash option names its node (NODE=...); the rest is
    // checked as in a run of one program.
    RunCommandOptions options = given;
    (void)take_crash_node(options);
    if (!options.nodes.empty()) {
        check_cluster(options);
        validate_crash_options(options);
        const std::string event = options.crash_after_text.substr(options.crash_after_text.find(' ') + 1);
        if (!options.crash_after_text.empty() && !event.starts_with("disk.") && !event.starts_with("fs.")) {
            usage("--crash-after '" + given.crash_after_text +
                  "': in a cluster it counts the events of the node's disk and files (disk.*, fs.*)");
        }
    } else if (!options.scenario_path.empty() || !options.control_path.empty()) {
        check_driven(options);
    }
    require_unit("--wall-timeout", options.wall_timeout_text);
    require_unit("--timeout", options.timeout_text);
    require_unit("--crash-at", options.crash_at_text);
    if (const std::size_t dots = options.crash_random_text.find(".."); dots != std::string::npos) {
        require_unit("--crash-random-within", options.crash_random_text.substr(0, dots));
        require_unit("--crash-random-within", options.crash_random_text.substr(dots + 2));
    }
    if (!options.crash_after_text.empty()) check_crash_after(options.crash_after_text);
    check_disk_paths(options, sweep);
    check_control_paths(options, sweep);
    if (!options.record_faults_path.empty() && (options.nodes.empty() || sweep)) {
        usage("--record-faults (used by --shrink) applies to one cluster run (--node)");
    }
    if (options.require_crash && crash_point_text(options).empty()) {
        usage("--require-crash needs a crash point (--crash-at, --crash-after, --crash-random-within or --crash-rate)");
    }
}

}  // namespace marionette
