// The calling side of the wire protocol (include/marionette/wire.hpp).
//
// Marshals one forwarded syscall onto the coordinator socket and copies the
// reply into the caller's buffers, using only the two I/O primitives the
// `Io` policy provides — so the preload shim can plug in its raw-syscall
// stub (no libc, no allocation) and tests can plug in libc:
//
//   struct Io {
//       static long sendmsg(int fd, const struct msghdr* msg);   // -errno on failure
//       static long read(int fd, void* buf, std::size_t n);      // -errno on failure
//   };
#pragma once

#include <sys/socket.h>

#include <cerrno>

#include "marionette/wire.hpp"

namespace marionette::wire {

/// What a forwarded call returned.
struct CallResult {
    long result = -EIO;          ///< the syscall's result, -errno on failure
    std::uint64_t now_ns = 0;    ///< the virtual time after the call
    bool transport_ok = false;   ///< false: the coordinator is gone
    bool passthrough = false;    ///< not simulated after all: issue it for real
    std::uint64_t horizon_ns = 0;  ///< SyscallReply::horizon_ns
};

namespace detail {

template <typename Io>
bool send_all(int fd, struct iovec* iov, std::size_t count) {
    while (count > 0) {
        struct msghdr msg {};
        msg.msg_iov = iov;
        msg.msg_iovlen = count > 512 ? 512 : count;
        long sent = Io::sendmsg(fd, &msg);
        if (sent == -EINTR) continue;
        if (sent <= 0) return false;
        auto left = static_cast<std::size_t>(sent);
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    return true;
}

template <typename Io>
bool read_all(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        long got = Io::read(fd, p, n);
        if (got == -EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

/// Reads and discards n bytes (output the caller had no room for).
template <typename Io>
bool skip(int fd, std::size_t n) {
    char sink[256];
    while (n > 0) {
        const std::size_t take = n < sizeof sink ? n : sizeof sink;
        if (!read_all<Io>(fd, sink, take)) return false;
        n -= take;
    }
    return true;
}

/// Sends one input buffer. An iovec array is copied 64 entries at a time
/// onto the stack (send_all edits entries on partial sends; the caller's
/// array must stay untouched), so stack use stays small inside a signal
/// handler on the alternate stack.
template <typename Io>
bool send_input(int fd, const Buf& b, const long* args) {
    if (b.kind == BufKind::none) return true;
    void* p = reinterpret_cast<void*>(args[b.arg]);
    if (b.kind != BufKind::iov) {
        struct iovec one = {p, in_size(b, args)};
        return one.iov_len == 0 || send_all<Io>(fd, &one, 1);
    }
    const auto* user = static_cast<const struct iovec*>(p);
    const auto total = static_cast<std::size_t>(args[b.len_arg]);
    struct iovec chunk[64];
    for (std::size_t done = 0; done < total;) {
        std::size_t n = 0;
        for (; n < 64 && done + n < total; ++n) chunk[n] = user[done + n];
        if (!send_all<Io>(fd, chunk, n)) return false;
        done += n;
    }
    return true;
}

}  // namespace detail

/// The sizes of one forwarded call's messages.
struct CallSizes {
    std::size_t in_bytes[2] = {};
    std::size_t payload_bytes = sizeof(SyscallRequest);  ///< the request's payload
    std::size_t out_capacity = 0;                         ///< the most output the reply carries

    /// The whole request and the largest reply on the wire, headers included.
    std::size_t request_bytes() const { return sizeof(Header) + payload_bytes; }
    std::size_t reply_bytes() const { return sizeof(Header) + sizeof(SyscallReply) + out_capacity; }
};

/// The sizes of forwarding `nr` (which must have a row) with `args`.
inline CallSizes call_sizes(long nr, const long* args) {
    const Spec spec = effective_spec(*find_spec(nr), args);
    CallSizes sizes;
    for (int i = 0; i < 2; ++i) {
        sizes.in_bytes[i] = in_size(spec.in[i], args);
        sizes.payload_bytes += sizes.in_bytes[i];
    }
    if (spec.out.kind == BufKind::bytes) sizes.out_capacity = static_cast<std::size_t>(args[spec.out.len_arg]);
    if (spec.out.kind == BufKind::fixed) sizes.out_capacity = spec.out.fixed_bytes;
    if (spec.out.kind == BufKind::iov) sizes.out_capacity = in_size(spec.out, args);
    return sizes;
}

/// Forwards syscall `nr` with raw arguments `args` on socket `fd`.
template <typename Io>
CallResult call(int fd, long nr, const long* args, std::uint64_t now_ns, long bind_fd, std::uint32_t sequence) {
    const Spec* row = find_spec(nr);
    if (row == nullptr) return {-ENOSYS, now_ns, true};
    const Spec spec = effective_spec(*row, args);
    const CallSizes sizes = call_sizes(nr, args);
    if (sizes.payload_bytes > max_payload_bytes || sizes.out_capacity > max_payload_bytes) return {-EINVAL, now_ns, true};

    SyscallRequest request;
    request.nr = nr;
    for (int i = 0; i < 6; ++i) request.args[i] = args[i];
    request.now_ns = now_ns;
    request.bind_fd = bind_fd;
    const std::size_t payload = sizes.payload_bytes;
    for (int i = 0; i < 2; ++i) request.in_bytes[i] = static_cast<std::uint32_t>(sizes.in_bytes[i]);
    request.out_capacity = static_cast<std::uint32_t>(sizes.out_capacity);

    Header header;
    header.kind = static_cast<std::uint16_t>(Kind::syscall);
    header.payload_bytes = static_cast<std::uint32_t>(payload);
    header.sequence = sequence;

    // One sendmsg for the header, the request and plain input buffers; an
    // iovec input (writev, always a call's only input) follows on its own.
    struct iovec head[4] = {{&header, sizeof header}, {&request, sizeof request}};
    std::size_t parts = 2;
    for (const Buf& b : spec.in) {
        if (b.kind == BufKind::none || b.kind == BufKind::iov) continue;
        const std::size_t size = in_size(b, args);
        if (size > 0) head[parts++] = {reinterpret_cast<void*>(args[b.arg]), size};
    }
    if (!detail::send_all<Io>(fd, head, parts)) return {};
    for (const Buf& b : spec.in) {
        if (b.kind == BufKind::iov && !detail::send_input<Io>(fd, b, args)) return {};
    }

    Header reply_header;
    SyscallReply reply;
    if (!detail::read_all<Io>(fd, &reply_header, sizeof reply_header)) return {};
    if (reply_header.magic != wire_magic || reply_header.kind != static_cast<std::uint16_t>(Kind::reply) ||
        reply_header.sequence != sequence || !detail::read_all<Io>(fd, &reply, sizeof reply)) {
        return {};
    }
    std::size_t out = reply.out_bytes;
    if (out > request.out_capacity) return {};
    void* dest = reinterpret_cast<void*>(args[spec.out.arg]);
    if (spec.out.kind == BufKind::iov) {
        const auto* user = static_cast<const struct iovec*>(dest);
        for (long i = 0; out > 0 && i < args[spec.out.len_arg]; ++i) {
            const std::size_t take = out < user[i].iov_len ? out : user[i].iov_len;
            if (!detail::read_all<Io>(fd, user[i].iov_base, take)) return {};
            out -= take;
        }
    } else if (out > 0) {
        if (dest == nullptr) {
            if (!detail::skip<Io>(fd, out)) return {};
        } else if (!detail::read_all<Io>(fd, dest, out)) {
            return {};
        }
    }
    return {static_cast<long>(reply.result), reply.now_ns, true, (reply.flags & reply_passthrough) != 0, reply.horizon_ns};
}

/// Introduces the process (image): its working directory, umask, clock
/// and origin. The reply gives the identity to use and lists the simulated
/// descriptors this image inherits; up to `fd_capacity` are stored in `fds`
/// and their total count in `fd_count`. The call returns when the scheduler
/// lets the process run. Returns false if the coordinator refused or is gone.
template <typename Io>
bool hello(int fd, const Hello& body, const char* cwd, HelloReply& identity, std::uint64_t& now_ns,
           std::int32_t* fds = nullptr, std::size_t fd_capacity = 0, std::size_t* fd_count = nullptr,
           std::uint64_t* horizon_ns = nullptr) {
    Header header;
    header.kind = static_cast<std::uint16_t>(Kind::hello);
    header.payload_bytes = static_cast<std::uint32_t>(sizeof body + body.cwd_bytes);
    struct iovec iov[3] = {{&header, sizeof header}, {const_cast<Hello*>(&body), sizeof body},
                           {const_cast<char*>(cwd), body.cwd_bytes}};
    if (!detail::send_all<Io>(fd, iov, 3)) return false;
    Header reply_header;
    SyscallReply reply;
    if (!detail::read_all<Io>(fd, &reply_header, sizeof reply_header) ||
        !detail::read_all<Io>(fd, &reply, sizeof reply)) {
        return false;
    }
    if (reply.result != 0) return detail::skip<Io>(fd, reply.out_bytes) && false;
    if (reply.out_bytes < sizeof identity || !detail::read_all<Io>(fd, &identity, sizeof identity)) return false;
    now_ns = reply.now_ns;
    if (horizon_ns != nullptr) *horizon_ns = reply.horizon_ns;
    const std::size_t count = (reply.out_bytes - sizeof identity) / sizeof(std::int32_t);
    if (fd_count != nullptr) *fd_count = count;
    const std::size_t keep = count < fd_capacity ? count : fd_capacity;
    if (keep > 0 && !detail::read_all<Io>(fd, fds, keep * sizeof(std::int32_t))) return false;
    return detail::skip<Io>(fd, reply.out_bytes - sizeof identity - keep * sizeof(std::int32_t));
}

/// Sends one message of `kind` (payload bytes, optionally descriptors as
/// SCM_RIGHTS on its first byte) and, unless it is a `trace` line, waits for
/// the reply; its output (if any) lands in `answer`.
template <typename Io>
CallResult message(int fd, Kind kind, const void* payload, std::size_t payload_bytes, std::uint32_t sequence,
                   const int* fds = nullptr, std::size_t fd_count = 0, void* answer = nullptr,
                   std::size_t answer_bytes = 0) {
    Header header;
    header.kind = static_cast<std::uint16_t>(kind);
    header.payload_bytes = static_cast<std::uint32_t>(payload_bytes);
    header.sequence = sequence;
    struct iovec iov[2] = {{&header, sizeof header}, {const_cast<void*>(payload), payload_bytes}};
    if (fd_count > 0) {
        // The descriptors ride on the header; the rest goes as usual.
        alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_block_fds)] = {};
        struct msghdr msg {};
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        unsigned char* data = CMSG_DATA(cmsg);
        for (std::size_t i = 0; i < fd_count; ++i) __builtin_memcpy(data + i * sizeof(int), &fds[i], sizeof(int));
        long sent;
        do {
            sent = Io::sendmsg(fd, &msg);
        } while (sent == -EINTR);
        if (sent <= 0) return {};
        const auto done = static_cast<std::size_t>(sent);
        if (done < sizeof header) {
            iov[0].iov_base = reinterpret_cast<char*>(&header) + done;
            iov[0].iov_len = sizeof header - done;
            if (!detail::send_all<Io>(fd, iov, 2)) return {};
        } else if (payload_bytes > 0 && !detail::send_all<Io>(fd, &iov[1], 1)) {
            return {};
        }
    } else if (!detail::send_all<Io>(fd, iov, 2)) {
        return {};
    }
    if (kind == Kind::trace) return {0, 0, true};
    Header reply_header;
    SyscallReply reply;
    if (!detail::read_all<Io>(fd, &reply_header, sizeof reply_header) || reply_header.magic != wire_magic ||
        reply_header.sequence != sequence || !detail::read_all<Io>(fd, &reply, sizeof reply)) {
        return {};
    }
    // Output the caller has room for goes to `answer`; the rest is skipped.
    const std::size_t keep = reply.out_bytes < answer_bytes ? reply.out_bytes : answer_bytes;
    if ((keep > 0 && !detail::read_all<Io>(fd, answer, keep)) || !detail::skip<Io>(fd, reply.out_bytes - keep)) return {};
    return {static_cast<long>(reply.result), reply.now_ns, true, false, reply.horizon_ns};
}

}  // namespace marionette::wire
