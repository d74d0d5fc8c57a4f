/* The agent's group memories: for each group memory of the master that
 * shards on this node were spawned with, a node-local sealed memfd of the
 * same size, mapped into those shards as a master maps its own; and the
 * slices the master formats and marks in it (rpc/wire/group_node.h). The
 * wake-ups and down marks of the members are served by the mirror in the
 * library (master/group_mirror.c), which this file feeds. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "group.h"
#include "master_internal.h"
#include "group_node.h"
#include "group_nodes.h"
#include "group_wire.h"
#include "mlos_group.h"
#include "node_group.h"
#include "node_proto.h"

#define MAX_MEMS 8 /* group memories of one master at a time: bounds what SPAWNs can make us map */

struct node_gm {
    uint64_t key;      /* the master's name for the memory */
    mlos_group_mem_t gm;
    uint8_t *map;      /* this agent's mapping, for formatting and marks */
    size_t size;
    unsigned refs;     /* shards spawned with it + slices mirrored in it */
    struct node_gm *next;
};

static struct node_gm *mems;
static unsigned nmems;
static uv_loop_t *loop;
static node_group_send send_fn;

void node_group_init(uv_loop_t *l, node_group_send send)
{
    loop = l;
    send_fn = send;
}

/* Relayed frames and credits go to the master (star routing). */
static int to_master(uint32_t type, const uint8_t *p, size_t len)
{
    return send_fn(type, 0, 0, 0, p, len, NULL, 0);
}

static unsigned long long kv_u64(const uint8_t *p, size_t len, const char *key, int *found)
{
    char v[32], *end;
    *found = 0;
    if (mlos_node_kv(p, len, key, v, sizeof(v)) < 0)
        return 0;
    unsigned long long x = strtoull(v, &end, 10);
    *found = !*end && end != v;
    return x;
}

int node_group_spawn(const uint8_t *kv, size_t len, struct mlos_spawn_opts *o, struct node_gm **ref, char *why,
                     size_t cap)
{
    int has_bytes, has_key, rc;
    unsigned long long bytes = kv_u64(kv, len, "group_mem", &has_bytes), key = kv_u64(kv, len, "group_key", &has_key);
    struct node_gm *m;
    *ref = NULL;
    if (!has_bytes && !has_key)
        return 0;
    if (!has_bytes || !has_key || bytes < (1u << 20) || bytes > (1u << 30) || (bytes & (bytes - 1))) {
        snprintf(why, cap, "bad group memory in SPAWN (%llu bytes)", bytes);
        return MLOS_EINVAL;
    }
    for (m = mems; m; m = m->next)
        if (m->key == key)
            break;
    if (m && m->size != bytes) {
        snprintf(why, cap, "group memory %llx is %zu bytes here, SPAWN says %llu", key, m->size, bytes);
        return MLOS_EINVAL;
    }
    if (!m) {
        if (nmems >= MAX_MEMS) {
            snprintf(why, cap, "this node holds %u group memories already", MAX_MEMS);
            return MLOS_ENOMEM;
        }
        if (!(m = calloc(1, sizeof(*m))))
            return MLOS_ENOMEM;
        if ((rc = mlos_group_mem_init(&m->gm, (size_t)bytes)) < 0) {
            snprintf(why, cap, "cannot create a group memory of %llu bytes: %s", bytes, mlos_strerror(rc));
            free(m);
            return rc;
        }
        m->size = m->gm.size;
        m->map = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, mlos__group_mem_fd(&m->gm), 0);
        if (m->map == MAP_FAILED) {
            mlos_group_mem_close(&m->gm);
            free(m);
            snprintf(why, cap, "cannot map the group memory");
            return MLOS_ENOMEM;
        }
        m->key = key;
        m->next = mems;
        mems = m;
        nmems++;
    }
    m->refs++;
    o->group_mem = &m->gm;
    *ref = m;
    return 0;
}

