// Guest for the shared-memory channel's fault tests
// (tests/integration/channel_test.sh, include/marionette/channel.hpp).
//   channel calls N      N forwarded calls (fstat of a file in TMPDIR, on
//                        the simulated disk), then prints what it saw
//   channel park         forks a child that says "parked" on stderr and
//                        computes forever; the parent waits for it, parked
//                        in the scheduler
//   channel busy         says "busy" on stderr, then forwards calls forever
//   channel scribble     a thread keeps overwriting the channel's request
//                        word, as a wild pointer in a buggy program could,
//                        while the main thread makes forwarded calls
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_scratch(void) {
    const char* dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/channel-guest", dir != NULL ? dir : "/tmp");
    const int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        exit(1);
    }
    return fd;
}

/// The start of the channel region the shim mapped (named after its memfd).
static unsigned char* find_channel(void) {
    FILE* maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) return NULL;
    char line[512];
    unsigned long start = 0;
    while (fgets(line, sizeof line, maps) != NULL) {
        if (strstr(line, "memfd:marionette-channel") != NULL && sscanf(line, "%lx-", &start) == 1) break;
        start = 0;
    }
    fclose(maps);
    return (unsigned char*)start;
}

static volatile uint32_t* scribbled;

static void* scribble(void* unused) {
    (void)unused;
    for (uint32_t i = 0;; ++i) *scribbled = 0x5c000000u + i;
    return NULL;
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "calls";
    const int fd = open_scratch();
    struct stat st;
    if (strcmp(mode, "calls") == 0) {
        const long n = argc > 2 ? atol(argv[2]) : 1000;
        long sizes = 0;
        for (long i = 0; i < n; ++i) {
            if (fstat(fd, &st) != 0) return 2;
            sizes += st.st_size;
        }
        if (write(fd, "x", 1) != 1 || fstat(fd, &st) != 0) return 3;
        printf("calls %ld size %ld\n", n, (long)st.st_size + sizes);
        return 0;
    }
    if (strcmp(mode, "park") == 0) {
        // The child computes forever without a call (so it keeps the turn);
        // the parent waits for it, parked in the scheduler, whichever of
        // the two runs first after the fork.
        const pid_t child = fork();
        if (child == 0) {
            fprintf(stderr, "parked\n");
            for (volatile unsigned long spin = 0;; ++spin) {
            }
        }
        waitpid(child, NULL, 0);
        return 0;
    }
    if (strcmp(mode, "busy") == 0) {
        fprintf(stderr, "busy\n");
        for (;;) {
            if (fstat(fd, &st) != 0) return 2;
        }
    }
    if (strcmp(mode, "scribble") == 0) {
        // Between two calls the shim rewrites every word it posts, so a
        // stray write then does no harm; one that lands while a request is
        // posted does. A thread keeps writing the first channel's
        // request_seq (right after the 64-byte region header) while this
        // one makes forwarded calls, until the coordinator notices.
        scribbled = (volatile uint32_t*)(find_channel() + 64);
        if ((unsigned char*)scribbled == (unsigned char*)64) {
            fprintf(stderr, "no channel mapped\n");
            return 4;
        }
        pthread_t thread;
        pthread_create(&thread, NULL, scribble, NULL);
        for (long i = 0; i < 100000000; ++i) fstat(fd, &st);
        printf("scribbled and went on\n");
        return 0;
    }
    fprintf(stderr, "usage: channel calls N | park | busy | scribble\n");
    return 2;
}
