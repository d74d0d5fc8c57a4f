/* analysis.c -- FTQ statistics and spectrum (see analysis.h). */
#include "analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftq.h"

int noise_parse(const uint8_t *buf, size_t len, struct noise_series *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (len < FTQ_HEADER_BYTES || memcmp(buf + FTQ_OFF_MAGIC, FTQ_MAGIC, 4) != 0) {
        snprintf(err, errlen, "no FTQ header (magic)");
        return -1;
    }
    uint32_t hdr = ftq_le32(buf + FTQ_OFF_HDR_BYTES), cb = ftq_le32(buf + FTQ_OFF_COUNT_BYTES);
    s->n = ftq_le32(buf + FTQ_OFF_N);
    if (hdr != FTQ_HEADER_BYTES || cb != 4 || s->n == 0 || s->n > (len - hdr) / 4) {
        snprintf(err, errlen, "bad FTQ header: %u header bytes, %u bytes per count, %u quanta in %zu bytes", hdr, cb,
                 s->n, len);
        return -1;
    }
    s->q_ticks = ftq_le64(buf + FTQ_OFF_Q_TICKS);
    s->q_ns = ftq_le64(buf + FTQ_OFF_Q_NS);
    s->t0 = ftq_le64(buf + FTQ_OFF_T0);
    s->t_end = ftq_le64(buf + FTQ_OFF_TEND);
    s->hz = ftq_le64(buf + FTQ_OFF_HZ);
    s->total = ftq_le64(buf + FTQ_OFF_TOTAL);
    s->iters = ftq_le32(buf + FTQ_OFF_ITERS);
    s->flags = ftq_le32(buf + FTQ_OFF_FLAGS);
    memcpy(s->clock, buf + FTQ_OFF_CLOCK, FTQ_CLOCK_NAME_BYTES);
    s->clock[FTQ_CLOCK_NAME_BYTES] = 0;
    memcpy(s->desc, buf + FTQ_OFF_DESC, FTQ_DESC_BYTES);
    s->desc[FTQ_DESC_BYTES] = 0;
    if (s->hz == 0 || s->q_ticks == 0 || s->t_end < s->t0) {
        snprintf(err, errlen, "bad FTQ header: clock %llu Hz, quantum %llu ticks, t0 %llu, end %llu",
                 (unsigned long long)s->hz, (unsigned long long)s->q_ticks, (unsigned long long)s->t0,
                 (unsigned long long)s->t_end);
        return -1;
    }
    if (!(s->counts = malloc((size_t)s->n * 4))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < s->n; i++)
        s->counts[i] = ftq_le32(buf + hdr + 4u * i);
    return 0;
}

void noise_series_free(struct noise_series *s)
{
    free(s->counts);
    s->counts = NULL;
}

int noise_fft(double *re, double *im, size_t n)
{
    if (n == 0 || (n & (n - 1)))
        return -1;
    for (size_t i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        double ang = -2.0 * M_PI / (double)len;
        for (size_t k = 0; k < len / 2; k++) { /* twiddles computed directly: no accumulated error */
            double wr = cos(ang * (double)k), wi = sin(ang * (double)k);
            for (size_t i = k; i < n; i += len) {
                size_t j = i + len / 2;
                double xr = re[j] * wr - im[j] * wi, xi = re[j] * wi + im[j] * wr;
                re[j] = re[i] - xr;
                im[j] = im[i] - xi;
                re[i] += xr;
                im[i] += xi;
            }
        }
    }
    return 0;
}

