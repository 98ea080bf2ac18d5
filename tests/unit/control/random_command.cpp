#include "random_command.hpp"

#include <array>
#include <string_view>
#include <vector>

#include "sim/disk/disk.hpp"

namespace marionette::test {
namespace {

std::uint64_t below(Prng& prng, std::uint64_t bound) { return prng.uint_less_than(bound); }
bool coin(Prng& prng) { return below(prng, 2) == 0; }

std::string node(Prng& prng) {
    static constexpr std::string_view alphabet = "abcxyzABZ019_-";
    std::string out;
    const std::uint64_t length = 1 + below(prng, 8);
    for (std::uint64_t i = 0; i < length; ++i) out += alphabet[below(prng, alphabet.size())];
    if (out.front() == '-') out.front() = 'n';
    if (out == "random") out = "rnd";
    return out;
}

std::string optional_node(Prng& prng) { return coin(prng) ? node(prng) : std::string(); }

Ns duration(Prng& prng) {
    switch (below(prng, 4)) {
        case 0: return below(prng, 1000);
        case 1: return below(prng, 100) * ns_per_ms;
        case 2: return below(prng, 10) * ns_per_s;
        default: return prng.next_u64() >> below(prng, 64);
    }
}

Rate rate(Prng& prng) {
    switch (below(prng, 4)) {
        case 0: return Rate::never();
        case 1: return Rate::always();
        case 2: return Rate::percent(below(prng, 101));
        default: {
            const std::uint64_t d = 1 + below(prng, 1'000'000);
            return Rate::ratio(below(prng, d + 1), d);
        }
    }
}

Action random_action_of(Prng& prng, std::uint64_t kind) {
    switch (kind) {
        case 0: return Crash{optional_node(prng)};
        case 1: return Kill{optional_node(prng)};
        case 2: return Restart{optional_node(prng)};
        case 3: {
            DiskSetFaults c{optional_node(prng), {}};
            for (std::string_view key : disk_fault_keys()) {
                if (coin(prng)) c.faults.push_back({std::string(key), rate(prng)});
            }
            if (c.faults.empty()) c.faults.push_back({"crash_torn_write_rate", rate(prng)});
            return c;
        }
        case 4: return DiskCorruptSector{optional_node(prng), random_text(prng, 40), prng.next_u64() >> below(prng, 64)};
        case 5: {
            NetPartition c;
            const std::uint64_t groups = 2 + below(prng, 3);
            std::uint64_t id = 0;
            for (std::uint64_t g = 0; g < groups; ++g) {
                std::vector<std::string> group;
                const std::uint64_t members = 1 + below(prng, 3);
                for (std::uint64_t m = 0; m < members; ++m) group.push_back("n" + std::to_string(id++));
                c.groups.push_back(std::move(group));
            }
            return c;
        }
        case 6: return NetHeal{};
        case 7: {
            NetSetOptions c{NetOptionGroup::lossiness, {}};
            if (coin(prng)) c.settings.emplace_back("duplicate_rate", rate_text(rate(prng)));
            c.settings.emplace_back("drop_rate", rate_text(rate(prng)));
            if (coin(prng)) c.settings.emplace_back("path_clog_duration_ns", format_duration(duration(prng)));
            return c;
        }
        case 8: {
            NetSetOptions c{coin(prng) ? NetOptionGroup::latency : NetOptionGroup::all, {}};
            const std::uint64_t which = below(prng, 3);
            if (which != 1) c.settings.emplace_back("latency_ns_min", format_duration(duration(prng)));
            if (which != 0) c.settings.emplace_back("latency_ns_jitter", format_duration(duration(prng)));
            return c;
        }
        case 9: return NetClog{"a" + node(prng), "b" + node(prng), duration(prng)};
        case 10: return coin(prng) ? NetUnclog{} : NetUnclog{"a" + node(prng), "b" + node(prng)};
        default: {
            Spawn c{node(prng), optional_node(prng), {}};
            const std::uint64_t args = 1 + below(prng, 5);
            for (std::uint64_t i = 0; i < args; ++i) c.argv.push_back(coin(prng) ? random_text(prng, 12) : "--");
            if (c.argv.front().empty()) c.argv.front() = "prog";
            return c;
        }
    }
}

}  // namespace

std::string random_text(Prng& prng, std::size_t max_bytes) {
    static constexpr std::array<std::string_view, 16> pieces = {
        "a", "Z", "0", " ", "'", "\"", "\\", "#", "=", "%", "--", "é", "\t", "/", "$x", "data/wal",
    };
    std::string out;
    const std::uint64_t count = 1 + below(prng, max_bytes);
    while (out.size() < count) out += pieces[below(prng, pieces.size())];
    return out;
}

Action random_action(Prng& prng) { return random_action_of(prng, below(prng, 12)); }

Command random_command(Prng& prng) {
    switch (below(prng, 15)) {
        case 0: return Hello{coin(prng) ? std::optional<std::uint64_t>(below(prng, 5)) : std::nullopt};
        case 1: return coin(prng) ? Command(Status{}) : Command(Quit{});
        case 2: return TraceRead{coin(prng) ? below(prng, 100000) : 0};
        case 3: {
            const auto mode = static_cast<Run::Mode>(below(prng, 4));
            if (mode == Run::Mode::until_exit) return Run{mode, 0, optional_node(prng)};
            return Run{mode, mode == Run::Mode::until_idle ? 0 : duration(prng), {}};
        }
        case 4: return At{duration(prng), random_action(prng)};
        case 5: {
            static constexpr std::array<std::string_view, 4> events = {"disk.write", "disk.fsync", "net.deliver",
                                                                       "process.exit"};
            return After{1 + below(prng, 1000), std::string(events[below(prng, events.size())]), random_action(prng)};
        }
        case 6: {
            const Ns from = duration(prng) >> 1;
            return CrashRandom{from, from + (duration(prng) >> 1), optional_node(prng)};
        }
        case 7: return ExpectExit{optional_node(prng), static_cast<int>(below(prng, 256))};
        case 8: return ExpectOutput{node(prng), random_text(prng, 30)};
        case 9: {
            if (coin(prng)) return NetForce{"only", {}, {}, 0, 0, {}};
            static constexpr std::array<std::string_view, 4> kinds = {"drop", "duplicate", "clog", "reset"};
            std::string from = node(prng);
            std::string to = node(prng);
            if (to == from) to += "x";
            return NetForce{std::string(kinds[below(prng, kinds.size())]), from, to, 1 + below(prng, 100000), 0, {}};
        }
        case 10: {
            if (coin(prng)) return NetForce{"partial_write", {}, {}, 1 + below(prng, 1000), 1 + below(prng, 1000), {}};
            if (coin(prng)) return NetForce{"heal", {}, {}, 1 + below(prng, 1000), 0, {}};
            return NetForce{"partition", {}, {}, 1 + below(prng, 1000), 0, {node(prng), node(prng)}};
        }
        case 11: {
            if (coin(prng)) return DiskForce{"only", {}, 0, 0, {}};
            if (coin(prng)) {
                std::string mask;
                for (std::uint64_t i = 1 + below(prng, 8); i > 0; --i) mask += coin(prng) ? '1' : '0';
                return DiskForce{"torn", node(prng), 1 + below(prng, 5), 1 + below(prng, 1000), mask};
            }
            if (coin(prng)) return DiskForce{"lost", node(prng), 1 + below(prng, 5), 1 + below(prng, 1000), {}};
            const std::vector<std::string_view>& kinds = disk_forced_fault_kinds();
            return DiskForce{std::string(kinds[below(prng, kinds.size())]), node(prng), 1 + below(prng, 100000), 0, {}};
        }
        default: return to_command(random_action(prng));
    }
}

}  // namespace marionette::test
