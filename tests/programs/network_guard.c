/* The network guard: socket calls aimed outside loopback are refused by the
 * shim (ENETUNREACH) and never reach the kernel; loopback still works (a
 * closed local port answers ECONNREFUSED from the real kernel). Run only
 * inside an empty network namespace (tests/integration/network_guard_test.sh),
 * so that even a broken guard could not send anything off the machine. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sockaddr_in v4(const char* ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char* ip, int port) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((unsigned short)port);
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static const char* outcome(long result) { return result == 0 ? "ok" : strerror(errno); }

int main(void) {
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in node = v4("10.0.0.5", 7000);
    printf("connect 10.0.0.5: %s\n", outcome(connect(tcp, (struct sockaddr*)&node, sizeof node)));
    close(tcp);

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in doc = v4("192.0.2.1", 53);
    printf("sendto 192.0.2.1: %s\n", outcome(sendto(udp, "x", 1, 0, (struct sockaddr*)&doc, sizeof doc) < 0 ? -1 : 0));
    struct sockaddr_in peer = v4("10.0.0.2", 9);
    struct iovec iov = {(void*)"y", 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof peer;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    printf("sendmsg 10.0.0.2: %s\n", outcome(sendmsg(udp, &msg, 0) < 0 ? -1 : 0));
    /* A raw syscall takes the same path (the seccomp trap). */
    struct sockaddr_in raw = v4("10.1.2.3", 80);
    printf("raw sendto 10.1.2.3: %s\n",
           outcome(syscall(SYS_sendto, udp, "z", 1, 0, (struct sockaddr*)&raw, sizeof raw) < 0 ? -1 : 0));
    close(udp);

    int local = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = v4("127.0.0.1", 1);
    printf("connect 127.0.0.1:1: %s\n", outcome(connect(local, (struct sockaddr*)&closed, sizeof closed)));
    close(local);

    /* IPv6: a simulated node's name and any other address are refused too,
     * v4-mapped addresses are judged by their IPv4 part, ::1 reaches the
     * kernel. (Without IPv6 in the kernel these lines say so.) */
    int tcp6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (tcp6 < 0) {
        printf("no ipv6: %s\n", strerror(errno));
        return 0;
    }
    struct sockaddr_in6 node6 = v6("fd00::5", 7000);
    printf("connect fd00::5: %s\n", outcome(connect(tcp6, (struct sockaddr*)&node6, sizeof node6)));
    close(tcp6);
    int udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 doc6 = v6("2001:db8::1", 53);
    printf("sendto 2001:db8::1: %s\n", outcome(sendto(udp6, "x", 1, 0, (struct sockaddr*)&doc6, sizeof doc6) < 0 ? -1 : 0));
    struct sockaddr_in6 mapped = v6("::ffff:10.0.0.2", 53);
    printf("sendto ::ffff:10.0.0.2: %s\n", outcome(sendto(udp6, "x", 1, 0, (struct sockaddr*)&mapped, sizeof mapped) < 0 ? -1 : 0));
    close(udp6);
    int local6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 closed6 = v6("::1", 1);
    printf("connect [::1]:1: %s\n", outcome(connect(local6, (struct sockaddr*)&closed6, sizeof closed6)));
    close(local6);
    return 0;
}
