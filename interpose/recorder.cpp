// marionette_record under marionette-launch: a program's own events in the
// run's trace (include/marionette/recorder.h). Preloaded, this definition
// takes precedence over libmarionette_recorder's no-op, so a program linked
// against that library records when simulated and does nothing otherwise.
#include <cstring>
#include <string_view>

#include "interpose/shim.hpp"

namespace {

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'; }
bool key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/// `key=value` pairs separated by single spaces, values escaped as in the
/// text trace; "at_ns" and "event" are reserved.
bool valid_fields(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t key_start = i;
        while (i < text.size() && key_char(text[i])) ++i;
        const std::string_view key = text.substr(key_start, i - key_start);
        if (key.empty() || key == "at_ns" || key == "event" || i == text.size() || text[i] != '=') return false;
        ++i;
        while (i < text.size() && text[i] != ' ') {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c == '%') {
                if (i + 2 >= text.size()) return false;
                if (!hex_digit(text[i + 1]) || !hex_digit(text[i + 2])) return false;
                i += 3;
                continue;
            }
            if (c <= 0x20 || c >= 0x7f || c == '=' || c == '\\') return false;
            ++i;
        }
        if (i < text.size()) {
            ++i;  // the single space
            if (i == text.size()) return false;
        }
    }
    return true;
}

}  // namespace

MARIONETTE_EXPORT int marionette_record(const char* name, const char* key_values) {
    if (name == nullptr || *name == '\0') return -1;
    const std::string_view event(name);
    for (char c : event) {
        if (!name_char(c)) return -1;
    }
    const std::string_view fields = key_values == nullptr ? std::string_view() : std::string_view(key_values);
    if (!valid_fields(fields)) return -1;
    marionette::shim::ensure_init();
    marionette::shim::Enter enter;
    if (!enter.entered()) return 1;
    return enter.kernel().emit_recorded(event, fields) ? 0 : -1;
}
