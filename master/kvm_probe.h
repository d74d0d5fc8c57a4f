/* master/kvm_probe.h -- does KVM work here? (private to the master)
 *
 * /dev/kvm can exist and open and still be unable to run a guest (nested
 * virtualisation without VMX passthrough, a sandbox that filters the
 * ioctls, a locked-down CI runner). QEMU then waits or fails late, and a
 * bare-metal spawn would only fail at its HELLO timeout. The probe answers
 * in well under a second: in a child process (so a hanging ioctl cannot
 * hang the master; killed after MLOS_KVM_PROBE_MS) it creates a VM with
 * one page of guest memory holding a HLT instruction, one vCPU in real
 * mode, runs it and expects the HLT exit.
 */
#ifndef MLOS_KVM_PROBE_H
#define MLOS_KVM_PROBE_H

#include <stddef.h>

#define MLOS_KVM_PROBE_MS 1000

/* 0 if a guest ran under KVM, else MLOS_ESPAWN with the reason in why
 * (may be NULL). The first answer is kept for the life of the process. */
int mlos__kvm_probe(char *why, size_t cap);

#endif
