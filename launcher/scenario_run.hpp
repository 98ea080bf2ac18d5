// Scenario files (`marionette-launch --scenario FILE -- program args`): the
// control language (control/) executed against one simulated node.
//
// The program after `--` is the node's command, run in one Session that
// lives as long as the executor. Between commands nothing runs, so a
// scenario is as deterministic as the seed: `run <duration>`, `run until
// <t>` and `run until idle` start the command if no incarnation of it is
// running and leave it alive (paused) at the limit; `kill` ends the node's
// processes and keeps the disk; `crash` kills them, then applies the disk's
// crash model; `restart` starts a new incarnation for the next `run`;
// `at <t> crash`, `after <n> <event> crash` and `crash random within
// <a>..<b>` arm a crash point that fires in the middle of a run; `spawn`
// runs a helper to completion on the node while the main program stays
// paused; `expect` checks exits and outputs. docs/control-protocol.md has
// the language; commands this single-node executor cannot do (the network)
// fail with `unsupported`.
#pragma once

#include "control/executor.hpp"
#include "control/scenario.hpp"
#include "launcher/program_run.hpp"

namespace marionette {

/// Runs a scenario's steps in order, each traced as `control.command` (and
/// `control.failed` for the one that failed, which ends the scenario).
ScenarioOutcome run_traced(CommandExecutor& executor, const Scenario& scenario, Trace& trace);

/// Runs `options.scenario_path` against the command; returns the launcher's
/// exit code (0 every step ok, 1 a step failed, 2 the file is malformed).
int run_scenario_command(const RunCommandOptions& options);

}  // namespace marionette
