/* kinds.h -- which slave kinds this server can run.
 *
 * A kind is usable when what mlos_spawn needs for it is here: its image
 * (found as mlos_spawn finds it, on $MLOS_IMAGE_PATH then the install
 * location) and, for the bare-metal kinds, the QEMU system emulator on
 * $PATH. The form offers only usable kinds; a request for another one is
 * answered 422 at once instead of failing later at spawn time (503).
 */
#ifndef NEURO_KINDS_H
#define NEURO_KINDS_H

#include <stddef.h>

/* Returns 1 if arch ("x86_64", "ppc", "process") can run here; 0 with
 * what is missing in why. */
int kind_usable(const char *arch, char *why, size_t whylen);

#endif
