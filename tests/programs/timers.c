// Guest: timers on the virtual clock. A periodic timerfd read through
// epoll, an alarm whose SIGALRM interrupts a sleep, and setitimer/getitimer.
// Prints what it saw with virtual timestamps; identical in every run.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double start;
static volatile sig_atomic_t alarms = 0;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9 - start;
}

static void on_alarm(int signal) {
    (void)signal;
    ++alarms;
}

int main(void) {
    start = 0;
    start = now();
    const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec every = {{0, 100000000}, {0, 250000000}};  // first at 250 ms, then every 100 ms
    timerfd_settime(timer, 0, &every, NULL);
    const int poller = epoll_create1(0);
    struct epoll_event event = {EPOLLIN, {.fd = timer}};
    epoll_ctl(poller, EPOLL_CTL_ADD, timer, &event);
    for (int i = 0; i < 4; ++i) {
        struct epoll_event ready;
        if (epoll_wait(poller, &ready, 1, -1) != 1) return 1;
        uint64_t expirations = 0;
        if (read(timer, &expirations, sizeof expirations) != sizeof expirations) return 2;
        printf("timerfd fired %llu at %.3f\n", (unsigned long long)expirations, now());
        if (i == 1) usleep(250000);  // miss two periods: the next read counts them
    }
    struct itimerspec left;
    timerfd_gettime(timer, &left);
    printf("next expiry in %.3f, interval %.3f\n", left.it_value.tv_sec + left.it_value.tv_nsec / 1e9,
           left.it_interval.tv_sec + left.it_interval.tv_nsec / 1e9);

    signal(SIGALRM, on_alarm);
    alarm(2);
    const unsigned unslept = sleep(5);
    printf("alarm: %d signal(s), sleep interrupted at %.3f with %u s left\n", (int)alarms, now(), unslept);
    struct itimerval tick = {{0, 500000}, {1, 0}}, current;
    setitimer(ITIMER_REAL, &tick, NULL);
    getitimer(ITIMER_REAL, &current);
    printf("itimer: %ld.%06ld s to go\n", (long)current.it_value.tv_sec, (long)current.it_value.tv_usec);
    while (alarms < 3) pause();
    printf("itimer: %d signals by %.3f\n", (int)alarms, now());
    return 0;
}
