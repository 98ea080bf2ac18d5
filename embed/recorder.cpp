// marionette_record for the embedded API: records into the trace of the
// simulation active on the calling thread (see include/marionette/recorder.h).
#include "marionette/recorder.h"

#include <string>
#include <string_view>
#include <vector>

#include "embed/sim_state.hpp"
#include "sim/trace.hpp"

namespace marionette::detail {

/// Parses `key=value key=value` (values escaped as in the text trace;
/// all-digit values become numbers). False on malformed text.
bool parse_key_values(std::string_view text, std::vector<TraceField>& out) {
    while (!text.empty()) {
        const std::size_t end = std::min(text.find(' '), text.size());
        const std::string_view pair = text.substr(0, end);
        text.remove_prefix(end == text.size() ? end : end + 1);
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos || !valid_field_key(pair.substr(0, eq))) return false;
        std::string value;
        try {
            value = unescape_value(pair.substr(eq + 1));
        } catch (const std::exception&) {
            return false;
        }
        const bool digits = !value.empty() && value.size() <= 19 &&
                            value.find_first_not_of("0123456789") == std::string::npos;
        if (digits) {
            out.emplace_back(std::string(pair.substr(0, eq)), static_cast<std::uint64_t>(std::stoull(value)));
        } else {
            out.emplace_back(std::string(pair.substr(0, eq)), std::move(value));
        }
    }
    return true;
}

}  // namespace marionette::detail

extern "C" int marionette_record(const char* name, const char* key_values) {
    using namespace marionette;
    detail::SimState* state = detail::enter();
    if (state == nullptr) return 1;
    if (name == nullptr || !valid_event_name(name)) return -1;
    try {
        std::vector<TraceField> fields;
        if (key_values != nullptr && !detail::parse_key_values(key_values, fields)) return -1;
        state->record(name, std::move(fields));
        return 0;
    } catch (...) {
        return -1;
    }
}
