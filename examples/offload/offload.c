/* offload: the master of the example. Boots one slave from IMAGE, puts a
 * data set into its bulk window, runs the example's two tasks on it and
 * checks the answers against the same computation done here.
 *
 *   offload ARCH IMAGE [N]     ARCH: x86_64, ppc or process; N: data size (bytes, default 1 MiB)
 *
 * Prints one line per task; exit status 0 when every answer matched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <mlos/endian.h>
#include <mlos/mlos.h>

#define NBINS 16

static int call(mlos_shard_t *s, const char *task, const uint8_t *arg, size_t len, uint8_t *out, size_t want)
{
    void *res;
    size_t res_len;
    char err[256] = "";
    int rc = mlos_call_sync(s, task, arg, len, &res, &res_len, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "offload: %s failed: %s (%s)\n", task, mlos_strerror(rc), err);
        return -1;
    }
    if (res_len != want) {
        fprintf(stderr, "offload: %s answered %zu bytes, expected %zu\n", task, res_len, want);
        free(res);
        return -1;
    }
    memcpy(out, res, want);
    free(res);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: offload x86_64|ppc|process IMAGE [BYTES]\n");
        return 2;
    }
    size_t n = argc > 3 ? strtoull(argv[3], NULL, 0) : 1u << 20;
    size_t nvec = n / 8; /* two int32 vectors after the bytes */
    if (n < 8 || 2 * n > (16u << 20)) {
        fprintf(stderr, "offload: BYTES must be 8 .. 8 MiB\n");
        return 2;
    }

    /* A reproducible data set: bytes, then two vectors of signed int32. */
    uint8_t *data = malloc(2 * n);
    uint32_t x = 12345;
    for (size_t i = 0; i < 2 * n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    size_t off_a = n, off_b = n + 4 * nvec;
    for (size_t i = 0; i < 2 * nvec; i++) /* vector entries in -1000..1000 */
        mlos_put_le32(data + off_a + 4 * i, (uint32_t)((int32_t)(mlos_get_le32(data + off_a + 4 * i) % 2001) - 1000));
    uint64_t want_hist[NBINS] = {0};
    int64_t want_dot = 0;
    for (size_t i = 0; i < n; i++)
        want_hist[data[i] * NBINS / 256]++;
    for (size_t i = 0; i < nvec; i++)
        want_dot += (int64_t)(int32_t)mlos_get_le32(data + off_a + 4 * i) * (int32_t)mlos_get_le32(data + off_b + 4 * i);

    uv_loop_t *loop = uv_default_loop();
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = argv[1], .image = argv[2], .bulk_bytes = 16u << 20};
    int rc = mlos_spawn_sync(loop, &s, &o);
    if (rc < 0) {
        fprintf(stderr, "offload: cannot start a %s shard from %s: %s\n", argv[1], argv[2], mlos_strerror(rc));
        mlos_shard_stop_sync(&s);
        return 1;
    }
    int bad = 0;
    if ((rc = mlos_put(&s, 0, data, 2 * n)) < 0) {
        fprintf(stderr, "offload: put: %s\n", mlos_strerror(rc));
        bad = 1;
    }

    uint8_t arg[24], out[NBINS * 8];
    mlos_put_le64(arg, 0);
    mlos_put_le64(arg + 8, n);
    mlos_put_le32(arg + 16, NBINS);
    if (!bad && call(&s, "offload.histogram", arg, 20, out, sizeof(out)) == 0) {
        int same = 1;
        for (int b = 0; b < NBINS; b++)
            same &= mlos_get_le64(out + 8 * b) == want_hist[b];
        printf("%s: histogram of %zu bytes in %d bins: %s (bin 0: %" PRIu64 ")\n", argv[1], n, NBINS,
               same ? "ok" : "WRONG", mlos_get_le64(out));
        bad |= !same;
    } else {
        bad = 1;
    }

    mlos_put_le64(arg, off_a);
    mlos_put_le64(arg + 8, off_b);
    mlos_put_le64(arg + 16, nvec);
    if (!bad && call(&s, "offload.dot", arg, 24, out, 8) == 0) {
        int64_t got = (int64_t)mlos_get_le64(out);
        printf("%s: dot product of 2 x %zu int32: %" PRId64 " %s\n", argv[1], nvec, got,
               got == want_dot ? "ok" : "WRONG");
        bad |= got != want_dot;
    } else {
        bad = 1;
    }

    mlos_shard_stop_sync(&s);
    free(data);
    return bad;
}
