/* kinds.c -- which slave kinds this server can run (see kinds.h). */
#include "kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlos.h"
#include "neuro.h"

/* An executable file called name in a directory of $PATH. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    char dirs[4096], full[4200];

    snprintf(dirs, sizeof dirs, "%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if ((size_t)snprintf(full, sizeof full, "%s/%s", d, name) < sizeof full && access(full, X_OK) == 0)
            return 1;
    return 0;
}

int kind_usable(const char *arch, char *why, size_t whylen)
{
    const char *image, *qemu;
    char path[4096];

    if (!strcmp(arch, "process"))
        qemu = NULL;
    else if (!strcmp(arch, "ppc"))
        qemu = "qemu-system-ppc";
    else if (!strcmp(arch, "x86_64"))
        qemu = "qemu-system-x86_64";
    else {
        snprintf(why, whylen, "unknown slave kind %s", arch);
        return 0;
    }
    image = neuro_image_name(arch);
    if (mlos_image_find(image, path, sizeof path) < 0) {
        snprintf(why, whylen, "the %s slave image (%s) is not installed on this server", arch, image);
        return 0;
    }
    if (qemu && !on_path(qemu)) {
        snprintf(why, whylen, "%s slaves need %s, which is not installed on this server", arch, qemu);
        return 0;
    }
    return 1;
}
