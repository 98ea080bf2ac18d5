// Guest: writes versions 1..N to three register replicas (r1, r2, r3 on
// port 9000, UDP) and reads each back from a majority. argv[1] is the write
// quorum: 2 is correct (every read majority meets every write majority);
// 1 is the deliberate bug — a write counts as done after one
// acknowledgement, so with lost datagrams a read majority can miss it.
// Prints and exits 1 on a stale read; exit 0 when every read saw its write.
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define REPLICAS 3

static struct sockaddr_storage replicas[REPLICAS];
static socklen_t lengths[REPLICAS];

static long next_id = 0;

/// Sends `request` ("W <version>" or "R") to every replica under a fresh
/// id and collects up to `want` answers to it (versions) within 20 ms of
/// virtual time; answers to older requests are skipped. Returns the count.
static int ask(int fd, const char* request, int want, long* answers) {
    const long id = ++next_id;
    char message[64];
    const int size = request[0] == 'W' ? snprintf(message, sizeof message, "W %ld %s", id, request + 2)
                                       : snprintf(message, sizeof message, "R %ld", id);
    for (int i = 0; i < REPLICAS; ++i) sendto(fd, message, (size_t)size, 0, (struct sockaddr*)&replicas[i], lengths[i]);
    int got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < want && poll(&p, 1, 20) > 0) {
        char reply[64];
        const ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
        if (n <= 0) break;
        reply[n] = '\0';
        char kind;
        long reply_id, version;
        if (sscanf(reply, "%c %ld %ld", &kind, &reply_id, &version) == 3 && reply_id == id) answers[got++] = version;
    }
    return got;
}

int main(int argc, char** argv) {
    const int write_quorum = argc > 1 ? atoi(argv[1]) : 2;
    const long writes = argc > 2 ? atol(argv[2]) : 20;
    const char* names[REPLICAS] = {"r1", "r2", "r3"};
    for (int i = 0; i < REPLICAS; ++i) {
        struct addrinfo hints = {0}, *found = NULL;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_DGRAM;
        if (getaddrinfo(names[i], "9000", &hints, &found) != 0) return 2;
        memcpy(&replicas[i], found->ai_addr, found->ai_addrlen);
        lengths[i] = found->ai_addrlen;
        freeaddrinfo(found);
    }
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    for (long version = 1; version <= writes; ++version) {
        char request[32];
        snprintf(request, sizeof request, "W %ld", version);
        long answers[REPLICAS];
        while (ask(fd, request, write_quorum, answers) < write_quorum) {
        }
        long seen = -1;
        while (seen < 0) {
            if (ask(fd, "R", 2, answers) < 2) continue;
            seen = answers[0] > answers[1] ? answers[0] : answers[1];
        }
        if (seen < version) {
            printf("STALE read: wrote version %ld, a majority read returned %ld\n", version, seen);
            return 1;
        }
    }
    printf("all %ld writes read back\n", writes);
    return 0;
}
