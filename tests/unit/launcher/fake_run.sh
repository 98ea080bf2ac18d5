#!/bin/sh
# Stands in for marionette-launch in the sweep tests: `fake_run.sh --seed S
# [--crash-at N]` fails (exit 1) when S is divisible by 3, and exits 3 (a
# Marionette failure) when S equals N.
seed=$2
crash=${4:-none}
echo "fake run seed=$seed"
[ "$seed" = "$crash" ] && exit 3
[ $((seed % 3)) -eq 0 ] && exit 1
exit 0
