/* plot.h -- PNG plots of an FTQ run: the count time series and its
 * amplitude spectrum. Pixels are drawn here (axes, ticks, a 3x5 digit font);
 * the PNG file is written by libpng. */
#ifndef MLOS_NOISE_PLOT_H
#define MLOS_NOISE_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

#define NOISE_PLOT_W 800
#define NOISE_PLOT_H 300

/* Counts against time (per pixel column: min..max band and mean), with the
 * max and 90% lines. Writes a PNG file; returns 0 or -1 (errno set). */
int noise_plot_series(const char *path, const uint32_t *counts, uint32_t n, double q_s, const struct noise_stats *st);

/* Amplitude spectrum up to the Nyquist frequency, peaks marked. */
int noise_plot_spectrum(const char *path, const uint32_t *counts, uint32_t n, double q_s,
                        const struct noise_stats *st);

/* Label texts, in fixed notation (never "1e+03"): an axis tick ("0",
 * "2.5", "1000000") and a peak frequency with its unit, three significant
 * digits ("7.25Hz", "84.5Hz", "999Hz", "1.00kHz", "12.5kHz"). */
void noise_format_tick(char *buf, size_t cap, double v);
void noise_format_hz(char *buf, size_t cap, double hz);

#endif
