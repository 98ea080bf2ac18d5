// Guest: a program that blocks every signal and ignores SIGSYS and SIGSEGV
// (as daemons and some runtimes do) must not be able to switch the
// Marionette trap off: raw syscalls and rdtsc stay simulated afterwards.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    signal(SIGSYS, SIG_IGN);
    signal(SIGSEGV, SIG_IGN);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    // The program sees its own view: SIGSYS reported ignored as it set it.
    struct sigaction old;
    sigaction(SIGSYS, NULL, &old);
    printf("sigsys_ignored %d sigint_blocked %d\n", old.sa_handler == SIG_IGN, sigismember(&now, SIGINT));
    printf("raw_pid_matches %d\n", syscall(SYS_getpid) == getpid());
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    printf("rdtsc_virtual %d\n", hi == 0xe8 || (((uint64_t)hi << 32) | lo) < 2000000000000ULL);
    unsigned char b[8];
    syscall(SYS_getrandom, b, sizeof b, 0);
    printf("random %02x%02x%02x%02x\n", b[0], b[1], b[2], b[3]);
    return 0;
}
