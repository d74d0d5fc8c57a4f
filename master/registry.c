/* The shard registry: one file per shard in the runtime directory
 * (registry.h). */
#define _GNU_SOURCE
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mlos.h"

static char control_path[108];

void mlos_registry_set_control(const char *path)
{
    snprintf(control_path, sizeof(control_path), "%s", path ? path : "");
}

int mlos_registry_has_control(void) { return control_path[0] != 0; }

static char stop_path[108];

void mlos_registry_set_stop_socket(const char *path)
{
    snprintf(stop_path, sizeof(stop_path), "%s", path ? path : "");
}

static __thread char dir_why[700];

const char *mlos_registry_why(void) { return dir_why[0] ? dir_why : "no error"; }

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* The directory holds records other tools trust and sockets that take
 * stop requests, and /tmp/mlos-<uid> is a name anyone can take first: use
 * it only if it is a real directory (lstat: not a symlink to somewhere
 * else), ours, and closed to everybody else. Its parent being /tmp (sticky)
 * or ours, nobody can swap it for another after this check. Not repaired
 * automatically: a directory that was open to others may hold their
 * files already. */
static int check_dir(const char *path)
{
    struct stat st;
    uid_t me = geteuid();
    if (lstat(path, &st) < 0) {
        snprintf(dir_why, sizeof(dir_why), "runtime directory %s: %s", path, strerror(errno));
        return MLOS_EIO;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(dir_why, sizeof(dir_why),
                 "refusing runtime directory %s: it is a symbolic link (remove it; it may have been planted)", path);
        return MLOS_EACCES;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(dir_why, sizeof(dir_why), "refusing runtime directory %s: not a directory", path);
        return MLOS_EACCES;
    }
    if (st.st_uid != me) {
        snprintf(dir_why, sizeof(dir_why),
                 "refusing runtime directory %s: owned by uid %u, not by you (uid %u); another user may have "
                 "created it: remove it or set MLOS_RUNTIME_DIR",
                 path, (unsigned)st.st_uid, (unsigned)me);
        return MLOS_EACCES;
    }
    if ((st.st_mode & 07777) != 0700) {
        snprintf(dir_why, sizeof(dir_why),
                 "refusing runtime directory %s: mode %04o, must be 0700 (others could plant or read files in "
                 "it); remove it, or chmod 0700 it if you know its contents are yours",
                 path, (unsigned)(st.st_mode & 07777));
        return MLOS_EACCES;
    }
    dir_why[0] = 0;
    return 0;
}

int mlos_registry_dir(char *out, size_t cap)
{
    const char *env = getenv("MLOS_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(out, cap, "%s/mlos", xdg);
    else
        n = snprintf(out, cap, "/tmp/mlos-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= cap) {
        snprintf(dir_why, sizeof(dir_why), "runtime directory path too long");
        return MLOS_EIO;
    }
    if (mkdir_p(out) < 0) {
        snprintf(dir_why, sizeof(dir_why), "cannot create the runtime directory %s: %s", out, strerror(errno));
        return MLOS_EIO;
    }
    return check_dir(out);
}

uint64_t mlos_registry_proc_start(int pid)
{
    char path[64], buf[1024];
    unsigned long long start = 0;
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* the command name may contain anything: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &start) != 1)
        return 0;
    return start;
}

int mlos_registry_alive(const struct mlos_registry_rec *r)
{
    if (r->master_pid <= 0 || (kill(r->master_pid, 0) < 0 && errno == ESRCH))
        return 0;
    if (r->master_start) {
        uint64_t now = mlos_registry_proc_start(r->master_pid);
        if (now && now != r->master_start)
            return 0; /* the pid belongs to someone else now */
    }
    return 1;
}

int mlos_registry_format(const struct mlos_registry_rec *r, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "master_pid: %d\nmaster_start: %" PRIu64 "\nshard_id: %" PRIu32 "\narch: %s\nhost_pid: %d\n"
                     "state: %s\nmem_bytes: %" PRIu64 "\nstart_time: %" PRIu64 "\ncores: %u\nactive_cores: %u\n%s%s%s%s%s%s%s%s%s",
                     r->master_pid, r->master_start, r->shard_id, r->arch[0] ? r->arch : "-", r->host_pid,
                     r->state[0] ? r->state : "-", r->mem_bytes, r->start_time_ms, r->cores, r->active_cores,
                     r->control[0] ? "control: " : "",
                     r->control, r->control[0] ? "\n" : "", r->node[0] ? "node: " : "", r->node,
                     r->node[0] ? "\n" : "", r->stop_socket[0] ? "stop_socket: " : "", r->stop_socket,
                     r->stop_socket[0] ? "\n" : "");
    return n < 0 || (size_t)n >= cap ? MLOS_ETOOBIG : n;
}

