#!/usr/bin/env bash
# Nothing the user asks for is silently ignored (issue 16): every option
# that does not apply to the kind of run, every path that cannot serve and
# every user error is exit 2 with a message naming the option, before
# anything runs (never 0, never 3 "internal error"). A crash point that
# never fires is reported (and fails the run under --require-crash).
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"
mkdir data
node=(--node server="$guests/marionette_guest_echo_server 7000" --node client="$guests/marionette_guest_echo_client server 7000 1")

# bad CODE TEXT ARGS...: exit CODE (2), stderr names TEXT.
bad() {
  local text=$1; shift
  expect_exit 2 "$launch" "$@"
  expect_in "$scratch/err" "$text"
  if grep -q "internal error" "$scratch/err"; then fail "'$*' reported a user error as an internal error"; fi
}

# Options that do not apply to a cluster.
bad "--verify does not apply with --control" --verify --control v.sock "${node[@]}"
bad "--crash-at '10ms' in a cluster names the node that loses power: --crash-at server=20ms" --crash-at 10ms "${node[@]}"
bad "--export-disk needs --disk DIR" --export-disk exp "${node[@]}"
bad "--after-crash does not apply to a cluster run" --after-crash true "${node[@]}"
bad "--crash-rate '1%' in a cluster names the node that loses power" --crash-rate 1% "${node[@]}"
bad "--crash-at does not apply to a run driven by --scenario" --crash-at client=10ms --scenario /dev/null "${node[@]}"
# Cluster disks: one per node, each an existing directory.
bad "--disk 'server=dta' does not exist" --disk server=dta "${node[@]}"
bad "node 'server' already has --disk server=data" --disk server=data --disk server=data "${node[@]}"
bad "every node already gets --disk 'data'" --disk data --disk data "${node[@]}"
bad "--disk given 2 times: a run of one program has one disk" --disk data --disk data -- true
[[ ! -e exp ]] || fail "a rejected --export-disk created its directory"

# --export-disk without --disk; --disk that does not exist or is a file.
bad "--export-disk needs --disk DIR" --export-disk exp -- true
bad "--disk 'dta' does not exist" --disk dta -- true
touch afile
bad "--disk 'afile' is not a directory" --disk afile -- true
# A --disk directory that holds more than the disk's capacity.
head -c 5000 /dev/zero >data/five-k
bad "--disk 'data' holds 5000 bytes, more than the disk's capacity (--capacity-bytes 4096)" --disk data --capacity-bytes 4096 -- true
bad "--disk 'server=data' holds 5000 bytes, more than the disk's capacity" --disk server=data --capacity-bytes 4096 "${node[@]}"
rm data/five-k
# A non-empty --export-disk directory: refused before the run, not after it.
mkdir full && touch full/x
bad "--export-disk 'full' is not empty" --disk data --export-disk full -- sh -c 'echo ran > ran.txt'
[[ ! -e ran.txt ]] || fail "the program ran although --export-disk was refused"
bad "--export-disk 'afile' exists and is not a directory" --disk data --export-disk afile -- true

# A crash point on an event no run emits.
bad "no run emits the event 'disk.wrte'" --disk data --crash-after '2 disk.wrte' -- true

# Durations need a unit (a bare 5 used to mean 5 ns).
bad "--wall-timeout '5' has no unit" --wall-timeout 5 -- true
bad "--timeout '10' has no unit" --timeout 10 -- true
bad "--crash-at '20' has no unit" --disk data --crash-at 20 -- true

# Scenario and control paths.
bad "--scenario 'missing.scenario' does not exist" --disk data --scenario missing.scenario -- true
bad "--control 'nodir/run.sock': directory 'nodir' does not exist" --disk data --control nodir/run.sock -- true
bad "--control 'afile' exists and is not a socket" --disk data --control afile -- true
echo 'run until idle' >ok.scenario
bad "--crash-at does not apply to a run driven by --scenario" --disk data --scenario ok.scenario --crash-at 1ms -- true
bad "--verify does not apply to a run driven by --scenario" --disk data --scenario ok.scenario --verify -- true

# Sweeps: one output path for many runs.
bad "--export-disk names one directory" --seeds 1..2 --disk data --export-disk out2 -- true
bad "--control names one socket" --seeds 1..2 --disk data --control s.sock -- true

# An unknown key in a --config file.
printf 'seed = 7\nsede = 8\n' >typo.toml
expect_exit 2 "$launch" --config typo.toml -- true
expect_in "$scratch/err" "unknown option --sede; did you mean --seed?"
# The known keys still work.
printf 'seed = 7\nwall-timeout = "30s"\n' >good.toml
expect_exit 0 "$launch" --config good.toml -- true
expect_in "$scratch/err" "seed=7 "

# A crash point the run never reaches: a warning and a trace event; exit 1
# with --require-crash.
expect_exit 0 "$launch" --disk data --crash-at 1h --trace late.trace -- true
expect_in "$scratch/err" "crash point not reached: --crash-at 1h"
grep -q ' coordinator.crash_not_reached .*point=' late.trace || fail "no coordinator.crash_not_reached event in the trace"
expect_exit 0 "$launch" --disk data --crash-random-within 1h..2h -- true
expect_in "$scratch/err" "crash point not reached: --crash-random-within 1h..2h"
expect_exit 1 "$launch" --disk data --crash-at 1h --require-crash -- true
expect_in "$scratch/err" "--require-crash makes this a failure"
bad "--require-crash needs a crash point" --disk data --require-crash -- true

# A mistyped option: the nearest one suggested.
bad "unknown option --sed; did you mean --seed?" --sed 5 -- true
bad "unknown option --crash-randm-within; did you mean --crash-random-within?" --crash-randm-within=1ms..2ms -- true

# --version on both tools.
expect_exit 0 "$launch" --version
expect_in "$scratch/out" "marionette-launch "
echo "ignored_options: ok"
