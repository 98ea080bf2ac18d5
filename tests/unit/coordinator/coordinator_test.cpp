// The coordinator over a real socketpair: a client thread marshals syscalls
// exactly as the shim does (wire_client.hpp with libc I/O) and the
// coordinator answers from the simulated disk. Also: malformed messages get
// error replies and a trace line, never a crash.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "coordinator/coordinator.hpp"
#include "marionette/wire_client.hpp"

using namespace marionette;

namespace {

struct LibcIo {
    static long sendmsg(int fd, const struct msghdr* msg) {
        const ssize_t n = ::sendmsg(fd, msg, MSG_NOSIGNAL);
        return n < 0 ? -errno : n;
    }
    static long read(int fd, void* buf, std::size_t n) {
        const ssize_t got = ::read(fd, buf, n);
        return got < 0 ? -errno : got;
    }
};

/// A client speaking the wire protocol on one end of a socketpair.
struct Client {
    int fd;
    std::uint32_t sequence = 0;
    std::uint64_t now_ns = 0;
    /// Catch2 assertions are not thread-safe: the client thread records
    /// transport failures here and the test checks them after join.
    bool transport_failed = false;
    long call(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long bind_fd = -1) {
        const long args[6] = {a0, a1, a2, a3, a4, 0};
        wire::CallResult r = wire::call<LibcIo>(fd, nr, args, now_ns, bind_fd, ++sequence);
        transport_failed |= !r.transport_ok;
        now_ns = r.now_ns;
        return r.passthrough ? 999999 : r.result;
    }
};

CoordinatorOptions options_with_mount() {
    CoordinatorOptions options;
    options.seed = 42;
    options.start_ns = 1'767'225'600ULL * ns_per_s;
    options.disk.latency_ns_min = 10'000;
    options.mounts.push_back(MountSpec{"/work/data", "/data"});
    return options;
}

/// Runs `script` on a client thread while the coordinator serves it.
template <typename Script>
void run_client(Coordinator& coordinator, Script script) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    const ProcessId id = coordinator.add_process();
    bool hello_ok = false, transport_failed = false;
    std::thread client([&] {
        Client c{sv[1]};
        const char cwd[] = "/work";
        wire::Hello hello;
        hello.now_ns = 5;
        hello.real_pid = 4242;
        hello.cwd_bytes = sizeof cwd - 1;
        hello.pid = 1500;
        wire::HelloReply identity;
        std::uint64_t now = 0;
        hello_ok = wire::hello<LibcIo>(c.fd, hello, cwd, identity, now);
        hello_ok = hello_ok && identity.pid == 1500;  // a launched process keeps its own pid
        if (hello_ok) script(c);
        transport_failed = c.transport_failed;
        ::close(sv[1]);
    });
    while (coordinator.serve_one(sv[0], id)) {
    }
    client.join();
    ::close(sv[0]);
    CHECK(hello_ok);
    CHECK_FALSE(transport_failed);
}

std::string str(const char* s) { return s; }

}  // namespace

