/* A C program linking only libmarionette_recorder: marionette_record must
 * resolve and do nothing (return 1), as for a program run outside any
 * simulation. Exit status 0 on success. */
#include <stdio.h>

#include "marionette/recorder.h"

int main(void) {
    const int result = marionette_record("app.start", "version=1");
    if (result != 1) {
        fprintf(stderr, "marionette_record returned %d, expected 1 (no-op)\n", result);
        return 1;
    }
    return 0;
}
