/* mlos-node: the agent of one node of a cluster.
 *
 *   mlos-node --master tcp:HOST:PORT [--secret-file PATH | --insecure] [--name NAME]
 *             [--max-shards N] [--link-timeout MS] [--connect-timeout MS] [--registry]
 *
 * One per node, started by a launcher (srun on each node of a Slurm
 * allocation, or the local launcher / a host list). It connects to the
 * master's cluster listener (master/cluster.h), both prove they know the
 * shared secret (master/remote_auth.h; the agent takes the worker's role),
 * and it reports its node: name, usable cores, memory, whether KVM runs a
 * guest here (and why not). Then, on the master's requests, it boots
 * slaves on this node exactly as a local master would (mlos_spawn: x86_64
 * and ppc bare metal under QEMU, process shards; KVM where asked and
 * usable, failing at once where asked and not), pings them (the local
 * heartbeat), relays their calls and replies, places put data into their
 * bulk windows in order with calls (over tcp read off the socket straight
 * into the window, node_place.h; over verbs written there by the master's
 * RDMA, node_verbs.h), and answers ps queries. For group members it
 * keeps the node's copy of the group memory and relays their rings
 * (node_group.c). It reads their windows for the master's gets
 * (node_get.h). Protocol: rpc/abi/node_proto.h.
 *
 * It dies with its allocation and leaves nothing behind: when the master
 * says BYE, the connection breaks, the master has been silent for
 * --link-timeout (default 5000 ms: a partition; the master pings every
 * 200 ms, so only a master loop blocked that long looks the same), or it
 * gets SIGTERM /
 * SIGINT / SIGHUP (srun ending, scancel), it stops every slave (STOP, then
 * SIGKILL after 2 s) and exits; if it is killed outright, its slaves die
 * with it (mlos-launch sets their parent-death signal) and their memory
 * files and sockets go with their processes. It keeps no registry records
 * of its own (the master's registry shows its shards with their node) unless
 * --registry is given.
 *
 * Exit status: 0 after BYE or a signal, 2 if it cannot connect, has no
 * secret, or authentication fails either way, 3 when the master went
 * silent or away.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "frame.h"
#include "mlos.h"
#include "mlos.pb-c.h"
#include "mlos_pool.h"
#include "msg.h"
#include "node_get.h"
#include "node_group.h"
#include "node_proto.h"
#include "node_place.h"
#include "node_verbs.h"
#include "remote.h"
#include "remote_auth.h"

#define SCAN_MS 20
#define MAX_SHARD_MEM (16ull << 30)
#define QUIT_GRACE_MS 3000 /* slaves get STOP, then SIGKILL after 2 s (mlos_shard_stop) */

/* S_RETIRING: the slave died; its window waits for the master's release
 * (node_verbs.h) before the slave is stopped and its memory unmapped */
enum { S_STARTING, S_READY, S_STOPPING, S_RETIRING };

struct ashard {
    mlos_shard_t sh;
    uint32_t id;       /* the master's shard id */
    int state;
    int silent;        /* fenced by the master: no GONE for it */
    int stop_asked;    /* STOP arrived while it was starting */
    unsigned hb_interval_ms, hb_timeout_ms; /* as the master asked (0: off) */
    int why_err;       /* status of the call failure in why */
    char why[300];     /* last failure seen on a call */
    struct node_win *win; /* its window as an RDMA region (verbs link), or NULL */
    struct node_place *pw; /* its window as a region puts are placed in (tcp link), or NULL */
    struct node_gm *gm;   /* the node's copy of its group memory, or NULL (node_group.h) */
    struct ashard *next;
};

struct acall {
    mlos_call_t req;
    struct ashard *s;
    uint32_t mid;      /* the master's call id */
};

static uv_loop_t *loop;
static mlos_domain_t dom;
static mlos_ep_t ep;
static uv_timer_t scan, retry, quit_timer;
static uv_signal_t sig_term, sig_int, sig_hup;
static struct mlos_remote_secret secret;
static uint8_t nonce_w[MLOS_REMOTE_NONCE];
static const char *master_addr, *secret_file;
static char node_name[64];
static unsigned max_shards, link_timeout_ms = 5000, connect_timeout_ms = 30000, link_spin_us;
static int connected, authed, welcomed, quitting, exit_code;
static uint32_t epoch;
static uint64_t t_start, last_rx_ms;
static struct ashard *shards;
static unsigned nshards, open_shards;

