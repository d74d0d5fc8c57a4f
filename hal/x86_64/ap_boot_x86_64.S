/* ap_boot_x86_64.S -- how an application processor gets to C.
 *
 * An AP woken by INIT-SIPI-SIPI starts in 16-bit real mode at
 * vector << 12. smp_x86_64.c copies x86_ap_trampoline there (below 1 MiB,
 * as the SIPI requires) and patches the page-table root into it. The
 * trampoline does only what cannot be done in C: a flat GDT of its own,
 * protected mode, PAE with the boot CPU's page tables, EFER.LME and
 * paging, and a far jump to x86_ap_long in the kernel image. There each
 * AP takes the next core number, its own stack and TLS block (the stack-
 * protector canary at %fs:0x28, the boot CPU's value), turns SSE on and
 * calls x86_ap_main(core). Its per-core GDT, TSS and LAPIC are set up in C.
 *
 * x86_ipi_wake is the handler of the wake-up IPI: it only acknowledges
 * the interrupt; what matters is that the HLT it interrupts returns.
 */

#define TRAMP 0x8000 /* must match smp_x86_64.c */
#define T(sym) (TRAMP + ((sym) - x86_ap_trampoline))

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define MSR_FS_BASE 0xC0000100
#define MAX_CORES 8 /* must match smp_x86_64.c */

    .section .rodata.ap_trampoline, "a"
    .code16
    .globl x86_ap_trampoline, x86_ap_trampoline_end, x86_ap_tramp_cr3
x86_ap_trampoline:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl T(tramp_gdt_ptr)
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $0x08, $T(tramp_pm32)

    .code32
tramp_pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl T(x86_ap_tramp_cr3), %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmpl $0x18, $x86_ap_long

    .balign 8
tramp_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF /* 0x08: code, 32-bit */
    .quad 0x00CF92000000FFFF /* 0x10: data */
    .quad 0x00AF9A000000FFFF /* 0x18: code, 64-bit */
tramp_gdt_ptr:
    .word tramp_gdt_ptr - tramp_gdt - 1
    .long T(tramp_gdt)
x86_ap_tramp_cr3:
    .long 0 /* patched: the boot CPU's CR3 (page tables below 4 GiB) */
x86_ap_trampoline_end:

    .text
    .code64
    .globl x86_ap_long
x86_ap_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movl $1, %eax
    lock xaddl %eax, x86_ap_next(%rip) /* core numbers 1, 2, ... in arrival order */
    cmpl $MAX_CORES, %eax
    jae 9f /* more CPUs than we have stacks for: stay out */
    movl %eax, %r12d

    movq %cr0, %rax
    andq $~CR0_EM, %rax
    orq $CR0_MP, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
    movq %rax, %cr4
    fninit

    /* TLS block of this core: %fs:0 points to itself, %fs:0x28 the canary */
    movl %r12d, %eax
    shlq $6, %rax
    leaq x86_ap_tls(%rip), %rbx
    addq %rax, %rbx
    movq %rbx, (%rbx)
    movq x86_ap_canary(%rip), %rax
    movq %rax, 0x28(%rbx)
    movl $MSR_FS_BASE, %ecx
    movl %ebx, %eax
    movq %rbx, %rdx
    shrq $32, %rdx
    wrmsr

    leaq x86_ap_stack_top(%rip), %rbx
    movq (%rbx,%r12,8), %rsp
    xorl %ebp, %ebp
    movl %r12d, %edi
    call x86_ap_main
9:  cli
    hlt
    jmp 9b

    .globl x86_ipi_wake
x86_ipi_wake:
    pushq %rax
    movabsq $0xFEE000B0, %rax /* LAPIC EOI */
    movl $0, (%rax)
    popq %rax
    iretq

    .data
    .balign 4
    .globl x86_ap_next
x86_ap_next:
    .long 1

    .section .note.GNU-stack, "", @progbits