TEST_CASE("a client writes, reads and stats a simulated file through the coordinator", "[coordinator]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    long opened = 0, written = 0, read_back = 0, stat_result = 0, size = 0, closed = 0;
    std::uint64_t end_ns = 0;
    char buf[32] = {};
    run_client(coordinator, [&](Client& c) {
        opened = c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/wal"), O_CREAT | O_RDWR, 0644, 0, 7);
        const char text[] = "record-1";
        written = c.call(SYS_write, 7, reinterpret_cast<long>(text), 8);
        read_back = c.call(SYS_pread64, 7, reinterpret_cast<long>(buf), sizeof buf, 0);
        struct stat st {};
        stat_result = c.call(SYS_newfstatat, AT_FDCWD, reinterpret_cast<long>("/work/data/wal"), reinterpret_cast<long>(&st), 0);
        size = st.st_size;
        closed = c.call(SYS_close, 7);
        end_ns = c.now_ns;
    });
    CHECK(opened == 7);
    CHECK(written == 8);
    CHECK(read_back == 8);
    CHECK(std::string(buf) == "record-1");
    CHECK(stat_result == 0);
    CHECK(size == 8);
    CHECK(closed == 0);
    // Each disk operation costs latency_ns_min of virtual time, returned to
    // the caller: open (a stat for write access + the open), write, pread,
    // stat = 5 operations of 10us after the hello's clock.
    CHECK(end_ns == options_with_mount().start_ns + 5 * 10'000);
    // The file really is on the simulated disk, not the host.
    Result<Stat> st = coordinator.disk().stat("/data/wal");
    REQUIRE(st.ok());
    CHECK(st.value.size == 8);
}

TEST_CASE("paths outside the mounts come back as passthrough", "[coordinator]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    long result = 0;
    run_client(coordinator, [&](Client& c) {
        struct stat st {};
        result = c.call(SYS_newfstatat, AT_FDCWD, reinterpret_cast<long>("/etc/passwd"), reinterpret_cast<long>(&st), 0);
    });
    CHECK(result == 999999);
}

TEST_CASE("descriptors: dup3 shares the description, getdents64 and readv/writev work", "[coordinator]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    long dup_result = 0, wrote = 0, got = 0, dents = 0, cwd_len = 0;
    char a[4] = {}, b[8] = {}, cwd[64] = {};
    std::vector<std::byte> dir_buf(256);
    run_client(coordinator, [&](Client& c) {
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/work/data/f"), O_CREAT | O_RDWR, 0644, 0, 3);
        dup_result = c.call(SYS_dup3, 3, 9, 0);
        char one[] = "abc", two[] = "defghij";
        struct iovec out[2] = {{one, 3}, {two, 7}};
        wrote = c.call(SYS_writev, 9, reinterpret_cast<long>(out), 2);
        c.call(SYS_lseek, 3, 0, SEEK_SET);
        struct iovec in[2] = {{a, 3}, {b, 7}};
        got = c.call(SYS_readv, 9, reinterpret_cast<long>(in), 2);
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data"), O_RDONLY | O_DIRECTORY, 0, 0, 4);
        dents = c.call(SYS_getdents64, 4, reinterpret_cast<long>(dir_buf.data()), static_cast<long>(dir_buf.size()));
        cwd_len = c.call(SYS_getcwd, reinterpret_cast<long>(cwd), sizeof cwd);
    });
    CHECK(dup_result == 9);
    CHECK(wrote == 10);
    CHECK(got == 10);
    CHECK(std::string(a) == "abc");
    CHECK(std::string(b) == "defghij");
    CHECK(dents > 0);
    // Records: ".", "..", "f"; the name of the third starts at its offset + 19.
    std::size_t pos = 0;
    std::vector<std::string> names;
    while (pos < static_cast<std::size_t>(dents)) {
        std::uint16_t reclen = 0;
        std::memcpy(&reclen, dir_buf.data() + pos + 16, 2);
        names.emplace_back(reinterpret_cast<const char*>(dir_buf.data() + pos + 19));
        pos += reclen;
    }
    CHECK(names == std::vector<std::string>{".", "..", "f"});
    CHECK(cwd_len == 6);
    CHECK(str(cwd) == "/work");
}

TEST_CASE("fcntl locks are granted and F_GETLK reports none", "[coordinator]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    long set = -1, get = -1, getfl = -1;
    struct flock probe {};
    run_client(coordinator, [&](Client& c) {
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/db"), O_CREAT | O_RDWR, 0644, 0, 5);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        set = c.call(SYS_fcntl, 5, F_SETLK, reinterpret_cast<long>(&lock));
        probe.l_type = F_WRLCK;
        get = c.call(SYS_fcntl, 5, F_GETLK, reinterpret_cast<long>(&probe));
        getfl = c.call(SYS_fcntl, 5, F_GETFL, 0);
    });
    CHECK(set == 0);
    CHECK(get == 0);
    CHECK(probe.l_type == F_UNLCK);
    CHECK(getfl == O_RDWR);
}

TEST_CASE("a crash ends the node's processes, then keeps only what was synced", "[coordinator][crash]") {
    CoordinatorOptions options = options_with_mount();
    options.disk.faults.crash_lost_write_rate = Rate::always();
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options, trace);
    run_client(coordinator, [&](Client& c) {
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/wal"), O_CREAT | O_WRONLY, 0644, 0, 3);
        c.call(SYS_write, 3, reinterpret_cast<long>("synced"), 6);
        c.call(SYS_fsync, 3);
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data"), O_RDONLY | O_DIRECTORY, 0, 0, 4);
        c.call(SYS_fsync, 4);
        c.call(SYS_write, 3, reinterpret_cast<long>("+lost"), 5);
    });
    const CrashReport report = coordinator.crash();
    CHECK(report.lost == 1);
    coordinator.restart();
    Result<std::vector<std::byte>> contents = coordinator.disk().durable_contents(coordinator.disk().stat("/data/wal").value.ino);
    REQUIRE(contents.ok());
    CHECK(std::string(reinterpret_cast<const char*>(contents.value.data()), contents.value.size()) == "synced");
}

