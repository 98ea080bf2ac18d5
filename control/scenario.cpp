#include "control/scenario.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "control/parse.hpp"

namespace marionette {

std::string ScenarioError::format() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(error.column) + ": " + error.message;
}

std::string ScenarioParse::format_errors() const {
    std::string out;
    for (const ScenarioError& error : errors) out += error.format() + "\n";
    return out;
}

ScenarioParse parse_scenario(std::string_view text, std::string file_name) {
    ScenarioParse out;
    out.scenario.file = file_name;
    std::size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const ParsedLine parsed = parse_line(line);
        if (parsed.is_error()) {
            out.errors.push_back({file_name, line_number, parsed.error()});
        } else if (parsed.is_command()) {
            out.scenario.steps.push_back({line_number, parsed.command()});
        }
    }
    return out;
}

ScenarioParse read_scenario_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open scenario file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot read scenario file '" + path + "'");
    return parse_scenario(text.str(), path);
}

std::string ScenarioOutcome::describe(const Scenario& scenario) const {
    if (ok) return "ok";
    std::string command;
    for (const ScenarioStep& step : scenario.steps) {
        if (step.line == failed_line) command = to_string(step.command);
    }
    return scenario.file + ":" + std::to_string(failed_line) + ": " + command + ": " + format_reply(reply);
}

ScenarioOutcome run_scenario(CommandExecutor& executor, const Scenario& scenario) {
    ScenarioOutcome outcome;
    for (const ScenarioStep& step : scenario.steps) {
        Reply reply = dispatch(executor, step.command);
        ++outcome.steps_run;
        if (!reply.ok) {
            outcome.ok = false;
            outcome.failed_line = step.line;
            outcome.reply = std::move(reply);
            return outcome;
        }
        if (std::holds_alternative<Quit>(step.command)) {
            outcome.quit = true;
            return outcome;
        }
    }
    return outcome;
}

}  // namespace marionette
