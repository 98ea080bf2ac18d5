#!/bin/sh
# Stands in for marionette-launch in the sweep tests: `fake_run.sh --seed S
# [--run-report FILE] [--crash-at N]` fails (exit 1) when S is divisible by 3,
# and exits 3 (a Marionette failure) when S equals N. With --run-report it
# writes the report a real run writes (launcher/run_report.hpp), made of S.
seed= crash=none report=
while [ $# -gt 0 ]; do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    --crash-at) crash=$2; shift 2 ;;
    --run-report) report=$2; shift 2 ;;
    *) shift ;;
  esac
done
echo "fake run seed=$seed"
[ -n "$report" ] && printf 'events=%d trace_hash=%016x virtual_duration_ns=%d\n' $((seed * 10)) "$seed" $((seed * 1000)) >"$report"
[ "$seed" = "$crash" ] && { echo "marionette-launch: internal error: fake"; exit 3; }
[ $((seed % 3)) -eq 0 ] && { echo "marionette: program exited with status 1"; exit 1; }
exit 0
