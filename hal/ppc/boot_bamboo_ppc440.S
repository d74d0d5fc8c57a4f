/* boot_bamboo_ppc440.S -- entry from QEMU's bamboo loader.
 *
 * QEMU loads the ELF image and enters _start in supervisor mode with
 * translation on through two loader-made TLB entries that map the whole
 * 4 GiB 1:1, MSR[EE] = 0, r1 = a scratch stack at 16 MiB - 8 and
 * r3 = physical address of the flattened device tree (bootargs, memory
 * size, timebase frequency). We:
 *   1. make sure MSR is quiet (EE/CE/DE off), machine checks are taken
 *      (ME on: without it a machine check would checkstop silently) and
 *      the FPU is on (FP: the image is built hard-float, and gcc also
 *      moves 8-byte data through FPRs);
 *   2. zero .bss, on the loader's stack (the stacks are in .noinit, which
 *      needs no zeroing);
 *   3. seed the stack-protector guard (-mstack-protector-guard=global)
 *      from the timebase, its first byte in memory zero so that string
 *      overflows stop at it;
 *   4. clear r2 (TLS) and r13 (small data): we use neither;
 *   5. call ppc_start(fdt, timebase at entry) on the 64 KiB boot stack; it
 *      never returns.
 */
#define BOOT_STACK_SIZE 65536

    .section .text.boot, "ax"
    .globl _start
_start:
1:  mfspr   r29, 269                /* TBU, TBL: entry time for the boot trace */
    mfspr   r30, 268
    mfspr   r0, 269
    cmpw    r0, r29
    bne     1b                      /* TBL wrapped between the reads */
    mr      r31, r3                 /* device tree */
    li      r0, 0x3000              /* MSR[ME] and MSR[FP]: hard-float code */
    mtmsr   r0
    isync

    li      r0, 0
    lis     r4, __bss_start@ha
    addi    r4, r4, __bss_start@l
    lis     r5, __bss_end@ha
    addi    r5, r5, __bss_end@l
    subf    r5, r4, r5
    srwi.   r5, r5, 2               /* .bss is 16-byte aligned and sized */
    beq     2f
    mtctr   r5
    addi    r4, r4, -4
1:  stwu    r0, 4(r4)
    bdnz    1b
2:
    mfspr   r5, 268                 /* TBL */
    lis     r6, 0x9e37
    ori     r6, r6, 0x79b9
    mullw   r5, r5, r6
    rlwinm  r5, r5, 0, 8, 31        /* big-endian: the first byte is the MSB */
    lis     r6, __stack_chk_guard@ha
    stw     r5, __stack_chk_guard@l(r6)

    lis     r1, boot_stack_top@ha
    addi    r1, r1, boot_stack_top@l
    li      r0, 0
    stwu    r0, -16(r1)             /* null back chain ends stack walks */
    li      r2, 0
    li      r13, 0
    mr      r3, r31
    mr      r4, r29
    mr      r5, r30
    bl      ppc_start
3:  b       3b

    .section .noinit, "aw", @nobits /* not zeroed: see the linker script */
    .balign 16
boot_stack:
    .skip BOOT_STACK_SIZE
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
