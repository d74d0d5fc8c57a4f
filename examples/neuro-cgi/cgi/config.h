/* config.h -- server-side settings, from environment variables that the
 * Apache configuration sets with SetEnv (see apache/start.sh):
 *
 *   NEURO_STORAGE     storage directory for requests (absolute path)
 *                     default /var/tmp/neuro-cgi
 *   NEURO_MAX_BYTES   largest request body accepted, bytes: 134217728
 *   NEURO_MAX_VOXELS  largest image accepted, voxels: 50331648
 *   NEURO_ATLAS_DIR   where aal.nii.gz / brodmann.nii.gz and their name
 *                     lists live: /usr/share/mricron/templates
 *   NEURO_MAX_SLAVES  upper bound for the "slaves" option: 8
 *   NEURO_KVM         1: x86_64 slaves run under KVM (hosts where it
 *                     helps), 0: QEMU TCG: 0
 *   NEURO_KEEP_SECONDS  request directories older than this are deleted
 *                     as new requests arrive: 604800 (7 days)
 *   NEURO_KEEP_BYTES  the storage directory's total size: the oldest
 *                     finished requests are deleted to keep a new one's
 *                     room (twice its body) below this: 4294967296 (4 GiB);
 *                     at least twice NEURO_MAX_BYTES
 *   NEURO_SLURM       1: every request's slaves run on a Slurm allocation,
 *                     behind one node agent (mlos-node) per node that the
 *                     request's master starts with srun and stops at its
 *                     end; 0: on this host: 0
 *   NEURO_SLURM_NODES nodes of that allocation (srun -N): 1
 *   NEURO_SLURM_PARTITION  its partition (srun --partition): Slurm's default
 *   NEURO_SLURM_TIMEOUT  seconds the agents have to join (allocation
 *                     included) before the request fails with 503: 30
 *   NEURO_SLURM_TIME_LIMIT  minutes a request's agents may run (srun --time;
 *                     at most the partition's MaxTime): 10
 *   NEURO_SLURM_HOST  the name or address the nodes reach this host at: its
 *                     host name
 *   NEURO_AGENT       the mlos-node program as the nodes see it: mlos-node
 *                     from MLOS_IMAGE_PATH or the install, else PATH
 *
 * MLOS_IMAGE_PATH is read by the mlos master itself.
 */
#ifndef NEURO_CONFIG_H
#define NEURO_CONFIG_H

#include <stddef.h>

struct cgi_config {
    const char *storage;
    size_t max_bytes;
    size_t max_voxels;
    const char *atlas_dir;
    int max_slaves;
    int kvm;
    unsigned long long keep_seconds;
    unsigned long long keep_bytes;
    int slurm;
    unsigned slurm_nodes;
    unsigned slurm_timeout_s;
    unsigned slurm_time_limit_min;
    const char *slurm_partition; /* NULL: Slurm's default */
    const char *agent;           /* NULL: found as neuro_cluster.h says */
};

/* Returns 0, or -1 with the offending variable named in err. */
int config_load(struct cgi_config *c, char *err, size_t errlen);

#endif
