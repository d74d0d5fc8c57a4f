/* master/remote_auth.h -- mutual authentication of remote workers and
 * masters over a shared secret (used by master/remote.c and
 * shards/remote/mlos-remote-shard.c).
 *
 * Handshake, right after the msg.h connection is up, before anything else
 * (all in messages of type MLOS_REMOTE_MSG_AUTH, layout below):
 *   worker -> master  CHALLENGE  nonce_w (32 random bytes)
 *   master -> worker  RESPONSE   nonce_m (32 random bytes),
 *                                mac_m = HMAC-SHA256(secret, "mlos-remote-v1 master\0" | nonce_w | nonce_m)
 *   worker -> master  PROOF      mac_w = HMAC-SHA256(secret, "mlos-remote-v1 worker\0" | nonce_w | nonce_m)
 * The worker checks mac_m before it sends anything else (its HELLO and the
 * key of its bulk region go only to a master that proved itself); the
 * master checks mac_w before it accepts HELLO. Each side's MAC covers the
 * other side's fresh nonce, so a recorded transcript replayed to either
 * side fails; the role labels keep one side's MAC from being reflected as
 * the other's. MACs are compared in constant time (libsodium). The secret
 * itself never crosses the wire.
 *
 * What this protects: who may act as a worker (run tasks, receive
 * arguments, answer with results) and as a master (send tasks, write into
 * the worker's bulk region): a peer without the secret is refused with
 * MLOS_EAUTH and gets nothing beyond the nonce. What it does NOT protect:
 * the data in flight is neither encrypted nor integrity-protected after
 * the handshake (task arguments, results and bulk data travel in clear over
 * tcp:, and an attacker who can modify traffic on the path can take over an
 * authenticated connection). Someone who can make a worker connect to it
 * (by redirecting its traffic, or through a wrong --master address) can
 * relay the handshake to the real master and sit in the middle: the same
 * on-path position. Use it on a network you trust not to be tampered with,
 * or under a tunnel (WireGuard, IPsec, ssh) when it is not.
 * The messaging layer below (rpc/msg/msg.h) serves one-sided requests only for
 * keys it handed out, which the worker sends after the handshake.
 *
 * Message layout: byte 0 step (1 CHALLENGE, 2 RESPONSE, 3 PROOF), byte 1
 * version (1), then the step's fields in the order above, nothing else:
 * 34, 66 and 34 bytes.
 *
 * The secret: at least MLOS_REMOTE_SECRET_MIN bytes, from (first found)
 *   an explicit value or file given by the caller,
 *   $MLOS_REMOTE_SECRET_FILE   a regular file owned by the user, mode 0600
 *                              or stricter (no group/other bits), not a
 *                              symlink; trailing newlines are dropped,
 *   $MLOS_REMOTE_SECRET        the value itself (visible to the user's own
 *                              processes through /proc/PID/environ).
 * Without one, masters and workers refuse to run unless told to run
 * unauthenticated explicitly (--insecure, opts.insecure, or
 * MLOS_REMOTE_INSECURE=1). $MLOS_REMOTE_TOKEN (the old token that was sent
 * in clear) is refused with a message saying what to use instead.
 */
#ifndef MLOS_REMOTE_AUTH_H
#define MLOS_REMOTE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define MLOS_REMOTE_SECRET_MIN 16u
#define MLOS_REMOTE_SECRET_MAX 1024u
#define MLOS_REMOTE_NONCE 32u
#define MLOS_REMOTE_MAC 32u

enum { MLOS_REMOTE_AUTH_CHALLENGE = 1, MLOS_REMOTE_AUTH_RESPONSE = 2, MLOS_REMOTE_AUTH_PROOF = 3 };
#define MLOS_REMOTE_AUTH_VERSION 1u
#define MLOS_REMOTE_AUTH_CHALLENGE_SIZE (2u + MLOS_REMOTE_NONCE)
#define MLOS_REMOTE_AUTH_RESPONSE_SIZE (2u + MLOS_REMOTE_NONCE + MLOS_REMOTE_MAC)
#define MLOS_REMOTE_AUTH_PROOF_SIZE (2u + MLOS_REMOTE_MAC)

enum mlos_remote_role { MLOS_REMOTE_ROLE_MASTER = 0, MLOS_REMOTE_ROLE_WORKER = 1 };

struct mlos_remote_secret {
    uint8_t bytes[MLOS_REMOTE_SECRET_MAX];
    size_t len; /* 0: none (insecure) */
};

/* Find the secret as described above. value/file: explicit choices of the
 * caller (either may be NULL), tried before the environment. insecure: the
 * caller explicitly allows running without one (also set by
 * MLOS_REMOTE_INSECURE=1). Returns 0 with s->len > 0 (a secret) or
 * s->len == 0 (none, and running insecure was asked for), or MLOS_EAUTH /
 * MLOS_EIO with the reason in why. */
int mlos_remote_secret_load(struct mlos_remote_secret *s, const char *value, const char *file, int insecure,
                            char *why, size_t cap);

/* Wipe it (not optimised away). */
void mlos_remote_secret_clear(struct mlos_remote_secret *s);

/* 32 bytes from the kernel's generator. 0 or MLOS_EIO. */
int mlos_remote_nonce(uint8_t out[MLOS_REMOTE_NONCE]);

/* The MAC `role` sends for the nonce pair. 0 or MLOS_EIO. */
int mlos_remote_mac(const struct mlos_remote_secret *s, enum mlos_remote_role role,
                    const uint8_t nonce_w[MLOS_REMOTE_NONCE], const uint8_t nonce_m[MLOS_REMOTE_NONCE],
                    uint8_t out[MLOS_REMOTE_MAC]);

/* 1 if mac is what `role` must send for the pair (constant time), else 0. */
int mlos_remote_mac_ok(const struct mlos_remote_secret *s, enum mlos_remote_role role,
                       const uint8_t nonce_w[MLOS_REMOTE_NONCE], const uint8_t nonce_m[MLOS_REMOTE_NONCE],
                       const uint8_t mac[MLOS_REMOTE_MAC]);

#endif
