// Guest: a TCP echo server (port from argv[1]) serving any number of
// clients with poll(2); it never exits on its own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 32

int main(int argc, char** argv) {
    const int port = argc > 1 ? atoi(argv[1]) : 7000;
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    const int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 16) != 0) {
        perror("echo_server: bind/listen");
        return 1;
    }
    printf("listening on %d\n", port);
    fflush(stdout);
    struct pollfd fds[MAX_CLIENTS + 1];
    int count = 1;
    fds[0].fd = listener;
    fds[0].events = POLLIN;
    for (;;) {
        if (poll(fds, (nfds_t)count, -1) < 0) return 2;
        for (int i = count - 1; i >= 1; --i) {
            if (fds[i].revents == 0) continue;
            char buffer[4096];
            const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i] = fds[--count];
                continue;
            }
            if (write(fds[i].fd, buffer, (size_t)n) != n) return 3;
        }
        if ((fds[0].revents & POLLIN) && count <= MAX_CLIENTS) {
            struct sockaddr_in peer;
            socklen_t length = sizeof peer;
            const int client = accept(listener, (struct sockaddr*)&peer, &length);
            if (client >= 0) {
                char text[32];
                printf("accepted %s\n", inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text));
                fflush(stdout);
                fds[count].fd = client;
                fds[count].events = POLLIN;
                ++count;
            }
        }
    }
}
