// The simulated kernel: seeded randomness and identity, trace lines.
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "launcher/program_run.hpp"
#include "sim/kernel/kernel.hpp"

using namespace marionette;

namespace {

struct Captured {
    std::vector<std::string> lines;
    EventSink sink() {
        return EventSink{[](void* self, std::string_view line) { static_cast<Captured*>(self)->lines.emplace_back(line); }, this};
    }
};

KernelOptions with_seed(std::uint64_t seed) {
    KernelOptions options;
    options.seed = seed;
    return options;
}

std::array<std::byte, 32> draw(Kernel& kernel) {
    std::array<std::byte, 32> bytes{};
    REQUIRE(kernel.getrandom(bytes, 0) == 32);
    return bytes;
}

}  // namespace

TEST_CASE("getrandom is a function of the seed", "[kernel]") {
    Kernel a(with_seed(7)), b(with_seed(7)), c(with_seed(8));
    const auto first = draw(a);
    CHECK(first == draw(b));
    CHECK(first != draw(c));
    CHECK(draw(a) != first);  // the stream moves on
}

TEST_CASE("getrandom rejects unknown flags", "[kernel]") {
    Kernel kernel(with_seed(1));
    std::array<std::byte, 4> bytes{};
    CHECK(kernel.getrandom(bytes, 0x100) == -EINVAL);
    CHECK(kernel.getrandom(bytes, grnd_insecure | grnd_random) == -EINVAL);
    CHECK(kernel.getrandom(bytes, grnd_nonblock | grnd_random) == 4);
}

TEST_CASE("AT_RANDOM bytes come from their own stream", "[kernel]") {
    Kernel a(with_seed(3)), b(with_seed(3));
    std::array<std::byte, 16> at_random{};
    a.fill_at_random(at_random);
    // Drawing AT_RANDOM does not shift what getrandom returns.
    CHECK(draw(a) == draw(b));
}

TEST_CASE("processes of one run get distinct streams and identities", "[kernel]") {
    KernelOptions first = with_seed(5), second = with_seed(5);
    second.process_index = 1;
    Kernel a(first), b(second);
    CHECK(draw(a) != draw(b));
    CHECK(a.pid() != b.pid());
}

TEST_CASE("identity is seeded, stable and plausible", "[kernel]") {
    Kernel a(with_seed(11)), b(with_seed(11)), c(with_seed(12));
    CHECK(a.pid() == b.pid());
    CHECK(a.ppid() == b.ppid());
    CHECK((a.pid() != c.pid() || a.ppid() != c.ppid()));
    CHECK(a.pid() >= 1000);
    CHECK(a.pid() != a.ppid());
    CHECK(a.hostname() == "node0");
}

TEST_CASE("threads get virtual tids in order of first sight and map back", "[kernel]") {
    Kernel kernel(with_seed(1));
    const std::int32_t real_pid = 4242;
    CHECK(kernel.tid_for(real_pid, real_pid) == kernel.pid());
    CHECK(kernel.tid_for(5000, real_pid) == kernel.pid() + 1);
    CHECK(kernel.tid_for(4999, real_pid) == kernel.pid() + 2);
    CHECK(kernel.tid_for(5000, real_pid) == kernel.pid() + 1);
    CHECK(kernel.real_id_for(kernel.pid(), real_pid) == real_pid);
    CHECK(kernel.real_id_for(kernel.pid() + 2, real_pid) == 4999);
    CHECK(kernel.real_id_for(77, real_pid) == 77);  // not ours: unchanged
}

TEST_CASE("a long hostname is truncated to what uname holds", "[kernel]") {
    KernelOptions options = with_seed(1);
    const std::string long_name(100, 'h');
    options.hostname = long_name;
    Kernel kernel(options);
    CHECK(kernel.hostname().size() == Kernel::hostname_capacity - 1);
}

TEST_CASE("kernel events are lines the launcher parses back", "[kernel]") {
    Captured captured;
    Kernel kernel(with_seed(1));
    kernel.set_sink(captured.sink());
    kernel.emit_start();
    REQUIRE(kernel.clock_nanosleep(clock_monotonic, false, TimeSpec{2, 0}) == 0);
    draw(kernel);
    kernel.emit_escape("syscall", "settimeofday");
    kernel.emit_thread_create();
    REQUIRE(captured.lines.size() == 5);
    const TraceEvent sleep = parse_shim_line(captured.lines[1].substr(0, captured.lines[1].size() - 1));
    CHECK(sleep.name == "time.sleep");
    CHECK(sleep.at_ns == 1000);  // one call's cost before the sleep
    REQUIRE(sleep.find("duration_ns") != nullptr);
    CHECK(value_text(*sleep.find("duration_ns")) == "2000000000");
    const TraceEvent random = parse_shim_line(captured.lines[2].substr(0, captured.lines[2].size() - 1));
    CHECK(random.name == "random.getrandom");
    CHECK(random.at_ns == 2 * ns_per_s + 2000);
    const TraceEvent thread = parse_shim_line(captured.lines[4].substr(0, captured.lines[4].size() - 1));
    CHECK(value_text(*thread.find("warning")) == "this thread is not scheduled: its interleaving is not deterministic");
}

TEST_CASE("a sleep across the virtual time limit wakes at the limit", "[kernel][timeout]") {
    KernelOptions options = with_seed(1);
    options.virtual_timeout_ns = 10 * ns_per_s;
    Kernel kernel(options);
    Captured captured;
    kernel.set_sink(captured.sink());
    CHECK_FALSE(kernel.past_deadline());
    REQUIRE(kernel.clock_nanosleep(clock_monotonic, false, TimeSpec{3600, 0}) == 0);
    CHECK(kernel.clock().elapsed_ns() == 10 * ns_per_s);
    CHECK(kernel.past_deadline());
    kernel.emit_virtual_timeout();
    REQUIRE(captured.lines.size() == 2);
    // The sleep began after one call's cost (1 us) and lasted until the limit
    // (each line ends in a newline, as the shim writes it).
    CHECK(captured.lines[0] == "time.sleep at_ns=1000 clock=monotonic mode=relative duration_ns=9999999000\n");
    CHECK(captured.lines[1] == "process.virtual_timeout at_ns=10000000000 timeout_ns=10000000000\n");
}

TEST_CASE("without a limit a long sleep runs to its end", "[kernel][timeout]") {
    Kernel kernel(with_seed(1));
    REQUIRE(kernel.clock_nanosleep(clock_monotonic, false, TimeSpec{3600, 0}) == 0);
    CHECK(kernel.clock().elapsed_ns() == 3600 * ns_per_s + 1000);
    CHECK_FALSE(kernel.past_deadline());
}

TEST_CASE("the time-stamp counter is per machine: a function of the seed and the node", "[kernel]") {
    KernelOptions first_process = with_seed(7);
    KernelOptions second_process = with_seed(7);
    second_process.process_index = 3;  // another process of the same node
    KernelOptions other_node = with_seed(7);
    other_node.node_index = 1;
    Kernel a(first_process), b(second_process), c(with_seed(8)), d(other_node);
    const std::uint64_t base = a.clock().options().start_monotonic_ns;
    const std::uint64_t tsc = a.read_tsc();
    CHECK(tsc >= base);
    CHECK(tsc < base + 2 * ns_per_s);  // the offset stays below one second
    CHECK(b.read_tsc() == tsc);        // processes of one machine share it
    CHECK(c.read_tsc() != tsc);
    CHECK(d.read_tsc() != tsc);
    CHECK(a.read_tsc() > tsc);  // each read is a charged call: time moves
}
