// Guest: threads under the scheduler. Four workers take a mutex in turn,
// signal a condition variable and sleep; the main thread consumes with a
// timed wait; which worker goes when is the seed's choice, so the order
// line differs between seeds and is identical for one seed. Timed waits
// that nobody ends (condition variable, semaphore, mutex) expire at their
// virtual deadlines, an hour-long sleep in a thread costs no wall time, and
// thread ids are virtual (the first thread's is the pid plus one). It ends
// with a thread still blocked.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static char order[64];
static int n = 0;
static int queue = 0;

static void* worker(void* arg) {
    const long id = (long)arg;
    for (int i = 0; i < 5; ++i) {
        pthread_mutex_lock(&lock);
        order[n++] = (char)('A' + id);
        queue++;
        pthread_cond_signal(&ready);
        pthread_mutex_unlock(&lock);
        sched_yield();
        const struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return (void*)(long)gettid();
}

static void* sleeper(void* arg) {
    (void)arg;
    sleep(3600);
    return NULL;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static struct timespec realtime_in(long ms);

static void* timed_locker(void* arg) {
    (void)arg;
    const struct timespec deadline = realtime_in(2000);
    return (void*)(long)pthread_mutex_timedlock(&held, &deadline);
}

/// Blocked for good when the process exits.
static void* stuck(void* arg) {
    pthread_mutex_lock(&held);
    return arg;
}

static double now_s(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct timespec realtime_in(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

int main(void) {
    pthread_t workers[4];
    for (long i = 0; i < 4; ++i) pthread_create(&workers[i], NULL, worker, (void*)i);
    int taken = 0;
    pthread_mutex_lock(&lock);
    while (taken < 20) {
        while (queue == 0) {
            const struct timespec deadline = realtime_in(1);
            pthread_cond_timedwait(&ready, &lock, &deadline);
        }
        queue--;
        taken++;
    }
    pthread_mutex_unlock(&lock);
    long first_tid = 0;
    for (int i = 0; i < 4; ++i) {
        void* tid;
        pthread_join(workers[i], &tid);
        if (i == 0) first_tid = (long)tid;
    }
    printf("order %s\n", order);
    printf("first_thread_tid_is_pid_plus_1 %d\n", first_tid == getpid() + 1);

    // Waits nobody ends expire on the virtual clock: 2 s each.
    const double before = now_s(CLOCK_MONOTONIC);
    pthread_cond_t never = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&lock);
    struct timespec deadline = realtime_in(2000);
    const int cond = pthread_cond_timedwait(&never, &lock, &deadline);
    pthread_mutex_unlock(&lock);
    sem_t empty;
    sem_init(&empty, 0, 0);
    deadline = realtime_in(2000);
    const int sem = sem_timedwait(&empty, &deadline) == -1 ? errno : 0;
    pthread_mutex_lock(&held);
    pthread_t other;
    pthread_create(&other, NULL, timed_locker, NULL);
    void* locked;
    pthread_join(other, &locked);
    printf("timed_waits cond=%s sem=%s mutex=%s after_s=%.0f\n", cond == ETIMEDOUT ? "ETIMEDOUT" : "?",
           sem == ETIMEDOUT ? "ETIMEDOUT" : "?", (long)locked == ETIMEDOUT ? "ETIMEDOUT" : "?",
           now_s(CLOCK_MONOTONIC) - before);

    const double start = now_s(CLOCK_MONOTONIC);
    pthread_t long_sleeper;
    pthread_create(&long_sleeper, NULL, sleeper, NULL);
    pthread_join(long_sleeper, NULL);
    printf("joined_hour_sleeper after_s=%.0f\n", now_s(CLOCK_MONOTONIC) - start);
    // The process ends with a thread blocked on `held` (Linux ends it too).
    pthread_create(&other, NULL, stuck, NULL);
    sched_yield();
    fflush(stdout);
    return 0;
}
