/* Tests of the FTQ OS-noise benchmark (libos/ftq.c) and mlos-noise.
 *   test_ftq unit                 quantum logic on a fake clock, analysis
 *   test_ftq e2e SHARD...         mlos-noise on real shards; SHARD is process,
 *                                 x86_64, ppc, or ppc? (ppc only if its image
 *                                 and qemu-system-ppc are found)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "check.h"
#include "plot.h"
#include "ftq.h"
#include "mlos.h"
#include "noise.h"

#include <png.h>

/* ---- fake clock ----
 * Reads return r0, r0 + step, r0 + 2*step, ...; once, when the next read
 * would pass detour_at, detour_len ticks are added: the unit of work in
 * progress at detour_at finishes that much later. */
struct fake {
    uint64_t t, step, detour_at, detour_len;
    int detoured;
    uint64_t reads;
};

static uint64_t fake_now(void *ctx)
{
    struct fake *f = ctx;
    uint64_t v = f->t;
    f->t += f->step;
    if (f->detour_len && !f->detoured && f->t > f->detour_at) {
        f->t += f->detour_len;
        f->detoured = 1;
    }
    f->reads++;
    return v;
}

static uint32_t cnt(const uint8_t *buf, uint32_t i) { return ftq_le32(buf + FTQ_HEADER_BYTES + 4u * i); }

/* A detour of 3.5 quanta starting a quarter into quantum 2: quantum 2 is
 * cut short, 3 and 4 are zeros, 5 has the last quarter only. */
static void test_detour(void)
{
    const uint64_t T0 = 123456;
    struct fake f = {.t = T0, .step = 10, .detour_at = T0 + 2250, .detour_len = 3500};
    struct ftq_clock clk = {.now = fake_now, .ctx = &f, .hz = 1000000000u, .name = "fake"};
    struct ftq_params p = {.quantum_ns = 1000, .nquanta = 10, .unit_iters = 1};
    uint8_t buf[FTQ_HEADER_BYTES + 40];
    static const uint32_t expect[10] = {99, 100, 26, 0, 0, 24, 100, 100, 100, 100};

    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), 0);
    for (uint32_t i = 0; i < 10; i++) {
        if (cnt(buf, i) != expect[i])
            fprintf(stderr, "quantum %u: %u, expected %u\n", i, cnt(buf, i), expect[i]);
        CHECK_EQ(cnt(buf, i), expect[i]);
    }
    CHECK(memcmp(buf, "FTQ1", 4) == 0);
    CHECK_EQ(ftq_le64(buf + FTQ_OFF_Q_TICKS), 1000);
    CHECK_EQ(ftq_le64(buf + FTQ_OFF_T0), T0);
    CHECK_EQ(ftq_le64(buf + FTQ_OFF_TEND), T0 + 10000);
    CHECK_EQ(ftq_le64(buf + FTQ_OFF_TOTAL), 99 + 100 + 26 + 24 + 100 * 4);
    CHECK_EQ(ftq_le32(buf + FTQ_OFF_N), 10);
    CHECK_EQ(ftq_le32(buf + FTQ_OFF_ITERS), 1);
    CHECK(strcmp((const char *)buf + FTQ_OFF_CLOCK, "fake") == 0);
    CHECK(strstr((const char *)buf + FTQ_OFF_DESC, "unit=1 ") != NULL);

    /* the analysis sees a 3.5-quantum detour (Q = 1 us) */
    struct noise_series s;
    struct noise_stats st;
    char err[128];
    CHECK_EQ(noise_parse(buf, sizeof(buf), &s, err, sizeof(err)), 0);
    CHECK_EQ(s.n, 10);
    CHECK_EQ(noise_analyze(s.counts, s.n, 1e-6, &st), 0);
    CHECK_EQ(st.max, 100);
    CHECK(fabs(st.max_detour_us - 3.5) < 1e-9);
    CHECK_EQ(st.max_detour_at, 2);
    CHECK_EQ(st.max_detour_quanta, 4);
    CHECK_EQ(st.zeros, 2);
    CHECK_EQ(st.below90, 4); /* 26, 0, 0, 24 */
    CHECK_EQ(st.below99, 4); /* 99 is not below 99% of 100 */
    noise_series_free(&s);

    /* a detour that runs past the end: the rest are zeros, the run ends */
    struct fake g = {.t = 0, .step = 10, .detour_at = 1500, .detour_len = 1000000};
    clk.ctx = &g;
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), 0);
    CHECK_EQ(cnt(buf, 0), 99);
    CHECK_EQ(cnt(buf, 1), 51); /* reads at 1000 .. 1500 */
    for (uint32_t i = 2; i < 10; i++)
        CHECK_EQ(cnt(buf, i), 0);

    /* a detour ending exactly on a boundary */
    struct fake h = {.t = 0, .step = 10, .detour_at = 995, .detour_len = 2000 - 1000};
    clk.ctx = &h; /* read after 990 would be 1000: becomes 2000 */
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), 0);
    CHECK_EQ(cnt(buf, 0), 99);
    CHECK_EQ(cnt(buf, 1), 0);
    CHECK_EQ(cnt(buf, 2), 100);
}

