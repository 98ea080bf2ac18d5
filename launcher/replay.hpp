// Replay commands: the line a run prints so that pasting it into a shell
// runs the same thing again.
//
// A replay command is built from the launcher's own command line, not from
// the options it understood, so nothing the user typed is forgotten: the
// launcher is named as it can be typed again (`marionette-launch` when that
// name on PATH is this executable, else its absolute path), every argument
// is quoted for the shell, `--seed` is replaced by the run's resolved seed,
// options that name one-off outputs (`--trace`, `--export-disk`) or a sweep
// are dropped, and `cd DIR &&` comes first when an argument is a relative
// path (the run's files, the program, a scenario or config file).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

namespace marionette {

/// If `arg` is `--name` or `--name=value` for a name in `names`: that name
/// (the value is the next argument when `arg` equals it).
std::optional<std::string_view> option_named(const std::string& arg, std::span<const std::string_view> names);

/// How a replay command names this launcher: `marionette-launch` if that
/// name on PATH resolves to this executable, else `argv0` made absolute.
std::string launcher_for_replay(const std::string& argv0);

/// `cd 'DIR' && ` if any of `args` is a relative path that exists (or whose
/// parent exists) in the current directory; else empty.
std::string working_directory_prefix(const std::vector<std::string>& args);

/// The replay command of a run started with `argv` (argv[0] the launcher as
/// invoked). With `seed`, `--seed` is set to it and sweep options are
/// dropped (one run); without, the command is repeated as a whole (a
/// sweep). `--trace` and `--export-disk` are always dropped.
std::string replay_command_line(const std::vector<std::string>& argv, std::optional<std::uint64_t> seed);

}  // namespace marionette
