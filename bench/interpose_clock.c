// Benchmark guest: N clock_gettime(CLOCK_MONOTONIC) calls through libc.
// Timed from outside by bench/interpose_bench.sh (under Marionette the
// program's own clock is virtual), with N=0 as the start-up baseline.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
    const long n = argc > 1 ? atol(argv[1]) : 5000000;
    struct timespec ts;
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sum += ts.tv_nsec & 1;
    }
    printf("%ld\n", sum >= 0 ? n : 0);
    return 0;
}
