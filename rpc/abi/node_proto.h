/* rpc/abi/node_proto.h -- the wire protocol between a master and a node
 * agent (mlos-node), shared by master/cluster.c and shards/node/.
 *
 * Transport: one rpc/msg.h connection (tcp: or verbs:) per agent, opened by
 * the agent. First the mutual handshake of remote_auth.h (messages of type
 * MLOS_REMOTE_MSG_AUTH, the agent in the worker's role). Then every message
 * has a msg.h type from the list below and starts with struct
 * mlos_node_hdr (16 bytes, little endian), followed by the payload:
 *
 *   agent  -> master  NODE_HELLO  text "key=value" lines: name, cores,
 *                                 mem_bytes, kvm (1/0), kvm_why, pid,
 *                                 max_shards, version
 *   master -> agent   WELCOME     epoch = this connection's fencing token,
 *                                 aux = the master's ping interval (ms)
 *   master -> agent   SPAWN       shard = the master's shard id; text
 *                                 "key=value" lines: arch, mem, bulk, ring,
 *                                 kvm (1, 0, -1 auto), hello_timeout, spin_us,
 *                                 image (optional: a file name, no '/', that
 *                                 the agent finds on its MLOS_IMAGE_PATH)
 *   agent  -> master  SPAWNED     shard; le64 bulk_len, le32 pid, le32 k
 *                                 (0, or MLOS_NODE_WINKEY_SIZE on a verbs
 *                                 link: below), k bytes of window key, then
 *                                 the shard's mlos.Hello (arch, tasks,
 *                                 mem_bytes, boot_ns)
 *   agent  -> master  GONE        shard; aux = MLOS_E* as int32 (0: stopped
 *                                 as asked); text why. Also a failed spawn.
 *   master -> agent   CALL        shard, req = call id; mlos.TaskCall
 *   agent  -> master  REPLY       shard, req; mlos.TaskReply
 *   master -> agent   PUT         shard; le64 offset, then the bytes: into
 *                                 the slave's bulk window, in order with
 *                                 CALLs; over tcp the agent reads them off
 *                                 the socket straight into the window once
 *                                 the header is checked against it
 *   master -> agent   GET         shard, req = get id; le64 offset, le64
 *                                 length (1 .. MLOS_NODE_GET_MAX): read the
 *                                 slave's bulk window, in order with CALLs
 *                                 and PUTs (so after every reply the agent
 *                                 sent before it)
 *   agent  -> master  GET_DATA    shard, req = the GET's id; aux = 0 or an
 *                                 MLOS_E* as int32. aux 0: le64 offset of
 *                                 this piece in the request, then at most
 *                                 MLOS_NODE_GET_CHUNK bytes; pieces come in
 *                                 order and the request ends with its last
 *                                 byte. aux < 0 (no payload): the request
 *                                 failed (MLOS_ERANGE outside the window,
 *                                 MLOS_ESHARDDIED no such live slave,
 *                                 MLOS_EINVAL a bad length) and ends
 *   master -> agent   STOP        shard: orderly stop, answered by GONE(0)
 *   master -> agent   KILL        shard: the master fenced it; kill now, no
 *                                 answer
 *   master -> agent   PING        req = sequence; le64 master clock (ns)
 *   agent  -> master  PONG        req = the PING's sequence; le32 shards
 *                                 alive on the node
 *   master -> agent   PS          req; agent -> master PS_REPLY req, text:
 *                                 one line per shard "id arch state pid mem"
 *   master -> agent   BYE         stop every shard and exit
 *   master -> agent   HEARTBEAT   shard; aux = PING interval (ms, 0: off),
 *                                 req = timeout (ms): how the agent watches
 *                                 that slave (mlos_shard_heartbeat); a slave
 *                                 it fences is reported by GONE
 *   master -> agent   GROUP_FORMAT, GROUP_MARK, GROUP_CLOSE: slices of the
 *                                 group memory the agent keeps for shards it
 *                                 spawned with SPAWN's group_mem/group_key
 *                                 lines (rpc/wire/group_node.h)
 *
 * Fencing: epoch is drawn by the master per connection; every message
 * after WELCOME carries it both ways, and a message with another epoch is
 * dropped (counted). A master that declares a node lost closes that
 * connection and settles every shard on it: nothing the node sends later
 * can complete a call. An agent that hears nothing from its master for its
 * link timeout kills its slaves and exits, so a node cut off by a partition
 * does not keep running work nobody waits for; one that comes back is a new
 * connection with a new epoch and no shards.
 *
 * Every field from the peer is untrusted: sizes are checked against the
 * message length, text is parsed with bounds, shard ids are looked up.
 */
#ifndef MLOS_NODE_PROTO_H
#define MLOS_NODE_PROTO_H

#include <stdint.h>
#include <string.h>

#include "mlos_endian.h"

enum mlos_node_msg {
    MLOS_NODE_HELLO = 0x4e480001u,
    MLOS_NODE_WELCOME,
    MLOS_NODE_SPAWN,
    MLOS_NODE_SPAWNED,
    MLOS_NODE_GONE,
    MLOS_NODE_CALL,
    MLOS_NODE_REPLY,
    MLOS_NODE_PUT,
    MLOS_NODE_STOP,
    MLOS_NODE_KILL,
    MLOS_NODE_PING,
    MLOS_NODE_PONG,
    MLOS_NODE_PS,
    MLOS_NODE_PS_REPLY,
    MLOS_NODE_BYE,
    MLOS_NODE_HEARTBEAT,
    MLOS_NODE_GET,
    MLOS_NODE_GET_DATA,
};