static void quit(int code, const char *why);

/* ---- sending ---- */

struct nmsg {
    mlos_wr_t wr;
    uint8_t buf[];
};

static void nmsg_done(mlos_wr_t *wr, int status)
{
    (void)status;
    free(wr->data);
}

static int send_raw(uint32_t type, const void *p, size_t n)
{
    struct nmsg *m = malloc(sizeof(*m) + (n ? n : 1));
    int rc;
    if (!m)
        return MLOS_ENOMEM;
    memcpy(m->buf, p, n);
    m->wr.data = m;
    if ((rc = mlos_send(&ep, &m->wr, type, m->buf, n, nmsg_done)) < 0)
        free(m);
    return rc;
}

static int send_msg(uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1, size_t l1,
                    const void *p2, size_t l2)
{
    struct mlos_node_hdr h = {epoch, shard, req, aux};
    size_t len = MLOS_NODE_HDR + l1 + l2;
    struct nmsg *m;
    int rc;
    if (!connected || len > MLOS_EP_MAX_MSG)
        return MLOS_ETOOBIG;
    if (!(m = malloc(sizeof(*m) + len)))
        return MLOS_ENOMEM;
    mlos_node_hdr_put(m->buf, &h);
    if (l1)
        memcpy(m->buf + MLOS_NODE_HDR, p1, l1);
    if (l2)
        memcpy(m->buf + MLOS_NODE_HDR + l1, p2, l2);
    m->wr.data = m;
    if ((rc = mlos_send(&ep, &m->wr, type, m->buf, len, nmsg_done)) < 0)
        free(m);
    return rc;
}

static void send_gone(struct ashard *s, int err, const char *why)
{
    if (!s->silent && welcomed && !quitting)
        (void)send_msg(MLOS_NODE_GONE, s->id, 0, (uint32_t)(int32_t)err, why, strlen(why), NULL, 0);
}

/* ---- shards ---- */