/* F(x) = #{k >= 1 : step*k < x}: unit completions before x ticks after t0. */
static uint64_t reads_before(uint64_t x, uint64_t step) { return x ? (x - 1) / step : 0; }

/* 10^6 quanta: every count equals the number of clock reads inside its
 * absolute window [t0 + iQ, t0 + (i+1)Q), so the last boundary is exactly
 * t0 + 10^6 Q; a "now + Q" loop would have drifted by the accumulated
 * overshoot (up to a step per quantum). */
static void test_no_drift(void)
{
    const uint32_t n = 1000000;
    const uint64_t T0 = 987654321, step = 7;
    struct fake f = {.t = T0, .step = step};
    struct ftq_clock clk = {.now = fake_now, .ctx = &f, .hz = 100000000u, .name = "fake"};
    struct ftq_params p = {.quantum_ns = 1000, .nquanta = n, .unit_iters = 1}; /* Q = 100 ticks */
    uint8_t *buf = malloc(ftq_bytes(n));
    uint32_t bad = 0;

    CHECK_EQ(ftq_run(&p, &clk, buf, ftq_bytes(n)), 0);
    const uint64_t q = ftq_le64(buf + FTQ_OFF_Q_TICKS);
    CHECK_EQ(q, 100);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e = reads_before((uint64_t)(i + 1) * q, step) - reads_before((uint64_t)i * q, step);
        if (i == 0)
            e = reads_before(q, step); /* k >= 1: the read at t0 starts the run */
        if (cnt(buf, i) != e && bad++ < 5)
            fprintf(stderr, "quantum %u: %u, expected %llu\n", i, cnt(buf, i), (unsigned long long)e);
        sum += cnt(buf, i);
    }
    CHECK_EQ(bad, 0);
    /* boundaries aligned: the run ended at the first read at or after t0 + nQ */
    uint64_t end = ftq_le64(buf + FTQ_OFF_TEND);
    CHECK(end >= T0 + (uint64_t)n * q && end < T0 + (uint64_t)n * q + step);
    CHECK_EQ(sum, reads_before((uint64_t)n * q, step));
    CHECK_EQ(ftq_le64(buf + FTQ_OFF_TOTAL), sum);
    /* relative-time variant, for contrast: each quantum starts at the
     * boundary-crossing read, so boundaries drift later by the overshoot */
    uint64_t rel_next = T0 + q, t = T0;
    for (uint32_t i = 0; i < n; i++) {
        while (t < rel_next)
            t += step;
        rel_next = t + q;
    }
    CHECK(rel_next - q > T0 + (uint64_t)n * q + 1000000); /* drifted by > 10^4 quanta */
    free(buf);
}

