/* shards/node/node_place.h -- puts over a tcp link, read off the socket
 * straight into the slave's window.
 *
 * Over tcp: the agent registers every slave's bulk window (its own
 * mapping of the slave's memory file) as a local memory region, and the
 * link's placement hook (mlos_ep_set_place) takes each PUT message whose
 * header is valid -- this connection's epoch, a shard with a window here,
 * offset and length inside it -- into the window directly: no message
 * buffer, no copy out of it. Anything else (a stale epoch, an unknown or
 * stopping shard, a range outside the window) is passed on to the agent's
 * on_recv, which treats it as before (ignored, or refused with a message).
 *
 * Order at a slave's end: node_place_close (deregister) before its memory
 * is unmapped; a put in flight into it is dropped from there on. */
#ifndef MLOS_NODE_PLACE_H
#define MLOS_NODE_PLACE_H

#include <stdint.h>

#include "mlos.h"
#include "msg.h"

struct node_place;

/* Once: the agent's domain, the current connection's epoch (0 until
 * WELCOME), the node's name for messages. */
void node_place_init(mlos_domain_t *dom, const uint32_t *epoch, const char *node_name);

/* The link is up: set the hook on it (tcp; verbs and shm have no placement). */
void node_place_attach(mlos_ep_t *ep);

/* A slave is up: register its window (NULL when there is none, or it
 * cannot be registered: its puts then go through on_recv). */
struct node_place *node_place_open(mlos_shard_t *sh, uint32_t id);

/* Deregister now; *wp becomes NULL. NULL is fine. */
void node_place_close(struct node_place **wp);

#endif
