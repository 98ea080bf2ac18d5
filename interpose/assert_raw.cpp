// MARIONETTE_ASSERT's report inside libmarionette.so (sim/assert.hpp). The
// shim runs inside a program that may hold malloc's or stdio's locks, and
// every libc syscall instruction traps back into the shim, so this writes
// the report from a stack buffer and raises SIGABRT through the raw syscall
// stub only: no allocator, no stdio, no libc.
#include <sys/syscall.h>

#include <csignal>
#include <cstddef>
#include <cstdint>

#include "interpose/raw_syscall.hpp"
#include "sim/assert.hpp"

namespace marionette::detail {
namespace {

struct Buffer {
    char bytes[1024];
    std::size_t size = 0;

    void add(const char* text) {
        if (text == nullptr) return;
        for (; *text != '\0' && size < sizeof bytes - 1; ++text) bytes[size++] = *text;
    }

    void add(int value) {
        char digits[12];
        std::size_t n = 0;
        unsigned magnitude = value < 0 ? 0U - static_cast<unsigned>(value) : static_cast<unsigned>(value);
        do {
            digits[n++] = static_cast<char>('0' + magnitude % 10);
            magnitude /= 10;
        } while (magnitude != 0);
        if (value < 0 && size < sizeof bytes - 1) bytes[size++] = '-';
        while (n > 0 && size < sizeof bytes - 1) bytes[size++] = digits[--n];
    }
};

}  // namespace

void assert_failed(const char* file, int line, const char* condition, const char* message) noexcept {
    using shim::arg;
    using shim::raw_syscall;
    Buffer text;
    text.add("marionette: assertion failed at ");
    text.add(file);
    text.add(":");
    text.add(line);
    text.add(": ");
    text.add(condition);
    text.add(": ");
    text.add(message);
    text.bytes[text.size++] = '\n';
    raw_syscall(SYS_write, 2, arg(text.bytes), static_cast<long>(text.size));
    // The program may have its own SIGABRT handler or have blocked it: the
    // default action, unblocked, so the process really ends with SIGABRT.
    struct {
        void* handler = nullptr;  // SIG_DFL
        unsigned long flags = 0;
        void* restorer = nullptr;
        std::uint64_t mask = 0;
    } default_action;
    raw_syscall(SYS_rt_sigaction, SIGABRT, arg(&default_action), 0, sizeof(std::uint64_t));
    const std::uint64_t abort_bit = std::uint64_t{1} << (SIGABRT - 1);
    raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, arg(&abort_bit), 0, sizeof abort_bit);
    raw_syscall(SYS_tgkill, raw_syscall(SYS_getpid), raw_syscall(SYS_gettid), SIGABRT);
    raw_syscall(SYS_exit_group, 128 + SIGABRT);
    __builtin_unreachable();
}

}  // namespace marionette::detail