static void test_params(void)
{
    struct fake f = {.t = 0, .step = 1};
    struct ftq_clock clk = {.now = fake_now, .ctx = &f, .hz = 1000000000u};
    struct ftq_params p = {.quantum_ns = 1000, .nquanta = 4};
    uint8_t buf[FTQ_HEADER_BYTES + 16];
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf) - 1), MLOS_ERANGE);
    p.nquanta = 0;
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), MLOS_EINVAL);
    p.nquanta = 4;
    p.quantum_ns = 999;
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), MLOS_EINVAL);
    p.quantum_ns = 1000;
    clk.hz = 0;
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), MLOS_EINVAL);
    CHECK_EQ(ftq_quantum_ticks(100000, 2999999999ull), 300000);
    CHECK_EQ(ftq_quantum_ticks(10000000000ull, 10000000000ull), 100000000000ull);
    CHECK_EQ(ftq_quantum_ticks(1, 1000), 1);
    /* a real run on the host clock's stand-in: counts are positive */
    clk.hz = 1000000000u;
    CHECK_EQ(ftq_run(&p, &clk, buf, sizeof(buf)), 0);
    CHECK_EQ(cnt(buf, 0), 999);
    CHECK_EQ(cnt(buf, 3), 1000);
    /* default work iterations */
    CHECK_EQ(ftq_le32(buf + FTQ_OFF_ITERS), FTQ_DEFAULT_UNIT_ITERS);
    char err[128];
    struct noise_series s;
    buf[0] = 'X';
    CHECK_EQ(noise_parse(buf, sizeof(buf), &s, err, sizeof(err)), -1);
}

static void test_fft(void)
{
    enum { N = 64 };
    double re[N], im[N], xr[N];
    uint32_t seed = 1;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        xr[i] = re[i] = (double)(seed >> 16) / 65536.0 - 0.5;
        im[i] = 0;
    }
    CHECK_EQ(noise_fft(re, im, N), 0);
    double maxerr = 0;
    for (int k = 0; k < N; k++) {
        double sr = 0, si = 0;
        for (int j = 0; j < N; j++) {
            sr += xr[j] * cos(-2 * M_PI * k * j / N);
            si += xr[j] * sin(-2 * M_PI * k * j / N);
        }
        maxerr = fmax(maxerr, fmax(fabs(sr - re[k]), fabs(si - im[k])));
    }
    CHECK(maxerr < 1e-9);
    CHECK_EQ(noise_fft(re, im, 48), -1);
}

/* A periodic detour every 20 quanta of 100 us (500 Hz): the spectrum's
 * strongest peak is at 500 Hz and the others at its harmonics. */
static void test_spectrum(void)
{
    enum { N = 20000 };
    static uint32_t c[N];
    struct noise_stats st;
    uint32_t seed = 7;
    for (uint32_t i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        c[i] = 1000 - (seed >> 16) % 5; /* a little white noise */
        uint32_t ph = i % 20;
        if (ph == 3)
            c[i] = 600;
        else if (ph == 4 || ph == 5)
            c[i] = 0;
        else if (ph == 6)
            c[i] = 300;
    }
    CHECK_EQ(noise_analyze(c, N, 1e-4, &st), 0);
    CHECK_EQ(st.npeaks, NOISE_PEAKS);
    fprintf(stderr, "periodic detour: peaks");
    for (int p = 0; p < st.npeaks; p++)
        fprintf(stderr, " %.2f Hz (%.1f)", st.peaks[p].hz, st.peaks[p].amp);
    fprintf(stderr, "; resolution %.3f Hz\n", st.bin_hz);
    CHECK(fabs(st.peaks[0].hz - 500) < st.bin_hz);
    for (int p = 1; p < st.npeaks; p++) {
        double h = st.peaks[p].hz / 500;
        CHECK(fabs(h - round(h)) * 500 < st.bin_hz && round(h) >= 2);
    }
    CHECK(fabs(st.fundamental_hz - 500) < st.bin_hz);
    /* detour: 2 zero quanta plus 40% and 70% partials = 3.1 quanta = 310 us */
    CHECK(fabs(st.max_detour_us - 310) < 2);

    /* a sinusoidal modulation at 1234 Hz of amplitude 10 counts */
    for (uint32_t i = 0; i < N; i++)
        c[i] = (uint32_t)lround(1000 + 10 * sin(2 * M_PI * 1234 * i * 1e-4));
    CHECK_EQ(noise_analyze(c, N, 1e-4, &st), 0);
    CHECK(st.npeaks >= 1 && fabs(st.peaks[0].hz - 1234) < st.bin_hz);
    CHECK(st.npeaks >= 1 && fabs(st.peaks[0].amp - 10) < 1.5);
    fprintf(stderr, "sinusoid: fundamental %.2f; peaks", st.fundamental_hz);
    for (int p = 0; p < st.npeaks; p++)
        fprintf(stderr, " %.2f Hz (%.3f)", st.peaks[p].hz, st.peaks[p].amp);
    fprintf(stderr, "\n");
    CHECK(st.fundamental_hz == 0); /* one line, no harmonic comb */
}

