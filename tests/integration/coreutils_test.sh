#!/usr/bin/env bash
# Programs nobody here wrote: date, shuf and od reading /dev/urandom are a
# function of the seed.
source "$(dirname "$0")/lib.sh"
launch=$1

same_for_one_seed date date '+%Y-%m-%dT%H:%M:%S.%N'
expect_line "$scratch/date.1a" '^2026-01-01T00:00:00\.[0-9]{9}$'
deterministic shuf shuf -n3 -e a b c d e f g h i j
deterministic od od -An -N8 -tx1 /dev/urandom
deterministic mktemp mktemp -u
# Sequential commands through a shell: every process is under the shim.
deterministic shell sh -c 'od -An -N4 -tx1 /dev/urandom; shuf -n2 -e 1 2 3 4 5 6 7 8 9; date +%s'

# A pipeline: its processes run concurrently, so the order of their trace
# events is not deterministic yet (docs/determinism.md), but each process's
# randomness is, and so is the output.
under 1 "$scratch/pipe.1a" sh -c 'seq 1 50 | sort -R | head -3'
under 1 "$scratch/pipe.1b" sh -c 'seq 1 50 | sort -R | head -3'
under 2 "$scratch/pipe.2" sh -c 'seq 1 50 | sort -R | head -3'
cmp -s "$scratch/pipe.1a" "$scratch/pipe.1b" || fail "pipeline: seed 1 twice gave different output"
cmp -s "$scratch/pipe.1a" "$scratch/pipe.2" && fail "pipeline: seeds 1 and 2 gave identical output"
[[ $(wc -l <"$scratch/pipe.1a") -eq 3 ]] || fail "pipeline: expected 3 lines"
