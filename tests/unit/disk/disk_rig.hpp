// Test helpers for the disk model: a Disk over a MemStore with its own
// clock and an in-memory trace, plus byte/string conversions and access to
// trace lines without their event numbers.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sim/disk/disk.hpp"

namespace marionette::test {

inline std::vector<std::byte> bytes(std::string_view text) {
    std::vector<std::byte> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
    return out;
}

inline std::string text(std::span<const std::byte> data) {
    std::string out(data.size(), '\0');
    for (std::size_t i = 0; i < data.size(); ++i) out[i] = static_cast<char>(data[i]);
    return out;
}

struct DiskRig {
    EventQueue clock;
    Trace trace{TraceHeader{}, nullptr, true};
    MemStore store;
    Disk disk;

    /// A disk over the rig's MemStore, or over `backing` if given.
    explicit DiskRig(DiskOptions options = {}, std::uint64_t seed = 1, Store* backing = nullptr)
        : disk(std::move(options), backing != nullptr ? *backing : store, Prng(seed), trace, clock) {
        trace.set_clock([this] { return clock.now_ns(); });
    }

    /// Opens (creating) a file and returns its inode; fails the test on error.
    Ino create(std::string_view path) {
        auto r = disk.open(path, OpenFlags{.create = true});
        if (!r.ok()) throw std::runtime_error("create failed: " + std::string(path));
        return r.value;
    }

    std::uint64_t put(Ino ino, std::uint64_t offset, std::string_view data) {
        auto b = bytes(data);
        return disk.write(ino, offset, b).value;
    }

    /// The whole file as text, read through the model.
    std::string get(Ino ino) {
        auto st = disk.fstat(ino);
        std::vector<std::byte> out(st.value.size);
        auto r = disk.read(ino, 0, out);
        out.resize(r.value);
        return text(out);
    }

    /// The contents at `path` after following it, or "<missing>".
    std::string get(std::string_view path) {
        auto r = disk.open(path, OpenFlags{});
        if (!r.ok()) return "<missing>";
        std::string out = get(r.value);
        disk.close(r.value);
        return out;
    }

    /// Text lines (without `event=<n> `) of every event named `name`.
    std::vector<std::string> lines(std::string_view name) const {
        std::vector<std::string> out;
        for (const TraceEvent& event : trace.events()) {
            if (event.name != name) continue;
            std::string line = render_event(event, TraceFormat::text);
            out.push_back(line.substr(line.find(' ') + 1));
        }
        return out;
    }

    std::string last(std::string_view name) const {
        auto all = lines(name);
        return all.empty() ? std::string() : all.back();
    }
};

}  // namespace marionette::test
