/* kind.c -- the table of shard kinds and what the QEMU kinds share; see kind.h. */
#include "kind.h"

#include <stdio.h>
#include <string.h>

#include "mlos_exit.h" /* MLOS_SHARD_EXIT_CRASH */

static const struct mlos_kind *const kinds[] = {&mlos__kind_x86_64, &mlos__kind_ppc, &mlos__kind_process};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct mlos_kind *mlos__kind_at(size_t i) { return i < NKINDS ? kinds[i] : NULL; }

const struct mlos_kind *mlos__kind_find(const char *name)
{
    for (size_t i = 0; name && i < NKINDS; i++)
        if (!strcmp(kinds[i]->name, name))
            return kinds[i];
    return NULL;
}

const struct mlos_kind *mlos__kind_lookup(const char *name, char *err, size_t cap)
{
    const struct mlos_kind *k = mlos__kind_find(name);
    if (k || !err || !cap)
        return k;
    /* The name is the caller's: shown bounded and only if printable. */
    int plain = name != NULL;
    for (const char *c = name; plain && *c; c++)
        plain = *c > ' ' && *c <= '~';
    int n = snprintf(err, cap, "unknown shard kind '%.32s' (known:", !name ? "(none)" : plain ? name : "?");
    for (size_t i = 0; i < NKINDS && n >= 0 && (size_t)n < cap; i++)
        n += snprintf(err + n, cap - (size_t)n, " %s", kinds[i]->name);
    if (n >= 0 && (size_t)n < cap)
        snprintf(err + n, cap - (size_t)n, ")");
    return NULL;
}

void mlos__kind_describe_qemu_exit(int64_t status, char *how, size_t cap)
{
    if ((status & 1) && status >> 1 == MLOS_SHARD_EXIT_CRASH)
        snprintf(how, cap, "crashed (fatal exception)");
    else if (status & 1)
        snprintf(how, cap, "exited with status %d", (int)(status >> 1));
    else
        snprintf(how, cap, "exited with code %d", (int)status);
}
