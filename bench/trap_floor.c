// Benchmark: what the kernel alone charges for a seccomp trap, without
// Marionette. Each mode runs in a fresh child (a filter cannot be removed)
// and times N getppid calls issued by an inline `syscall` instruction:
//   native     no filter
//   filter     a one-instruction SECCOMP_RET_ALLOW filter (the cost of having
//              a filter at all)
//   trap       getppid trapped (SECCOMP_RET_TRAP), an empty SIGSYS handler:
//              the floor of any seccomp-trap interposer
//   trap_alt   the same with the shim's handler flags (SA_NODEFER,
//              SA_ONSTACK on a sigaltstack)
//   trap_ret   the same, and the handler writes the result into the
//              context's rax (what every handler must do at least)
//   trap_fast  the same, and the handler returns without rt_sigreturn
//              (XRSTOR from the frame, registers popped in user space; as
//              interpose/signals.cpp does): one kernel entry per trap
// Usage: trap_floor [N] [ROUNDS]; prints "mode ns_per_call" lines, the best
// of ROUNDS rounds. Results: docs/benchmarks.md, "Channel and trap".
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

static long raw_getppid(void) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"((long)SYS_getppid) : "rcx", "r11", "memory");
    return result;
}

static void empty_handler(int signal, siginfo_t* info, void* context) {
    (void)signal;
    (void)info;
    (void)context;
}

static void result_handler(int signal, siginfo_t* info, void* context) {
    (void)signal;
    (void)info;
    ((ucontext_t*)context)->uc_mcontext.gregs[REG_RAX] = 1;
}

// Restores the XSAVE area (rsi), pops r8 ... rcx, rflags from the block
// (rdi) and returns to the rip after them, skipping the 128-byte red zone.
void resume(const unsigned long* block, const void* xsave_area);
__asm__(".text\n"
        "resume:\n"
        "  movl $-1, %eax\n  movl $-1, %edx\n  xrstor64 (%rsi)\n  movq %rdi, %rsp\n"
        "  popq %r8\n  popq %r9\n  popq %r10\n  popq %r11\n  popq %r12\n  popq %r13\n  popq %r14\n  popq %r15\n"
        "  popq %rdi\n  popq %rsi\n  popq %rbp\n  popq %rbx\n  popq %rdx\n  popq %rax\n  popq %rcx\n"
        "  popfq\n  retq $128\n");

static void fast_handler(int signal, siginfo_t* info, void* context) {
    (void)signal;
    (void)info;
    ucontext_t* uc = context;
    greg_t* regs = uc->uc_mcontext.gregs;
    regs[REG_RAX] = 1;
    unsigned long* block = (unsigned long*)(regs[REG_RSP] - 128 - 17 * 8);
    for (int i = 0; i <= REG_RCX; ++i) block[i] = (unsigned long)regs[i];
    block[REG_RCX + 1] = (unsigned long)regs[REG_EFL];
    block[REG_RCX + 2] = (unsigned long)regs[REG_RIP];
    resume(block, uc->uc_mcontext.fpregs);
}

static int install_filter(int trap_getppid) {
    struct sock_filter allow_all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_filter trap[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program;
    program.filter = trap_getppid ? trap : allow_all;
    program.len = trap_getppid ? sizeof trap / sizeof trap[0] : 1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &program);
}

static int set_handler(void (*handler)(int, siginfo_t*, void*), int shim_flags) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO;
    if (shim_flags) {
        static char stack[64 * 1024];
        stack_t alt = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0};
        if (sigaltstack(&alt, NULL) != 0) return -1;
        action.sa_flags |= SA_NODEFER | SA_ONSTACK;
    }
    return sigaction(SIGSYS, &action, NULL);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/// In a child: sets up `mode`, times n calls `rounds` times, writes the
/// best ns/call to `out`.
static int run_mode(const char* mode, long n, int rounds, int out) {
    int ok = 0;
    if (strcmp(mode, "native") == 0) ok = 0;
    else if (strcmp(mode, "filter") == 0) ok = install_filter(0);
    else if (strcmp(mode, "trap") == 0) ok = set_handler(empty_handler, 0) | install_filter(1);
    else if (strcmp(mode, "trap_alt") == 0) ok = set_handler(empty_handler, 1) | install_filter(1);
    else if (strcmp(mode, "trap_ret") == 0) ok = set_handler(result_handler, 1) | install_filter(1);
    else if (strcmp(mode, "trap_fast") == 0) ok = set_handler(fast_handler, 1) | install_filter(1);
    if (ok != 0) return 1;
    double best = 0;
    for (int r = 0; r < rounds; ++r) {
        const double start = now_ns();
        long sum = 0;
        for (long i = 0; i < n; ++i) sum += raw_getppid() & 1;
        const double per_call = (now_ns() - start) / (double)n + (double)(sum & 0);
        if (r == 0 || per_call < best) best = per_call;
    }
    dprintf(out, "%.1f", best);
    return 0;
}

int main(int argc, char** argv) {
    const long n = argc > 1 ? atol(argv[1]) : 200000;
    const int rounds = argc > 2 ? atoi(argv[2]) : 5;
    const char* modes[] = {"native", "filter", "trap", "trap_alt", "trap_ret", "trap_fast"};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; ++m) {
        int pipe_fds[2];
        if (pipe(pipe_fds) != 0) return 1;
        const pid_t child = fork();
        if (child == 0) {
            close(pipe_fds[0]);
            _exit(run_mode(modes[m], n, rounds, pipe_fds[1]));
        }
        close(pipe_fds[1]);
        char text[64] = "failed";
        const ssize_t got = read(pipe_fds[0], text, sizeof text - 1);
        if (got > 0) text[got] = '\0';
        close(pipe_fds[0]);
        int status = 0;
        waitpid(child, &status, 0);
        printf("%s %s\n", modes[m], text);
    }
    return 0;
}
