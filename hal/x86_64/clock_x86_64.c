/* clock_x86_64.c -- monotonic clock from the TSC.
 *
 * Under QEMU TCG the guest TSC is the host TSC, so the master passes the
 * host's measured rate as mlos.tsc_hz=<decimal> and no calibration is
 * needed. Otherwise (or on real hardware) the TSC is timed against the
 * 8254 PIT: short, because boot time matters more than the last few
 * hundred ppm. Nanoseconds are computed as (tsc * mult) >> 32 with a
 * 128-bit product, so now_ns costs one multiply and no division.
 */
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mlos_bootargs.h"
#include "x86_64.h"

#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_CAL_TICKS 2386u /* 2 ms */
#define PIT_CAL_ROUNDS 3
#define PIT_SPIN_LIMIT 50000000u

static uint64_t tsc_origin;
static uint64_t tsc_hz;
static uint64_t ns_mult; /* ns = (delta * ns_mult) >> 32 */

static uint16_t pit_read(void)
{
    outb(PIT_CMD, 0x00); /* latch channel 0 */
    uint8_t lo = inb(PIT_CH0);
    uint8_t hi = inb(PIT_CH0);
    return (uint16_t)(lo | hi << 8);
}

/* Time PIT_CAL_TICKS of the PIT's 1.193182 MHz countdown with the TSC.
 * Returns 0 if the PIT does not count (microvm pit=off). */
static uint64_t pit_round(void)
{
    outb(PIT_CMD, 0x30); /* channel 0, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH0, 0xff);
    outb(PIT_CH0, 0xff);

    uint16_t start = pit_read(), now = start;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; (uint16_t)(start - now) < PIT_CAL_TICKS; i++) {
        if (i == PIT_SPIN_LIMIT)
            return 0;
        now = pit_read();
    }
    uint64_t t1 = rdtsc();
    return (t1 - t0) * PIT_HZ / (uint16_t)(start - now);
}

/* The lowest of a few rounds. A virtual CPU descheduled for more than the
 * 16-bit counter's 55 ms between two reads sees it wrap: that round counts
 * too few PIT ticks for its TSC time and overestimates the rate (7.6x seen
 * on a loaded host); a pause without a wrap costs nothing, both clocks
 * keep running. So only a round that lost ticks is off, and always high. */
static uint64_t tsc_hz_from_pit(void)
{
    uint64_t best = 0;
    for (int r = 0; r < PIT_CAL_ROUNDS; r++) {
        uint64_t hz = pit_round();
        if (!hz)
            return 0;
        if (!best || hz < best)
            best = hz;
    }
    return best;
}

/* CPUID leaf 0x15 (TSC/crystal ratio) or 0x16 (base MHz), when offered. */
static uint64_t tsc_hz_from_cpuid(void)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    uint32_t max = a;
    if (max >= 0x15) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x15), "c"(0));
        if (a && b && c)
            return (uint64_t)c * b / a;
    }
    if (max >= 0x16) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x16), "c"(0));
        if (a & 0xffff)
            return (uint64_t)(a & 0xffff) * 1000000u;
    }
    return 0;
}

void x86_clock_init(const char *cmdline, uint64_t tsc0)
{
    uint64_t hz = 0;

    tsc_origin = tsc0;
    if (mlos_bootarg_u64(cmdline, "mlos.tsc_hz", 0, &hz) != 0 || hz < 1000000)
        hz = tsc_hz_from_pit();
    if (!hz)
        hz = tsc_hz_from_cpuid();
    if (!hz) {
        x86_console_puts("mlos: no TSC rate (no mlos.tsc_hz, PIT or CPUID); assuming 1 GHz\n");
        hz = 1000000000u;
    }
    tsc_hz = hz;
    ns_mult = (1000000000ull << 32) / hz;
}

uint64_t x86_tsc_hz(void) { return tsc_hz; }

uint64_t mlos_hal_cycles(void) { return rdtsc(); }

uint64_t mlos_hal_cycles_hz(void) { return tsc_hz; }

uint64_t mlos_hal_now_ns(void)
{
    uint64_t d = rdtsc() - tsc_origin;
    return (uint64_t)(((unsigned __int128)d * ns_mult) >> 32);
}
