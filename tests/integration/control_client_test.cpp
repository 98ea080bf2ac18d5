// The C++ control client drives a real program: marionette-launch --control
// runs Debian's python3 + SQLite on the simulated disk, and the test steps it
// through the typed API — faults, run, power loss, restart, a check process,
// expectations — then reads the trace. Run twice with one seed: the same
// trace; a failed expectation comes back as a ControlError.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "marionette/control.hpp"

using namespace marionette;

namespace {

struct Driven {
    std::string trace;
    std::string status_crashed;
};

std::filesystem::path fresh_dir(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("marionette-client-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "data");
    return dir;
}

Driven drive(std::uint64_t seed, const std::string& name) {
    const auto dir = fresh_dir(name);
    const std::string socket = (dir / "ctl.sock").string();
    const std::string data = (dir / "data").string();
    ControlClient client = ControlClient::launch(
        {MARIONETTE_LAUNCH, "--quiet", "--seed", std::to_string(seed), "--disk", data, "--latency-ns-min", "50us",
         "--control", socket, "--", "/usr/bin/python3", EXAMPLE_DIR "/workload.py", data + "/db", "full", "10"},
        socket);
    client.disk().set_faults({{"crash_lost_write_rate", "always"}});
    client.crash_random_within(2 * ns_per_ms, 12 * ns_per_ms);
    const Reply ran = client.run_until_idle();
    REQUIRE(ran.ok);
    client.restart();
    client.spawn("integrity", {"/usr/bin/sqlite3", data + "/db", "pragma integrity_check"});
    client.expect_exit(0, "integrity");
    client.expect_output("integrity", "ok");
    // A wrong expectation is an error reply, thrown as ControlError.
    CHECK_THROWS_AS(client.expect_output("integrity", "no such text"), ControlError);
    Driven result;
    result.trace = client.read_trace();
    const Reply status = client.status();
    result.status_crashed = status.find("crashed") != nullptr ? *status.find("crashed") : "";
    client.quit();
    client.wait();
    std::filesystem::remove_all(dir);
    return result;
}

}  // namespace

TEST_CASE("the control client drives SQLite through a power loss, deterministically", "[control_client]") {
    const Driven first = drive(11, "a");
    const Driven second = drive(11, "b");
    CHECK(first.status_crashed == "false");  // restarted
    CHECK(first.trace.find(" node.crash ") != std::string::npos);
    CHECK(first.trace.find(" process.spawn ") != std::string::npos);
    // The runs' traces differ only in the paths of their temp directories.
    auto normalise = [](std::string text, const std::string& from) {
        for (std::size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), "DIR");
        return text;
    };
    const std::string pid = std::to_string(::getpid());
    CHECK(normalise(first.trace, "marionette-client-" + pid + "-a") ==
          normalise(second.trace, "marionette-client-" + pid + "-b"));
}
