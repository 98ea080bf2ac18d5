// Guest: one replica of a versioned register over UDP (port argv[1]).
// "W <id> <version>" stores the version if it is newer and answers
// "A <id> <version>"; "R <id>" answers "V <id> <version>" (the id lets the
// client tell answers to old requests apart). It never exits on its own.
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char** argv) {
    const int port = argc > 1 ? atoi(argv[1]) : 9000;
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    if (bind(fd, (struct sockaddr*)&address, sizeof address) != 0) {
        perror("quorum_replica: bind");
        return 1;
    }
    long stored = 0;
    for (;;) {
        char request[64], reply[64];
        struct sockaddr_in from;
        socklen_t length = sizeof from;
        const ssize_t n = recvfrom(fd, request, sizeof request - 1, 0, (struct sockaddr*)&from, &length);
        if (n <= 0) continue;
        request[n] = '\0';
        long id = 0, version = 0;
        int size;
        if (sscanf(request, "W %ld %ld", &id, &version) == 2) {
            if (version > stored) stored = version;
            size = snprintf(reply, sizeof reply, "A %ld %ld", id, version);
        } else if (sscanf(request, "R %ld", &id) == 1) {
            size = snprintf(reply, sizeof reply, "V %ld %ld", id, stored);
        } else {
            continue;
        }
        sendto(fd, reply, (size_t)size, 0, (struct sockaddr*)&from, length);
    }
}
