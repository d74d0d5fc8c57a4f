/* libos/runtime/cores.h -- the library OS on several cores: which cores may take
 * work, handing work to them, and parking (runtime side; tasks use
 * mlos_parallel_for and friends from mlos_task_api.h).
 *
 * Core 0 runs the event loop. Cores 1 .. n-1 (the HAL's, hal.h) take
 * work only through a claim: a core is claimed by whoever hands it a
 * function and released when that function returns, so two callers
 * never post to the same core. Parking lowers the number of active
 * cores: cores at or above it are not claimed any more (work they run
 * finishes), and sleep in the HAL. Core 0 is never parked.
 */
#ifndef MLOS_CORES_H
#define MLOS_CORES_H

#include <stddef.h>

#include "mlos_task_api.h"

#define MLOS_CORES_MAX 8

/* Count the HAL's cores; all active. Call once at start, before any use. */
void mlos_cores_init(void);
unsigned mlos_cores_total(void);

/* Use n cores (1 .. total): returns the number set, or MLOS_ERANGE. */
int mlos_cores_set_active(unsigned n);

/* Run fn(arg) on a free active core other than 0 and the caller; returns
 * the core, or 0 if none is free (the caller runs fn itself then). fn
 * must not touch whatever holds its arg after it returned. */
unsigned mlos_cores_spawn(void (*fn)(void *), void *arg);

/* Nonzero while any core other than 0 runs spawned work. */
int mlos_cores_busy(void);

#endif
