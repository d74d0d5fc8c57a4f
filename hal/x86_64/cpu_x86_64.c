/* cpu_x86_64.c -- GDT/TSS, IDT and the fatal exception report.
 *
 * The TSS gives #DF, #NMI and #MC a known-good stack (IST1): a double
 * fault caused by a boot-stack overflow would otherwise triple-fault with
 * no report. The interrupts (doorbell, timer, spurious) get another
 * (IST2): they may arrive while a task runs (its TLB tick, tlb_x86_64.c),
 * and the CPU pushing its frame onto the task's stack would overwrite
 * what code built with a red zone keeps below %rsp. Every exception is
 * fatal: x86_exception() prints a register dump on COM1 and exits with
 * status 99 (MLOS_SHARD_EXIT_CRASH, QEMU exit code
 * 199). The dump avoids snprintf and the heap so it works even when those
 * are what broke.
 */
#include <stdint.h>

#include "hal.h"
#include "mlos_exit.h"
#include "x86_64.h"

#define SEL_CODE64 0x08
#define SEL_TSS 0x18
#define IST_STACK_SIZE 16384

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t ist;
    uint8_t type; /* 0x8E: present, DPL 0, 64-bit interrupt gate (clears IF) */
    uint16_t off_mid;
    uint32_t off_hi;
    uint32_t reserved;
};

/* Layout pushed by vectors_x86_64.S. */
struct x86_exc_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

extern uint64_t x86_gdt[];
extern const uint64_t x86_exc_stubs[32];
extern char x86_irq_doorbell[], x86_irq_timer[], x86_irq_spurious[];

static struct tss64 tss;
static struct idt_gate idt[256] __attribute__((aligned(16)));
/* .noinit: stacks need no zeroing, which would cost boot time under TCG */
static uint8_t ist_stack[IST_STACK_SIZE] __attribute__((aligned(16), section(".noinit")));
static uint8_t irq_stack[IST_STACK_SIZE] __attribute__((aligned(16), section(".noinit")));

/* Out of line: under TCG one copy translates once, an inlined copy per call site each time. */
static __attribute__((noinline)) void set_gate(int vec, uint64_t handler, int ist)
{
    idt[vec] = (struct idt_gate){
        .off_lo = (uint16_t)handler,
        .sel = SEL_CODE64,
        .ist = (uint8_t)ist,
        .type = 0x8E,
        .off_mid = (uint16_t)(handler >> 16),
        .off_hi = (uint32_t)(handler >> 32),
    };
}

static void load_tss(void)
{
    uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

    tss.ist[0] = (uint64_t)(ist_stack + IST_STACK_SIZE);
    tss.ist[1] = (uint64_t)(irq_stack + IST_STACK_SIZE);
    tss.iomap_base = sizeof(tss); /* no I/O bitmap */
    /* 16-byte system descriptor: type 9 (available 64-bit TSS), present. */
    x86_gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                           ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
    x86_gdt[SEL_TSS / 8 + 1] = base >> 32;
    __asm__ volatile("ltr %w0" ::"r"(SEL_TSS));
}

void x86_cpu_init(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = { sizeof(idt) - 1, (uint64_t)idt };

    load_tss();
    for (int v = 0; v < 32; v++)
        set_gate(v, x86_exc_stubs[v], (v == 2 || v == 8 || v == 18) ? 1 : 0);
    set_gate(X86_VEC_DOORBELL, (uint64_t)x86_irq_doorbell, 2);
    set_gate(X86_VEC_TIMER, (uint64_t)x86_irq_timer, 2);
    set_gate(X86_VEC_SPURIOUS, (uint64_t)x86_irq_spurious, 2);
    __asm__ volatile("lidt %0" ::"m"(idtr));

    /* A legacy 8259 may exist (microvm pic=on): mask all its lines so that
     * only the IOAPIC delivers interrupts. Harmless when absent. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

static const char *const exc_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved 31",
};

static void reg(const char *name, uint64_t v, int newline)
{
    x86_console_puts(name);
    x86_console_puts("=");
    x86_console_hex(v);
    x86_console_puts(newline ? "\n" : " ");
}

_Noreturn void x86_exception(struct x86_exc_frame *f);
_Noreturn void x86_exception(struct x86_exc_frame *f)
{
    uint64_t cr2;
    char vec[4] = { (char)('0' + f->vector / 10), (char)('0' + f->vector % 10), '\0', '\0' };

    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    x86_console_puts("\nmlos: CPU exception vector ");
    x86_console_puts(vec);
    x86_console_puts(" (");
    x86_console_puts(f->vector < 32 ? exc_names[f->vector] : "?");
    x86_console_puts(")\n");
    reg("error ", f->error, 0);
    reg("rip", f->rip, 0);
    reg("cs", f->cs, 1);
    reg("rsp   ", f->rsp, 0);
    reg("rflags", f->rflags, 0);
    reg("cr2", cr2, 1);
    reg("rax", f->rax, 0);
    reg("rbx", f->rbx, 0);
    reg("rcx", f->rcx, 0);
    reg("rdx", f->rdx, 1);
    reg("rsi", f->rsi, 0);
    reg("rdi", f->rdi, 0);
    reg("rbp", f->rbp, 0);
    reg("r8 ", f->r8, 1);
    reg("r9 ", f->r9, 0);
    reg("r10", f->r10, 0);
    reg("r11", f->r11, 0);
    reg("r12", f->r12, 1);
    reg("r13", f->r13, 0);
    reg("r14", f->r14, 0);
    reg("r15", f->r15, 1);
    mlos_hal_exit(MLOS_SHARD_EXIT_CRASH);
}
