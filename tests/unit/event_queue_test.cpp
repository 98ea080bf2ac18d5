// Tests for sim/event_queue: ordering, cancellation, deadlines and the clock.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sim/event_queue.hpp"

using marionette::EventQueue;
using marionette::Ns;
using marionette::TimerId;

TEST_CASE("events run by time, then by scheduling order for ties", "[event_queue]") {
    EventQueue queue;
    std::vector<std::string> ran;
    auto record = [&](std::string label) { return [&ran, label] { ran.push_back(label); }; };
    queue.schedule_at(30, record("c30"));
    queue.schedule_at(10, record("a10"));
    queue.schedule_at(20, record("b20-first"));
    queue.schedule_at(20, record("b20-second"));
    queue.schedule_at(10, record("a10-second"));
    queue.schedule_at(20, record("b20-third"));
    queue.schedule_at(0, record("z0"));
    CHECK(queue.size() == 7);
    CHECK(queue.run_until(100) == 7);
    CHECK(ran == std::vector<std::string>{"z0", "a10", "a10-second", "b20-first", "b20-second", "b20-third", "c30"});
    CHECK(queue.size() == 0);
}

TEST_CASE("many ties keep insertion order regardless of heap layout", "[event_queue]") {
    EventQueue queue;
    std::vector<int> ran;
    // Interleave two instants so the heap reorders internally.
    for (int i = 0; i < 200; ++i) {
        queue.schedule_at(i % 2 == 0 ? 50 : 40, [&ran, i] { ran.push_back(i); });
    }
    queue.run_until(50);
    REQUIRE(ran.size() == 200);
    for (std::size_t k = 0; k < 100; ++k) CHECK(ran[k] == static_cast<int>(2 * k + 1));
    for (std::size_t k = 0; k < 100; ++k) CHECK(ran[100 + k] == static_cast<int>(2 * k));
}

TEST_CASE("step runs one event and moves the clock to it", "[event_queue]") {
    EventQueue queue(5);
    CHECK(queue.now_ns() == 5);
    int ran = 0;
    queue.schedule_after(10, [&] { ++ran; });
    queue.schedule_after(20, [&] { ++ran; });
    CHECK(queue.next_at() == Ns{15});
    CHECK(queue.step());
    CHECK(ran == 1);
    CHECK(queue.now_ns() == 15);
    CHECK(queue.step());
    CHECK(queue.now_ns() == 25);
    CHECK_FALSE(queue.step());
    CHECK(queue.now_ns() == 25);
    CHECK(ran == 2);
}

TEST_CASE("step on an empty queue changes nothing", "[event_queue]") {
    EventQueue queue(42);
    CHECK_FALSE(queue.step());
    CHECK(queue.now_ns() == 42);
    CHECK_FALSE(queue.next_at().has_value());
    CHECK(queue.size() == 0);
}

TEST_CASE("cancel: pending, already run, already cancelled, unknown", "[event_queue]") {
    EventQueue queue;
    int a = 0;
    int b = 0;
    const TimerId ta = queue.schedule_at(10, [&] { ++a; });
    const TimerId tb = queue.schedule_at(20, [&] { ++b; });
    CHECK(ta != tb);
    CHECK(queue.pending(ta));
    CHECK(queue.cancel(tb));
    CHECK_FALSE(queue.pending(tb));
    CHECK_FALSE(queue.cancel(tb));  // already cancelled
    CHECK(queue.size() == 1);
    CHECK(queue.run_until(100) == 1);  // the cancelled one is not counted
    CHECK(a == 1);
    CHECK(b == 0);
    CHECK_FALSE(queue.pending(ta));
    CHECK_FALSE(queue.cancel(ta));      // already ran
    CHECK_FALSE(queue.cancel(12345));   // never existed
    CHECK_FALSE(queue.cancel(0));
}

TEST_CASE("a cancelled head does not hold back the clock or next_at", "[event_queue]") {
    EventQueue queue;
    const TimerId early = queue.schedule_at(10, [] {});
    queue.schedule_at(30, [] {});
    queue.cancel(early);
    CHECK(queue.next_at() == Ns{30});
    // advance() may go up to the real next event, not stop at the cancelled one.
    CHECK(queue.advance(25) == 25);
}