static void test_lost(void)
{
    enum { N = 1000 };
    static uint32_t c[N];
    struct noise_stats st;
    for (uint32_t i = 0; i < N; i++)
        c[i] = i >= 100 && i < 200 ? 500 : i >= 500 && i < 510 ? 0 : 1000;
    CHECK_EQ(noise_analyze(c, N, 1e-4, &st), 0);
    CHECK(fabs(st.lost - 0.06) < 1e-12); /* mean 940 */
    CHECK(fabs(st.mean - 940) < 1e-9);
    CHECK_EQ(st.below99, 110);
    CHECK_EQ(st.below90, 110);
    CHECK_EQ(st.zeros, 10);
    CHECK_EQ(st.min, 0);
    CHECK(fabs(st.max_detour_us - 1000) < 1e-6); /* ten zero quanta of 100 us, full neighbours */
    CHECK_EQ(st.max_detour_at, 499);
    for (uint32_t i = 0; i < N; i++)
        c[i] = 77;
    CHECK_EQ(noise_analyze(c, N, 1e-4, &st), 0);
    CHECK(st.lost == 0 && st.max_detour_us == 0 && st.below99 == 0 && st.npeaks == 0);
}

/* ---- end to end ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

/* Decoded by libpng (which checks the signature, every chunk's CRC and
 * the compressed data): the plot's size, and a picture, not one colour. */
static int png_valid(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "%s: %s\n", path, img.message);
        return 0;
    }
    if (img.width != NOISE_PLOT_W || img.height != NOISE_PLOT_H) {
        fprintf(stderr, "%s: %ux%u, not %ux%u\n", path, img.width, img.height, NOISE_PLOT_W, NOISE_PLOT_H);
        png_image_free(&img);
        return 0;
    }
    img.format = PNG_FORMAT_RGB;
    size_t n = PNG_IMAGE_SIZE(img);
    uint8_t *px = malloc(n);
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        fprintf(stderr, "%s: %s\n", path, px ? img.message : "out of memory");
        free(px);
        png_image_free(&img);
        return 0;
    }
    /* background, axes and the data at least */
    uint32_t colours[8];
    size_t ncol = 0;
    for (size_t i = 0; i + 3 <= n && ncol < 8; i += 3) {
        uint32_t c = (uint32_t)px[i] << 16 | (uint32_t)px[i + 1] << 8 | px[i + 2], k = 0;
        while (k < ncol && colours[k] != c)
            k++;
        if (k == ncol)
            colours[ncol++] = c;
    }
    free(px);
    if (ncol < 3)
        fprintf(stderr, "%s: only %zu colours\n", path, ncol);
    return ncol >= 3;
}

static int have_prog(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];
    if (!path)
        return 0;
    char *dup = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, sizeof(buf), "%s/%s", d, name);
        found = access(buf, X_OK) == 0;
    }
    free(dup);
    return found;
}

