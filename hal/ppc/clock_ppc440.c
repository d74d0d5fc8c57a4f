/* clock_ppc440.c -- monotonic clock from the timebase; the decrementer.
 *
 * The Book E timebase is a 64-bit counter at a fixed rate that the device
 * tree gives as /cpus/cpu@0/timebase-frequency (QEMU bamboo: 400 MHz, a
 * virtual clock derived from the host's). No calibration is needed.
 * Nanoseconds are computed as (ticks * mult) >> 32 with a 64x64 multiply
 * done in 32-bit pieces (ppc_mul_shr32): no division on the hot path and
 * no 128-bit type, which 32-bit PowerPC lacks.
 *
 * The decrementer counts down at the timebase rate and interrupts when it
 * reaches zero if TCR[DIE] is set; it is used one-shot for the deadline of
 * mlos_hal_wait (the handler in vectors_ppc440.S turns DIE off again).
 */
#include <stdint.h>

#include "hal.h"
#include "ppc440.h"

#define DEC_MAX 0x7fffffffu /* longer waits just wake early and re-arm */

static uint64_t tb_origin;
static uint32_t tb_hz;
static uint64_t ns_mult;   /* ns = (ticks * ns_mult) >> 32 */
static uint64_t tick_mult; /* ticks = (ns * tick_mult) >> 32 */

/* QEMU bamboo's rate: its factors fold at compile time, so the usual boot
 * runs no 64-bit division (a libgcc routine on 32-bit PowerPC, and every
 * instruction run for the first time costs its TCG translation). */
#define BAMBOO_TB_HZ 400000000u

void ppc_clock_init(uint64_t tb0, uint32_t hz)
{
    tb_origin = tb0;
    tb_hz = hz;
    if (hz == BAMBOO_TB_HZ) {
        ns_mult = (1000000000ull << 32) / BAMBOO_TB_HZ;
        tick_mult = ((uint64_t)BAMBOO_TB_HZ << 32) / 1000000000u;
    } else {
        ns_mult = (1000000000ull << 32) / hz;
        tick_mult = ((uint64_t)hz << 32) / 1000000000u;
    }
    mtspr(SPR_TCR, 0); /* no decrementer, FIT or watchdog interrupts */
    mtspr(SPR_TSR, 0xffffffffu);
}

uint64_t mlos_hal_cycles(void) { return ppc_timebase(); }

uint64_t mlos_hal_cycles_hz(void) { return tb_hz; }

uint64_t mlos_hal_now_ns(void) { return ppc_mul_shr32(ppc_timebase() - tb_origin, ns_mult); }

void ppc_decrementer_arm_ns(uint64_t ns)
{
    if (ns == 0) {
        mtspr(SPR_TCR, 0);
        mtspr(SPR_TSR, TSR_DIS);
        return;
    }
    uint64_t ticks = ppc_mul_shr32(ns, tick_mult) + 1; /* round up: never wake before the deadline */
    mtspr(SPR_TCR, 0);
    mtspr(SPR_DEC, ticks > DEC_MAX ? DEC_MAX : (uint32_t)ticks);
    mtspr(SPR_TSR, TSR_DIS);
    mtspr(SPR_TCR, TCR_DIE);
}