static struct ashard *find(uint32_t id)
{
    for (struct ashard *s = shards; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static void shard_closed(mlos_shard_t *sh)
{
    struct ashard *s = sh->data, **pp;
    for (pp = &shards; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (s->state == S_STOPPING && s->why[0] == 0)
        send_gone(s, 0, "stopped");
    node_group_unref(s->gm);
    free(s);
    nshards--;
    open_shards--;
    if (quitting && !open_shards)
        uv_stop(loop);
}

static void shard_stop(struct ashard *s)
{
    if (s->state == S_STOPPING)
        return;
    s->state = S_STOPPING;
    node_win_close(&s->win); /* before mlos_shard_stop unmaps the memory */
    node_place_close(&s->pw);
    if (mlos_shard_stop(&s->sh, shard_closed) < 0 && !s->sh.impl)
        shard_closed(&s->sh);
}

/* The console line that says most about a death. */
static void console_last(const mlos_shard_t *sh, char *out, size_t cap)
{
    const char *t = mlos_shard_console_tail(sh), *end = t + strlen(t), *b;
    while (end > t && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    for (b = end; b > t && b[-1] != '\n'; b--)
        ;
    snprintf(out, cap, "%.*s", (int)(end - b), b);
}

static void on_spawned(mlos_shard_t *sh, int status)
{
    struct ashard *s = sh->data;
    if (status < 0) {
        char line[160];
        console_last(sh, line, sizeof(line));
        snprintf(s->why, sizeof(s->why), "shard %u could not start on node %s: %s%s%s", s->id, node_name,
                 mlos_strerror(status), line[0] ? "; console: " : "", line);
        send_gone(s, status, s->why);
        shard_stop(s);
        return;
    }
    s->state = S_READY;
    if (s->stop_asked || quitting) {
        shard_stop(s);
        return;
    }
    /* the slave's liveness is ours to watch, as the master asked; the
     * master watches us */
    if (s->hb_interval_ms)
        mlos_shard_heartbeat(sh, s->hb_interval_ms, s->hb_timeout_ms);
    Mlos__Hello h = MLOS__HELLO__INIT;
    size_t bulk_len = 0, n, klen;
    uint8_t *buf, key[MLOS_NODE_WINKEY_SIZE];
    mlos_shard_bulk(sh, &bulk_len);
    h.arch = sh->arch;
    h.tasks = sh->tasks;
    h.n_tasks = sh->ntasks;
    h.mem_bytes = sh->mem_bytes;
    h.boot_ns = sh->shard_boot_ns;
    h.abi = 1;
    n = mlos__hello__get_packed_size(&h);
    klen = node_win_open(sh, s->id, &s->win, key); /* over verbs: puts go straight into it */
    if (!s->win)
        s->pw = node_place_open(sh, s->id); /* over tcp: puts are read into it */
    if (!(buf = malloc(16 + klen + n))) {
        send_gone(s, MLOS_ENOMEM, "agent out of memory");
        shard_stop(s);
        return;
    }
    uint64_t b = mlos_to_le64(bulk_len);
    uint32_t pid = mlos_to_le32((uint32_t)sh->pid), k = mlos_to_le32((uint32_t)klen);
    memcpy(buf, &b, 8);
    memcpy(buf + 8, &pid, 4);
    memcpy(buf + 12, &k, 4);
    memcpy(buf + 16, key, klen);
    mlos__hello__pack(&h, buf + 16 + klen);
    (void)send_msg(MLOS_NODE_SPAWNED, s->id, 0, 0, buf, 16 + klen + n, NULL, 0);
    free(buf);
}

static unsigned long long kv_num(const uint8_t *p, size_t len, const char *key, unsigned long long dflt)
{
    char v[32], *end;
    unsigned long long x;
    if (mlos_node_kv(p, len, key, v, sizeof(v)) < 0)
        return dflt;
    x = strtoull(v, &end, 0);
    return *end || end == v ? dflt : x;
}

static void do_spawn(uint32_t id, const uint8_t *p, size_t len)
{
    struct mlos_spawn_opts o = {0};
    char arch[16], kvm[8], iname[128], ipath[4096];
    struct ashard *s;
    int rc;

    if (find(id)) {
        char why[120];
        snprintf(why, sizeof(why), "shard id %u is in use on node %s", id, node_name);
        (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)MLOS_EINVAL, why, strlen(why), NULL, 0);
        return;
    }
    if (max_shards && nshards >= max_shards) {
        char why[120];
        snprintf(why, sizeof(why), "node %s runs its maximum of %u shards", node_name, max_shards);
        (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)MLOS_ESPAWN, why, strlen(why), NULL, 0);
        return;
    }
    if (mlos_node_kv(p, len, "arch", arch, sizeof(arch)) < 0)
        snprintf(arch, sizeof(arch), "x86_64");
    o.arch = arch;
    o.mem_bytes = (size_t)kv_num(p, len, "mem", 0);
    o.bulk_bytes = (size_t)kv_num(p, len, "bulk", 0);
    o.ring_bytes = (uint32_t)kv_num(p, len, "ring", 0);
    o.hello_timeout_ms = (unsigned)kv_num(p, len, "hello_timeout", 0);
    o.spin_us = (unsigned)kv_num(p, len, "spin_us", 0);
    if (mlos_node_kv(p, len, "kvm", kvm, sizeof(kvm)) == 0)
        o.kvm = atoi(kvm) < 0 ? MLOS_KVM_AUTO : atoi(kvm) > 0;
    if (o.mem_bytes > MAX_SHARD_MEM || o.bulk_bytes > MAX_SHARD_MEM || o.spin_us > 1000000) {
        const char *why = "spawn options out of range";
        (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)MLOS_EINVAL, why, strlen(why), NULL, 0);
        return;
    }
    /* an image by file name only, found on this node's MLOS_IMAGE_PATH */
    if (mlos_node_kv(p, len, "image", iname, sizeof(iname)) == 0) {
        char why[300];
        if (!iname[0] || iname[0] == '.' || strchr(iname, '/')) {
            snprintf(why, sizeof(why), "image name '%.100s' is not a plain file name", iname);
            (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)MLOS_EINVAL, why, strlen(why), NULL, 0);
            return;
        }
        if (mlos_image_find(iname, ipath, sizeof(ipath)) < 0) {
            snprintf(why, sizeof(why), "image %.100s is not on MLOS_IMAGE_PATH of node %s", iname, node_name);
            (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)MLOS_ENOENT, why, strlen(why), NULL, 0);
            return;
        }
        o.image = ipath;
    }
    struct node_gm *gm = NULL;
    char gwhy[160];
    if ((rc = node_group_spawn(p, len, &o, &gm, gwhy, sizeof(gwhy))) < 0) {
        (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)rc, gwhy, strlen(gwhy), NULL, 0);
        return;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        node_group_unref(gm);
        return;
    }
    s->id = id;
    s->sh.data = s;
    s->gm = gm;
    if ((rc = mlos_spawn(loop, &s->sh, &o, on_spawned)) < 0) {
        char why[200];
        snprintf(why, sizeof(why), "cannot start a %s shard on node %s: %s", arch, node_name, mlos_strerror(rc));
        (void)send_msg(MLOS_NODE_GONE, id, 0, (uint32_t)(int32_t)rc, why, strlen(why), NULL, 0);
        node_group_unref(gm);
        free(s);
        return;
    }
    s->sh.data = s; /* mlos_spawn keeps data */
    s->next = shards;
    shards = s;
    nshards++;
    open_shards++;
}

