/* uart_16550.h -- the 16550 UART logic shared by the bare-metal HALs.
 *
 * Every bare-metal shard drives two 16550s (console, doorbell); only how a
 * register is reached differs: x86 port I/O, PowerPC MMIO. A HAL describes
 * its access with a struct uart_16550 of accessors and calls these inline
 * functions, which the compiler specialises per constant accessor pair.
 */
#ifndef MLOS_UART_16550_H
#define MLOS_UART_16550_H

#include <stdint.h>

#define UART_RBR 0 /* receive buffer (read) */
#define UART_THR 0 /* transmit holding (write) */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0 /* with LCR.DLAB */
#define UART_DLM 1

#define UART_IER_RX_AVAIL 0x01
#define UART_FCR_ENABLE_CLEAR 0x07 /* enable, clear RX and TX FIFOs, trigger 1 byte */
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03
#define UART_MCR_DTR_RTS 0x03
#define UART_MCR_OUT2 0x08 /* gates the IRQ line on PC hardware */
#define UART_LSR_DATA 0x01
#define UART_LSR_THRE 0x20

/* Bounded wait for transmit room: a stuck host must not hang the shard
 * forever on diagnostic output (the HAL contract allows dropping). */
#define UART_TX_SPIN_LIMIT 1000000u

struct uart_16550 {
    uint8_t (*rd)(uintptr_t reg);
    void (*wr)(uintptr_t reg, uint8_t v);
    void (*relax)(void); /* spin-wait hint, or NULL */
};

/* 8N1, FIFOs on with a one-byte receive trigger (a single doorbell byte
 * interrupts at once), receive interrupt only if rx_irq. */
static inline void uart_16550_init(const struct uart_16550 *u, uintptr_t base, int rx_irq)
{
    u->wr(base + UART_IER, 0);
    u->wr(base + UART_LCR, UART_LCR_DLAB);
    u->wr(base + UART_DLL, 1); /* 115200 baud; meaningless under QEMU */
    u->wr(base + UART_DLM, 0);
    u->wr(base + UART_LCR, UART_LCR_8N1);
    u->wr(base + UART_FCR, UART_FCR_ENABLE_CLEAR);
    u->wr(base + UART_MCR, UART_MCR_DTR_RTS | (rx_irq ? UART_MCR_OUT2 : 0));
    u->wr(base + UART_IER, rx_irq ? UART_IER_RX_AVAIL : 0);
}

static inline int uart_16550_tx_idle(const struct uart_16550 *u, uintptr_t base)
{
    return (u->rd(base + UART_LSR) & UART_LSR_THRE) != 0;
}

static inline void uart_16550_putc(const struct uart_16550 *u, uintptr_t base, uint8_t c)
{
    for (uint32_t i = 0; !uart_16550_tx_idle(u, base); i++) {
        if (i == UART_TX_SPIN_LIMIT)
            return;
        if (u->relax)
            u->relax();
    }
    u->wr(base + UART_THR, c);
}

/* Read every pending byte; return how many there were. */
static inline int uart_16550_drain_rx(const struct uart_16550 *u, uintptr_t base)
{
    int n = 0;
    while (u->rd(base + UART_LSR) & UART_LSR_DATA) {
        (void)u->rd(base + UART_RBR);
        n++;
    }
    return n;
}

/* "0x" and width/4 hex digits of v into s (width 32 or 64; s holds 19 bytes). */
static inline void uart_16550_hex(char *s, uint64_t v, int width)
{
    s[0] = '0';
    s[1] = 'x';
    for (int i = 0; i < width / 4; i++)
        s[2 + i] = "0123456789abcdef"[(v >> (width - 4 - 4 * i)) & 0xf];
    s[2 + width / 4] = '\0';
}

#endif
