// Benchmark guest: N lseek(fd, 0, SEEK_CUR) on DIR/bench.dat (argv[1]).
// Under `marionette-launch --disk DIR` the file lives on the simulated disk
// and every lseek is forwarded to the coordinator (interpose/files.cpp,
// by_fd): one round trip per call and nothing else, so
// (time(N) - time(0)) / N is the cost of one forwarded call.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: interpose_lseek DIR [COUNT]\n");
        return 2;
    }
    const long n = argc > 2 ? atol(argv[2]) : 20000;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.dat", argv[1]);
    const int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        const off_t at = lseek(fd, 0, SEEK_CUR);
        if (at < 0) return 3;
        sum += at;
    }
    close(fd);
    printf("%ld\n", sum == 0 ? n : -1);
    return 0;
}
