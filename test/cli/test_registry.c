/* The shard registry (master/registry.h): text round trip, atomic files in
 * $MLOS_RUNTIME_DIR, the shard.c hooks (started -> ready -> dead ->
 * released), and readers dropping records of dead masters, reused pids and
 * torn temporary files. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mlos.h"
#include "registry.h"

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (int)p;
}

int main(void)
{
    char dir[] = "/tmp/mlos-registry-test-XXXXXX", got[512], text[1024];
    struct mlos_registry_rec r, back, *v;

    CHECK(mkdtemp(dir) != NULL);
    setenv("MLOS_RUNTIME_DIR", dir, 1);
    unsetenv("MLOS_REGISTRY");
    CHECK_EQ(mlos_registry_dir(got, sizeof(got)), 0);
    CHECK(!strcmp(got, dir));

    /* text round trip */
    memset(&r, 0, sizeof(r));
    r.master_pid = getpid();
    r.master_start = mlos_registry_proc_start(getpid());
    CHECK(r.master_start > 0);
    r.shard_id = 3;
    strcpy(r.arch, "x86_64");
    r.host_pid = 4242;
    strcpy(r.state, "ready");
    r.mem_bytes = 64ull << 20;
    r.start_time_ms = 1700000000123ull;
    strcpy(r.control, "/tmp/x.sock");
    CHECK(mlos_registry_format(&r, text, sizeof(text)) > 0);
    CHECK_EQ(mlos_registry_parse(text, &back), 0);
    CHECK(!memcmp(&r, &back, sizeof(r)));
    CHECK_EQ(mlos_registry_parse("master_pid: 1\nshard_id: 2\n", &back), MLOS_EINVAL); /* incomplete */
    CHECK_EQ(mlos_registry_parse("master_pid: 1x\nshard_id: 2\narch: a\nstate: s\n", &back), MLOS_EINVAL);

    /* write, list, replace, remove */
    CHECK_EQ(mlos_registry_write(&r), 0);
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK(!memcmp(&v[0], &r, sizeof(r)));
    free(v);
    strcpy(r.state, "dead");
    CHECK_EQ(mlos_registry_write(&r), 0);
    CHECK_EQ(count_files(dir), 1); /* replaced in place, no temporary left */
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK(!strcmp(v[0].state, "dead"));
    free(v);
    CHECK_EQ(mlos_registry_remove(r.master_pid, r.shard_id), 0);
    CHECK_EQ(mlos_registry_list(&v), 0);
    free(v);

    /* the hooks shard.c calls */
    mlos_shard_t s;
    memset(&s, 0, sizeof(s));
    s.id = 77;
    s.pid = 999;
    mlos_registry_set_control(NULL);
    mlos__registry_started(&s, "process", 32ull << 20, 1);
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK(!strcmp(v[0].state, "starting") && !strcmp(v[0].arch, "process") && v[0].host_pid == 999);
    CHECK_EQ(v[0].mem_bytes, 32ull << 20);
    CHECK(!v[0].control[0]);
    uint64_t t0 = v[0].start_time_ms;
    free(v);
    strcpy(s.arch, "process");
    s.mem_bytes = 30ull << 20;
    mlos__registry_state(&s, "ready");
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK(!strcmp(v[0].state, "ready"));
    CHECK_EQ(v[0].mem_bytes, 30ull << 20); /* what the shard reported */
    CHECK_EQ(v[0].start_time_ms, t0);      /* kept from the start */
    free(v);
    s.pid = 0;
    mlos__registry_state(&s, "dead");
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK(!strcmp(v[0].state, "dead") && v[0].host_pid == 0);
    free(v);
    mlos__registry_released(&s);
    CHECK_EQ(mlos_registry_list(&v), 0);
    free(v);
    setenv("MLOS_REGISTRY", "0", 1); /* off: nothing written */
    mlos__registry_started(&s, "process", 1, 1);
    CHECK_EQ(count_files(dir), 0);
    unsetenv("MLOS_REGISTRY");

    /* stale records: dead master, reused pid, torn temporary, junk */
    r.master_pid = dead_pid();
    r.shard_id = 1;
    CHECK_EQ(mlos_registry_write(&r), 0);
    r.master_pid = getpid();
    r.master_start += 12345; /* "our" pid, but a different process start */
    r.shard_id = 2;
    CHECK_EQ(mlos_registry_write(&r), 0);
    r.master_start -= 12345;
    r.shard_id = 5;
    CHECK_EQ(mlos_registry_write(&r), 0); /* the one live record */
    snprintf(got, sizeof(got), "%s/%d-9.shard.tmp.%d", dir, dead_pid(), dead_pid());
    FILE *f = fopen(got, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(got, sizeof(got), "%s/%d-4.shard", dir, dead_pid());
    f = fopen(got, "w");
    if (f) {
        fputs("garbage", f);
        fclose(f);
    }
    snprintf(got, sizeof(got), "%s/master-%d.ctl", dir, dead_pid()); /* a killed master's stop socket */
    f = fopen(got, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(got, sizeof(got), "%s/master-%d.ctl", dir, (int)getpid()); /* a live master's stays */
    f = fopen(got, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK_EQ(count_files(dir), 7);
    CHECK_EQ(mlos_registry_list(&v), 1);
    CHECK_EQ(v[0].shard_id, 5);
    free(v);
    CHECK_EQ(count_files(dir), 2); /* readers cleaned the rest */
    unlink(got);
    mlos_registry_remove(getpid(), 5);
    CHECK_EQ(count_files(dir), 0);
    rmdir(dir);
    CHECK_DONE();
}
