/* vectors_ppc440.S -- Book E interrupt vectors of the PowerPC 440 HAL.
 *
 * IVPR holds the upper 16 bits of this section's address (the linker
 * script puts it first, 64 KiB aligned) and IVOR0..15 the offsets of the
 * stubs below (ppc440_vectors_init in exception_ppc440.c).
 *
 * Two interrupts are expected and only ever taken inside mlos_hal_wait's
 * wait state (MSR[WE|EE] set by one mtmsr):
 *   4  external input: the doorbell UART's receive line through the UIC;
 *  10  decrementer: the wait's deadline.
 * Their handlers do the minimum and return with MSR[EE] and MSR[WE]
 * cleared in SRR1, so the CPU resumes after the mtmsr with interrupts off
 * and mlos_hal_wait re-checks the UART and the clock. The UART's interrupt
 * is level triggered and stays asserted until the FIFO is drained, so
 * nothing is acknowledged here and nothing can be lost. The decrementer
 * is one-shot: its handler clears TCR[DIE] and TSR[DIS]. Both count
 * themselves in ppc_irq_count (doorbell, timer) for tests and benchmarks.
 *
 * Every other vector is fatal: the stub saves r1 and r3 in SPRG0/1, puts
 * the vector number in r3 and jumps to a save routine that switches to
 * the exception stack (the fault may be a stack overflow), stores all
 * registers in a struct ppc_exc_frame (exception_ppc440.c) and calls
 * ppc_exception(), which prints the dump and exits with status 99.
 */
#define SPRG0 272
#define SPRG1 273
#define DEAR 61
#define ESR 62
#define CSRR0 58
#define CSRR1 59
#define MCSRR0 570
#define MCSRR1 571
#define TSR 336
#define TCR 340

#define EXC_STACK_SIZE 16384
#define FRAME_SIZE 168 /* sizeof(struct ppc_exc_frame) */
#define F(off) (16 + (off))(r1) /* frame sits above a 16-byte call area */

/* A fatal vector: 4 instructions, 16 bytes, as IVORs need. */
.macro FATAL n, kind
    .balign 16
    .globl ppc_vec_\n
ppc_vec_\n:
    mtspr   SPRG0, r1
    mtspr   SPRG1, r3
    li      r3, \n
    b       save_\kind
.endm

/* Clears MSR[EE] (bit 16) and MSR[WE] (bit 13) in r3. */
.macro QUIET_MSR
    rlwinm  r3, r3, 0, 17, 15
    rlwinm  r3, r3, 0, 14, 12
.endm

.macro SAVE_GPRS
    lis     r1, exc_stack_top@ha
    addi    r1, r1, exc_stack_top@l
    addi    r1, r1, -(FRAME_SIZE + 16)
    stw     r0, F(0)
    mfspr   r0, SPRG0
    stw     r0, F(4)
    stw     r2, F(8)
    mfspr   r0, SPRG1
    stw     r0, F(12)
    stmw    r4, F(16)
    stw     r3, F(160)
.endm

    .section .text.vectors, "ax"
    .globl ppc_vectors
ppc_vectors:
    FATAL 0, csrr   /* critical input */
    FATAL 1, mcsrr  /* machine check */
    FATAL 2, srr    /* data storage */
    FATAL 3, srr    /* instruction storage */
    FATAL 5, srr    /* alignment */
    FATAL 6, srr    /* program */
    FATAL 7, srr    /* floating-point unavailable */
    FATAL 8, srr    /* system call */
    FATAL 9, srr    /* auxiliary processor unavailable */
    FATAL 11, srr   /* fixed-interval timer */
    FATAL 12, csrr  /* watchdog */
    FATAL 13, srr   /* data TLB miss */
    FATAL 14, srr   /* instruction TLB miss */
    FATAL 15, csrr  /* debug */

    .balign 16
    .globl ppc_vec_4
ppc_vec_4: /* external input: the doorbell */
    mtspr   SPRG0, r3
    mtspr   SPRG1, r4
    lis     r4, ppc_irq_count@ha
    lwz     r3, ppc_irq_count@l(r4)
    addi    r3, r3, 1
    stw     r3, ppc_irq_count@l(r4)
    mfsrr1  r3
    QUIET_MSR
    mtsrr1  r3
    mfspr   r4, SPRG1
    mfspr   r3, SPRG0
    rfi

    .balign 16
    .globl ppc_vec_10
ppc_vec_10: /* decrementer: the deadline */
    mtspr   SPRG0, r3
    mtspr   SPRG1, r4
    mfspr   r3, TCR
    rlwinm  r3, r3, 0, 6, 4         /* TCR[DIE] (bit 5) off: one-shot */
    mtspr   TCR, r3
    lis     r3, 0x0800              /* TSR[DIS]: write 1 to clear */
    mtspr   TSR, r3
    lis     r4, ppc_irq_count@ha
    addi    r4, r4, ppc_irq_count@l
    lwz     r3, 4(r4)
    addi    r3, r3, 1
    stw     r3, 4(r4)
    mfsrr1  r3
    QUIET_MSR
    mtsrr1  r3
    mfspr   r4, SPRG1
    mfspr   r3, SPRG0
    rfi

save_srr:
    SAVE_GPRS
    mfsrr0  r4
    mfsrr1  r5
    b       save_rest
save_csrr:
    SAVE_GPRS
    mfspr   r4, CSRR0
    mfspr   r5, CSRR1
    b       save_rest
save_mcsrr:
    SAVE_GPRS
    mfspr   r4, MCSRR0
    mfspr   r5, MCSRR1
save_rest:
    stw     r4, F(128)
    stw     r5, F(132)
    mflr    r0
    stw     r0, F(136)
    mfcr    r0
    stw     r0, F(140)
    mfctr   r0
    stw     r0, F(144)
    mfxer   r0
    stw     r0, F(148)
    mfspr   r0, DEAR
    stw     r0, F(152)
    mfspr   r0, ESR
    stw     r0, F(156)
    li      r0, 0
    stw     r0, 0(r1)               /* null back chain */
    addi    r3, r1, 16
    bl      ppc_exception
4:  b       4b

    .section .bss, "aw", @nobits
    .balign 16
    .globl ppc_irq_count
ppc_irq_count:
    .skip 8                         /* u32 doorbell, u32 timer */

    .section .noinit, "aw", @nobits /* not zeroed: see the linker script */
    .balign 16
exc_stack:
    .skip EXC_STACK_SIZE
exc_stack_top:

    .section .note.GNU-stack, "", @progbits
