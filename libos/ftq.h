/* libos/ftq.h -- fixed-time-quantum (FTQ) OS-noise benchmark.
 *
 * FTQ counts units of work done in each quantum of fixed length. The
 * quantum boundaries are absolute: quantum i spans [t0 + i*Q, t0 + (i+1)*Q)
 * on the clock, whatever happened before. After every unit of work the loop
 * reads the clock; when the reading crosses the current boundary the count
 * is stored for *that* quantum and the next boundary is computed from t0
 * again (never "now + Q", which drifts by the overshoot and hides noise).
 * A detour that swallows whole quanta leaves zeros for them. A unit that
 * completes at time t is counted in the quantum containing t.
 *
 * Portable, freestanding C: integer arithmetic only, no libm, no floating
 * point, no allocation. The clock is injected (struct ftq_clock), so the
 * same code runs in a slave shard (HAL clock), in the master (Linux clock)
 * and in tests (a fake clock).
 *
 * Output, written into a caller buffer (a shard's bulk window), all
 * integers little-endian:
 *
 *   off  size  field
 *     0   4    magic "FTQ1" (bytes 'F','T','Q','1')
 *     4   4    header bytes (FTQ_HEADER_BYTES)
 *     8   4    number of quanta N
 *    12   4    bytes per count (4: u32, saturating)
 *    16   8    quantum length in clock ticks (Q)
 *    24   8    requested quantum in ns
 *    32   8    t0: first boundary, clock ticks
 *    40   8    t_end: clock at the end of the run
 *    48   8    clock rate, ticks per second (1e9 for a ns clock)
 *    56   8    total units of work done in the N quanta
 *    64   4    work iterations per unit
 *    68   4    flags (FTQ_F_*)
 *    72  16    clock name, NUL padded ("tsc", "timebase", "ns", ...)
 *    88  40    work unit description, NUL padded
 *   128  4*N   counts, quantum 0 first
 */
#ifndef MLOS_FTQ_H
#define MLOS_FTQ_H

#include <stddef.h>
#include <stdint.h>

#define FTQ_MAGIC "FTQ1"
#define FTQ_HEADER_BYTES 128u
#define FTQ_CLOCK_NAME_BYTES 16u
#define FTQ_DESC_BYTES 40u
#define FTQ_DEFAULT_UNIT_ITERS 32u

#define FTQ_F_CYCLES 1u    /* clock is a raw cycle counter (TSC, timebase) */
#define FTQ_F_SATURATED 2u /* some count exceeded 2^32-1 and was clipped */

/* Header field offsets. */
#define FTQ_OFF_MAGIC 0
#define FTQ_OFF_HDR_BYTES 4
#define FTQ_OFF_N 8
#define FTQ_OFF_COUNT_BYTES 12
#define FTQ_OFF_Q_TICKS 16
#define FTQ_OFF_Q_NS 24
#define FTQ_OFF_T0 32
#define FTQ_OFF_TEND 40
#define FTQ_OFF_HZ 48
#define FTQ_OFF_TOTAL 56
#define FTQ_OFF_ITERS 64
#define FTQ_OFF_FLAGS 68
#define FTQ_OFF_CLOCK 72
#define FTQ_OFF_DESC 88

struct ftq_clock {
    uint64_t (*now)(void *ctx); /* monotonic ticks */
    void *ctx;
    uint64_t hz;                /* ticks per second, > 0 */
    const char *name;           /* short, for the header */
    uint32_t flags;             /* FTQ_F_CYCLES or 0 */
};

struct ftq_params {
    uint64_t quantum_ns; /* 1 us .. 10 s */
    uint32_t nquanta;    /* >= 1 */
    uint32_t unit_iters; /* work iterations per unit; 0: FTQ_DEFAULT_UNIT_ITERS */
};

/* Bytes of output for n quanta (header + counts). */
size_t ftq_bytes(uint32_t nquanta);

/* Quantum length in ticks of a clock at hz (rounded to nearest, >= 1). */
uint64_t ftq_quantum_ticks(uint64_t quantum_ns, uint64_t hz);

/* Run the benchmark, writing the header and counts into out (cap bytes,
 * any alignment). Returns 0, or MLOS_EINVAL (bad parameters or clock),
 * MLOS_ERANGE (out too small). Runs for about nquanta * quantum_ns. */
int ftq_run(const struct ftq_params *p, const struct ftq_clock *clk, uint8_t *out, size_t cap);

/* One unit of work: `iters` steps of a dependent integer chain. Exposed so
 * that a caller can time it; returns a value that must be consumed. */
uint32_t ftq_work(uint32_t state, uint32_t iters);

/* Little-endian accessors for the output format. */
static inline uint32_t ftq_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ftq_le64(const uint8_t *p) { return (uint64_t)ftq_le32(p) | (uint64_t)ftq_le32(p + 4) << 32; }

#endif
