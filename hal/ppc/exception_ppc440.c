/* exception_ppc440.c -- interrupt vector setup and the fatal exception report.
 *
 * Every interrupt except the doorbell (external input) and the deadline
 * (decrementer) is fatal: ppc_exception() prints the vector, the save/
 * restore pair (SRR0/SRR1, or CSRR/MCSRR for critical and machine-check
 * classes), DEAR, ESR, LR, CR, CTR, XER and all 32 GPRs on the console and
 * exits with status 99 (MLOS_SHARD_EXIT_CRASH). The dump avoids snprintf
 * and the heap so it works even when those are what broke.
 */
#include <stdint.h>

#include "hal.h"
#include "ppc440.h"
#include "mlos_exit.h"

/* Layout stored by vectors_ppc440.S (offsets are hard-coded there). */
struct ppc_exc_frame {
    uint32_t gpr[32];
    uint32_t pc, msr; /* SRR0/SRR1, CSRR0/CSRR1 or MCSRR0/MCSRR1 */
    uint32_t lr, cr, ctr, xer;
    uint32_t dear, esr;
    uint32_t vector;
    uint32_t pad;
};
_Static_assert(sizeof(struct ppc_exc_frame) == 168, "vectors_ppc440.S FRAME_SIZE");

extern char ppc_vectors[];
extern char ppc_vec_0[], ppc_vec_1[], ppc_vec_2[], ppc_vec_3[], ppc_vec_4[], ppc_vec_5[], ppc_vec_6[],
    ppc_vec_7[], ppc_vec_8[], ppc_vec_9[], ppc_vec_10[], ppc_vec_11[], ppc_vec_12[], ppc_vec_13[],
    ppc_vec_14[], ppc_vec_15[];

/* mtspr needs the SPR number as an immediate: one statement per IVOR. */
#define SET_IVOR(n) mtspr(SPR_IVOR0 + n, (uintptr_t)ppc_vec_##n - (uintptr_t)ppc_vectors)

void ppc440_vectors_init(void)
{
    mtspr(SPR_IVPR, (uintptr_t)ppc_vectors & 0xffff0000u);
    SET_IVOR(0);
    SET_IVOR(1);
    SET_IVOR(2);
    SET_IVOR(3);
    SET_IVOR(4);
    SET_IVOR(5);
    SET_IVOR(6);
    SET_IVOR(7);
    SET_IVOR(8);
    SET_IVOR(9);
    SET_IVOR(10);
    SET_IVOR(11);
    SET_IVOR(12);
    SET_IVOR(13);
    SET_IVOR(14);
    SET_IVOR(15);
    __asm__ volatile("isync" ::: "memory");
}

static const char *const names[16] = {
    "critical input", "machine check", "data storage", "instruction storage", "external input",
    "alignment", "program", "floating-point unavailable", "system call", "auxiliary processor unavailable",
    "decrementer", "fixed-interval timer", "watchdog timer", "data TLB miss", "instruction TLB miss", "debug",
};

static void reg(const char *name, uint32_t v, int newline)
{
    ppc_console_puts(name);
    ppc_console_puts("=");
    ppc_console_hex(v);
    ppc_console_puts(newline ? "\n" : " ");
}

static int in_exception;

_Noreturn void ppc_exception(struct ppc_exc_frame *f);
_Noreturn void ppc_exception(struct ppc_exc_frame *f)
{
    uint32_t v = f->vector;
    char num[4] = { (char)('0' + v / 10 % 10), (char)('0' + v % 10), '\0', '\0' };
    static const char *const gname[32] = {
        "r0 ", "r1 ", "r2 ", "r3 ", "r4 ", "r5 ", "r6 ", "r7 ", "r8 ", "r9 ", "r10", "r11", "r12", "r13", "r14", "r15",
        "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31",
    };

    if (in_exception++) { /* faulted while reporting: just leave */
        ppc_console_puts("\nmlos: exception while reporting an exception\n");
        mlos_hal_exit(MLOS_SHARD_EXIT_CRASH);
    }
    ppc_console_puts("\nmlos: CPU exception vector ");
    ppc_console_puts(num);
    ppc_console_puts(" (");
    ppc_console_puts(v < 16 ? names[v] : "?");
    ppc_console_puts(")\n");
    reg(v == 0 || v == 12 || v == 15 ? "csrr0" : v == 1 ? "mcsrr0" : "srr0", f->pc, 0);
    reg(v == 0 || v == 12 || v == 15 ? "csrr1" : v == 1 ? "mcsrr1" : "srr1", f->msr, 0);
    reg("dear", f->dear, 0);
    reg("esr", f->esr, 1);
    reg("lr ", f->lr, 0);
    reg("cr ", f->cr, 0);
    reg("ctr", f->ctr, 0);
    reg("xer", f->xer, 1);
    for (int i = 0; i < 32; i++)
        reg(gname[i], f->gpr[i], i % 4 == 3);
    mlos_hal_exit(MLOS_SHARD_EXIT_CRASH);
}
