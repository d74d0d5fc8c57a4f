/* test_crossarch.c -- the same work on different shard architectures must
 * give byte-identical results.
 *   test_crossarch ARCH...      e.g. process x86_64 ppc
 *
 * For each ARCH a fresh shard (or, for neuro, a set of shards) runs:
 *   sum_u64   over a 1 MiB buffer put into the bulk window
 *   echo      of 64 KiB holding every byte value
 *   fail      a task error: status and message
 *   unknown   a task that does not exist: status
 *   neuro     neuro_analyze (examples/neuro-cgi) of a synthetic volume with
 *             an atlas, on 2 shards, with the fixed-point kernel and again
 *             with the float32 one: tissue centers, volumes, iterations,
 *             the segmentation, the smoothed volume and the region table;
 *             and again smoothing only the boxes the results need.
 * Every result is appended to a per-architecture transcript; the test
 * fails unless all transcripts are identical to the first one, and says
 * where the first difference is. Little-endian x86_64 against big-endian
 * 32-bit PowerPC is the point: wire formats, byte swaps in the tasks, the
 * 32-bit size_t, and float rounding without fused multiply-add. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mlos.h"
#include "neuro.h"

#define MAX_ARCH 4

struct transcript {
    uint8_t *p;
    size_t len, cap;
};

static void emit(struct transcript *t, const char *tag, const void *data, size_t len)
{
    size_t tl = strlen(tag) + 1, need = t->len + tl + 8 + len;
    if (need > t->cap) {
        t->cap = need * 2;
        t->p = realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, tag, tl); /* tags make a mismatch easy to place */
    t->len += tl;
    for (int i = 0; i < 8; i++)
        t->p[t->len++] = (uint8_t)((uint64_t)len >> (8 * i));
    if (len)
        memcpy(t->p + t->len, data, len);
    t->len += len;
}

static void emit_u64(struct transcript *t, const char *tag, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    emit(t, tag, b, 8);
}

static void emit_f64(struct transcript *t, const char *tag, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    emit_u64(t, tag, u);
}

static uint64_t lcg(uint64_t *s) { return *s = *s * 6364136223846793005ull + 1442695040888963407ull; }

/* One call; the outcome (status, and result or error text) goes to t. */
static void call(struct transcript *t, mlos_shard_t *s, const char *tag, const char *task, const void *arg,
                 size_t len)
{
    void *res = NULL;
    size_t rlen = 0;
    char err[256] = "";
    int rc = mlos_call_sync(s, task, arg, len, &res, &rlen, err, sizeof(err));
    emit_u64(t, tag, (uint64_t)(int64_t)rc);
    if (rc == 0)
        emit(t, tag, res, rlen);
    else
        emit(t, tag, err, strlen(err));
    free(res);
}

static void basic_tasks(uv_loop_t *loop, const char *arch, struct transcript *t)
{
    struct mlos_spawn_opts o = {.arch = arch};
    mlos_shard_t s;
    uint64_t seed = 42;

    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    if (!mlos_shard_alive(&s)) {
        fprintf(stderr, "%s: no shard: %s\n", arch, mlos_shard_console_tail(&s));
        mlos_shard_stop_sync(&s);
        return;
    }
    CHECK(!strcmp(s.arch, arch));

    /* sum_u64: 1 MiB of little-endian values at offset 8192 */
    size_t n = (1u << 20) / 8;
    uint8_t *buf = malloc(n * 8), arg[16];
    for (size_t i = 0; i < n * 8; i++)
        buf[i] = (uint8_t)(lcg(&seed) >> 56);
    CHECK_EQ(mlos_put(&s, 8192, buf, n * 8), 0);
    for (int i = 0; i < 8; i++) {
        arg[i] = (uint8_t)(8192ull >> (8 * i));
        arg[8 + i] = (uint8_t)((uint64_t)(n * 8) >> (8 * i));
    }
    call(t, &s, "sum_u64", "sum_u64", arg, 16);
    /* the same bytes read back through the window */
    uint8_t *back = malloc(n * 8);
    CHECK_EQ(mlos_get(&s, 8192, back, n * 8), 0);
    emit(t, "get", back, n * 8);
    free(back);
    free(buf);

    /* echo: every byte value, 64 KiB */
    uint8_t bin[65536];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i ^ (i >> 8) * 7);
    call(t, &s, "echo", "echo", bin, sizeof(bin));

    call(t, &s, "fail", "fail", "disk on fire", 12);
    call(t, &s, "unknown", "no_such_task", NULL, 0);
    call(t, &s, "short-arg", "sum_u64", "short", 5);
    mlos_shard_stop_sync(&s);
}

/* A head-like volume: background 0, a shell of "CSF", "GM" and "WM" with
 * integer intensities plus deterministic noise; an atlas of 8 octants. */
static void make_volume(struct neuro_volume *v, struct neuro_labels *atlas)
{
    int nx = 40, ny = 44, nz = 36;
    uint64_t seed = 7;

    v->nx = atlas->nx = nx;
    v->ny = atlas->ny = ny;
    v->nz = atlas->nz = nz;
    v->dx = 1.0;
    v->dy = 1.2;
    v->dz = 1.5;
    v->data = calloc((size_t)nx * ny * nz, sizeof(float));
    atlas->data = calloc((size_t)nx * ny * nz, sizeof(int32_t));
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                double dx = (x - nx / 2.0) / (nx / 2.2), dy = (y - ny / 2.0) / (ny / 2.2),
                       dz = (z - nz / 2.0) / (nz / 2.2);
                double r = dx * dx + dy * dy + dz * dz;
                size_t i = (size_t)x + (size_t)nx * ((size_t)y + (size_t)ny * z);
                int base = r > 1.0 ? 0 : r > 0.8 ? 300 : r > 0.45 ? 700 : 1000;
                int noise = base ? (int)(lcg(&seed) >> 58) - 32 : 0;
                v->data[i] = (float)(base + noise);
                atlas->data[i] = base ? 1 + (x >= nx / 2) + 2 * (y >= ny / 2) + 4 * (z >= nz / 2) : 0;
            }
}

