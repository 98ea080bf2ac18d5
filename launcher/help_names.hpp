// Value names in --help (and so in the man page help2man makes from it):
// `--seed SEED`, `--wall-timeout DURATION`, `--crash-rate RATE` instead of
// CLI11's `TEXT`, so the help says what each option takes.
#pragma once

#include <CLI/CLI.hpp>

namespace marionette {

/// Names the values of the launcher's options by what they take, after
/// they are all added (disk model options included).
void name_option_values(CLI::App& app);

}  // namespace marionette
