#!/usr/bin/env bash
# IPv6 and Linux's socket semantics on the simulated network
# (docs/network-model.md, "IPv6", "Relaying real descriptors"):
#  - tests/programs/net6.c between two nodes (b is 10.0.0.1 = fd00::1, a is
#    fd00::2): fd00::N names, a dual-stack listener accepting an IPv4 client
#    as ::ffff:10.0.0.2, IPV6_V6ONLY
#    refusing it, UDP and loopback over IPv6, SO_SNDBUF/SO_RCVBUF as Linux
#    reports them, ECONNRESET then EPIPE (and SIGPIPE) after a peer's reset
#    and after the peer node's crash and restart. Twice with one seed (same
#    trace, same output), once with another (jitter: another trace).
#  - python3's socket.AF_INET6 server and client between nodes.
#  - Debian's redis-server (its default `bind * -::*` binds both families)
#    and redis-cli -h fd00::1.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"

cat >crash.scenario <<EOT
run 400ms
crash b
restart b
run until exit a
expect exit a 0
EOT
net6_run() {  # net6_run NAME SEED
  "$launch" --quiet --seed "$2" --wall-timeout 60s --net 'latency_ns_jitter=300us' --trace "$1.trace" \
    --node b="$guests/marionette_guest_net6 serve 7000" \
    --node a="$guests/marionette_guest_net6 client b 7000" --scenario crash.scenario >"$1.out" 2>"$1.err" \
    || { cat "$1.out" "$1.err" >&2; fail "net6 cluster (seed $2) failed"; }
  # Lines of the two nodes interleave in real time; each process's output
  # is hashed in the trace, which is compared whole.
  sort "$1.out" >"$1.sorted"
}
net6_run n1a 1
net6_run n1b 1
net6_run n2 2
cmp -s n1a.sorted n1b.sorted || { diff n1a.sorted n1b.sorted >&2 || true; fail "net6: one seed, different output"; }
cmp -s n1a.trace n1b.trace || fail "net6: one seed, different traces"
! cmp -s n1a.trace n2.trace || fail "net6: the seed does not reach the network's jitter"
if grep -q '^FAIL' n1a.out; then cat n1a.out >&2; fail "net6: a check failed"; fi
expect_line n1a.out '^a: b is \[fd00::1\]:7000$'
expect_line n1a.out '^a: gethostbyname2 b AF_INET6: fd00::1 \(length 16\)$'
expect_line n1a.out '^a: v6 connected from fd00::2 to \[fd00::1\]:7000 \(lengths 28 28\)$'
expect_line n1a.out '^b: dual-stack accepted fd00::2 on \[fd00::1\]:7000$'
expect_line n1a.out '^b: dual-stack accepted ::ffff:10\.0\.0\.2 on \[::ffff:10\.0\.0\.1\]:7000$'
expect_line n1a.out '^a: v4 to the V6ONLY listener: ECONNREFUSED$'
expect_line n1a.out '^b: v6-only accepted fd00::2$'
expect_line n1a.out '^a: v4-mapped connection from ::ffff:10\.0\.0\.2$'
expect_line n1a.out '^a: connect to \[2001:db8::1\]: ENETUNREACH$'
expect_line n1a.out '^b: udp from fd00::2$'
expect_line n1a.out '^a: udp reply dgram from \[fd00::1\]:7000$'
expect_line n1a.out '^a: loopback accepted ::1$'
expect_line n1a.out '^a: SO_SNDBUF 16384 SO_RCVBUF 131072$'
expect_line n1a.out '^a: after asking 4096: SO_SNDBUF 8192 SO_RCVBUF 8192$'
expect_line n1a.out '^a: read after the peer.s reset: -1 ECONNRESET$'
expect_line n1a.out '^a: write after the reset: -1 EPIPE, SIGPIPE 1$'
expect_line n1a.out '^a: send MSG_NOSIGNAL: -1 EPIPE, SIGPIPE 1$'
expect_line n1a.out '^a: after the crash: write ECONNRESET$'
expect_line n1a.out '^a: then: write EPIPE$'
expect_line n1a.out '^a: all checks held$'
expect_line n1a.trace ' net\.send at_ns=[0-9]+ id=[0-9]+ from=1 to=0 proto=tcp .* family=ipv6 '
expect_line n1a.trace ' net\.reset at_ns=[0-9]+ .*reason=peer'
expect_line n1a.trace ' node\.crash at_ns=[0-9]+ node=b '

