/* neuro_cluster.h -- slaves for one analysis behind node agents: listen,
 * start one agent (mlos-node) per node of a Slurm allocation (or a few on
 * this host, for tests), wait until they joined, hand neuro_analyze their
 * placement (neuro_opts.placement), and close everything at the end.
 *
 * Every cluster draws its own random secret, which reaches the agents
 * through their environment (never a command line or a file). Nothing
 * outlives neuro_cluster_close: the agents are told BYE (they stop their
 * slaves and exit), srun's job step is cancelled, the listener closed.
 */
#ifndef NEURO_CLUSTER_H
#define NEURO_CLUSTER_H

#include <stddef.h>
#include <uv.h>

struct mlos_pool_placement;
struct neuro_cluster;

struct neuro_cluster_opts {
    const char *launcher;       /* "slurm": srun -N nodes, one agent per node; "local": nodes agents here */
    unsigned nodes;             /* 1 when 0 */
    const char *partition;      /* slurm --partition, or NULL */
    const char *nodelist;       /* slurm --nodelist, or NULL */
    const char *agent;          /* the agent program as the nodes see it; NULL: mlos-node from
                                 * MLOS_IMAGE_PATH or the install, else from PATH */
    const char *host;           /* the name or address agents reach this host at; NULL: its host name
                                 * (slurm), 127.0.0.1 (local) */
    unsigned join_timeout_ms;   /* agents must have joined within this: 30000 */
    unsigned time_limit_min;    /* slurm --time of the agents' job step (a partition refuses a step longer
                                 * than its MaxTime): 10 */
};

/* 0 and *out, or a negative MLOS_E* with a sentence for users in err:
 * MLOS_ENOENT no Slurm here (srun missing, or sinfo does not answer),
 * MLOS_ETIMEDOUT the agents did not join in time (srun's own message if
 * it ended: no allocation, unknown partition, ...), MLOS_EINVAL bad
 * options. On failure nothing is left running. */
int neuro_cluster_open(uv_loop_t *loop, const struct neuro_cluster_opts *o, struct neuro_cluster **out, char *err,
                       size_t errlen);
const struct mlos_pool_placement *neuro_cluster_placement(struct neuro_cluster *nc);
/* Nodes that joined. */
unsigned neuro_cluster_nodes(const struct neuro_cluster *nc);
/* After neuro_analyze: agents, slaves, srun, listener all gone on return
 * (bounded: a few seconds for an agent that does not leave). NULL is fine. */
void neuro_cluster_close(struct neuro_cluster *nc);

#endif
