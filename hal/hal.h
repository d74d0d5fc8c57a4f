/* hal.h -- the mlos hardware abstraction layer contract.
 *
 * This is the only interface the portable library OS (libos/) uses to reach
 * the machine it runs on. Exactly one implementation is linked into each
 * shard:
 *
 *   hal/linux/    a Linux process, driven by a caller-owned libuv loop
 *   hal/x86_64/   bare metal x86_64, booted by QEMU through Multiboot
 *   hal/ppc/      bare metal 32-bit big-endian PowerPC 440 (QEMU bamboo)
 *
 * Conventions
 *   - Functions returning int return >= 0 on success and a negative
 *     MLOS_E* code (rpc/abi/mlos_error.h) on failure.
 *   - The HAL owns every resource it hands out (regions, the window); the
 *     caller never frees them.
 *   - The HAL is single-threaded on core 0, which runs the library OS's
 *     loop; other cores (see "cores" below) call only the console, the
 *     clock, the memory-offset and doorbell-ring functions and the cores
 *     functions. The only asynchronous input is the doorbell, observed
 *     through mlos_hal_wait() on core 0.
 *
 * Lifecycle
 *   The platform entry (boot code or process main) initialises the HAL, then
 *   calls the portable entry point mlos_shard_main() (declared at the end of
 *   this file, implemented by the shard runtime, libos/runtime/slave.c).
 *   When that returns, the platform calls mlos_hal_exit() with its result.
 *
 * Both directions of the contract are here, so a HAL needs no header of
 * the layers above it: the mlos_hal_* functions a HAL implements, and the
 * few functions of the library OS a HAL (or hal/libc) calls.
 */
#ifndef MLOS_HAL_H
#define MLOS_HAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- console ---------------------------------------------------------
 * Write len bytes of diagnostic text. Never fails from the caller's point of
 * view: output that cannot be delivered is dropped. Bare metal: COM1.
 * Linux: stderr.
 */
void mlos_hal_console_write(const char *buf, size_t len);

/* ---- clock -----------------------------------------------------------
 * Monotonic nanoseconds since an arbitrary origin fixed at HAL start.
 * Never goes backwards. Bare metal: TSC scaled by its calibrated frequency.
 */
uint64_t mlos_hal_now_ns(void);

/* Raw cycle counter (TSC, timebase) for fine-grained benchmarks and its
 * frequency in Hz (0 if unknown). */
uint64_t mlos_hal_cycles(void);
uint64_t mlos_hal_cycles_hz(void);

/* ---- boot trace --------------------------------------------------------
 * Where a shard's boot time goes. The HAL and the library OS mark the end of
 * each boot phase (what: a string literal, kept by pointer); a mark costs a
 * cycle-counter read, so marks stay in the boot path. With mlos.boot_trace=1
 * among the parameters, mlos_hal_boot_report() prints one console line
 *   "mlos: boot trace (us): counter at entry T, phase +dt, ..., total T"
 * (each phase's duration in microseconds; "counter at entry": the cycle
 * counter when the image was entered, which under QEMU TCG is the time the
 * VM ran firmware and loader). The shard runtime reports right after HELLO,
 * so the printing is never part of the boot it measures. Without the
 * parameter, or after the first report, it prints nothing. Only the first
 * few dozen marks are kept.
 */
void mlos_hal_boot_mark(const char *what);
void mlos_hal_boot_report(void);

/* ---- memory regions ------------------------------------------------
 * Physical (bare metal) or virtual (Linux) memory the libos memory service
 * may manage. Regions are page aligned (MLOS_HAL_PAGE_SIZE), do not overlap,
 * exclude the image, the boot stack and the shared window, and stay valid
 * for the life of the shard.
 *
 * Fills up to max entries of out and returns the number of regions
 * available (which may exceed max), or a negative error.
 */
#define MLOS_HAL_PAGE_SIZE 4096u

struct mlos_hal_region {
    uintptr_t base;
    size_t len;
};

