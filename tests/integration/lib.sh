# Helpers for the integration tests: run a command under marionette-launch
# with a seed and compare outputs. Every check prints what it expected.
set -Eeuo pipefail
# A command that fails outside a check (set -e) names itself: a test never
# fails in silence.
trap 'echo "FAIL: line $LINENO of ${BASH_SOURCE[0]##*/}: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
# The programs under test are Debian's own binaries. A developer's PATH may
# put wrappers first (pyenv's python3 is a bash script that forks a pipeline
# of helpers, whose concurrent trace lines are not ordered yet).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
scratch=$(mktemp -d "${TMPDIR:-/tmp}/marionette-it.XXXXXX")
# Where the repeated runs of one check write their output and traces until
# all are done: a program that lists its directory ($scratch, usually)
# sees the same files in every run of the check (the simulation's view of
# the host is the host as it is when a run starts).
pending=$(mktemp -d "${TMPDIR:-/tmp}/marionette-it-out.XXXXXX")
trap 'rm -rf "$scratch" "$pending"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# under SEED OUTFILE CMD...: stdout of CMD under Marionette into OUTFILE;
# fails the test if the launcher does not exit 0. The wall-clock guard is
# $under_wall_timeout (default 30s): a hang guard, not a timing check.
under() {
  local seed=$1 out=$2; shift 2
  local code=0
  "$launch" --quiet --wall-timeout "${under_wall_timeout:-30s}" --seed "$seed" --trace "$out.trace" -- "$@" >"$out" 2>"$out.err" || code=$?
  [[ $code -eq 0 ]] || { cat "$out.err" >&2; fail "seed $seed: '$*' exited $code under marionette-launch"; }
  # Every trace the launcher writes must pass its own validator.
  "$launch" --check-trace "$out.trace" >/dev/null 2>"$out.check" || { cat "$out.check" >&2; fail "seed $seed: invalid trace"; }
}

# deterministic NAME CMD...: same seed -> identical stdout and trace;
# another seed -> different stdout.
deterministic() {
  local name=$1; shift
  under 1 "$pending/$name.1a" "$@"
  under 1 "$pending/$name.1b" "$@"
  under 2 "$pending/$name.2" "$@"
  mv "$pending"/* "$scratch"/
  cmp -s "$scratch/$name.1a" "$scratch/$name.1b" \
    || { diff "$scratch/$name.1a" "$scratch/$name.1b" >&2 || true; fail "$name: seed 1 twice gave different output"; }
  cmp -s "$scratch/$name.1a.trace" "$scratch/$name.1b.trace" \
    || { diff "$scratch/$name.1a.trace" "$scratch/$name.1b.trace" >&2 || true; fail "$name: seed 1 twice gave different traces"; }
  cmp -s "$scratch/$name.1a" "$scratch/$name.2" && { cat "$scratch/$name.1a" >&2; fail "$name: seeds 1 and 2 gave identical output"; }
  [[ -s "$scratch/$name.1a" ]] || fail "$name: no output"
  return 0
}

# same_for_one_seed NAME CMD...: same seed -> identical stdout and trace;
# another seed -> a run that succeeds with a valid trace, its output not
# compared (for sources that do not depend on the seed, like the clock).
same_for_one_seed() {
  local name=$1; shift
  under 1 "$pending/$name.1a" "$@"
  under 1 "$pending/$name.1b" "$@"
  under 2 "$pending/$name.2" "$@"
  mv "$pending"/* "$scratch"/
  cmp -s "$scratch/$name.1a" "$scratch/$name.1b" \
    || { diff "$scratch/$name.1a" "$scratch/$name.1b" >&2 || true; fail "$name: seed 1 twice gave different output"; }
  cmp -s "$scratch/$name.1a.trace" "$scratch/$name.1b.trace" \
    || { diff "$scratch/$name.1a.trace" "$scratch/$name.1b.trace" >&2 || true; fail "$name: seed 1 twice gave different traces"; }
  [[ -s "$scratch/$name.1a" ]] || fail "$name: no output"
  return 0
}

# expect_line FILE REGEX: some line of FILE matches the extended REGEX.
expect_line() { grep -qE -- "$2" "$1" || { cat "$1" >&2; fail "'$1' has no line matching '$2'"; }; }
