// JSON Lines rendering and reading for traces (private to sim/).
//
// Only the subset the trace needs: one flat object per line whose values are
// strings, non-negative or negative integers, booleans, and (header only) one
// nested object of string options. Keeping the reader this small keeps it
// strict: anything else is a parse error with a position.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/trace.hpp"

namespace marionette::detail {

std::string json_quote(std::string_view text);
std::string render_json_header(const TraceHeader& header);

/// One member of a flat JSON object, in document order. `nested` holds the
/// members of a nested object value (used for header options).
struct JsonMember {
    std::string key;
    TraceValue value;
    std::vector<std::pair<std::string, std::string>> nested;
    bool is_object = false;
};

/// Parses one line holding a JSON object; throws std::invalid_argument with
/// the column on error.
std::vector<JsonMember> parse_json_object(std::string_view line);

}  // namespace marionette::detail
