/* mlos build --arch x86_64|ppc|process -o IMAGE [--manifest APP.mlos] [-v]
 *            [CFLAGS...] SOURCE...
 *
 * Builds a bootable slave image from the user's task sources with the
 * installed SDK only: the compiler, flags, libraries, linker script and
 * post-link step all come from the kit's pkg-config file
 * (<libdir>/pkgconfig/mlos-slave-<arch>.pc, found relative to this
 * program), so `mlos build` and a Makefile using pkg-config produce the
 * same image. Without --manifest the user's tasks are linked beside the
 * built-in ones (the kit's runtime library, linked whole). With a manifest
 * (bare metal only) the image holds exactly the components the composer
 * selects from the installed components, plus the user's sources.
 *
 * Arguments starting with '-' are compiler flags (-I, -D, -O2, ...); .c and
 * .S files are compiled (-j N at once; default: one per CPU), .o and .a
 * files are linked. Every failure is one
 * line "mlos build: ..." on stderr (after the compiler's own messages, if
 * it was the compiler that failed) and exit status 1; usage errors exit 2.
 * The image appears at IMAGE only when everything succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "compose.h"
#include "kinds/kind.h"
#include "mlos_image.h"

#ifndef MLOS_PKGCONFIG_REL
#define MLOS_PKGCONFIG_REL "../lib/pkgconfig"
#endif

extern char **environ;

struct args { /* a growable argv */
    char **v;
    size_t n, cap;
};

static int verbose;
static int progress; /* a line per step on stderr: --progress, or stderr is a terminal */

static void args_add(struct args *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        if (!(a->v = realloc(a->v, a->cap * sizeof(char *)))) {
            perror("mlos build");
            exit(1);
        }
    }
    if (!(a->v[a->n++] = strdup(s))) {
        perror("mlos build");
        exit(1);
    }
    a->v[a->n] = NULL;
}

static void args_split(struct args *a, const char *s) /* whitespace-separated words */
{
    char *copy = strdup(s ? s : ""), *save = NULL;
    for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        args_add(a, w);
    free(copy);
}

static void args_free(struct args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    fputs("mlos build: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* ---- the kit's .pc file: variables, Cflags, Libs ---- */

struct pc {
    struct args keys, vals;
    char *cflags, *libs;
};

static const char *pc_raw(const struct pc *pc, const char *key)
{
    for (size_t i = 0; i < pc->keys.n; i++)
        if (!strcmp(pc->keys.v[i], key))
            return pc->vals.v[i];
    return NULL;
}

/* ${name} references expanded (depth-bounded: a .pc file may not loop). */
static char *pc_expand(const struct pc *pc, const char *s, int depth)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*s) {
        const char *end;
        if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}')) && depth < 16) {
            char name[128];
            size_t n = (size_t)(end - s - 2);
            snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), s + 2);
            const char *raw = pc_raw(pc, name);
            char *val = raw ? pc_expand(pc, raw, depth + 1) : strdup("");
            if (!val) {
                free(out);
                return NULL;
            }
            size_t vl = strlen(val);
            if (len + vl + strlen(end + 1) + 1 > cap && !(out = realloc(out, cap = len + vl + strlen(end + 1) + 1)))
                return NULL;
            memcpy(out + len, val, vl);
            len += vl;
            free(val);
            s = end + 1;
        } else {
            out[len++] = *s++;
        }
    }
    out[len] = 0;
    return out;
}

static char *pc_get(const struct pc *pc, const char *key)
{
    const char *raw = pc_raw(pc, key);
    return pc_expand(pc, raw ? raw : "", 0);
}

