// The real libc behind the embedded API's POSIX definitions.
//
// libmarionette_embed defines `open`, `read`, `clock_gettime`, ... so that a
// test binary's calls reach it first (symbol interposition). When a call is
// not for the simulation it continues to the next definition in the lookup
// order - glibc's (or a sanitizer's interceptor, which then reaches glibc) -
// found once with dlsym(RTLD_NEXT) and cached.
#pragma once

#include <sys/types.h>

#include <string>

namespace marionette::detail {

/// The next definition of `name` after this library; aborts with a message
/// if there is none (a libc without the symbol cannot run the test).
void* real_symbol(const char* name);

/// The real working directory (for resolving relative paths).
std::string real_cwd();

namespace real {
int open(const char* path, int flags, mode_t mode = 0);
int close(int fd);
int fcntl(int fd, int cmd, long arg);
}  // namespace real

}  // namespace marionette::detail

/// The real definition of libc function `name`, typed as its declaration.
/// Each expansion caches its own pointer.
#define MARIONETTE_REAL(name)                                                                        \
    ([]() {                                                                                          \
        static const auto fn = reinterpret_cast<decltype(&::name)>(::marionette::detail::real_symbol(#name)); \
        return fn;                                                                                   \
    }())
