/* The master's table of shard kinds (master/kinds/kind.h): every kind
 * resolves and is listed once, an unknown kind is refused with a message
 * naming it and the known ones (also by mlos_spawn and mlos_image_check),
 * and each kind's layout, command line, exit words and plain-image
 * judgement are those the spawn relies on. Boots nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kinds/kind.h"
#include "kinds/qemu_ppc.h"
#include "mlos.h"
#include "mlos_endian.h"
#include "mlos_exit.h"
#include "window.h"

#define MiB ((size_t)1024 * 1024)

static void test_table(void)
{
    static const char *const names[] = {"x86_64", "ppc", "process"};
    size_t n = 0;
    while (mlos__kind_at(n))
        n++;
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct mlos_kind *k = mlos__kind_find(names[i]);
        CHECK(k && !strcmp(k->name, names[i]));
        CHECK(k->default_image && k->default_image[0]);
        CHECK(k->layout && k->command && k->describe_exit && k->plain_image_ok);
        CHECK(k->code_ptr_bytes == 4 || k->code_ptr_bytes == 8);
        char err[128] = "untouched";
        CHECK(mlos__kind_lookup(names[i], err, sizeof(err)) == k);
        CHECK(!strcmp(err, "untouched"));
        for (size_t j = 0; j < i; j++)
            CHECK(mlos__kind_at(j) != k); /* listed once */
    }
    CHECK(!strcmp(mlos__kind_find("x86_64")->default_image, "mlos-slave-x86_64.elf"));
    CHECK(!strcmp(mlos__kind_find("ppc")->default_image, "mlos-slave-ppc.elf"));
    CHECK(!strcmp(mlos__kind_find("process")->default_image, "mlos-shard-process"));
    CHECK(mlos__kind_find("process")->own_env && !mlos__kind_find("x86_64")->own_env &&
          !mlos__kind_find("ppc")->own_env);
}

static void test_unknown(void)
{
    char err[128];
    CHECK(!mlos__kind_find("sparc") && !mlos__kind_find("") && !mlos__kind_find(NULL) && !mlos__kind_find("X86_64"));
    CHECK(!mlos__kind_lookup("sparc", err, sizeof(err)));
    CHECK(!strcmp(err, "unknown shard kind 'sparc' (known: x86_64 ppc process)"));
    CHECK(!mlos__kind_lookup(NULL, err, sizeof(err)));
    CHECK(strstr(err, "unknown shard kind '(none)'"));
    CHECK(!mlos__kind_lookup("bad\nname", err, sizeof(err))); /* not echoed as it is */
    CHECK(strstr(err, "'?'") && !strchr(err, '\n'));
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    CHECK(!mlos__kind_lookup(longname, err, sizeof(err)));
    CHECK(strlen(err) < sizeof(err) - 1 && strstr(err, "known: x86_64 ppc process)"));
    char tiny[8];
    CHECK(!mlos__kind_lookup("sparc", tiny, sizeof(tiny)) && strlen(tiny) == 7); /* truncated, terminated */

    /* mlos_spawn refuses it before anything starts; the struct stays safe */
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = "sparc"};
    CHECK_EQ(mlos_spawn(&loop, &s, &o, (mlos_spawn_cb)abort), MLOS_EINVAL);
    CHECK_EQ(mlos_shard_stop(&s, NULL), MLOS_EINVAL);
    CHECK(uv_loop_close(&loop) == 0);

    /* and so does the image check, whatever the file */
    CHECK_EQ(mlos_image_check("/nonexistent", "sparc", err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "unknown shard kind 'sparc'"));
}

