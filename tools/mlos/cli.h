/* tools/mlos/cli.h -- the `mlos` command: one file per subcommand.
 *
 *   mlos spawn [--arch A] [--mem M] [--image P]  start a shard under a detached master
 *   mlos ps [--json|-q]               list the shards of every master (registry)
 *   mlos stop ID|--all                stop shards started by `mlos spawn`
 *   mlos call ID TASK [ARG|@FILE]     run a task on a spawned shard (call.c)
 *   mlos put ID OFFSET FILE           copy a file into its bulk window
 *   mlos get ID OFFSET LEN [-o FILE]  copy bytes out of its bulk window
 *   mlos console ID [-f]              its console output
 *   mlos compose [--check] FILE.mlos  resolve an application manifest
 *   mlos noise ...                    OS-noise measurement (tools/noise)
 *
 * A shard ID is <master pid>.<shard id>; `mlos stop PID` means every shard
 * of that master. Each subcommand gets argv with its own name in argv[0]
 * and returns the exit status (0 ok, 1 failed, 2 usage). `CMD --help`
 * prints the usage on stdout and returns 0; messages go to stderr with the
 * prefix "mlos CMD: ".
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
int mlos_cli_call(int argc, char **argv);
int mlos_cli_put(int argc, char **argv);
int mlos_cli_get(int argc, char **argv);
int mlos_cli_console(int argc, char **argv);

/* The detached master (master.c): owns one shard until a "stop" request on
 * its control socket or SIGTERM. Reports the spawn result as one line on
 * ready_fd ("ok <pid>.<id> <arch> <mem bytes>" or "err <reason>"), then
 * closes it. kvm as mlos_spawn_opts.kvm. Returns the process exit status. */
int mlos_cli_master(const char *arch, uint64_t mem_bytes, const char *image, int kvm, int ready_fd);

/* "64M", "1G", "512MiB", "65536" -> bytes. 0 or -1. */
int mlos_cli_parse_size(const char *s, uint64_t *out);
void mlos_cli_format_size(uint64_t bytes, char *out, size_t cap);

/* Control socket path of master pid in the runtime dir. */
int mlos_cli_socket_path(int pid, char *out, size_t cap);

/* The control socket speaks to the same user only, both ways: the uid of
 * the process at the other end of connected unix socket fd (SO_PEERCRED,
 * taken by the kernel at connect/listen time). 0 or -1 (errno set). */
int mlos_cli_peer_uid(int fd, unsigned *uid);
/* Connect to a master's control socket only if the socket file and the
 * process serving it are both ours; the connect itself gives up after
 * MLOS_CLI_CONNECT_TIMEOUT_S. The socket, or -1 with the reason in why. */
#define MLOS_CLI_CONNECT_TIMEOUT_S 5
int mlos_cli_connect_own(const char *path, char *why, size_t cap);
/* -h or --help */
int mlos_cli_is_help(const char *arg);
/* Print usage to stdout (returns 0) or stderr (returns 2). */
int mlos_cli_usage(const char *usage, int to_stdout);
/* "mlos CMD: <message>\n" on stderr. */
void mlos_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "unknown option 'X'" (or "unexpected argument") and the usage; returns 2. */
int mlos_cli_bad_option(const char *cmd, const char *opt, const char *usage);
/* "PID.N" (has_id 1) or "PID" (has_id 0). 0 or -1. */
int mlos_cli_parse_id(const char *s, int *pid, unsigned *id, int *has_id);
/* Progress lines on stderr: when asked (--progress) or stderr is a tty. */
int mlos_cli_progress_wanted(int flag);

/* ---- client of a detached master's control socket (client.c) ---- */
/* Connect to the master of shard ID; messages are printed under cmd.
 * Returns the socket, -2 for a malformed ID, -1 otherwise. */
int mlos_cli_open(const char *cmd, const char *id);
int mlos_cli_send(int fd, const void *p, size_t n);
int mlos_cli_recv(int fd, void *p, size_t n);
int mlos_cli_recv_line(int fd, char *buf, size_t cap);
/* Read the answer line: 0 for "ok ..." (the line is left in line), -1
 * after printing the master's error. */
int mlos_cli_reply(const char *cmd, int fd, char *line, size_t cap);

#endif
