// The real libc behind the embedded API's POSIX definitions (see
// real_libc.hpp).
#include "embed/real_libc.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace marionette::detail {

void* real_symbol(const char* name) {
    void* fn = dlsym(RTLD_NEXT, name);
    if (fn == nullptr) {
        std::fprintf(stderr, "marionette: libc has no %s (dlsym RTLD_NEXT failed)\n", name);
        std::abort();
    }
    return fn;
}

std::string real_cwd() {
    char buffer[4096];
    if (::getcwd(buffer, sizeof buffer) == nullptr) return "/";
    return buffer;
}

namespace real {

int open(const char* path, int flags, mode_t mode) { return MARIONETTE_REAL(open)(path, flags, mode); }
int close(int fd) { return MARIONETTE_REAL(close)(fd); }
int fcntl(int fd, int cmd, long arg) { return MARIONETTE_REAL(fcntl)(fd, cmd, arg); }

}  // namespace real

}  // namespace marionette::detail
