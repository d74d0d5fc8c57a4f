/* master/registry.h -- who runs which shard: a registry in the file system.
 *
 * Every master process records each of its shards as one small file in the
 * runtime directory, so that tools (`mlos ps`) can list the shards of all
 * masters on the host without talking to them:
 *
 *   dir:   $MLOS_RUNTIME_DIR, else $XDG_RUNTIME_DIR/mlos, else /tmp/mlos-$UID
 *          (created 0700 on first use; refused with MLOS_EACCES unless it is
 *          a real directory, not a symlink, owned by the effective uid and
 *          mode 0700 -- mlos_registry_why() says which and what to do)
 *   file:  <dir>/<master pid>-<shard id>.shard
 *   text:  `key: value` lines -- master_pid, master_start (the master's
 *          start time in clock ticks since boot, /proc/<pid>/stat field 22,
 *          to tell a reused pid apart), shard_id, arch, host_pid, state
 *          (starting, ready, dead), mem_bytes, start_time (Unix ms),
 *          control (optional: unix socket where the master takes stop
 *          requests; set by `mlos spawn` masters), node (optional: the
 *          node whose agent runs the shard, for shards of a cluster;
 *          host_pid is then a pid on that node), cores and active_cores
 *          (optional: the shard's cores and how many are not parked),
 *          stop_socket (optional: unix socket where any master takes
 *          "stop <shard id>" requests, control.c)
 *
 * Files are created O_EXCL | O_NOFOLLOW (never through a planted link) and
 * read O_NOFOLLOW, plain files of the caller only.
 * Writes are atomic (write <file>.tmp.<pid>, then rename), so a reader sees
 * the old or the new record, never a torn one. The file is rewritten on
 * every state change and removed when the shard is released. A master that
 * dies without releasing leaves files behind: readers (mlos_registry_list)
 * ignore and delete records whose master is gone.
 *
 * Failures never disturb the master: the hooks report nothing. Setting
 * MLOS_REGISTRY=0 turns the hooks off.
 */
#ifndef MLOS_REGISTRY_H
#define MLOS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct mlos_registry_rec {
    int master_pid;
    uint64_t master_start; /* clock ticks since boot; 0: unknown */
    uint32_t shard_id;
    char arch[16];
    int host_pid;          /* QEMU or process shard; 0 once gone */
    char state[16];
    uint64_t mem_bytes;
    uint64_t start_time_ms; /* Unix time the spawn began */
    char control[108];     /* "" or a unix socket path */
    char node[64];         /* "" on this host, else the node the shard runs on (host_pid is there) */
    char stop_socket[108]; /* "" or the master's stop socket (control.c) */
    unsigned cores;        /* 0: not known yet (before HELLO) */
    unsigned active_cores; /* of which not parked */
};

/* The runtime directory (created if missing). Returns 0, MLOS_EIO (cannot
 * create it) or MLOS_EACCES (exists but unsafe, above). */
int mlos_registry_dir(char *out, size_t cap);

/* Why the last mlos_registry_dir of this thread failed, for the user. */
const char *mlos_registry_why(void);

/* Record text <-> struct (exposed for tests). format returns the length,
 * parse 0 or MLOS_EINVAL (missing or malformed key). */
int mlos_registry_format(const struct mlos_registry_rec *r, char *out, size_t cap);
int mlos_registry_parse(const char *text, struct mlos_registry_rec *r);

/* Create or replace the record of (r->master_pid, r->shard_id). */
int mlos_registry_write(const struct mlos_registry_rec *r);
int mlos_registry_remove(int master_pid, uint32_t shard_id);

/* All live records, sorted by master pid then shard id; stale ones (dead
 * master, reused pid) are deleted on the way. *out is malloc'ed (free it).
 * Returns the count or MLOS_ENOMEM/MLOS_EIO. */
int mlos_registry_list(struct mlos_registry_rec **out);

/* Is the master of r still the same live process? */
int mlos_registry_alive(const struct mlos_registry_rec *r);

/* Start time of pid in clock ticks since boot (0 if unknown). */
uint64_t mlos_registry_proc_start(int pid);

/* This process's control socket, written into its later records ("" or
 * NULL: none). */
void mlos_registry_set_control(const char *path);
/* Whether the registry hooks run (MLOS_REGISTRY not 0, a safe runtime
 * directory; warns once when it is unsafe). */
int mlos__registry_enabled(void);
/* Whether this process set a control socket (a `mlos spawn` master). */
int mlos_registry_has_control(void);
/* Name the library's stop socket in later records (NULL: none). */
void mlos_registry_set_stop_socket(const char *path);

/* ---- hooks for master/shard.c (one line each) ---- */
struct mlos_shard_s;
/* spawn started: host process launched (arch as requested, mem for the
 * allocator); stop_served: the stop socket serves it (else the record
 * names none) */
void mlos__registry_started(const struct mlos_shard_s *shard, const char *arch, uint64_t mem_bytes, int stop_served);
/* state change: "ready", "dead" (host pid and memory re-read from shard) */
void mlos__registry_state(const struct mlos_shard_s *shard, const char *state);
/* resources released: the record goes */
void mlos__registry_released(const struct mlos_shard_s *shard);

#endif
