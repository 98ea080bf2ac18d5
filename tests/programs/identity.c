// Guest: process identity. Virtual pid/ppid/tid are seeded; the hostname is
// the node's; kill(getpid(), 0) must reach this very process.
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void) {
    printf("pid %d ppid %d tid %d\n", (int)getpid(), (int)getppid(), (int)gettid());
    printf("raw_pid %ld raw_tid %ld\n", syscall(SYS_getpid), syscall(SYS_gettid));
    struct utsname u;
    uname(&u);
    char host[128];
    gethostname(host, sizeof host);
    printf("nodename %s hostname %s\n", u.nodename, host);
    // The virtual pid must be translated back for signals to arrive.
    printf("kill_self %d\n", kill(getpid(), 0));
    unsigned cpu = 99, node = 99;
    getcpu(&cpu, &node);
    printf("cpu %u node %u sched_getcpu %d\n", cpu, node, sched_getcpu());
    return 0;
}
