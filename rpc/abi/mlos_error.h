/* mlos error codes.
 *
 * Every mlos function that can fail returns a negative MLOS_E* code (libuv
 * style); zero or a positive count means success. Codes are stable numbers so
 * that they can cross the wire in a TaskReply. Freestanding-safe: no libc.
 */
#ifndef MLOS_ERROR_H
#define MLOS_ERROR_H

enum mlos_error {
    MLOS_OK = 0,
    MLOS_EINVAL = -1,      /* bad argument */
    MLOS_ENOMEM = -2,      /* allocation failed */
    MLOS_EAGAIN = -3,      /* ring full / nothing to read yet: retry later */
    MLOS_ETRUNC = -4,      /* frame shorter than its header says */
    MLOS_ETOOBIG = -5,     /* frame or message larger than the limit */
    MLOS_EBADMAGIC = -6,   /* frame does not start with the mlos magic */
    MLOS_EVERSION = -7,    /* frame from an unsupported protocol version */
    MLOS_EBADTYPE = -8,    /* unknown frame type */
    MLOS_EDECODE = -9,     /* protobuf payload does not decode */
    MLOS_ENOTASK = -10,    /* no task registered under that name */
    MLOS_ESHARDDIED = -11, /* the shard exited or crashed before answering */
    MLOS_ETIMEDOUT = -12,  /* deadline passed */
    MLOS_ESPAWN = -13,     /* could not start the shard (QEMU, image, hello) */
    MLOS_ESTOPPED = -14,   /* shard is stopping or stopped: call refused */
    MLOS_ERANGE = -15,     /* offset/length outside a region */
    MLOS_EPROTO = -16,     /* peer broke the protocol (bad frame, bad window) */
    MLOS_ETASK = -17,      /* the task itself reported failure */
    MLOS_EIO = -18,        /* host I/O error (see errno in logs) */
    MLOS_ENOENT = -19,     /* file or image not found */
    MLOS_EKEY = -20,       /* unknown or revoked memory region key */
    MLOS_EACCES = -21,     /* region does not allow this access */
    MLOS_ECONNRESET = -22, /* peer went away or the transport failed */
    MLOS_ENOTSUP = -23,    /* not available here (e.g. no RDMA device) */
    MLOS_ECONNREFUSED = -24, /* nobody listens at that address */
    MLOS_EAUTH = -25,      /* peer failed authentication, or no shared secret to authenticate with */
    MLOS_EBUSY = -26,      /* in use: e.g. a shrink went only part of the way, memory is in use */
    MLOS_ECANCELED = -27,  /* ended because another part of the operation failed (a group rank) */
};

#ifdef __cplusplus
extern "C" {
#endif
/* Short English text for an MLOS_E* code; never NULL. */
const char *mlos_strerror(int err);
#ifdef __cplusplus
}
#endif

#endif
