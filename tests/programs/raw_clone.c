// Guest: threads made by a raw clone(2) with CLONE_THREAD, not by
// pthread_create (tests/integration/raw_clone_test.sh).
//   raw_clone clone        three threads from glibc's clone() wrapper
//   raw_clone syscall      three threads from a bare `syscall` instruction
//                          making clone (xmm1 and MXCSR must survive)
//   raw_clone clone3       the same with clone3
//   raw_clone pthread      three threads from pthread_create, after a
//                          seccomp filter of the program's own makes
//                          clone3 fail with ENOSYS: glibc falls back to
//                          clone, which the shim traps and must leave to
//                          its pthread_create wrapper to schedule
//   raw_clone no_clone3 PROGRAM ARGS...
//                          execs PROGRAM under that filter (a real
//                          program's threads through glibc's fallback)
//   raw_clone forks        a fork-like raw clone (still the kernel's),
//                          and a fork-like clone3 (ENOSYS under the shim)
//   raw_clone shared_tls   one thread without CLONE_SETTLS, which shares
//                          the main thread's TLS: refused (it runs
//                          unscheduled, and the trace says so); it spins
//                          without a system call until the process ends
//   raw_clone foreign_tls  the same with CLONE_SETTLS to a block not of
//                          glibc's layout (refused; the shim's start-up
//                          must not touch it)
// Each thread gets its own stack and a TLS block of glibc's layout (a copy
// of the main thread's static TLS and thread control block, as glibc's
// pthread_create would lay it out). The threads contend on a futex-based
// lock, sleeping while they hold it, so the order in the log is the
// seed's. The main thread joins them on their CLONE_CHILD_CLEARTID words.
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xmmintrin.h>

enum { threads = 3, rounds = 4, stack_bytes = 256 * 1024, tcb_bytes = 1024 };

static _Atomic uint32_t lock_word;
static int log_entries[threads * rounds];
static int log_length;
static pid_t seen_tid[threads];
static _Atomic pid_t child_tid[threads];

