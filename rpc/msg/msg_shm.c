/* The shm transport: endpoints on one host talking through shared memory.
 *
 * Setup: the connecting side creates one memfd holding two grant tables and
 * two frame rings (rpc/wire/ring.h), plus one eventfd per direction, and passes
 * the three descriptors over the unix socket named in the address
 * (SCM_RIGHTS). The socket then carries only control records: mapping
 * requests for one-sided access, and BYE.
 *
 * Two-sided: a send is one frame (type MLOS_FRAME_MSG, the user's type in
 * the request id) copied into the ring; ring bytes are the credits. A full
 * ring queues sends locally, in order, and sets producer_waiting, so the
 * consumer rings us back after draining. Doorbells (eventfd writes) are only
 * sent to a consumer that sleeps; after any traffic an endpoint spins on
 * its ring for MLOS_SHM_SPIN_US (default 50 us) before sleeping, which keeps
 * small round trips in the microsecond range.
 *
 * One-sided: the initiator asks the target once per rkey for the region's
 * memfd. The target checks key and rights (mlos_mr_check), refuses regions
 * that are not shareable, records the grant in its grant table in the
 * shared memfd and sends the descriptor. Puts and gets are then plain
 * copies into the mapping, after checking the grant is still listed (the
 * target clears it on mlos_mr_dereg) and the bounds the target gave.
 *
 * Neither side trusts the other with what it maps. Every memfd is sealed
 * against shrinking and growing before it is sent, and a receiver maps one
 * only if it is a regular file, sealed against shrinking and at least as
 * large as claimed: otherwise the peer could truncate it under the mapping
 * and kill us with SIGBUS. A region without remote write access is sent as
 * a read-only descriptor of memory sealed against new writers
 * (mlos_mr_alloc), so the peer can neither write nor resize it, even
 * through a reopened /proc/self/fd. Doorbells are accepted only if they
 * are eventfds, and made non-blocking. (An eventfd's flags belong to the
 * open file both sides share: a peer that clears O_NONBLOCK again and fills
 * the counter can still make one of our doorbell writes wait.) Rings
 * follow ring.h: private indices, and payloads copied before delivery.
 * A mapping request carries the key's secret; the target counts requests
 * naming no live region and, past MLOS_EP_MAX_BAD_KEYS of them, answers, sends
 * BYE with status MLOS_EKEY and fails the endpoint with MLOS_EKEY (the
 * initiator, reading that BYE, fails its own with MLOS_EKEY too).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mlos_endian.h"
#include "msg_transport.h"
#include "ring.h"

#define SHM_MAGIC 0x4D4C534Du /* "MLSM" */
#define SHM_VERSION 2u /* 2: key secret in mapping requests */
#define RING_SIZE (4u << 20)  /* > 2 * MLOS_EP_MAX_MSG: the largest message always fits */
#define GRANTS 256
#define MAX_MAPS 64

enum { CTL_MAP_REQ = 1, CTL_MAP_REP = 2, CTL_BYE = 3 };

/* Control record on the socket (host byte order: both ends share a host). */
struct ctl_rec {
    uint32_t magic;
    uint32_t op;
    uint32_t rkey;
    uint32_t access; /* REQ: needed; REP: granted */
    int32_t status;  /* REP: 0 or why not; BYE: 0 or why the sender closes */
    uint32_t pad;
    uint64_t len;
    uint64_t secret; /* REQ: the key's secret */
};

struct grant_table {
    uint32_t rkey[GRANTS]; /* 0 = free */
};

/* Layout of the shared memfd. */
struct shm_layout {
    uint32_t magic, version, ring_size, pad;
    _Alignas(64) struct grant_table grants[2]; /* [0]: granted by the connector, [1]: by the acceptor */
};
#define RINGS_OFF ((sizeof(struct shm_layout) + 4095) & ~(size_t)4095)
#define RING_BYTES (sizeof(struct mlos_ring_ctl) + RING_SIZE)
#define SHM_SIZE (RINGS_OFF + 2 * RING_BYTES)

struct mapping {
    uint32_t rkey;
    uint32_t access;
    uint64_t secret; /* the key it was granted for */
    uint8_t *addr;
    uint64_t len;
};