int mlos_registry_parse(const char *text, struct mlos_registry_rec *r)
{
    unsigned seen = 0;
    memset(r, 0, sizeof(*r));
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        char line[256], *v;
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof(line))
            return MLOS_EINVAL;
        memcpy(line, p, len);
        line[len] = 0;
        p = nl ? nl + 1 : NULL;
        if (!line[0])
            continue;
        if (!(v = strstr(line, ": ")))
            return MLOS_EINVAL;
        *v = 0;
        v += 2;
        char *end = NULL;
        errno = 0;
        if (!strcmp(line, "master_pid"))
            r->master_pid = (int)strtol(v, &end, 10), seen |= 1;
        else if (!strcmp(line, "master_start"))
            r->master_start = strtoull(v, &end, 10);
        else if (!strcmp(line, "shard_id"))
            r->shard_id = (uint32_t)strtoul(v, &end, 10), seen |= 2;
        else if (!strcmp(line, "host_pid"))
            r->host_pid = (int)strtol(v, &end, 10);
        else if (!strcmp(line, "mem_bytes"))
            r->mem_bytes = strtoull(v, &end, 10);
        else if (!strcmp(line, "start_time"))
            r->start_time_ms = strtoull(v, &end, 10);
        else if (!strcmp(line, "arch"))
            snprintf(r->arch, sizeof(r->arch), "%s", v), seen |= 4;
        else if (!strcmp(line, "state"))
            snprintf(r->state, sizeof(r->state), "%s", v), seen |= 8;
        else if (!strcmp(line, "control"))
            snprintf(r->control, sizeof(r->control), "%s", v);
        else if (!strcmp(line, "node"))
            snprintf(r->node, sizeof(r->node), "%s", v);
        else if (!strcmp(line, "stop_socket"))
            snprintf(r->stop_socket, sizeof(r->stop_socket), "%s", v);
        else if (!strcmp(line, "cores"))
            r->cores = (unsigned)strtoul(v, &end, 10);
        else if (!strcmp(line, "active_cores"))
            r->active_cores = (unsigned)strtoul(v, &end, 10);
        /* unknown keys: written by a newer mlos; ignored */
        if (end && (*end || errno))
            return MLOS_EINVAL;
    }
    return seen == 15 && r->master_pid > 0 ? 0 : MLOS_EINVAL;
}

static int rec_path(char *out, size_t cap, int master_pid, uint32_t shard_id)
{
    char dir[512];
    if (mlos_registry_dir(dir, sizeof(dir)) < 0)
        return MLOS_EIO;
    int n = snprintf(out, cap, "%s/%d-%" PRIu32 ".shard", dir, master_pid, shard_id);
    return n < 0 || (size_t)n >= cap ? MLOS_EIO : 0;
}

int mlos_registry_write(const struct mlos_registry_rec *r)
{
    char path[600], tmp[640], text[1024];
    int n = mlos_registry_format(r, text, sizeof(text)), fd;
    if (n < 0 || rec_path(path, sizeof(path), r->master_pid, r->shard_id) < 0)
        return MLOS_EIO;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    /* A new file of our own, never one that is there already (a link
     * would make us write into its target). A leftover of a dead writer
     * with our pid is ours: removed once. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return MLOS_EIO;
    if (write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return MLOS_EIO;
    }
    return 0;
}

int mlos_registry_remove(int master_pid, uint32_t shard_id)
{
    char path[600];
    if (rec_path(path, sizeof(path), master_pid, shard_id) < 0)
        return MLOS_EIO;
    return unlink(path) < 0 && errno != ENOENT ? MLOS_EIO : 0;
}

static int read_rec(const char *path, struct mlos_registry_rec *r)
{
    char text[1024];
    struct stat st;
    /* no link, no FIFO to block on: a plain file of ours or nothing */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return MLOS_ENOENT;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return MLOS_EINVAL;
    }
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n < 0)
        return MLOS_EIO;
    text[n] = 0;
    return mlos_registry_parse(text, r);
}

