/* ivshmem_bamboo.c -- the group memory of a PowerPC shard: an ivshmem PCI
 * device on the bamboo board's PCI bus.
 *
 * The bamboo board has no second RAM range to give a guest (its SDRAM
 * controller holds the guest's own memfd), so the master attaches the
 * group memfd as QEMU's "ivshmem-plain" device instead: BAR2 is the shared
 * memory. Nothing has set up PCI before us (no firmware), so we do what a
 * BIOS would, for this one device only:
 *   - find it on bus 0 through the host bridge's configuration registers
 *     (CFGADDR/CFGDATA at PPC440EP_PCI_CONFIG, little-endian: stwbrx/lwbrx);
 *   - put BAR2 where mlos.group says (the master picks an address above
 *     RAM and below the board's I/O; the board's PCI memory space is the
 *     CPU's physical address space 1:1) and BAR0 (registers we never use)
 *     out of the way, since an unprogrammed BAR0 would decode at address 0;
 *   - turn on memory decoding, and map the range read/write, never
 *     executable: a peer writes there.
 * Only when the parameters name a group memory: other shards pay nothing.
 */
#include <stdint.h>

#include "bootmem.h"
#include "hal.h"
#include "mlos_bootargs.h"
#include "ppc440.h"

#define PCI_CONFIG_PAGE 0xeec00000u /* CFGADDR at +0, CFGDATA at +4 */
#define PCI_CFG_ENABLE 0x80000000u
#define IVSHMEM_ID 0x11101af4u      /* device 0x1110, vendor 0x1af4 (Red Hat) */
#define IVSHMEM_REGS_BAR0 0xe0000000u /* unused registers, parked below the I/O space */
#define GROUP_LIMIT 0xe0000000u
#define CFG_ID 0x00
#define CFG_COMMAND 0x04
#define CFG_BAR0 0x10
#define CFG_BAR2 0x18
#define CFG_BAR3 0x1c
#define CMD_MEMORY 0x0002u

static void st_le32(uint32_t addr, uint32_t v)
{
    __asm__ volatile("stwbrx %0, 0, %1\n\tmbar" ::"r"(v), "r"(addr) : "memory");
}

static uint32_t ld_le32(uint32_t addr)
{
    uint32_t v;
    __asm__ volatile("lwbrx %0, 0, %1" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static uint32_t cfg_read(uint32_t slot, uint32_t reg)
{
    st_le32(PCI_CONFIG_PAGE, PCI_CFG_ENABLE | slot << 11 | reg);
    return ld_le32(PCI_CONFIG_PAGE + 4);
}

static void cfg_write(uint32_t slot, uint32_t reg, uint32_t v)
{
    st_le32(PCI_CONFIG_PAGE, PCI_CFG_ENABLE | slot << 11 | reg);
    st_le32(PCI_CONFIG_PAGE + 4, v);
}

/* Program the device: 0, or a console line and -1. */
static int setup(uint32_t base, uint32_t len)
{
    uint32_t slot;
    for (slot = 1; slot < 32; slot++) /* slot 0 is the host bridge */
        if (cfg_read(slot, CFG_ID) == IVSHMEM_ID)
            break;
    if (slot == 32) {
        ppc_console_puts("mlos: mlos.group given but no ivshmem device on the PCI bus\n");
        return -1;
    }
    /* BAR sizing: all ones in, the size mask out. A 64-bit BAR whose upper
     * half keeps zeros is 4 GiB or more: more than this board can place. */
    cfg_write(slot, CFG_BAR2, 0xffffffffu);
    cfg_write(slot, CFG_BAR3, 0xffffffffu);
    uint32_t mask = cfg_read(slot, CFG_BAR2) & ~0xfu, hi = cfg_read(slot, CFG_BAR3);
    uint32_t size = ~mask + 1;
    if (hi != 0xffffffffu || !mask || size < len || base % size) {
        ppc_console_puts("mlos: the ivshmem BAR does not fit mlos.group: size ");
        ppc_console_hex(size);
        ppc_console_puts("\n");
        return -1;
    }
    cfg_write(slot, CFG_BAR0, IVSHMEM_REGS_BAR0);
    cfg_write(slot, CFG_BAR2, base);
    cfg_write(slot, CFG_BAR3, 0);
    cfg_write(slot, CFG_COMMAND, (cfg_read(slot, CFG_COMMAND) & 0xffffu) | CMD_MEMORY);
    return 0;
}

void ppc_ivshmem_group_init(void)
{
    uint64_t base, len;
    uint32_t top;

    if (mlos_bootarg_u64(mlos_hal_cmdline(), "mlos.group", 0, &base) != 0)
        return;
    if (mlos_bootarg_u64(mlos_hal_cmdline(), "mlos.group", 1, &len) != 0 || base < 0x80000000u ||
        base >= GROUP_LIMIT || len == 0 || len > GROUP_LIMIT - base) {
        ppc_console_puts("mlos: ignoring malformed mlos.group\n");
        return;
    }
    ppc440_tlb_map_io(PCI_CONFIG_PAGE);
    int rc = setup((uint32_t)base, (uint32_t)len);
    ppc440_tlb_unmap_last(); /* the configuration page is not needed again */
    if (rc)
        return;
    if (ppc440_tlb_map((uint32_t)base, (uint32_t)(base + len), TLB2_SW_SR, &top) < 0)
        ppc_console_puts("mlos: TLB full: group memory cut short\n");
    mlos_bootmem_parse_group(base, top);
}