struct shm_ep {
    mlos_ep_t *ep;
    struct shm_ep *next_live; /* list of live endpoints, for revoke */
    int side;                 /* 0 connector, 1 acceptor */
    int sock, efd_in, efd_out, memfd;
    struct shm_layout *mem;
    struct mlos_ring in, out;
    uint8_t *in_shadow;           /* private copy of each incoming payload (ring.h) */
    uv_poll_t sock_poll, bell_poll;
    uv_idle_t spin;
    uv_timer_t timer;
    int handles_open;
    int ready;         /* rings attached and handshake done */
    uint64_t spin_until;
    mlos_wr_t *sendq, *sendq_end; /* sends waiting for ring room or handshake */
    mlos_wr_t *mapq, *mapq_end;   /* one-sided requests waiting for a mapping */
    uint32_t map_pending;         /* rkey asked for, 0 if none */
    uint64_t map_pending_secret;
    unsigned bad_keys;            /* mapping requests naming no region */
    struct mapping maps[MAX_MAPS];
    int nmaps;
    int failed;
};

struct shm_listener {
    int fd;
    uv_poll_t poll;
    char path[108];
};

static struct shm_ep *live;
static uint64_t spin_ns = UINT64_MAX;

static uint64_t spin_budget(void)
{
    if (spin_ns == UINT64_MAX) {
        const char *e = getenv("MLOS_SHM_SPIN_US");
        spin_ns = (e ? strtoull(e, NULL, 10) : 50) * 1000;
    }
    return spin_ns;
}

/* ---- descriptors from the peer ---- */

/* A memfd the peer wants us to map for len bytes. Seals first: once the
 * shrink seal is seen, the size checked next can no longer drop. */
static int check_memfd(int fd, uint64_t len)
{
    struct stat st;
    int seals = fd < 0 ? -1 : fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return MLOS_EPROTO; /* unsealed: could shrink under our mapping */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !len || (uint64_t)st.st_size < len)
        return MLOS_EPROTO;
    return 0;
}

/* A doorbell from the peer: only an eventfd (a pipe or socket could fill
 * and block our loop, a file would grow), non-blocking from now on. */
static int check_eventfd(int fd)
{
    char path[40], target[64];
    struct stat st;
    ssize_t n;
    int fl;
    if (fd < 0 || fstat(fd, &st) < 0)
        return MLOS_EPROTO;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return MLOS_EPROTO;
    target[n] = 0;
    if (strcmp(target, "anon_inode:[eventfd]") || (fl = fcntl(fd, F_GETFL)) < 0 || (fl & O_ACCMODE) != O_RDWR)
        return MLOS_EPROTO;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return MLOS_EIO;
    return 0;
}

/* ---- descriptor passing ---- */

static int send_rec(int sock, const struct ctl_rec *r, const int *fds, int nfds)
{
    struct iovec iov = {(void *)r, sizeof(*r)};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
    return n == (ssize_t)sizeof(*r) ? 0 : MLOS_ECONNRESET;
}

/* Returns 1 with a record, 0 if none yet, <0 on EOF/error/garbage. */
static int recv_rec(int sock, struct ctl_rec *r, int *fds, int *nfds)
{
    struct iovec iov = {r, sizeof(*r)};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    *nfds = 0;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : MLOS_ECONNRESET;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (*nfds < 3)
                    fds[(*nfds)++] = fd;
                else
                    close(fd);
            }
        }
    }
    if (n == 0)
        return MLOS_ECONNRESET;
    if (n != (ssize_t)sizeof(*r) || r->magic != SHM_MAGIC || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return MLOS_EPROTO;
    }
    return 1;
}

/* ---- doorbells and the spin window ---- */

static void bell(struct shm_ep *s)
{
    uint64_t one = 1;
    (void)!write(s->efd_out, &one, sizeof(one));
}

static void drain(struct shm_ep *s);
static void flush_sends(struct shm_ep *s);

static void spin_cb(uv_idle_t *h)
{
    struct shm_ep *s = h->data;
    drain(s);
    if (!s->ready || s->failed)
        return;
    if (uv_hrtime() < s->spin_until)
        return;
    /* Budget spent: sleep on the eventfd unless something just arrived. */
    if (mlos_ring_prepare_wait(&s->in)) {
        mlos_ring_done_wait(&s->in);
        return;
    }
    uv_idle_stop(&s->spin);
}