int mlos_hal_mem_regions(struct mlos_hal_region *out, int max);

/* The RAM the regions will hold, when the HAL knows it without reading its
 * memory map: a bare-metal HAL clips its regions to mlos.mem_max, else
 * mlos.mem, and takes them from one free range when one is large enough,
 * so they are then exactly one region of *bytes bytes (page aligned). Lets
 * the runtime say HELLO before the map is read (mlos_hal_boot_finish).
 * Returns 0, or MLOS_ENOENT if only mlos_hal_mem_regions knows. */
int mlos_hal_mem_budget(size_t *bytes);

/* Called once by the runtime right after HELLO: the HAL does what HELLO
 * did not wait for (bare metal: reads the memory map and sets up the group
 * memory). What needs that work does it on first use anyway, so this only
 * fixes when it happens: before the first call is served. */
void mlos_hal_boot_finish(void);

/* Where the memory at addr lives in the memory the master holds for this
 * shard, as a byte offset: bare metal, the guest-physical address (guest
 * RAM is the master's memory file); a process shard, its place in the
 * master's memory file, when its arena is mapped from it. Lets the shard
 * name pages it gives back so that the master can release them to the
 * host. Returns 0, MLOS_ERANGE if addr is outside that memory, or
 * MLOS_ENOTSUP if this shard's memory is not the master's. */
int mlos_hal_mem_offset(uintptr_t addr, uint64_t *off);

/* Flush the TLB (bare-metal x86_64: a CR3 reload; the other platforms do
 * nothing). Tasks need not call it: under QEMU TCG, whose software TLB
 * only resizes on a flush, the x86_64 HAL sizes it for large scattered
 * working sets by itself (hal/x86_64/tlb_x86_64.c). */
void mlos_hal_tlb_refresh(void);

/* The runtime brackets every task with these: a HAL may do housekeeping a
 * long computation needs while it runs (bare-metal x86_64 under QEMU TCG:
 * refresh the software TLB every millisecond from a timer interrupt, so
 * that it grows to the task's working set). Nothing elsewhere. */
void mlos_hal_task_begin(void);
void mlos_hal_task_end(void);

/* ---- boot parameters ------------------------------------------------
 * The NUL-terminated parameter string the master handed this shard
 * ("key=value key=value", space separated), or "" if none. Bare metal: the
 * Multiboot command line. Linux: MLOS_SHARD_ARGS from the environment.
 */
const char *mlos_hal_cmdline(void);

/* The number in parameter key=N (decimal, or hex with 0x; "key=A,B": index
 * 0 is A, 1 is B). Returns 0, or MLOS_ENOENT if key is absent or its value
 * is not such a number. On bare metal this is the parser the HAL's own boot
 * uses: under QEMU TCG every distinct piece of code run before HELLO costs
 * its translation, and one shared parser is translated once. */
int mlos_hal_param_u64(const char *key, int index, uint64_t *out);

/* ---- channel to the master -------------------------------------------
 * A window of memory shared with the master. Its layout (rings, bulk area)
 * is defined by rpc/wire/window.h; the master initialises the header before the
 * shard starts. Returns 0 and fills *base and *len, or MLOS_ENOENT if this shard
 * was started without a window.
 */
int mlos_hal_window(void **base, size_t *len);

/* ---- group memory ----------------------------------------------------
 * Memory shared with the other members of this shard's groups (the master
 * creates it; rpc/group_wire.h lays groups out in it), or MLOS_ENOENT if
 * the shard was started without one. Bare metal: mlos.group=0x<gpa>,0x<size>,
 * a second RAM range on x86_64, an ivshmem PCI BAR the HAL places at gpa on
 * PowerPC. Linux: a memfd on fd 5, mlos.group=0x0,
 * 0x<size>. The libos runtime has a weak default returning MLOS_ENOENT, so
 * a HAL without group memory may leave it out.
 */
int mlos_hal_group_mem(void **base, size_t *len);

