// The virtual clock and its event queue.
//
// A simulation advances only through this queue: `step` runs the earliest
// pending event and moves the clock to its time; `run_until`/`run_for` run
// every event due up to a deadline and leave the clock there. Events due at
// the same instant run in the order they were scheduled (time first, then a
// sequence number), so the order never depends on heap layout or addresses.
// Timers can be cancelled; a cancelled timer never runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "sim/time.hpp"

namespace marionette {

/// Identifies a scheduled event for cancellation. Never reused within a queue.
using TimerId = std::uint64_t;

class EventQueue {
public:
    using Callback = std::function<void()>;

    /// Starts the clock at `start_ns`.
    explicit EventQueue(Ns start_ns = 0) : now_ns_(start_ns) {}

    /// Current virtual time.
    Ns now_ns() const { return now_ns_; }

    /// Schedules `callback` at absolute time `at_ns`; a time in the past is
    /// treated as "now" (it runs at the next step, after earlier-scheduled
    /// events due now).
    TimerId schedule_at(Ns at_ns, Callback callback);

    /// Schedules `callback` `delay_ns` after now.
    TimerId schedule_after(Ns delay_ns, Callback callback);

    /// Cancels a pending event. Returns false if it already ran, was already
    /// cancelled, or never existed.
    bool cancel(TimerId id);

    /// True if the event is scheduled and has neither run nor been cancelled.
    bool pending(TimerId id) const { return callbacks_.contains(id); }

    /// Time of the earliest pending event, if any.
    std::optional<Ns> next_at();

    /// Number of pending (not cancelled) events.
    std::size_t size() const { return callbacks_.size(); }

    /// Runs the earliest pending event, advancing the clock to its time.
    /// Returns false (and changes nothing) if no event is pending.
    bool step();

    /// Runs every event due at or before `deadline_ns` (including ones they
    /// schedule), then sets the clock to `deadline_ns` if it is later.
    /// Returns the number of events run.
    std::size_t run_until(Ns deadline_ns);

    /// run_until(now + duration).
    std::size_t run_for(Ns duration_ns);

    /// Moves the clock forward without running events (the per-call cost of
    /// intercepted calls). Never moves past the next pending event's time,
    /// so no event is skipped; returns the new time.
    Ns advance(Ns delta_ns);

private:
    struct Entry {
        Ns at_ns;
        std::uint64_t sequence;
        TimerId id;
        bool operator>(const Entry& other) const {
            if (at_ns != other.at_ns) return at_ns > other.at_ns;
            return sequence > other.sequence;
        }
    };

    void drop_cancelled_head();

    Ns now_ns_;
    std::uint64_t next_sequence_ = 0;
    TimerId next_id_ = 1;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
    std::unordered_map<TimerId, Callback> callbacks_;
};

}  // namespace marionette
