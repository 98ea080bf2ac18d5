#include "launcher/demo.hpp"

#include "sim/buggify.hpp"
#include "sim/event_queue.hpp"
#include "sim/random.hpp"
#include "sim/rate.hpp"

namespace marionette {

// A client sends a request every 500ms (plus jitter) to a server whose reply
// takes 1–50ms and is lost at `loss_percent`; a lost reply is retried after a
// 200ms timeout, and a BUGGIFY hook occasionally delays a send. Each piece
// draws from its own stream, so changing the loss rate never moves the
// jitter of the client's schedule.
std::uint64_t run_demo(std::uint64_t seed, const DemoOptions& options, Trace& trace) {
    EventQueue queue;
    trace.set_clock([&queue] { return queue.now_ns(); });
    const Prng root(seed);
    Prng schedule = root.derive("demo.schedule");
    Prng latency = root.derive("demo.latency");
    Prng loss = root.derive("demo.loss");
    Buggify buggify(root.derive("buggify"), trace);
    const Rate loss_rate = Rate::percent(options.loss_percent);

    std::uint64_t next_request = 0;
    std::uint64_t replies = 0;
    std::function<void(std::uint64_t, std::uint64_t)> send;
    send = [&](std::uint64_t request, std::uint64_t attempt) {
        const Ns delay_ns = latency.uint_in_range(1 * ns_per_ms, 50 * ns_per_ms);
        const RateRoll lost = loss_rate.roll(loss);
        trace.emit("demo.send", {{"request", request}, {"attempt", attempt}, {"latency_ns", delay_ns}});
        if (lost.fired) {
            trace.emit("demo.drop", {{"request", request}, {"rate", loss_rate.to_string()}, {"roll", lost.roll}});
            queue.schedule_after(200 * ns_per_ms, [&, request, attempt] {
                trace.emit("demo.timeout", {{"request", request}, {"attempt", attempt}});
                send(request, attempt + 1);
            });
            return;
        }
        queue.schedule_after(delay_ns, [&, request] {
            ++replies;
            trace.emit("demo.reply", {{"request", request}});
        });
    };
    std::function<void()> tick;
    tick = [&] {
        const std::uint64_t request = next_request++;
        if (buggify.fire("demo.slow_send", Rate::one_in(10))) {
            queue.schedule_after(100 * ns_per_ms, [&, request] { send(request, 0); });
        } else {
            send(request, 0);
        }
        queue.schedule_after(500 * ns_per_ms + schedule.uint_less_than(100 * ns_per_ms), tick);
    };
    trace.emit("demo.start", {{"duration_ns", options.duration_ns}, {"loss_rate", loss_rate.to_string()}});
    queue.schedule_after(0, tick);
    queue.run_for(options.duration_ns);
    trace.emit("demo.end", {{"requests", next_request}, {"replies", replies}});
    // The queue dies with this frame: leave the trace a clock that does not
    // point into it, pinned at the final time so later events stay ordered.
    trace.set_clock([end_ns = queue.now_ns()] { return end_ns; });
    return replies;
}

}  // namespace marionette
