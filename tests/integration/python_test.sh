#!/usr/bin/env bash
# python3, unmodified: time, random, os.urandom, uuid4 and the pid are a
# function of the seed; an hour's sleep costs no wall time (the launcher's
# wall-clock guard would kill a real one) and moves the virtual clock.
source "$(dirname "$0")/lib.sh"
launch=$1
export SCRATCH=$scratch

deterministic python python3 -c \
  'import time, random, os, uuid; print(time.time(), random.random(), os.urandom(8).hex(), uuid.uuid4(), os.getpid())'
# The virtual clock starts at the documented epoch, 2026-01-01T00:00:00Z.
expect_line "$scratch/python.1a" '^1767225600\.[0-9]+ 0\.[0-9]+ [0-9a-f]{16} [0-9a-f-]{36} [0-9]+$'
# tempfile names come from Python's seeded random: same seed, same name.
deterministic python_tempfile python3 -c \
  'import tempfile, os; fd, path = tempfile.mkstemp(dir=os.environ["SCRATCH"]); os.close(fd); os.unlink(path); print(os.path.basename(path))'

"$launch" --quiet --wall-timeout 20s --seed 1 -- python3 -c \
  'import time; t0 = time.time(); m0 = time.monotonic(); time.sleep(3600); print(time.time() - t0, time.monotonic() - m0)' \
  >"$scratch/sleep" || fail "python sleep(3600) did not finish under the 20 s wall-clock guard"
read -r wall_delta mono_delta <"$scratch/sleep"
python3 -c "import sys; w, m = $wall_delta, $mono_delta; sys.exit(0 if 3600 <= w < 3601 and 3600 <= m < 3601 else 1)" \
  || fail "virtual time did not advance by one hour: realtime +$wall_delta s, monotonic +$mono_delta s"

# --start-time moves the epoch.
"$launch" --quiet --seed 1 --start-time 2030-06-01T12:00:00Z -- python3 -c 'import time; print(int(time.time()))' >"$scratch/start"
expect_line "$scratch/start" '^1906545600$'
