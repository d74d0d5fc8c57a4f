/* tools/mlos/cli.h -- the `mlos` command: one file per subcommand.
 *
 *   mlos spawn [--arch A] [--mem M]   start a shard under a detached master
 *   mlos ps                           list the shards of every master (registry)
 *   mlos stop ID|--all                stop shards started by `mlos spawn`
 *   mlos compose [--check] FILE.mlos  resolve an application manifest
 *   mlos noise ...                    OS-noise measurement (tools/noise)
 *
 * A shard ID is <master pid>.<shard id>; `mlos stop PID` means every shard
 * of that master. Each subcommand gets argv with its own name in argv[0]
 * and returns the exit status (0 ok, 1 failed, 2 usage).
 */
#ifndef MLOS_CLI_H
#define MLOS_CLI_H

#include <stddef.h>
#include <stdint.h>

int mlos_cli_spawn(int argc, char **argv);
int mlos_cli_ps(int argc, char **argv);
int mlos_cli_stop(int argc, char **argv);
int mlos_cli_compose(int argc, char **argv);
int mlos_cli_noise(int argc, char **argv);

/* The detached master (master.c): owns one shard until a "stop" request on
 * its control socket or SIGTERM. Reports the spawn result as one line on
 * ready_fd ("ok <pid>.<id> <arch> <mem bytes>" or "err <reason>"), then
 * closes it. Returns the process exit status. */
int mlos_cli_master(const char *arch, uint64_t mem_bytes, int ready_fd);

/* "64M", "1G", "512MiB", "65536" -> bytes. 0 or -1. */
int mlos_cli_parse_size(const char *s, uint64_t *out);
void mlos_cli_format_size(uint64_t bytes, char *out, size_t cap);

/* Control socket path of master pid in the runtime dir. */
int mlos_cli_socket_path(int pid, char *out, size_t cap);

/* The control socket speaks to the same user only, both ways: the uid of
 * the process at the other end of connected unix socket fd (SO_PEERCRED,
 * taken by the kernel at connect/listen time). 0 or -1 (errno set). */
int mlos_cli_peer_uid(int fd, unsigned *uid);

#endif
