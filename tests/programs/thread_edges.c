// Guest: threads at the edges (tests/integration/threads_test.sh).
//   thread_edges spin          a thread spins on an atomic flag, without a
//                              system call, until another thread sets it
//   thread_edges many N        N threads created and joined one after another
//   thread_edges concurrent N  N threads alive at once, then released
//   thread_edges exec          a thread other than the main one calls execve
//   thread_edges fork          a multi-threaded process forks: the child has
//                              one thread, starts its own and exits
//   thread_edges robust        a thread dies holding a robust mutex the main
//                              thread waits for: EOWNERDEAD, not a hang
//   thread_edges signals       a thread waits in sigwait for SIGUSR1 (sent by
//                              pthread_kill) and SIGUSR2 (sent by kill to the
//                              process); sigtimedwait times out virtually
//   thread_edges dlsym         a thread made through pthread_create looked
//                              up with dlsym(RTLD_NEXT) (jemalloc's way), and
//                              RTLD_NEXT still means "after the caller"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int flag;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go = 0;
static int arrived = 0;

static void* set_flag(void* unused) {
    atomic_store(&flag, 1);
    return unused;
}

static void* nothing(void* unused) { return unused; }

static void* sleep_then_set(void* unused) {
    sleep(2);
    atomic_store(&flag, 1);
    return unused;
}

static void* wait_for_go(void* unused) {
    pthread_mutex_lock(&lock);
    arrived++;
    while (!go) pthread_cond_wait(&go_cond, &lock);
    pthread_mutex_unlock(&lock);
    return unused;
}

static void* exec_echo(void* unused) {
    execl("/bin/echo", "echo", "exec from a thread", (char*)NULL);
    perror("execl");
    return unused;
}

static void* block_forever(void* unused) {
    pthread_mutex_lock(&lock);
    while (!go) pthread_cond_wait(&go_cond, &lock);
    pthread_mutex_unlock(&lock);
    return unused;
}

static void* wait_signals(void* unused) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int first = 0, second = 0;
    sigwait(&set, &first);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigwait(&set, &second);
    printf("sigwait got %s then %s\n", first == SIGUSR1 ? "SIGUSR1" : "?", second == SIGUSR2 ? "SIGUSR2" : "?");
    return unused;
}

static pthread_mutex_t robust;

static void* die_holding(void* unused) {
    pthread_mutex_lock(&robust);
    sleep(1);
    return unused;  // ends without unlocking
}

static int tasks(void) {
    DIR* dir = opendir("/proc/self/task");
    int count = 0;
    if (dir == NULL) return -1;
    for (struct dirent* entry; (entry = readdir(dir)) != NULL;) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(dir);
    return count;
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "spin";
    const int n = argc > 2 ? atoi(argv[2]) : 100;
    pthread_t thread;
    if (strcmp(mode, "spin") == 0) {
        pthread_create(&thread, NULL, set_flag, NULL);
        while (!atomic_load(&flag)) {
        }
        pthread_join(thread, NULL);
        printf("flag seen\n");
        return 0;
    }
    if (strcmp(mode, "many") == 0) {
        int created = 0;
        for (int i = 0; i < n; ++i) {
            if (pthread_create(&thread, NULL, nothing, NULL) != 0) break;
            pthread_join(thread, NULL);
            created++;
        }
        printf("created and joined %d\n", created);
        return 0;
    }
    if (strcmp(mode, "concurrent") == 0) {
        pthread_t* threads = calloc((size_t)n, sizeof *threads);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        int created = 0, error = 0;
        while (created < n && (error = pthread_create(&threads[created], &attr, wait_for_go, NULL)) == 0) created++;
        pthread_mutex_lock(&lock);
        go = 1;
        pthread_cond_broadcast(&go_cond);
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < created; ++i) pthread_join(threads[i], NULL);
        printf("created %d arrived %d first_error %s\n", created, arrived, error == 0 ? "none" : strerror(error));
        return 0;
    }
    if (strcmp(mode, "exec") == 0) {
        pthread_t waiting;
        pthread_create(&waiting, NULL, block_forever, NULL);
        pthread_create(&thread, NULL, exec_echo, NULL);
        pthread_join(thread, NULL);
        printf("exec failed\n");
        return 1;
    }
    if (strcmp(mode, "fork") == 0) {
        pthread_t waiting;
        pthread_create(&waiting, NULL, block_forever, NULL);
        fflush(stdout);
        const pid_t child = fork();
        if (child == 0) {
            const int alone = tasks();
            pthread_create(&thread, NULL, nothing, NULL);
            pthread_join(thread, NULL);
            printf("child threads after fork %d\n", alone);
            fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        printf("parent threads %d child exit %d\n", tasks(), WEXITSTATUS(status));
        pthread_mutex_lock(&lock);
        go = 1;
        pthread_cond_broadcast(&go_cond);
        pthread_mutex_unlock(&lock);
        pthread_join(waiting, NULL);
        return 0;
    }
    if (strcmp(mode, "robust") == 0) {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&robust, &attr);
        pthread_create(&thread, NULL, die_holding, NULL);
        const struct timespec moment = {0, 1000000};
        nanosleep(&moment, NULL);  // the thread holds it by now
        const int locked = pthread_mutex_lock(&robust);
        printf("robust lock after owner died: %s\n", locked == EOWNERDEAD ? "EOWNERDEAD" : strerror(locked));
        pthread_mutex_consistent(&robust);
        pthread_mutex_unlock(&robust);
        pthread_join(thread, NULL);
        return 0;
    }
    if (strcmp(mode, "signals") == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        const struct timespec five = {5, 0};
        const int timed = sigtimedwait(&set, NULL, &five);
        clock_gettime(CLOCK_MONOTONIC, &after);
        printf("sigtimedwait %s after %ld s\n", timed == -1 && errno == EAGAIN ? "EAGAIN" : "?", (long)(after.tv_sec - before.tv_sec));
        pthread_create(&thread, NULL, wait_signals, NULL);
        sleep(1);
        pthread_kill(thread, SIGUSR1);
        sleep(1);
        kill(getpid(), SIGUSR2);
        pthread_join(thread, NULL);
        return 0;
    }
    if (strcmp(mode, "dlsym") == 0) {
        typedef int (*create_fn)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
        const create_fn create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        if (create == NULL || create(&thread, NULL, sleep_then_set, NULL) != 0) return 1;
        pthread_join(thread, NULL);
        printf("thread from a looked-up pthread_create set the flag: %d\n", atomic_load(&flag));
        // The program's own next dlsym is the first one after it in the
        // search order, whoever defines it (the shim under Marionette).
        printf("RTLD_NEXT from the program: %s\n", dlsym(RTLD_NEXT, "dlsym") == (void*)&dlsym ? "after the program" : "wrong object");
        printf("unknown symbol: %s\n", dlsym(RTLD_DEFAULT, "marionette_no_such_symbol") == NULL && dlerror() != NULL ? "NULL with dlerror" : "found?");
        return 0;
    }
    fprintf(stderr, "usage: thread_edges spin | many N | concurrent N | exec | fork | robust | signals | dlsym\n");
    return 2;
}
