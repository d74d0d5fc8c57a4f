/* libos/event_delivery.h -- the event-delivery service of a shard.
 *
 * Provides: service `event-delivery`: how an occurrence posted by an event
 * source (a device, the doorbell, a timer, another service) reaches the
 * application. Exactly one delivery mode is linked into an image; it is a
 * component chosen at composition time (tools/compose), and the four modes
 * conflict with each other:
 *
 *   mode        component        what mlos_ed_post() does
 *   ---------   ---------------  ------------------------------------------
 *   immediate   ed_immediate.c   calls ed->handler(src, value) before it
 *                                returns (synchronous upcall, no queueing)
 *   coalesced   ed_coalesced.c   merges into src's pending count and last
 *                                value; nothing runs until the application
 *                                calls mlos_ed_poll(), which returns the
 *                                count and resets it
 *   handler     ed_handler.c     queues (src, value); the application
 *                                handler runs later from the event loop,
 *                                once per occurrence, in post order
 *   message     ed_message.c     converts the occurrence into an mlos
 *                                frame (type MLOS_FRAME_MSG, request id
 *                                MLOS_ED_MSG_TYPE, 16-byte payload) in a
 *                                frame ring; the loop hands each frame to
 *                                ed->on_msg, like any received message
 *
 * Requires: evloop (libos/evloop.h); the message mode also needs the frame
 * ring (rpc/wire/ring.h). No HAL calls, no allocation: every struct is
 * caller-owned and must outlive its use.
 *
 * Concurrency: single-threaded like the evloop; post from loop callbacks or
 * from code the loop calls (on_doorbell, after_sleep), never from another
 * thread.
 *
 * Policy: before the mode sees an occurrence, an extension at the event
 * hook (libos/bpf/hooks.h, MLOS_HOOK_EVENT, ctx = source id, seq, value) may
 * return MLOS_HOOK_EVENT_DROP: the occurrence is discarded and post returns 0.
 * Errors: negative MLOS_E* codes (mlos_error.h). MLOS_ENOTSUP: the linked
 * mode has no such operation (e.g. mlos_ed_poll in a push mode).
 */
#ifndef MLOS_EVENT_DELIVERY_H
#define MLOS_EVENT_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "ring.h"

#define MLOS_ED_QUEUE 64u           /* handler mode: occurrences awaiting the loop */
#define MLOS_ED_RING_BYTES 4096u    /* message mode: frame ring data bytes */
#define MLOS_ED_MSG_TYPE 0x45564e54u /* "EVNT": request id of event frames */
#define MLOS_ED_MSG_LEN 16u         /* payload: be32 source, be32 seq, be64 value */

struct mlos_ed;

/* One event source. id is the application's name for it (carried in
 * messages); the rest is private. */
struct mlos_ed_source {
    uint32_t id;
    void *data;        /* free for the owner */
    /* private */
    uint32_t pending;  /* coalesced: occurrences since the last poll */
    uint32_t seq;      /* occurrences ever posted */
    uint64_t last;     /* coalesced: value of the latest occurrence */
};

typedef void (*mlos_ed_handler_fn)(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value);
/* Message mode: hdr is the decoded frame header, payload its bytes
 * (hdr->length of them, valid during the call only). */
typedef void (*mlos_ed_msg_fn)(struct mlos_ed *ed, const struct mlos_frame_hdr *hdr, const uint8_t *payload);

struct mlos_ed {
    struct mlos_evloop *loop;
    mlos_ed_handler_fn handler; /* immediate and handler modes */
    mlos_ed_msg_fn on_msg;      /* message mode */
    void *data;                 /* free for the owner */
    uint64_t delivered;         /* occurrences handed to the application */
    uint64_t dropped;           /* occurrences refused (queue or ring full) */
    /* private: deferred delivery (handler and message modes) */
    struct mlos_event dispatch;
    int dispatch_queued;
    struct {
        struct mlos_ed_source *src;
        uint64_t value;
    } q[MLOS_ED_QUEUE];
    uint32_t q_head, q_tail;
    struct mlos_ring ring;
    _Alignas(MLOS_CACHELINE) uint8_t ring_mem[sizeof(struct mlos_ring_ctl) + MLOS_ED_RING_BYTES];
};

/* A delivery mode: one is linked in as `mlos_ed_mode` (the component). */
struct mlos_ed_mode_ops {
    const char *name; /* "immediate", "coalesced", "handler", "message" */
    int (*init)(struct mlos_ed *ed);
    int (*post)(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value);
    int (*poll)(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t *last); /* NULL: push mode */
};
extern const struct mlos_ed_mode_ops mlos_ed_mode;

/* Bind ed to loop with the linked mode. Handlers are set by the caller in
 * the struct fields afterwards (or before: init keeps them). Returns 0. */
int mlos_ed_init(struct mlos_ed *ed, struct mlos_evloop *loop);
void mlos_ed_source_init(struct mlos_ed_source *src, uint32_t id);

/* Name of the linked mode. */
const char *mlos_ed_mode_name(void);

/* An occurrence of src with a value (a byte count, a status...). Returns
 * 1 if delivered now (immediate), 0 if recorded for later delivery, or
 * MLOS_EAGAIN when the queue/ring is full (counted in ed->dropped), or
 * MLOS_EINVAL when the mode has no consumer set (no handler / on_msg). */
int mlos_ed_post(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t value);

/* Coalesced mode: the number of occurrences since the previous poll
 * (0 if none), and the value of the latest one in *last (if last != NULL
 * and the count is > 0). Resets the count. MLOS_ENOTSUP in push modes. */
int mlos_ed_poll(struct mlos_ed *ed, struct mlos_ed_source *src, uint64_t *last);

/* Message mode payload helpers (big-endian, like every mlos frame). */
void mlos_ed_msg_encode(uint8_t out[MLOS_ED_MSG_LEN], uint32_t source, uint32_t seq, uint64_t value);
int mlos_ed_msg_decode(const uint8_t *payload, size_t len, uint32_t *source, uint32_t *seq, uint64_t *value);

/* For mode files: queue ed's dispatch callback on the loop (once). */
void mlos__ed_schedule(struct mlos_ed *ed, void (*fn)(struct mlos_event *ev));

#endif
