#!/usr/bin/env bash
# `cmake --install` gives a working, relocatable tool (issue 16): the
# launcher, marionette-ctl, the preload shim (found relative to the
# launcher), headers under include/marionette/ only, the package config, man
# pages and bash completion. The prefix is moved after installing, then the
# installed launcher runs a program from another directory on a relative
# --disk, and the replay command it prints (naming `marionette-launch`, on
# PATH) reproduces the trace hash. With DEB=1, `cpack -G DEB` builds the
# package, `dpkg -x` unpacks it and the unpacked launcher runs the same way.
source "$(dirname "$0")/lib.sh"
build=$1

cmake --install "$build" --prefix "$scratch/p0" >/dev/null || fail "cmake --install failed"
mv "$scratch/p0" "$scratch/prefix"  # relocatable: nothing points back to p0
P=$scratch/prefix
for f in bin/marionette-launch bin/marionette-ctl lib/marionette/libmarionette.so include/marionette/world.hpp \
         include/marionette/sim/trace.hpp lib/cmake/marionette/marionetteConfig.cmake \
         share/bash-completion/completions/marionette-launch share/bash-completion/completions/marionette-ctl; do
  [[ -e $P/$f ]] || fail "not installed: $f"
done
[[ ! -e $P/include/sim ]] || fail "headers installed outside include/marionette/"
if command -v help2man >/dev/null; then
  for tool in marionette-launch marionette-ctl; do
    [[ -s $P/share/man/man1/$tool.1 ]] || fail "no man page for $tool"
  done
  grep -q -- 'crash\\-random\\-within' "$P/share/man/man1/marionette-launch.1" || fail "the man page lacks the options of --help"
fi
bash -n "$P/share/bash-completion/completions/marionette-launch" || fail "the launcher's completion is not valid bash"
bash -n "$P/share/bash-completion/completions/marionette-ctl" || fail "marionette-ctl's completion is not valid bash"

# run_installed BIN NAME: from a fresh directory, a run on a relative --disk
# that shows which shim was loaded; then its replay with BIN on PATH.
run_installed() {
  local bin=$1 name=$2 dir=$scratch/$2
  mkdir -p "$dir/data"
  echo data >"$dir/data/f"
  "$bin/marionette-launch" --version >"$dir/version" || fail "$name: --version failed"
  grep -q '^marionette-launch [0-9]' "$dir/version" || fail "$name: --version printed '$(cat "$dir/version")'"
  "$bin/marionette-ctl" --version | grep -q '^marionette-ctl [0-9]' || fail "$name: marionette-ctl --version"
  (cd "$dir" && env -u MARIONETTE_PRELOAD PATH="$bin:$PATH" marionette-launch --seed 9 --disk data -- \
     sh -c 'cat data/f; grep -o "[^ ]*libmarionette.so" /proc/self/maps | head -1') >"$dir/out" 2>"$dir/err" \
    || { cat "$dir/err" >&2; fail "$name: the installed launcher failed"; }
  grep -qx data "$dir/out" || { cat "$dir/out" >&2; fail "$name: the program did not see its --disk"; }
  grep -q "^$(realpath "$bin/..")/lib/marionette/libmarionette.so" "$dir/out" \
    || { cat "$dir/out" >&2; fail "$name: the shim was not the installed one"; }
  local replay hash
  replay=$(sed -n 's/^marionette: replay with: //p' "$dir/err")
  hash=$(sed -n 's/.*trace_hash=\([0-9a-f]*\).*/\1/p' "$dir/err")
  [[ $replay == "cd "*" && marionette-launch --seed 9 "* ]] || fail "$name: replay not by the name on PATH: $replay"
  (cd / && PATH="$bin:$PATH" bash -c "$replay") >/dev/null 2>"$dir/replay.err" || true
  grep -q "trace_hash=$hash" "$dir/replay.err" || { cat "$dir/replay.err" >&2; fail "$name: the replay gave another hash"; }
}
run_installed "$P/bin" prefix

if [[ ${DEB:-0} == 1 ]]; then
  (cd "$scratch" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$scratch/deb" >cpack.log 2>&1) \
    || { cat "$scratch/cpack.log" >&2; fail "cpack -G DEB failed"; }
  deb=$(ls "$scratch"/deb/*.deb)
  dpkg-deb -f "$deb" Package | grep -qx marionette || fail "the package is not named marionette"
  dpkg-deb -f "$deb" Depends | grep -q libc6 || fail "the package declares no dependencies"
  dpkg-deb -c "$deb" >"$scratch/contents"
  grep -q './usr/bin/marionette-launch$' "$scratch/contents" || fail "the package lacks /usr/bin/marionette-launch"
  grep -q './usr/lib/marionette/libmarionette.so$' "$scratch/contents" || fail "the package lacks the shim"
  dpkg -x "$deb" "$scratch/root"
  run_installed "$scratch/root/usr/bin" deb
fi
echo "install: ok"
