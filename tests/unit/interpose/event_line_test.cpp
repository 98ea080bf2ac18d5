// EventLine: allocation-free rendering that the launcher parses back.
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "launcher/program_run.hpp"
#include "sim/kernel/event_line.hpp"

using namespace marionette;

TEST_CASE("an event line renders name, time and fields", "[event_line]") {
    EventLine line("random.getrandom", 1500);
    line.add("len", 8).add_signed("delta", -3).add_text("path", "/dev/urandom");
    CHECK(line.line() == "random.getrandom at_ns=1500 len=8 delta=-3 path=/dev/urandom\n");
}

TEST_CASE("text values are escaped exactly as the trace escapes them", "[event_line]") {
    const std::string awkward = "a b=c%d\\e\x01\x7f";
    EventLine line("x.y", 0);
    line.add_text("v", awkward);
    const std::string_view rendered = line.line();
    CHECK(rendered == "x.y at_ns=0 v=" + escape_value(awkward) + "\n");
    const TraceEvent event = parse_shim_line(rendered.substr(0, rendered.size() - 1));
    CHECK(value_text(*event.find("v")) == awkward);
}

TEST_CASE("an overlong value is truncated but the line stays well formed", "[event_line]") {
    EventLine line("x.y", 0);
    line.add_text("v", std::string(2000, '%'));
    const std::string_view rendered = line.line();
    CHECK(rendered.size() <= EventLine::capacity_bytes);
    CHECK(rendered.back() == '\n');
    CHECK_NOTHROW(parse_shim_line(rendered.substr(0, rendered.size() - 1)));
}

TEST_CASE("numbers from the shim stay numbers, other text stays text", "[event_line]") {
    const TraceEvent event = parse_shim_line("random.getrandom at_ns=5 len=8 flags=0 code=007 name=abc");
    REQUIRE(event.fields.size() == 4);
    CHECK(std::holds_alternative<std::uint64_t>(event.fields[0].value));
    CHECK(std::get<std::uint64_t>(event.fields[0].value) == 8);
    CHECK(std::holds_alternative<std::uint64_t>(event.fields[1].value));
    CHECK(std::holds_alternative<std::string>(event.fields[2].value));  // not canonical: kept verbatim
    CHECK(value_text(event.fields[2].value) == "007");
    CHECK(std::holds_alternative<std::string>(event.fields[3].value));
}

TEST_CASE("the launcher rejects malformed shim lines", "[event_line]") {
    CHECK_THROWS_AS(parse_shim_line("Bad.Name at_ns=0"), TraceError);
    CHECK_THROWS_AS(parse_shim_line("x.y len=3"), TraceError);
    CHECK_THROWS_AS(parse_shim_line("x.y at_ns=0 novalue"), TraceError);
}

TEST_CASE("the start time accepts ISO UTC and Unix seconds", "[start_time]") {
    CHECK(parse_start_time("2026-01-01T00:00:00Z") == 1'767'225'600ULL * ns_per_s);
    CHECK(parse_start_time("2030-06-01T12:00:00Z") == 1'906'545'600ULL * ns_per_s);
    CHECK(parse_start_time("86400") == 86400 * ns_per_s);
    CHECK_THROWS_AS(parse_start_time("yesterday"), std::invalid_argument);
    CHECK_THROWS_AS(parse_start_time("2026-01-01 00:00:00"), std::invalid_argument);
}
