/* apic_x86_64.c -- local APIC timer and IOAPIC routing of the doorbell.
 *
 * Two interrupt sources wake mlos_hal_wait() from HLT:
 *   - COM2 receive (ISA IRQ 3). microvm wires ISA IRQ n to IOAPIC pin n
 *     (no interrupt source overrides for IRQ 3), edge-triggered, active
 *     high; we route it to this CPU's LAPIC at X86_VEC_DOORBELL.
 *   - the LAPIC timer in one-shot mode for the deadline. Its rate is
 *     measured against the TSC over at least 1 ms (QEMU's APIC runs at an
 *     emulated 1 GHz bus, real hardware at whatever the bus clock is), but
 *     not by spinning at boot: init starts the timer counting down, masked,
 *     and the first deadline reads how far it got. A shard that never
 *     waits with a deadline (the usual case: it sleeps until a doorbell)
 *     never pays for the measurement, and one that does usually finds the
 *     millisecond long gone.
 * The LAPIC and IOAPIC live at their architectural default addresses,
 * identity-mapped uncached by the boot page tables.
 */
#include <stdint.h>

#include "x86_64.h"

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_ENABLE (1u << 11)
#define LAPIC_DEFAULT 0xFEE00000u
#define IOAPIC_BASE 0xFEC00000u

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_SVR 0x0F0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define SVR_ENABLE (1u << 8)
#define TIMER_DIV_1 0xB

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_VER 0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define DOORBELL_PIN 3

#define CAL_NS 1000000u

static uintptr_t lapic;
static uint64_t timer_hz;
static uint64_t cal_tsc0; /* TSC when the calibration count started; 0: done or never */

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic + reg, v); }

static uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

/* Start the calibration count: masked, from the top, divide by 1. */
static void calibration_start(void)
{
    lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | X86_VEC_TIMER);
    cal_tsc0 = rdtsc();
    lapic_write(LAPIC_TIMER_INIT, 0xFFFFFFFFu);
}

/* Ticks of the LAPIC timer per second over at least CAL_NS of TSC time
 * since calibration_start (waiting out the rest if called earlier). A count
 * that ran out (2^32 ticks: over 4 s at QEMU's 1 GHz) is started again and
 * timed over CAL_NS, once. */
static uint64_t calibration_finish(void)
{
    uint64_t span = x86_tsc_hz() / (1000000000u / CAL_NS);

    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t t0 = cal_tsc0;
        while (rdtsc() - t0 < span)
            cpu_relax();
        uint32_t cur = lapic_read(LAPIC_TIMER_CUR);
        uint64_t t1 = rdtsc();
        if (cur == 0 && attempt == 0) {
            calibration_start();
            continue;
        }
        cal_tsc0 = 0;
        lapic_write(LAPIC_TIMER_INIT, 0);
        /* all ones: it never ran */
        if (cur == 0 || cur == 0xFFFFFFFFu || t1 == t0)
            return 0;
        /* 128-bit: over seconds, ticks times the TSC rate passes 2^64 */
        return (uint64_t)((unsigned __int128)(0xFFFFFFFFu - cur) * x86_tsc_hz() / (t1 - t0));
    }
    return 0;
}

int x86_apic_init(void)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(d & (1u << 9))) /* no LAPIC */
        return -1;

    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (!(base & APIC_BASE_ENABLE))
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
    lapic = (uintptr_t)(base & 0xFFFFF000u);
    if (lapic != LAPIC_DEFAULT) /* only the default page is mapped uncached */
        return -1;

    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_SVR, SVR_ENABLE | X86_VEC_SPURIOUS);

    calibration_start();

    uint32_t pins = ((ioapic_read(IOAPIC_VER) >> 16) & 0xff) + 1;
    if (pins <= DOORBELL_PIN || pins > 240)
        return -1;
    uint32_t apic_id = lapic_read(LAPIC_ID) >> 24;
    /* Fixed delivery, physical destination, active high, edge, unmasked. */
    ioapic_write(IOAPIC_REDTBL(DOORBELL_PIN) + 1, apic_id << 24);
    ioapic_write(IOAPIC_REDTBL(DOORBELL_PIN), X86_VEC_DOORBELL);
    return 0;
}

uint64_t x86_apic_timer_hz(void) { return timer_hz; }

void x86_apic_timer_periodic_ns(uint64_t ns)
{
    if (cal_tsc0) /* the first use of the timer finishes its calibration */
        timer_hz = calibration_finish();
    if (!timer_hz)
        return;
    uint64_t ticks = ns * timer_hz / 1000000000u; /* ns is small: no overflow */
    if (!ticks)
        ticks = 1;
    lapic_write(LAPIC_LVT_TIMER, X86_VEC_TIMER | LVT_PERIODIC);
    lapic_write(LAPIC_TIMER_INIT, ticks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)ticks);
}

int x86_apic_timer_oneshot_ns(uint64_t ns)
{
    uint64_t ticks;

    if (!ns) { /* cancel; during calibration nothing is armed (the count is masked) */
        if (!cal_tsc0 && timer_hz)
            lapic_write(LAPIC_TIMER_INIT, 0);
        return 0;
    }
    if (cal_tsc0)
        timer_hz = calibration_finish();
    if (!timer_hz)
        return -1;
    /* ns * hz / 1e9 without overflow for hz < 18 GHz. */
    ticks = ns / 1000000000u * timer_hz + ns % 1000000000u * timer_hz / 1000000000u;
    if (ticks == 0)
        ticks = 1;
    if (ticks > 0xFFFFFFFFu) /* the caller re-arms after an early wake-up */
        ticks = 0xFFFFFFFFu;
    lapic_write(LAPIC_LVT_TIMER, X86_VEC_TIMER); /* one-shot, unmasked */
    lapic_write(LAPIC_TIMER_INIT, (uint32_t)ticks);
    return 0;
}
