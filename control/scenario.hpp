// Scenario files: the control language, one command a line, in a file.
//
// `marionette-launch --scenario FILE` parses the whole file before the run
// starts, so a typo on line 40 is reported before anything is simulated. All
// malformed lines are reported at once (each as `file:line:column: message`),
// not just the first. run_scenario then feeds the commands to an executor
// in order and stops at the first error reply — a scenario is a script whose
// steps depend on each other, so carrying on after a failed step would only
// produce confusing follow-up failures.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "control/command.hpp"
#include "control/executor.hpp"
#include "control/lexer.hpp"

namespace marionette {

/// One command of a scenario with its 1-based line number.
struct ScenarioStep {
    std::size_t line = 0;
    Command command;
    friend bool operator==(const ScenarioStep&, const ScenarioStep&) = default;
};

/// A malformed scenario line.
struct ScenarioError {
    std::string file;
    std::size_t line = 0;
    ParseError error;

    /// `file:line:column: message`.
    std::string format() const;
};

/// A parsed scenario.
struct Scenario {
    std::string file;
    std::vector<ScenarioStep> steps;
};

/// The result of parsing a scenario: the steps of every good line, and
/// every bad line's error.
struct ScenarioParse {
    Scenario scenario;
    std::vector<ScenarioError> errors;

    bool ok() const { return errors.empty(); }
    /// Every error, one a line, each ending in `\n`.
    std::string format_errors() const;
};

/// Parses scenario text; lines end in `\n` (a `\r` before it is dropped, a
/// last line without `\n` is fine). Blank and comment lines are skipped.
ScenarioParse parse_scenario(std::string_view text, std::string file_name = "scenario");

/// Reads and parses a file; throws std::runtime_error if it cannot be read.
ScenarioParse read_scenario_file(const std::string& path);

/// How running a scenario ended.
struct ScenarioOutcome {
    bool ok = true;
    std::size_t steps_run = 0;
    std::size_t failed_line = 0;  ///< line of the failing step when !ok
    Reply reply;                  ///< the failing step's reply when !ok
    bool quit = false;            ///< stopped at a successful `quit`

    /// `file:line: <command>: error <code> <message>`, or `ok`.
    std::string describe(const Scenario& scenario) const;
};

/// Dispatches the steps in order; stops at the first error reply or `quit`.
ScenarioOutcome run_scenario(CommandExecutor& executor, const Scenario& scenario);

}  // namespace marionette