static int is_death(int status)
{
    return status == MLOS_ESHARDDIED || status == MLOS_ETIMEDOUT || status == MLOS_EPROTO ||
           status == MLOS_ESTOPPED;
}

static void send_reply(uint32_t shard, uint32_t mid, int status, const char *error, const uint8_t *res, size_t n,
                       uint64_t run_ns)
{
    Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
    size_t len;
    uint8_t *buf;
    r.status = status;
    r.error = status ? (char *)(error ? error : mlos_strerror(status)) : NULL;
    r.result.data = (uint8_t *)res;
    r.result.len = n;
    r.run_ns = run_ns;
    len = mlos__task_reply__get_packed_size(&r);
    if (len + MLOS_NODE_HDR > MLOS_EP_MAX_MSG) {
        send_reply(shard, mid, MLOS_ETOOBIG, "reply does not fit in one message", NULL, 0, run_ns);
        return;
    }
    if (!(buf = malloc(len ? len : 1)))
        return;
    mlos__task_reply__pack(&r, buf);
    (void)send_msg(MLOS_NODE_REPLY, shard, mid, 0, buf, len, NULL, 0);
    free(buf);
}

static void call_done(mlos_call_t *req, int status)
{
    struct acall *ac = req->data;
    struct ashard *s = ac->s;
    if (status && is_death(status) && !mlos_shard_alive(&s->sh)) {
        /* the slave is gone: the scan reports it once, with this reason,
         * told with the master's id for it rather than our local one */
        const char *e = req->error ? req->error : mlos_strerror(status), *rest = e;
        if (!strncmp(e, "shard ", 6)) {
            rest = e + 6;
            while (*rest >= '0' && *rest <= '9')
                rest++;
            rest = *rest == ' ' && rest > e + 6 ? rest + 1 : e;
        }
        if (!s->why[0]) {
            snprintf(s->why, sizeof(s->why), "shard %u on node %s%s%s", s->id, node_name, rest == e ? ": " : " ",
                     rest);
            s->why_err = status == MLOS_ETIMEDOUT || status == MLOS_EPROTO ? status : MLOS_ESHARDDIED;
        }
    } else
        send_reply(s->id, ac->mid, status, req->error, req->result, req->result_len, req->run_ns);
    free(ac);
}

static void do_call(struct ashard *s, uint32_t mid, const uint8_t *p, size_t len)
{
    Mlos__TaskCall *c = mlos__task_call__unpack(NULL, len, p);
    struct acall *ac;
    int rc;
    if (!c) {
        send_reply(s->id, mid, MLOS_EDECODE, "TaskCall does not decode", NULL, 0, 0);
        return;
    }
    if (!(ac = calloc(1, sizeof(*ac)))) {
        send_reply(s->id, mid, MLOS_ENOMEM, "agent out of memory", NULL, 0, 0);
        mlos__task_call__free_unpacked(c, NULL);
        return;
    }
    ac->s = s;
    ac->mid = mid;
    ac->req.data = ac;
    rc = mlos_call(&s->sh, &ac->req, c->task, c->arg.data, c->arg.len, call_done);
    mlos__task_call__free_unpacked(c, NULL);
    if (rc < 0) {
        free(ac);
        if (!is_death(rc)) /* else the scan reports the shard */
            send_reply(s->id, mid, rc, NULL, NULL, 0, 0);
    }
}

