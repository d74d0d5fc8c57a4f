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

/* Runs in the child: writes a reason on fd and returns 0 (worked) or 1. */
static int probe_child(int out)
{
    const char *step = "open /dev/kvm";
    int kvm = -1, vm = -1, cpu = -1;
    uint8_t *mem = MAP_FAILED;
    struct kvm_run *run = MAP_FAILED;

    if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
        goto fail;
    step = "KVM API version";
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        errno = EPROTO;
        goto fail;
    }
    step = "KVM_CREATE_VM";
    if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
        goto fail;
    step = "guest memory";
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
    step = "KVM_CREATE_VCPU";
    if ((cpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
        goto fail;
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    step = "vCPU state";
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
    step = "KVM_RUN";
    if (ioctl(cpu, KVM_RUN, 0) < 0)
        goto fail;
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
        dprintf(out, "KVM cannot run a test guest here (internal error %u: its instruction emulator "
                     "gave up; nested virtualisation without unrestricted guest?)",
                run->internal.suberror);
        return 1;
    }
    if (run->exit_reason != KVM_EXIT_HLT) {
        dprintf(out, "a test guest under KVM did not halt (exit reason %u)", run->exit_reason);
        return 1;
    }
    return 0;
fail:
    dprintf(out, "%s: %s", step, strerror(errno));
    return 1;
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
    ssize_t n = read(p[0], why, cap - 1);
    close(p[0]);
    why[n > 0 ? n : 0] = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (!why[0])
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
