/* boot_multiboot_x86_64.S -- Multiboot v1 entry and switch to long mode.
 *
 * QEMU's -kernel loader (an ELF32 image, see shards/x86_64/meson.build)
 * enters _start in 32-bit protected mode with paging off, EAX = 0x2BADB002
 * and EBX = physical address of the Multiboot information. We:
 *   1. load CR3 with static page tables identity-mapping the first 4 GiB in
 *      2 MiB pages (IOAPIC and LAPIC pages uncached), enable PAE, EFER.LME
 *      and paging, and far-jump into a 64-bit code segment;
 *   2. zero .bss (TSS and IDT live there; the stacks are in .noinit, which
 *      needs no zeroing);
 *   3. enable SSE (gcc and libprotobuf-c.a may use it) and point FS at a
 *      small TLS block whose word at %fs:0x28 is the stack-protector canary
 *      (libprotobuf-c.a was built with -fstack-protector);
 *   4. call x86_start(magic, mbi, tsc at entry) on the 64 KiB boot stack; it
 *      never returns.
 * Everything that can be done in C is done in C: this file only does what
 * must happen before C code can run.
 */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-align modules, bit 1: give memory map */

#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080 /* 2 MiB page in a page directory */

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

#define SEL_CODE64 0x08
#define SEL_DATA 0x10

#define BOOT_STACK_SIZE 65536

/* Must lie within the first 8 KiB of the file: the linker script puts it
 * first. */
    .section .multiboot, "a"
    .balign 4
multiboot_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, %edi /* Multiboot magic, checked in C */
    movl %ebx, %esi /* Multiboot info, physical == virtual */
    rdtsc           /* entry time for the boot trace: EBX:EBP survive until C */
    movl %eax, %ebp
    movl %edx, %ebx

    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    lgdt x86_gdt_ptr
    ljmp $SEL_CODE64, $long_entry

    .code64
long_entry:
    movw $SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    /* Upper halves of registers are undefined after the mode switch:
     * 32-bit moves zero-extend. */
    movl %edi, %r12d
    movl %esi, %r13d
    movl %ebp, %r14d
    movl %ebx, %ebx
    shlq $32, %rbx
    orq %rbx, %r14

    leaq __bss_start(%rip), %rdi
    leaq __bss_end(%rip), %rcx
    subq %rdi, %rcx
    shrq $3, %rcx /* the linker script aligns .bss to 8 */
    xorl %eax, %eax
    rep stosq

    movq %cr0, %rax
    andq $~CR0_EM, %rax
    orq $CR0_MP, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
    movq %rax, %cr4
    fninit

    /* TLS block: %fs:0 points to itself (x86_64 ABI convention), %fs:0x28
     * is the canary. The TSC makes it differ per boot; the low byte is zero
     * so that string overflows stop at it. */
    leaq boot_tls(%rip), %rbx
    movq %rbx, (%rbx)
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    movabsq $0x9E3779B97F4A7C15, %rdx
    imulq %rdx, %rax
    xorb %al, %al
    movq %rax, 0x28(%rbx)
    movl $MSR_FS_BASE, %ecx
    movl %ebx, %eax
    movq %rbx, %rdx
    shrq $32, %rdx
    wrmsr

    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    movl %r12d, %edi
    movl %r13d, %esi
    movq %r14, %rdx
    call x86_start
1:  cli
    hlt
    jmp 1b

/* 64-bit GDT. The TSS descriptor (selector 0x18) is filled in by
 * cpu_x86_64.c once the TSS address is known. */
    .section .data.gdt, "aw"
    .balign 16
    .globl x86_gdt
x86_gdt:
    .quad 0                  /* null */
    .quad 0x00AF9A000000FFFF /* 0x08: code, 64-bit, DPL 0 */
    .quad 0x00CF92000000FFFF /* 0x10: data, writable */
    .quad 0, 0               /* 0x18: TSS, 16 bytes */
x86_gdt_end:
    .balign 8
    .globl x86_gdt_ptr
x86_gdt_ptr:
    .word x86_gdt_end - x86_gdt - 1
    .quad x86_gdt /* lgdt in 32-bit mode reads only the low 4 bytes */

/* Identity map of 0..4 GiB: PML4[0] -> PDPT[0..3] -> four page directories
 * of 512 2 MiB pages each. Built by the assembler so that no code runs
 * before paging. The 2 MiB pages holding the IOAPIC (0xFEC00000, PD index
 * 2038) and LAPIC (0xFEE00000, index 2039) are uncached. */
    .section .data.pagetables, "aw"
    .balign 4096
boot_pml4:
    .quad boot_pdpt + (PTE_P | PTE_W)
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x0000 + (PTE_P | PTE_W)
    .quad boot_pd + 0x1000 + (PTE_P | PTE_W)
    .quad boot_pd + 0x2000 + (PTE_P | PTE_W)
    .quad boot_pd + 0x3000 + (PTE_P | PTE_W)
    .quad tlb_alias_pd + PTE_P /* 4 GiB: the TLB alias window (x86_64.h) */
    .fill 507, 8, 0
boot_pd:
    .set page, 0
    .rept 2048
    .if (page == 2038) || (page == 2039)
    .quad (page << 21) | (PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT)
    .else
    .quad (page << 21) | (PTE_P | PTE_W | PTE_PS)
    .endif
    .set page, page + 1
    .endr

/* X86_TLB_ALIAS_VA: sixteen read-only 2 MiB pages, all the one at physical
 * 2 MiB, for filling QEMU's TLB without touching memory (tlb_x86_64.c). */
    .balign 4096
tlb_alias_pd:
    .rept 16
    .quad (1 << 21) | (PTE_P | PTE_PS)
    .endr
    .fill 496, 8, 0

    .section .bss, "aw", @nobits
    .balign 64
boot_tls:
    .skip 64

    .section .noinit, "aw", @nobits /* not zeroed: see the linker script */
    .balign 16
boot_stack:
    .skip BOOT_STACK_SIZE
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
