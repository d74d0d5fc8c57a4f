/* shards/tasks/group_gen.h -- the inputs the group.* check tasks feed
 * their collectives, shared with the master-side tests and benchmarks so
 * that they can compute the same result serially. Pure functions of
 * (seed, rank, index); the same values on every ISA. */
#ifndef MLOS_GROUP_GEN_H
#define MLOS_GROUP_GEN_H

#include <stdint.h>
#include <string.h>

static inline uint64_t mlos_gg_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t mlos_gg_word(uint64_t seed, uint32_t rank, uint64_t i)
{
    return mlos_gg_mix(seed ^ mlos_gg_mix((uint64_t)rank << 40 ^ i));
}

/* A double of varied sign and magnitude (2^-20 .. 2^20): rounding makes
 * the fold order visible in the low bits. */
static inline double mlos_gg_f64(uint64_t seed, uint32_t rank, uint64_t i)
{
    uint64_t w = mlos_gg_word(seed, rank, i);
    uint64_t bits = (w & 0x800fffffffffffffull) | (uint64_t)(1023 - 20 + (w >> 52) % 41) << 52;
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* Element i of rank's input of type (0 u64, 1 i64, 2 f64) as 8 host-order bytes. */
static inline void mlos_gg_elem(int type, uint64_t seed, uint32_t rank, uint64_t i, void *out)
{
    if (type == 2) {
        double d = mlos_gg_f64(seed, rank, i);
        memcpy(out, &d, 8);
    } else {
        uint64_t w = mlos_gg_word(seed, rank, i);
        if (type == 1)
            w = (uint64_t)((int64_t)w >> 20); /* negative and positive, room to add */
        memcpy(out, &w, 8);
    }
}

/* A u32 for a user-operator reduction: large half the time, so that a
 * saturating sum saturates. */
static inline uint32_t mlos_gg_u32(uint64_t seed, uint32_t rank, uint64_t i)
{
    uint64_t w = mlos_gg_word(seed, rank, i);
    return (uint32_t)(w >> 32) >> (w & 1 ? 0 : 4);
}

static inline uint8_t mlos_gg_byte(uint64_t seed, uint32_t rank, uint64_t i)
{
    return (uint8_t)(mlos_gg_word(seed, rank, i / 8) >> (8 * (i % 8)));
}

#endif
