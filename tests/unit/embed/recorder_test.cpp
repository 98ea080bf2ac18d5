// Recorder and the C entry point marionette_record.
#include <catch2/catch.hpp>

#include "marionette/recorder.h"
#include "marionette/world.hpp"

using namespace marionette;

TEST_CASE("marionette_record is a no-op without a simulation") {
    CHECK(marionette_record("app.event", "a=1") == 1);
}

TEST_CASE("marionette_record records into the active simulation's trace") {
    World world(1);
    world.simulate();
    CHECK(marionette_record("register.write", "version=3 value=forty%20one") == 0);
    CHECK(marionette_record("register.read", nullptr) == 0);
    CHECK(marionette_record("Bad Name", "") == -1);
    CHECK(marionette_record("app.x", "novalue") == -1);
    CHECK(marionette_record("app.x", "k=%zz") == -1);
    const auto& events = world.trace().events();
    REQUIRE(events.size() >= 3);
    const TraceEvent& write = events[events.size() - 2];
    CHECK(write.name == "register.write");
    REQUIRE(write.find("version") != nullptr);
    CHECK(std::get<std::uint64_t>(*write.find("version")) == 3);
    CHECK(std::get<std::string>(*write.find("value")) == "forty one");
    CHECK(events.back().name == "register.read");
}

TEST_CASE("a default Recorder records nothing; a simulation's records with typed fields") {
    Recorder none;
    CHECK_FALSE(none.enabled());
    none.record("app.ignored", {{"x", 1}});
    World world(2);
    Recorder recorder = world.simulate().env().recorder();
    CHECK(recorder.enabled());
    recorder.record("app.step", {{"n", 7}, {"ok", true}});
    CHECK(world.trace().events().back().name == "app.step");
    CHECK_THROWS_AS(recorder.record("Not Valid"), TraceError);
}