static double json_num(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\": ", key);
    const char *p = strstr(line, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

static void check_outputs(const char *dir, const char *name, const char *json, uint32_t quanta, uint64_t q_ns)
{
    char path[4096];
    size_t len;

    fprintf(stderr, "checking %s\n", name);
    snprintf(path, sizeof(path), "%s/%s.series.png", dir, name);
    CHECK(png_valid(path));
    snprintf(path, sizeof(path), "%s/%s.spectrum.png", dir, name);
    CHECK(png_valid(path));

    /* FTQ text: comment lines, then quanta lines "start_ns count" */
    snprintf(path, sizeof(path), "%s/%s.ftq.txt", dir, name);
    uint8_t *txt = slurp(path, &len);
    CHECK(txt != NULL);
    if (txt) {
        uint32_t lines = 0, maxc = 0;
        unsigned long long t, prev = 0;
        unsigned c;
        for (char *l = (char *)txt; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (*l == '#')
                continue;
            if (sscanf(l, "%llu %u", &t, &c) != 2) {
                CHECK(!"bad ftq.txt line");
                break;
            }
            if (lines > 0)
                CHECK(t > prev && (t - prev) + 2 > q_ns && (t - prev) < q_ns + 2);
            prev = t;
            maxc = c > maxc ? c : maxc;
            lines++;
        }
        CHECK_EQ(lines, quanta);
        CHECK(maxc > 0);
        free(txt);
    }

    /* summary.json: one line per run */
    char key[64];
    snprintf(key, sizeof(key), "{\"shard\": \"%s\"", name);
    const char *line = strstr(json, key);
    CHECK(line != NULL);
    if (line) {
        char *l = strndup(line, strcspn(line, "\n"));
        fprintf(stderr, "  %s\n", l);
        CHECK(strstr(l, "\"ok\": true") != NULL);
        double lost = json_num(l, "lost_fraction"), mx = json_num(l, "max"), det = json_num(l, "max_detour_us");
        CHECK(mx > 0);
        CHECK(lost >= 0 && lost <= 1);
        CHECK(det >= 0 && det <= quanta * q_ns / 1000.0);
        CHECK(json_num(l, "quanta") == quanta);
        CHECK(strstr(l, "\"peaks\": [{\"hz\": ") != NULL);
        free(l);
    }
}

static int rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}

static void test_e2e(int argc, char **argv)
{
    char dir[] = "/tmp/mlos-ftq-e2e-XXXXXX", path[4096], img[4096];
    const char *shards[8];
    int ns = 0;
    const uint32_t quanta = 2000;
    const uint64_t q_ns = 50000;

    for (int i = 0; i < argc && ns < 7; i++) {
        if (!strcmp(argv[i], "ppc?")) {
            if (mlos_image_find("mlos-slave-ppc.elf", img, sizeof(img)) != 0 || !have_prog("qemu-system-ppc")) {
                fprintf(stderr, "ppc: no image on MLOS_IMAGE_PATH or no qemu-system-ppc; skipped\n");
                continue;
            }
            shards[ns++] = "ppc";
        } else {
            shards[ns++] = argv[i];
        }
    }
    CHECK(mkdtemp(dir) != NULL);
    char *args[16] = {"mlos-noise", "--quantum-us", "50", "--quanta", "2000", "--out", dir, "--quiet"};
    int na = 8;
    for (int i = 0; i < ns; i++)
        args[na++] = (char *)shards[i];
    args[na] = NULL;
    int rc = mlos_noise_main(na, args);
    CHECK_EQ(rc, 0);

    size_t len;
    const char *files[] = {"summary.txt", "summary.json", "report.html"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && sb.st_size > 100);
    }
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    char *json = (char *)slurp(path, &len);
    CHECK(json != NULL);
    if (json) {
        check_outputs(dir, "host", json, quanta, q_ns);
        for (int i = 0; i < ns; i++)
            check_outputs(dir, shards[i], json, quanta, q_ns);
        free(json);
    }
    snprintf(path, sizeof(path), "%s/report.html", dir);
    char *html = (char *)slurp(path, &len);
    CHECK(html && strstr(html, "host.series.png") && strstr(html, "</html>"));
    free(html);
    if (check_failures == 0)
        rm_rf(dir);
    else
        fprintf(stderr, "outputs kept in %s\n", dir);
}

