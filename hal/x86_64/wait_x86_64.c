/* wait_x86_64.c -- doorbells and mlos_hal_wait().
 *
 * A doorbell is one byte on COM2 in either direction. Incoming bytes stay
 * in the UART's receive FIFO until read, which is what makes doorbells
 * latched: mlos_hal_wait() first drains the FIFO and returns 1 if anything
 * was there. Only then does it sleep, and it does so with "sti; hlt": the
 * one-instruction interrupt shadow of STI guarantees that an interrupt
 * that became pending after the FIFO check still ends the HLT instead of
 * being taken just before it (the classic lost wake-up).
 *
 * Interrupts are enabled only between that STI and the CLI after HLT, and
 * while a task runs with its TLB tick (tlb_x86_64.c); their handlers run on
 * a stack of their own (IST2), so code built with a red zone (prebuilt
 * libraries) is never overwritten.
 */
#include <stdint.h>
#include <stdio.h>

#include "hal.h"
#include "x86_64.h"

static int use_interrupts, irq_done, late_done;

int x86_irq_init(void)
{
    if (!irq_done) {
        irq_done = 1;
        use_interrupts = x86_apic_init() == 0;
    }
    return use_interrupts;
}

/* The interrupt controllers and the boot banner wait until the shard first
 * sleeps (after its HELLO): each costs translation time under TCG that
 * nothing before HELLO needs. The COM2 receive interrupt is already
 * enabled at the UART; a doorbell that came earlier sits in its FIFO, and
 * the drain below sees it before the first HLT. */
void x86_late_init(void)
{
    if (late_done)
        return;
    late_done = 1;
    x86_tlb_init(x86_irq_init()); /* the IRQs: done already at boot for a multi-core shard */
    x86_banner();
}

void x86_banner(void)
{
    static int done;
    char line[160];

    if (done)
        return;
    done = 1;
    snprintf(line, sizeof(line), "mlos: x86_64 HAL up: tsc %llu Hz%s\n", (unsigned long long)x86_tsc_hz(),
             !irq_done ? "" : use_interrupts ? ", interrupts on" : ", NO interrupts: waits poll COM2");
    x86_console_puts(line);
}

void mlos_hal_doorbell_ring(void)
{
    /* If a previous byte is still queued in the UART, the master has not
     * seen it yet and will drain the ring after it does: this ring is
     * coalesced into it. That also keeps a slow master from stalling us. */
    if (!x86_uart_tx_idle(X86_COM2))
        return;
    outb(X86_COM2, 1);
}

int mlos_hal_wait(uint64_t deadline_ns)
{
    x86_late_init();
    /* A task running with its TLB tick (tlb_x86_64.c) has interrupts on:
     * off again, or one taken between the FIFO check and the HLT would be
     * a lost wake-up. */
    __asm__ volatile("cli" ::: "memory");
    for (;;) {
        if (x86_uart_drain_rx(X86_COM2)) {
            if (use_interrupts)
                x86_apic_timer_oneshot_ns(0);
            x86_tlb_tick_resume();
            return 1;
        }
        uint64_t now = mlos_hal_now_ns();
        if (now >= deadline_ns) {
            if (use_interrupts)
                x86_apic_timer_oneshot_ns(0);
            x86_tlb_tick_resume();
            return 0;
        }
        if (!use_interrupts || (deadline_ns != UINT64_MAX && x86_apic_timer_oneshot_ns(deadline_ns - now) < 0)) {
            cpu_relax(); /* fallback: poll the UART (and the clock) */
            continue;
        }
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
}