static void keep_spinning(struct shm_ep *s)
{
    s->spin_until = uv_hrtime() + spin_budget();
    if (spin_budget() && !uv_is_active((uv_handle_t *)&s->spin)) {
        mlos_ring_done_wait(&s->in); /* awake: producers need not ring */
        uv_idle_start(&s->spin, spin_cb);
    } else if (!spin_budget()) {
        mlos_ring_prepare_wait(&s->in);
    }
}

/* ---- failure and teardown ---- */

static void fail_queue(mlos_wr_t **q, mlos_wr_t **end, int status)
{
    mlos_wr_t *w = *q;
    *q = *end = NULL;
    while (w) {
        mlos_wr_t *next = w->next;
        mlos__wr_complete(w, status);
        w = next;
    }
}

static void fail(struct shm_ep *s, int status)
{
    if (s->failed)
        return;
    s->failed = 1;
    uv_idle_stop(&s->spin);
    if (uv_is_active((uv_handle_t *)&s->bell_poll))
        uv_poll_stop(&s->bell_poll);
    if (uv_is_active((uv_handle_t *)&s->sock_poll))
        uv_poll_stop(&s->sock_poll);
    fail_queue(&s->sendq, &s->sendq_end, MLOS_ECONNRESET);
    fail_queue(&s->mapq, &s->mapq_end, MLOS_ECONNRESET);
    mlos__ep_failed(s->ep, status);
}

static void unlink_live(struct shm_ep *s)
{
    for (struct shm_ep **pp = &live; *pp; pp = &(*pp)->next_live)
        if (*pp == s) {
            *pp = s->next_live;
            return;
        }
}

static void handle_closed(uv_handle_t *h)
{
    struct shm_ep *s = h->data;
    if (--s->handles_open > 0)
        return;
    mlos_ep_t *ep = s->ep;
    for (int i = 0; i < s->nmaps; i++)
        munmap(s->maps[i].addr, s->maps[i].len);
    if (s->mem)
        munmap(s->mem, SHM_SIZE);
    free(s->in_shadow);
    int fds[] = {s->sock, s->efd_in, s->efd_out, s->memfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(s);
    ep->impl = NULL;
    mlos__ep_closed(ep);
}

static void shm_close(mlos_ep_t *ep)
{
    struct shm_ep *s = ep->impl;
    struct ctl_rec bye = {.magic = SHM_MAGIC, .op = CTL_BYE};
    if (!s) {
        mlos__ep_closed(ep);
        return;
    }
    if (s->sock >= 0 && !s->failed)
        send_rec(s->sock, &bye, NULL, 0);
    s->failed = 1;
    fail_queue(&s->sendq, &s->sendq_end, MLOS_ECONNRESET);
    fail_queue(&s->mapq, &s->mapq_end, MLOS_ECONNRESET);
    unlink_live(s);
    s->handles_open = 1; /* guard */
    uv_handle_t *hs[] = {(uv_handle_t *)&s->sock_poll, (uv_handle_t *)&s->bell_poll, (uv_handle_t *)&s->spin,
                         (uv_handle_t *)&s->timer};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (hs[i]->loop && !uv_is_closing(hs[i])) {
            s->handles_open++;
            uv_close(hs[i], handle_closed);
        }
    }
    if (--s->handles_open == 0)
        handle_closed((uv_handle_t *)&s->spin);
}

/* ---- rings ---- */

static int attach_rings(struct shm_ep *s)
{
    uint8_t *base = (uint8_t *)s->mem + RINGS_OFF;
    uint8_t *c2a = base, *a2c = base + RING_BYTES;
    if (s->mem->magic != SHM_MAGIC || s->mem->version != SHM_VERSION || s->mem->ring_size != RING_SIZE)
        return MLOS_EPROTO;
    if (mlos_ring_attach(&s->out, s->side == 0 ? c2a : a2c, RING_BYTES) < 0 ||
        mlos_ring_attach(&s->in, s->side == 0 ? a2c : c2a, RING_BYTES) < 0)
        return MLOS_EPROTO;
    if (!(s->in_shadow = malloc(s->in.max_payload)))
        return MLOS_ENOMEM;
    mlos_ring_set_shadow(&s->in, s->in_shadow);
    return 0;
}

