/* The emptiest Multiboot kernel: exits through isa-debug-exit at once.
 * bench_skeleton boots it to measure QEMU's own start+boot+exit cost, the
 * floor under an mlos cold spawn. */
    .section .multiboot, "a"
    .align 4
    .long 0x1BADB002                /* magic */
    .long 0x00000000                /* flags: nothing needed */
    .long -(0x1BADB002 + 0x00000000)

    .text
    .code32
    .globl _start
_start:
    mov $0xf4, %dx
    xor %eax, %eax                  /* status 0: QEMU exits with 1 */
    out %eax, %dx
1:  hlt
    jmp 1b
