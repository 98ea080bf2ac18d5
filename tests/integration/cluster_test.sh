#!/usr/bin/env bash
# Clusters: unmodified programs on the simulated network under one scheduler.
# An echo server and client (same seed twice: same output and trace; with
# latency jitter another seed changes the trace), a connect to an address
# outside the cluster answered by the model (never the real network), and a
# quorum register whose deliberate bug a seed sweep finds and whose printed
# seed replays byte for byte, while the correct register passes every seed.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"

echo_run() {  # echo_run NAME SEED NET
  "$launch" --quiet --seed "$2" --wall-timeout 60s --net "$3" --trace "$1.trace" \
    --node server="$guests/marionette_guest_echo_server 7000" \
    --node client="$guests/marionette_guest_echo_client server 7000 4" >"$1.out" 2>"$1.err"
}
echo_run e1a 1 'latency_ns_jitter=300us' || { cat e1a.err >&2; fail "echo cluster failed"; }
echo_run e1b 1 'latency_ns_jitter=300us' || { cat e1b.err >&2; fail "echo cluster failed (second run)"; }
echo_run e2 2 'latency_ns_jitter=300us' || { cat e2.err >&2; fail "echo cluster failed (seed 2)"; }
cmp -s e1a.out e1b.out && cmp -s e1a.trace e1b.trace || fail "echo cluster: one seed, different runs"
! cmp -s e1a.trace e2.trace || fail "echo cluster: the seed does not reach the network's jitter"
expect_line e1a.out '^listening on 7000$'
expect_line e1a.out '^accepted 10\.0\.0\.2$'
expect_line e1a.out '^echo ping 3 after [0-9]+ us$'
expect_line e1a.trace ' cluster\.start at_ns=0 node=server address=10\.0\.0\.1 '
expect_line e1a.trace ' net\.established at_ns=[0-9]+ sock=[0-9]+ node=1 src=10\.0\.0\.2:[0-9]+ dst=10\.0\.0\.1:7000'
expect_line e1a.trace ' net\.deliver '
# Round trips take the model's latency: at least 2 x 100 us.
while read -r us; do [[ $us -ge 200 ]] || fail "a round trip took $us us, less than the model's latency"; done \
  < <(sed -nE 's/^echo ping [0-9]+ after ([0-9]+) us$/\1/p' e1a.out)

# An address that is no node: the simulated network answers, not the kernel.
"$launch" --quiet --seed 3 --trace away.trace \
  --node a='python3 -c "import socket, errno; s = socket.socket(); print(errno.errorcode[s.connect_ex((\"8.8.8.8\", 53))])"' \
  >away.out 2>away.err || { cat away.err >&2; fail "the outside-address probe failed"; }
[[ $(cat away.out) == ENETUNREACH ]] || fail "connect to 8.8.8.8 in a cluster gave '$(cat away.out)'"
expect_line away.trace ' net\.connect at_ns=[0-9]+ sock=[0-9]+ from=0 to=none dst=8\.8\.8\.8:53 result=unreachable'

# The quorum register: a write quorum of 1 loses writes under 30% datagram
# loss; a sweep finds it, the printed command replays it exactly.
quorum=(--net 'drop_rate=30%'
        --node r1="$guests/marionette_guest_quorum_replica 9000" --node r2="$guests/marionette_guest_quorum_replica 9000"
        --node r3="$guests/marionette_guest_quorum_replica 9000")
code=0
"$launch" --seeds 1..8 --jobs 2 --wall-timeout 60s "${quorum[@]}" \
  --node client="$guests/marionette_guest_quorum_client 1 20" >sweep.out 2>sweep.err || code=$?
[[ $code -eq 1 ]] || { cat sweep.err >&2; fail "the buggy quorum sweep exited $code, expected 1 (a failing seed)"; }
seed=$(sed -nE 's/^  seed=([0-9]+) +exit=1 .*/\1/p' sweep.err | head -1)
[[ -n $seed ]] || { cat sweep.err >&2; fail "no failing seed in the sweep report"; }
grep -q "replay: .*--seed $seed " sweep.err || fail "no replay command for seed $seed"
for run in a b; do
  code=0
  "$launch" --seed "$seed" --quiet --wall-timeout 60s --trace "q.$run.trace" "${quorum[@]}" \
    --node client="$guests/marionette_guest_quorum_client 1 20" >"q.$run.out" 2>"q.$run.err" || code=$?
  [[ $code -eq 1 ]] || fail "replaying seed $seed exited $code, expected 1"