/* Tell the master that there is new data in the window (one doorbell
 * "ring"). Doorbells may be coalesced: one ring can stand for many
 * messages, so the receiver always drains. */
void mlos_hal_doorbell_ring(void);

/* ---- waiting -----------------------------------------------------------
 * Block until the master rings this shard's doorbell, or until the monotonic
 * clock reaches deadline_ns (UINT64_MAX: no deadline). Returns 1 if a
 * doorbell arrived (possibly before the call: doorbells are latched, never
 * lost), 0 on deadline. Spurious returns of 1 are allowed; callers re-check
 * their rings. Bare metal: HLT until the doorbell interrupt. Linux: runs the
 * caller's libuv loop once.
 */
int mlos_hal_wait(uint64_t deadline_ns);

/* ---- cores ------------------------------------------------------------
 * A HAL may run more CPUs ("cores") than the boot one. Core 0 runs the
 * library OS's event loop and is the only core that uses the rest of this
 * contract's waiting and doorbell-receiving side; the others run only
 * functions handed to them with mlos_hal_core_run, one at a time, each to
 * completion, and sleep (HLT) when they have nothing, costing no host CPU.
 * Memory is shared and coherent; callers synchronise with atomics.
 *
 * mlos_hal_core_count: cores started (>= 1; 1 on HALs without more).
 * mlos_hal_core_self:  the calling core, 0 .. count - 1.
 * mlos_hal_core_run:   hand fn(arg) to core (1 .. count - 1), which starts
 *   it at once (waking if it sleeps). Returns 0; MLOS_EAGAIN if the core
 *   has not yet taken the previous function; MLOS_EINVAL for core 0, the
 *   caller itself or a core that does not exist; MLOS_ENOTSUP on a
 *   one-core HAL. fn runs on the core's own stack with interrupts off and
 *   must return.
 */
unsigned mlos_hal_core_count(void);
unsigned mlos_hal_core_self(void);
int mlos_hal_core_run(unsigned core, void (*fn)(void *), void *arg);
/* ---- relaxing while polling ----------------------------------------
 * Called between empty passes of a polling loop: give a peer that shares
 * this CPU the chance to run and produce what is polled for. Linux:
 * sched_yield (two polling processes on one core otherwise alternate at
 * the scheduler's time slice, a millisecond). Bare metal: nothing (the
 * guest has its CPU). The libos runtime has a weak no-op default.
 */
void mlos_hal_relax(void);

/* ---- exit ------------------------------------------------------------
 * End the shard with status (0 = success). x86_64: isa-debug-exit, so
 * QEMU's exit code is (status << 1) | 1. PowerPC: the status is left in the
 * window header (reserved[6]) and the board is reset (-no-reboot ends QEMU);
 * the master reports it the same way. Never returns.
 */
_Noreturn void mlos_hal_exit(int status);

/* ---- identity -------------------------------------------------------
 * Short architecture name reported in the hello message: "x86_64",
 * "ppc", "process". */
const char *mlos_hal_arch(void);

/* ---- upcalls: the library OS functions a HAL calls -------------------
 * mlos_shard_main: the portable shard, called once the HAL is up; starts
 * the memory service from mlos_hal_mem_regions(), serves the master over
 * the window and returns the exit status for mlos_hal_exit() (the STOP
 * status, or an MLOS_SHARD_EXIT_* code of rpc/abi/mlos_exit.h).
 *
 * mlos_malloc & co: the library OS heap (libos/mem.h), behind the bare-
 * metal libc's malloc/calloc/realloc/free (hal/libc/stdlib.c), so that
 * prebuilt libraries such as libprotobuf-c.a allocate from it. NULL until
 * mlos_shard_main has started the memory service.
 */
int mlos_shard_main(void);
void *mlos_malloc(size_t n);
void *mlos_calloc(size_t n, size_t m);
void *mlos_realloc(void *p, size_t n);
void mlos_free(void *p);

#endif
