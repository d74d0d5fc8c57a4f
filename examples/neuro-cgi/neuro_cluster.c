/* neuro_cluster.c -- node agents for one analysis (neuro_cluster.h). */
#define _GNU_SOURCE
#include "neuro_cluster.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "launcher.h"
#include "mlos.h"
#include "remote_auth.h"

#define MAX_LOCAL_AGENTS 16

struct neuro_cluster {
    uv_loop_t *loop;
    mlos_cluster_t c;
    int listening;
    mlos_launch_t la[MAX_LOCAL_AGENTS];
    int started[MAX_LOCAL_AGENTS];
    unsigned nlaunch, want;
    int exited, exit_status;
    char exit_err[512];
};

static void on_exit_cb(mlos_launch_t *l, int status, const char *err)
{
    struct neuro_cluster *nc = l->data;
    if (!nc->exited) {
        nc->exited = 1;
        nc->exit_status = status;
        snprintf(nc->exit_err, sizeof(nc->exit_err), "%s", err ? err : "");
        /* one line for a web page: the last non-empty line of its stderr */
        char *e = nc->exit_err + strlen(nc->exit_err);
        while (e > nc->exit_err && (e[-1] == '\n' || e[-1] == '\r'))
            *--e = 0;
        char *b = strrchr(nc->exit_err, '\n');
        if (b)
            memmove(nc->exit_err, b + 1, strlen(b + 1) + 1);
    }
}

static void teardown(struct neuro_cluster *nc)
{
    int joined = nc->c.nnodes > 0; /* agents that were never told BYE are not waited for */
    if (nc->listening)
        mlos_cluster_close_sync(&nc->c); /* BYE: the agents stop their slaves and exit */
    nc->listening = 0;
    /* give them a moment to leave on their own, then stop what is left */
    uint64_t end = uv_hrtime() + (joined ? 5000000000ull : 0);
    for (unsigned i = 0; i < nc->nlaunch; i++)
        while (nc->started[i] && !nc->la[i].exited && uv_hrtime() < end)
            uv_run(nc->loop, UV_RUN_NOWAIT), usleep(5000);
    for (unsigned i = 0; i < nc->nlaunch; i++)
        if (nc->started[i])
            mlos_launch_stop(&nc->la[i]), nc->started[i] = 0;
}