static void lock(void) {
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong(&lock_word, &expected, 1)) return;
    while (atomic_exchange(&lock_word, 2) != 0) syscall(SYS_futex, &lock_word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

static void unlock(void) {
    if (atomic_exchange(&lock_word, 0) == 2) syscall(SYS_futex, &lock_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int worker(void* argument) {
    const int id = (int)(intptr_t)argument;
    seen_tid[id] = (pid_t)syscall(SYS_gettid);
    for (int round = 0; round < rounds; round++) {
        lock();
        log_entries[log_length++] = id;
        const struct timespec nap = {0, 1000000 * (1 + id)};
        syscall(SYS_nanosleep, &nap, NULL);
        unlock();
        syscall(SYS_sched_yield);
    }
    return 0;
}

static atomic_int spinner_running;

static int spinner(void* argument) {
    (void)argument;
    atomic_store(&spinner_running, 1);
    for (;;) __builtin_ia32_pause();
    return 0;
}

// The static TLS of the calling thread lies below its thread pointer
// (x86_64, TLS variant II): from the lowest module block to the TCB.
static uintptr_t lowest_block;
static int find_lowest(struct dl_phdr_info* info, size_t size, void* data) {
    (void)size;
    (void)data;
    const uintptr_t block = (uintptr_t)info->dlpi_tls_data;
    if (block != 0 && (lowest_block == 0 || block < lowest_block)) lowest_block = block;
    return 0;
}

/// A TLS block of glibc's layout for a new thread: a copy of this thread's
/// static TLS and the start of its TCB, the TCB's self pointers fixed.
static void* new_tls(void) {
    uintptr_t tp;
    __asm__("movq %%fs:0, %0" : "=r"(tp));
    lowest_block = 0;
    dl_iterate_phdr(find_lowest, NULL);
    const size_t below = (tp - (lowest_block & ~(uintptr_t)63));
    char* area = mmap(NULL, below + tcb_bytes + 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) abort();
    char* new_tp = area + ((below + 63) & ~(size_t)63);
    memcpy(new_tp - below, (const char*)tp - below, below + tcb_bytes);
    ((void**)new_tp)[0] = new_tp;  // tcb
    ((void**)new_tp)[2] = new_tp;  // self
    return new_tp;
}

static char* new_stack(void) {
    char* stack = mmap(NULL, stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) abort();
    return stack + stack_bytes;
}

static const int thread_flags =
    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

// What a thread of `syscall` mode found at its first instruction: xmm1
// and MXCSR as its creator had them at the clone (the shim must load the
// extended state of the trap, not leave the SIGSYS handler's).
enum { tag = 0x5ca1ab1e00, clone_mxcsr = 0x7f80 };
static int extended_kept[threads];

static __attribute__((used)) int syscall_worker(long tagged, long xmm1) {
    const int id = (int)(tagged & 0xff);
    extended_kept[id] = xmm1 == tagged && _mm_getcsr() == clone_mxcsr;
    _mm_setcsr(0x1f80);
    return worker((void*)(intptr_t)id);
}

/// A raw clone or clone3 returns in the new thread too, on its new stack:
/// only registers and the stack may be used until it calls on.
static __attribute__((noinline)) long raw_thread(long nr, long a0, long a1, long a2, long a3, long a4, int id) {
    long result;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = tag + id;
    __asm__ volatile(
        "movq %%r9, %%xmm1\n"
        "syscall\n"
        "testq %%rax, %%rax\n"
        "jnz 1f\n"
        "xorl %%ebp, %%ebp\n"
        "andq $-16, %%rsp\n"
        "movq %%r9, %%rdi\n"
        "movq %%xmm1, %%rsi\n"
        "call syscall_worker\n"
        "movq %%rax, %%rdi\n"
        "movl $60, %%eax\n"
        "syscall\n"
        "hlt\n"
        "1:\n"
        : "=a"(result)
        : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
        : "rcx", "r11", "xmm1", "memory");
    return result;
}

static void* pthread_worker(void* argument) {
    worker(argument);
    return NULL;
}

/// clone3 fails with ENOSYS from now on, as under a container runtime's
/// filter that cannot read its flags.
static void refuse_clone3(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
        printf("FAILED: seccomp (%s)\n", strerror(errno));
        exit(1);
    }
}

static void join(int i) {
    pid_t tid;
    while ((tid = atomic_load(&child_tid[i])) != 0) syscall(SYS_futex, &child_tid[i], FUTEX_WAIT, tid, NULL, NULL, 0);
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "clone";
    const int refused = strcmp(mode, "shared_tls") == 0 || strcmp(mode, "foreign_tls") == 0;
    const int count = refused ? 1 : threads;
    pid_t made[threads];
    if (strcmp(mode, "no_clone3") == 0 && argc > 2) {
        refuse_clone3();
        execv(argv[2], argv + 2);
        printf("FAILED: exec %s (%s)\n", argv[2], strerror(errno));
        return 1;
    }
    if (strcmp(mode, "forks") == 0) {
        const long child = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
        if (child == 0) _exit(7);
        int status = 0;
        // waitpid(-1): the child, made behind the shim's back, is adopted
        // under a virtual pid the real one clone returned is not.
        if (child < 0 || waitpid(-1, &status, 0) <= 0) {
            printf("FAILED: fork-like clone (%s)\n", strerror(errno));
            return 1;
        }
        printf("fork-like clone: child exit %d\n", WEXITSTATUS(status));
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.exit_signal = SIGCHLD;
        const long forked = syscall(SYS_clone3, &args, sizeof args);
        if (forked == 0) _exit(8);
        if (forked > 0) {
            waitpid(-1, &status, 0);
            printf("fork-like clone3: child exit %d\n", WEXITSTATUS(status));
        } else {
            printf("fork-like clone3: %s\n", strerror(errno));
        }
        return 0;
    }
    if (strcmp(mode, "pthread") == 0) {
        refuse_clone3();
        pthread_t handles[threads];
        for (int i = 0; i < threads; i++) {
            if (pthread_create(&handles[i], NULL, pthread_worker, (void*)(intptr_t)i) != 0) {
                printf("FAILED: pthread_create\n");
                return 1;
            }
        }
        for (int i = 0; i < threads; i++) pthread_join(handles[i], NULL);
        printf("log");
        for (int k = 0; k < log_length; k++) printf(" %d", log_entries[k]);
        printf("\n");
        return 0;
    }
    for (int i = 0; i < count; i++) {
        char* stack = new_stack();
        long result;
        if (strcmp(mode, "clone") == 0) {
            result = clone(worker, stack, thread_flags | CLONE_SETTLS, (void*)(intptr_t)i, &child_tid[i], new_tls(),
                           &child_tid[i]);
        } else if (strcmp(mode, "syscall") == 0) {
            void* tls = new_tls();
            _mm_setcsr(clone_mxcsr);
            result = raw_thread(SYS_clone, thread_flags | CLONE_SETTLS, (long)stack, (long)&child_tid[i],
                                (long)&child_tid[i], (long)tls, i);
            _mm_setcsr(0x1f80);
        } else if (strcmp(mode, "clone3") == 0) {
            struct clone_args args;
            memset(&args, 0, sizeof args);
            args.flags = thread_flags | CLONE_SETTLS;
            args.child_tid = (uintptr_t)&child_tid[i];
            args.parent_tid = (uintptr_t)&child_tid[i];
            args.stack = (uintptr_t)(stack - stack_bytes);
            args.stack_size = stack_bytes;
            args.tls = (uintptr_t)new_tls();
            _mm_setcsr(clone_mxcsr);
            result = raw_thread(SYS_clone3, (long)&args, sizeof args, 0, 0, 0, i);
            _mm_setcsr(0x1f80);
        } else if (strcmp(mode, "foreign_tls") == 0) {
            // A thread pointer into a page of zeros, as a runtime with its
            // own TLS layout would give (Go puts its g pointer there).
            char* block = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (block == MAP_FAILED) abort();
            result = clone(spinner, stack, thread_flags | CLONE_SETTLS, NULL, &child_tid[i], block + 2048, &child_tid[i]);
        } else if (strcmp(mode, "shared_tls") == 0) {
            result = clone(spinner, stack, thread_flags, NULL, &child_tid[i], NULL, &child_tid[i]);
        } else {
            fprintf(stderr, "usage: raw_clone clone|syscall|clone3|pthread|forks|shared_tls|foreign_tls|no_clone3 PROGRAM ARGS...\n");
            return 2;
        }
        if (result <= 0) {
            printf("FAILED: clone %d returned %ld\n", i, result);
            return 1;
        }
        made[i] = (pid_t)result;
    }
    if (refused) {
        // It runs outside the scheduler: wait for it without a system call.
        while (!atomic_load(&spinner_running)) __builtin_ia32_pause();
        printf("made a thread with %s\n", mode);
        fflush(stdout);
        _exit(0);
    }
    for (int i = 0; i < count; i++) join(i);
    printf("log");
    for (int k = 0; k < log_length; k++) printf(" %d", log_entries[k]);
    printf("\n");
    int same = 1;
    for (int i = 0; i < count; i++) same = same && made[i] == seen_tid[i];
    printf("gettid in each thread is what clone returned: %s\n", same ? "yes" : "no");
    if (strcmp(mode, "syscall") == 0 || strcmp(mode, "clone3") == 0) {
        int kept = 1;
        for (int i = 0; i < count; i++) kept = kept && extended_kept[i];
        printf("xmm1 and MXCSR as at the clone: %s\n", kept ? "yes" : "no");
    }
    return 0;
}
