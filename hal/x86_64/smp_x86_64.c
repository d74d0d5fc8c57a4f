/* smp_x86_64.c -- application processors: start, per-core tables, and the
 * cores part of hal.h (mlos_hal_core_*).
 *
 * mlos.cores=N on the command line asks for N cores (the master gives
 * QEMU -smp N). The boot CPU copies the real-mode trampoline
 * (ap_boot_x86_64.S) to TRAMP, below 1 MiB in memory the allocator never
 * gets, and broadcasts INIT, then two STARTUP IPIs, to all other CPUs.
 * Each AP that arrives takes a core number, loads its own GDT (the boot
 * GDT's segments plus its own TSS, since a busy TSS cannot be shared) and
 * the shared IDT, enables its LAPIC, and waits for work in its mailbox:
 * spinning briefly, then HLT until the wake-up IPI. Cores that do not
 * arrive within AP_WAIT_NS are simply not there: the count says how many
 * did.
 *
 * Mailbox protocol (one poster per core: the library OS claims a core
 * before it posts): the poster writes arg, then fn (release); the core
 * takes fn (acquire), clears it, and runs fn(arg). So a new function can
 * be posted as soon as the previous one has been taken. The sleeping flag
 * and the mailbox are both seq-cst: a core that announces it sleeps and
 * then finds the mailbox empty, and a poster that fills the mailbox and
 * then finds the core awake, cannot both miss each other; the IPI of a
 * poster that saw "sleeping" is latched by the LAPIC and ends the HLT even
 * if it arrives before it ("sti; hlt": the interrupt shadow).
 */
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mlos_bootargs.h"
#include "mlos_error.h"
#include "x86_64.h"

#define TRAMP 0x8000u       /* must match ap_boot_x86_64.S; SIPI vector 0x08 */
#define MAX_CORES 8         /* must match ap_boot_x86_64.S */
#define AP_STACK 32768
#define AP_IST_STACK 8192
#define AP_WAIT_NS 200000000ull /* for all APs to arrive (TCG on a busy host is slow) */
#define SPIN_NS 50000ull        /* an idle core watches its mailbox this long before HLT */
#define VEC_WAKE 0x40

#define LAPIC 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define SVR_ENABLE (1u << 8)
#define LVT_MASKED (1u << 16)
#define ICR_PENDING (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ALL_BUT_SELF (3u << 18)

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct __attribute__((packed)) desc_ptr {
    uint16_t limit;
    uint64_t base;
};

struct core {
    void (*volatile fn)(void *); /* mailbox: posted, not yet taken */
    void *volatile arg;
    volatile uint32_t sleeping;
    uint32_t apic_id;
    volatile uint32_t up;
} __attribute__((aligned(64)));

extern char x86_ap_trampoline[], x86_ap_trampoline_end[], x86_ap_tramp_cr3[];
extern char x86_ipi_wake[];
extern uint64_t x86_gdt[];

/* Referenced from ap_boot_x86_64.S */
uint64_t x86_ap_stack_top[MAX_CORES];
uint64_t x86_ap_canary;
uint8_t x86_ap_tls[MAX_CORES][64] __attribute__((aligned(64)));
void x86_ap_main(uint32_t core);

/* .noinit: a stack needs no zeroing, and 256 KiB of .bss cleared at every
 * boot would cost single-core shards too. */
static uint8_t ap_stack[MAX_CORES][AP_STACK] __attribute__((aligned(16), section(".noinit")));
static uint8_t ap_ist[MAX_CORES][AP_IST_STACK] __attribute__((aligned(16), section(".noinit"))); /* the same */
static struct tss64 ap_tss[MAX_CORES];
static uint64_t ap_gdt[MAX_CORES][5] __attribute__((aligned(16)));
static struct desc_ptr idtr;
static struct core cores[MAX_CORES];
static unsigned ncores = 1;

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC + reg, v); }

static void icr_send(uint32_t dest, uint32_t lo)
{
    lapic_write(LAPIC_ICR_HI, dest << 24);
    lapic_write(LAPIC_ICR_LO, lo);
    while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING)
        cpu_relax();
}

static void delay_ns(uint64_t ns)
{
    uint64_t t0 = mlos_hal_now_ns();
    while (mlos_hal_now_ns() - t0 < ns)
        cpu_relax();
}

static unsigned self(void)
{
    /* The TLS block says who we are without a LAPIC read (an MMIO exit). */
    uint64_t fs;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(fs));
    if (fs >= (uint64_t)(uintptr_t)x86_ap_tls && fs < (uint64_t)(uintptr_t)(x86_ap_tls + MAX_CORES))
        return (unsigned)((fs - (uint64_t)(uintptr_t)x86_ap_tls) / 64);
    return 0; /* the boot CPU's TLS block lives elsewhere */
}

unsigned mlos_hal_core_count(void) { return ncores; }
unsigned mlos_hal_core_self(void) { return self(); }

int mlos_hal_core_run(unsigned core, void (*fn)(void *), void *arg)
{
    if (ncores == 1)
        return MLOS_ENOTSUP;
    if (core == 0 || core >= ncores || core == self() || !fn)
        return MLOS_EINVAL;
    struct core *c = &cores[core];
    if (__atomic_load_n(&c->fn, __ATOMIC_SEQ_CST))
        return MLOS_EAGAIN;
    c->arg = arg;
    __atomic_store_n(&c->fn, fn, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&c->sleeping, __ATOMIC_SEQ_CST))
        icr_send(c->apic_id, ICR_ASSERT | VEC_WAKE);
    return 0;
}

