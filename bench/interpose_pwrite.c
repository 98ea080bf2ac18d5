// Benchmark guest: 20,000 pwrites of 4 KiB with an fsync every 16, into
// DIR/bench.dat (argv[1]); argv[2] overrides the count.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: interpose_pwrite DIR [COUNT]\n");
        return 2;
    }
    const long count = argc > 2 ? atol(argv[2]) : 20000;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.dat", argv[1]);
    const int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    char block[4096];
    memset(block, 'x', sizeof block);
    for (long i = 0; i < count; ++i) {
        if (pwrite(fd, block, sizeof block, (i % 256) * (long)sizeof block) != (ssize_t)sizeof block) return 3;
        if (i % 16 == 15 && fsync(fd) != 0) return 4;
    }
    close(fd);
    return 0;
}
