/* A program's own events in the trace: marionette_record (recorder.h),
 * declared weak so the program also runs without any Marionette library —
 * under marionette-launch the preload shim defines the symbol. */
#include <stdio.h>

int marionette_record(const char* name, const char* key_values) __attribute__((weak));

int main(void) {
    if (marionette_record == NULL) {
        printf("no recorder\n");
        return 0;
    }
    printf("plain %d\n", marionette_record("register.write", "version=3 note=hello%20world"));
    printf("no fields %d\n", marionette_record("register.commit", NULL));
    printf("bad name %d\n", marionette_record("Register Write", "version=3"));
    printf("bad escape %d\n", marionette_record("register.write", "note=%G1"));
    printf("reserved key %d\n", marionette_record("register.write", "at_ns=5"));
    printf("raw space %d\n", marionette_record("register.write", "note=a  b"));
    return 0;
}
