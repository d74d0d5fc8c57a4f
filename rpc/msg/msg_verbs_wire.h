/* rpc/msg/msg_verbs_wire.h -- byte formats of the "verbs:" messaging transport.
 *
 * Needs no libibverbs: built in every configuration so the formats are
 * unit tested on hosts without RDMA.
 *
 * Address: "verbs:IPV4:PORT" (the part after "verbs:" is parsed here).
 * IPV4 is a dotted quad (no host names: it must match a RoCE GID, see
 * msg_verbs.c); PORT 0..65535, 0 = any (listen only).
 *
 * SETUP record (64 bytes, big-endian, on the TCP side channel):
 *   offset size field
 *   0      4    magic     MLOS_VERBS_MAGIC ("MLVB")
 *   4      2    version   MLOS_VERBS_VERSION
 *   6      1    kind      HELLO (connector -> acceptor), ACCEPT (acceptor ->
 *                         connector), READY (connector -> acceptor),
 *                         REJECT (either way); after setup RESET and
 *                         RESUME (either way, queue pair recovery)
 *   7      1    mtu       HELLO/ACCEPT: enum ibv_mtu of the sender's port (1..5)
 *   8      4    qpn       HELLO/ACCEPT/RESET: queue pair number (24 bits, != 0)
 *   12     4    psn       HELLO/ACCEPT/RESET: first packet sequence number
 *                         (24 bits)
 *   16     2    lid       HELLO/ACCEPT: port LID (0 on RoCE)
 *   18     2    slots     HELLO/ACCEPT: receive slots posted, must equal
 *                         MLOS_VERBS_SLOTS
 *   20     4    slot_size HELLO/ACCEPT: bytes per slot, must equal
 *                         MLOS_VERBS_SLOT_SIZE
 *   24     16   gid       HELLO/ACCEPT: the sender's GID (RoCE v2: ::ffff:IPV4)
 *   40     4    status    REJECT: an MLOS_E* code (< 0); else 0
 *   44     1    rd_atomic HELLO/ACCEPT: RDMA READs the sender serves at once
 *                         as responder (>= 1)
 *   45     3    reserved  zero
 *   48     4    epoch     RESET/RESUME: queue pair incarnation (>= 1; the
 *                         one set up by HELLO/ACCEPT is 0)
 *   52     4    consumed  RESET: receives the sender processed so far
 *                         (cumulative, as in the DATA header)
 *   56     8    reserved  zero
 * READY and REJECT carry only magic, version, kind (and status); RESET only
 * qpn, psn, epoch, consumed; RESUME only epoch. Every other field must be
 * zero.
 *
 * Recovery (msg_verbs_recover.c): RESET{epoch} says "my queue pair of this
 * incarnation is reset, back in INIT with every receive posted; here is its
 * new PSN and how many of your SENDs I got". RESUME{epoch} says "my queue
 * pair is in RTS towards yours: you may post". See mlos_verbs_rec_action.
 *
 * DATA header (16 bytes, little-endian, first bytes of every SEND):
 *   0      1    kind      MSG or CREDIT
 *   1      1    flags     MSG: FIRST and/or LAST fragment; CREDIT: 0
 *   2      2    reserved  zero
 *   4      4    type      MSG: the user's message type; CREDIT: 0
 *   8      4    total     MSG: length of the whole message (<= MLOS_EP_MAX_MSG);
 *                         CREDIT: 0
 *   12     4    consumed  receives the sender has consumed and re-posted so
 *                         far (cumulative, wraps at 2^32): the credit return
 * A MSG fragment carries up to MLOS_VERBS_FRAG payload bytes after the
 * header; a CREDIT carries none.
 */
#ifndef MLOS_MSG_VERBS_WIRE_H
#define MLOS_MSG_VERBS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_VERBS_MAGIC 0x4D4C5642u /* "MLVB" */
#define MLOS_VERBS_VERSION 2u /* 2: RESET/RESUME recovery */
#define MLOS_VERBS_SETUP_SIZE 64u
#define MLOS_VERBS_HDR_SIZE 16u

/* Receive slots per endpoint: MLOS_EP_CREDITS for messages plus a reserve
 * that only CREDIT messages may use (so credits can always be returned). */
#define MLOS_VERBS_RESERVE 4u
#define MLOS_VERBS_SLOTS (64u + MLOS_VERBS_RESERVE) /* 64 == MLOS_EP_CREDITS */
#define MLOS_VERBS_SLOT_SIZE 16384u
#define MLOS_VERBS_FRAG (MLOS_VERBS_SLOT_SIZE - MLOS_VERBS_HDR_SIZE)

/* Recoveries a peer may cause (its accesses refused by our NIC: a bad rkey,
 * rights or bounds) before we close with REJECT{MLOS_EKEY}. More than
 * MLOS_EP_MAX_BAD_KEYS: the NIC cannot tell a guessed key from a range
 * error, so honest mistakes count too; still, a guessing peer gets only
 * this many tries per connection, each costing it a queue pair reset. */
#define MLOS_VERBS_MAX_PEER_RECOVERIES 16u

