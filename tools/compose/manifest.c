/* Reading component (*.component) and application (*.mlos) manifests:
 * `key: value` lines, '#' comments, lists separated by blanks or commas.
 * Unknown keys and repeated scalar keys are errors (a typo must not be
 * silently ignored). See FORMAT.md. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compose.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

int mlos_strlist_has(const struct mlos_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return 1;
    return 0;
}

int mlos_strlist_add(struct mlos_strlist *l, const char *s)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    if (!(v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

void mlos_strlist_free(struct mlos_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int add_words(struct mlos_strlist *l, const char *value)
{
    char *copy = strdup(value), *save = NULL;
    if (!copy)
        return -1;
    for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
        if (!mlos_strlist_has(l, w) && mlos_strlist_add(l, w) < 0) {
            free(copy);
            return -1;
        }
    free(copy);
    return 0;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* Calls fn(key, value, lineno) for each `key: value` line. */
typedef int (*line_fn)(void *ctx, const char *key, char *value, int line, char *err, size_t cap);

static int parse_lines(const char *text, const char *file, void *ctx, line_fn fn, char *err, size_t cap)
{
    char *copy = strdup(text), *p;
    int line = 0, rc = 0;
    if (!copy)
        return fail(err, cap, "out of memory");
    /* strtok_r would merge empty lines and lose the count: split by hand */
    for (p = copy; p && rc == 0;) {
        char *nl = strchr(p, '\n'), *hash, *colon, *key, *val, *e;
        if (nl)
            *nl = 0;
        line++;
        if ((hash = strchr(p, '#')))
            *hash = 0;
        for (key = p; *key == ' ' || *key == '\t'; key++)
            ;
        e = key + strlen(key);
        while (e > key && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = 0;
        if (*key) {
            if (!(colon = strchr(key, ':'))) {
                rc = fail(err, cap, "%s:%d: expected 'key: value'", file, line);
                break;
            }
            *colon = 0;
            for (e = colon; e > key && (e[-1] == ' ' || e[-1] == '\t'); e--)
                e[-1] = 0;
            for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
                ;
            rc = fn(ctx, key, val, line, err, cap);
        }
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
    return rc;
}

static int set_scalar(char **slot, const char *key, const char *val, const char *file, int line, char *err,
                      size_t cap)
{
    if (*slot)
        return fail(err, cap, "%s:%d: '%s' given twice", file, line, key);
    if (!(*slot = strdup(val)))
        return fail(err, cap, "out of memory");
    return 0;
}

/* ---- components ---- */

struct comp_ctx {
    struct mlos_component *c;
    const char *file;
};

static int comp_line(void *vctx, const char *key, char *val, int line, char *err, size_t cap)
{
    struct comp_ctx *x = vctx;
    struct mlos_component *c = x->c;
    struct mlos_strlist *l = NULL;

    if (!strcmp(key, "name")) {
        if (!valid_name(val))
            return fail(err, cap, "%s:%d: bad component name '%s'", x->file, line, val);
        return set_scalar(&c->name, key, val, x->file, line, err, cap);
    }
    if (!strcmp(key, "kind"))
        return set_scalar(&c->kind, key, val, x->file, line, err, cap);
    if (!strcmp(key, "description"))
        return set_scalar(&c->description, key, val, x->file, line, err, cap);
    if (!strcmp(key, "provides"))
        l = &c->provides;
    else if (!strcmp(key, "requires"))
        l = &c->requires;
    else if (!strcmp(key, "conflicts"))
        l = &c->conflicts;
    else if (!strcmp(key, "sources"))
        l = &c->sources;
    else if (!strcmp(key, "generated"))
        l = &c->generated;
    else if (!strcmp(key, "arch"))
        l = &c->arch;
    else
        return fail(err, cap, "%s:%d: unknown key '%s'", x->file, line, key);
    return add_words(l, val) < 0 ? fail(err, cap, "out of memory") : 0;
}

static void component_free(struct mlos_component *c)
{
    free(c->name);
    free(c->kind);
    free(c->dir);
    free(c->file);
    free(c->description);
    mlos_strlist_free(&c->provides);
    mlos_strlist_free(&c->requires);
    mlos_strlist_free(&c->conflicts);
    mlos_strlist_free(&c->sources);
    mlos_strlist_free(&c->generated);
    mlos_strlist_free(&c->arch);
    memset(c, 0, sizeof(*c));
}

const struct mlos_component *mlos_component_find(const struct mlos_component_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i].name, name))
            return &set->v[i];
    return NULL;
}

