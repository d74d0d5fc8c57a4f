/* libos/runtime/shard_msg.h -- messages between a shard and its master's endpoint.
 *
 * The guest half of mlos_shard_ep (master/mlos.h, rpc/msg/msg.h): the master
 * sends (type, bytes) messages with mlos_send on an endpoint bound to this
 * shard; the runtime delivers each one, in order, to the handler set here,
 * from the shard's event loop (run to completion, like tasks). The shard
 * answers with mlos_shard_send, which arrives in the endpoint's on_recv.
 * Same code on every HAL; explicit byte order is the application's job.
 */
#ifndef MLOS_SHARD_MSG_H
#define MLOS_SHARD_MSG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mlos_shard_msg_cb)(uint32_t type, const void *data, size_t len, void *user);

/* Set (or with NULL, clear) the handler for messages from the master.
 * Without a handler, messages are dropped with a console line. */
void mlos_shard_on_msg(mlos_shard_msg_cb cb, void *user);

/* Send a message to the master's endpoint. Waits (asleep) while the ring
 * is full. 0, MLOS_ETOOBIG (more than half the ring), MLOS_EINVAL. */
int mlos_shard_send(uint32_t type, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
