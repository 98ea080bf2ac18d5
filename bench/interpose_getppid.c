// Benchmark guest: N getppid calls through an inline `syscall` instruction,
// so no libc symbol (and no wrapper of the shim) sees them: under
// Marionette every one takes the seccomp trap path (SIGSYS, the shim's
// handler, sigreturn). Timed from outside by bench/channel_bench.sh, with
// N=0 as the start-up baseline.
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

static long raw_getppid(void) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"((long)SYS_getppid) : "rcx", "r11", "memory");
    return result;
}

int main(int argc, char** argv) {
    const long n = argc > 1 ? atol(argv[1]) : 200000;
    long sum = 0;
    for (long i = 0; i < n; ++i) sum += raw_getppid() & 1;
    printf("%ld\n", sum >= 0 ? n : 0);
    return 0;
}