TEST_CASE("malformed messages get error replies and a trace line", "[coordinator][bad_input]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    const ProcessId id = coordinator.add_process();
    auto result_of = [](const std::vector<std::byte>& bytes) {
        wire::SyscallReply reply;
        REQUIRE(bytes.size() >= sizeof(wire::Header) + sizeof reply);
        std::memcpy(&reply, bytes.data() + sizeof(wire::Header), sizeof reply);
        return reply.result;
    };
    wire::Header header;
    header.kind = static_cast<std::uint16_t>(wire::Kind::syscall);
    std::vector<std::byte> request(sizeof(wire::SyscallRequest));
    header.payload_bytes = static_cast<std::uint32_t>(request.size());
    CHECK(result_of(coordinator.handle(id, header, request)) == -EPROTO);  // before hello

    wire::Header old = header;
    old.version = 99;
    CHECK(result_of(coordinator.handle(id, old, request)) == -EPROTO);
    wire::Header bad_size = header;
    bad_size.payload_bytes = 3;
    CHECK(result_of(coordinator.handle(id, bad_size, request)) == -EPROTO);
    wire::Header unknown = header;
    unknown.kind = 77;
    CHECK(result_of(coordinator.handle(id, unknown, request)) == -EPROTO);
    CHECK(result_of(coordinator.handle(12345, header, request)) == -EPROTO);

    std::vector<std::string> reasons;
    for (const TraceEvent& e : trace.events()) {
        if (e.name == "coordinator.protocol_error") reasons.push_back(value_text(*e.find("reason")));
    }
    CHECK(reasons == std::vector<std::string>{"syscall before hello", "wire version 99, coordinator speaks " + std::to_string(wire::wire_version),
                                              "payload size mismatch", "unknown message kind 77", "unknown process"});
}

TEST_CASE("the same client script gives the same trace; a different disk seed changes latencies", "[coordinator][determinism]") {
    auto run = [](std::uint64_t seed) {
        CoordinatorOptions options = options_with_mount();
        options.seed = seed;
        options.disk.latency_ns_jitter = 50'000;
        Trace trace(TraceHeader{}, nullptr, true);
        Coordinator coordinator(options, trace);
        std::uint64_t end_ns = 0;
        run_client(coordinator, [&](Client& c) {
            c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/f"), O_CREAT | O_RDWR, 0644, 0, 3);
            for (int i = 0; i < 10; ++i) c.call(SYS_write, 3, reinterpret_cast<long>("0123456789"), 10);
            c.call(SYS_fsync, 3);
            end_ns = c.now_ns;
        });
        return std::pair{trace.hash(), end_ns};
    };
    CHECK(run(1) == run(1));
    CHECK(run(1).second != run(2).second);
}

TEST_CASE("a second hello is an execve: close-on-exec descriptors go, the rest are listed", "[coordinator]") {
    Trace trace(TraceHeader{}, nullptr, true);
    Coordinator coordinator(options_with_mount(), trace);
    std::int32_t inherited[8] = {};
    std::size_t count = 0;
    bool second_hello = false, forked_hello = true;
    run_client(coordinator, [&](Client& c) {
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/keep"), O_CREAT | O_RDWR, 0644, 0, 5);
        c.call(SYS_openat, AT_FDCWD, reinterpret_cast<long>("data/drop"), O_CREAT | O_RDWR | O_CLOEXEC, 0644, 0, 6);
        const char cwd[] = "/work";
        wire::Hello hello;
        hello.now_ns = c.now_ns;
        hello.real_pid = 4242;
        hello.cwd_bytes = sizeof cwd - 1;
        hello.origin = wire::Origin::exec;
        wire::HelloReply identity;
        std::uint64_t now = 0;
        second_hello = wire::hello<LibcIo>(c.fd, hello, cwd, identity, now, inherited, 8, &count);
        hello.real_pid = 4343;
        forked_hello = wire::hello<LibcIo>(c.fd, hello, cwd, identity, now);
    });
    CHECK(second_hello);
    CHECK_FALSE(forked_hello);  // another pid on the same connection is refused
    REQUIRE(count == 1);
    CHECK(inherited[0] == 5);
}