int neuro_cluster_open(uv_loop_t *loop, const struct neuro_cluster_opts *o, struct neuro_cluster **out, char *err,
                       size_t errlen)
{
    struct neuro_cluster *nc;
    uint8_t rnd[MLOS_REMOTE_NONCE];
    char secret[2 * MLOS_REMOTE_NONCE + 1], addr[128], maddr[300], host[256], agent[4096], why[256];
    int slurm, rc;
    unsigned timeout = o && o->join_timeout_ms ? o->join_timeout_ms : 30000;

    *out = NULL;
    if (!o || !o->launcher || (strcmp(o->launcher, "slurm") && strcmp(o->launcher, "local"))) {
        snprintf(err, errlen, "unknown way to start node agents '%s' (slurm or local)",
                 o && o->launcher ? o->launcher : "");
        return MLOS_EINVAL;
    }
    slurm = !strcmp(o->launcher, "slurm");
    unsigned nodes = o->nodes ? o->nodes : 1;
    if (nodes > 1024 || (!slurm && nodes > MAX_LOCAL_AGENTS)) {
        snprintf(err, errlen, "%u nodes is more than this server starts agents on", nodes);
        return MLOS_EINVAL;
    }
    if (slurm && mlos_launch_slurm_available(why, sizeof(why)) < 0) {
        snprintf(err, errlen, "the server is set to run slaves on Slurm, but Slurm is not usable here: %s", why);
        return MLOS_ENOENT;
    }
    if (o->agent)
        snprintf(agent, sizeof(agent), "%s", o->agent);
    else if (mlos_image_find("mlos-node", agent, sizeof(agent)) < 0)
        snprintf(agent, sizeof(agent), "mlos-node");
    if (o->host)
        snprintf(host, sizeof(host), "%s", o->host);
    else if (!slurm || gethostname(host, sizeof(host) - 1) < 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    host[sizeof(host) - 1] = 0;
    {
        /* agents connect to an address (msg.h takes no names): this host's
         * IPv4 address as the nodes resolve its name */
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        char ip[INET_ADDRSTRLEN];
        if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai ||
            !inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof(ip))) {
            snprintf(err, errlen, "cannot resolve '%s', the name node agents would reach this host at", host);
            if (ai)
                freeaddrinfo(ai);
            return MLOS_EINVAL;
        }
        freeaddrinfo(ai);
        snprintf(host, sizeof(host), "%s", ip);
    }
    if (mlos_remote_nonce(rnd) < 0) {
        snprintf(err, errlen, "no randomness for the agents' secret");
        return MLOS_EIO;
    }
    for (unsigned i = 0; i < sizeof(rnd); i++)
        snprintf(secret + 2 * i, 3, "%02x", rnd[i]);
    if (!(nc = calloc(1, sizeof(*nc)))) {
        snprintf(err, errlen, "out of memory");
        return MLOS_ENOMEM;
    }
    nc->loop = loop;
    nc->want = nodes;
    rc = mlos_cluster_listen(&nc->c, loop, slurm ? "tcp:0.0.0.0:0" : "tcp:127.0.0.1:0",
                             &(struct mlos_cluster_opts){.secret = secret});
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen for node agents: %s", mlos_strerror(rc));
        free(nc);
        return rc;
    }
    nc->listening = 1;
    mlos_cluster_addr(&nc->c, addr, sizeof(addr));
    snprintf(maddr, sizeof(maddr), "tcp:%s:%s", host, strrchr(addr, ':') ? strrchr(addr, ':') + 1 : "0");
    /* srun gives up on the allocation a little before we give up on the
     * agents, so that its own reason (no such partition, not enough nodes)
     * is what the user reads */
    unsigned alloc_s = timeout / 1000 > 6 ? timeout / 1000 - 3 : 3;
    nc->nlaunch = slurm ? 1 : nodes;
    for (unsigned i = 0; i < nc->nlaunch; i++) {
        char name[32];
        const char *extra[] = {"--name", name, NULL};
        snprintf(name, sizeof(name), "agent%u", i + 1);
        struct mlos_launch_opts lo = {.launcher = o->launcher, .program = agent, .master_addr = maddr,
                                      .secret = secret, .extra_args = slurm ? NULL : extra,
                                      .partition = o->partition, .nodelist = o->nodelist,
                                      .nodes = slurm ? nodes : 0, .alloc_timeout_s = alloc_s,
                                      .time_limit_min = o->time_limit_min ? o->time_limit_min : 10};
        nc->la[i].data = nc;
        if ((rc = mlos_launch_start(loop, &nc->la[i], &lo, on_exit_cb)) < 0) {
            snprintf(err, errlen, "cannot start the node agent %s%s: %s", agent, slurm ? " with srun" : "",
                     mlos_strerror(rc));
            teardown(nc);
            free(nc);
            return rc;
        }
        nc->started[i] = 1;
    }
    uint64_t end = uv_hrtime() + timeout * 1000000ull;
    while (nc->c.nnodes < nodes && !nc->exited && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE); /* the cluster's tick wakes the loop every 100 ms */
    if (nc->c.nnodes < nodes) {
        if (nc->exited)
            snprintf(err, errlen, "%s ended (status %d) before %u node agent(s) joined%s%s",
                     slurm ? "srun" : "a node agent", nc->exit_status, nodes, nc->exit_err[0] ? ": " : "",
                     nc->exit_err);
        else
            snprintf(err, errlen, "%u of %u node agent(s) joined within %u ms%s", nc->c.nnodes, nodes, timeout,
                     slurm ? " (is the allocation granted, and can the nodes reach this host?)" : "");
        teardown(nc);
        free(nc);
        return MLOS_ETIMEDOUT;
    }
    *out = nc;
    return 0;
}

const struct mlos_pool_placement *neuro_cluster_placement(struct neuro_cluster *nc)
{
    return nc ? mlos_cluster_placement(&nc->c) : NULL;
}

unsigned neuro_cluster_nodes(const struct neuro_cluster *nc) { return nc ? nc->c.nnodes : 0; }

void neuro_cluster_close(struct neuro_cluster *nc)
{
    if (!nc)
        return;
    teardown(nc);
    free(nc);
}