TEST_CASE("an event can cancel a later one at the same instant", "[event_queue]") {
    EventQueue queue;
    int second = 0;
    TimerId later = 0;
    queue.schedule_at(10, [&] { CHECK(queue.cancel(later)); });
    later = queue.schedule_at(10, [&] { ++second; });
    queue.run_until(10);
    CHECK(second == 0);
}

TEST_CASE("run_until includes the deadline and events scheduled by events", "[event_queue]") {
    EventQueue queue;
    std::vector<Ns> ran_at;
    auto mark = [&] { ran_at.push_back(queue.now_ns()); };
    queue.schedule_at(100, mark);  // exactly at the deadline
    queue.schedule_at(101, mark);  // just after
    queue.schedule_at(40, [&] {
        mark();
        queue.schedule_after(30, mark);   // 70: before the deadline
        queue.schedule_after(60, mark);   // 100: at the deadline
        queue.schedule_after(61, mark);   // 101: after
        queue.schedule_after(0, mark);    // 40: now, after this event
    });
    CHECK(queue.run_until(100) == 5);
    CHECK(ran_at == std::vector<Ns>{40, 40, 70, 100, 100});
    CHECK(queue.now_ns() == 100);
    CHECK(queue.size() == 2);
    CHECK(queue.next_at() == Ns{101});
}

TEST_CASE("the clock ends at the deadline, never before, never moved back", "[event_queue]") {
    EventQueue queue;
    queue.schedule_at(10, [] {});
    CHECK(queue.run_until(1000) == 1);
    CHECK(queue.now_ns() == 1000);
    // An earlier deadline does not move the clock backwards.
    CHECK(queue.run_until(500) == 0);
    CHECK(queue.now_ns() == 1000);
    // run_for is relative to now.
    queue.schedule_after(250, [] {});
    CHECK(queue.run_for(249) == 0);
    CHECK(queue.now_ns() == 1249);
    CHECK(queue.run_for(1) == 1);
    CHECK(queue.now_ns() == 1250);
    // run_for saturates instead of wrapping.
    EventQueue late(UINT64_MAX - 5);
    CHECK(late.run_for(100) == 0);
    CHECK(late.now_ns() == UINT64_MAX);
}

TEST_CASE("scheduling in the past runs now, after what is already due now", "[event_queue]") {
    EventQueue queue(1000);
    std::vector<std::string> ran;
    queue.schedule_at(1000, [&] { ran.push_back("due-now"); });
    const TimerId past = queue.schedule_at(3, [&] { ran.push_back("past"); });
    CHECK(queue.pending(past));
    CHECK(queue.next_at() == Ns{1000});
    queue.run_until(1000);
    CHECK(ran == std::vector<std::string>{"due-now", "past"});
    CHECK(queue.now_ns() == 1000);
}

TEST_CASE("advance never jumps past the next event", "[event_queue]") {
    EventQueue queue;
    CHECK(queue.advance(50) == 50);  // empty queue: free to move
    bool ran = false;
    queue.schedule_at(80, [&] { ran = true; });
    CHECK(queue.advance(10) == 60);
    CHECK(queue.advance(1000) == 80);  // clamped to the event's time
    CHECK_FALSE(ran);                  // advance never runs events
    CHECK(queue.advance(1) == 80);     // still pinned until the event runs
    CHECK(queue.step());
    CHECK(ran);
    CHECK(queue.advance(1) == 81);
    // An event due "now" pins the clock too.
    queue.schedule_after(0, [] {});
    CHECK(queue.advance(5) == 81);
    // Saturates instead of wrapping when empty.
    EventQueue empty(UINT64_MAX - 1);
    CHECK(empty.advance(10) == UINT64_MAX);
}

TEST_CASE("schedule_after saturates at the end of time", "[event_queue]") {
    EventQueue queue(10);
    queue.schedule_after(UINT64_MAX, [] {});
    CHECK(queue.next_at() == Ns{UINT64_MAX});
}