static void test_layout(void)
{
    const struct mlos_kind *x = mlos__kind_find("x86_64"), *p = mlos__kind_find("ppc"), *pr = mlos__kind_find("process");
    size_t win = 17 * MiB + 8192, ram, off;

    CHECK_EQ(x->layout(64 * MiB, win, &ram, &off), 0);
    CHECK(ram % (2 * MiB) == 0 && ram >= 64 * MiB + win + 8 * MiB && ram < 64 * MiB + win + 10 * MiB);
    CHECK_EQ(off + win, ram);

    CHECK_EQ(p->layout(64 * MiB, win, &ram, &off), 0);
    CHECK_EQ(mlos_qemu_ppc_ram_size(ram), ram); /* a size the board takes */
    CHECK(ram >= 64 * MiB + 8 * MiB + win && off + win == ram);
    CHECK_EQ(p->layout(1, win, &ram, &off), 0); /* at least 32 MiB below the window */
    CHECK(off >= 32 * MiB);
    CHECK_EQ(p->layout(2048 * MiB, win, &ram, &off), MLOS_EINVAL); /* more than the board holds */
    CHECK_EQ(x->layout(SIZE_MAX - MiB, win, &ram, &off), MLOS_EINVAL);

    CHECK_EQ(pr->layout(64 * MiB, win, &ram, &off), 0); /* the window, then the arena */
    CHECK(ram == win + 64 * MiB && off == 0);
    CHECK_EQ(pr->layout(SIZE_MAX - 100, win, &ram, &off), MLOS_EINVAL);
    CHECK(x->low_reserved == MiB && p->low_reserved == MiB && pr->low_reserved == 0);
    CHECK(x->max_cores == MLOS_MAX_CORES && p->max_cores == 1 && pr->max_cores == 1);
    CHECK(p->one_core_why && pr->one_core_why);
}

static int has(char **argv, const char *s)
{
    for (; *argv; argv++)
        if (!strcmp(*argv, s))
            return 1;
    return 0;
}

static const char *after(char **argv, const char *s)
{
    for (; *argv; argv++)
        if (!strcmp(*argv, s))
            return argv[1];
    return NULL;
}