enum mlos_verbs_setup_kind {
    MLOS_VERBS_HELLO = 1,
    MLOS_VERBS_ACCEPT = 2,
    MLOS_VERBS_READY = 3,
    MLOS_VERBS_REJECT = 4,
    MLOS_VERBS_RESET = 5,
    MLOS_VERBS_RESUME = 6,
};

struct mlos_verbs_setup {
    uint8_t kind;
    uint8_t mtu;
    uint32_t qpn;
    uint32_t psn;
    uint16_t lid;
    uint16_t slots;
    uint32_t slot_size;
    uint8_t gid[16];
    int32_t status;
    uint8_t rd_atomic;
    uint32_t epoch;
    uint32_t consumed;
};

enum mlos_verbs_hdr_kind { MLOS_VERBS_MSG = 1, MLOS_VERBS_CREDIT = 2 };
#define MLOS_VERBS_FIRST 1u
#define MLOS_VERBS_LAST 2u

struct mlos_verbs_hdr {
    uint8_t kind;
    uint8_t flags;
    uint32_t type;
    uint32_t total;
    uint32_t consumed;
};

/* "IPV4:PORT" -> address and port in host order. 0, or MLOS_EINVAL.
 * allow_any_port: accept port 0 (listening). */
int mlos_verbs_parse_addr(const char *where, uint32_t *ipv4, uint16_t *port, int allow_any_port);

/* Fill a HELLO/ACCEPT/READY/REJECT record from s (only the fields its kind uses). */
void mlos_verbs_setup_encode(const struct mlos_verbs_setup *s, uint8_t out[MLOS_VERBS_SETUP_SIZE]);

/* Parse and check one record. 0, or MLOS_ETRUNC (short), MLOS_EBADMAGIC,
 * MLOS_EVERSION, MLOS_EBADTYPE (unknown kind), MLOS_EPROTO (a field out of
 * range, a slot geometry that differs from ours, reserved bytes not zero).
 * *why (if why) gets a short reason on error. */
int mlos_verbs_setup_decode(const void *buf, size_t len, struct mlos_verbs_setup *s, const char **why);

void mlos_verbs_hdr_encode(const struct mlos_verbs_hdr *h, uint8_t out[MLOS_VERBS_HDR_SIZE]);
/* Rewrite the consumed field of an encoded header (a SEND posted again
 * after recovery carries the current count). */
void mlos_verbs_hdr_set_consumed(uint8_t hdr[MLOS_VERBS_HDR_SIZE], uint32_t consumed);

/* Parse and check the header of a received SEND of len bytes (header plus
 * fragment). 0, or MLOS_ETRUNC, MLOS_EBADTYPE, MLOS_ETOOBIG (fragment over
 * MLOS_VERBS_FRAG or total over MLOS_EP_MAX_MSG), MLOS_EPROTO (reserved
 * bits, CREDIT with payload or fields, a lone fragment that cannot hold
 * the whole message). */
int mlos_verbs_hdr_decode(const void *buf, size_t len, struct mlos_verbs_hdr *h, const char **why);

/* Reassembly check for a decoded MSG fragment of frag bytes, given the
 * bytes already collected for the message in progress (have; -1 if none is
 * in progress). Returns the new collected count, or MLOS_EPROTO when the
 * fragment does not fit the sequence (FIRST expected/unexpected, overrun,
 * LAST before the total or no LAST at the total, total changed). */
long mlos_verbs_reasm_step(const struct mlos_verbs_hdr *h, size_t frag, long have, uint32_t want_total);

/* ---- queue pair recovery ---- */

/* Where an endpoint is in recovery. */
enum mlos_verbs_rec_state {
    MLOS_VERBS_REC_NONE,        /* queue pair in RTS, peer ready */
    MLOS_VERBS_REC_FLUSH,       /* ours in ERR: waiting for every posted WR to complete */
    MLOS_VERBS_REC_WAIT_PEER,   /* ours reset to INIT, RESET sent: waiting for the peer's */
    MLOS_VERBS_REC_WAIT_RESUME, /* ours in RTS, RESUME sent: waiting for the peer's */
};

/* What to do with a RESET or RESUME record: */
enum mlos_verbs_rec_action {
    MLOS_VERBS_ACT_BEGIN = 1, /* start recovering (flush), keep the record for later */
    MLOS_VERBS_ACT_KEEP,      /* already flushing: keep the record for after the reset */
    MLOS_VERBS_ACT_CONNECT,   /* bring ours to RTR/RTS towards the peer's new PSN, send RESUME */
    MLOS_VERBS_ACT_RESUME,    /* both in RTS: replay what was flushed, post again */
};

/* The action for record r (RESET or RESUME) in state st; epoch: our queue
 * pair's incarnation (it grows when ours is reset, so while flushing the
 * peer's RESET names epoch + 1); kept: a RESET is already kept. Returns an
 * action, or MLOS_EPROTO for a record out of turn or of a wrong epoch. */
int mlos_verbs_rec_action(int st, uint32_t epoch, int kept, const struct mlos_verbs_setup *r);

/* Cumulative counters that wrap: a comes before b. */
static inline int mlos_verbs_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

#endif