static int rec_cmp(const void *a, const void *b)
{
    const struct mlos_registry_rec *x = a, *y = b;
    if (x->master_pid != y->master_pid)
        return x->master_pid < y->master_pid ? -1 : 1;
    return x->shard_id < y->shard_id ? -1 : x->shard_id > y->shard_id;
}

int mlos_registry_list(struct mlos_registry_rec **out)
{
    char dir[512], path[1024];
    struct mlos_registry_rec *v = NULL, r;
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *d;

    *out = NULL;
    if (mlos_registry_dir(dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
        return MLOS_EIO;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        int pid = atoi(e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".shard.tmp.")) { /* a writer died between write and rename */
            const char *w = strrchr(e->d_name, '.') + 1;
            if (kill(atoi(w), 0) < 0 && errno == ESRCH)
                unlink(path);
            continue;
        }
        if (!strncmp(e->d_name, "master-", 7) && len > 11 && !strcmp(e->d_name + len - 4, ".ctl")) {
            /* a master's stop socket (control.c): one killed before it
             * could remove its own leaves it behind */
            int mpid = atoi(e->d_name + 7);
            if (mpid > 0 && kill(mpid, 0) < 0 && errno == ESRCH)
                unlink(path);
            continue;
        }
        if (len < 7 || strcmp(e->d_name + len - 6, ".shard"))
            continue;
        if (read_rec(path, &r) < 0) {
            /* unreadable: junk unless its master still lives (then a race) */
            if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
                unlink(path);
            continue;
        }
        if (!mlos_registry_alive(&r)) {
            unlink(path);
            continue;
        }
        if (n == cap) {
            struct mlos_registry_rec *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return MLOS_ENOMEM;
            }
            v = nv;
        }
        v[n++] = r;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), rec_cmp);
    *out = v;
    return (int)n;
}

/* ---- hooks ---- */

int mlos__registry_enabled(void)
{
    static int warned;
    const char *e = getenv("MLOS_REGISTRY");
    char dir[512];
    if (e && !strcmp(e, "0"))
        return 0;
    if (mlos_registry_dir(dir, sizeof(dir)) == MLOS_EACCES) {
        /* the master runs on; `mlos ps` will not see its shards */
        if (!warned++ && !getenv("MLOS_QUIET"))
            fprintf(stderr, "mlos: shard registry off: %s\n", mlos_registry_why());
        return 0;
    }
    return 1;
}

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

void mlos__registry_started(const struct mlos_shard_s *shard, const char *arch, uint64_t mem_bytes, int stop_served)
{
    static uint64_t my_start;
    struct mlos_registry_rec r;
    if (!mlos__registry_enabled())
        return;
    if (!my_start)
        my_start = mlos_registry_proc_start(getpid());
    memset(&r, 0, sizeof(r));
    r.master_pid = getpid();
    r.master_start = my_start;
    r.shard_id = shard->id;
    snprintf(r.arch, sizeof(r.arch), "%s", arch ? arch : "x86_64");
    r.host_pid = shard->pid;
    snprintf(r.state, sizeof(r.state), "starting");
    r.mem_bytes = mem_bytes;
    r.start_time_ms = now_ms();
    snprintf(r.control, sizeof(r.control), "%s", control_path);
    snprintf(r.node, sizeof(r.node), "%s", shard->node);
    snprintf(r.stop_socket, sizeof(r.stop_socket), "%s", stop_served ? stop_path : "");
    mlos_registry_write(&r);
}

void mlos__registry_state(const struct mlos_shard_s *shard, const char *state)
{
    struct mlos_registry_rec r;
    char path[600];
    if (!mlos__registry_enabled() || rec_path(path, sizeof(path), getpid(), shard->id) < 0 || read_rec(path, &r) < 0)
        return;
    snprintf(r.state, sizeof(r.state), "%s", state);
    r.host_pid = shard->pid;
    if (shard->arch[0])
        snprintf(r.arch, sizeof(r.arch), "%s", shard->arch);
    if (shard->mem_bytes)
        r.mem_bytes = shard->mem_bytes;
    r.cores = shard->cores, r.active_cores = shard->active_cores;
    mlos_registry_write(&r);
}

void mlos__registry_released(const struct mlos_shard_s *shard)
{
    if (mlos__registry_enabled())
        mlos_registry_remove(getpid(), shard->id);
}
