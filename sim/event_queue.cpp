#include "sim/event_queue.hpp"

#include <algorithm>
#include <limits>

namespace marionette {

TimerId EventQueue::schedule_at(Ns at_ns, Callback callback) {
    const TimerId id = next_id_++;
    heap_.push(Entry{std::max(at_ns, now_ns_), next_sequence_++, id});
    callbacks_.emplace(id, std::move(callback));
    return id;
}

TimerId EventQueue::schedule_after(Ns delay_ns, Callback callback) {
    const Ns at = delay_ns > std::numeric_limits<Ns>::max() - now_ns_ ? std::numeric_limits<Ns>::max()
                                                                      : now_ns_ + delay_ns;
    return schedule_at(at, std::move(callback));
}

bool EventQueue::cancel(TimerId id) { return callbacks_.erase(id) > 0; }

void EventQueue::drop_cancelled_head() {
    while (!heap_.empty() && !callbacks_.contains(heap_.top().id)) heap_.pop();
}

std::optional<Ns> EventQueue::next_at() {
    drop_cancelled_head();
    if (heap_.empty()) return std::nullopt;
    return heap_.top().at_ns;
}

bool EventQueue::step() {
    drop_cancelled_head();
    if (heap_.empty()) return false;
    const Entry entry = heap_.top();
    heap_.pop();
    auto it = callbacks_.find(entry.id);
    Callback callback = std::move(it->second);
    callbacks_.erase(it);
    now_ns_ = std::max(now_ns_, entry.at_ns);
    callback();
    return true;
}

std::size_t EventQueue::run_until(Ns deadline_ns) {
    std::size_t ran = 0;
    for (;;) {
        const std::optional<Ns> next = next_at();
        if (!next || *next > deadline_ns) break;
        step();
        ++ran;
    }
    now_ns_ = std::max(now_ns_, deadline_ns);
    return ran;
}

std::size_t EventQueue::run_for(Ns duration_ns) {
    const Ns deadline = duration_ns > std::numeric_limits<Ns>::max() - now_ns_ ? std::numeric_limits<Ns>::max()
                                                                               : now_ns_ + duration_ns;
    return run_until(deadline);
}

Ns EventQueue::advance(Ns delta_ns) {
    Ns target = delta_ns > std::numeric_limits<Ns>::max() - now_ns_ ? std::numeric_limits<Ns>::max()
                                                                    : now_ns_ + delta_ns;
    if (const std::optional<Ns> next = next_at()) target = std::min(target, std::max(*next, now_ns_));
    now_ns_ = target;
    return now_ns_;
}

}  // namespace marionette
