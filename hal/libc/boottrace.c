/* boottrace.c -- mlos_hal_boot_mark / mlos_hal_boot_report for the
 * bare-metal HALs (hal.h, boottrace.h).
 *
 * Marks are (name, cycle count) pairs in a fixed array: recording one costs
 * a counter read and two stores, so marks stay in the boot path for good
 * and the trace is just not printed unless asked for. The report converts
 * with the HAL's calibrated rate (mlos_hal_cycles_hz), which is only known
 * after the clock came up: that is why marks keep raw counts.
 */
#include <stdio.h>
#include <string.h>

#include "boottrace.h"
#include "hal.h"
#include "mlos_bootargs.h"

#define MAX_MARKS 24

struct mark {
    const char *what;
    uint64_t cycles;
};
static struct mark marks[MAX_MARKS];
static unsigned nmarks;
static int reported;

void mlos_boottrace_mark_at(const char *what, uint64_t cycles)
{
    if (nmarks < MAX_MARKS)
        marks[nmarks++] = (struct mark){what, cycles};
}

void mlos_hal_boot_mark(const char *what) { mlos_boottrace_mark_at(what, mlos_hal_cycles()); }

/* Microseconds with one decimal, from cycles at hz, without floating point
 * (the bare-metal images have none in their printf). */
static int put_us(char *p, size_t cap, uint64_t cycles, uint64_t hz)
{
    /* split so that nothing overflows for any rate below 1.8 THz */
    uint64_t tenths = hz ? cycles / hz * 10000000u + cycles % hz * 10000000u / hz : 0;
    return snprintf(p, cap, "%llu.%llu", (unsigned long long)(tenths / 10), (unsigned long long)(tenths % 10));
}

void mlos_hal_boot_report(void)
{
    char line[640];
    size_t n;
    uint64_t hz = mlos_hal_cycles_hz(), on;

    if (reported || !nmarks || mlos_bootarg_u64(mlos_hal_cmdline(), "mlos.boot_trace", 0, &on) != 0 || !on)
        return;
    reported = 1;
    /* The counter's value at the first mark: under QEMU TCG the guest TSC
     * and timebase start at 0 when the VM starts, so this is the time the
     * firmware and loader took before the image's entry. */
    n = (size_t)snprintf(line, sizeof(line), "mlos: boot trace (us): counter at %s ", marks[0].what);
    n += (size_t)put_us(line + n, sizeof(line) - n, marks[0].cycles, hz);
    for (unsigned i = 1; i < nmarks && n < sizeof(line) - 1; i++) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, ", %s +", marks[i].what);
        if (n < sizeof(line))
            n += (size_t)put_us(line + n, sizeof(line) - n, marks[i].cycles - marks[i - 1].cycles, hz);
    }
    if (n < sizeof(line)) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, ", total ");
        if (n < sizeof(line))
            n += (size_t)put_us(line + n, sizeof(line) - n, marks[nmarks - 1].cycles - marks[0].cycles, hz);
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    mlos_hal_console_write(line, n);
}
