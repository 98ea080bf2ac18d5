/* libmarionette_recorder: the no-op marionette_record for programs that are
 * run both normally and under marionette-launch (see
 * include/marionette/recorder.h). Outside a simulation there is nothing to
 * record into. Under the launcher the preload shim, loaded first, is meant
 * to provide the recording definition; until it does, this one answers. */
#include "marionette/recorder.h"

int marionette_record(const char* name, const char* key_values) {
    (void)name;
    (void)key_values;
    return 1;
}
