/* ppc440.h -- private interfaces of the bare-metal PowerPC 440 HAL.
 *
 * SPR/DCR/MSR accessors for a Book E PowerPC 440 core (QEMU "bamboo",
 * CPU 440EPb) and the internal entry points each HAL file exports to the
 * others. Nothing here is visible to libos. The HAL runs on one CPU with
 * external and decrementer interrupts disabled (MSR[EE] = 0) except inside
 * mlos_hal_wait()'s wait state.
 */
#ifndef MLOS_HAL_PPC440_H
#define MLOS_HAL_PPC440_H

#include <stddef.h>
#include <stdint.h>

/* ---- SPR numbers (Book E / PPC440) ---- */
#define SPR_PID 48
#define SPR_DEC 22
#define SPR_SRR0 26
#define SPR_SRR1 27
#define SPR_DEAR 61
#define SPR_ESR 62
#define SPR_IVPR 63
#define SPR_SPRG0 272
#define SPR_TBL_R 268 /* mfspr reads */
#define SPR_TBU_R 269
#define SPR_TBL_W 284 /* mtspr writes */
#define SPR_TBU_W 285
#define SPR_PIR 286
#define SPR_PVR 287
#define SPR_DBCR0 308
#define SPR_TSR 336
#define SPR_TCR 340
#define SPR_IVOR0 400 /* IVOR0..IVOR15 are 400..415 */
#define SPR_MCSRR0 570
#define SPR_MCSRR1 571
#define SPR_CSRR0 58
#define SPR_CSRR1 59
#define SPR_MMUCR 946

/* ---- MSR bits ---- */
#define MSR_WE 0x00040000u /* wait state enable */
#define MSR_CE 0x00020000u
#define MSR_EE 0x00008000u
#define MSR_PR 0x00004000u
#define MSR_FP 0x00002000u
#define MSR_ME 0x00001000u
#define MSR_DE 0x00000200u
#define MSR_IS 0x00000020u
#define MSR_DS 0x00000010u

/* ---- timer registers ---- */
#define TCR_DIE 0x04000000u /* decrementer interrupt enable */
#define TSR_DIS 0x08000000u /* decrementer interrupt status (write 1 to clear) */
#define DBCR0_RST_SYSTEM 0x30000000u

#define ppc_str(x) #x
#define ppc_xstr(x) ppc_str(x)

#define mfspr(n)                                                                                                   \
    ({                                                                                                             \
        uint32_t v_;                                                                                               \
        __asm__ volatile("mfspr %0, " ppc_xstr(n) : "=r"(v_));                                                     \
        v_;                                                                                                        \
    })
#define mtspr(n, v) __asm__ volatile("mtspr " ppc_xstr(n) ", %0" ::"r"((uint32_t)(v)) : "memory")
#define mfdcr(n)                                                                                                   \
    ({                                                                                                             \
        uint32_t v_;                                                                                               \
        __asm__ volatile("mfdcr %0, " ppc_xstr(n) : "=r"(v_));                                                     \
        v_;                                                                                                        \
    })
#define mtdcr(n, v) __asm__ volatile("mtdcr " ppc_xstr(n) ", %0" ::"r"((uint32_t)(v)) : "memory")

static inline uint32_t mfmsr(void)
{
    uint32_t v;
    __asm__ volatile("mfmsr %0" : "=r"(v));
    return v;
}
static inline void mtmsr(uint32_t v) { __asm__ volatile("mtmsr %0; isync" ::"r"(v) : "memory"); }

/* Full barrier: orders stores to RAM (ring indices) before an MMIO store
 * that announces them (the doorbell). */
static inline void ppc_sync(void) { __asm__ volatile("msync" ::: "memory"); }

/* 64-bit timebase, consistent across the TBL carry into TBU. */
static inline uint64_t ppc_timebase(void)
{
    uint32_t hi, lo, hi2;
    do {
        hi = mfspr(SPR_TBU_R);
        lo = mfspr(SPR_TBL_R);
        hi2 = mfspr(SPR_TBU_R);
    } while (hi != hi2);
    return (uint64_t)hi << 32 | lo;
}

/* floor(a * m / 2^32) for 64-bit a and m, without a 128-bit type (32-bit
 * PowerPC has none): the clock's ticks <-> ns conversions. */
static inline uint64_t ppc_mul_shr32(uint64_t a, uint64_t m)
{
    uint32_t ah = (uint32_t)(a >> 32), al = (uint32_t)a, mh = (uint32_t)(m >> 32), ml = (uint32_t)m;
    return a * mh + (uint64_t)ah * ml + ((uint64_t)al * ml >> 32);
}

