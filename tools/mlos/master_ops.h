/* tools/mlos/master_ops.h -- the data requests of the detached master
 * (master.c): call, put, get, console. master.c keeps the connection
 * handling (accept, the first line, stop/ping); for any other first line it
 * hands the connection to an op, which reads the request's payload, runs it
 * on the master's shard and writes the answer.
 *
 * Wire format (one request per connection; a header line, then bytes):
 *
 *   call TASK ARGLEN\n<ARGLEN bytes>  -> ok LEN RUN_NS\n<LEN bytes>
 *   put OFFSET LEN\n<LEN bytes>       -> ok\n
 *   get OFFSET LEN\n                  -> ok LEN\n<LEN bytes>
 *   console\n                         -> ok LEN\n<the console tail>
 *   console follow\n                  -> ok LEN\n<tail>, then every new
 *                                        console line until the shard goes
 *   any failure                       -> error CODE MESSAGE\n
 *
 * CODE is the MLOS_E* number (negative). Numbers are decimal. The master
 * trusts nothing it reads: lengths are bounded by the shard's limits (bulk
 * window, MLOS_CLI_MAX_ARG) before anything is allocated, and a header
 * line that does not parse gets an error, not a guess.
 */
#ifndef MLOS_CLI_MASTER_OPS_H
#define MLOS_CLI_MASTER_OPS_H

#include <stddef.h>
#include <uv.h>

#include "mlos.h"

#define MLOS_CLI_MAX_ARG (1u << 20) /* a call's argument: what one ring frame carries */
#define MLOS_CLI_LINE_MAX 256       /* a request header line, newline included */

struct mlos_cli_op;

/* Called by the op when its answer is written: master.c closes the
 * connection (the op no longer touches it). */
typedef void (*mlos_cli_op_done_cb)(uv_stream_t *stream);

/* Start the request whose header is `line` (without the newline) on
 * stream; extra[0..n) are payload bytes already read past the line. On
 * return the op owns the stream's reading: master.c forwards alloc and
 * read callbacks to mlos_cli_op_alloc/mlos_cli_op_read while *op is set.
 * Returns 0 with *op set, or MLOS_ENOTASK if line is not a data request
 * (nothing happened; master.c answers it). Malformed data requests are
 * answered with an error by the op itself. */
int mlos_cli_op_start(mlos_shard_t *shard, uv_stream_t *stream, const char *line, const char *extra, size_t n,
                      mlos_cli_op_done_cb done, struct mlos_cli_op **op);
void mlos_cli_op_alloc(struct mlos_cli_op *op, uv_buf_t *b);
void mlos_cli_op_read(struct mlos_cli_op *op, ssize_t n);

/* The connection is being closed by master.c (shutdown, peer gone): the
 * op lets go of it and frees itself once nothing refers to it. */
void mlos_cli_op_detach(struct mlos_cli_op *op);

/* Console lines of the shard (mlos_spawn_opts.on_console): copied to the
 * master's log (stderr) and to every `console follow` connection. */
void mlos_cli_op_console(mlos_shard_t *shard, const char *line, size_t len);

/* The shard is gone (stop or death): follow connections end. */
void mlos_cli_op_shard_gone(void);

#endif
