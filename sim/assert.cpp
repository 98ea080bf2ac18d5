// MARIONETTE_ASSERT's report for everything but the preload .so (which has
// its own, interpose/assert_raw.cpp): see sim/assert.hpp.
#include "sim/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace marionette::detail {

void assert_failed(const char* file, int line, const char* condition, const char* message) noexcept {
    std::fprintf(stderr, "marionette: assertion failed at %s:%d: %s: %s\n", file, line, condition,
                 message != nullptr ? message : "");
    std::fflush(stderr);
    std::abort();
}

}  // namespace marionette::detail