void node_group_unref(struct node_gm *m)
{
    if (!m || --m->refs)
        return;
    for (struct node_gm **pp = &mems; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    nmems--;
    munmap(m->map, m->size);
    mlos_group_mem_close(&m->gm); /* shards keep their own mappings until they exit */
    free(m);
}

static void slice_released(void *owner) { node_group_unref(owner); }

int node_group_fenced(const mlos_shard_t *sh, uint32_t id, const char *node, char *out, size_t cap)
{
    const struct mlos_shard_impl *im = sh->impl;
    const char *w = im && im->death_err == MLOS_EPROTO ? strstr(im->death_msg, "broke the group protocol") : NULL;
    if (!w)
        return 0;
    snprintf(out, cap, "shard %u on node %s %s", id, node, w); /* the master's id, not ours */
    return 1;
}

static void on_format(const uint8_t *p, size_t len, node_group_lookup lookup, const char *node_name)
{
    struct mlos_group_format_msg f;
    struct node_gm *m;
    mlos_shard_t *local[MLOS_GROUP_MAX] = {0};
    unsigned here = 0;
    if (len < 8)
        goto bad;
    uint64_t key = mlos_get_le64(p);
    for (m = mems; m; m = m->next)
        if (m->key == key)
            break;
    if (!m) {
        fprintf(stderr, "mlos-node %s: GROUP_FORMAT for a group memory no shard here was spawned with\n", node_name);
        return;
    }
    if (mlos_group_format_decode(p, len, m->size, &f) < 0)
        goto bad;
    for (uint32_t r = 0; r < f.n; r++)
        if (f.shard[r] && (local[r] = lookup(f.shard[r], m)))
            here++;
    if (!here) /* its members here are gone already: nothing to mirror */
        return;
    if (mlos_group_format(m->map + f.offset, f.group_id, f.generation, f.n, f.ring_bytes) < 0)
        goto bad;
    m->refs++;
    struct mlos__mirror_slice sl = {.id = f.group_id, .gen = f.generation, .n = f.n, .ring_bytes = f.ring_bytes,
                                    .slice = m->map + f.offset, .slice_len = (size_t)f.slice_len};
    if (mlos__group_mirror_set(loop, &sl, local, to_master, slice_released, m) < 0) {
        m->refs--;
        fprintf(stderr, "mlos-node %s: out of memory for group %u\n", node_name, f.group_id);
    }
    return;
bad:
    fprintf(stderr, "mlos-node %s: malformed GROUP_FORMAT (%zu bytes) ignored\n", node_name, len);
}

int node_group_msg(uint32_t type, const uint8_t *p, size_t len, node_group_lookup lookup, const char *node_name)
{
    switch (type) {
    case MLOS_NODE_GROUP_FORMAT:
        on_format(p, len, lookup, node_name);
        return 1;
    case MLOS_NODE_GROUP_MARK:
        if (len == MLOS_GROUP_MARK_BYTES)
            mlos__group_mirror_mark(mlos_get_le32(p), mlos_get_le32(p + 4), mlos_get_le32(p + 8),
                                    mlos_get_le32(p + 12));
        else
            fprintf(stderr, "mlos-node %s: malformed GROUP_MARK ignored\n", node_name);
        return 1;
    case MLOS_NODE_GROUP_DATA:
    case MLOS_NODE_GROUP_CREDIT:
        if (mlos__group_mirror_recv(type, p, len) < 0)
            fprintf(stderr, "mlos-node %s: refused a relayed group %s (%zu bytes; %llu refused so far)\n", node_name,
                    type == MLOS_NODE_GROUP_DATA ? "frame" : "credit", len,
                    (unsigned long long)mlos__group_mirror_refused());
        return 1;
    case MLOS_NODE_GROUP_CLOSE:
        if (len == 4)
            mlos__group_mirror_drop(mlos_get_le32(p));
        return 1;
    }
    return 0;
}