/* A member named in a GROUP_FORMAT: ours, up, and spawned with that memory. */
static mlos_shard_t *group_lookup(uint32_t id, const struct node_gm *gm)
{
    struct ashard *s = find(id);
    return s && s->state == S_READY && s->gm == gm && mlos_shard_alive(&s->sh) ? &s->sh : NULL;
}

static void do_ps(uint32_t req)
{
    size_t cap = 64 + (size_t)nshards * 96, n = 0;
    if (cap > MLOS_EP_MAX_MSG - MLOS_NODE_HDR)
        cap = MLOS_EP_MAX_MSG - MLOS_NODE_HDR; /* one message: the first shards only */
    char *text = malloc(cap);
    if (!text)
        return;
    for (struct ashard *s = shards; s && n + 96 < cap; s = s->next)
        n += (size_t)snprintf(text + n, cap - n, "%u %s %s %d %" PRIu64 "\n", s->id, s->sh.arch[0] ? s->sh.arch : "-",
                              s->state == S_STARTING ? "starting"
                              : s->state == S_STOPPING ? "stopping"
                              : mlos_shard_alive(&s->sh) ? "ready"
                                                         : "dead",
                              s->sh.pid, s->sh.mem_bytes);
    (void)send_msg(MLOS_NODE_PS_REPLY, 0, req, 0, text, n, NULL, 0);
    free(text);
}

/* ---- the master's messages ---- */

static void say_hello(void);

static void on_auth(uint32_t type, const uint8_t *p, size_t len)
{
    uint8_t proof[MLOS_REMOTE_AUTH_PROOF_SIZE];
    if (type != MLOS_REMOTE_MSG_AUTH || len != MLOS_REMOTE_AUTH_RESPONSE_SIZE || p[0] != MLOS_REMOTE_AUTH_RESPONSE ||
        p[1] != MLOS_REMOTE_AUTH_VERSION) {
        quit(2, "the master did not answer the authentication challenge (not an mlos master, or one without a "
                "secret)");
        return;
    }
    if (!mlos_remote_mac_ok(&secret, MLOS_REMOTE_ROLE_MASTER, nonce_w, p + 2, p + 2 + MLOS_REMOTE_NONCE)) {
        quit(2, "the master gave a wrong proof of the shared secret");
        return;
    }
    proof[0] = MLOS_REMOTE_AUTH_PROOF;
    proof[1] = MLOS_REMOTE_AUTH_VERSION;
    if (mlos_remote_mac(&secret, MLOS_REMOTE_ROLE_WORKER, nonce_w, p + 2, proof + 2) < 0 ||
        send_raw(MLOS_REMOTE_MSG_AUTH, proof, sizeof(proof)) < 0) {
        quit(2, "cannot send the proof");
        return;
    }
    authed = 1;
    say_hello();
}