static int pc_load(struct pc *pc, const char *path, const char *dir)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    memset(pc, 0, sizeof(*pc));
    if (!f)
        return -1;
    args_add(&pc->keys, "pcfiledir");
    args_add(&pc->vals, dir);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '='), *colon = strchr(line, ':');
        if (line[0] == '#' || !line[0])
            continue;
        if (colon && (!eq || colon < eq)) {
            char **field = !strncmp(line, "Cflags:", 7) ? &pc->cflags : !strncmp(line, "Libs:", 5) ? &pc->libs : NULL;
            if (field) {
                free(*field);
                *field = pc_expand(pc, colon + 1, 0);
            }
        } else if (eq) {
            *eq = 0;
            args_add(&pc->keys, line);
            args_add(&pc->vals, eq + 1);
        }
    }
    fclose(f);
    return 0;
}

static void pc_free(struct pc *pc)
{
    args_free(&pc->keys);
    args_free(&pc->vals);
    free(pc->cflags);
    free(pc->libs);
}

/* ---- running the toolchain ---- */

static void show(const struct args *a)
{
    if (!verbose)
        return;
    for (size_t i = 0; i < a->n; i++)
        fprintf(stderr, "%s%s", i ? " " : "+ ", a->v[i]);
    fputc('\n', stderr);
}

static int wait_ok(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int run(struct args *a)
{
    pid_t pid;
    show(a);
    if ((errno = posix_spawnp(&pid, a->v[0], NULL, NULL, a->v, environ)) != 0)
        return -1;
    return wait_ok(pid);
}

static int in_path(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, full[PATH_MAX];
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(full, sizeof(full), "%s/%s", *d ? d : ".", prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

static const char *ext(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot : "";
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char buf[65536];
    ssize_t n;
    if (in >= 0 && (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755)) >= 0) {
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n)
                break;
        rc = n == 0 ? 0 : -1;
    }
    if (out >= 0 && close(out) < 0)
        rc = -1;
    if (in >= 0)
        close(in);
    return rc;
}

static void remove_tree(const char *dir, const struct args *files)
{
    for (size_t i = 0; i < files->n; i++)
        unlink(files->v[i]);
    rmdir(dir);
}

/* ---- mlos build ---- */

static int usage(void)
{
    fprintf(stderr, "usage: mlos build --arch x86_64|ppc|process -o IMAGE [--manifest APP.mlos] [-j N] [-v] [--progress] [CFLAGS...] SOURCE...\n");
    return 2;
}

/* <prefix>/<libdir>/pkgconfig, from this program's own location. */
static int find_pcdir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    *slash = 0;
    char joined[PATH_MAX + 64];
    snprintf(joined, sizeof(joined), "%s/%s", exe, MLOS_PKGCONFIG_REL);
    return realpath(joined, out) && strlen(out) < cap ? 0 : -1;
}

#define MAX_JOBS 64

struct build {
    const char *arch, *out, *manifest;
    struct args cflags, sources, inputs; /* user's flags, files to compile, files to link as is */
    struct pc pc;
    char tmp[PATH_MAX];
    struct args temps; /* files to remove */
    char *cc;
    /* compilers running at once: jobs of them, for sources src[] */
    unsigned jobs, running;
    pid_t pid[MAX_JOBS];
    const char *src[MAX_JOBS];
    const char *failed; /* first source that did not compile */
    size_t started;     /* compiles started, for the progress lines */
};

/* Wait for one running compiler (or all, with all set); remembers the
 * first failure. */
static void reap(struct build *b, int all)
{
    while (b->running) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        for (unsigned i = 0; i < b->running; i++) {
            if (pid >= 0 && b->pid[i] != pid)
                continue;
            if ((pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) && !b->failed)
                b->failed = b->src[i];
            b->running--;
            b->pid[i] = b->pid[b->running];
            b->src[i] = b->src[b->running];
            break;
        }
        if (!all)
            return;
    }
}

/* All compiles started so far have finished: 0, or the one-line error. */
static int compiled(struct build *b)
{
    reap(b, 1);
    return b->failed ? die("%s does not compile for %s (see the compiler's messages above)", b->failed, b->arch) : 0;
}

/* Start compiling src to a fresh object in the temporary directory (up to
 * b->jobs at once; compiled() waits for them); the user's flags apply to
 * the user's sources only (user), not to the SDK's. */
