#!/usr/bin/env bash
# Programs nobody here wrote: date, shuf and od reading /dev/urandom are a
# function of the seed.
source "$(dirname "$0")/lib.sh"
launch=$1

same_for_one_seed date date '+%Y-%m-%dT%H:%M:%S.%N'
expect_line "$scratch/date.1a" '^2026-01-01T00:00:00\.[0-9]{9}$'
deterministic shuf shuf -n3 -e a b c d e f g h i j
deterministic od od -An -N8 -tx1 /dev/urandom
# A pipeline through a shell: every process of it is under the shim.
deterministic shell sh -c 'od -An -N4 -tx1 /dev/urandom; shuf -n2 -e 1 2 3 4 5 6 7 8 9; date +%s'