# python3 over IPv6 between nodes: a server on [::], a client that resolves
# the server's node name for AF_INET6. The scripts live in a directory of
# their own: python3 lists it, and the runs' outputs must not show there.
mkdir py
cat >py/server.py <<'EOT'
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.bind(("::", 8000))
s.listen(4)
c, peer = s.accept()
print("server: peer", peer[0], "family", c.family.name)
c.sendall(c.recv(64).upper())
c.close()
# The second connection is closed unread: a reset.
c, peer = s.accept()
c.recv(1, socket.MSG_PEEK)
c.close()
EOT
cat >py/client.py <<'EOT'
import socket, time
info = socket.getaddrinfo("srv", 8000, socket.AF_INET6, socket.SOCK_STREAM)
print("client: srv is", info[0][4][0])
for attempt in range(100):  # until the server listens
    c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        c.connect(info[0][4])
        break
    except ConnectionRefusedError:
        c.close()
        time.sleep(0.01)
c.sendall(b"over ipv6")
print("client: got", c.recv(64).decode(), "from", c.getpeername()[0], "as", c.getsockname()[0])
r = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
r.connect(info[0][4])
r.sendall(b"never read")
for call in (lambda: r.recv(8), lambda: r.send(b"more"), lambda: r.send(b"more")):
    try:
        print("client: after the reset:", call())
    except OSError as e:
        print("client: after the reset:", type(e).__name__)
EOT
py_run() {  # py_run NAME SEED
  "$launch" --quiet --seed "$2" --wall-timeout 60s --net 'latency_ns_jitter=300us' --trace "$1.trace" \
    --node srv="python3 $scratch/py/server.py" --node cli="python3 $scratch/py/client.py" >"$1.out" 2>"$1.err" \
    || { cat "$1.out" "$1.err" >&2; fail "python3 over IPv6 (seed $2) failed"; }
  sort "$1.out" >"$1.sorted"
}
py_run p1a 1
py_run p1b 1
py_run p2 2
cmp -s p1a.sorted p1b.sorted && cmp -s p1a.trace p1b.trace || fail "python3 over IPv6: one seed, different runs"
! cmp -s p1a.trace p2.trace || fail "python3 over IPv6: the seed does not matter"
expect_line p1a.out '^client: srv is fd00::1$'
expect_line p1a.out '^client: got OVER IPV6 from fd00::1 as fd00::2$'
expect_line p1a.out '^server: peer fd00::2 family AF_INET6$'
# Python ignores SIGPIPE: ECONNRESET once, then EPIPE.
[[ $(grep -c '^client: after the reset:' p1a.out) -eq 3 ]] || { cat p1a.out >&2; fail "python3: not three calls after the reset"; }
[[ $(sed -n 's/^client: after the reset: //p' p1a.out | tr '\n' ' ') == 'ConnectionResetError BrokenPipeError BrokenPipeError ' ]] \
  || { cat p1a.out >&2; fail "python3: not ECONNRESET then EPIPE after the reset"; }

# Redis: the default `bind * -::*` listens on both families; redis-cli
# reaches it over IPv6 by address.
if command -v redis-server >/dev/null; then
  cat >redis.scenario <<'EOT'
run 300ms
spawn ping node=cli -- redis-cli -h fd00::1 -p 6379 set greeting hello6
expect exit ping 0
spawn get node=cli -- redis-cli -h fd00::1 -p 6379 get greeting
expect exit get 0
expect output get contains hello6
spawn get4 node=cli -- redis-cli -h redis -p 6379 get greeting
expect exit get4 0
expect output get4 contains hello6
EOT
  redis_run() {  # redis_run NAME SEED
    "$launch" --quiet --seed "$2" --wall-timeout 120s --trace "$1.trace" \
      --node redis="redis-server --port 6379 --save '' --appendonly no --protected-mode no --dir /tmp/marionette-node-tmp" \
      --node cli='sleep 100000' --scenario redis.scenario >"$1.out" 2>"$1.err" \
      || { cat "$1.err" >&2; fail "redis over IPv6 (seed $2) failed"; }
  }
  redis_run r1a 1
  redis_run r1b 1
  cmp -s r1a.trace r1b.trace || fail "redis over IPv6: one seed, different traces"
  grep -q 'Could not create server TCP listening socket' r1a.out && fail "redis could not listen on a family"
  expect_line r1a.trace ' net\.send at_ns=[0-9]+ id=[0-9]+ from=1 to=0 proto=tcp .* family=ipv6 '
fi
for t in n1a.trace p1a.trace; do "$launch" --check-trace "$t" >/dev/null || fail "invalid trace $t"; done
echo "net6: ok"
