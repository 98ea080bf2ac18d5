/* Guest: rdtsc outside the program's own code as loaded at start-up.
   - a library loaded with dlopen reads the virtual counter (its rdtsc is
     rewritten before it runs, where the kernel's trap has no effect);
   - code written into anonymous memory at run time (a JIT) cannot be
     proven to be code: where rdtsc is rewritten it reads the real counter,
     and the run says so (determinism.escape source=rdtsc), so its value is
     not printed;
   - bytes of an rdtsc behind an instruction no decoder knows (never
     executed) are left alone and reported, and the program runs on.
   Usage: marionette_guest_tsc_escapes PATH_TO_libmarionette_tsc_lib.so */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* 0x06 does not exist in 64-bit mode: no sweep can pass it. */
__asm__(".text\n"
        ".globl tsc_escapes_undecodable\n"
        ".type tsc_escapes_undecodable, @function\n"
        "tsc_escapes_undecodable:\n"
        "  .byte 0x06, 0x0f, 0x31, 0xc3\n"
        ".size tsc_escapes_undecodable, 4\n");

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 2;
    }
    void* library = dlopen(argv[1], RTLD_NOW);
    if (library == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    uint64_t (*read_tsc)(void) = (uint64_t(*)(void))dlsym(library, "tsc_lib_read");
    if (read_tsc == NULL) return 1;
    uint64_t first = read_tsc();
    uint64_t second = read_tsc();
    printf("dlopen_rdtsc %llu then %llu\n", (unsigned long long)first, (unsigned long long)second);

    /* A JIT: rdtsc; ret, written, then made executable. */
    static const unsigned char jit_code[] = {0x0f, 0x31, 0xc3};
    unsigned char* page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 1;
    memcpy(page, jit_code, sizeof jit_code);
    if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) return 1;
    uint32_t (*jit)(void) = (uint32_t(*)(void))page;
    volatile uint32_t low = jit();
    (void)low;
    printf("jit_ran 1\n");
    return 0;
}
