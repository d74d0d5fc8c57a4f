/* boottrace.h -- the bare-metal HALs' side of the boot trace (hal.h,
 * mlos_hal_boot_mark). A HAL that took a timestamp before C could run (the
 * entry of its boot code) records it with mlos_boottrace_mark_at; every
 * later mark reads the cycle counter itself. Single-threaded, boot time and
 * the first report only; no allocation. */
#ifndef MLOS_BOOTTRACE_H
#define MLOS_BOOTTRACE_H

#include <stdint.h>

/* Record phase `what` (a string literal: kept by pointer) as ending at the
 * cycle count `cycles`. The first mark is the origin of the report. */
void mlos_boottrace_mark_at(const char *what, uint64_t cycles);

#endif
