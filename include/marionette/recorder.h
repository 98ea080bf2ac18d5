/* Application events into a Marionette trace, from C (or any language with
 * a C FFI).
 *
 * A program that wants its own milestones in the run's trace
 * ("register.write version=3") calls marionette_record. Three libraries
 * define the symbol:
 *  - libmarionette_embed (the embedded API): records into the trace of the
 *    simulation active on the calling thread, and does nothing otherwise;
 *  - libmarionette_recorder: a no-op, for programs that are run both
 *    normally and under marionette-launch. Link it so the symbol resolves;
 *    the preload shim of marionette-launch defines the same symbol and,
 *    being preloaded, takes precedence: under the launcher the event goes
 *    into the run's trace (interpose/recorder.cpp);
 *  - nothing else: the program must link one of the two.
 * See docs/embedded-api.md. */
#ifndef MARIONETTE_RECORDER_H
#define MARIONETTE_RECORDER_H

#ifdef __cplusplus
extern "C" {
#endif

/** Records the event `name` (`component.action`, [a-z0-9_.]+) with fields
 * given as text: `key=value` pairs separated by single spaces, keys
 * [a-z0-9_]+, values escaped as in the text trace (%HH for bytes <= 0x20,
 * >= 0x7f, '=', '%', '\\'); all-digit values are recorded as numbers.
 * `key_values` may be NULL or empty.
 * Returns 0 when the event was recorded, 1 when no simulation is active
 * (nothing recorded: production), -1 when the name or fields are malformed
 * (nothing recorded). Never aborts and never sets errno. */
int marionette_record(const char* name, const char* key_values);

#ifdef __cplusplus
}
#endif

#endif /* MARIONETTE_RECORDER_H */