static void on_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct mlos_node_hdr h;
    struct ashard *s;
    (void)e;
    if (quitting)
        return;
    if (!authed) {
        on_auth(type, p, len);
        return;
    }
    if (mlos_node_hdr_get(p, len, &h) < 0) {
        quit(3, "a message from the master without a header");
        return;
    }
    p += MLOS_NODE_HDR;
    len -= MLOS_NODE_HDR;
    if (!welcomed) {
        if (type != MLOS_NODE_WELCOME) {
            quit(3, "the master did not welcome this node");
            return;
        }
        epoch = h.epoch;
        welcomed = 1;
        last_rx_ms = uv_now(loop);
        fprintf(stderr, "mlos-node %s: joined the master at %s (epoch %08x)\n", node_name, master_addr, epoch);
        return;
    }
    if (h.epoch != epoch)
        return; /* not for this incarnation */
    last_rx_ms = uv_now(loop);
    if (node_group_msg(type, p, len, group_lookup, node_name))
        return; /* group memory (node_group.c) */
    switch (type) {
    case MLOS_NODE_SPAWN:
        do_spawn(h.shard, p, len);
        return;
    case MLOS_NODE_PING: {
        uint32_t cnt = 0;
        uint8_t pong[12] = {0};
        for (s = shards; s; s = s->next)
            cnt += s->state == S_READY && mlos_shard_alive(&s->sh);
        if (len >= 8)
            memcpy(pong, p, 8);
        cnt = mlos_to_le32(cnt);
        memcpy(pong + 8, &cnt, 4);
        (void)send_msg(MLOS_NODE_PONG, 0, h.req, 0, pong, sizeof(pong), NULL, 0);
        return;
    }
    case MLOS_NODE_PS:
        do_ps(h.req);
        return;
    case MLOS_NODE_GET: /* in order: after the replies and puts before it */
        s = find(h.shard);
        node_get_serve(s && s->state == S_READY ? &s->sh : NULL, h.shard, h.req, p, len, send_msg);
        return;
    case MLOS_NODE_BYE:
        quit(0, NULL);
        return;
    case MLOS_NODE_PUT_RDMA: /* after the WRITEs of a put (node_verbs.c) */
        s = find(h.shard);
        node_win_notice(s ? s->win : NULL, h.shard, h.aux, p, len);
        return;
    case MLOS_NODE_WIN_RELEASE:
        if ((s = find(h.shard)) && node_win_release(s->win, h.aux)) {
            if (s->state == S_RETIRING)
                shard_stop(s);
            else
                node_win_close(&s->win);
        }
        return;
    case MLOS_NODE_CALL:
    case MLOS_NODE_PUT:
    case MLOS_NODE_STOP:
    case MLOS_NODE_KILL:
    case MLOS_NODE_HEARTBEAT:
        break;
    default:
        quit(3, "unexpected message from the master");
        return;
    }
    if (!(s = find(h.shard)))
        return; /* gone here already; the master heard or will hear GONE */
    if (type == MLOS_NODE_HEARTBEAT) {
        /* bounded like mlos_shard_heartbeat's own use: at least 10 ms */
        s->hb_interval_ms = h.aux ? (h.aux < 10 ? 10 : h.aux) : 0;
        s->hb_timeout_ms = h.req < 10 ? 10 : h.req;
        if (s->state == S_READY)
            mlos_shard_heartbeat(&s->sh, s->hb_interval_ms, s->hb_timeout_ms);
    } else if (type == MLOS_NODE_CALL) {
        if (s->state == S_READY)
            do_call(s, h.req, p, len);
    } else if (type == MLOS_NODE_PUT) {
        uint64_t off;
        int rc;
        if (len < 8 || s->state != S_READY)
            return;
        memcpy(&off, p, 8);
        off = mlos_from_le64(off);
        /* one the link did not place (node_place.h): copied from the message */
        if ((rc = mlos_put(&s->sh, (size_t)off, p + 8, len - 8)) < 0 && !s->why[0])
            fprintf(stderr, "mlos-node %s: put into shard %u at %" PRIu64 " (+%zu): %s\n", node_name, s->id, off,
                    len - 8, mlos_strerror(rc));
    } else {
        if (type == MLOS_NODE_KILL)
            s->silent = 1;
        if (s->state == S_STARTING && type == MLOS_NODE_STOP)
            s->stop_asked = 1; /* stopped when it comes up (or fails) */
        else
            shard_stop(s);
    }
}

static void on_fail(mlos_ep_t *e, int status)
{
    (void)e;
    if (!authed)
        quit(2, "the master closed the connection during authentication (wrong or missing shared secret?)");
    else
        quit(3, "the connection to the master broke");
    (void)status;
}

/* ---- liveness of the master and of our slaves ---- */

static void on_scan(uv_timer_t *t)
{
    uint64_t now = uv_now(loop);
    (void)t;
    if (welcomed && !quitting && now - last_rx_ms > link_timeout_ms) {
        char why[120];
        snprintf(why, sizeof(why), "the master has been silent for %" PRIu64 " ms (partition?)", now - last_rx_ms);
        quit(3, why);
        return;
    }
    for (struct ashard *s = shards, *next; s; s = next) {
        next = s->next;
        if (s->state != S_READY || mlos_shard_alive(&s->sh))
            continue;
        if (!s->why[0] && node_group_fenced(&s->sh, s->id, node_name, s->why, sizeof(s->why)))
            s->why_err = MLOS_EPROTO; /* its group relay fenced it (node_group.c) */
        if (!s->why[0]) {
            char line[160];
            console_last(&s->sh, line, sizeof(line));
            snprintf(s->why, sizeof(s->why), "shard %u died on node %s%s%s", s->id, node_name,
                     line[0] ? "; console: " : "", line);
        }
        send_gone(s, s->why_err ? s->why_err : MLOS_ESHARDDIED, s->why);
        if (!quitting && node_win_retire(s->win, now))
            s->state = S_RETIRING; /* stopped at WIN_RELEASE, or below when its time is up */
        else
            shard_stop(s);
    }
    for (struct ashard *s = shards, *next; s; s = next) {
        next = s->next;
        if (s->state == S_RETIRING && node_win_retire_due(s->win, now))
            shard_stop(s);
    }
}

