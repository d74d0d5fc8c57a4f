/* image_note.S -- the ELF note that describes a slave image (mlos_abi.h).
 *
 * Assembled into every image with
 *   -DMLOS_NOTE_ARCH='"x86_64"' -DMLOS_NOTE_COMPONENTS='"hal-x86_64 rpc ..."'
 * The section has no "a" flag: it stays in the file for `mlos image info`
 * and the master's pre-boot check, and costs the shard no memory. Its name
 * does not start with ".note" because the bare-metal linker scripts discard
 * those (the GNU notes of the toolchain are of no use there).
 */
#include "mlos_abi.h"

#define MLOS_NOTE_STR2(x) #x
#define MLOS_NOTE_STR(x) MLOS_NOTE_STR2(x)

    .section mlos_note, "", @note
    .balign 4
    .long 5                      /* namesz: "MLOS" and its NUL */
    .long 2f - 1f                /* descsz */
    .long MLOS_NOTE_TYPE_IMAGE
    .asciz "MLOS"
    .balign 4
1:  .ascii "arch=", MLOS_NOTE_ARCH, "\n"
    .ascii "abi=", MLOS_NOTE_STR(MLOS_ABI_VERSION), "\n"
    .ascii "components=", MLOS_NOTE_COMPONENTS, "\n"
2:  .balign 4

    .section .note.GNU-stack, "", @progbits /* no executable stack wanted */
