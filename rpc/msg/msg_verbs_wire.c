/* Byte formats of the verbs transport: see msg_verbs_wire.h. */
#include "msg_verbs_wire.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "mlos_endian.h"
#include "msg.h"

int mlos_verbs_parse_addr(const char *where, uint32_t *ipv4, uint16_t *port, int allow_any_port)
{
    char host[16];
    struct in_addr in;
    const char *colon;
    char *end;
    unsigned long p;
    size_t n;

    if (!where || !(colon = strrchr(where, ':')))
        return MLOS_EINVAL;
    n = (size_t)(colon - where);
    if (n == 0 || n >= sizeof(host))
        return MLOS_EINVAL;
    memcpy(host, where, n);
    host[n] = 0;
    if (inet_pton(AF_INET, host, &in) != 1) /* strict dotted quad */
        return MLOS_EINVAL;
    if (colon[1] < '0' || colon[1] > '9')
        return MLOS_EINVAL;
    p = strtoul(colon + 1, &end, 10);
    if (*end || p > 65535 || (p == 0 && !allow_any_port) || end - (colon + 1) > 5)
        return MLOS_EINVAL;
    *ipv4 = ntohl(in.s_addr);
    *port = (uint16_t)p;
    return 0;
}

void mlos_verbs_setup_encode(const struct mlos_verbs_setup *s, uint8_t out[MLOS_VERBS_SETUP_SIZE])
{
    memset(out, 0, MLOS_VERBS_SETUP_SIZE);
    mlos_put_be32(out, MLOS_VERBS_MAGIC);
    mlos_put_be16(out + 4, MLOS_VERBS_VERSION);
    out[6] = s->kind;
    if (s->kind == MLOS_VERBS_HELLO || s->kind == MLOS_VERBS_ACCEPT) {
        out[7] = s->mtu;
        mlos_put_be32(out + 8, s->qpn);
        mlos_put_be32(out + 12, s->psn);
        mlos_put_be16(out + 16, s->lid);
        mlos_put_be16(out + 18, s->slots);
        mlos_put_be32(out + 20, s->slot_size);
        memcpy(out + 24, s->gid, 16);
        out[44] = s->rd_atomic;
    } else if (s->kind == MLOS_VERBS_REJECT) {
        mlos_put_be32(out + 40, (uint32_t)s->status);
    } else if (s->kind == MLOS_VERBS_RESET) {
        mlos_put_be32(out + 8, s->qpn);
        mlos_put_be32(out + 12, s->psn);
        mlos_put_be32(out + 48, s->epoch);
        mlos_put_be32(out + 52, s->consumed);
    } else if (s->kind == MLOS_VERBS_RESUME) {
        mlos_put_be32(out + 48, s->epoch);
    }
}

static int zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

#define BAD(code, text)                                                                                               \
    do {                                                                                                              \
        if (why)                                                                                                      \
            *why = text;                                                                                              \
        return code;                                                                                                  \
    } while (0)

int mlos_verbs_setup_decode(const void *buf, size_t len, struct mlos_verbs_setup *s, const char **why)
{
    const uint8_t *p = buf;
    if (!p || len < MLOS_VERBS_SETUP_SIZE)
        BAD(MLOS_ETRUNC, "setup record shorter than 64 bytes");
    if (mlos_get_be32(p) != MLOS_VERBS_MAGIC)
        BAD(MLOS_EBADMAGIC, "setup record without MLVB magic");
    if (mlos_get_be16(p + 4) != MLOS_VERBS_VERSION)
        BAD(MLOS_EVERSION, "unsupported verbs setup version");
    memset(s, 0, sizeof(*s));
    s->kind = p[6];
    if (!zero(p + 45, 3) || !zero(p + 56, 8))
        BAD(MLOS_EPROTO, "reserved setup bytes not zero");
    switch (s->kind) {
    case MLOS_VERBS_HELLO:
    case MLOS_VERBS_ACCEPT:
        if (!zero(p + 48, 8))
            BAD(MLOS_EPROTO, "reserved setup bytes not zero");
        s->mtu = p[7];
        s->qpn = mlos_get_be32(p + 8);
        s->psn = mlos_get_be32(p + 12);
        s->lid = mlos_get_be16(p + 16);
        s->slots = mlos_get_be16(p + 18);
        s->slot_size = mlos_get_be32(p + 20);
        memcpy(s->gid, p + 24, 16);
        s->rd_atomic = p[44];
        if (s->mtu < 1 || s->mtu > 5)
            BAD(MLOS_EPROTO, "path MTU code out of range");
        if (s->qpn == 0 || s->qpn > 0xffffffu)
            BAD(MLOS_EPROTO, "queue pair number out of range");
        if (s->psn > 0xffffffu)
            BAD(MLOS_EPROTO, "packet sequence number over 24 bits");
        if (s->slots != MLOS_VERBS_SLOTS || s->slot_size != MLOS_VERBS_SLOT_SIZE)
            BAD(MLOS_EPROTO, "receive slot geometry differs (incompatible build)");
        if (s->rd_atomic == 0)
            BAD(MLOS_EPROTO, "peer serves no RDMA READ");
        if (mlos_get_be32(p + 40) != 0)
            BAD(MLOS_EPROTO, "status set outside REJECT");
        return 0;
    case MLOS_VERBS_READY:
    case MLOS_VERBS_REJECT:
        if (!zero(p + 7, 33) || p[44] || !zero(p + 48, 8))
            BAD(MLOS_EPROTO, "READY/REJECT with connection fields set");
        s->status = (int32_t)mlos_get_be32(p + 40);
        if (s->kind == MLOS_VERBS_READY ? s->status != 0 : s->status >= 0)
            BAD(MLOS_EPROTO, "bad status");
        return 0;
    case MLOS_VERBS_RESET:
    case MLOS_VERBS_RESUME:
        s->epoch = mlos_get_be32(p + 48);
        if (s->epoch == 0)
            BAD(MLOS_EPROTO, "recovery record for epoch 0");
        if (p[7] || !zero(p + 16, 29))
            BAD(MLOS_EPROTO, "RESET/RESUME with setup fields set");
        if (s->kind == MLOS_VERBS_RESUME) {
            if (!zero(p + 8, 8) || !zero(p + 52, 4))
                BAD(MLOS_EPROTO, "RESUME with RESET fields set");
            return 0;
        }
        s->qpn = mlos_get_be32(p + 8);
        s->psn = mlos_get_be32(p + 12);
        s->consumed = mlos_get_be32(p + 52);
        if (s->qpn == 0 || s->qpn > 0xffffffu)
            BAD(MLOS_EPROTO, "queue pair number out of range");
        if (s->psn > 0xffffffu)
            BAD(MLOS_EPROTO, "packet sequence number over 24 bits");
        return 0;
    default:
        BAD(MLOS_EBADTYPE, "unknown setup record kind");
    }
}