/* Memory-mapped device registers (uncached, guarded TLB entry). */
static inline uint8_t mmio_read8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline void mmio_write8(uintptr_t a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
    __asm__ volatile("mbar" ::: "memory");
}

/* ---- bamboo board (QEMU hw/ppc/ppc440_bamboo.c) ---- */
#define BAMBOO_UART0 0xef600300u /* console: -serial #1, UIC0 input 0 */
#define BAMBOO_UART1 0xef600400u /* doorbell: -serial #2, UIC0 input 1 */
#define BAMBOO_IO_PAGE 0xef600000u
#define BAMBOO_UIC_DOORBELL_IRQ 1

/* ---- TLB (tlb_ppc440.c) ---- */
/* Replace the loader's two 2 GiB mappings with: RAM [1 MiB, ram_top) in
 * 1 MiB / 16 MiB / 256 MiB pages (so NULL and wild pointers fault), and the
 * board's I/O page uncached and guarded. Returns 0, or -1 if the TLB is too
 * small for ram_top (then RAM above the returned limit stays unmapped). */
int ppc440_tlb_init(uint64_t ram_top, uint64_t *mapped_top);
#define PPC440_LOW_UNMAPPED 0x100000u /* below this nothing is mapped */
/* TLB word 2 attributes: caching-inhibited, guarded, supervisor rights. */
#define TLB2_I 0x400u
#define TLB2_G 0x100u
#define TLB2_SX_SW_SR 0x007u
#define TLB2_SW_SR 0x003u
/* Map [base, top) 1:1 with attrib in the next free slots, in whole MiB
 * (largest pages first). *mapped_top: where the mapping ends. 0, or -1 if
 * the TLB filled up first. */
int ppc440_tlb_map(uint32_t base, uint32_t top, uint32_t attrib, uint32_t *mapped_top);
/* One 4 KiB device page, uncached and guarded, in the next free slot; and
 * drop the last entry mapped (to take such a page away again). */
void ppc440_tlb_map_io(uint32_t page);
void ppc440_tlb_unmap_last(void);

/* ---- 16550 UARTs (uart_16550_bamboo.c) ---- */
void ppc_uart_init(uintptr_t base, int rx_irq);
void ppc_uart_putc(uintptr_t base, uint8_t c);
int ppc_uart_tx_idle(uintptr_t base);
int ppc_uart_drain_rx(uintptr_t base); /* read all pending bytes; return the count */
void ppc_console_puts(const char *s);
void ppc_console_hex(uint32_t v); /* "0x" + 8 digits, no allocation, no printf */

/* ---- interrupt controller (uic_ppc440.c) ---- */
/* Route UIC0 input irq (level, non-critical) to the core's external input.
 * Returns 0, or -1 if the UIC does not answer (waits then poll). */
int ppc440_uic_init(int irq);

/* ---- clock and decrementer (clock_ppc440.c) ---- */
void ppc_clock_init(uint64_t tb0, uint32_t tb_hz);
void ppc_decrementer_arm_ns(uint64_t ns); /* one-shot; 0 cancels */

/* ---- exceptions (vectors_ppc440.S, exception_ppc440.c) ---- */
void ppc440_vectors_init(void); /* IVPR/IVORs; every vector but EE/DEC is fatal */
extern volatile uint32_t ppc_irq_count[2]; /* doorbell, decrementer interrupts taken */

/* ---- boot information (bootinfo_bamboo.c) ---- */
/* Copy what we need out of the device tree the loader left at fdt (it
 * lives in RAM we hand to the allocator later), map RAM, compute free
 * regions and the window. */
void ppc_bootinfo_init(const void *fdt);
uint32_t ppc_bootinfo_tb_hz(void);

/* ---- group memory (ivshmem_bamboo.c) ---- */
/* If the parameters name a group memory (mlos.group=0x<gpa>,0x<size>),
 * set up the ivshmem PCI device that carries it at gpa and map it. */
void ppc_ivshmem_group_init(void);

/* ---- waiting (wait_ppc440.c) ---- */
void ppc_wait_init(int use_interrupts);
int ppc_wait_interrupts(void); /* what ppc_wait_init was told */
void ppc_banner(void);         /* "HAL up" line, once (start_bamboo_ppc440.c) */


/* ---- linker symbols (link_bamboo_ppc440.ld) ---- */
extern char __image_start[], __image_end[];

#endif
