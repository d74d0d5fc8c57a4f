/* x86_64.h -- private interfaces of the bare-metal x86_64 HAL.
 *
 * Port and MSR accessors plus the internal entry points each HAL file
 * exports to the others. Nothing here is visible to libos. The HAL runs
 * on one CPU with interrupts disabled except inside mlos_hal_wait().
 */
#ifndef MLOS_HAL_X86_64_H
#define MLOS_HAL_X86_64_H

#include <stddef.h>
#include <stdint.h>

/* ---- port I/O, MSRs, counters ---- */

/* Port I/O clobbers "memory": a doorbell write must not be reordered
 * before the ring stores it announces. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpu_relax(void) { __asm__ volatile("pause"); }

/* Memory-mapped device registers: volatile 32-bit accesses. */
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

/* ---- vectors (must match vectors_x86_64.S) ---- */
#define X86_VEC_DOORBELL 0x23 /* COM2 receive, ISA IRQ 3 through the IOAPIC */
#define X86_VEC_TIMER 0x30    /* LAPIC one-shot timer */
#define X86_VEC_SPURIOUS 0xff /* LAPIC spurious vector */

/* ---- 16550 UARTs (uart_16550_x86_64.c) ---- */
#define X86_COM1 0x3f8 /* console */
#define X86_COM2 0x2f8 /* doorbell */
void x86_uart_init(uint16_t base, int rx_irq); /* COM1 is set up on first output */
void x86_uart_putc(uint16_t base, uint8_t c);
int x86_uart_tx_idle(uint16_t base); /* transmit holding register empty */
int x86_uart_drain_rx(uint16_t base); /* read all pending bytes; return the count */
void x86_console_puts(const char *s);
void x86_console_hex(uint64_t v); /* "0x" + 16 digits, no allocation, no printf */

/* ---- CPU tables (cpu_x86_64.c) ---- */
void x86_cpu_init(void); /* GDT with TSS, IDT, 8259 PIC masked */

/* ---- clock (clock_x86_64.c) ---- */
/* Fix the clock origin at tsc0 and find the TSC rate: mlos.tsc_hz= from
 * the command line, else the PIT, else CPUID, else a 1 GHz guess. */
void x86_clock_init(const char *cmdline, uint64_t tsc0);
uint64_t x86_tsc_hz(void);

/* ---- interrupt controllers (apic_x86_64.c) ---- */
/* LAPIC on, its timer's calibration count started, IOAPIC pin for COM2.
 * Returns 0, or -1 if interrupts cannot be used (waits then poll). */
int x86_apic_init(void);
uint64_t x86_apic_timer_hz(void);
void x86_apic_timer_periodic_ns(uint64_t ns); /* every ns until cancelled (oneshot 0); finishes the calibration as oneshot does */
/* Arm the one-shot timer ns from now (0 cancels). The first arming
 * finishes the timer's calibration (waiting until 1 ms has passed since
 * x86_apic_init if need be). Returns 0, or -1 if the timer cannot be used
 * (it did not count): the caller then polls for its deadline. */
int x86_apic_timer_oneshot_ns(uint64_t ns);
extern volatile uint64_t x86_irq_count[3]; /* doorbell, timer, spurious (vectors_x86_64.S) */

/* ---- boot information (bootinfo_multiboot.c) ---- */
/* Copy what we need out of the Multiboot information (it lives in memory
 * we hand to the allocator later), compute free regions and the window. */
void x86_bootinfo_init(uint32_t magic, uint32_t mbi_phys);

/* ---- waiting (wait_x86_64.c) ---- */
/* Virtual addresses 4 GiB .. 4 GiB + 32 MiB map, read-only, sixteen times
 * over the 2 MiB page at physical 2 MiB (boot_multiboot_x86_64.S): reads
 * there fill the TCG TLB without touching any other guest memory. */
#define X86_TLB_ALIAS_VA 0x100000000ull
#define X86_TLB_ALIAS_BYTES (32ull << 20)
void x86_tlb_init(int irq_ok); /* whether tasks get a TLB refresh tick (tlb_x86_64.c) */
void x86_tlb_tick_resume(void); /* after mlos_hal_wait: the task's TLB tick again, if one runs */
/* What the HAL sets up on the first mlos_hal_wait rather than at boot:
 * nothing before the first HELLO needs interrupts (start_x86_64.c). */
void x86_late_init(void);
/* The interrupt controllers alone (x86_apic_init), once; x86_late_init's
 * first step, called at boot instead when other cores are started (their
 * start IPIs need the LAPIC). Returns 1 if interrupts can be used. */
int x86_irq_init(void);
/* The boot banner (HAL up, TSC rate), once: from x86_late_init, or at exit
 * for a shard that never slept. */
void x86_banner(void);

/* ---- application processors (smp_x86_64.c) ---- */
/* Start the cores mlos.cores=N asks for (needs the LAPIC: interrupts_ok). */
void x86_smp_init(const char *cmdline, int interrupts_ok);

/* ---- linker symbols (link_multiboot_x86_64.ld) ---- */
extern char __image_start[], __image_end[];

#endif
