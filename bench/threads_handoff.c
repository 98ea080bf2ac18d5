// Benchmark guest (bench/threads_bench.sh): four threads pass a token round a
// ring N times through a mutex and a condition variable each, so every pass
// is a futex wake and a futex wait; then four threads each take a shared
// mutex N times with a little work inside (contention without handoffs).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { threads = 4 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed[threads];
static int turn = 0;
static long rounds = 0;
static long passes = 0;
static unsigned long counter = 0;

static void* ring(void* arg) {
    const int me = (int)(long)arg;
    pthread_mutex_lock(&lock);
    for (long i = 0; i < rounds; ++i) {
        while (turn != me) pthread_cond_wait(&turn_changed[me], &lock);
        passes++;
        turn = (me + 1) % threads;
        pthread_cond_signal(&turn_changed[turn]);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void* contend(void* arg) {
    (void)arg;
    for (long i = 0; i < rounds; ++i) {
        pthread_mutex_lock(&lock);
        for (int k = 0; k < 100; ++k) counter += (unsigned long)k * (unsigned long)i;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char** argv) {
    rounds = argc > 1 ? atol(argv[1]) : 10000;
    pthread_t t[threads];
    for (int i = 0; i < threads; ++i) pthread_cond_init(&turn_changed[i], NULL);
    for (long i = 0; i < threads; ++i) pthread_create(&t[i], NULL, ring, (void*)i);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
    for (long i = 0; i < threads; ++i) pthread_create(&t[i], NULL, contend, NULL);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
    printf("passes %ld counter %lu\n", passes, counter);
    return 0;
}
