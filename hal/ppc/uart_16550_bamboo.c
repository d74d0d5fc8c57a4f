/* uart_16550_bamboo.c -- the bamboo board's two 16550 UARTs: console and doorbell.
 *
 * UART0 (0xef600300, first -serial) carries diagnostic text to the master
 * (QEMU stdout). UART1 (0xef600400, second -serial) carries doorbells: each
 * byte is one ring; the value is ignored. UART1's receive interrupt (UIC0
 * input 1) is what wakes the core from its wait state in mlos_hal_wait().
 * Registers are bytes at consecutive addresses (QEMU serial_mm, regshift
 * 0) in the uncached, guarded I/O page mapped by tlb_ppc440.c. FIFOs are
 * on with a receive trigger of one byte so a single doorbell interrupts.
 */
#include <stdint.h>

#include "hal.h"
#include "ppc440.h"
#include "uart_16550.h"

static const struct uart_16550 mmio = {mmio_read8, mmio_write8, 0};

void ppc_uart_init(uintptr_t base, int rx_irq) { uart_16550_init(&mmio, base, rx_irq); }
int ppc_uart_tx_idle(uintptr_t base) { return uart_16550_tx_idle(&mmio, base); }
void ppc_uart_putc(uintptr_t base, uint8_t c) { uart_16550_putc(&mmio, base, c); }
int ppc_uart_drain_rx(uintptr_t base) { return uart_16550_drain_rx(&mmio, base); }

void mlos_hal_console_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ppc_uart_putc(BAMBOO_UART0, (uint8_t)buf[i]);
}

void ppc_console_puts(const char *s)
{
    while (*s)
        ppc_uart_putc(BAMBOO_UART0, (uint8_t)*s++);
}

void ppc_console_hex(uint32_t v)
{
    char s[19];
    uart_16550_hex(s, v, 32);
    ppc_console_puts(s);
}
