// How a new thread becomes a scheduled one (threads.cpp), for the two
// ways threads are made: the pthread_create wrapper (threads.cpp) and a
// trapped raw clone or clone3 (clone.cpp). docs/processes.md, "Threads".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "interpose/channel.hpp"

namespace marionette::shim {

/// Live scheduled threads a process may have; one more fails with EAGAIN
/// (docs/processes.md, "Threads").
inline constexpr std::size_t max_scheduled_threads = 4096;

/// A coordinator serves this process, and futex and exit are trapped.
bool threads_schedulable();
/// The process has as many live scheduled threads as Marionette runs.
bool thread_limit_reached();
/// The calling thread is inside glibc's pthread_create, called by the
/// wrapper (its new thread registers in the wrapper's trampoline).
bool inside_pthread_create();

/// The creator's side. Before the thread is made: its start-up is
/// expected (its calls until `arrive` are not reported as unscheduled).
void expect_thread();
/// The thread could not be made: the expectation and the channel go.
void thread_not_made(ThreadChannel& channel);
/// Waits until the new thread has posted `arrive` on its channel.
void wait_for_arrival(const ThreadChannel& channel);
/// Hands the thread's channel to the coordinator (`start`) and parks
/// until the scheduler resumes the creator; returns the new thread's
/// virtual tid (or an error from the coordinator).
long hand_over_thread(const ThreadChannel& channel, std::int32_t real_tid);

/// The new thread's side, before any of the program's code: adopts its
/// channel, posts `arrive` (its real tid also stored in `real_tid_out`,
/// if given) and returns at its first turn with its virtual tid, or 0 if
/// it runs unscheduled.
std::int32_t arrive_as_thread(void* region, std::atomic<std::int32_t>* real_tid_out = nullptr);

}  // namespace marionette::shim
