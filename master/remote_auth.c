/* master/remote_auth.c -- the shared secret and the handshake MACs of
 * remote workers (remote_auth.h). HMAC-SHA256, comparison and randomness
 * come from libsodium. */
#define _GNU_SOURCE
#include "remote_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlos_error.h"

static const char *const labels[] = {"mlos-remote-v1 master", "mlos-remote-v1 worker"};

static int say(char *why, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;
    if (why && cap) {
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int ready(void) { return sodium_init() >= 0; }

static int take(struct mlos_remote_secret *s, const uint8_t *p, size_t n, const char *from, char *why, size_t cap)
{
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    if (n < MLOS_REMOTE_SECRET_MIN)
        return say(why, cap, MLOS_EAUTH, "the shared secret from %s is too short (%zu bytes, at least %u)", from, n,
                   MLOS_REMOTE_SECRET_MIN);
    if (n > sizeof(s->bytes))
        return say(why, cap, MLOS_EAUTH, "the shared secret from %s is too long (at most %u bytes)", from,
                   MLOS_REMOTE_SECRET_MAX);
    memcpy(s->bytes, p, n);
    s->len = n;
    return 0;
}

/* A file only its owner (us) can read or change: anything else may have
 * been read, or planted, by someone else. */
static int from_file(struct mlos_remote_secret *s, const char *path, char *why, size_t cap)
{
    uint8_t buf[MLOS_REMOTE_SECRET_MAX + 2];
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    int rc;

    if (fd < 0)
        return say(why, cap, errno == ELOOP ? MLOS_EAUTH : MLOS_EIO, "cannot open the secret file %s: %s", path,
                   errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    if (fstat(fd, &st) < 0) {
        close(fd);
        return say(why, cap, MLOS_EIO, "cannot stat the secret file %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        close(fd);
        return say(why, cap, MLOS_EAUTH,
                   "refusing the secret file %s: it must be a regular file owned by you (uid %u) with mode 0600 "
                   "(it is %s, owner %u, mode %03o)",
                   path, (unsigned)geteuid(), S_ISREG(st.st_mode) ? "a file" : "not a regular file",
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
    }
    while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            sodium_memzero(buf, sizeof(buf));
            return say(why, cap, MLOS_EIO, "cannot read the secret file %s: %s", path, strerror(errno));
        }
        got += (size_t)n;
    }
    close(fd);
    rc = take(s, buf, got, path, why, cap);
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int mlos_remote_secret_load(struct mlos_remote_secret *s, const char *value, const char *file, int insecure,
                            char *why, size_t cap)
{
    const char *env_file = getenv("MLOS_REMOTE_SECRET_FILE"), *env_value = getenv("MLOS_REMOTE_SECRET");
    const char *env_insecure = getenv("MLOS_REMOTE_INSECURE");

    memset(s, 0, sizeof(*s));
    if (!ready())
        return say(why, cap, MLOS_EIO, "libsodium failed to initialise");
    if (value && *value)
        return take(s, (const uint8_t *)value, strlen(value), "the caller", why, cap);
    if (file && *file)
        return from_file(s, file, why, cap);
    if (env_file && *env_file)
        return from_file(s, env_file, why, cap);
    if (env_value && *env_value)
        return take(s, (const uint8_t *)env_value, strlen(env_value), "$MLOS_REMOTE_SECRET", why, cap);
    if (getenv("MLOS_REMOTE_TOKEN"))
        return say(why, cap, MLOS_EAUTH,
                   "$MLOS_REMOTE_TOKEN is no longer used (the token was sent in clear): put a shared secret in a "
                   "file of mode 0600 and name it in $MLOS_REMOTE_SECRET_FILE (or set $MLOS_REMOTE_SECRET)");
    if (insecure || (env_insecure && !strcmp(env_insecure, "1")))
        return 0;
    return say(why, cap, MLOS_EAUTH,
               "no shared secret: set $MLOS_REMOTE_SECRET_FILE to a file of mode 0600 holding it (or "
               "$MLOS_REMOTE_SECRET), or run without authentication explicitly with --insecure "
               "(MLOS_REMOTE_INSECURE=1)");
}

void mlos_remote_secret_clear(struct mlos_remote_secret *s)
{
    sodium_memzero(s, sizeof(*s));
}

int mlos_remote_nonce(uint8_t out[MLOS_REMOTE_NONCE])
{
    if (!ready())
        return MLOS_EIO;
    randombytes_buf(out, MLOS_REMOTE_NONCE);
    return 0;
}

int mlos_remote_mac(const struct mlos_remote_secret *s, enum mlos_remote_role role,
                    const uint8_t nonce_w[MLOS_REMOTE_NONCE], const uint8_t nonce_m[MLOS_REMOTE_NONCE],
                    uint8_t out[MLOS_REMOTE_MAC])
{
    crypto_auth_hmacsha256_state st;
    const char *label = labels[role == MLOS_REMOTE_ROLE_WORKER];

    if (!ready() || !s->len)
        return MLOS_EIO;
    /* the label with its NUL, then two fixed-size nonces: no two different
     * inputs concatenate to the same bytes */
    if (crypto_auth_hmacsha256_init(&st, s->bytes, s->len) < 0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label) + 1) < 0 ||
        crypto_auth_hmacsha256_update(&st, nonce_w, MLOS_REMOTE_NONCE) < 0 ||
        crypto_auth_hmacsha256_update(&st, nonce_m, MLOS_REMOTE_NONCE) < 0 ||
        crypto_auth_hmacsha256_final(&st, out) < 0) {
        sodium_memzero(&st, sizeof(st));
        return MLOS_EIO;
    }
    sodium_memzero(&st, sizeof(st));
    return 0;
}

int mlos_remote_mac_ok(const struct mlos_remote_secret *s, enum mlos_remote_role role,
                       const uint8_t nonce_w[MLOS_REMOTE_NONCE], const uint8_t nonce_m[MLOS_REMOTE_NONCE],
                       const uint8_t mac[MLOS_REMOTE_MAC])
{
    uint8_t want[MLOS_REMOTE_MAC];
    int ok = mlos_remote_mac(s, role, nonce_w, nonce_m, want) == 0 && crypto_verify_32(want, mac) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}
