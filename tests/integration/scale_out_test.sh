#!/usr/bin/env bash
# The scale-out recipes of docs/scale-out.md (examples/scale-out/), run on
# this machine: GNU parallel over two "hosts" (a stand-in ssh that runs the
# command here), a Slurm array script run once per task with Slurm's
# variables, a Kubernetes Indexed Job manifest and a GitHub Actions
# workflow, each parsed and checked, and their commands run once per index
# or matrix entry. Each recipe's gathered results must merge into exactly
# the results of one unsplit sweep (apart from wall times).
source "$(dirname "$0")/lib.sh"
launch=$1
recipes=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$scratch"
unset MARIONETTE_SHARD MARIONETTE_SHARD_COUNT SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX \
  SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_STEP JOB_COMPLETION_INDEX CI_NODE_INDEX CI_NODE_TOTAL
python3 -c 'import yaml' || fail "python3-yaml is missing (scripts/deps.sh installs it)"

# The recipes call `marionette-launch` by name, as on a real machine.
mkdir bin
ln -s "$launch" bin/marionette-launch
export PATH=$scratch/bin:$PATH
# The program under test: dash and od, failing two ways for some seeds.
cat >prog.sh <<'EOT'
#!/bin/sh
n=$(od -An -N1 -tu1 /dev/urandom)
case $((n % 4)) in 0) exit 1 ;; 1) kill -ABRT $$ ;; esac
exit 0
EOT
chmod +x prog.sh
program=$scratch/prog.sh
range=1..12
no_wall() { sed -E 's/"wall_time_ms":[0-9]+,//' "$@"; }
cleanup_logs() { { grep -ho '/tmp/marionette-sweep\.[A-Za-z0-9]*' "$@" || true; } | sort -u | xargs -r rm -rf; }

code=0
marionette-launch --seeds "$range" --jobs 2 --results all.jsonl -- "$program" >all.out 2>all.err || code=$?
cleanup_logs all.err
[[ $code -eq 1 ]] || { cat all.err >&2; fail "the unsplit sweep exited $code, expected 1 (some seeds fail)"; }
[[ $(wc -l <all.jsonl) -eq 12 ]] || fail "the unsplit sweep wrote $(wc -l <all.jsonl) results"

# merged NAME FILES...: the merge of FILES reports the unsplit sweep and
# the files hold exactly its results.
merged() {
  local name=$1; shift
  local merge_code=0
  marionette-launch --merge-results "$@" --seeds "$range" >"$name.report" 2>"$name.merge-err" || merge_code=$?
  [[ $merge_code -eq 1 ]] || { cat "$name.report" "$name.merge-err" >&2; fail "$name: the merge exited $merge_code, expected 1"; }
  diff <(no_wall all.jsonl) <(cat "$@" | sort -t: -k2 -n | no_wall) >&2 || fail "$name: the gathered results differ from the unsplit sweep's"
}

# GNU parallel: two hosts reached by "ssh"; results come back on stdout.
export PARALLEL_SSH=$here/scale_out/fake-ssh FAKE_SSH_LOG=$scratch/ssh.log
code=0
# Without $SHELL (env -i, cron, some CI runners) GNU parallel runs nothing:
# the recipe must provide one.
env -u SHELL "$recipes/parallel-sweep.sh" h1,h2 4 "$range" -- "$program" >parallel.jsonl 2>parallel.err || code=$?
cleanup_logs parallel.err
[[ $code -le 4 ]] || { cat parallel.err >&2; fail "parallel-sweep.sh exited $code"; }
for host in h1 h2; do grep -qx "$host" ssh.log || { cat ssh.log >&2; fail "parallel did not use host $host"; }; done
# --keep-order: the file is the unsplit one, line for line.
diff <(no_wall all.jsonl) <(no_wall parallel.jsonl) >&2 || fail "parallel: results differ from the unsplit sweep's"
merged parallel parallel.jsonl

# Slurm: the array script, once per task of --array=1-3.
bash -n "$recipes/slurm-sweep.sh" || fail "slurm-sweep.sh has a syntax error"
grep -q '^#SBATCH --array=' "$recipes/slurm-sweep.sh" || fail "slurm-sweep.sh sets no array"
for task in 1 2 3; do
  code=0
  SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=2 \
    SEEDS=$range RESULTS_DIR=$scratch/slurm "$recipes/slurm-sweep.sh" "$program" >"slurm-$task.out" 2>"slurm-$task.err" || code=$?
  cleanup_logs "slurm-$task.err"
  [[ $code -le 1 ]] || { cat "slurm-$task.err" >&2; fail "slurm task $task exited $code"; }
  grep -q "shard $task/3 of --seeds $range" "slurm-$task.err" || { cat "slurm-$task.err" >&2; fail "slurm task $task ran the wrong shard"; }
done
merged slurm slurm/shard-*.jsonl

