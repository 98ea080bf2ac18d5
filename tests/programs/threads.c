// Guest: a program that starts a thread. Interleaving is not deterministic
// yet: Marionette must say so on stderr and in the trace (thread.create),
// and the thread's own tid must be virtual.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void* worker(void* arg) {
    *(pid_t*)arg = gettid();
    return NULL;
}

int main(void) {
    pthread_t thread;
    pid_t tid = 0;
    pthread_create(&thread, NULL, worker, &tid);
    pthread_join(thread, NULL);
    printf("thread_tid_is_pid_plus_1 %d\n", tid == getpid() + 1);
    return 0;
}
