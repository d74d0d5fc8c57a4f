/* libos/ftq.c -- fixed-time-quantum OS-noise benchmark (see ftq.h).
 *
 * Integer-only and allocation-free so that it runs unchanged on the Linux
 * process HAL, bare-metal x86_64 and 32-bit big-endian PowerPC. The hot loop
 * does one unit of work, one clock read and one compare; the per-quantum
 * bookkeeping (a 64-bit multiply for the next absolute boundary) runs once
 * per quantum, and a 64-bit division only once, at setup.
 */
#include "ftq.h"

#include "mlos_error.h"
#include "mlos_endian.h"

#define NS_PER_S 1000000000u
#define FTQ_MAX_QUANTUM_NS 10000000000ull /* 10 s */
#define FTQ_MAX_HZ 10000000000ull         /* 10 GHz: keeps the tick conversion in 64 bits */

static void put_str(uint8_t *p, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        p[i] = (uint8_t)s[i];
    for (; i < cap; i++)
        p[i] = 0;
}

static void put_dec(char *buf, size_t *pos, size_t cap, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 10);
    while (n > 0 && *pos + 1 < cap)
        buf[(*pos)++] = tmp[--n];
}

static void put_text(char *buf, size_t *pos, size_t cap, const char *s)
{
    while (*s && *pos + 1 < cap)
        buf[(*pos)++] = *s++;
}

size_t ftq_bytes(uint32_t nquanta) { return FTQ_HEADER_BYTES + (size_t)nquanta * 4u; }

uint64_t ftq_quantum_ticks(uint64_t quantum_ns, uint64_t hz)
{
    uint64_t whole = quantum_ns / NS_PER_S, rem = quantum_ns % NS_PER_S;
    uint64_t t = whole * hz + (rem * hz + NS_PER_S / 2) / NS_PER_S;
    return t ? t : 1;
}

/* A dependent chain of 32-bit xorshift steps with an add: the same cost on
 * every target (no 64-bit arithmetic on 32-bit PowerPC), no memory traffic,
 * and not reducible by the compiler. */
uint32_t ftq_work(uint32_t s, uint32_t iters)
{
    for (uint32_t k = 0; k < iters; k++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s += k;
    }
    return s;
}

static volatile uint32_t ftq_sink;

int ftq_run(const struct ftq_params *p, const struct ftq_clock *clk, uint8_t *out, size_t cap)
{
    if (!p || !clk || !clk->now || !out || p->nquanta == 0 || p->quantum_ns < 1000 ||
        p->quantum_ns > FTQ_MAX_QUANTUM_NS || clk->hz == 0 || clk->hz > FTQ_MAX_HZ)
        return MLOS_EINVAL;
    if (cap < FTQ_HEADER_BYTES || (cap - FTQ_HEADER_BYTES) / 4u < p->nquanta) /* no overflow on 32-bit */
        return MLOS_ERANGE;

    const uint32_t n = p->nquanta;
    const uint32_t iters = p->unit_iters ? p->unit_iters : FTQ_DEFAULT_UNIT_ITERS;
    const uint64_t q = ftq_quantum_ticks(p->quantum_ns, clk->hz);
    uint8_t *cnt = out + FTQ_HEADER_BYTES;
    char desc[FTQ_DESC_BYTES];
    size_t dl = 0;

    put_text(desc, &dl, sizeof(desc), "unit=");
    put_dec(desc, &dl, sizeof(desc), iters);
    put_text(desc, &dl, sizeof(desc), " xorshift32+add steps");
    desc[dl] = 0;

    for (int k = 0; k < 4; k++)
        out[FTQ_OFF_MAGIC + k] = (uint8_t)FTQ_MAGIC[k];
    mlos_put_le32(out + FTQ_OFF_HDR_BYTES, FTQ_HEADER_BYTES);
    mlos_put_le32(out + FTQ_OFF_N, n);
    mlos_put_le32(out + FTQ_OFF_COUNT_BYTES, 4);
    mlos_put_le64(out + FTQ_OFF_Q_TICKS, q);
    mlos_put_le64(out + FTQ_OFF_Q_NS, p->quantum_ns);
    mlos_put_le64(out + FTQ_OFF_T0, 0);
    mlos_put_le64(out + FTQ_OFF_TEND, 0);
    mlos_put_le64(out + FTQ_OFF_HZ, clk->hz);
    mlos_put_le64(out + FTQ_OFF_TOTAL, 0);
    mlos_put_le32(out + FTQ_OFF_ITERS, iters);
    mlos_put_le32(out + FTQ_OFF_FLAGS, clk->flags & FTQ_F_CYCLES);
    put_str(out + FTQ_OFF_CLOCK, FTQ_CLOCK_NAME_BYTES, clk->name ? clk->name : "?");
    put_str(out + FTQ_OFF_DESC, FTQ_DESC_BYTES, desc);

    uint64_t (*now)(void *) = clk->now;
    void *ctx = clk->ctx;
    uint32_t s = 0x9e3779b9u, flags = clk->flags & FTQ_F_CYCLES, i = 0;
    uint64_t c = 0, total = 0, t;
    const uint64_t t0 = now(ctx);
    uint64_t next = t0 + q; /* end of quantum i, absolute */

    for (;;) {
        s = ftq_work(s, iters);
        t = now(ctx);
        if (t < next) {
            c++;
            continue;
        }
        /* Crossed the end of quantum i: its count is final. */
        if (c > 0xffffffffu) {
            c = 0xffffffffu;
            flags |= FTQ_F_SATURATED;
        }
        mlos_put_le32(cnt + 4u * i, (uint32_t)c);
        total += c;
        i++;
        /* Quanta that t lies beyond entirely were swallowed by a detour. */
        while (i < n && t >= t0 + (uint64_t)(i + 1) * q)
            mlos_put_le32(cnt + 4u * i++, 0);
        if (i >= n)
            break;
        next = t0 + (uint64_t)(i + 1) * q; /* from t0, never t + q: no drift */
        c = 1;                             /* this unit completed inside quantum i */
    }
    ftq_sink = s;

    mlos_put_le64(out + FTQ_OFF_T0, t0);
    mlos_put_le64(out + FTQ_OFF_TEND, t);
    mlos_put_le64(out + FTQ_OFF_TOTAL, total);
    mlos_put_le32(out + FTQ_OFF_FLAGS, flags);
    return 0;
}
