// "Did you mean": the nearest option name for a mistyped one (`--sed` ->
// `--seed`), so a usage error says how to fix it.
#pragma once

#include <string>
#include <vector>

namespace marionette {

/// For each argument before `--` that starts with `--` and is not one of
/// `known` (long names without dashes), the line
/// `marionette-launch: unknown option --sed; did you mean --seed?` (or
/// without the suggestion when nothing is within two edits). Empty if all
/// are known.
std::string suggest_options(const std::vector<std::string>& args, const std::vector<std::string>& known);

}  // namespace marionette
