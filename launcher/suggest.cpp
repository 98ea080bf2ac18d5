#include "launcher/suggest.hpp"

#include <algorithm>
#include <string_view>

namespace marionette {
namespace {

/// Levenshtein distance (insert, delete, substitute), short strings only.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string suggest_options(const std::vector<std::string>& args, const std::vector<std::string>& known) {
    std::string out;
    for (const std::string& arg : args) {
        if (arg == "--") break;
        if (arg.size() <= 2 || arg.rfind("--", 0) != 0) continue;
        const std::string name = arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        const std::string* best = nullptr;
        std::size_t best_distance = 3;  // at most two edits away
        for (const std::string& candidate : known) {
            const std::size_t distance = edit_distance(name, candidate);
            if (distance < best_distance) {
                best_distance = distance;
                best = &candidate;
            }
        }
        out += "marionette-launch: unknown option --" + name;
        out += best != nullptr ? "; did you mean --" + *best + "?\n" : " (see --help)\n";
    }
    return out;
}

}  // namespace marionette
