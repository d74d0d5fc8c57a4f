/* wait_ppc440.c -- doorbells and mlos_hal_wait().
 *
 * A doorbell is one byte on UART1 in either direction. Incoming bytes stay
 * in the UART's receive FIFO until read, which is what makes doorbells
 * latched: mlos_hal_wait() first drains the FIFO and returns 1 if anything
 * was there. Only then does it sleep, with one mtmsr that sets MSR[WE]
 * (wait state) and MSR[EE] (external and decrementer interrupts) together:
 * an interrupt already pending at that moment -- a byte that arrived after
 * the FIFO check keeps the level-triggered UIC input asserted -- is taken
 * at once instead of being slept through (no lost wake-up). The handlers
 * return with WE and EE cleared (vectors_ppc440.S), so everything outside
 * this wait runs with interrupts off.
 */
#include <stdint.h>

#include "hal.h"
#include "ppc440.h"

static int use_interrupts;

void ppc_wait_init(int interrupts) { use_interrupts = interrupts; }
int ppc_wait_interrupts(void) { return use_interrupts; }

void mlos_hal_doorbell_ring(void)
{
    /* If a previous byte is still queued in the UART, the master has not
     * seen it yet and will drain the ring after it does: this ring is
     * coalesced into it. That also keeps a slow master from stalling us. */
    if (!ppc_uart_tx_idle(BAMBOO_UART1))
        return;
    ppc_sync(); /* ring stores before the doorbell byte */
    mmio_write8(BAMBOO_UART1, 1);
}

int mlos_hal_wait(uint64_t deadline_ns)
{
    uint32_t msr = mfmsr() & ~(MSR_EE | MSR_WE);

    ppc_banner();
    for (;;) {
        if (ppc_uart_drain_rx(BAMBOO_UART1)) {
            if (use_interrupts)
                ppc_decrementer_arm_ns(0);
            return 1;
        }
        uint64_t now = mlos_hal_now_ns();
        if (now >= deadline_ns) {
            if (use_interrupts)
                ppc_decrementer_arm_ns(0);
            return 0;
        }
        if (!use_interrupts)
            continue; /* fallback: poll the UART */
        if (deadline_ns != UINT64_MAX)
            ppc_decrementer_arm_ns(deadline_ns - now);
        /* Sleep; an interrupt handler returns here with WE and EE off. */
        __asm__ volatile("mtmsr %0; isync" ::"r"(msr | MSR_WE | MSR_EE) : "memory");
    }
}
