// Guest: a statically linked program. The preload cannot reach it, so the
// launcher refuses to start it and a simulated process may not exec it
// (ENOEXEC and a determinism.escape event instead of a SIGSYS death).
int main(void) { return 0; }