double *noise_spectrum(const uint32_t *counts, uint32_t n, double q_s, size_t *nbins, double *bin_hz)
{
    size_t npad = 1;
    double mean = 0, wsum = 0;
    while (npad < n)
        npad <<= 1;
    double *re = calloc(npad, sizeof(double)), *im = calloc(npad, sizeof(double));
    double *amp = malloc((npad / 2 + 1) * sizeof(double));
    if (!re || !im || !amp || n < 2) {
        free(re);
        free(im);
        free(amp);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++)
        mean += counts[i];
    mean /= n;
    for (uint32_t i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(2.0 * M_PI * i / (n - 1)); /* Hann */
        re[i] = (counts[i] - mean) * w;
        wsum += w;
    }
    noise_fft(re, im, npad);
    for (size_t k = 0; k <= npad / 2; k++) /* a sinusoid of amplitude A shows as A */
        amp[k] = (k == 0 || k == npad / 2 ? 1.0 : 2.0) * hypot(re[k], im[k]) / wsum;
    free(re);
    free(im);
    *nbins = npad / 2 + 1;
    *bin_hz = 1.0 / (q_s * (double)npad);
    return amp;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Time lost in quantum i relative to the best quantum, in seconds. */
static double deficit(const uint32_t *c, uint32_t i, uint32_t max, double q_s)
{
    return max ? (double)(max - c[i]) / max * q_s : 0.0;
}

int noise_analyze(const uint32_t *c, uint32_t n, double q_s, struct noise_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (n < 4 || !(q_s > 0))
        return -1;
    st->n = n;
    st->q_s = q_s;
    st->min = UINT32_MAX;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += c[i];
        if (c[i] > st->max)
            st->max = c[i];
        if (c[i] < st->min)
            st->min = c[i];
    }
    st->mean = sum / n;
    uint32_t *sorted = malloc((size_t)n * sizeof(uint32_t));
    if (!sorted)
        return -1;
    memcpy(sorted, c, (size_t)n * sizeof(uint32_t));
    qsort(sorted, n, sizeof(uint32_t), cmp_u32);
    st->median = sorted[n / 2];
    free(sorted);
    st->lost = st->max ? 1.0 - st->mean / st->max : 1.0;
    for (uint32_t i = 0; i < n; i++) {
        if ((double)c[i] < 0.99 * st->max)
            st->below99++;
        if ((double)c[i] < 0.90 * st->max)
            st->below90++;
        if (c[i] == 0)
            st->zeros++;
    }

    /* Detours: a run of zero quanta, plus the partial quanta on either side
     * (where the detour began and ended), or else a single short quantum. */
    double worst = -1;
    for (uint32_t i = 0; i < n;) {
        double loss;
        uint32_t at = i, len = 1;
        if (c[i] == 0 && st->max) {
            uint32_t b = i;
            while (b + 1 < n && c[b + 1] == 0)
                b++;
            len = b - i + 1;
            loss = len * q_s;
            if (i > 0) {
                loss += deficit(c, i - 1, st->max, q_s);
                at = i - 1;
                len++;
            }
            if (b + 1 < n) {
                loss += deficit(c, b + 1, st->max, q_s);
                len++;
            }
            i = b + 1;
        } else {
            loss = deficit(c, i, st->max, q_s);
            i++;
        }
        if (loss > worst) {
            worst = loss;
            st->max_detour_at = at;
            st->max_detour_quanta = len;
        }
    }
    st->max_detour_us = worst * 1e6;

    /* Spectrum peaks: local maxima, strongest first, at least a main-lobe
     * width apart, above the DC leakage of the window. */
    size_t nb;
    double bin_hz;
    double *amp = noise_spectrum(c, n, q_s, &nb, &bin_hz);
    if (!amp)
        return -1;
    st->bin_hz = bin_hz;
    size_t npad = (nb - 1) * 2, lobe = (size_t)ceil(2.0 * (double)npad / n) + 1;
    for (int p = 0; p < NOISE_PEAKS; p++) {
        size_t best = 0;
        double bamp = 0;
        for (size_t k = lobe; k + 1 < nb; k++) {
            if (!(amp[k] > amp[k - 1] && amp[k] >= amp[k + 1]) || amp[k] <= bamp)
                continue;
            int near = 0;
            for (int q = 0; q < st->npeaks; q++) {
                double d = st->peaks[q].hz / bin_hz - (double)k;
                if (fabs(d) < 2.0 * lobe)
                    near = 1;
            }
            if (!near) {
                best = k;
                bamp = amp[k];
            }
        }
        if (!best || bamp <= 1e-12)
            break;
        /* parabolic interpolation on log amplitude for a finer frequency */
        double a = log(amp[best - 1] + 1e-300), b = log(amp[best] + 1e-300), g = log(amp[best + 1] + 1e-300);
        double den = a - 2 * b + g, delta = den < 0 ? 0.5 * (a - g) / den : 0.0;
        if (delta > 0.5 || delta < -0.5)
            delta = 0;
        st->peaks[st->npeaks].hz = ((double)best + delta) * bin_hz;
        st->peaks[st->npeaks].amp = bamp;
        st->npeaks++;
    }
    free(amp);

    /* Fundamental: a narrow periodic detour shows as a comb of harmonics of
     * similar height, so the strongest peak is often not the period. Among
     * the significant peaks (at least 20% of the strongest; three or more),
     * try f = peak/k and keep the largest f that explains every one; f is
     * kept well above the matching tolerance so chance matches are rare. */
    int sig = 0;
    while (sig < st->npeaks && st->peaks[sig].amp >= 0.2 * st->peaks[0].amp)
        sig++;
    double tol = 2.0 * bin_hz;
    for (int p = 0; p < sig && sig >= 3; p++)
        for (int k = 1; k <= 16; k++) {
            double f = st->peaks[p].hz / k;
            if (f < 10.0 || f < 10.0 * tol || f <= st->fundamental_hz)
                continue;
            int all = 1;
            for (int q = 0; q < sig && all; q++) {
                double m = round(st->peaks[q].hz / f);
                all = m >= 1 && fabs(st->peaks[q].hz - m * f) <= tol * (1 + m / 16);
            }
            if (all)
                st->fundamental_hz = f;
        }
    return 0;
}