static int compile(struct build *b, const char *src, const struct args *extra, int user, struct args *objs)
{
    struct args a = {0};
    char obj[PATH_MAX + 32];
    snprintf(obj, sizeof(obj), "%s/%zu.o", b->tmp, b->temps.n);
    args_add(&b->temps, obj);
    args_add(&a, b->cc);
    args_split(&a, b->pc.cflags);
    for (size_t i = 0; extra && i < extra->n; i++)
        args_add(&a, extra->v[i]);
    for (size_t i = 0; user && i < b->cflags.n; i++)
        args_add(&a, b->cflags.v[i]);
    args_add(&a, "-c");
    args_add(&a, src);
    args_add(&a, "-o");
    args_add(&a, obj);
    if (b->running >= b->jobs)
        reap(b, 0);
    if (b->failed) { /* stop starting more after a failure */
        args_free(&a);
        return -1;
    }
    show(&a);
    if (progress && !verbose) {
        const char *slash = strrchr(src, '/');
        fprintf(stderr, "mlos build: [%zu] compiling %s\n", ++b->started, slash ? slash + 1 : src);
    }
    pid_t pid;
    if ((errno = posix_spawnp(&pid, a.v[0], NULL, NULL, a.v, environ)) != 0) {
        args_free(&a);
        b->failed = src;
        return -1;
    }
    args_free(&a);
    b->pid[b->running] = pid;
    b->src[b->running++] = src;
    args_add(objs, obj);
    return 0;
}

/* Objects of the components a manifest selects, and the note naming them. */
static int compile_manifest(struct build *b, struct args *objs)
{
    struct mlos_component_set set = {0};
    struct mlos_app app = {0};
    struct mlos_composition comp = {0};
    struct args roots = {0}, inc = {0}, note = {0};
    char err[512];
    int rc = 1;

    char *copy = strdup(mlos_compose_default_roots()), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
        args_add(&roots, d);
    free(copy);
    if (mlos_compose_file((const char *const *)roots.v, roots.n, b->manifest, &set, &app, &comp, err, sizeof(err)) < 0) {
        die("%s: %s", b->manifest, err);
        goto out;
    }
    if (!app.arch || strcmp(app.arch, b->arch)) {
        die("%s is a manifest for %s, not for %s", b->manifest, app.arch ? app.arch : "no architecture", b->arch);
        goto out;
    }
    /* Component sources include each other by bare name across layers,
     * as in the source tree: every component directory and the tree's
     * top-level ones are on the include path. */
    char *sdkinc = pc_get(&b->pc, "sdkincludedir"), *cdir = pc_get(&b->pc, "componentdir");
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "-I%s", sdkinc);
    args_add(&inc, path);
    static const char *const top[] = {"", "/rpc/abi", "/hal", "/hal/libc/include", "/hal/libc",
                                      "/rpc/wire", "/libos", "/libos/runtime"};
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        snprintf(path, sizeof(path), "-I%s%s", cdir, top[i]);
        args_add(&inc, path);
    }
    for (size_t i = 0; i < comp.n; i++) {
        snprintf(path, sizeof(path), "-I%s", comp.order[i]->dir);
        args_add(&inc, path);
    }
    int bad = 0;
    for (size_t i = 0; i < comp.sources.n && !bad; i++)
        bad = compile(b, comp.sources.v[i], &inc, 0, objs);
    char *sdkdir = pc_get(&b->pc, "sdkdir");
    snprintf(path, sizeof(path), "%s/mlos.pb-c.c", sdkdir); /* rpc's generated messages */
    if (!bad)
        bad = compile(b, path, &inc, 0, objs);
    /* The note: this arch and the components selected. */
    char names[2048] = "", def[2200];
    for (size_t i = 0, used = 0; i < comp.n && used < sizeof(names) - 1; i++)
        used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? " " : "", comp.order[i]->name);
    snprintf(def, sizeof(def), "-DMLOS_NOTE_ARCH=\"%s\"", b->arch);
    args_add(&note, def);
    snprintf(def, sizeof(def), "-DMLOS_NOTE_COMPONENTS=\"%s\"", names);
    args_add(&note, def);
    snprintf(path, sizeof(path), "-I%s/mlos", sdkinc);
    args_add(&note, path);
    snprintf(path, sizeof(path), "%s/image_note.S", sdkdir);
    if (!bad)
        bad = compile(b, path, &note, 0, objs);
    free(sdkinc);
    free(cdir);
    free(sdkdir);
    rc = compiled(b) || bad;
