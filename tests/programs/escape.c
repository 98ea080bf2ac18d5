// Guest for --verify's failure path: reads a source Marionette does not
// virtualise (the kernel's /proc/sys/kernel/random/uuid, a documented
// escape) and lets it steer a simulated call, so two runs with one seed
// diverge at a trace event, not only in their output.
#include <stdio.h>
#include <sys/random.h>

int main(void) {
    char uuid[64] = {0};
    FILE* f = fopen("/proc/sys/kernel/random/uuid", "r");
    if (f == NULL || fgets(uuid, sizeof uuid, f) == NULL) return 2;
    fclose(f);
    unsigned char buf[16];
    // 1..16 bytes, chosen by the escaped value.
    size_t length = 1 + (size_t)(uuid[0] % 16);
    if (getrandom(buf, length, 0) < 0) return 3;
    printf("uuid %s", uuid);
    return 0;
}
