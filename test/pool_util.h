/* Helpers shared by test_pool.c and test_faults.c: child processes of this
 * process (a leak check next to count_fds), little-endian integers, and
 * running the loop until a condition or a deadline. */
#ifndef MLOS_TEST_POOL_UTIL_H
#define MLOS_TEST_POOL_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlos_pool.h"
#include "mlos_endian.h"

/* Processes whose parent is this process (zombies included). */
static inline int count_children(void)
{
    int n = 0, me = getpid();
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        int ppid = 0;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = 0;
        char *rp = strrchr(buf, ')'); /* comm may hold spaces */
        if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == me)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static inline double ms_since(uint64_t t0) { return (double)(uv_hrtime() - t0) / 1e6; }

static inline void pool_util_noop(uv_timer_t *t) { (void)t; }

/* Run the loop until cond holds or ms pass (a 10 ms ticker keeps it
 * waking up to re-check cond). */
#define RUN_UNTIL(loop, cond, ms)                                                                                \
    do {                                                                                                         \
        uint64_t end_ = uv_hrtime() + (uint64_t)(ms)*1000000u;                                                   \
        uv_timer_t t_;                                                                                           \
        uv_timer_init((loop), &t_);                                                                              \
        uv_timer_start(&t_, pool_util_noop, 10, 10);                                                             \
        while (!(cond) && uv_hrtime() < end_)                                                                    \
            uv_run((loop), UV_RUN_ONCE);                                                                         \
        uv_close((uv_handle_t *)&t_, NULL);                                                                      \
        uv_run((loop), UV_RUN_NOWAIT);                                                                           \
    } while (0)

#endif
