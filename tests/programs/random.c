// Guest: every randomness source Marionette seeds: getrandom (libc and raw
// syscall), getentropy, arc4random, /dev/urandom through open/read and
// fopen/fread, and AT_RANDOM. Output differs by seed, equal for one seed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static void hex(const char* name, const unsigned char* bytes, size_t n) {
    printf("%s ", name);
    for (size_t i = 0; i < n; ++i) printf("%02x", bytes[i]);
    printf("\n");
}

int main(void) {
    unsigned char buf[16];
    if (getrandom(buf, sizeof buf, 0) != sizeof buf) return 2;
    hex("getrandom", buf, sizeof buf);
    if (syscall(SYS_getrandom, buf, sizeof buf, 0) != sizeof buf) return 3;
    hex("raw_getrandom", buf, sizeof buf);
    if (getentropy(buf, sizeof buf) != 0) return 4;
    hex("getentropy", buf, sizeof buf);
    printf("arc4random %08x %u\n", arc4random(), arc4random_uniform(1000));
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) != sizeof buf) return 5;
    close(fd);
    hex("urandom_read", buf, sizeof buf);
    FILE* f = fopen("/dev/random", "rb");
    if (f == NULL || fread(buf, 1, sizeof buf, f) != sizeof buf) return 6;
    fclose(f);
    hex("random_fread", buf, sizeof buf);
    hex("at_random", (const unsigned char*)getauxval(AT_RANDOM), 16);
    srand(arc4random());
    printf("rand %d\n", rand());
    return 0;
}
