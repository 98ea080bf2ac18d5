// Scenario files (`marionette-launch --scenario FILE -- program args`): the
// control language (control/) executed against one simulated node.
//
// The program after `--` is the node's command. Between commands nothing
// runs, so a scenario is as deterministic as the seed: `run until idle`
// starts the command (or restarts it after `restart`) and runs it until it
// exits or the armed crash point is reached; `at <t> crash`, `after <n>
// <event> crash` and `crash random within <a>..<b>` arm that point;
// `crash` is a power loss now; `spawn` runs a helper to completion on the
// node's disk; `expect` checks exits and outputs. docs/control-protocol.md
// has the language; commands this single-node executor cannot do (the
// network, `run <duration>` with a live process) fail with `unsupported`.
#pragma once

#include "launcher/program_run.hpp"

namespace marionette {

/// Runs `options.scenario_path` against the command; returns the launcher's
/// exit code (0 every step ok, 1 a step failed, 2 the file is malformed).
int run_scenario_command(const RunCommandOptions& options);

}  // namespace marionette
