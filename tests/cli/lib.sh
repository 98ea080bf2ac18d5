# Helpers for the CLI tests: a private scratch directory and checks that
# print what they expected when they fail.
set -euo pipefail
scratch=$(mktemp -d "${TMPDIR:-/tmp}/marionette-cli.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, captures stdout/stderr in $scratch/out,
# $scratch/err and checks the exit code.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$scratch/out" 2>"$scratch/err" || got=$?
  [[ $got -eq $want ]] || { cat "$scratch/err" >&2; fail "'$*' exited $got, expected $want"; }
}

# expect_in FILE TEXT: FILE contains TEXT.
expect_in() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "'$1' does not contain '$2'"; }; }