static void drain(struct shm_ep *s)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    int rc, got = 0;

    if (!s->ready || s->failed)
        return;
    while ((rc = mlos_ring_peek(&s->in, &h, &p)) > 0) {
        got = 1;
        if (h.type == MLOS_FRAME_MSG)
            mlos__ep_deliver(s->ep, h.request_id, p, h.length);
        if (s->failed || !s->ep->impl)
            return;
        mlos_ring_release(&s->in, &h);
    }
    if (rc < 0) {
        fail(s, MLOS_EPROTO);
        return;
    }
    if (got) {
        if (mlos_ring_producer_waiting(&s->in))
            bell(s);
        keep_spinning(s);
    }
    if (s->sendq)
        flush_sends(s);
}

static void bell_cb(uv_poll_t *h, int status, int events)
{
    struct shm_ep *s = h->data;
    uint64_t v;
    (void)!read(s->efd_in, &v, sizeof(v));
    mlos_ring_done_wait(&s->in);
    drain(s);
    if (!s->failed)
        keep_spinning(s);
}

static int push_send(struct shm_ep *s, mlos_wr_t *wr)
{
    int rc = mlos_ring_push(&s->out, MLOS_FRAME_MSG, wr->type, wr->buf, (uint32_t)wr->len);
    if (rc == 0) {
        if (mlos_ring_consumer_waiting(&s->out))
            bell(s);
        mlos__wr_complete(wr, 0);
    }
    return rc;
}

static void flush_sends(struct shm_ep *s)
{
    while (s->sendq && s->ready && !s->failed) {
        mlos_wr_t *wr = s->sendq, *next = wr->next; /* completing wr reuses wr->next */
        int rc = push_send(s, wr);
        if (rc == MLOS_EAGAIN) {
            if (mlos_ring_producer_prepare_wait(&s->out, (uint32_t)wr->len))
                continue;
            keep_spinning(s); /* the doorbell we wait for may come while spinning */
            return;
        }
        mlos_ring_producer_done_wait(&s->out);
        if (rc == MLOS_EPROTO) {
            fail(s, rc); /* the peer scribbled on its tail: this ring is done */
            return;
        }
        s->sendq = next;
        if (!s->sendq)
            s->sendq_end = NULL;
        if (rc < 0)
            mlos__wr_complete(wr, rc);
    }
}

static void enqueue(mlos_wr_t **q, mlos_wr_t **end, mlos_wr_t *wr)
{
    wr->next = NULL;
    if (*end)
        (*end)->next = wr;
    else
        *q = wr;
    *end = wr;
}

/* ---- one-sided ---- */

static struct mapping *find_map(struct shm_ep *s, uint32_t rkey, uint64_t secret)
{
    for (int i = 0; i < s->nmaps; i++)
        if (s->maps[i].rkey == rkey && s->maps[i].secret == secret)
            return &s->maps[i];
    return NULL;
}

static int granted(struct shm_ep *s, uint32_t rkey)
{
    const struct grant_table *g = &s->mem->grants[1 - s->side];
    for (int i = 0; i < GRANTS; i++)
        if (__atomic_load_n(&g->rkey[i], __ATOMIC_ACQUIRE) == rkey)
            return 1;
    return 0;
}

/* Do a put/get whose mapping is known. */
static int do_rdma(struct shm_ep *s, mlos_wr_t *wr, struct mapping *m)
{
    unsigned need = wr->op == MLOS_WR_PUT ? MLOS_ACCESS_REMOTE_WRITE : MLOS_ACCESS_REMOTE_READ;
    uint8_t *local = (uint8_t *)wr->local->addr + wr->local_off;
    if (!granted(s, wr->remote.rkey))
        return MLOS_EKEY;
    if ((m->access & need) != need)
        return MLOS_EACCES;
    if (wr->remote_off > m->len || wr->len > m->len - wr->remote_off)
        return MLOS_ERANGE;
    if (wr->op == MLOS_WR_PUT) {
        memcpy(m->addr + wr->remote_off, local, wr->len);
        __atomic_thread_fence(__ATOMIC_RELEASE);
    } else {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(local, m->addr + wr->remote_off, wr->len);
    }
    return 0;
}

static void request_map(struct shm_ep *s, uint32_t rkey, uint64_t secret, unsigned need)
{
    struct ctl_rec r = {.magic = SHM_MAGIC, .op = CTL_MAP_REQ, .rkey = rkey, .access = need, .secret = secret};
    s->map_pending = rkey;
    s->map_pending_secret = secret;
    if (send_rec(s->sock, &r, NULL, 0) < 0)
        fail(s, MLOS_ECONNRESET);
}

