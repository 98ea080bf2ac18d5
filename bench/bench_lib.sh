# Timing helpers shared by the side-by-side benchmarks (channel_bench.sh,
# threads_bench.sh). The caller sets $work (a scratch directory), $repeat
# (runs per figure) and $stat (median, or best).

# wall_us CMD...: one run's wall time in microseconds (output discarded; a
# failing command fails the benchmark rather than timing an error path).
wall_us() {
  local t0=${EPOCHREALTIME/./} t1
  if ! "$@" >/dev/null 2>"$work/stderr"; then
    echo "benchmark: failed: $*" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  t1=${EPOCHREALTIME/./}
  echo $((t1 - t0))
}

# figure_us CMD...: the median (STAT=best: the smallest) wall time of
# $repeat runs, in microseconds.
figure_us() {
  local times=()
  for _ in $(seq "$repeat"); do times+=("$(wall_us "$@")"); done
  printf '%s\n' "${times[@]}" | sort -n | awk -v stat="$stat" '
    { v[NR] = $1 }
    END { if (stat == "best") print v[1]; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# per_call_ns N CMD...: (figure(CMD N) - figure(CMD 0)) / N, in ns.
per_call_ns() {
  local n=$1 full empty
  shift
  full=$(figure_us "$@" "$n")
  empty=$(figure_us "$@" 0)
  awk -v f="$full" -v e="$empty" -v n="$n" 'BEGIN { printf "%.1f", (f - e) * 1000 / n }'
}

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
verdict() { awk "BEGIN { print ($1) ? \"met\" : \"**missed**\" }"; }