# Kubernetes: the manifest's shape, then its command once per index.
python3 - "$recipes/indexed-job.yaml" >k8s.vars <<'PY' || fail "indexed-job.yaml is not a valid Indexed Job"
import shlex, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(docs) == 1, "one document"
job = docs[0]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", "a batch/v1 Job"
spec = job["spec"]
assert spec["completionMode"] == "Indexed", "completionMode: Indexed"
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never", "restartPolicy: Never"
(container,) = pod["containers"]
env = {e["name"]: e["value"] for e in container["env"]}
count = int(env["MARIONETTE_SHARD_COUNT"])
assert spec["completions"] == spec["parallelism"] == count, "completions = parallelism = MARIONETTE_SHARD_COUNT"
assert container["command"] == ["sh", "-c"], "sh -c"
(script,) = container["args"]
assert "--shard env" in script and "--results -" in script, script
print("count=%d" % count)
print("script=%s" % shlex.quote(script))
PY
source k8s.vars
[[ $count -eq 16 ]] || fail "the manifest runs $count shards, the docs say 16"
# Here: 3 pods (the count is the Job's MARIONETTE_SHARD_COUNT, set to 3).
script=${script//\/app\/your-program/$program}
for index in 0 1 2; do
  code=0
  JOB_COMPLETION_INDEX=$index MARIONETTE_SHARD_COUNT=3 SEEDS=$range sh -c "$script" >"pod-$index.log" 2>&1 || code=$?
  cleanup_logs "pod-$index.log"
  [[ $code -eq 0 ]] || { cat "pod-$index.log" >&2; fail "pod $index failed ($code): exit 1 must count as a completed pod"; }
done
# kubectl logs interleaves nothing within a pod; gather as the docs say.
cat pod-0.log pod-1.log pod-2.log | grep '^{"seed":' >k8s.jsonl
merged k8s k8s.jsonl

# GitHub Actions: the workflow's shape, then each matrix entry's sweep step
# and the merge step on the gathered artifacts.
python3 - "$recipes/github-actions-sweep.yml" <<'PY' || fail "github-actions-sweep.yml is not the expected workflow"
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
jobs = wf["jobs"]
shards = jobs["sweep"]["strategy"]["matrix"]["shard"]
assert jobs["sweep"]["strategy"]["fail-fast"] is False, "fail-fast: false"
assert jobs["sweep"]["env"]["MARIONETTE_SHARD"] == "${{ matrix.shard }}/%d" % len(shards), "MARIONETTE_SHARD names the shard count"
assert shards == list(range(1, len(shards) + 1)), shards
assert jobs["merge"]["needs"] == "sweep" and jobs["merge"]["if"] == "always()", "merge needs sweep, always runs"
steps = {s.get("name"): s for s in jobs["sweep"]["steps"]}
open("gha-sweep.sh", "w").write(steps["Sweep one shard"]["run"])
merge = {s.get("name"): s for s in jobs["merge"]["steps"]}
open("gha-merge.sh", "w").write(merge["Merge the shards' results"]["run"])
assert jobs["merge"]["env"]["SEEDS"] == jobs["sweep"]["env"]["SEEDS"], "one range"
PY
mkdir gha gha/results
sed -i "s|\./your-program|$program|" gha-sweep.sh
for shard in 1 2 3 4; do
  code=0
  # GitHub runs `run:` scripts with bash -e.
  # In the unsplit sweep's directory: the working directory is part of a
  # run's input (the program sees it through the simulated file system).
  (MARIONETTE_SHARD=$shard/4 SHARD=$shard SEEDS=$range bash -e gha-sweep.sh) >"gha-$shard.out" 2>"gha-$shard.err" || code=$?
  cleanup_logs "gha-$shard.err"
  [[ $code -eq 0 ]] || { cat "gha-$shard.err" >&2; fail "the sweep step of shard $shard failed ($code)"; }
  mv "results-$shard.jsonl" gha/results/  # upload-artifact, then download-artifact merge-multiple
done
code=0
(cd gha && SEEDS=$range bash -e ../gha-merge.sh) >gha.report 2>gha.merge-err || code=$?
[[ $code -eq 1 ]] || { cat gha.report gha.merge-err >&2; fail "the merge step exited $code, expected 1 (failing seeds)"; }
diff <(sed -nE '/^ \[|^  seed=/p' all.err | sed -E 's/ +log=.*//; s/ +$//') \
  <(sed -nE '/^ \[|^  seed=/p' gha.report | sed -E 's/ +$//') >&2 || fail "the workflow's merged report differs from the unsplit sweep's"
# The workflow's step runs the sweep from bash -e with its own environment
# (SEEDS, SHARD, PWD): a program sees its environment and working directory
# through the simulation (dash stats $PWD), so trace hashes and event
# counts may differ from the unsplit sweep's; seeds, verdicts, exit codes
# and messages must not.
verdicts() { sed -E 's/"virtual_duration_ns":[0-9]+,//; s/"wall_time_ms":[0-9]+,//; s/"events":[0-9]+,//; s/"trace_hash":"[0-9a-f]+",//' "$@"; }
diff <(verdicts all.jsonl) <(cat gha/results/*.jsonl | sort -t: -k2 -n | verdicts) >&2 || fail "gha: the gathered verdicts differ from the unsplit sweep's"
echo "scale_out: ok"