/* whole: ask for the whole smoothed volume (and record it); else the
 * shards smooth only the mask's and the atlas's boxes */
static void neuro_run(uv_loop_t *loop, const char *arch, int float_kernel, int whole, const struct neuro_volume *v,
                      const struct neuro_labels *atlas, struct transcript *t)
{
    struct neuro_opts o = {.sigma = 1.5, .shards = 2, .arch = arch, .atlas = atlas, .float_kernel = float_kernel,
                           .smoothed_volume = whole};
    struct neuro_result r;
    char err[512] = "";
    size_t nvox = (size_t)v->nx * v->ny * v->nz;

    memset(&r, 0, sizeof(r));
    int rc = neuro_analyze(loop, v, &o, &r, err, sizeof(err));
    CHECK_EQ(rc, 0);
    emit_u64(t, "neuro-rc", (uint64_t)(int64_t)rc);
    if (rc != 0) {
        fprintf(stderr, "%s: neuro_analyze: %s\n", arch, err);
        return;
    }
    for (int c = 0; c < 3; c++) {
        emit_f64(t, "center", r.centers[c]);
        emit_u64(t, "voxels", r.voxels[c]);
        emit_f64(t, "ml", r.ml[c]);
    }
    emit_u64(t, "iterations", (uint64_t)r.iterations);
    emit(t, "seg", r.seg.data, nvox * sizeof(int32_t));
    if (whole)
        emit(t, "smoothed", r.smoothed.data, nvox * sizeof(float));
    emit_u64(t, "nregions", r.nregions);
    for (size_t i = 0; i < r.nregions; i++) {
        emit_u64(t, "label", (uint64_t)(int64_t)r.regions[i].label);
        emit_u64(t, "rvox", r.regions[i].voxels);
        emit_f64(t, "mean", r.regions[i].mean_smoothed);
        emit_f64(t, "gm", r.regions[i].gm_ml);
    }
    printf("%-8s neuro %s%s: %d iterations, GM %.3f mL, %zu regions\n", arch, float_kernel ? "float32" : "fixed",
           whole ? "" : ", boxes", r.iterations, r.ml[1], r.nregions);
    neuro_result_free(&r);
}

/* Name the record (tag) holding the first differing byte. */
static void report_diff(const char *a0, const struct transcript *x, const char *a1, const struct transcript *y)
{
    size_t n = x->len < y->len ? x->len : y->len, i = 0, rec = 0;
    while (i < n && x->p[i] == y->p[i])
        i++;
    const char *tag = "?";
    for (size_t p = 0; p < x->len;) { /* walk x's records: tag NUL, le64 length, data */
        const char *tg = (const char *)x->p + p;
        size_t q = p + strlen(tg) + 1, len = 0;
        for (int b = 0; b < 8; b++)
            len |= (size_t)x->p[q + b] << (8 * b);
        if (i < q + 8 + len) {
            tag = tg;
            rec = i >= q + 8 ? i - q - 8 : 0;
            break;
        }
        p = q + 8 + len;
    }
    fprintf(stderr, "%s and %s differ in record \"%s\" (byte %zu of it; transcripts %zu and %zu bytes)\n", a0, a1,
            tag, rec, x->len, y->len);
}

int main(int argc, char **argv)
{
    struct transcript t[MAX_ARCH];
    struct neuro_volume v;
    struct neuro_labels atlas;
    uv_loop_t *loop = uv_default_loop();
    int narch = argc - 1;

    if (narch < 2 || narch > MAX_ARCH) {
        fprintf(stderr, "usage: test_crossarch ARCH ARCH [ARCH...]   (x86_64, ppc, process)\n");
        return 2;
    }
    setenv("MLOS_QUIET", "1", 1);
    memset(t, 0, sizeof(t));
    make_volume(&v, &atlas);
    for (int a = 0; a < narch; a++) {
        uint64_t t0 = uv_hrtime();
        basic_tasks(loop, argv[1 + a], &t[a]);
        neuro_run(loop, argv[1 + a], 0, 1, &v, &atlas, &t[a]);
        neuro_run(loop, argv[1 + a], 1, 1, &v, &atlas, &t[a]);
        neuro_run(loop, argv[1 + a], 0, 0, &v, &atlas, &t[a]);
        printf("%-8s transcript %zu bytes in %.0f ms\n", argv[1 + a], t[a].len, (uv_hrtime() - t0) / 1e6);
    }
    for (int a = 1; a < narch; a++) {
        int same = t[a].len == t[0].len && memcmp(t[a].p, t[0].p, t[0].len) == 0;
        CHECK(same);
        if (!same)
            report_diff(argv[1], &t[0], argv[1 + a], &t[a]);
        else
            printf("%s == %s: byte-identical\n", argv[1 + a], argv[1]);
    }
    for (int a = 0; a < narch; a++)
        free(t[a].p);
    neuro_volume_free(&v);
    neuro_labels_free(&atlas);
    CHECK_EQ(uv_loop_alive(loop), 0);
    CHECK_DONE();
}