out:
    args_free(&roots);
    args_free(&inc);
    args_free(&note);
    mlos_composition_free(&comp);
    mlos_app_free(&app);
    mlos_components_free(&set);
    return rc;
}

static int build(struct build *b)
{
    char pcdir[PATH_MAX], pcpath[PATH_MAX + 64], linked[PATH_MAX + 32], final[PATH_MAX + 32];
    struct args objs = {0}, a = {0};
    int rc = 1;

    if (find_pcdir(pcdir, sizeof(pcdir)) < 0)
        return die("cannot find the SDK (no %s beside this mlos program: is mlos installed?)", MLOS_PKGCONFIG_REL);
    snprintf(pcpath, sizeof(pcpath), "%s/mlos-slave-%s.pc", pcdir, b->arch);
    if (pc_load(&b->pc, pcpath, pcdir) < 0)
        return die("no %s kit installed (%s: %s)", b->arch, pcpath, strerror(errno));
    b->cc = pc_get(&b->pc, "cc");
    if (!b->cc || !*b->cc || !in_path(b->cc)) {
        rc = die("the %s compiler '%s' is not installed or not in PATH%s", b->arch, b->cc ? b->cc : "",
                 !strcmp(b->arch, "ppc") ? " (Debian: apt-get install gcc-powerpc-linux-gnu)" : "");
        goto out;
    }
    snprintf(b->tmp, sizeof(b->tmp), "%s/mlos-build-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b->tmp)) {
        rc = die("cannot create a temporary directory: %s", strerror(errno));
        b->tmp[0] = 0;
        goto out;
    }
    for (size_t i = 0; i < b->sources.n && !b->failed; i++)
        compile(b, b->sources.v[i], NULL, 1, &objs);
    if (compiled(b) || (b->manifest && compile_manifest(b, &objs)))
        goto out;

    /* Link: objects, then the kit's libraries (a manifest image has its
     * runtime in the objects already, so not the kit's runtime library). */
    snprintf(linked, sizeof(linked), "%s/image.linked", b->tmp);
    args_add(&b->temps, linked);
    args_add(&a, b->cc);
    for (size_t i = 0; i < objs.n; i++)
        args_add(&a, objs.v[i]);
    for (size_t i = 0; i < b->inputs.n; i++)
        args_add(&a, b->inputs.v[i]);
    char *lf = pc_get(&b->pc, "link_flags"), *rl = pc_get(&b->pc, "runtime_libs"), *tl = pc_get(&b->pc, "tail_libs");
    args_split(&a, lf);
    if (!b->manifest)
        args_split(&a, rl);
    args_split(&a, tl);
    free(lf);
    free(rl);
    free(tl);
    args_add(&a, "-o");
    args_add(&a, linked);
    if (progress && !verbose)
        fprintf(stderr, "mlos build: linking the %s image %s\n", b->arch, b->out);
    if (run(&a) < 0) {
        rc = die("linking the %s image failed (see the linker's messages above)", b->arch);
        goto out;
    }
    args_free(&a);

    /* Post-link step (x86_64: ELF64 -> the ELF32 QEMU's Multiboot loader takes). */
    char *post = pc_get(&b->pc, "postlink");
    snprintf(final, sizeof(final), "%s", linked);
    if (post && *post) {
        snprintf(final, sizeof(final), "%s/image.final", b->tmp);
        args_add(&b->temps, final);
        args_split(&a, post);
        args_add(&a, linked);
        args_add(&a, final);
        if (run(&a) < 0) {
            free(post);
            rc = die("post-link step '%s' failed", a.v[0]);
            goto out;
        }
        args_free(&a);
    }
    free(post);

    /* The image must be what it claims, and every task name unique: a
     * second task of a name would silently never run. */
    struct mlos_image_info info;
    char err[512];
    if (mlos_image_check(final, b->arch, err, sizeof(err)) < 0 || mlos_image_inspect(final, &info, err, sizeof(err)) < 0) {
        rc = die("the linked image is not usable: %s", err);
        goto out;
    }
    for (size_t i = 0; i < info.ntasks; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(info.tasks[i], info.tasks[j])) {
                rc = die("task '%s' is defined twice (the image already has a task of that name)", info.tasks[i]);
                mlos_image_info_free(&info);
                goto out;
            }

    /* Appears at the destination complete or not at all. */
    char part[PATH_MAX + 32];
    snprintf(part, sizeof(part), "%s.part%d", b->out, (int)getpid());
    if (copy_file(final, part) < 0 || rename(part, b->out) < 0) {
        rc = die("cannot write %s: %s", b->out, strerror(errno));
        unlink(part);
        mlos_image_info_free(&info);
        goto out;
    }
    printf("%s: %s image, ABI %u, %zu tasks\n", b->out, info.arch, info.abi, info.ntasks);
    mlos_image_info_free(&info);
    rc = 0;
out:
    reap(b, 1);
    args_free(&a);
    args_free(&objs);
    if (b->tmp[0])
        remove_tree(b->tmp, &b->temps);
    return rc;
}