int mlos_component_parse(struct mlos_component_set *set, const char *text, const char *dir, const char *file,
                         int check_sources, char *err, size_t cap)
{
    struct mlos_component c;
    struct comp_ctx x = {&c, file};
    const struct mlos_component *dup;

    memset(&c, 0, sizeof(c));
    if (parse_lines(text, file, &x, comp_line, err, cap) < 0)
        goto bad;
    if (!c.name) {
        fail(err, cap, "%s: no 'name'", file);
        goto bad;
    }
    if ((dup = mlos_component_find(set, c.name))) {
        fail(err, cap, "duplicate component '%s' (%s and %s)", c.name, dup->file, file);
        goto bad;
    }
    if (!c.kind)
        c.kind = strdup("service");
    c.dir = strdup(dir ? dir : ".");
    c.file = strdup(file);
    if (!c.kind || !c.dir || !c.file || (!mlos_strlist_has(&c.provides, c.name) && mlos_strlist_add(&c.provides, c.name) < 0)) {
        fail(err, cap, "out of memory");
        goto bad;
    }
    for (size_t i = 0; check_sources && i < c.sources.n + c.generated.n; i++) {
        const char *s = i < c.sources.n ? c.sources.v[i] : c.generated.v[i - c.sources.n];
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", c.dir, s);
        if (access(path, R_OK) != 0) {
            fail(err, cap, "%s: source '%s' not found", file, s);
            goto bad;
        }
    }
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 32;
        struct mlos_component *v = realloc(set->v, ncap * sizeof(*v));
        if (!v) {
            fail(err, cap, "out of memory");
            goto bad;
        }
        set->v = v;
        set->cap = ncap;
    }
    set->v[set->n++] = c;
    return 0;
bad:
    component_free(&c);
    return -1;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, got;
    char chunk[4096];
    if (!f)
        return NULL;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        char *nb = realloc(buf, len + got + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            return NULL;
        }
        buf = nb;
        memcpy(buf + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    return buf;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Depth-first, entries sorted so that the load order (and thus every
 * message) is the same on every machine. */
static int load_dir(struct mlos_component_set *set, const char *dir, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct mlos_strlist names = {0};
    int rc = 0;

    if (!d)
        return fail(err, cap, "cannot read component directory %s", dir);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && mlos_strlist_add(&names, e->d_name) < 0)
            rc = fail(err, cap, "out of memory");
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(char *), name_cmp);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        const char *n = names.v[i];
        size_t len = strlen(n);
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, n);
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (strncmp(n, "build", 5) && strcmp(n, "fixtures"))
                rc = load_dir(set, path, err, cap);
        } else if (len > 10 && !strcmp(n + len - 10, ".component")) {
            char *text = read_text(path);
            if (!text)
                rc = fail(err, cap, "cannot read %s", path);
            else
                rc = mlos_component_parse(set, text, dir, path, 1, err, cap);
            free(text);
        }
    }
    mlos_strlist_free(&names);
    return rc;
}

int mlos_components_load(struct mlos_component_set *set, const char *root, char *err, size_t cap)
{
    return load_dir(set, root, err, cap);
}

void mlos_components_free(struct mlos_component_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        component_free(&set->v[i]);
    free(set->v);
    memset(set, 0, sizeof(*set));
}

/* ---- applications ---- */

struct app_ctx {
    struct mlos_app *a;
    const char *file;
};

static int app_line(void *vctx, const char *key, char *val, int line, char *err, size_t cap)
{
    struct app_ctx *x = vctx;
    struct mlos_app *a = x->a;
    struct mlos_strlist *l;

    if (!strcmp(key, "name"))
        return set_scalar(&a->name, key, val, x->file, line, err, cap);
    if (!strcmp(key, "arch"))
        return set_scalar(&a->arch, key, val, x->file, line, err, cap);
    if (!strcmp(key, "services"))
        l = &a->services;
    else if (!strcmp(key, "components"))
        l = &a->components;
    else if (!strcmp(key, "tasks"))
        l = &a->tasks;
    else
        return fail(err, cap, "%s:%d: unknown key '%s'", x->file, line, key);
    return add_words(l, val) < 0 ? fail(err, cap, "out of memory") : 0;
}

int mlos_app_parse(struct mlos_app *app, const char *text, const char *file, char *err, size_t cap)
{
    struct app_ctx x = {app, file};
    memset(app, 0, sizeof(*app));
    if (parse_lines(text, file, &x, app_line, err, cap) < 0)
        goto bad;
    if (!app->arch) {
        fail(err, cap, "%s: no 'arch'", file);
        goto bad;
    }
    if (!(app->file = strdup(file)) || (!app->name && !(app->name = strdup(file)))) {
        fail(err, cap, "out of memory");
        goto bad;
    }
    return 0;
bad:
    mlos_app_free(app);
    return -1;
}

int mlos_app_load(struct mlos_app *app, const char *path, char *err, size_t cap)
{
    char *text = read_text(path);
    int rc;
    memset(app, 0, sizeof(*app));
    if (!text)
        return fail(err, cap, "cannot read %s", path);
    rc = mlos_app_parse(app, text, path, err, cap);
    free(text);
    return rc;
}

void mlos_app_free(struct mlos_app *app)
{
    free(app->name);
    free(app->arch);
    free(app->file);
    mlos_strlist_free(&app->services);
    mlos_strlist_free(&app->components);
    mlos_strlist_free(&app->tasks);
    memset(app, 0, sizeof(*app));
}
