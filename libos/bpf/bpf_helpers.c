/* libos/bpf/bpf_helpers.c -- the helper functions programs may call.
 *
 * Ids are part of the program ABI (MLOS_BPF_HELPER_* in bpf.h, which
 * programs reach through examples/bpf/mlos_bpf_prog.h) and
 * never change meaning. Pointer arguments arrive as 64-bit host addresses
 * the verifier (or checked mode) has bounds-checked for `size` bytes.
 */
#include <stdio.h>
#include <string.h>

#include "bpf_impl.h"
#include "hal.h"

static uint64_t h_trace(uint64_t p, uint64_t size, uint64_t a3, uint64_t a4, uint64_t a5)
{
    char line[160];
    size_t n = size > 120 ? 120 : (size_t)size;
    int k = snprintf(line, sizeof(line), "[bpf] %.*s\n", (int)n, n ? (const char *)(uintptr_t)p : "");
    if (k > 0)
        mlos_hal_console_write(line, (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
    return 0;
}

static uint64_t h_now_ns(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) { return mlos_hal_now_ns(); }

static uint64_t h_hash32(uint64_t p, uint64_t size, uint64_t a3, uint64_t a4, uint64_t a5)
{
    const uint8_t *b = (const uint8_t *)(uintptr_t)p;
    uint32_t h = 2166136261u;
    for (uint64_t i = 0; i < size; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static uint64_t h_memeq(uint64_t a, uint64_t b, uint64_t size, uint64_t a4, uint64_t a5)
{
    /* size 0 is equal whatever the pointers are (they may be anything then) */
    return !size || memcmp((const void *)(uintptr_t)a, (const void *)(uintptr_t)b, (size_t)size) == 0;
}

static const struct mlos_bpf_helper helpers[MLOS_BPF_HELPER_COUNT] = {
    [MLOS_BPF_HELPER_TRACE] = {"trace", h_trace, {MLOS_BPF_ARG_PTR_READ, MLOS_BPF_ARG_SIZE}, 0},
    [MLOS_BPF_HELPER_NOW_NS] = {"now_ns", h_now_ns, {0}, UINT64_MAX},
    [MLOS_BPF_HELPER_HASH32] = {"hash32", h_hash32, {MLOS_BPF_ARG_PTR_READ, MLOS_BPF_ARG_SIZE}, UINT32_MAX},
    [MLOS_BPF_HELPER_MEMEQ] = {"memeq", h_memeq, {MLOS_BPF_ARG_PTR_READ, MLOS_BPF_ARG_PTR_READ, MLOS_BPF_ARG_SIZE}, 1},
};

const struct mlos_bpf_helper *mlos_bpf_helper_get(int32_t id)
{
    if (id <= 0 || id >= MLOS_BPF_HELPER_COUNT || !helpers[id].fn)
        return NULL;
    return &helpers[id];
}
