// Guest: the time-stamp counter read with inline rdtsc and rdtscp, which no
// symbol wrapper can see; Marionette traps them (PR_SET_TSC) and answers
// from the virtual clock. A real SIGSEGV handler still sees real faults.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static sigjmp_buf recover;

static void on_segv(int signal) {
    (void)signal;
    siglongjmp(recover, 1);
}

static uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t rdtscp(uint32_t* aux) {
    uint32_t lo, hi;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(*aux));
    return ((uint64_t)hi << 32) | lo;
}

int main(void) {
    uint32_t aux = 0;
    uint64_t a = rdtsc();
    uint64_t b = rdtscp(&aux);
    printf("rdtsc %llu rdtscp %llu aux %u increasing %d\n", (unsigned long long)a, (unsigned long long)b, aux, b > a);
    // The program's own SIGSEGV handler must still get real faults.
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_segv;
    sigaction(SIGSEGV, &action, NULL);
    if (sigsetjmp(recover, 1) == 0) {
        volatile int* null_pointer = NULL;
        *null_pointer = 1;
        printf("no fault?\n");
    } else {
        printf("caught own segfault\n");
    }
    printf("rdtsc_after_handler %llu\n", (unsigned long long)rdtsc());
    return 0;
}
