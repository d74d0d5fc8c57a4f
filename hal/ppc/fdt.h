/* fdt.h -- just enough of a flattened device tree reader for a boot HAL.
 *
 * Reads the DTB format (devicetree.org specification, "Flattened
 * Devicetree (DTB) Format": big-endian header, structure block of
 * BEGIN_NODE/END_NODE/PROP/NOP/END tokens, strings block) in place,
 * without allocating. Every offset and length is checked against the
 * header's sizes, so a corrupt tree yields "not found", never a wild read.
 * ISA-neutral: any bare-metal HAL booted with a device tree can use it.
 */
#ifndef MLOS_FDT_H
#define MLOS_FDT_H

#include <stddef.h>
#include <stdint.h>

/* Total size of the tree at fdt, or 0 if it is not a usable DTB
 * (bad magic, version < 16, blocks outside totalsize). */
uint32_t fdt_total_size(const void *fdt);

/* Value of property name of the node at path ("/", "/chosen",
 * "/cpus/cpu@0"; a path component without "@unit" also matches a node
 * name with one, so "/memory" finds "memory@0"). Stores its length in
 * *len. NULL if the node or property is absent. */
const void *fdt_getprop(const void *fdt, const char *path, const char *name, uint32_t *len);

/* Big-endian cell helpers: a value of ncells (1 or 2) 32-bit cells at p. */
uint64_t fdt_cells(const void *p, uint32_t ncells);

#endif