/* Per-core GDT (boot segments + own TSS), shared IDT, reload CS. */
static void load_tables(uint32_t k)
{
    struct tss64 *t = &ap_tss[k];
    uint64_t base = (uint64_t)(uintptr_t)t, limit = sizeof(*t) - 1;
    struct desc_ptr gdtr = {sizeof(ap_gdt[k]) - 1, (uint64_t)(uintptr_t)ap_gdt[k]};

    t->ist[0] = (uint64_t)(uintptr_t)(ap_ist[k] + AP_IST_STACK);
    t->iomap_base = sizeof(*t);
    ap_gdt[k][0] = 0;
    ap_gdt[k][1] = x86_gdt[1];
    ap_gdt[k][2] = x86_gdt[2];
    ap_gdt[k][3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) | ((limit >> 16 & 0xf) << 48) |
                   ((base >> 24 & 0xff) << 56);
    ap_gdt[k][4] = base >> 32;
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw %w2, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%ss\n\t"
                     "ltr %w3\n\t"
                     "lidt %4"
                     :
                     : "m"(gdtr), "i"(SEL_CODE64), "i"(SEL_DATA), "r"(SEL_TSS), "m"(idtr)
                     : "rax", "memory");
}

_Noreturn void x86_ap_main(uint32_t k)
{
    struct core *c = &cores[k];

    load_tables(k);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_SVR, SVR_ENABLE | X86_VEC_SPURIOUS);
    c->apic_id = lapic_read(LAPIC_ID) >> 24;
    __atomic_store_n(&c->up, 1, __ATOMIC_RELEASE);
    for (;;) {
        void (*fn)(void *);
        uint64_t until = mlos_hal_now_ns() + SPIN_NS;
        while (!(fn = __atomic_load_n(&c->fn, __ATOMIC_SEQ_CST))) {
            if (mlos_hal_now_ns() < until) {
                cpu_relax();
                continue;
            }
            __atomic_store_n(&c->sleeping, 1, __ATOMIC_SEQ_CST);
            if (!__atomic_load_n(&c->fn, __ATOMIC_SEQ_CST))
                __asm__ volatile("sti; hlt; cli" ::: "memory");
            __atomic_store_n(&c->sleeping, 0, __ATOMIC_SEQ_CST);
        }
        void *arg = c->arg;
        __atomic_store_n(&c->fn, NULL, __ATOMIC_SEQ_CST); /* taken: the next may be posted */
        fn(arg);
    }
}

/* An interrupt gate in the shared IDT (the boot CPU's, found with SIDT). */
static void set_gate(int vec, uint64_t handler)
{
    uint64_t *g = (uint64_t *)(uintptr_t)(idtr.base + (uint64_t)vec * 16);
    g[0] = (handler & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | (0x8EULL << 40) | ((handler >> 16 & 0xffff) << 48);
    g[1] = handler >> 32;
}

void x86_smp_init(const char *cmdline, int interrupts_ok)
{
    uint64_t want = 1, cr3;
    unsigned arrived = 0;

    if (mlos_bootarg_u64(cmdline, "mlos.cores", 0, &want) != 0 || want <= 1)
        return;
    if (!interrupts_ok) { /* no LAPIC to send IPIs with */
        x86_console_puts("mlos: no LAPIC: running on one core\n");
        return;
    }
    if (want > MAX_CORES)
        want = MAX_CORES;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    set_gate(VEC_WAKE, (uint64_t)(uintptr_t)x86_ipi_wake);
    __asm__ volatile("mov %%fs:0x28, %0" : "=r"(x86_ap_canary));
    for (unsigned k = 1; k < MAX_CORES; k++)
        x86_ap_stack_top[k] = (uint64_t)(uintptr_t)(ap_stack[k] + AP_STACK);
    memcpy((void *)(uintptr_t)TRAMP, x86_ap_trampoline, (size_t)(x86_ap_trampoline_end - x86_ap_trampoline));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    *(volatile uint32_t *)(uintptr_t)(TRAMP + (uintptr_t)(x86_ap_tramp_cr3 - x86_ap_trampoline)) = (uint32_t)cr3;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    /* The guest always runs under QEMU or KVM, whose INIT and STARTUP take
     * effect at once: the 10 ms the MP specification wants for hardware
     * after INIT would only slow every multi-core boot down. */
    icr_send(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
    delay_ns(200000);
    for (int i = 0; i < 2; i++) {
        icr_send(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | (TRAMP >> 12));
        delay_ns(200000);
    }
    uint64_t t0 = mlos_hal_now_ns();
    for (;;) {
        arrived = 0;
        for (unsigned k = 1; k < want; k++)
            arrived += __atomic_load_n(&cores[k].up, __ATOMIC_ACQUIRE);
        if (arrived == want - 1 || mlos_hal_now_ns() - t0 > AP_WAIT_NS)
            break;
        cpu_relax();
    }
    /* Only a prefix of core numbers counts: a straggler beyond it (slower
     * than the wait) stays idle, never posted to. */
    unsigned n = 1;
    while (n < want && __atomic_load_n(&cores[n].up, __ATOMIC_ACQUIRE))
        n++;
    ncores = n;
    if (n < want) {
        x86_console_puts("mlos: fewer cores came up than asked for: ");
        x86_console_hex(n);
        x86_console_puts("\n");
    }
}
