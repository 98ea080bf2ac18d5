// Guest and benchmark: a node that mostly sleeps. Every virtual second it
// sends a 16-byte UDP heartbeat to each peer (argv[3...], port argv[1]) and
// drains what arrived; after argv[2] seconds it prints how many heartbeats
// it received and exits 0.
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: heartbeat PORT SECONDS PEER...\n");
        return 2;
    }
    const int port = atoi(argv[1]);
    const long seconds = atol(argv[2]);
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in self = {0};
    self.sin_family = AF_INET;
    self.sin_port = htons((unsigned short)port);
    if (bind(fd, (struct sockaddr*)&self, sizeof self) != 0) return 1;
    const int peers = argc - 3;
    struct sockaddr_storage addresses[16];
    socklen_t lengths[16];
    for (int i = 0; i < peers && i < 16; ++i) {
        struct addrinfo hints = {0}, *found = NULL;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_DGRAM;
        if (getaddrinfo(argv[3 + i], argv[1], &hints, &found) != 0) return 3;
        memcpy(&addresses[i], found->ai_addr, found->ai_addrlen);
        lengths[i] = found->ai_addrlen;
        freeaddrinfo(found);
    }
    long received = 0;
    for (long t = 0; t < seconds; ++t) {
        char beat[16] = "heartbeat";
        for (int i = 0; i < peers && i < 16; ++i) sendto(fd, beat, sizeof beat, 0, (struct sockaddr*)&addresses[i], lengths[i]);
        sleep(1);
        char in[16];
        while (recv(fd, in, sizeof in, MSG_DONTWAIT) > 0) ++received;
    }
    printf("received %ld heartbeats\n", received);
    return 0;
}