int mlos_cli_build(int argc, char **argv)
{
    struct build b = {0};
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--arch") || !strcmp(s, "-o") || !strcmp(s, "--manifest")) {
            if (i + 1 >= argc)
                return usage();
            *(!strcmp(s, "--arch") ? &b.arch : !strcmp(s, "-o") ? &b.out : &b.manifest) = argv[++i];
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(s, "-j") && i + 1 < argc) {
            b.jobs = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(s, "-v") || !strcmp(s, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(s, "--progress")) {
            progress = 1;
        } else if (s[0] == '-') {
            args_add(&b.cflags, s);
            /* flags whose value is the next word */
            if ((!strcmp(s, "-I") || !strcmp(s, "-D") || !strcmp(s, "-U") || !strcmp(s, "-include") ||
                 !strcmp(s, "-isystem")) && i + 1 < argc)
                args_add(&b.cflags, argv[++i]);
        } else if (!strcmp(ext(s), ".c") || !strcmp(ext(s), ".S")) {
            args_add(&b.sources, s);
        } else if (!strcmp(ext(s), ".o") || !strcmp(ext(s), ".a")) {
            args_add(&b.inputs, s);
        } else {
            args_free(&b.cflags);
            args_free(&b.sources);
            args_free(&b.inputs);
            fprintf(stderr, "mlos build: '%s' is not a source (.c, .S) or an object (.o, .a)\n", s);
            return 2;
        }
    }
    progress = mlos_cli_progress_wanted(progress);
    if (!b.arch || !b.out || (!b.sources.n && !b.inputs.n && !b.manifest)) {
        args_free(&b.cflags);
        args_free(&b.sources);
        args_free(&b.inputs);
        return usage();
    }
    if (!b.jobs) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        b.jobs = n > 0 ? (unsigned)n : 1;
    }
    if (b.jobs > MAX_JOBS)
        b.jobs = MAX_JOBS;
    if (!mlos__kind_find(b.arch))
        rc = die("unknown arch '%s' (x86_64, ppc or process)", b.arch);
    else if (b.manifest && !strcmp(b.arch, "process"))
        rc = die("--manifest composes bare-metal images (x86_64, ppc); a process shard is linked from the process kit");
    else
        rc = build(&b);
    pc_free(&b.pc);
    free(b.cc);
    args_free(&b.temps);
    args_free(&b.cflags);
    args_free(&b.sources);
    args_free(&b.inputs);
    return rc;
}
