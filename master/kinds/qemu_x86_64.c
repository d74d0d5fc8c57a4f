/* qemu_x86_64.c -- QEMU command line and host TSC rate; see qemu_x86_64.h. */
#include "qemu_x86_64.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qemu_common.h"
#include "mlos_error.h"

#define MIB (1024u * 1024u)
/* microvm keeps RAM below the 3 GiB PCI/APIC hole only up to this size; the
 * shard maps just the first 4 GiB, so larger guests would lose the window
 * that sits at the top of RAM. */
#define MAX_RAM ((size_t)3072 * MIB)

int mlos_qemu_x86_64_argv(const struct mlos_qemu_x86_64_cfg *cfg, char **argv, int max_args, char *buf,
                          size_t buflen)
{
    struct argv_builder b = { argv, 0, max_args, buf, 0, buflen, 0 };

    if (!cfg || !argv || !buf || max_args < 1 || !cfg->qemu_path || !cfg->image || cfg->ram_fd < 0 ||
        cfg->doorbell_fd < 0 || cfg->ram_bytes == 0 || cfg->ram_bytes % MIB || cfg->ram_bytes > MAX_RAM)
        return MLOS_EINVAL;
    /* QEMU hands the guest "<image> <append>" as the Multiboot command line
     * and the shard drops the first word; a comma would also need escaping
     * in QEMU option syntax. */
    if (strpbrk(cfg->image, " ,"))
        return MLOS_EINVAL;

    mlos_argv_add(&b, cfg->qemu_path);
    /* microvm: no PCI, no firmware tables to parse; no 8259 and no RTC so
     * the only interrupt sources are ours. The PIT stays (TSC calibration
     * fallback). No ACPI tables either: the HAL finds its LAPIC and
     * IOAPIC at their fixed addresses, and building the tables cost ~5 ms
     * of every start. */
    mlos_argv_add(&b, "-M");
    mlos_argv_add(&b, "microvm,pic=off,rtc=off,acpi=off");
    mlos_argv_add(&b, "-nodefaults");
    mlos_argv_add(&b, "-no-user-config");
    mlos_argv_add(&b, "-display");
    mlos_argv_add(&b, "none");
    mlos_argv_add(&b, "-accel");
    /* Several vCPUs under TCG: thread=multi gives each its own host thread,
     * so that two cores really run at once on two host cores. */
    mlos_argv_add(&b, cfg->kvm ? "kvm" : cfg->cores > 1 ? "tcg,thread=multi" : "tcg");
    if (cfg->cores > 1) {
        mlos_argv_add(&b, "-smp");
        mlos_argv_addf(&b, "%u", cfg->cores);
    }
    if (cfg->kvm) {
        mlos_argv_add(&b, "-cpu");
        mlos_argv_add(&b, "host");
    }
    mlos_qemu_add_ram(&b, cfg->ram_bytes, cfg->ram_fd);
    mlos_qemu_add_console_and_doorbell(&b, cfg->doorbell_fd);
    mlos_argv_add(&b, "-device");
    mlos_argv_add(&b, "isa-serial,chardev=db,iobase=0x2f8,irq=3");
    mlos_argv_add(&b, "-device");
    mlos_argv_add(&b, "isa-debug-exit,iobase=0xf4,iosize=4");
    return mlos_qemu_finish(&b, cfg->image, cfg->cmdline);
}

#if defined(__x86_64__) || defined(__i386__)
static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bracket each TSC read between two clock reads and keep the sample with
 * the tightest bracket, so a preemption during the read cannot skew it. */
static uint64_t sample(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = mono_ns(), t = rdtsc(), c = mono_ns();
        if (c - a < best) {
            best = c - a;
            *tsc = t;
            *ns = a + (c - a) / 2;
        }
    }
    return best;
}

/* Over 2 ms when both ends are bracketed to within 2 us (the rate is then
 * good to ~1e-3, usually far better), so that a short-lived master (a CGI
 * request) pays 2 ms; on a host too busy for tight brackets, over 20 ms. */
static uint64_t measure(void)
{
    uint64_t t0, n0, t1, n1;

    for (long nap_ns = 2000000; nap_ns <= 20000000; nap_ns *= 10) {
        struct timespec nap = {0, nap_ns};
        uint64_t w0 = sample(&t0, &n0);
        nanosleep(&nap, NULL);
        uint64_t w1 = sample(&t1, &n1);
        if (n1 <= n0 || t1 <= t0)
            return 0;
        if ((w0 <= 2000 && w1 <= 2000) || nap_ns == 20000000)
            return (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000u / (n1 - n0));
    }
    return 0;
}
#else
static uint64_t measure(void) { return 0; }
#endif

uint64_t mlos_host_tsc_hz(void)
{
    static _Atomic uint64_t cached;
    uint64_t hz = atomic_load_explicit(&cached, memory_order_relaxed);

    if (!hz) { /* two racing first callers both measure; either result is fine */
        hz = measure();
        atomic_store_explicit(&cached, hz, memory_order_relaxed);
    }
    return hz;
}
