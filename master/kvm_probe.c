/* The KVM probe (kvm_probe.h): one HLT in a one-page real-mode guest. */
#define _GNU_SOURCE
#include "kvm_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mlos_error.h"

#if defined(__x86_64__) && __has_include(<linux/kvm.h>)
#include <linux/kvm.h>

/* What the child reports: plain numbers, written with one write(). The
 * master may have threads (libuv's pool), so between fork and _exit the
 * child calls nothing that could wait for a lock another thread held
 * (no stdio, no strerror, no malloc); the parent formats the message. */
enum probe_step { P_OPEN, P_VERSION, P_VM, P_MEM, P_VCPU, P_STATE, P_RUN, P_EXIT, P_NSTEPS };
static const char *const step_name[P_NSTEPS] = {"open /dev/kvm", "KVM API version", "KVM_CREATE_VM", "guest memory",
                                                "KVM_CREATE_VCPU", "vCPU state", "KVM_RUN", "KVM_RUN"};
struct probe_report {
    int step, err;
    uint32_t exit_reason, suberror;
};

static int report(int out, int step, uint32_t exit_reason, uint32_t suberror)
{
    struct probe_report r = {step, errno, exit_reason, suberror};
    if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
        return 2; /* no report: the parent says the probe died */
    return 1;
}

/* Runs in the child: returns 0 (a guest ran) or 1 after a report. */
static int probe_child(int out)
{
    int step = P_OPEN;
    int kvm = -1, vm = -1, cpu = -1;
    uint8_t *mem = MAP_FAILED;
    struct kvm_run *run = MAP_FAILED;

    if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
        goto fail;
    step = P_VERSION;
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        errno = EPROTO;
        goto fail;
    }
    step = P_VM;
    if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
        goto fail;
    step = P_MEM;
    if ((mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
        goto fail;
    /* pxor %xmm0,%xmm0; hlt. The SSE instruction is the point: a host whose
     * KVM cannot run real mode natively (no "unrestricted guest", common
     * under nested virtualisation) emulates it, and its emulator stops at
     * the first SSE instruction, exactly where a shard's boot code would. */
    static const uint8_t code[] = {0x66, 0x0f, 0xef, 0xc0, 0xf4};
    memcpy(mem, code, sizeof(code));
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 4096, .userspace_addr = (uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        goto fail;
    step = P_VCPU;
    if ((cpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
        goto fail;
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    step = P_STATE;
    if (run_size <= 0 || (run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0)) == MAP_FAILED)
        goto fail;
    struct kvm_sregs sregs;
    if (ioctl(cpu, KVM_GET_SREGS, &sregs) < 0)
        goto fail;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.cr0 &= ~(uint64_t)(1u << 2); /* EM off, OSFXSR on: SSE allowed */
    sregs.cr4 |= 1u << 9;
    if (ioctl(cpu, KVM_SET_SREGS, &sregs) < 0)
        goto fail;
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
    if (ioctl(cpu, KVM_SET_REGS, &regs) < 0)
        goto fail;
    step = P_RUN;
    if (ioctl(cpu, KVM_RUN, 0) < 0)
        goto fail;
    if (run->exit_reason != KVM_EXIT_HLT)
        return report(out, P_EXIT, run->exit_reason,
                      run->exit_reason == KVM_EXIT_INTERNAL_ERROR ? run->internal.suberror : 0);
    return 0;
fail:
    return report(out, step, 0, 0);
}

static void describe(const struct probe_report *r, char *why, size_t cap)
{
    if (r->step == P_EXIT && r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        snprintf(why, cap,
                 "KVM cannot run a test guest here (internal error %u: its instruction emulator gave up; "
                 "nested virtualisation without unrestricted guest?)",
                 r->suberror);
    else if (r->step == P_EXIT)
        snprintf(why, cap, "a test guest under KVM did not halt (exit reason %u)", r->exit_reason);
    else if (r->step >= 0 && r->step < P_NSTEPS)
        snprintf(why, cap, "%s: %s", step_name[r->step], strerror(r->err));
    else
        snprintf(why, cap, "the KVM probe sent a malformed report");
}

static int probe(char *why, size_t cap)
{
    int p[2];
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        return MLOS_ESPAWN;
    }
    if ((pid = fork()) < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return MLOS_ESPAWN;
    }
    if (pid == 0) {
        close(p[0]);
        _exit(probe_child(p[1]));
    }
    close(p[1]);
    int status = 0, waited = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            break;
        if (waited >= MLOS_KVM_PROBE_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, cap, "a test guest under KVM did not finish within %d ms", MLOS_KVM_PROBE_MS);
            close(p[0]);
            return MLOS_ESPAWN;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL);
        waited += 2;
    }
    struct probe_report r;
    ssize_t n = read(p[0], &r, sizeof(r));
    close(p[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (n == (ssize_t)sizeof(r))
        describe(&r, why, cap);
    else
        snprintf(why, cap, "the KVM probe died (status 0x%x)", status);
    return MLOS_ESPAWN;
}
#else
static int probe(char *why, size_t cap)
{
    snprintf(why, cap, "KVM is only used for x86_64 shards on x86_64 hosts");
    return MLOS_ESPAWN;
}
#endif

int mlos__kvm_probe(char *why, size_t cap)
{
    static int done, result;
    static char reason[256];
    if (!done) {
        result = probe(reason, sizeof(reason));
        done = 1;
    }
    if (why && cap)
        snprintf(why, cap, "%s", result == 0 ? "" : reason);
    return result;
}

int mlos_kvm_usable(char *why, size_t cap) { return mlos__kvm_probe(why, cap); }
