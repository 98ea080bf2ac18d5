/* A shared library with an rdtsc, loaded by the tsc_escapes guest with
   dlopen: where rdtsc is rewritten, code mapped after start-up is too. */
#include <stdint.h>

uint64_t tsc_lib_read(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
