/* Text for MLOS_E* codes. */
#include "mlos_error.h"

const char *mlos_strerror(int err)
{
    switch (err) {
    case MLOS_OK: return "success";
    case MLOS_EINVAL: return "invalid argument";
    case MLOS_ENOMEM: return "out of memory";
    case MLOS_EAGAIN: return "try again (ring full or empty)";
    case MLOS_ETRUNC: return "truncated frame";
    case MLOS_ETOOBIG: return "frame or message too large";
    case MLOS_EBADMAGIC: return "bad frame magic";
    case MLOS_EVERSION: return "unsupported protocol version";
    case MLOS_EBADTYPE: return "unknown frame type or flags";
    case MLOS_EDECODE: return "message does not decode";
    case MLOS_ENOTASK: return "no such task";
    case MLOS_ESHARDDIED: return "shard died";
    case MLOS_ETIMEDOUT: return "timed out";
    case MLOS_ESPAWN: return "shard failed to start";
    case MLOS_ESTOPPED: return "shard is stopped";
    case MLOS_ERANGE: return "offset or length out of range";
    case MLOS_EPROTO: return "protocol violation by peer";
    case MLOS_ETASK: return "task failed";
    case MLOS_EIO: return "I/O error";
    case MLOS_ENOENT: return "not found";
    case MLOS_EKEY: return "unknown or revoked memory key";
    case MLOS_EACCES: return "region does not allow this access";
    case MLOS_ECONNRESET: return "connection reset by peer";
    case MLOS_ENOTSUP: return "not supported here";
    case MLOS_ECONNREFUSED: return "connection refused";
    case MLOS_EAUTH: return "authentication failed";
    case MLOS_EBUSY: return "resource in use";
    case MLOS_ECANCELED: return "cancelled: another part of the operation failed";
    default: return "unknown error";
    }
}
