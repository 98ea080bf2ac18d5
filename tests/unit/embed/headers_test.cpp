// Every public header of the embedded API can be included together with the
// control client's (control.hpp): a test may use both ways of driving runs.
#include <catch2/catch.hpp>
#include <type_traits>

#include "marionette/control.hpp"
#include "marionette/recorder.h"
#include "marionette/recorder.hpp"
#include "marionette/run.hpp"
#include "marionette/testing.hpp"
#include "marionette/world.hpp"

TEST_CASE("the embedded API's control handles are distinct from the control client's") {
    STATIC_REQUIRE_FALSE(std::is_same_v<marionette::DiskControl, marionette::SimDiskControl>);
    STATIC_REQUIRE(std::is_copy_constructible_v<marionette::Control>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<marionette::World>);
}
