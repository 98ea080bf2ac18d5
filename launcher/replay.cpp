#include "launcher/replay.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "launcher/sweep.hpp"

namespace marionette {
namespace {

namespace fs = std::filesystem;

/// Options that name one output of one run: a replay must not overwrite
/// them (and --export-disk would refuse a non-empty directory).
constexpr std::string_view dropped_always[] = {"--trace", "--export-disk"};
/// Options of a sweep, dropped from the replay of one of its seeds.
constexpr std::string_view dropped_for_one_seed[] = {"--seed", "--runs", "--seeds", "--jobs"};

/// True if `word` names something relative to the current directory.
bool relative_path(std::string_view word) {
    if (word.empty() || word.front() == '/' || word.front() == '-') return false;
    std::error_code error;
    const fs::path path{std::string(word)};
    if (fs::exists(path, error)) return true;
    return word.find('/') != std::string_view::npos && path.has_parent_path() && fs::is_directory(path.parent_path(), error);
}

}  // namespace

std::optional<std::string_view> option_named(const std::string& arg, std::span<const std::string_view> names) {
    for (std::string_view name : names) {
        if (arg == name) return name;
        if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 && arg[name.size()] == '=') return name;
    }
    return std::nullopt;
}

std::string launcher_for_replay(const std::string& argv0) {
    std::error_code error;
    const fs::path self = fs::read_symlink("/proc/self/exe", error);
    if (const char* path = std::getenv("PATH"); path != nullptr && !error) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const std::size_t colon = std::min(rest.find(':'), rest.size());
            const fs::path dir{std::string(rest.substr(0, colon))};
            rest.remove_prefix(std::min(colon + 1, rest.size()));
            if (dir.empty() || dir.is_relative()) continue;  // depends on the directory: not typed as a bare name
            const fs::path candidate = dir / "marionette-launch";
            if (fs::exists(candidate, error) && fs::equivalent(candidate, self, error)) return "marionette-launch";
        }
    }
    if (argv0.find('/') == std::string::npos) return error ? argv0 : self.string();
    return fs::absolute(argv0, error).lexically_normal().string();
}

std::string working_directory_prefix(const std::vector<std::string>& args) {
    bool matters = false;
    for (const std::string& arg : args) {
        // A word of a node command or a check (`server=./srv 7000`), or an
        // option's value given with `=`.
        std::size_t start = 0;
        while (!matters && start <= arg.size()) {
            const std::size_t end = std::min(arg.find_first_of(" =,", start), arg.size());
            matters = relative_path(std::string_view(arg).substr(start, end - start));
            start = end + 1;
        }
        if (matters) break;
    }
    if (!matters) return "";
    std::error_code error;
    const fs::path cwd = fs::current_path(error);
    return error ? "" : "cd " + shell_join({cwd.string()}) + " && ";
}

std::string replay_command_line(const std::vector<std::string>& argv, std::optional<std::uint64_t> seed) {
    std::vector<std::string> out;
    if (argv.empty()) return "";
    out.push_back(launcher_for_replay(argv[0]));
    if (seed) out.insert(out.end(), {"--seed", std::to_string(*seed)});
    bool after_dashes = false;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (!after_dashes) {
            if (arg == "--") after_dashes = true;
            std::optional<std::string_view> name = option_named(arg, dropped_always);
            if (!name && seed) name = option_named(arg, dropped_for_one_seed);
            if (name) {
                if (arg == *name) ++i;  // its value is the next argument
                continue;
            }
        }
        out.push_back(arg);
    }
    const std::vector<std::string> args(out.begin() + 1, out.end());
    return working_directory_prefix(args) + shell_join(out);
}

}  // namespace marionette