/* Run queued one-sided requests until one needs a mapping we lack. */
static void run_mapq(struct shm_ep *s)
{
    while (s->mapq && !s->map_pending && !s->failed) {
        mlos_wr_t *wr = s->mapq;
        struct mapping *m = find_map(s, wr->remote.rkey, wr->remote.secret);
        unsigned need = wr->op == MLOS_WR_PUT ? MLOS_ACCESS_REMOTE_WRITE : MLOS_ACCESS_REMOTE_READ;
        if (!m || (m->access & need) != need) {
            request_map(s, wr->remote.rkey, wr->remote.secret, need);
            return;
        }
        s->mapq = wr->next;
        if (!s->mapq)
            s->mapq_end = NULL;
        wr->next = NULL;
        mlos__wr_complete(wr, do_rdma(s, wr, m));
    }
}

/* Target side: serve a mapping request. */
static void serve_map(struct shm_ep *s, const struct ctl_rec *req)
{
    struct ctl_rec rep = {.magic = SHM_MAGIC, .op = CTL_MAP_REP, .rkey = req->rkey};
    mlos_mr_t *mr = NULL;
    int rc = mlos_mr_check(s->ep->dom, req->rkey, req->secret, 0, 0, req->access, &mr);
    if (rc == 0 && mr->memfd < 0)
        rc = MLOS_EACCES; /* not shareable: register it with mlos_mr_alloc */
    if (rc == 0) {
        struct grant_table *g = &s->mem->grants[s->side];
        int slot = -1;
        for (int i = 0; i < GRANTS; i++) {
            uint32_t k = g->rkey[i];
            if (k == req->rkey) {
                slot = i;
                break;
            }
            if (!k && slot < 0)
                slot = i;
        }
        if (slot < 0)
            rc = MLOS_ENOMEM;
        else
            __atomic_store_n(&g->rkey[slot], req->rkey, __ATOMIC_RELEASE);
    }
    int fd = rc == 0 ? mr->memfd : -1, ro = -1;
    if (rc == 0 && !(mr->access & MLOS_ACCESS_REMOTE_WRITE)) {
        /* Read-only grant: a descriptor that cannot write or truncate. */
        char path[40];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", mr->memfd);
        if ((fd = ro = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rc = MLOS_EIO;
    }
    rep.status = rc;
    if (rc == 0) {
        rep.len = mr->len;
        rep.access = mr->access;
    }
    int sent = send_rec(s->sock, &rep, rc == 0 ? &fd : NULL, rc == 0);
    if (ro >= 0)
        close(ro);
    if (sent < 0) {
        fail(s, MLOS_ECONNRESET);
        return;
    }
    if (rc == MLOS_EKEY && ++s->bad_keys > MLOS_EP_MAX_BAD_KEYS) {
        /* a peer guessing keys, or one too broken to keep */
        struct ctl_rec bye = {.magic = SHM_MAGIC, .op = CTL_BYE, .status = MLOS_EKEY};
        static struct mlos_log_limit lim;
        if (mlos__log_allowed(&lim))
            fprintf(stderr, "mlos shm: closing the connection to a peer: it presented %u region keys that match "
                            "no region (guessing?)\n", s->bad_keys);
        (void)send_rec(s->sock, &bye, NULL, 0);
        fail(s, MLOS_EKEY);
    }
}

/* Initiator side: a mapping arrived (or was refused). */
static void got_map(struct shm_ep *s, const struct ctl_rec *rep, int fd)
{
    uint32_t rkey = rep->rkey;
    struct ctl_rec refused = {.rkey = rkey}; /* rep, replaced when we cannot map */
    uint64_t secret = s->map_pending_secret;
    s->map_pending = 0;
    if (rep->status > 0) {
        refused.status = MLOS_EPROTO; /* not a status we know */
        rep = &refused;
    }
    if (rep->status == 0 && (fd < 0 || check_memfd(fd, rep->len) < 0)) {
        refused.status = MLOS_EPROTO; /* the target sent memory it could pull from under us */
        rep = &refused;
    }
    if (rep->status == 0 && fd >= 0) {
        int prot = PROT_READ | (rep->access & MLOS_ACCESS_REMOTE_WRITE ? PROT_WRITE : 0);
        void *p = mmap(NULL, rep->len, prot, MAP_SHARED, fd, 0);
        struct mapping *m = find_map(s, rkey, secret);
        if (p == MAP_FAILED) {
            refused.status = MLOS_ENOMEM;
            rep = &refused;
        } else {
            if (m) {
                munmap(m->addr, m->len);
            } else if (s->nmaps < MAX_MAPS) {
                m = &s->maps[s->nmaps++];
            } else { /* evict the oldest */
                munmap(s->maps[0].addr, s->maps[0].len);
                memmove(s->maps, s->maps + 1, sizeof(s->maps[0]) * (MAX_MAPS - 1));
                m = &s->maps[MAX_MAPS - 1];
            }
            *m = (struct mapping){rkey, rep->access, secret, p, rep->len};
        }
    }
    if (fd >= 0)
        close(fd);
    if (rep->status < 0) {
        /* Fail every queued request for this key with the target's reason. */
        mlos_wr_t *keep = NULL, *keep_end = NULL;
        while (s->mapq) {
            mlos_wr_t *wr = s->mapq;
            s->mapq = wr->next;
            wr->next = NULL;
            if (wr->remote.rkey == rkey && wr->remote.secret == secret)
                mlos__wr_complete(wr, rep->status);
            else
                enqueue(&keep, &keep_end, wr);
        }
        s->mapq = keep;
        s->mapq_end = keep_end;
    }
    run_mapq(s);
}

static void sock_cb(uv_poll_t *h, int status, int events);

/* ---- endpoints ---- */

static struct shm_ep *new_ep(mlos_ep_t *ep, int side)
{
    struct shm_ep *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ep = ep;
    s->side = side;
    s->sock = s->efd_in = s->efd_out = s->memfd = -1;
    ep->impl = s;
    uv_idle_init(ep->dom->loop, &s->spin);
    uv_timer_init(ep->dom->loop, &s->timer);
    s->spin.data = s->timer.data = s->sock_poll.data = s->bell_poll.data = s;
    s->next_live = live;
    live = s;
    return s;
}

static int start_polls(struct shm_ep *s)
{
    if (uv_poll_init(s->ep->dom->loop, &s->sock_poll, s->sock) < 0 ||
        uv_poll_init(s->ep->dom->loop, &s->bell_poll, s->efd_in) < 0)
        return MLOS_EIO;
    s->sock_poll.data = s->bell_poll.data = s;
    uv_poll_start(&s->sock_poll, UV_READABLE, sock_cb);
    uv_poll_start(&s->bell_poll, UV_READABLE, bell_cb);
    return 0;
}

static void became_ready(struct shm_ep *s)
{
    s->ready = 1;
    uv_timer_stop(&s->timer);
    mlos_ring_prepare_wait(&s->in);
    if (s->ep->state == MLOS_EP_CONNECTING)
        mlos__ep_connected(s->ep, 0);
    drain(s);
    flush_sends(s);
}

/* Acceptor: the connector's setup record with the three descriptors. */
static void take_setup(struct shm_ep *s, const struct ctl_rec *r, int *fds, int nfds)
{
    struct ctl_rec ack = {.magic = SHM_MAGIC, .op = 0, .status = 0};
    if (nfds != 3 || r->op != 0 || r->len != SHM_SIZE) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        fail(s, MLOS_EPROTO);
        return;
    }
    s->memfd = fds[0];
    s->efd_out = fds[1]; /* connector's "to acceptor" is our input: see connect */
    s->efd_in = fds[2];
    int rc = check_memfd(s->memfd, SHM_SIZE);
    if (rc == 0)
        rc = check_eventfd(s->efd_out);
    if (rc == 0)
        rc = check_eventfd(s->efd_in);
    if (rc < 0) {
        fail(s, rc);
        return;
    }
    s->mem = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
    if (s->mem == MAP_FAILED) {
        s->mem = NULL;
        fail(s, MLOS_ENOMEM);
        return;
    }
    if (attach_rings(s) < 0) {
        fail(s, MLOS_EPROTO);
        return;
    }
    uv_poll_init(s->ep->dom->loop, &s->bell_poll, s->efd_in);
    s->bell_poll.data = s;
    uv_poll_start(&s->bell_poll, UV_READABLE, bell_cb);
    if (send_rec(s->sock, &ack, NULL, 0) < 0) {
        fail(s, MLOS_ECONNRESET);
        return;
    }
    became_ready(s);
}

static struct mlos_log_limit bye_log;

static void sock_cb(uv_poll_t *h, int status, int events)
{
    struct shm_ep *s = h->data;
    struct ctl_rec r;
    int fds[3], nfds, rc = 0;

    while (!s->failed && (rc = recv_rec(s->sock, &r, fds, &nfds)) > 0) {
        if (!s->ready) {
            if (s->side == 1)
                take_setup(s, &r, fds, nfds);
            else if (r.op == 0 && r.status == 0)
                became_ready(s);
            else
                fail(s, MLOS_EPROTO);
            continue;
        }
        switch (r.op) {
        case CTL_MAP_REQ:
            serve_map(s, &r);
            break;
        case CTL_MAP_REP:
            if (r.rkey != s->map_pending) {
                fail(s, MLOS_EPROTO);
                break;
            }
            got_map(s, &r, nfds ? fds[0] : -1);
            nfds = 0;
            break;
        case CTL_BYE:
            if (r.status == MLOS_EKEY && mlos__log_allowed(&bye_log))
                fprintf(stderr, "mlos shm: the peer closed the connection: this side presented too many region "
                                "keys that match no region there\n");
            fail(s, r.status == MLOS_EKEY ? MLOS_EKEY : MLOS_ECONNRESET);
            break;
        default:
            fail(s, MLOS_EPROTO);
        }
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
    }
    if (rc < 0 && !s->failed)
        fail(s, rc == MLOS_EPROTO ? MLOS_EPROTO : MLOS_ECONNRESET);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!path[0] || strlen(path) >= sizeof(sa->sun_path))
        return MLOS_EINVAL;
    strcpy(sa->sun_path, path);
    return 0;
}

