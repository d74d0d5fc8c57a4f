/* uic_ppc440.c -- the 440's Universal Interrupt Controller (UIC0).
 *
 * The UIC is reached through DCRs (QEMU's ppc-uic at DCR base 0xc0). Input
 * n is bit (31 - n) of every register. We enable one input, the doorbell
 * UART's receive interrupt: level triggered (TR = 0), active high, routed
 * to the core's non-critical external input (CR = 0). Level triggering is
 * what makes doorbells latched: the input stays asserted while the UART
 * FIFO holds a byte, so the status bit cannot be lost between the FIFO
 * check and the wait. Everything else stays masked.
 */
#include <stdint.h>

#include "ppc440.h"

#define UIC0_SR 0xc0 /* status, write 1 to clear (edge inputs) */
#define UIC0_ER 0xc2 /* enable */
#define UIC0_CR 0xc3 /* 1 = critical */
#define UIC0_PR 0xc4 /* polarity, 1 = active high / rising */
#define UIC0_TR 0xc5 /* trigger, 1 = edge */

#define BIT(n) (0x80000000u >> (n))

int ppc440_uic_init(int irq)
{
    mtdcr(UIC0_ER, 0);
    mtdcr(UIC0_CR, 0);
    mtdcr(UIC0_TR, 0);
    mtdcr(UIC0_PR, 0xffffffffu);
    mtdcr(UIC0_SR, 0xffffffffu);
    mtdcr(UIC0_ER, BIT(irq));
    return mfdcr(UIC0_ER) == BIT(irq) ? 0 : -1;
}
