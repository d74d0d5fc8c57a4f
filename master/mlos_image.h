/* mlos_image.h -- what a slave image is, read from the file without booting it.
 *
 * Every image built by the SDK (`mlos build`, the mlos-slave-*.pc kits, the
 * images installed with mlos) carries a note (mlos_abi.h) naming its
 * architecture, the ABI version it speaks and the components it was built
 * from. The task names come from the image's own task table (the
 * mlos_tasks section MLOS_TASK fills), so they are exactly what the shard
 * will offer. The file is untrusted: every offset and size is checked and a
 * malformed file is an error, never a crash.
 */
#ifndef MLOS_IMAGE_H
#define MLOS_IMAGE_H

#include <stddef.h>

#include "mlos_error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mlos_image_info {
    char arch[16];       /* "x86_64", "ppc", "process"; from the note, else guessed from the ELF machine */
    int has_note;        /* 1 if the image carries the mlos note */
    unsigned abi;        /* ABI version from the note, 0 without one */
    char machine[24];    /* ELF machine and class, e.g. "i386/ELF32", "ppc/ELF32" */
    char *components;    /* space-separated component names ("" if unknown) */
    size_t ntasks;
    char **tasks;        /* task names in table order */
};

/* Fill info from the image at path. Returns 0, or MLOS_ENOENT (cannot open),
 * MLOS_EINVAL (not an ELF image or a malformed one; err says what),
 * MLOS_ENOMEM. On success release with mlos_image_info_free. */
int mlos_image_inspect(const char *path, struct mlos_image_info *info, char *err, size_t err_len);
void mlos_image_info_free(struct mlos_image_info *info);

/* Can a master of this library boot path as a shard of arch ("x86_64",
 * "ppc", "process")? Returns 0 if so; MLOS_ESPAWN if the image is for
 * another architecture, MLOS_EVERSION if it speaks another ABI version,
 * MLOS_EINVAL if arch is none of those (err lists the known ones), or an
 * mlos_image_inspect error. err names both sides, e.g. "image X is
 * built for ppc (ABI 1), not for x86_64 (ABI 1)". Images without a note
 * are judged by their ELF machine alone. mlos_spawn runs this check before
 * it starts anything. */
int mlos_image_check(const char *path, const char *arch, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
