// Benchmark guest: N raw syscall(SYS_getpid) calls. Under Marionette each
// one takes the seccomp trap path (SIGSYS, handler, sigreturn), since a raw
// syscall never reaches a libc symbol wrapper.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
    const long n = argc > 1 ? atol(argv[1]) : 200000;
    long sum = 0;
    for (long i = 0; i < n; ++i) sum += syscall(SYS_getpid) & 1;
    printf("%ld\n", sum >= 0 ? n : 0);
    return 0;
}