int mlos_verbs_rec_action(int st, uint32_t epoch, int kept, const struct mlos_verbs_setup *r)
{
    if (r->kind == MLOS_VERBS_RESET) {
        if (st == MLOS_VERBS_REC_NONE && r->epoch == epoch + 1)
            return MLOS_VERBS_ACT_BEGIN; /* the peer noticed first */
        if (st == MLOS_VERBS_REC_FLUSH && r->epoch == epoch + 1 && !kept)
            return MLOS_VERBS_ACT_KEEP; /* both noticed */
        if (st == MLOS_VERBS_REC_WAIT_PEER && r->epoch == epoch)
            return MLOS_VERBS_ACT_CONNECT;
        return MLOS_EPROTO;
    }
    if (r->kind == MLOS_VERBS_RESUME)
        return st == MLOS_VERBS_REC_WAIT_RESUME && r->epoch == epoch ? MLOS_VERBS_ACT_RESUME : MLOS_EPROTO;
    return MLOS_EPROTO;
}

void mlos_verbs_hdr_encode(const struct mlos_verbs_hdr *h, uint8_t out[MLOS_VERBS_HDR_SIZE])
{
    uint32_t v;
    out[0] = h->kind;
    out[1] = h->flags;
    out[2] = out[3] = 0;
    v = mlos_to_le32(h->type);
    memcpy(out + 4, &v, 4);
    v = mlos_to_le32(h->total);
    memcpy(out + 8, &v, 4);
    v = mlos_to_le32(h->consumed);
    memcpy(out + 12, &v, 4);
}

void mlos_verbs_hdr_set_consumed(uint8_t hdr[MLOS_VERBS_HDR_SIZE], uint32_t consumed)
{
    uint32_t v = mlos_to_le32(consumed);
    memcpy(hdr + 12, &v, 4);
}

static uint32_t le32at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return mlos_from_le32(v);
}

int mlos_verbs_hdr_decode(const void *buf, size_t len, struct mlos_verbs_hdr *h, const char **why)
{
    const uint8_t *p = buf;
    size_t frag;
    if (!p || len < MLOS_VERBS_HDR_SIZE)
        BAD(MLOS_ETRUNC, "message shorter than its header");
    frag = len - MLOS_VERBS_HDR_SIZE;
    h->kind = p[0];
    h->flags = p[1];
    h->type = le32at(p + 4);
    h->total = le32at(p + 8);
    h->consumed = le32at(p + 12);
    if (p[2] || p[3])
        BAD(MLOS_EPROTO, "reserved header bytes not zero");
    if (h->kind == MLOS_VERBS_CREDIT) {
        if (h->flags || h->type || h->total || frag)
            BAD(MLOS_EPROTO, "CREDIT with message fields or payload");
        return 0;
    }
    if (h->kind != MLOS_VERBS_MSG)
        BAD(MLOS_EBADTYPE, "unknown header kind");
    if (h->flags & ~(MLOS_VERBS_FIRST | MLOS_VERBS_LAST))
        BAD(MLOS_EPROTO, "unknown header flags");
    if (frag > MLOS_VERBS_FRAG)
        BAD(MLOS_ETOOBIG, "fragment larger than a slot");
    if (h->total > MLOS_EP_MAX_MSG)
        BAD(MLOS_ETOOBIG, "message larger than MLOS_EP_MAX_MSG");
    if ((h->flags & MLOS_VERBS_FIRST) && (h->flags & MLOS_VERBS_LAST) && frag != h->total)
        BAD(MLOS_EPROTO, "single fragment does not hold the whole message");
    if (frag > h->total)
        BAD(MLOS_EPROTO, "fragment larger than its message");
    return 0;
}

long mlos_verbs_reasm_step(const struct mlos_verbs_hdr *h, size_t frag, long have, uint32_t want_total)
{
    uint64_t now;
    if (h->kind != MLOS_VERBS_MSG)
        return MLOS_EPROTO;
    if (have < 0) {
        if (!(h->flags & MLOS_VERBS_FIRST))
            return MLOS_EPROTO; /* continuation without a start */
        have = 0;
    } else if ((h->flags & MLOS_VERBS_FIRST) || h->total != want_total) {
        return MLOS_EPROTO; /* new message before the old one ended */
    }
    now = (uint64_t)have + frag;
    if (now > h->total)
        return MLOS_EPROTO;
    if ((h->flags & MLOS_VERBS_LAST) ? now != h->total : (now == h->total || frag == 0))
        return MLOS_EPROTO;
    return (long)now;
}