static void test_command(void)
{
    struct mlos_spawn_opts o = {.spin_us = 5};
    struct mlos_kind_spawn ks = {.opts = &o, .shard_id = 42, .image = "/img/shard.elf", .ram_fd = 4, .doorbell_fd = 3,
                                 .mem_bytes = 64 * MiB, .win_len = 17 * MiB};
    char *argv[64], buf[4096], env[600];
    struct mlos_kind_cmd cmd = {argv, 64, buf, sizeof(buf), env, sizeof(env)};
    const struct mlos_kind *x = mlos__kind_find("x86_64"), *p = mlos__kind_find("ppc"), *pr = mlos__kind_find("process");

    CHECK_EQ(x->layout(ks.mem_bytes, ks.win_len, &ks.ram_bytes, &ks.win_off), 0);
    CHECK_EQ(x->command(&ks, &cmd), 0);
    CHECK(!strcmp(argv[0], "qemu-system-x86_64") && !strcmp(after(argv, "-M"), "microvm,pic=off,rtc=off,acpi=off"));
    CHECK(!strcmp(after(argv, "-kernel"), "/img/shard.elf") && !strcmp(after(argv, "-accel"), "tcg"));
    CHECK(has(argv, "isa-debug-exit,iobase=0xf4,iosize=4") && env[0] == 0);
    const char *line = after(argv, "-append");
    char want[256];
    snprintf(want, sizeof(want), "mlos.window=0x%zx,0x%zx mlos.id=42 mlos.tsc_hz=", ks.win_off, ks.win_len);
    CHECK(line && !strncmp(line, want, strlen(want)));
    CHECK(strstr(line, " mlos.spin_us=5 mlos.mem=67108864") && line[strlen(line) - 1] == '4');
    ks.mem_max_bytes = 512 * MiB;
    ks.cores = 2;
    CHECK_EQ(x->command(&ks, &cmd), 0);
    line = after(argv, "-append");
    CHECK(strstr(line, " mlos.mem_max=536870912") && strstr(line, " mlos.cores=2"));
    CHECK(!strcmp(after(argv, "-accel"), "tcg,thread=multi") && !strcmp(after(argv, "-smp"), "2"));
    ks.mem_max_bytes = 0;
    ks.cores = 0;
    o.qemu = "/opt/qemu";
    CHECK_EQ(x->command(&ks, &cmd), 0);
    CHECK(!strcmp(argv[0], "/opt/qemu"));
    o.qemu = NULL;
    struct mlos_kind_cmd small = {argv, 64, buf, 40, env, sizeof(env)};
    CHECK_EQ(x->command(&ks, &small), MLOS_ETOOBIG);
    struct mlos_kind_cmd few = {argv, 5, buf, sizeof(buf), env, sizeof(env)};
    CHECK_EQ(x->command(&ks, &few), MLOS_ETOOBIG);

    CHECK_EQ(p->layout(ks.mem_bytes, ks.win_len, &ks.ram_bytes, &ks.win_off), 0);
    CHECK_EQ(p->command(&ks, &cmd), 0);
    CHECK(!strcmp(argv[0], "qemu-system-ppc") && !strcmp(after(argv, "-M"), "bamboo") && env[0] == 0);
    line = after(argv, "-append");
    CHECK(line && strstr(line, "mlos.id=42") && !strstr(line, "tsc_hz") && strstr(line, "mlos.mem=67108864"));
    CHECK(!has(argv, "-device"));
    /* A group memory: an ivshmem PCI device whose BAR the guest places. */
    ks.group_bytes = 128 * MiB;
    ks.group_fd = 6;
    CHECK_EQ(p->command(&ks, &cmd), 0);
    line = after(argv, "-append");
    CHECK(line && strstr(line, " mlos.group=0x80000000,0x8000000"));
    CHECK(!strcmp(after(argv, "-device"), "ivshmem-plain,memdev=grp"));
    CHECK(has(argv, "memory-backend-file,id=grp,size=134217728,mem-path=/proc/self/fd/6,share=on"));
    ks.group_bytes = 96 * MiB; /* not a power of two: no BAR can hold it */
    CHECK_EQ(p->command(&ks, &cmd), MLOS_EINVAL);
    ks.group_bytes = 2048 * MiB; /* above the room between RAM and the board's I/O */
    CHECK_EQ(p->command(&ks, &cmd), MLOS_EINVAL);
    ks.group_bytes = 0;
    ks.ram_bytes += MiB; /* not a size the board takes: the builder refuses */
    CHECK_EQ(p->command(&ks, &cmd), MLOS_EINVAL);

    CHECK_EQ(pr->layout(ks.mem_bytes, ks.win_len, &ks.ram_bytes, &ks.win_off), 0);
    CHECK_EQ(pr->command(&ks, &cmd), 0);
    CHECK(!strcmp(argv[0], "/img/shard.elf") && argv[1] == NULL);
    snprintf(want, sizeof(want),
             "MLOS_SHARD_ARGS=mlos.window=0x0,0x%zx mlos.arena=0x%zx,0x%zx mlos.id=42 mlos.spin_us=5 mlos.mem=67108864",
             ks.win_len, ks.win_len, ks.ram_bytes - ks.win_len);
    CHECK(!strcmp(env, want));
    ks.mem_max_bytes = 512 * MiB;
    CHECK_EQ(pr->command(&ks, &cmd), 0);
    CHECK(strstr(env, " mlos.mem=67108864 mlos.mem_max=536870912"));
    ks.mem_max_bytes = 0;
    struct mlos_kind_cmd noenv = {argv, 64, buf, sizeof(buf), env, 20};
    CHECK_EQ(pr->command(&ks, &noenv), MLOS_ETOOBIG);
}

