#!/usr/bin/env bash
# A Marionette sweep as a Slurm job array: one array task per shard.
#
#   sbatch --array=1-16 slurm-sweep.sh /shared/app/your-program ARGS...
#
# Each task runs shard (task - min + 1) of SHARDS (marionette-launch
# --shard env reads SLURM_ARRAY_TASK_ID/_MIN/_MAX) and writes its results
# to $RESULTS_DIR (on a filesystem every node shares). Gather them with:
#
#   marionette-launch --merge-results results/shard-*.jsonl --seeds 1..100000
#
# (or make that a job of its own: sbatch --dependency=afterany:JOBID ...).
#SBATCH --job-name=marionette-sweep
#SBATCH --array=1-16
#SBATCH --cpus-per-task=8
#SBATCH --output=sweep-%A_%a.log
set -euo pipefail
launch=${MARIONETTE_LAUNCH:-marionette-launch}
seeds=${SEEDS:-1..100000}
results=${RESULTS_DIR:-$PWD/results}
mkdir -p "$results"
# A shard that finds failing seeds exits 1; that marks its task FAILED in
# sacct, which is what you want to see. Exit 2 or 3 means the sweep itself
# could not run.
exec "$launch" --seeds "$seeds" --shard env --jobs "${SLURM_CPUS_PER_TASK:-0}" --progress lines \
  --results "$results/shard-$SLURM_ARRAY_TASK_ID.jsonl" -- "$@"
