/* examples/bpf/mlos_bpf_prog.h -- what an mlos eBPF extension includes:
 * the hook contexts (libos/bpf/hooks.h) and the helper functions.
 *
 * Build: clang -target bpfel -mcpu=v3 -O2 -mllvm -disable-block-placement
 * -I libos -I rpc -c prog.c -o prog.o; the program is the object's .text
 * (one function, no globals: the loader takes no relocations). The -mllvm
 * option keeps loops in the shape the verifier proves finite: compared at
 * the bottom of a loop whose blocks are in order (block placement may put
 * the loop test before the body). Counted loops, count-down loops, pointer
 * walks to an end pointer and pointers stepped beside a counted index (what
 * loop strength reduction makes of a[i], b[i]) are proven finite and in
 * bounds. Keep branches out of
 * loop bodies where a little arithmetic does the same. Load it into a shard with the "bpf.load" task.
 * Contexts are little-endian on every host, as is the VM, so the fields
 * can be read directly.
 */
#ifndef MLOS_BPF_PROG_H
#define MLOS_BPF_PROG_H

#include <stdint.h>

#include "bpf/hooks.h"

/* Helpers are called by number: clang turns a call through these constant
 * pointers into "call N". */
static long (*const mlos_trace)(const void *p, unsigned long n) = (void *)MLOS_BPF_HELPER_TRACE;
static uint64_t (*const mlos_now_ns)(void) = (void *)MLOS_BPF_HELPER_NOW_NS;
static uint32_t (*const mlos_hash32)(const void *p, unsigned long n) = (void *)MLOS_BPF_HELPER_HASH32;
static long (*const mlos_memeq)(const void *a, const void *b, unsigned long n) = (void *)MLOS_BPF_HELPER_MEMEQ;

/* A region field of a context as a pointer. */
#define MLOS_REGION(field) ((const char *)(uintptr_t)(field))

#endif