static void test_exit(void)
{
    const struct mlos_kind *x = mlos__kind_find("x86_64"), *p = mlos__kind_find("ppc"), *pr = mlos__kind_find("process");
    char how[96];
    static struct mlos_window_hdr win; /* zeroed: the shard reported nothing */

    x->describe_exit(3 << 1 | 1, NULL, 0, how, sizeof(how));
    CHECK(!strcmp(how, "exited with status 3"));
    x->describe_exit(99 << 1 | 1, NULL, 0, how, sizeof(how));
    CHECK(!strcmp(how, "crashed (fatal exception)"));
    x->describe_exit(2, NULL, 0, how, sizeof(how)); /* QEMU's own code */
    CHECK(!strcmp(how, "exited with code 2"));

    pr->describe_exit(3, NULL, 0, how, sizeof(how));
    CHECK(!strcmp(how, "exited with code 3"));
    pr->describe_exit(99 << 1 | 1, NULL, 0, how, sizeof(how)); /* a process's code is just its code */
    CHECK(!strcmp(how, "exited with code 199"));

    p->describe_exit(0, &win, sizeof(win), how, sizeof(how));
    CHECK(!strcmp(how, "exited with code 0"));
    uint64_t word = mlos_to_le64(mlos_ppc_exit_word(7));
    memcpy(&win.reserved[MLOS_PPC_EXIT_SLOT], &word, sizeof(word));
    p->describe_exit(0, &win, sizeof(win), how, sizeof(how));
    CHECK(!strcmp(how, "exited with status 7"));
    p->describe_exit(0, &win, sizeof(win) - 1, how, sizeof(how)); /* too short a window: not read */
    CHECK(!strcmp(how, "exited with code 0"));
    p->describe_exit(0, NULL, 0, how, sizeof(how));
    CHECK(!strcmp(how, "exited with code 0"));
    p->describe_exit(1, &win, sizeof(win), how, sizeof(how)); /* QEMU failed: its code, not the word */
    CHECK(!strcmp(how, "exited with status 0"));
    word = mlos_to_le64(mlos_ppc_exit_word(99));
    memcpy(&win.reserved[MLOS_PPC_EXIT_SLOT], &word, sizeof(word));
    p->describe_exit(0, &win, sizeof(win), how, sizeof(how));
    CHECK(!strcmp(how, "crashed (fatal exception)"));
    /* x86_64 has its exit device: a word in its window is not believed */
    x->describe_exit(0, &win, sizeof(win), how, sizeof(how));
    CHECK(!strcmp(how, "exited with code 0"));
}

static void test_plain_images(void)
{
    const struct mlos_kind *x = mlos__kind_find("x86_64"), *p = mlos__kind_find("ppc"), *pr = mlos__kind_find("process");
    struct mlos_image_info multiboot = {.arch = "x86_64", .machine = "i386/ELF32LE"};
    struct mlos_image_info static64 = {.arch = "x86_64", .machine = "x86-64/ELF64LE"};
    struct mlos_image_info dynamic = {.arch = "process", .machine = "x86-64/ELF64LE"};
    struct mlos_image_info ppc = {.arch = "ppc", .machine = "ppc/ELF32BE"};
    struct mlos_image_info other = {.arch = "unknown", .machine = "other/ELF64LE"};

    CHECK(x->plain_image_ok(&multiboot) && !p->plain_image_ok(&multiboot) && !pr->plain_image_ok(&multiboot));
    CHECK(x->plain_image_ok(&static64) && !p->plain_image_ok(&static64));
#if defined(__x86_64__)
    CHECK(pr->plain_image_ok(&static64));
#endif
    CHECK(!x->plain_image_ok(&dynamic) && !p->plain_image_ok(&dynamic) && pr->plain_image_ok(&dynamic));
    CHECK(!x->plain_image_ok(&ppc) && p->plain_image_ok(&ppc) && !pr->plain_image_ok(&ppc));
    CHECK(!x->plain_image_ok(&other) && !p->plain_image_ok(&other) && !pr->plain_image_ok(&other));
}

int main(void)
{
    setenv("MLOS_QUIET", "1", 1);
    test_table();
    test_unknown();
    test_layout();
    test_command();
    test_exit();
    test_plain_images();
    printf("kinds: ok\n");
    return 0;
}
