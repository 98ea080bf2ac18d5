// A tiny program for assert_test.cpp: fails a MARIONETTE_ASSERT with the
// preload .so's report (interpose/assert_raw.cpp, linked instead of
// sim/assert.cpp). It first installs a SIGABRT handler and blocks SIGABRT,
// as a program under test might: the report must still end the process
// with SIGABRT.
#include <signal.h>
#include <unistd.h>

#include "sim/assert.hpp"

namespace {
void ignore_abort(int) { _exit(0); }
}  // namespace

int main(int argc, char**) {
    struct sigaction action {};
    action.sa_handler = ignore_abort;
    sigaction(SIGABRT, &action, nullptr);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGABRT);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    MARIONETTE_ASSERT(argc == 0, "the raw report");
    return 0;
}