#define MLOS_NODE_VERSION 4u /* 2: window keys in SPAWNED, RDMA messages; 3: group memory
                                * (rpc/wire/group_node.h); 4: GET over any link */
#define MLOS_NODE_HDR 16u
/* Puts travel in pieces of at most this many bytes (one message each). */
#define MLOS_NODE_PUT_CHUNK ((1u << 20) - 4096u)
/* A GET asks for at most this many bytes (a master splits bigger gets), and
 * its answer comes in pieces of at most MLOS_NODE_GET_CHUNK: what the agent
 * holds for one request stays bounded. */
#define MLOS_NODE_GET_MAX (8u << 20)
#define MLOS_NODE_GET_CHUNK MLOS_NODE_PUT_CHUNK
#define MLOS_NODE_GET_SIZE 16u

struct mlos_node_hdr {
    uint32_t epoch;
    uint32_t shard;
    uint32_t req;
    uint32_t aux;
};

static inline void mlos_node_hdr_put(uint8_t *p, const struct mlos_node_hdr *h)
{
    uint32_t v[4] = {mlos_to_le32(h->epoch), mlos_to_le32(h->shard), mlos_to_le32(h->req), mlos_to_le32(h->aux)};
    memcpy(p, v, sizeof(v));
}

/* 0, or -1 if the message is too short to hold a header. */
static inline int mlos_node_hdr_get(const uint8_t *p, size_t len, struct mlos_node_hdr *h)
{
    uint32_t v[4];
    if (len < MLOS_NODE_HDR)
        return -1;
    memcpy(v, p, sizeof(v));
    h->epoch = mlos_from_le32(v[0]);
    h->shard = mlos_from_le32(v[1]);
    h->req = mlos_from_le32(v[2]);
    h->aux = mlos_from_le32(v[3]);
    return 0;
}

/* Find "key=" in a text payload of len bytes (not NUL-terminated) and copy
 * its value (up to the newline) into out. 0 or -1 (missing, too long). */
static inline int mlos_node_kv(const uint8_t *text, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        if (e - i > kl && !memcmp(text + i, key, kl) && text[i + kl] == '=') {
            size_t vl = e - i - kl - 1;
            if (vl >= cap)
                return -1;
            memcpy(out, text + i + kl + 1, vl);
            out[vl] = 0;
            return 0;
        }
        i = e + 1;
    }
    return -1;
}

/* ---- RDMA into slave windows (verbs links) ----
 *
 * Over a verbs: link the agent registers each slave's bulk window (its own
 * mapping of the slave's memory file) as a memory region of its RDMA device
 * and sends the key in SPAWNED (MLOS_NODE_WINKEY_SIZE bytes, little endian):
 *   40 bytes   mlos_rkey_encode (rpc/msg/msg.h) of the region: address and
 *              length in the agent, the NIC's rkey, access (remote read and
 *              write); the mlos key fields are zero (the NIC checks)
 *   le32       epoch: the registration's number on this agent (1, 2, ...,
 *              never reused while it runs)
 *   le32       0
 * The master then writes puts with RDMA WRITE and reads with RDMA READ
 * straight between its memory and the slave's; nothing is copied by the
 * agent. After the WRITEs of each put, on the same connection (so after
 * the data, and before any later CALL):
 *   master -> agent   PUT_RDMA    shard; aux = window epoch; le64 offset,
 *                                 le64 length, le32 the NIC rkey used,
 *                                 le32 0
 *   agent  -> master  PUT_STALE   shard; aux = epoch: that window is released
 *                                 or its slave dead; the put reached no
 *                                 live slave. An answer to a stale key,
 *                                 not a key error
 *   agent  -> master  PUT_FORGED  shard; aux = epoch: this agent never gave
 *                                 out that epoch with that rkey for the
 *                                 shard; a refusal by its NIC stays counted
 *   master -> agent   WIN_RELEASE shard; aux = epoch: sent when the master
 *                                 hears GONE for the shard; it posts no more
 *                                 RDMA to that window. The agent keeps a dead
 *                                 slave's window registered (and mapped)
 *                                 until then, at most MLOS_NODE_WIN_RETIRE_MS,
 *                                 so a WRITE in flight when the slave died
 *                                 lands in its dead pages rather than in a
 *                                 region registered later in a reused NIC
 *                                 key slot; then it deregisters, and only
 *                                 then unmaps. STOP and KILL release the
 *                                 window at once (the master sends them after
 *                                 its last RDMA to the shard).
 * A WRITE with a released window's key is refused by the agent's NIC and
 * costs a queue pair recovery, which the verbs transport counts against the
 * master (MLOS_VERBS_MAX_PEER_RECOVERIES close the link). The PUT_RDMA that
 * follows tells the agent which key it was: a released one of that shard
 * with the right rkey takes the refusal off the count (at most
 * MLOS_NODE_STALE_FORGIVE per released window: the RDMA a master can have
 * in flight); any other stays counted, so guessing keys still closes the
 * link.
 */
enum mlos_node_rdma_msg {
    MLOS_NODE_PUT_RDMA = 0x4e480101u,
    MLOS_NODE_PUT_STALE,
    MLOS_NODE_PUT_FORGED,
    MLOS_NODE_WIN_RELEASE,
};

#define MLOS_NODE_WINKEY_SIZE 48u
#define MLOS_NODE_PUT_RDMA_SIZE 24u
#define MLOS_NODE_STALE_FORGIVE 64u
#define MLOS_NODE_WIN_RETIRE_MS 2000u

#endif
