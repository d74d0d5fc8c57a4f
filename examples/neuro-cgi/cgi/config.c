/* config.c -- settings from the environment (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A positive decimal integer from env var name, or def when unset/empty. */
static int env_size(const char *name, unsigned long long def, unsigned long long max, unsigned long long *out,
                    char *err, size_t errlen)
{
    const char *s = getenv(name);
    char *end;
    unsigned long long v;

    *out = def;
    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > max || *s == '-' || *s == '+' || *s == ' ') {
        snprintf(err, errlen, "server misconfigured: %s must be an integer from 1 to %llu", name, max);
        return -1;
    }
    *out = v;
    return 0;
}

int config_load(struct cgi_config *c, char *err, size_t errlen)
{
    unsigned long long v;

    c->storage = getenv("NEURO_STORAGE");
    if (!c->storage || !*c->storage)
        c->storage = "/var/tmp/neuro-cgi";
    c->atlas_dir = getenv("NEURO_ATLAS_DIR");
    if (!c->atlas_dir || !*c->atlas_dir)
        c->atlas_dir = "/usr/share/mricron/templates";
    if (env_size("NEURO_MAX_BYTES", 128ull << 20, 1ull << 40, &v, err, errlen) < 0)
        return -1;
    c->max_bytes = (size_t)v;
    if (env_size("NEURO_MAX_VOXELS", 48ull << 20, 1ull << 34, &v, err, errlen) < 0)
        return -1;
    c->max_voxels = (size_t)v;
    if (env_size("NEURO_MAX_SLAVES", 8, 64, &v, err, errlen) < 0)
        return -1;
    c->max_slaves = (int)v;
    if (env_size("NEURO_KEEP_SECONDS", 7ull * 24 * 3600, 100ull * 365 * 24 * 3600, &c->keep_seconds, err, errlen) < 0)
        return -1;
    if (env_size("NEURO_KEEP_BYTES", 4ull << 30, 1ull << 50, &c->keep_bytes, err, errlen) < 0)
        return -1;
    if (c->keep_bytes / 2 < c->max_bytes) {
        snprintf(err, errlen, "server misconfigured: NEURO_KEEP_BYTES (%llu) must be at least twice NEURO_MAX_BYTES "
                 "(%zu), or the largest upload could never be kept", c->keep_bytes, c->max_bytes);
        return -1;
    }
    const char *kvm = getenv("NEURO_KVM");
    if (!kvm || !*kvm || !strcmp(kvm, "0")) {
        c->kvm = 0;
    } else if (!strcmp(kvm, "1")) {
        c->kvm = 1;
    } else {
        snprintf(err, errlen, "server misconfigured: NEURO_KVM must be 0 or 1");
        return -1;
    }
    const char *slurm = getenv("NEURO_SLURM");
    if (!slurm || !*slurm || !strcmp(slurm, "0")) {
        c->slurm = 0;
    } else if (!strcmp(slurm, "1")) {
        c->slurm = 1;
    } else {
        snprintf(err, errlen, "server misconfigured: NEURO_SLURM must be 0 or 1");
        return -1;
    }
    if (env_size("NEURO_SLURM_NODES", 1, 1024, &v, err, errlen) < 0)
        return -1;
    c->slurm_nodes = (unsigned)v;
    if (env_size("NEURO_SLURM_TIMEOUT", 30, 3600, &v, err, errlen) < 0)
        return -1;
    c->slurm_timeout_s = (unsigned)v;
    if (env_size("NEURO_SLURM_TIME_LIMIT", 10, 525600, &v, err, errlen) < 0)
        return -1;
    c->slurm_time_limit_min = (unsigned)v;
    c->slurm_partition = getenv("NEURO_SLURM_PARTITION");
    if (c->slurm_partition && !*c->slurm_partition)
        c->slurm_partition = NULL;
    /* a partition name goes on srun's command line: Slurm's own characters only */
    for (const char *q = c->slurm_partition; q && *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
              *q == '-' || *q == '.' || *q == ',')) {
            snprintf(err, errlen, "server misconfigured: NEURO_SLURM_PARTITION has a character Slurm names do "
                                  "not use");
            return -1;
        }
    c->agent = getenv("NEURO_AGENT");
    if (c->agent && !*c->agent)
        c->agent = NULL;
    return 0;
}
