// Guest: IPv6 on the simulated network, Linux's socket buffer sizes, and
// EPIPE after a reset.
//   net6 serve PORT         on node b: a dual-stack [::]:PORT echo server,
//                           an IPV6_V6ONLY [::]:PORT+1 listener, a UDP [::]:PORT
//                           echo, and on PORT+2 a server that closes
//                           without reading (a reset); PORT+3 holds a
//                           connection open (the client's crash check)
//   net6 client HOST PORT   on node a: every check below, one line each,
//                           then holds a connection to HOST:PORT+3 and
//                           writes to it every 100 ms until the server
//                           node's crash and restart reset it
// The client exits 0 when every check held; a failed one prints "FAIL ...".
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures = 0;

static void check(int ok, const char* what) {
    if (!ok) {
        printf("FAIL %s (errno %s)\n", what, strerror(errno));
        ++failures;
    }
}

static const char* text_of(const struct sockaddr* a) {
    static char out[4][80];
    static int next = 0;
    char* o = out[next++ % 4];
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)a;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(o, 80, "[%s]:%d", host, ntohs(in6->sin6_port));
    } else if (a->sa_family == AF_INET) {
        const struct sockaddr_in* in = (const struct sockaddr_in*)a;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(o, 80, "%s:%d", host, ntohs(in->sin_port));
    } else {
        snprintf(o, 80, "family-%d", a->sa_family);
    }
    return o;
}

/// The host part only (ports of clients are ephemeral).
static const char* host_of(const struct sockaddr* a) {
    static char host[INET6_ADDRSTRLEN];
    if (a->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6*)a)->sin6_addr, host, sizeof host);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in*)a)->sin_addr, host, sizeof host);
    }
    return host;
}

static struct sockaddr_in6 v6(const char* text, int port) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((unsigned short)port);
    if (inet_pton(AF_INET6, text, &a.sin6_addr) != 1) abort();
    return a;
}

static struct sockaddr_in v4(const char* text, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, text, &a.sin_addr) != 1) abort();
    return a;
}

static int listen6(int port, int v6only, int type) {
    const int fd = socket(AF_INET6, type, 0);
    if (fd < 0) return -1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) return -1;
    struct sockaddr_in6 any = v6("::", port);
    if (bind(fd, (struct sockaddr*)&any, sizeof any) != 0) return -1;
    if (type == SOCK_STREAM && listen(fd, 8) != 0) return -1;
    return fd;
}

static void echo_once(int fd) {
    char buffer[64];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) write(fd, buffer, (size_t)n);
}

static int serve(int port) {
    const int dual = listen6(port, 0, SOCK_STREAM);
    const int only = listen6(port + 1, 1, SOCK_STREAM);
    const int udp = listen6(port, 0, SOCK_DGRAM);
    const int resetter = listen6(port + 2, 0, SOCK_STREAM);
    const int holder = listen6(port + 3, 0, SOCK_STREAM);
    if (dual < 0 || only < 0 || udp < 0 || resetter < 0 || holder < 0) {
        printf("serve: setup failed: %s\n", strerror(errno));
        return 1;
    }
    printf("serving on [::]:%d\n", port);
    fflush(stdout);
    struct pollfd p[5] = {{dual, POLLIN, 0}, {only, POLLIN, 0}, {udp, POLLIN, 0}, {resetter, POLLIN, 0}, {holder, POLLIN, 0}};
    for (;;) {
        if (poll(p, 5, -1) < 0) return 2;
        struct sockaddr_storage peer, local;
        socklen_t peer_length = sizeof peer, local_length = sizeof local;
        if (p[0].revents & POLLIN) {
            const int fd = accept(dual, (struct sockaddr*)&peer, &peer_length);
            getsockname(fd, (struct sockaddr*)&local, &local_length);
            printf("b: dual-stack accepted %s on %s\n", host_of((struct sockaddr*)&peer), text_of((struct sockaddr*)&local));
            fflush(stdout);
            echo_once(fd);
            close(fd);
        }
        if (p[1].revents & POLLIN) {
            const int fd = accept(only, (struct sockaddr*)&peer, &peer_length);
            printf("b: v6-only accepted %s\n", host_of((struct sockaddr*)&peer));
            fflush(stdout);
            echo_once(fd);
            close(fd);
        }
        if (p[2].revents & POLLIN) {
            char buffer[64];
            const ssize_t n = recvfrom(udp, buffer, sizeof buffer, 0, (struct sockaddr*)&peer, &peer_length);
            printf("b: udp from %s\n", host_of((struct sockaddr*)&peer));
            fflush(stdout);
            if (n > 0) sendto(udp, buffer, (size_t)n, 0, (struct sockaddr*)&peer, peer_length);
        }
        if (p[3].revents & POLLIN) {
            // Wait for the client's bytes, never read them: the close resets.
            const int fd = accept(resetter, NULL, NULL);
            struct pollfd in = {fd, POLLIN, 0};
            poll(&in, 1, -1);
            close(fd);
        }
        if (p[4].revents & POLLIN) {
            const int fd = accept(holder, NULL, NULL);
            echo_once(fd);  // then keep it open until the node crashes
            (void)fd;
        }
    }
}

