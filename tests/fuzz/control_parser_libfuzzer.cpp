// libFuzzer entry point for the control-line parser and the line assembler
// (built only with clang; see CMakeLists.txt). Aborts on any property the
// seeded Catch2 fuzz test also checks.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/framing.hpp"
#include "control/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace marionette;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const ParsedLine parsed = parse_line(input);
    if (parsed.is_error() && (parsed.error().message.empty() || parsed.error().column == 0)) std::abort();
    if (parsed.is_command()) {
        const ParsedLine again = parse_line(to_string(parsed.command()));
        if (!again.is_command() || !(again.command() == parsed.command())) std::abort();
    }
    LineAssembler assembler(64);
    for (const Frame& frame : assembler.feed(input)) {
        if (frame.text.size() > 64) std::abort();
    }
    return 0;
}
