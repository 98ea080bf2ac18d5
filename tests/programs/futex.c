// Guest: the rest of futex(2) under the scheduler (tests/integration/futex_test.sh).
//   futex waitv          futex_waitv on three words: a timeout on the
//                        virtual clock, EAGAIN on a changed word, then
//                        eight rounds where two threads race to wake it
//                        (which index woke it is the seed's choice)
//   futex pi             a PTHREAD_PRIO_INHERIT mutex contended by four
//                        threads (each yields while holding it), a timed
//                        lock that times out virtually, a robust PI mutex
//                        whose owner dies (EOWNERDEAD)
//   futex pshared anon   a PTHREAD_PROCESS_SHARED mutex and condition
//   futex pshared memfd  variable in MAP_SHARED memory (anonymous, or a
//   futex pshared pi     memfd; a PI mutex in anonymous memory) between a
//                        parent and its forked child
//   futex orphan         a robust process-shared mutex whose owner, a
//                        forked child, ends holding it: EOWNERDEAD for the
//                        parent waiting on it
//   futex task           /proc/self/task lists the tids gettid returns
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void check(int ok, const char* what) {
    if (!ok) {
        printf("FAILED: %s (errno %s)\n", what, strerror(errno));
        exit(1);
    }
}

static long long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

// --- futex_waitv --------------------------------------------------------------

static _Atomic uint32_t words[3];

static long waitv(uint32_t expected, const struct timespec* deadline) {
    struct futex_waitv waiters[3];
    memset(waiters, 0, sizeof waiters);
    for (int i = 0; i < 3; i++) {
        waiters[i].uaddr = (uintptr_t)&words[i];
        waiters[i].val = expected;
        waiters[i].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
    }
    return syscall(SYS_futex_waitv, waiters, 3, 0, deadline, CLOCK_MONOTONIC);
}

static _Atomic int round_go;

static void* waker(void* argument) {
    const int index = (int)(intptr_t)argument;
    while (atomic_load(&round_go) == 0) sched_yield();
    atomic_store(&words[index], 1);
    syscall(SYS_futex, &words[index], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

static int run_waitv(void) {
    // Nobody wakes it: it times out after 2 s of virtual time.
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    const long long start = monotonic_ms();
    deadline.tv_sec += 2;
    long r = waitv(0, &deadline);
    check(r == -1 && errno == ETIMEDOUT, "futex_waitv times out");
    printf("waitv timed out after %lld ms\n", monotonic_ms() - start);
    // A word that is not the expected value: EAGAIN at once.
    atomic_store(&words[1], 7);
    r = waitv(0, NULL);
    check(r == -1 && errno == EAGAIN, "futex_waitv on a changed word");
    printf("waitv on a changed word: EAGAIN\n");
    printf("woken by");
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 3; i++) atomic_store(&words[i], 0);
        atomic_store(&round_go, 0);
        pthread_t threads[2];
        for (int i = 0; i < 2; i++) check(pthread_create(&threads[i], NULL, waker, (void*)(intptr_t)(i + 1)) == 0, "pthread_create");
        atomic_store(&round_go, 1);
        r = waitv(0, NULL);
        // Both wakers may have run before the wait: then EAGAIN.
        if (r >= 0) printf(" %ld", r);
        else if (errno == EAGAIN) printf(" changed");
        else check(0, "futex_waitv woken");
        for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    }
    printf("\n");
    return 0;
}

// --- priority inheritance -----------------------------------------------------

static pthread_mutex_t pi_lock;
static int counter;
static char order[256];
static int order_length;

static void* contend(void* argument) {
    const char name = (char)('a' + (intptr_t)argument);
    for (int k = 0; k < 25; k++) {
        check(pthread_mutex_lock(&pi_lock) == 0, "PI lock");
        const int seen = counter;
        sched_yield();  // others try the lock meanwhile
        counter = seen + 1;
        if (order_length < (int)sizeof order - 1) order[order_length++] = name;
        check(pthread_mutex_unlock(&pi_lock) == 0, "PI unlock");
        if (k % 3 == 0) sched_yield();
    }
    return NULL;
}

