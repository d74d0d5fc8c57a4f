/* uart_16550_x86_64.c -- the two 16550 UARTs: COM1 console, COM2 doorbell.
 *
 * COM1 (0x3f8) carries diagnostic text to the master (QEMU stdout). COM2
 * (0x2f8) carries doorbells: each byte is one ring; the byte value is
 * ignored. COM2's receive interrupt (ISA IRQ 3) is what wakes the CPU from
 * HLT in mlos_hal_wait(). FIFOs are enabled with a receive trigger level of
 * one byte so that a single doorbell raises the interrupt at once.
 */
#include <stdint.h>

#include "hal.h"
#include "uart_16550.h"
#include "x86_64.h"

static uint8_t port_rd(uintptr_t reg) { return inb((uint16_t)reg); }
static void port_wr(uintptr_t reg, uint8_t v) { outb((uint16_t)reg, v); }
static const struct uart_16550 pio = {port_rd, port_wr, cpu_relax};

void x86_uart_init(uint16_t base, int rx_irq) { uart_16550_init(&pio, base, rx_irq); }
int x86_uart_tx_idle(uint16_t base) { return uart_16550_tx_idle(&pio, base); }
void x86_uart_putc(uint16_t base, uint8_t c) { uart_16550_putc(&pio, base, c); }
int x86_uart_drain_rx(uint16_t base) { return uart_16550_drain_rx(&pio, base); }

/* COM1 is set up on first use: most shards print nothing before HELLO. */
static int com1_ready;
static void com1_init(void)
{
    if (!com1_ready) {
        com1_ready = 1;
        x86_uart_init(X86_COM1, 0);
    }
}

void mlos_hal_console_write(const char *buf, size_t len)
{
    com1_init();
    for (size_t i = 0; i < len; i++)
        x86_uart_putc(X86_COM1, (uint8_t)buf[i]);
}

void x86_console_puts(const char *s)
{
    com1_init();
    while (*s)
        x86_uart_putc(X86_COM1, (uint8_t)*s++);
}

void x86_console_hex(uint64_t v)
{
    char s[19];
    uart_16550_hex(s, v, 64);
    x86_console_puts(s);
}
