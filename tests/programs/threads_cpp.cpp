// Guest: C++ threads (std::thread, std::async, std::condition_variable with
// wait_for, std::this_thread::sleep_for) under the scheduler. The order in
// which the workers log is the seed's choice; the times are virtual.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() {
    std::mutex mutex;
    std::condition_variable done_changed;
    std::vector<int> log;
    int done = 0;
    int timed_out_waits = 0;
    std::vector<std::thread> workers;
    for (int id = 0; id < 4; ++id) {
        workers.emplace_back([&, id] {
            for (int k = 0; k < 4; ++k) {
                {
                    std::lock_guard guard(mutex);
                    log.push_back(id);
                }
                std::this_thread::yield();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10 * (id + 1)));
            {
                std::lock_guard guard(mutex);
                ++done;
            }
            done_changed.notify_all();
        });
    }
    const auto start = std::chrono::steady_clock::now();
    auto answer = std::async(std::launch::async, [] {
        std::this_thread::sleep_for(25ms);
        return 42;
    });
    {
        std::unique_lock lock(mutex);
        while (done < 4) {
            if (!done_changed.wait_for(lock, 3ms, [&] { return done == 4; })) ++timed_out_waits;
        }
    }
    for (std::thread& worker : workers) worker.join();
    const long elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    std::printf("log");
    for (int id : log) std::printf(" %d", id);
    std::printf("\nasync %d timed_out_waits %d elapsed_ms %ld\n", answer.get(), timed_out_waits, elapsed_ms);
    return 0;
}
