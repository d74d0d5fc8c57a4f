/* libos/runtime/slave.h -- the slave runtime: what a shard does for its master.
 *
 * mlos_shard_main() is the portable entry point every platform calls once
 * its HAL is up (bare-metal boot code, or the process-shard main). It
 *   1. starts the memory service from the HAL's regions,
 *   2. attaches to the window shared with the master (rpc/wire/window.h),
 *   3. announces itself with a HELLO listing its tasks,
 *   4. runs CALLs to completion, one at a time, answering each with a REPLY,
 *   5. returns the exit status the master asked for in STOP.
 * Return values: the STOP status; MLOS_SHARD_EXIT_PROTO (96) if the master
 * broke the protocol (bad window, bad frame); MLOS_SHARD_EXIT_NOMEM (95) if
 * memory could not be set up.
 */
#ifndef MLOS_SLAVE_H
#define MLOS_SLAVE_H

#include "hal.h"       /* declares mlos_shard_main, the entry the HAL calls */
#include "mlos_exit.h"  /* MLOS_SHARD_EXIT_* */

/* Diagnostic line on the HAL console, prefixed with the shard id. */
void mlos_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
