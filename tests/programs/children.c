// Guest: child processes. fork with a pipe, exit statuses, virtual pids seen
// from both sides, a signal to a sleeping child, system(), popen() and
// posix_spawnp(). Every line it prints must be the same in two runs with one
// seed; the pids change with the seed.
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
    const pid_t self = getpid();
    int ends[2];
    if (pipe(ends) != 0) return 1;
    const double start = now();
    const pid_t child = fork();
    if (child == 0) {
        close(ends[0]);
        char line[64];
        for (int i = 0; i < 3; ++i) {
            usleep(250000);  // virtual: the parent waits in read meanwhile
            const int n = snprintf(line, sizeof line, "tick %d from %d (parent %d)\n", i, (int)getpid(), (int)getppid());
            if (write(ends[1], line, (size_t)n) != n) _exit(2);
        }
        _exit(getppid() == self ? 7 : 8);
    }
    close(ends[1]);
    char buffer[256];
    ssize_t n;
    while ((n = read(ends[0], buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
    int status = 0;
    const pid_t reaped = waitpid(child, &status, 0);
    printf("parent %d forked %d, reaped %d, exit %d, %.2f s virtual\n", (int)self, (int)child, (int)reaped,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, now() - start);

    const pid_t sleeper = fork();
    if (sleeper == 0) {
        sleep(3600);
        _exit(0);
    }
    usleep(1000);
    kill(sleeper, SIGTERM);
    waitpid(sleeper, &status, 0);
    printf("sleeper %d: %s %d\n", (int)sleeper, WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));

    fflush(stdout);
    status = system("echo from system; exit 3");
    printf("system: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    FILE* pipe_in = popen("echo from popen", "r");
    if (pipe_in == NULL || fgets(buffer, sizeof buffer, pipe_in) == NULL) return 3;
    printf("popen read: %s", buffer);
    printf("pclose: %d\n", pclose(pipe_in));

    pid_t spawned = 0;
    char* argv[] = {"sh", "-c", "exit 5", NULL};
    if (posix_spawnp(&spawned, "sh", NULL, NULL, argv, environ) != 0) return 4;
    waitpid(spawned, &status, 0);
    printf("posix_spawnp %d: exit %d\n", (int)spawned, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