static void* timed_lock(void* unused) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    const long long start = monotonic_ms();
    const int r = pthread_mutex_timedlock(&pi_lock, &deadline);
    printf("timedlock on a held PI mutex: %s after %lld ms\n", r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r), monotonic_ms() - start);
    return unused;
}

static pthread_mutex_t robust_pi;

static void* die_holding(void* unused) {
    pthread_mutex_lock(&robust_pi);
    sleep(1);
    return unused;  // ends without unlocking
}

static void make_pi(pthread_mutex_t* mutex, int robust) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    check(pthread_mutexattr_setprotocol(&attributes, PTHREAD_PRIO_INHERIT) == 0, "setprotocol");
    if (robust) pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    check(pthread_mutex_init(mutex, &attributes) == 0, "PI mutex init");
    pthread_mutexattr_destroy(&attributes);
}

static int run_pi(void) {
    make_pi(&pi_lock, 0);
    pthread_t threads[4];
    for (intptr_t i = 0; i < 4; i++) check(pthread_create(&threads[i], NULL, contend, (void*)i) == 0, "pthread_create");
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    printf("pi counter %d (expected 100)\n", counter);
    printf("pi order %s\n", order);
    check(pthread_mutex_trylock(&pi_lock) == 0, "PI trylock of a free mutex");
    pthread_t waiter;
    pthread_create(&waiter, NULL, timed_lock, NULL);
    pthread_join(waiter, NULL);
    pthread_mutex_unlock(&pi_lock);
    make_pi(&robust_pi, 1);
    pthread_t dying;
    pthread_create(&dying, NULL, die_holding, NULL);
    usleep(1000);  // it takes the lock first
    const int r = pthread_mutex_lock(&robust_pi);
    printf("robust PI lock after owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r));
    if (r == EOWNERDEAD) pthread_mutex_consistent(&robust_pi);
    pthread_mutex_unlock(&robust_pi);
    pthread_join(dying, NULL);
    return 0;
}

// --- process-shared -----------------------------------------------------------

struct Shared {
    pthread_mutex_t mutex;
    pthread_cond_t turn_changed;
    int turn;  // 0: parent, 1: child
    int counter;
    int length;
    char order[128];
};

static void take_turns(struct Shared* shared, int me, char name) {
    for (int k = 0; k < 5; k++) {
        pthread_mutex_lock(&shared->mutex);
        while (shared->turn != me) pthread_cond_wait(&shared->turn_changed, &shared->mutex);
        shared->order[shared->length++] = name;
        shared->turn = 1 - me;
        pthread_cond_broadcast(&shared->turn_changed);
        pthread_mutex_unlock(&shared->mutex);
    }
    // Then a free-for-all: each yields while holding the lock.
    for (int k = 0; k < 20; k++) {
        pthread_mutex_lock(&shared->mutex);
        const int seen = shared->counter;
        sched_yield();
        shared->counter = seen + 1;
        shared->order[shared->length++] = name;
        pthread_mutex_unlock(&shared->mutex);
        if (k % 2 == 0) sched_yield();
    }
}

static int run_pshared(const char* kind) {
    struct Shared* shared;
    if (strcmp(kind, "memfd") == 0) {
        const int fd = memfd_create("futex-shared", 0);
        check(fd >= 0 && ftruncate(fd, sizeof *shared) == 0, "memfd");
        shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
    } else {
        shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    }
    check(shared != MAP_FAILED, "mmap");
    pthread_mutexattr_t mutex_attributes;
    pthread_mutexattr_init(&mutex_attributes);
    pthread_mutexattr_setpshared(&mutex_attributes, PTHREAD_PROCESS_SHARED);
    if (strcmp(kind, "pi") == 0) pthread_mutexattr_setprotocol(&mutex_attributes, PTHREAD_PRIO_INHERIT);
    check(pthread_mutex_init(&shared->mutex, &mutex_attributes) == 0, "shared mutex");
    pthread_condattr_t cond_attributes;
    pthread_condattr_init(&cond_attributes);
    pthread_condattr_setpshared(&cond_attributes, PTHREAD_PROCESS_SHARED);
    check(pthread_cond_init(&shared->turn_changed, &cond_attributes) == 0, "shared condvar");
    const pid_t child = fork();
    check(child >= 0, "fork");
    if (child == 0) {
        take_turns(shared, 1, 'c');
        _exit(0);
    }
    take_turns(shared, 0, 'p');
    int status = 0;
    waitpid(child, &status, 0);
    printf("pshared %s counter %d (expected 40) child exit %d\n", kind, shared->counter, WEXITSTATUS(status));
    shared->order[shared->length] = 0;
    printf("pshared %s order %s\n", kind, shared->order);
    return 0;
}

static int run_orphan(void) {
    pthread_mutex_t* mutex = mmap(NULL, sizeof *mutex, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check(mutex != MAP_FAILED, "mmap");
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    check(pthread_mutex_init(mutex, &attributes) == 0, "robust shared mutex");
    const pid_t child = fork();
    check(child >= 0, "fork");
    if (child == 0) {
        pthread_mutex_lock(mutex);
        sleep(1);
        _exit(0);  // ends holding it
    }
    usleep(1000);  // the child takes it first
    const long long start = monotonic_ms();
    const int r = pthread_mutex_lock(mutex);
    printf("robust shared lock after the owner process ended: %s after %lld ms\n", r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r),
           monotonic_ms() - start);
    if (r == EOWNERDEAD) pthread_mutex_consistent(mutex);
    pthread_mutex_unlock(mutex);
    waitpid(child, NULL, 0);
    return 0;
}

// --- /proc/self/task ------------------------------------------------------------

static pthread_barrier_t barrier;
static pid_t thread_tids[2];

static void* report_tid(void* argument) {
    thread_tids[(intptr_t)argument] = (pid_t)syscall(SYS_gettid);
    pthread_barrier_wait(&barrier);  // all alive while listed
    pthread_barrier_wait(&barrier);
    return NULL;
}

static int by_number(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

static int run_task(void) {
    pthread_barrier_init(&barrier, NULL, 3);
    pthread_t threads[2];
    for (intptr_t i = 0; i < 2; i++) pthread_create(&threads[i], NULL, report_tid, (void*)i);
    pthread_barrier_wait(&barrier);
    int listed[16];
    int count = 0;
    DIR* dir = opendir("/proc/self/task");
    check(dir != NULL, "opendir /proc/self/task");
    for (struct dirent* entry; (entry = readdir(dir)) != NULL;) {
        if (entry->d_name[0] != '.' && count < 16) listed[count++] = atoi(entry->d_name);
    }
    closedir(dir);
    qsort(listed, (size_t)count, sizeof listed[0], by_number);
    int expected[3] = {getpid(), thread_tids[0], thread_tids[1]};
    qsort(expected, 3, sizeof expected[0], by_number);
    int same = count == 3;
    for (int i = 0; same && i < 3; i++) same = listed[i] == expected[i];
    printf("task lists %d threads, %s gettid\n", count, same ? "the tids of" : "NOT the tids of");
    // A thread's own directory, by the tid it knows.
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", thread_tids[1]);
    FILE* stat = fopen(path, "r");
    printf("task/<tid>/stat of a thread: %s\n", stat != NULL ? "opened" : strerror(errno));
    if (stat != NULL) fclose(stat);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    printf("tids relative to pid: %d %d\n", thread_tids[0] - getpid(), thread_tids[1] - getpid());
    return 0;
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "waitv") == 0) return run_waitv();
    if (argc >= 2 && strcmp(argv[1], "pi") == 0) return run_pi();
    if (argc >= 3 && strcmp(argv[1], "pshared") == 0) return run_pshared(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "orphan") == 0) return run_orphan();
    if (argc >= 2 && strcmp(argv[1], "task") == 0) return run_task();
    fprintf(stderr, "usage: futex waitv|pi|pshared anon|memfd|pi|orphan|task\n");
    return 2;
}