static int connect_to(int family, const struct sockaddr* a, socklen_t length) {
    const int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, a, length) != 0) {
        const int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int exchange(int fd, const char* text) {
    char buffer[64] = {0};
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) return 0;
    const ssize_t n = read(fd, buffer, sizeof buffer - 1);
    return n == (ssize_t)strlen(text) && memcmp(buffer, text, (size_t)n) == 0;
}

static volatile sig_atomic_t sigpipes = 0;
static void on_sigpipe(int signal) {
    (void)signal;
    ++sigpipes;
}

static const char* error_name(int e) {
    switch (e) {
        case 0: return "0";
        case ECONNRESET: return "ECONNRESET";
        case EPIPE: return "EPIPE";
        case ECONNREFUSED: return "ECONNREFUSED";
        case ETIMEDOUT: return "ETIMEDOUT";
        case ENETUNREACH: return "ENETUNREACH";
        default: return strerror(e);
    }
}

static int client(const char* host, int port) {
    // Names: the node resolves to fd00::N for AF_INET6.
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    check(getaddrinfo(host, service, &hints, &found) == 0 && found != NULL, "getaddrinfo AF_INET6");
    if (found == NULL) return 1;
    printf("a: %s is %s\n", host, text_of(found->ai_addr));
    const struct hostent* entry = gethostbyname2(host, AF_INET6);
    char named[INET6_ADDRSTRLEN] = "?";
    if (entry != NULL) inet_ntop(AF_INET6, entry->h_addr_list[0], named, sizeof named);
    printf("a: gethostbyname2 %s AF_INET6: %s (length %d)\n", host, named, entry != NULL ? entry->h_length : -1);
    check(entry != NULL && entry->h_addrtype == AF_INET6, "gethostbyname2 AF_INET6");

    // IPv6 between nodes, then the addresses each end sees.
    int fd = connect_to(AF_INET6, found->ai_addr, found->ai_addrlen);
    check(fd >= 0, "v6 connect");
    struct sockaddr_storage local, peer;
    socklen_t local_length = sizeof local, peer_length = sizeof peer;
    getsockname(fd, (struct sockaddr*)&local, &local_length);
    getpeername(fd, (struct sockaddr*)&peer, &peer_length);
    printf("a: v6 connected from %s to %s (lengths %d %d)\n", host_of((struct sockaddr*)&local),
           text_of((struct sockaddr*)&peer), (int)local_length, (int)peer_length);
    check(exchange(fd, "hello6"), "v6 echo");
    int domain = 0;
    socklen_t domain_length = sizeof domain;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &domain_length);
    check(domain == AF_INET6, "SO_DOMAIN is AF_INET6");
    close(fd);

    // An IPv4 client reaches the dual-stack listener; V6ONLY refuses it.
    char node_v4[INET_ADDRSTRLEN];
    const unsigned char* b6 = ((struct sockaddr_in6*)found->ai_addr)->sin6_addr.s6_addr;
    snprintf(node_v4, sizeof node_v4, "10.%d.%d.%d", b6[13], b6[14], b6[15]);
    struct sockaddr_in to4 = v4(node_v4, port);
    fd = connect_to(AF_INET, (struct sockaddr*)&to4, sizeof to4);
    check(fd >= 0 && exchange(fd, "hello4"), "v4 client to the dual-stack listener");
    close(fd);
    struct sockaddr_in only4 = v4(node_v4, port + 1);
    fd = connect_to(AF_INET, (struct sockaddr*)&only4, sizeof only4);
    const int refused = errno;
    printf("a: v4 to the V6ONLY listener: %s\n", fd < 0 ? error_name(refused) : "connected");
    check(fd < 0 && refused == ECONNREFUSED, "V6ONLY refuses IPv4");
    struct sockaddr_in6 only6 = *(struct sockaddr_in6*)found->ai_addr;
    only6.sin6_port = htons((unsigned short)(port + 1));
    fd = connect_to(AF_INET6, (struct sockaddr*)&only6, sizeof only6);
    check(fd >= 0 && exchange(fd, "only6"), "v6 to the V6ONLY listener");
    close(fd);
    // A v4-mapped destination from an IPv6 socket is IPv4 on the wire.
    char mapped[64];
    snprintf(mapped, sizeof mapped, "::ffff:%s", node_v4);
    struct sockaddr_in6 to_mapped = v6(mapped, port);
    fd = connect_to(AF_INET6, (struct sockaddr*)&to_mapped, sizeof to_mapped);
    check(fd >= 0 && exchange(fd, "mapped"), "v4-mapped from an IPv6 socket");
    local_length = sizeof local;
    getsockname(fd, (struct sockaddr*)&local, &local_length);
    printf("a: v4-mapped connection from %s\n", host_of((struct sockaddr*)&local));
    close(fd);

    // An IPv6 address that names nothing in the simulation.
    struct sockaddr_in6 nowhere = v6("2001:db8::1", port);
    fd = connect_to(AF_INET6, (struct sockaddr*)&nowhere, sizeof nowhere);
    const int unreachable = errno;
    printf("a: connect to [2001:db8::1]: %s\n", fd < 0 ? error_name(unreachable) : "connected");
    check(fd < 0 && unreachable == ENETUNREACH, "an unknown IPv6 address is unreachable");

    // UDP over IPv6.
    const int u = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 udp_to = *(struct sockaddr_in6*)found->ai_addr;
    check(sendto(u, "dgram", 5, 0, (struct sockaddr*)&udp_to, sizeof udp_to) == 5, "udp v6 sendto");
    char dgram[16] = {0};
    peer_length = sizeof peer;
    check(recvfrom(u, dgram, sizeof dgram, 0, (struct sockaddr*)&peer, &peer_length) == 5, "udp v6 reply");
    printf("a: udp reply %s from %s\n", dgram, text_of((struct sockaddr*)&peer));
    // A connected datagram socket: write() and read() carry no address.
    check(connect(u, (struct sockaddr*)&udp_to, sizeof udp_to) == 0, "udp v6 connect");
    check(write(u, "w", 1) == 1, "udp v6 write");
    memset(dgram, 0, sizeof dgram);
    check(read(u, dgram, sizeof dgram) == 1 && dgram[0] == 'w', "udp v6 read of the reply");
    close(u);

    // IPv6 loopback inside the node.
    const int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 lo = v6("::1", 9000);
    check(bind(l, (struct sockaddr*)&lo, sizeof lo) == 0 && listen(l, 1) == 0, "listen on [::1]:9000");
    fd = connect_to(AF_INET6, (struct sockaddr*)&lo, sizeof lo);
    check(fd >= 0, "connect to [::1]:9000");
    peer_length = sizeof peer;
    const int accepted = accept(l, (struct sockaddr*)&peer, &peer_length);
    check(accepted >= 0, "accept on [::1]");
    printf("a: loopback accepted %s\n", host_of((struct sockaddr*)&peer));
    struct iovec parts[2] = {{(void*)"l", 1}, {(void*)"o", 1}};
    check(writev(fd, parts, 2) == 2 && read(accepted, dgram, 2) == 2 && memcmp(dgram, "lo", 2) == 0, "loopback writev");
    close(accepted);
    close(fd);
    close(l);

    // Buffer sizes as Linux reports them.
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    int sndbuf = 0, rcvbuf = 0;
    socklen_t n = sizeof sndbuf;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &n);
    n = sizeof rcvbuf;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &n);
    printf("a: SO_SNDBUF %d SO_RCVBUF %d\n", sndbuf, rcvbuf);
    check(sndbuf == 16384 && rcvbuf == 131072, "default buffer sizes");
    const int ask = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &ask, sizeof ask);
    n = sizeof sndbuf;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &n);
    n = sizeof rcvbuf;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &n);
    printf("a: after asking 4096: SO_SNDBUF %d SO_RCVBUF %d\n", sndbuf, rcvbuf);
    check(sndbuf == 8192 && rcvbuf == 8192, "setsockopt doubles");
    close(fd);

    // A reset by the peer: the read says ECONNRESET once, then writes fail
    // with EPIPE and raise SIGPIPE unless MSG_NOSIGNAL.
    signal(SIGPIPE, on_sigpipe);
    struct sockaddr_in6 to_reset = *(struct sockaddr_in6*)found->ai_addr;
    to_reset.sin6_port = htons((unsigned short)(port + 2));
    fd = connect_to(AF_INET6, (struct sockaddr*)&to_reset, sizeof to_reset);
    check(fd >= 0 && write(fd, "unread", 6) == 6, "connect to the resetting server");
    char byte;
    errno = 0;
    ssize_t got = read(fd, &byte, 1);
    printf("a: read after the peer's reset: %zd %s\n", got, error_name(got < 0 ? errno : 0));
    check(got < 0 && errno == ECONNRESET, "read ECONNRESET");
    errno = 0;
    got = write(fd, "x", 1);
    printf("a: write after the reset: %zd %s, SIGPIPE %d\n", got, error_name(got < 0 ? errno : 0), (int)sigpipes);
    check(got < 0 && errno == EPIPE && sigpipes == 1, "write EPIPE with SIGPIPE");
    got = send(fd, "x", 1, MSG_NOSIGNAL);
    printf("a: send MSG_NOSIGNAL: %zd %s, SIGPIPE %d\n", got, error_name(got < 0 ? errno : 0), (int)sigpipes);
    check(got < 0 && errno == EPIPE && sigpipes == 1, "send MSG_NOSIGNAL EPIPE without SIGPIPE");
    got = read(fd, &byte, 1);
    check(got == 0, "read 0 after the error was reported");
    close(fd);

    // A node that crashes and comes back: its reset reaches the writer as
    // ECONNRESET on the first write that notices, then EPIPE.
    struct sockaddr_in6 to_hold = *(struct sockaddr_in6*)found->ai_addr;
    to_hold.sin6_port = htons((unsigned short)(port + 3));
    fd = connect_to(AF_INET6, (struct sockaddr*)&to_hold, sizeof to_hold);
    check(fd >= 0 && exchange(fd, "hold"), "connect to the holding server");
    printf("a: holding a connection\n");
    fflush(stdout);
    int first_error = 0;
    for (int i = 0; i < 100 && first_error == 0; ++i) {
        usleep(100000);
        if (send(fd, "tick", 4, MSG_NOSIGNAL) < 0) first_error = errno;
    }
    printf("a: after the crash: write %s\n", error_name(first_error));
    check(first_error == ECONNRESET, "the first write after the crash and restart says ECONNRESET");
    got = send(fd, "tick", 4, MSG_NOSIGNAL);
    printf("a: then: write %s\n", error_name(got < 0 ? errno : 0));
    check(got < 0 && errno == EPIPE, "then EPIPE");
    close(fd);
    freeaddrinfo(found);
    printf("a: %s\n", failures == 0 ? "all checks held" : "some checks failed");
    return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]));
    if (argc == 4 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: net6 serve PORT | net6 client HOST PORT\n");
    return 2;
}
