#!/usr/bin/env python3
"""The shim's trap path reaches no allocator and no stdio.

A trapped syscall runs inside the program under test, which may be in the
middle of malloc or printf holding their locks; if the SIGSYS/SIGSEGV/SIGILL
handlers or the syscall handlers they dispatch to ever called malloc or
stdio, that program would deadlock or corrupt its heap (STYLE.md, "The
interception boundary is small and paranoid"). `nm --undefined-only` on the
.so cannot tell this on its own: the .so does import malloc, calloc, free,
fwrite, ... for the libc symbol wrappers (getaddrinfo returns calloc'd
memory, popen an fdopen'd FILE, fopen of /dev/urandom an fopencookie stream)
and for the statically linked libstdc++, which run in the program's own
context, not in a signal handler.

So this walks the linked libmarionette.so, with binutils only:
  roots  = the signal handlers (on_sigsys, on_sigsegv, on_sigill,
           on_preempt) and every function in the dispatch table `handlers`
           (found through the table's relocations, `readelf -r`);
  edges  = direct calls and (conditional) jumps (`objdump -d`);
and fails, printing the call chain, if any forbidden symbol is reachable.
Calls through pointers other than the dispatch table (the program's own
handler in chain(), raw_entry) are not followed.

Usage: trap_path_test.py path/to/libmarionette.so
"""
import collections
import re
import subprocess
import sys

# Allocation and stdio, by symbol (C names, Itanium-mangled operator
# new/delete, and the exception allocator a `throw` calls).
FORBIDDEN = re.compile(
    r"^(malloc|calloc|realloc|reallocarray|free|aligned_alloc|posix_memalign|memalign|valloc|pvalloc"
    r"|strdup|strndup|asprintf|vasprintf|__cxa_allocate_exception"
    r"|_Znwm\w*|_Znam\w*|_ZdlPv\w*|_ZdaPv\w*"
    r"|printf|fprintf|vprintf|vfprintf|dprintf|vdprintf|sprintf|snprintf|vsprintf|vsnprintf"
    r"|__\w*printf_chk|fwrite|fwrite_unlocked|fputs|fputs_unlocked|fputc|putc|putchar|puts|perror"
    r"|fopen|fopen64|fdopen|freopen|fclose|fflush|fopencookie|open_memstream|fread|fgets|getline|setvbuf"
    r")(@plt)?$")

# Edges known to reach a forbidden symbol today, each with its reason. An
# edge is (caller, callee), demangled; the walk does not follow it. Anything
# not listed here fails the test.
ALLOWED_EDGES = {
    ("marionette::Prng::uint_less_than(unsigned long)",
     "marionette::Prng::uint_less_than(unsigned long) [clone .cold]"):
        "sim/random.cpp throws std::invalid_argument for a bound of 0 (an allocation); the only "
        "trap-path caller, Kernel::Kernel (first trapped call, init_once), passes ns_per_s",
    ("marionette::shim::dispatch(marionette::shim::SyscallArgs&)", "__cxa_guard_acquire"):
        "the function-local static `debug_calls` in interpose/dispatch.cpp: libstdc++'s guard throws "
        "(allocates) only on recursive initialisation, which a getenv() cannot cause",
}

ROOT_NAMES = re.compile(r"::on_(sigsys|sigsegv|sigill|preempt)\(")


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True, text=True).stdout
    return dict(zip(names, out.splitlines()))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: trap_path_test.py path/to/libmarionette.so")
    so = sys.argv[1]
    function_at = {}
    edges = collections.defaultdict(set)
    current = None
    head = re.compile(r"^([0-9a-f]+) <(.+)>:$")
    branch = re.compile(r"\s(?:call|j[a-z]+)\s+[0-9a-f]+ <([^>+]+)(?:\+0x[0-9a-f]+)?>")
    for line in run("objdump", "-d", "--no-show-raw-insn", so).splitlines():
        m = head.match(line)
        if m:
            current = m.group(2)
            function_at[int(m.group(1), 16)] = current
            continue
        m = branch.search(line)
        if m and current is not None and m.group(1) != current:
            edges[current].add(m.group(1))
    names = demangle(sorted(set(function_at.values()) | {t for ts in edges.values() for t in ts}))

    table = None
    for line in run("nm", "-S", so).splitlines():
        fields = line.split()
        if len(fields) == 4 and re.search(r"shim\d*_GLOBAL__N_\d+L?\d*handlersE$", fields[3]):
            table = (int(fields[0], 16), int(fields[1], 16))
    if table is None:
        sys.exit("FAIL: no dispatch table `handlers` in " + so + " (renamed? update this test)")
    roots = set()
    for line in run("readelf", "-rW", so).splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "R_X86_64_RELATIVE":
            offset, target = int(fields[0], 16), int(fields[3], 16)
            if table[0] <= offset < table[0] + table[1] and target in function_at:
                roots.add(function_at[target])
    handlers = len(roots)
    roots |= {f for f in function_at.values() if ROOT_NAMES.search(names.get(f, f))}
    if handlers < 50 or len(roots) < handlers + 4:
        sys.exit(f"FAIL: found {handlers} dispatch handlers and {len(roots) - handlers} signal handlers; "
                 "expected many and 4 (update this test if the shim changed)")

    parent = {root: None for root in roots}
    queue = collections.deque(roots)
    used_allowances = set()
    while queue:
        caller = queue.popleft()
        for callee in sorted(edges.get(caller, ())):
            edge = (names.get(caller, caller), names.get(callee, callee))
            if edge in ALLOWED_EDGES:
                used_allowances.add(edge)
                continue
            if callee not in parent:
                parent[callee] = caller
                queue.append(callee)

    print(f"{len(roots)} roots ({handlers} dispatch handlers), {len(parent)} functions reachable")
    for edge in sorted(used_allowances):
        print(f"allowed: {edge[0]} -> {edge[1]}: {ALLOWED_EDGES[edge]}")
    bad = sorted(f for f in parent if FORBIDDEN.match(f))
    for symbol in bad:
        chain = []
        node = symbol
        while node is not None:
            chain.append(names.get(node, node))
            node = parent[node]
        print("FAIL: the trap path reaches " + symbol + ":\n    " + "\n    <- ".join(chain))
    stale = set(ALLOWED_EDGES) - used_allowances
    for edge in sorted(stale):
        print(f"note: allowed edge no longer present (remove it from this test): {edge[0]} -> {edge[1]}")
    if bad:
        sys.exit(1)
    print("ok: no allocator or stdio symbol is reachable from the trap path")


if __name__ == "__main__":
    main()
