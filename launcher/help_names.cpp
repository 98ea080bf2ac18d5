#include "launcher/help_names.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace marionette {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// The value name of an option by its long name; empty keeps CLI11's.
std::string value_name(std::string_view name) {
    static const std::pair<std::string_view, std::string_view> names[] = {
        {"seed", "SEED"}, {"trace", "FILE"}, {"check-trace", "FILE"},
        {"audit", "PROGRAM"}, {"start-time", "TIME"}, {"wall-timeout", "DURATION"}, {"timeout", "DURATION"},
        {"disk", "DIR"}, {"export-disk", "DIR"}, {"crash-at", "DURATION"}, {"crash-after", "'N EVENT'"},
        {"crash-random-within", "FROM..TO"}, {"crash-rate", "RATE"}, {"after-crash", "'COMMAND ARGS'"},
        {"scenario", "FILE"}, {"control", "SOCKET"}, {"node", "NAME=COMMAND"}, {"client", "NAME"},
        {"net", "'KEY=VALUE ...'"}, {"config", "FILE"}, {"runs", "N"}, {"seeds", "A..B"}, {"jobs", "N"}};
    for (const auto& [option, value] : names) {
        if (option == name) return std::string(value);
    }
    // Disk model options, named as in the model: rates, latencies, sizes.
    if (ends_with(name, "-rate")) return "RATE";
    if (name.find("-ns") != std::string_view::npos) return "DURATION";
    if (ends_with(name, "-bytes")) return "BYTES";
    return "";
}

}  // namespace

void name_option_values(CLI::App& app) {
    for (CLI::Option* option : app.get_options()) {
        if (option->get_type_size() == 0 || option->get_lnames().empty()) continue;  // flags take no value
        const std::string name = value_name(option->get_lnames().front());
        if (!name.empty()) option->type_name(name);
    }
}

}  // namespace marionette
