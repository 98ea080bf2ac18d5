// Guest: a program that blocks every signal and ignores SIGSYS and SIGSEGV
// (as daemons and some runtimes do) must not be able to switch the
// Marionette trap off: raw syscalls and rdtsc stay simulated afterwards.
// And a trapped syscall leaves every register as a real one does (the shim
// returns from its SIGSYS handler without rt_sigreturn when it can).
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

/// A raw getppid with known values in the registers a syscall preserves,
/// the carry flag and a vector register (xmm7, checked through rax = xmm7 -
/// rsi + r10): 1 if all come back unchanged.
static int trap_keeps_registers(void) {
    unsigned long out[10];
    __asm__ volatile(
        "movq $0x1111, %%rbx\n movq $0x3333, %%r12\n movq $0x4444, %%r13\n movq $0x5555, %%r14\n"
        "movq $0x6666, %%r15\n movq $0x7777, %%rdx\n movq $0x8888, %%r8\n movq $0x9999, %%r9\n"
        "movq $0xaaaa, %%r10\n movq $0xbbbb, %%rsi\n movq %%rsi, %%xmm7\n"
        "movq %[nr], %%rax\n stc\n syscall\n setc %%cl\n movzbq %%cl, %%rcx\n"
        "movq %%rcx, 0(%%rdi)\n movq %%rbx, 8(%%rdi)\n movq %%r12, 16(%%rdi)\n movq %%r13, 24(%%rdi)\n"
        "movq %%r14, 32(%%rdi)\n movq %%r15, 40(%%rdi)\n movq %%rdx, 48(%%rdi)\n movq %%r8, 56(%%rdi)\n"
        "movq %%r9, 64(%%rdi)\n movq %%xmm7, %%rax\n subq %%rsi, %%rax\n addq %%r10, %%rax\n movq %%rax, 72(%%rdi)\n"
        :
        : "D"(out), [nr] "i"((long)SYS_getppid)
        : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm7", "memory", "cc");
    const unsigned long expected[10] = {1, 0x1111, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777, 0x8888, 0x9999, 0xaaaa};
    for (int i = 0; i < 10; ++i) {
        if (out[i] != expected[i]) return 0;
    }
    return 1;
}

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
    int kept = 1;
    for (int i = 0; i < 1000; ++i) kept &= trap_keeps_registers();
    printf("trap_keeps_registers %d\n", kept);
    // A raw rt_sigprocmask takes the trap and changes the mask sigreturn
    // restores: it must apply (the shim does return through sigreturn then).
    sigset_t usr1, after;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr1, NULL, 8);
    sigprocmask(SIG_SETMASK, NULL, &after);
    printf("raw_sigprocmask_applies %d\n", sigismember(&after, SIGUSR1));
    return 0;
}