static void timeout_cb(uv_timer_t *t)
{
    struct shm_ep *s = t->data;
    if (!s->ready)
        fail(s, s->ep->state == MLOS_EP_CONNECTING && s->sock < 0 ? MLOS_ECONNREFUSED : MLOS_ETIMEDOUT);
}

static int shm_connect(mlos_ep_t *ep, const char *where, unsigned timeout_ms)
{
    struct sockaddr_un sa;
    struct shm_ep *s;
    int efd_to_acceptor, efd_to_connector, rc;

    if (unix_addr(where, &sa) < 0)
        return MLOS_EINVAL;
    if (!(s = new_ep(ep, 0)))
        return MLOS_ENOMEM;
    s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->sock < 0 || connect(s->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        /* Report through the callback, from the loop. */
        if (s->sock >= 0)
            close(s->sock);
        s->sock = -1;
        uv_timer_start(&s->timer, timeout_cb, 0, 0);
        return 0;
    }
    s->memfd = memfd_create("mlos-shm-ep", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    efd_to_acceptor = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    efd_to_connector = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->efd_out = efd_to_acceptor;
    s->efd_in = efd_to_connector;
    /* Sealed before it is shared: the acceptor refuses it otherwise. */
    rc = s->memfd < 0 || efd_to_acceptor < 0 || efd_to_connector < 0 || ftruncate(s->memfd, SHM_SIZE) < 0 ||
                 fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0
             ? MLOS_EIO
             : 0;
    if (rc == 0) {
        s->mem = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
        if (s->mem == MAP_FAILED) {
            s->mem = NULL;
            rc = MLOS_ENOMEM;
        }
    }
    if (rc == 0) {
        uint8_t *base = (uint8_t *)s->mem + RINGS_OFF;
        s->mem->magic = SHM_MAGIC;
        s->mem->version = SHM_VERSION;
        s->mem->ring_size = RING_SIZE;
        mlos_ring_format(base, RING_SIZE);
        mlos_ring_format(base + RING_BYTES, RING_SIZE);
        rc = attach_rings(s);
    }
    if (rc == 0) {
        struct ctl_rec setup = {.magic = SHM_MAGIC, .op = 0, .len = SHM_SIZE};
        int fds[3] = {s->memfd, efd_to_connector, efd_to_acceptor};
        /* The acceptor's output is our input and vice versa. */
        rc = send_rec(s->sock, &setup, fds, 3);
    }
    if (rc == 0)
        rc = start_polls(s);
    if (rc < 0) {
        ep->state = MLOS_EP_CLOSING;
        shm_close(ep);
        return rc;
    }
    uv_timer_start(&s->timer, timeout_cb, timeout_ms, 0);
    return 0;
}

static int shm_post(mlos_ep_t *ep, mlos_wr_t *wr)
{
    struct shm_ep *s = ep->impl;
    if (!s || s->failed)
        return MLOS_ECONNRESET;
    if (wr->op == MLOS_WR_SEND) {
        if (wr->len > s->out.max_payload && s->ready)
            return MLOS_ETOOBIG;
        if (!s->sendq && s->ready && push_send(s, wr) == 0) {
            keep_spinning(s); /* an answer is likely to follow */
            return 0;
        }
        enqueue(&s->sendq, &s->sendq_end, wr);
        flush_sends(s);
        return 0;
    }
    enqueue(&s->mapq, &s->mapq_end, wr);
    run_mapq(s);
    return 0;
}

/* ---- listener ---- */

static void listen_cb(uv_poll_t *h, int status, int events)
{
    mlos_listener_t *l = h->data;
    mlos__listener_incoming(l, status < 0 ? MLOS_EIO : 0);
}

static int shm_listen(mlos_listener_t *l, const char *where)
{
    struct sockaddr_un sa;
    struct shm_listener *sl;
    if (unix_addr(where, &sa) < 0)
        return MLOS_EINVAL;
    if (!(sl = calloc(1, sizeof(*sl))))
        return MLOS_ENOMEM;
    snprintf(sl->path, sizeof(sl->path), "%s", where);
    sl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sl->fd >= 0 && bind(sl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE) {
        /* A socket file left by a dead listener: reuse the name if nobody answers. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
            unlink(where);
        if (probe >= 0)
            close(probe);
        if (bind(sl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            close(sl->fd);
            sl->fd = -1;
        }
    }
    if (sl->fd < 0 || listen(sl->fd, 64) < 0) {
        if (sl->fd >= 0)
            close(sl->fd);
        free(sl);
        return MLOS_EIO;
    }
    uv_poll_init(l->dom->loop, &sl->poll, sl->fd);
    sl->poll.data = l;
    uv_poll_start(&sl->poll, UV_READABLE, listen_cb);
    l->impl = sl;
    return 0;
}

static int shm_accept(mlos_listener_t *l, mlos_ep_t *ep)
{
    struct shm_listener *sl = l->impl;
    struct shm_ep *s;
    int fd = accept4(sl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return errno == EAGAIN ? MLOS_EAGAIN : MLOS_EIO;
    if (!(s = new_ep(ep, 1))) {
        close(fd);
        return MLOS_ENOMEM;
    }
    s->sock = fd;
    if (uv_poll_init(ep->dom->loop, &s->sock_poll, s->sock) < 0)
        return MLOS_EIO;
    s->sock_poll.data = s;
    uv_poll_start(&s->sock_poll, UV_READABLE, sock_cb); /* setup record may already be there */
    uv_timer_start(&s->timer, timeout_cb, 5000, 0);
    return 0;
}

static int shm_listener_addr(const mlos_listener_t *l, char *out, size_t cap)
{
    const struct shm_listener *sl = l->impl;
    return (size_t)snprintf(out, cap, "shm:%s", sl->path) < cap ? 0 : MLOS_ETOOBIG;
}

static void listener_closed(uv_handle_t *h) { free(h->data); }

static void shm_listener_close(mlos_listener_t *l)
{
    struct shm_listener *sl = l->impl;
    if (!sl)
        return;
    l->impl = NULL;
    unlink(sl->path);
    close(sl->fd);
    sl->poll.data = sl;
    uv_close((uv_handle_t *)&sl->poll, listener_closed);
}

/* A deregistered region: clear its grants so no peer can use it any more. */
static void shm_revoke(mlos_domain_t *dom, uint32_t rkey)
{
    for (struct shm_ep *s = live; s; s = s->next_live) {
        if (s->ep->dom != dom || !s->mem)
            continue;
        struct grant_table *g = &s->mem->grants[s->side];
        for (int i = 0; i < GRANTS; i++)
            if (g->rkey[i] == rkey)
                __atomic_store_n(&g->rkey[i], 0, __ATOMIC_RELEASE);
    }
}

const struct mlos_transport mlos_transport_shm = {
    .name = "shm",
    .listen = shm_listen,
    .accept = shm_accept,
    .listener_addr = shm_listener_addr,
    .listener_close = shm_listener_close,
    .connect = shm_connect,
    .close = shm_close,
    .post = shm_post,
    .revoke = shm_revoke,
};
