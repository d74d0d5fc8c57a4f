/* Process-wide master state: shard ids and where images are found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master_internal.h"

#ifndef MLOS_IMAGE_DIR
#define MLOS_IMAGE_DIR "/usr/local/lib/mlos"
#endif

static uint32_t shard_ids;

uint32_t mlos__next_shard_id(void) { return ++shard_ids; }

const char *mlos_image_dir(void) { return MLOS_IMAGE_DIR; }

/* Search $MLOS_IMAGE_PATH (colon separated), then the install directory. */
int mlos_image_find(const char *name, char *out, size_t cap)
{
    const char *path = getenv("MLOS_IMAGE_PATH");
    char dirs[4096];

    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return access(out, R_OK) == 0 ? 0 : MLOS_ENOENT;
    }
    snprintf(dirs, sizeof(dirs), "%s%s%s", path ? path : "", path ? ":" : "", MLOS_IMAGE_DIR);
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, cap, "%s/%s", d, name) < cap && access(out, R_OK) == 0)
            return 0;
    }
    snprintf(out, cap, "%s", name);
    return MLOS_ENOENT;
}
