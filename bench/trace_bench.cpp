// Trace micro benchmark (issue 13): the cost of Trace::emit alone.
//
// Emits a fixed mix of events shaped like the network model's hot path (per
// round trip: four net.send with twelve fields, four net.deliver with three)
// plus one event in 64 with values that need escaping, and reports events
// per CPU second for each way a trace is used: hashed only (what `--verify`
// needs), text written, JSON Lines written, and events kept in memory.
// Each mode also prints checksums (the trace hash, FNV-1a of the bytes
// written and of the summary block), so a change to the trace code can be
// checked to leave every byte alone. Not a test: no thresholds.
//
//   marionette_trace_bench [events] [repeat] [hashed|text|jsonl|kept]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "sim/random.hpp"
#include "sim/trace.hpp"

namespace {

using namespace marionette;

/// CPU time of this process: the machine is shared, so wall time would
/// measure the neighbours.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// A stream buffer that only hashes what is written to it (FNV-1a 64), so
/// the written bytes can be compared without keeping them.
class HashingBuf : public std::streambuf {
public:
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    std::uint64_t bytes = 0;

protected:
    int_type overflow(int_type c) override {
        if (c != traits_type::eof()) {
            const char ch = traits_type::to_char_type(c);
            xsputn(&ch, 1);
        }
        return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        hash = fnv1a64(std::string_view(s, static_cast<std::size_t>(n)), hash);
        bytes += static_cast<std::uint64_t>(n);
        return n;
    }
};

void emit_events(Trace& trace, Ns& now, std::uint64_t events) {
    std::uint64_t id = 0;
    for (std::uint64_t i = 0; i < events; ++i) {
        now += 25'000;
        if (i % 64 == 63) {
            trace.emit("app.odd", {{"text", "a b=c%d\\e\n\xff"}, {"empty", ""}, {"big", ~std::uint64_t{0}},
                                   {"neg", std::int64_t{-9'223'372'036'854'775'807} - 1}, {"yes", true},
                                   {"no", false}});
        } else if (i % 2 == 0) {
            trace.emit("net.send", {{"id", id}, {"from", 0}, {"to", 1}, {"proto", "tcp"}, {"src", "10.0.0.1:49152"},
                                    {"dst", "10.0.0.2:7000"}, {"flags", "ACK|PSH"}, {"seq", 1'000 + 64 * i},
                                    {"ack", 2'000 + 64 * i}, {"bytes", 64}, {"deliver_at_ns", now + 100'000},
                                    {"latency_ns", 100'000}});
        } else {
            trace.emit("net.deliver", {{"id", id++}, {"from", 0}, {"to", 1}});
        }
    }
}

enum class Mode { hashed, text, jsonl, kept };

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::hashed: return "hashed";
        case Mode::text: return "text";
        case Mode::jsonl: return "jsonl";
        case Mode::kept: return "kept";
    }
    return "?";
}

void run(Mode mode, std::uint64_t events, int repeat) {
    double best = 1e30;
    std::uint64_t trace_hash = 0;
    std::uint64_t written_hash = 0;
    std::uint64_t written_bytes = 0;
    std::uint64_t summary_hash = 0;
    for (int r = 0; r < repeat; ++r) {
        HashingBuf buf;
        std::ostream out(&buf);
        const bool writes = mode == Mode::text || mode == Mode::jsonl;
        TraceHeader header;
        header.format = mode == Mode::jsonl ? TraceFormat::jsonl : TraceFormat::text;
        Trace trace(header, writes ? &out : nullptr, mode == Mode::kept);
        Ns now = 0;
        trace.set_clock([&now] { return now; });
        const double start = cpu_seconds();
        emit_events(trace, now, events);
        best = std::min(best, cpu_seconds() - start);
        trace_hash = trace.hash();
        written_hash = buf.hash;
        written_bytes = buf.bytes;
        summary_hash = fnv1a64(trace.summary().format());
    }
    std::printf("%-7s %9.0f events/CPU s (%.0f ns/event)  trace_hash=%016llx written=%llu B/%016llx "
                "summary=%016llx\n",
                mode_name(mode), static_cast<double>(events) / best, best * 1e9 / static_cast<double>(events),
                static_cast<unsigned long long>(trace_hash), static_cast<unsigned long long>(written_bytes),
                static_cast<unsigned long long>(written_hash), static_cast<unsigned long long>(summary_hash));
}

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
    const int repeat = argc > 2 ? std::atoi(argv[2]) : 5;
    const std::string only = argc > 3 ? argv[3] : "";
    std::printf("%llu events, best of %d (hashed: nothing written; text, jsonl: written to a hashing stream; "
                "kept: events kept in memory)\n",
                static_cast<unsigned long long>(events), repeat);
    for (const Mode mode : {Mode::hashed, Mode::text, Mode::jsonl, Mode::kept}) {
        if (only.empty() || only == mode_name(mode)) run(mode, events, repeat);
    }
    return 0;
}
