/* libos/spin.h -- a spin lock for the few structures cores share (the
 * default heap, the ring to the master). Held for short stretches only,
 * never across a wait. Freestanding: compiler atomics, no libc. */
#ifndef MLOS_SPIN_H
#define MLOS_SPIN_H

static inline void mlos_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline void mlos_spin_lock(volatile int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            mlos_cpu_relax();
}

static inline void mlos_spin_unlock(volatile int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

#endif
