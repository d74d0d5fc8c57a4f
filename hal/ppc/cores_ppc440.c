/* cores_ppc440.c -- the cores part of hal.h on the PowerPC 440: QEMU's
 * bamboo board has one 440 core, so there is only core 0 to run on. */
#include "hal.h"
#include "mlos_error.h"

unsigned mlos_hal_core_count(void) { return 1; }
unsigned mlos_hal_core_self(void) { return 0; }
int mlos_hal_core_run(unsigned core, void (*fn)(void *), void *arg) { return MLOS_ENOTSUP; }
