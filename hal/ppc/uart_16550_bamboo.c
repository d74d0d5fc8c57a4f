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

#define UART_RBR 0 /* receive buffer (read) */
#define UART_THR 0 /* transmit holding (write) */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0 /* with LCR.DLAB */
#define UART_DLM 1

#define IER_RX_AVAIL 0x01
#define FCR_ENABLE_CLEAR 0x07 /* enable, clear RX and TX FIFOs, trigger 1 byte */
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define MCR_DTR_RTS 0x03
#define MCR_OUT2 0x08
#define LSR_DATA 0x01
#define LSR_THRE 0x20

/* Bounded wait for transmit room: a stuck host must not hang the shard
 * forever on diagnostic output (the HAL contract allows dropping). */
#define TX_SPIN_LIMIT 1000000u

void ppc_uart_init(uintptr_t base, int rx_irq)
{
    mmio_write8(base + UART_IER, 0);
    mmio_write8(base + UART_LCR, LCR_DLAB);
    mmio_write8(base + UART_DLL, 1); /* meaningless under QEMU */
    mmio_write8(base + UART_DLM, 0);
    mmio_write8(base + UART_LCR, LCR_8N1);
    mmio_write8(base + UART_FCR, FCR_ENABLE_CLEAR);
    mmio_write8(base + UART_MCR, MCR_DTR_RTS | (rx_irq ? MCR_OUT2 : 0));
    mmio_write8(base + UART_IER, rx_irq ? IER_RX_AVAIL : 0);
}

int ppc_uart_tx_idle(uintptr_t base) { return (mmio_read8(base + UART_LSR) & LSR_THRE) != 0; }

void ppc_uart_putc(uintptr_t base, uint8_t c)
{
    for (uint32_t i = 0; !ppc_uart_tx_idle(base); i++)
        if (i == TX_SPIN_LIMIT)
            return;
    mmio_write8(base + UART_THR, c);
}

int ppc_uart_drain_rx(uintptr_t base)
{
    int n = 0;

    while (mmio_read8(base + UART_LSR) & LSR_DATA) {
        (void)mmio_read8(base + UART_RBR);
        n++;
    }
    return n;
}

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
    char s[11];

    s[0] = '0';
    s[1] = 'x';
    for (int i = 0; i < 8; i++)
        s[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xf];
    s[10] = '\0';
    ppc_console_puts(s);
}
