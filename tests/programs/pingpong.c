// Guest and benchmark: TCP ping-pong of 64-byte messages.
//   pingpong serve PORT            answers every 64-byte message it reads
//   pingpong ping HOST PORT COUNT  sends COUNT messages, waits for each echo
// The client prints the round trips done and exits 0 when all came back.
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define SIZE 64

static int exact(int fd, char* buffer, int reading) {
    int done = 0;
    while (done < SIZE) {
        const ssize_t n = reading ? read(fd, buffer + done, SIZE - done) : write(fd, buffer + done, SIZE - done);
        if (n <= 0) return 0;
        done += (int)n;
    }
    return 1;
}

int main(int argc, char** argv) {
    if (argc >= 3 && strcmp(argv[1], "serve") == 0) {
        const int listener = socket(AF_INET, SOCK_STREAM, 0);
        const int on = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        struct sockaddr_in address = {0};
        address.sin_family = AF_INET;
        address.sin_port = htons((unsigned short)atoi(argv[2]));
        if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 4) != 0) return 1;
        for (;;) {
            const int fd = accept(listener, NULL, NULL);
            if (fd < 0) return 2;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            char buffer[SIZE];
            while (exact(fd, buffer, 1) && exact(fd, buffer, 0)) {
            }
            close(fd);
        }
    }
    if (argc >= 5 && strcmp(argv[1], "ping") == 0) {
        struct addrinfo hints = {0}, *found = NULL;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(argv[2], argv[3], &hints, &found) != 0) return 3;
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        int tries = 0;
        while (connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
            if (++tries == 100) return 4;
            usleep(10000);
        }
        const int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        const long count = atol(argv[4]);
        char buffer[SIZE];
        memset(buffer, 'x', sizeof buffer);
        for (long i = 0; i < count; ++i) {
            if (!exact(fd, buffer, 0) || !exact(fd, buffer, 1)) return 5;
        }
        printf("%ld round trips\n", count);
        return 0;
    }
    fprintf(stderr, "usage: pingpong serve PORT | pingpong ping HOST PORT COUNT\n");
    return 2;
}