done
cmp -s q.a.trace q.b.trace || fail "replaying seed $seed twice gave different traces"
expect_line q.a.out '^STALE read: wrote version [0-9]+, a majority read returned [0-9]+$'
"$launch" --seeds 1..8 --jobs 2 --wall-timeout 60s "${quorum[@]}" \
  --node client="$guests/marionette_guest_quorum_client 2 20" >ok.out 2>ok.err \
  || { cat ok.err >&2; fail "the correct quorum failed a seed"; }

# Connect failures between a named pair, by scenario: refused while on.
cat >fail.scenario <<EOT
run 10ms
net.fail_connect client server on
spawn blocked node=client -- $guests/marionette_guest_echo_client server 7000 1
expect exit blocked 2
net.fail_connect client server off
spawn through node=client -- $guests/marionette_guest_echo_client server 7000 1
expect exit through 0
expect output through contains "echo ping 0"
EOT
"$launch" --seed 4 --quiet --trace fail.trace --node server="$guests/marionette_guest_echo_server 7000" \
  --node client='sleep 1000' --scenario fail.scenario >fail.out 2>fail.err || { cat fail.err >&2; fail "the connect-failure scenario failed"; }
expect_line fail.trace ' net\.connect at_ns=[0-9]+ sock=[0-9]+ from=1 to=0 dst=10\.0\.0\.1:7000 result=injected_refused'
expect_line fail.trace ' control\.command at_ns=[0-9]+ line=2 text=net\.fail_connect%20client%20server%20on'

# A clog holds the handshake for its duration; a crashed node restarts with
# a new incarnation that serves again.
cat >clog.scenario <<EOT
run 10ms
net.clog client server 500ms
spawn slow node=client -- $guests/marionette_guest_echo_client server 7000 1
expect exit slow 0
crash server
restart server
run 10ms
spawn again node=client -- $guests/marionette_guest_echo_client server 7000 1
expect exit again 0
EOT
for run in a b; do
  "$launch" --seed 5 --quiet --trace "clog.$run.trace" --node server="$guests/marionette_guest_echo_server 7000" \
    --node client='sleep 1000' --scenario clog.scenario >clog.out 2>clog.err || { cat clog.err >&2; fail "the clog/crash scenario failed"; }
done
cmp -s clog.a.trace clog.b.trace || fail "the clog/crash scenario: one seed, different traces"
expect_line clog.a.trace ' net\.clog at_ns=10000000 from=1 to=0 duration_ns=500000000'
# The slow client's connect waited for the clog to end (at 510 ms).
at=$(sed -nE 's/.* cluster\.spawn_exit at_ns=([0-9]+) name=slow code=0.*/\1/p' clog.a.trace)
[[ -n $at && $at -ge 510000000 ]] || fail "the clogged client finished at '$at' ns, before the clog ended"
expect_line clog.a.trace ' node\.crash at_ns=[0-9]+ node=server '
expect_line clog.a.trace ' node\.restart at_ns=[0-9]+ node=server incarnation=2'
expect_line clog.a.trace ' cluster\.spawn_exit at_ns=[0-9]+ name=again code=0'

# Usage errors.
code=0
"$launch" --node 'bad name=true' 2>bad.err || code=$?
[[ $code -eq 2 ]] && grep -q "invalid node name" bad.err || fail "a bad node name was not a usage error"
code=0
"$launch" --node a=true --node a=true 2>dup.err || code=$?
[[ $code -eq 2 ]] && grep -q "two nodes named 'a'" dup.err || fail "duplicate node names were not a usage error"
for t in e1a.trace away.trace q.a.trace; do "$launch" --check-trace "$t" >/dev/null || fail "invalid trace $t"; done
echo "cluster: ok"
