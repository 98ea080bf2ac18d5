// Guest: connects to an echo server by name (argv[1], resolved with
// getaddrinfo) and port (argv[2]), sends argv[3] lines, reads each echo back
// and prints it with the virtual round-trip time; exit 0 if all came back.
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char** argv) {
    const char* host = argc > 1 ? argv[1] : "server";
    const char* port = argc > 2 ? argv[2] : "7000";
    const int count = argc > 3 ? atoi(argv[3]) : 3;
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &found) != 0) {
        fprintf(stderr, "echo_client: cannot resolve %s\n", host);
        return 1;
    }
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    int tries = 0;
    // The server may not listen yet: retry, as real clients do.
    while (connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        if (++tries == 50) {
            perror("echo_client: connect");
            return 2;
        }
        usleep(100000);
    }
    freeaddrinfo(found);
    for (int i = 0; i < count; ++i) {
        char line[64], back[64];
        const int n = snprintf(line, sizeof line, "ping %d\n", i);
        const long long start = now_us();
        if (write(fd, line, (size_t)n) != n) return 3;
        int got = 0;
        while (got < n) {
            const ssize_t r = read(fd, back + got, (size_t)(n - got));
            if (r <= 0) return 4;
            got += (int)r;
        }
        back[got] = '\0';
        printf("echo %.*s after %lld us\n", got - 1, back, now_us() - start);
    }
    close(fd);
    return 0;
}
