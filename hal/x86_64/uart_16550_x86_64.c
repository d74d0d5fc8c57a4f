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
#include "x86_64.h"

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
#define MCR_OUT2 0x08 /* gates the IRQ line on PC hardware */
#define LSR_DATA 0x01
#define LSR_THRE 0x20

/* Bounded wait for transmit room: a stuck host must not hang the shard
 * forever on diagnostic output (the HAL contract allows dropping). */
#define TX_SPIN_LIMIT 1000000u

void x86_uart_init(uint16_t base, int rx_irq)
{
    outb(base + UART_IER, 0);
    outb(base + UART_LCR, LCR_DLAB);
    outb(base + UART_DLL, 1); /* 115200 baud; meaningless under QEMU */
    outb(base + UART_DLM, 0);
    outb(base + UART_LCR, LCR_8N1);
    outb(base + UART_FCR, FCR_ENABLE_CLEAR);
    outb(base + UART_MCR, MCR_DTR_RTS | (rx_irq ? MCR_OUT2 : 0));
    outb(base + UART_IER, rx_irq ? IER_RX_AVAIL : 0);
}

int x86_uart_tx_idle(uint16_t base)
{
    return (inb(base + UART_LSR) & LSR_THRE) != 0;
}

void x86_uart_putc(uint16_t base, uint8_t c)
{
    for (uint32_t i = 0; !x86_uart_tx_idle(base); i++) {
        if (i == TX_SPIN_LIMIT)
            return;
        cpu_relax();
    }
    outb(base + UART_THR, c);
}

int x86_uart_drain_rx(uint16_t base)
{
    int n = 0;

    while (inb(base + UART_LSR) & LSR_DATA) {
        (void)inb(base + UART_RBR);
        n++;
    }
    return n;
}

void mlos_hal_console_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        x86_uart_putc(X86_COM1, (uint8_t)buf[i]);
}

void x86_console_puts(const char *s)
{
    while (*s)
        x86_uart_putc(X86_COM1, (uint8_t)*s++);
}

void x86_console_hex(uint64_t v)
{
    char s[19];

    s[0] = '0';
    s[1] = 'x';
    for (int i = 0; i < 16; i++)
        s[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
    s[18] = '\0';
    x86_console_puts(s);
}
