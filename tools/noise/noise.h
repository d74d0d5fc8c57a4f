/* noise.h -- mlos-noise: OS-noise (FTQ) measurement on every shard kind.
 *
 *   mlos-noise [options] [process] [x86_64] [ppc]
 *
 * Runs the fixed-time-quantum benchmark (libos/ftq.h) natively in this
 * process (the Linux baseline, "host") and, one at a time, on each shard
 * named (task "ftq.run"), then writes into the output directory:
 *
 *   <name>.ftq.txt           quantum start (ns since t0) and count, FTQ style
 *   <name>.series.png        counts against time
 *   <name>.spectrum.png      amplitude spectrum of the counts
 *   summary.txt, summary.json, report.html
 *
 * mlos_noise_main is the whole program (argv[0] is the program name), so the
 * mlos CLI can offer it as a subcommand. Returns the exit status: 0, 1 on a
 * failed run, 2 on bad usage.
 */
#ifndef MLOS_NOISE_H
#define MLOS_NOISE_H

int mlos_noise_main(int argc, char **argv);

#endif
