/* vectors_x86_64.S -- interrupt and exception entry stubs.
 *
 * Exceptions (vectors 0-31): each stub pushes a dummy error code when the
 * CPU does not push one, then the vector number, so every exception reaches
 * x86_exception() (cpu_x86_64.c) with the same frame layout (struct
 * x86_exc_frame): r15 ... rax, vector, error, then the CPU's rip, cs,
 * rflags, rsp, ss. Exceptions are fatal: the handler dumps and exits.
 *
 * Interrupts: interrupts are enabled only while mlos_hal_wait() halts, and
 * while a task runs with its TLB tick (tlb_x86_64.c). Their job is to end
 * the HLT, and for the timer during a task to reload CR3 (the flush QEMU
 * TCG resizes its software TLB at). The handlers therefore just count (for
 * diagnostics), maybe reload CR3, acknowledge the LAPIC and return; no C,
 * no saved state beyond the one scratch register. They run on IST2.
 */

#define LAPIC_EOI 0xFEE000B0

    .text
    .code64

.macro EXC vec
    .balign 16
exc_\vec:
    .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp exc_common
.endm

    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    EXC \v
    .endr

exc_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    andq $-16, %rsp
    call x86_exception
1:  cli
    hlt
    jmp 1b

    .globl x86_irq_doorbell, x86_irq_timer, x86_irq_spurious
    .balign 16
x86_irq_doorbell:
    lock incq x86_irq_count(%rip)
    jmp irq_eoi
    .balign 16
x86_irq_timer:
    lock incq x86_irq_count+8(%rip)
    cmpl $0, x86_tlb_ticking(%rip)
    je irq_eoi
    pushq %rax
    movq %cr3, %rax
    movq %rax, %cr3
    popq %rax
irq_eoi:
    pushq %rax
    movabsq $LAPIC_EOI, %rax
    movl $0, (%rax)
    popq %rax
    iretq
    .balign 16
x86_irq_spurious: /* the LAPIC wants no EOI for its spurious vector */
    lock incq x86_irq_count+16(%rip)
    iretq

    .section .rodata
    .balign 8
    .globl x86_exc_stubs
x86_exc_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exc_\v
    .endr

    .bss
    .balign 8
    .globl x86_irq_count
x86_irq_count:
    .skip 24

    .section .note.GNU-stack, "", @progbits