/* ---- start and end ---- */

static void on_quit_timer(uv_timer_t *t)
{
    (void)t;
    uv_stop(loop); /* slaves not gone by now die with us (parent-death signal) */
}

static void quit(int code, const char *why)
{
    if (quitting)
        return;
    quitting = 1;
    exit_code = code;
    if (why)
        fprintf(stderr, "mlos-node %s: %s; stopping %u shard(s)\n", node_name, why, nshards);
    for (struct ashard *s = shards, *next; s; s = next) {
        next = s->next;
        s->silent = 1;
        if (s->state == S_STARTING)
            s->stop_asked = 1;
        shard_stop(s);
    }
    if (connected)
        mlos_ep_close(&ep, NULL);
    connected = 0;
    uv_timer_start(&quit_timer, on_quit_timer, QUIT_GRACE_MS, 0);
    if (!open_shards)
        uv_stop(loop);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)h;
    char why[40];
    snprintf(why, sizeof(why), "signal %d", sig);
    quit(0, why);
}

static unsigned usable_cores(void)
{
    cpu_set_t set;
    long n;
    /* Slurm and cgroups narrow the CPUs a step may use: count those */
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void say_hello(void)
{
    char text[600], why[160] = "";
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    int kvm = mlos_kvm_usable(why, sizeof(why)) == 0;
    for (char *q = why; *q; q++)
        if (*q == '\n')
            *q = ' ';
    if (!max_shards) /* a slave needs ~100 MiB with the default sizes */
        max_shards = mem ? (unsigned)(mem / (128ull << 20)) : 8;
    if (!max_shards)
        max_shards = 1;
    int n = snprintf(text, sizeof(text),
                     "version=%u\nname=%s\ncores=%u\nmem_bytes=%" PRIu64 "\nkvm=%d\nkvm_why=%s\npid=%d\nmax_shards=%u\n",
                     MLOS_NODE_VERSION, node_name, usable_cores(), mem, kvm, kvm ? "" : why, (int)getpid(),
                     max_shards);
    (void)send_msg(MLOS_NODE_HELLO, 0, 0, 0, text, (size_t)n, NULL, 0);
}

static void try_connect(void);

static void on_connect(mlos_ep_t *e, int status)
{
    (void)e;
    if (status == 0) {
        connected = 1;
        node_place_attach(&ep);
        /* polling the link: only a transport with a completion queue has it */
        if (link_spin_us && (status = mlos_ep_set_spin(&ep, link_spin_us)) < 0)
            fprintf(stderr, "mlos-node %s: --link-spin-us on %s: %s (the link sleeps between messages)\n",
                    node_name, master_addr, mlos_strerror(status));
        if (!secret.len) {
            authed = 1;
            say_hello();
            return;
        }
        uint8_t ch[MLOS_REMOTE_AUTH_CHALLENGE_SIZE] = {MLOS_REMOTE_AUTH_CHALLENGE, MLOS_REMOTE_AUTH_VERSION};
        if (mlos_remote_nonce(nonce_w) < 0) {
            quit(2, "no randomness for the challenge");
            return;
        }
        memcpy(ch + 2, nonce_w, MLOS_REMOTE_NONCE);
        if (send_raw(MLOS_REMOTE_MSG_AUTH, ch, sizeof(ch)) < 0)
            quit(2, "cannot send the challenge");
        return;
    }
    if (uv_hrtime() - t_start < connect_timeout_ms * 1000000ull) {
        uv_timer_start(&retry, (uv_timer_cb)try_connect, 200, 0);
        return;
    }
    fprintf(stderr, "mlos-node %s: cannot reach the master at %s: %s\n", node_name, master_addr,
            mlos_strerror(status));
    quit(2, NULL);
}

static void try_connect(void)
{
    int rc;
    memset(&ep, 0, sizeof(ep));
    ep.on_recv = on_recv;
    ep.on_fail = on_fail;
    if ((rc = mlos_connect(&dom, &ep, master_addr, 3000, on_connect)) < 0) {
        fprintf(stderr, "mlos-node %s: connect %s: %s\n", node_name, master_addr, mlos_strerror(rc));
        quit(2, NULL);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mlos-node --master tcp:HOST:PORT [--secret-file PATH | --insecure] [--name NAME]\n"
               "                 [--max-shards N] [--link-timeout MS] [--connect-timeout MS] [--link-spin-us US]\n"
               "                 [--registry]\n"
               "  the shared secret: --secret-file, else $MLOS_REMOTE_SECRET_FILE (mode 0600), else\n"
               "  $MLOS_REMOTE_SECRET; --insecure (or MLOS_REMOTE_INSECURE=1) runs without one\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"master", required_argument, 0, 'm'},
                                         {"secret-file", required_argument, 0, 's'},
                                         {"insecure", no_argument, 0, 'i'},
                                         {"name", required_argument, 0, 'n'},
                                         {"max-shards", required_argument, 0, 'x'},
                                         {"link-timeout", required_argument, 0, 'l'},
                                         {"connect-timeout", required_argument, 0, 'c'},
                                         {"registry", no_argument, 0, 'r'},
                                         {"link-spin-us", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, rc, insecure = 0, registry = 0;
    char why[320], *end;

    while ((c = getopt_long(argc, argv, "m:s:in:x:l:c:p:rh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': master_addr = optarg; break;
        case 's': secret_file = optarg; break;
        case 'i': insecure = 1; break;
        case 'n': snprintf(node_name, sizeof(node_name), "%s", optarg); break;
        case 'x':
        case 'l':
        case 'c':
        case 'p': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || end == optarg || v > (c == 'p' ? MLOS_EP_SPIN_MAX_US : 100000000ul)) {
                fprintf(stderr, "mlos-node: bad number '%s' for --%s\n", optarg,
                        c == 'x'   ? "max-shards"
                        : c == 'l' ? "link-timeout"
                        : c == 'c' ? "connect-timeout"
                                   : "link-spin-us");
                return 2;
            }
            if (c == 'p')
                link_spin_us = (unsigned)v;
            else if (c == 'x')
                max_shards = (unsigned)v;
            else if (c == 'l')
                link_timeout_ms = (unsigned)v;
            else
                connect_timeout_ms = (unsigned)v;
            break;
        }
        case 'r': registry = 1; break;
        default: usage(c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2;
        }
    }
    if (!master_addr || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!node_name[0] && gethostname(node_name, sizeof(node_name) - 1) < 0)
        snprintf(node_name, sizeof(node_name), "node-%d", (int)getpid());
    if (mlos_remote_secret_load(&secret, NULL, secret_file, insecure, why, sizeof(why)) < 0) {
        fprintf(stderr, "mlos-node: %s\n", why);
        return 2;
    }
    if (!secret.len)
        fprintf(stderr, "mlos-node: WARNING: running without authentication (insecure): any master that answers "
                        "at %s can start slaves on this node\n", master_addr);
    if (!registry)
        setenv("MLOS_REGISTRY", "0", 1); /* the master's registry shows our shards */
    /* a launcher that dies (local launcher, ssh) takes us along; srun's
     * step end comes as SIGTERM */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Put pieces arrive as 512 KiB messages: keep such buffers in the heap
     * rather than mapping and faulting in fresh pages for every one. */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    if ((rc = mlos_domain_init(&dom, loop, strncmp(master_addr, "verbs:", 6) ? 0 : MLOS_DOMAIN_VERBS)) < 0) {
        fprintf(stderr, "mlos-node: messaging domain: %s\n", mlos_strerror(rc));
        return 2;
    }
    node_verbs_init(&dom, &ep, !strncmp(master_addr, "verbs:", 6), send_msg, node_name);
    node_place_init(&dom, &epoch, node_name);
    node_group_init(loop, send_msg);
    uv_timer_init(loop, &retry);
    uv_timer_init(loop, &scan);
    uv_timer_init(loop, &quit_timer);
    uv_timer_start(&scan, on_scan, SCAN_MS, SCAN_MS);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    t_start = uv_hrtime();
    try_connect();
    uv_run(loop, UV_RUN_DEFAULT);
    /* Leave without tearing the loop down: the process exit releases
     * memory and sockets; slaves are stopped, or die with us. */
    mlos_remote_secret_clear(&secret);
    fflush(stderr);
    _exit(exit_code);
}
