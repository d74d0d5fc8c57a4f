/* analysis.h -- host-side analysis of FTQ samples (libos/ftq.h format):
 * parse the buffer a shard wrote, summary statistics, detours, spectrum. */
#ifndef MLOS_NOISE_ANALYSIS_H
#define MLOS_NOISE_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#define NOISE_PEAKS 5

/* A parsed FTQ run. */
struct noise_series {
    uint32_t n;          /* quanta */
    uint64_t q_ticks;    /* quantum, clock ticks */
    uint64_t q_ns;       /* requested quantum */
    uint64_t t0, t_end;  /* clock ticks */
    uint64_t hz;         /* ticks per second */
    uint64_t total;      /* units of work */
    uint32_t iters;      /* work iterations per unit */
    uint32_t flags;      /* FTQ_F_* */
    char clock[17];
    char desc[41];
    uint32_t *counts;    /* n counts, malloc'ed */
};

/* Parse and validate an FTQ buffer. Returns 0, or -1 with a reason in err. */
int noise_parse(const uint8_t *buf, size_t len, struct noise_series *s, char *err, size_t errlen);
void noise_series_free(struct noise_series *s);

struct noise_peak {
    double hz;  /* frequency */
    double amp; /* amplitude of that component, in counts */
};

struct noise_stats {
    uint32_t n;
    double q_s;             /* quantum, seconds */
    uint32_t max, min;
    double mean;
    uint32_t median;        /* the typical quantum, for comparison with max */
    double lost;            /* fraction of work lost: 1 - mean/max */
    double max_detour_us;   /* worst single quantum or run of zero quanta, with its partial neighbours */
    uint32_t max_detour_at; /* first quantum of that detour */
    uint32_t max_detour_quanta;
    uint32_t below99, below90, zeros;
    int npeaks;
    struct noise_peak peaks[NOISE_PEAKS]; /* strongest first */
    double bin_hz;          /* spectral resolution of the (zero-padded) DFT */
    double fundamental_hz;  /* largest f >= 10 Hz of which every peak is a multiple (a periodic
                               detour and its harmonics, e.g. the kernel tick), or 0 */
};

/* Statistics and the top spectral peaks of a count series sampled every
 * q_s seconds. Returns 0 or -1 (n < 4, out of memory). */
int noise_analyze(const uint32_t *counts, uint32_t n, double q_s, struct noise_stats *st);

/* In-place iterative radix-2 complex FFT; n must be a power of two.
 * Returns 0 or -1 (n not a power of two). */
int noise_fft(double *re, double *im, size_t n);

/* One-sided amplitude spectrum of the counts after mean removal and a Hann
 * window, zero-padded to a power of two: nbins = npad/2 + 1 bins of width
 * *bin_hz, amp[k] in counts. Returns a malloc'ed array or NULL. */
double *noise_spectrum(const uint32_t *counts, uint32_t n, double q_s, size_t *nbins, double *bin_hz);

#endif
