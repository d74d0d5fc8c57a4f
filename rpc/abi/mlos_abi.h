/* mlos_abi.h -- the version of what a slave image and a master must agree
 * on to talk: frame layout (frame.h), ring and window layout (ring.h,
 * window.h), the boot arguments, and the task context a task is compiled
 * against (mlos_task.h). Bump MLOS_ABI_VERSION when any of them changes
 * incompatibly; the master then refuses older or newer images before
 * booting them instead of waiting for a HELLO that cannot come.
 *
 * Every image carries an ELF note (section "mlos_note", owner "MLOS",
 * type MLOS_NOTE_TYPE_IMAGE) whose descriptor is text, one "key=value"
 * per line: arch=x86_64|ppc|process, abi=N, components=NAME... . The
 * section is not loaded into the shard's memory. Freestanding-safe and
 * usable from assembler (only #defines).
 */
#ifndef MLOS_ABI_H
#define MLOS_ABI_H

#define MLOS_ABI_VERSION 1

#define MLOS_NOTE_SECTION "mlos_note"
#define MLOS_NOTE_OWNER "MLOS"
#define MLOS_NOTE_TYPE_IMAGE 1

#endif
