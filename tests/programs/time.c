// Guest: every clock the program can read, plus sleeps. Under Marionette the
// output is a function of the seed (here: of nothing but the call count, as
// time does not depend on the seed) and sleeping costs no wall time.
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void show(const char* name, clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) {
        printf("%s error\n", name);
        return;
    }
    printf("%s %lld.%09ld\n", name, (long long)ts.tv_sec, ts.tv_nsec);
}

int main(void) {
    show("realtime", CLOCK_REALTIME);
    show("monotonic", CLOCK_MONOTONIC);
    show("boottime", CLOCK_BOOTTIME);
    show("realtime_coarse", CLOCK_REALTIME_COARSE);
    show("process_cputime", CLOCK_PROCESS_CPUTIME_ID);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    printf("time %lld\n", (long long)time(NULL));
    // glibc-internal read through its cached vDSO pointer: only the vDSO
    // redirection can see this one.
    struct timespec internal;
    timespec_get(&internal, TIME_UTC);
    printf("timespec_get %lld\n", (long long)internal.tv_sec);
    // Raw syscall: only the seccomp trap can see this one.
    struct timespec raw;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &raw);
    printf("raw_monotonic %lld.%09ld\n", (long long)raw.tv_sec, raw.tv_nsec);
    sleep(100);
    show("after_sleep_100s", CLOCK_MONOTONIC);
    // The sleep idioms of older code: select and poll without descriptors.
    struct timeval wait = {2, 500000};
    select(0, NULL, NULL, NULL, &wait);
    poll(NULL, 0, 1500);
    show("after_select_poll_4s", CLOCK_MONOTONIC);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 3600;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
    show("after_abs_sleep_1h", CLOCK_MONOTONIC);
    // A busy-wait on the clock must terminate: each read costs virtual time.
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long spins = 0;
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
        ++spins;
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 1000000L);
    printf("busy_wait_1ms_spins %ld\n", spins);
    char text[64];
    time_t t = time(NULL);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    printf("date %s\n", text);
    return 0;
}
