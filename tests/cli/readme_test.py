#!/usr/bin/env python3
"""Runs the README's usage examples exactly as written (issue 16).

Every ```sh block of README.md is run by bash, command by command, from a
scratch directory that looks like the repository root after a build
(`build` and `examples` are links to the build and source trees). Blocks
that build or install (they mention cmake or scripts/) are left out: the
test suite runs inside a build. A command must exit 0, or 1 where the
comment before it says "(exits 1)". Usage: readme_test.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile


def blocks(readme):
    for match in re.finditer(r"^```sh\n(.*?)^```$", readme, re.S | re.M):
        text = match.group(1)
        if "cmake" in text or "scripts/" in text:
            continue
        yield text


def commands(block):
    """Logical lines (backslash continuations joined) with whether exit 1 is allowed."""
    allow_one = False
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.strip().startswith("#"):
            allow_one = "(exits 1)" in line
            continue
        elif not line.strip():
            continue
        else:
            pending = line
        if pending.endswith("\\"):
            continue
        yield pending, allow_one
        allow_one = False
        pending = ""


def main():
    source, build = sys.argv[1], sys.argv[2]
    with open(os.path.join(source, "README.md")) as f:
        readme = f.read()
    script = ["set -u"]
    count = 0
    for block in blocks(readme):
        for command, allow_one in commands(block):
            count += 1
            allowed = "0|1" if allow_one else "0"
            script.append(f"echo {sh_quote('+ ' + command)} >&2")
            script.append(command)
            script.append(f'rc=$?; case $rc in {allowed}) ;; *) echo "FAIL: README command exited $rc:" >&2; '
                          f"echo {sh_quote(command)} >&2; exit 1;; esac")
    if count < 10:
        print(f"FAIL: only {count} README commands found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="marionette-readme.") as scratch:
        os.symlink(os.path.abspath(build), os.path.join(scratch, "build"))
        os.symlink(os.path.join(os.path.abspath(source), "examples"), os.path.join(scratch, "examples"))
        with open(os.path.join(scratch, "readme.sh"), "w") as f:
            f.write("\n".join(script) + "\n")
        result = subprocess.run(["bash", "readme.sh"], cwd=scratch, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            print(result.stdout[-20000:], file=sys.stderr)
            return 1
    print(f"readme: {count} commands ok")
    return 0


def sh_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