/* Both plots of a synthetic run decode with libpng; a damaged or cut copy
 * does not (so the e2e check would notice a broken writer). */
static void test_plots(void)
{
    enum { N = 4096 };
    static uint32_t counts[N];
    for (uint32_t i = 0; i < N; i++)
        counts[i] = 1000 - (i % 100 == 0 ? 400 : 0) - (i * 7u) % 13;
    struct noise_stats st;
    CHECK_EQ(noise_analyze(counts, N, 1e-3, &st), 0);
    char dir[] = "/tmp/mlos-ftq-plot-XXXXXX", path[128], bad[160];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/series.png", dir);
    CHECK_EQ(noise_plot_series(path, counts, N, 1e-3, &st), 0);
    CHECK(png_valid(path));
    snprintf(path, sizeof(path), "%s/spectrum.png", dir);
    CHECK_EQ(noise_plot_spectrum(path, counts, N, 1e-3, &st), 0);
    CHECK(png_valid(path));

    size_t len;
    uint8_t *b = slurp(path, &len);
    CHECK(b && len > 200);
    snprintf(bad, sizeof(bad), "%s/bad.png", dir);
    FILE *f = fopen(bad, "wb");
    CHECK(f && fwrite(b, 1, len / 2, f) == len / 2); /* cut */
    fclose(f);
    fprintf(stderr, "(a cut and a damaged PNG follow: libpng's complaints are expected)\n");
    CHECK(!png_valid(bad));
    b[len / 2] ^= 0x40; /* one bit inside the compressed data (and its chunk CRC no longer matches) */
    f = fopen(bad, "wb");
    CHECK(f && fwrite(b, 1, len, f) == len);
    fclose(f);
    CHECK(!png_valid(bad));
    free(b);
    unlink(bad);
    snprintf(path, sizeof(path), "%s/series.png", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/spectrum.png", dir);
    unlink(path);
    rmdir(dir);
}

/* Plot labels read as numbers: no exponent notation, units that fit. */
static void test_labels(void)
{
    static const struct {
        double hz;
        const char *want;
    } hz[] = {{7.25, "7.25Hz"}, {84.5, "84.5Hz"}, {999.4, "999Hz"}, {999.6, "1.00kHz"}, {1000, "1.00kHz"},
              {1499.8, "1.50kHz"}, {12500, "12.5kHz"}, {0.5, "0.50Hz"}};
    static const struct {
        double v;
        const char *want;
    } tick[] = {{0, "0"}, {2.5, "2.5"}, {1000, "1000"}, {1e6, "1000000"}, {0.25, "0.25"}, {1e-13, "0"}};
    char buf[32];
    for (size_t i = 0; i < sizeof(hz) / sizeof(hz[0]); i++) {
        noise_format_hz(buf, sizeof(buf), hz[i].hz);
        if (strcmp(buf, hz[i].want))
            fprintf(stderr, "noise_format_hz(%g) = %s, want %s\n", hz[i].hz, buf, hz[i].want);
        CHECK(!strcmp(buf, hz[i].want));
    }
    for (size_t i = 0; i < sizeof(tick) / sizeof(tick[0]); i++) {
        noise_format_tick(buf, sizeof(buf), tick[i].v);
        if (strcmp(buf, tick[i].want))
            fprintf(stderr, "noise_format_tick(%g) = %s, want %s\n", tick[i].v, buf, tick[i].want);
        CHECK(!strcmp(buf, tick[i].want));
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "unit")) {
        test_detour();
        test_no_drift();
        test_params();
        test_fft();
        test_spectrum();
        test_lost();
        test_labels();
        test_plots();
    } else if (argc >= 2 && !strcmp(argv[1], "e2e")) {
        test_e2e(argc - 2, argv + 2);
    } else {
        fprintf(stderr, "usage: test_ftq unit | e2e SHARD...\n");
        return 2;
    }
    CHECK_DONE();
}
