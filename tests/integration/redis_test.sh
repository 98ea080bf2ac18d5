#!/usr/bin/env bash
# Redis (Debian's redis-server and redis-cli, unmodified): a primary and a
# replica on the simulated network; writes before, during and after a
# partition; after the heal the replica catches up (examples/redis-partition).
# Twice with one seed: identical traces; with jitter another seed differs.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/deps.sh installs it)"
cd "$scratch"
run() {  # run NAME SEED
  "$example/run.sh" "$launch" "$2" --quiet --trace "$1.trace" --net 'latency_ns_jitter=200us' >"$1.out" 2>"$1.err"
}
run a 1 || { cat a.err >&2; fail "the redis partition scenario failed"; }
run b 1 || { cat b.err >&2; fail "the redis partition scenario failed (second run)"; }
run c 2 || { cat c.err >&2; fail "the redis partition scenario failed (seed 2)"; }
grep -q 'scenario .*partition.scenario: ok' a.err || { cat a.err >&2; fail "the scenario did not pass"; }
cmp -s a.trace b.trace || fail "redis: one seed, different traces"
! cmp -s a.trace c.trace || fail "redis: the seed does not matter"
expect_line a.trace ' net\.partition at_ns=[0-9]+ groups=0,2\|1,3'
expect_line a.trace ' net\.drop at_ns=[0-9]+ id=[0-9]+ from=[0-9] to=[0-9] reason=partition'
expect_line a.trace ' net\.heal '
expect_line a.trace ' cluster\.spawn_exit at_ns=[0-9]+ name=r3 code=0'
# Redis's background and I/O threads are scheduled (none runs unscheduled).
[[ $(grep -c ' thread\.start ' a.trace) -ge 6 ]] || fail "redis: fewer than 6 scheduled threads"
if grep -q ' thread\.create ' a.trace; then fail "redis: a thread ran outside the scheduler"; fi
# Redis's files (the replica's received RDB) live on the simulated disks.
! compgen -G '*.rdb' >/dev/null || fail "redis wrote an RDB file into the real working directory"
[[ ! -e /tmp/marionette-node-tmp ]] || fail "the simulated TMPDIR exists on the real file system"
"$launch" --check-trace a.trace >/dev/null || fail "invalid trace"
echo "redis: ok"
