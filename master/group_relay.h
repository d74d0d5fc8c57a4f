/* master/group_relay.h -- carries the rings of a group's pairs that cross
 * a link (group_relay.c). One relay per group and site (the master's host,
 * or a node agent) that has members of the group and peers elsewhere.
 *
 * For a pair (i, j) on different sites, every site has ring (i -> j) in
 * its own slice. At i's site the relay is that ring's consumer: it keeps
 * the ring's waiting flag set, so producer i always sends a wake-up naming
 * j, which reaches the relay (pump); it copies each frame into a
 * GROUP_DATA message while it has credit for it. At j's site the relay is
 * the ring's producer: it writes the frames into ring (i -> j) when there
 * is room, queueing them meanwhile (no more than the credit allows: a ring's
 * size), rings j if it sleeps and returns the bytes as credit (GROUP_CREDIT)
 * once they are in the ring. A full ring thus stalls the source ring, not
 * a buffer. Wire: rpc/wire/group_node.h. */
#ifndef MLOS_MASTER_GROUP_RELAY_H
#define MLOS_MASTER_GROUP_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mlos__relay;

struct mlos__relay_io {
    void *ctx;
    /* send a GROUP_DATA (route: rank `to`'s site) or GROUP_CREDIT (route:
     * rank `from`'s site); 0 or < 0 (not sent: tried again later) */
    int (*send)(void *ctx, uint32_t type, const uint8_t *p, size_t len, unsigned route_rank);
    /* ring the doorbell of a member on this site */
    void (*ring)(void *ctx, unsigned rank);
    /* a member on this site wrote garbage into a ring the relay drains:
     * fence it (its peers elsewhere would wait for frames that never
     * come). Called after the pass, which may free the relay. */
    void (*bad)(void *ctx, unsigned rank);
};

/* A relay over slice (formatted, slice_len bytes) for the ranks in local
 * (bit r: rank r is on this site); NULL if no pair crosses (or no memory). */
struct mlos__relay *mlos__relay_new(uv_loop_t *loop, uint8_t *slice, size_t slice_len, uint32_t id, uint32_t gen,
                                    uint32_t n, uint32_t ring_bytes, uint64_t local, const struct mlos__relay_io *io);
void mlos__relay_free(struct mlos__relay *r);

/* A member on this site (rank) sent a wake-up naming mask: its rings to
 * those peers may hold frames, their rings to it may have room. Then a
 * pass (mlos__relay_pump). */
void mlos__relay_kick(struct mlos__relay *r, unsigned rank, uint64_t mask);

/* Move what can move now on the rings something happened on: frames out
 * while credit lasts, queued frames in while their rings have room, credit
 * back. Bounded: at most a ring's worth per ring and pass, only the rings
 * marked; leftover work runs from the loop. */
void mlos__relay_pump(struct mlos__relay *r);

/* A GROUP_DATA or GROUP_CREDIT for this site (untrusted: the header is
 * checked here against this relay's group). 0, or MLOS_EPROTO if refused
 * (counted; nothing is written). */
int mlos__relay_recv(struct mlos__relay *r, uint32_t type, const uint8_t *p, size_t len);

/* Frames and credits refused since the relay was made. */
uint64_t mlos__relay_refused(const struct mlos__relay *r);

#endif
