/* Resolving an application manifest against the component manifests.
 *
 * 1. explicit picks (components:, services: svc=component) are selected
 *    first, so they satisfy requirements before any automatic choice;
 * 2. services: svc and tasks: name are selected next;
 * 3. every requirement of every selected component is satisfied
 *    transitively: by a selected provider if there is one, else by the
 *    only provider for the manifest's architecture (several: the manifest
 *    must choose);
 * 4. declared conflicts between selected components are refused;
 * 5. the selection is ordered dependencies first (requires cycles are
 *    allowed; see visit()).
 * The first problem found is reported, naming its cause (compose.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "compose.h"

/* Where the installed components are, relative to the directory of the
 * running program (<bindir>): so an installed composer finds the installed
 * components wherever the prefix was moved, and carries no build path. */
#ifndef MLOS_COMPONENT_REL
#define MLOS_COMPONENT_REL "../share/mlos/components"
#endif

struct resolver {
    const struct mlos_component_set *set;
    const struct mlos_app *app;
    size_t *sel; /* indices into set->v, in selection order */
    size_t nsel;
    char *err;
    size_t cap;
};

static int fail(struct resolver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct resolver *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->err && r->cap)
        vsnprintf(r->err, r->cap, fmt, ap);
    va_end(ap);
    return -1;
}

const char *mlos_compose_default_roots(void)
{
    static char installed[4096];
    const char *env = getenv("MLOS_COMPONENT_PATH");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", installed, sizeof(installed) - 1);
    char *slash = n > 0 ? memrchr(installed, '/', (size_t)n) : NULL;
    if (!slash || (size_t)(slash - installed) + 2 + sizeof(MLOS_COMPONENT_REL) > sizeof(installed))
        return MLOS_COMPONENT_REL; /* no /proc: relative to the working directory */
    memcpy(slash + 1, MLOS_COMPONENT_REL, sizeof(MLOS_COMPONENT_REL));
    static char resolved[PATH_MAX];
    return realpath(installed, resolved) ? resolved : installed; /* source paths without "bin/.." */
}

static int arch_ok(const struct mlos_component *c, const char *arch)
{
    return c->arch.n == 0 || mlos_strlist_has(&c->arch, "any") || mlos_strlist_has(&c->arch, arch);
}

static void arch_text(const struct mlos_component *c, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < c->arch.n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "/" : "", c->arch.v[i]);
}

static int is_selected(const struct resolver *r, size_t ci)
{
    for (size_t i = 0; i < r->nsel; i++)
        if (r->sel[i] == ci)
            return 1;
    return 0;
}

static int select_component(struct resolver *r, size_t ci)
{
    const struct mlos_component *c = &r->set->v[ci];
    char arch[128];
    if (is_selected(r, ci))
        return 0;
    if (!arch_ok(c, r->app->arch)) {
        arch_text(c, arch, sizeof(arch));
        return fail(r, "%s is for %s, manifest says %s", c->name, arch, r->app->arch);
    }
    r->sel[r->nsel++] = ci;
    return 0;
}

static long find(const struct resolver *r, const char *name)
{
    for (size_t i = 0; i < r->set->n; i++)
        if (!strcmp(r->set->v[i].name, name))
            return (long)i;
    return -1;
}

/* Make sure some selected component provides svc; who names the asker. */
static int need_service(struct resolver *r, const char *svc, const char *who)
{
    size_t ncand = 0, nfit = 0, fit = 0, first_cand = 0;
    char names[512];
    size_t used = 0;

    for (size_t i = 0; i < r->nsel; i++)
        if (mlos_strlist_has(&r->set->v[r->sel[i]].provides, svc))
            return 0;
    names[0] = 0;
    for (size_t i = 0; i < r->set->n; i++) {
        const struct mlos_component *c = &r->set->v[i];
        if (!mlos_strlist_has(&c->provides, svc))
            continue;
        if (!ncand++)
            first_cand = i;
        if (arch_ok(c, r->app->arch)) {
            fit = i;
            nfit++;
            if (used < sizeof(names))
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", nfit > 1 ? ", " : "", c->name);
        }
    }
    if (!ncand)
        return fail(r, "%s requires '%s', but no component provides it", who, svc);
    if (!nfit) {
        char arch[128];
        arch_text(&r->set->v[first_cand], arch, sizeof(arch));
        return fail(r, "%s requires '%s': %s is for %s, manifest says %s", who, svc, r->set->v[first_cand].name,
                    arch, r->app->arch);
    }
    if (nfit > 1)
        return fail(r, "%s requires '%s', which several components provide (%s): choose one with 'services: %s=NAME'",
                    who, svc, names, svc);
    return select_component(r, fit);
}

static int conflicts_with(const struct mlos_component *a, const struct mlos_component *b)
{
    for (size_t i = 0; i < a->conflicts.n; i++)
        if (mlos_strlist_has(&b->provides, a->conflicts.v[i]))
            return 1;
    return 0;
}

static int check_conflicts(struct resolver *r)
{
    for (size_t i = 0; i < r->nsel; i++)
        for (size_t j = i + 1; j < r->nsel; j++) {
            const struct mlos_component *a = &r->set->v[r->sel[i]], *b = &r->set->v[r->sel[j]];
            const char *what = "conflict";
            if (!conflicts_with(a, b) && !conflicts_with(b, a))
                continue;
            for (size_t k = 0; k < a->provides.n; k++) /* a service both offer names the clash best */
                if (strcmp(a->provides.v[k], a->name) && mlos_strlist_has(&b->provides, a->provides.v[k])) {
                    what = a->provides.v[k];
                    break;
                }
            return fail(r, "%s: '%s' conflicts with '%s'", what, a->name, b->name);
        }
    return 0;
}

/* Depth-first order over "requires" edges to the selected providers:
 * dependencies before dependents. A requires cycle (mutually dependent
 * sources, e.g. the msg core and its transports) is not an error: the
 * edge that closes it is skipped, so the order inside a cycle is the
 * depth-first order. state: 0 new, 1 on the current path, 2 done. */
struct topo {
    struct resolver *r;
    int *state;
    const struct mlos_component **out;
    size_t nout;
};

static void visit(struct topo *t, size_t pos)
{
    struct resolver *r = t->r;
    const struct mlos_component *c = &r->set->v[r->sel[pos]];

    if (t->state[pos])
        return; /* done, or on the path (a cycle) */
    t->state[pos] = 1;
    for (size_t i = 0; i < c->requires.n; i++)
        for (size_t p = 0; p < r->nsel; p++)
            if (p != pos && mlos_strlist_has(&r->set->v[r->sel[p]].provides, c->requires.v[i]))
                visit(t, p);
    t->state[pos] = 2;
    t->out[t->nout++] = c;
}

int mlos_compose(const struct mlos_component_set *set, const struct mlos_app *app, struct mlos_composition *out,
                 char *err, size_t cap)
{
    struct resolver r = {set, app, NULL, 0, err, cap};
    struct topo t = {0};
    char who[200];
    int rc = -1;
    long ci;

    memset(out, 0, sizeof(*out));
    if (!(r.sel = calloc(set->n + 1, sizeof(size_t))))
        return fail(&r, "out of memory");
    for (size_t i = 0; i < app->components.n; i++) {
        if ((ci = find(&r, app->components.v[i])) < 0) {
            fail(&r, "unknown component '%s'", app->components.v[i]);
            goto done;
        }
        if (select_component(&r, (size_t)ci) < 0)
            goto done;
    }
    for (size_t i = 0; i < app->services.n; i++) { /* explicit choices: svc=component */
        char *svc = strdup(app->services.v[i]), *eq = svc ? strchr(svc, '=') : NULL;
        if (!svc) {
            fail(&r, "out of memory");
            goto done;
        }
        if (eq) {
            *eq = 0;
            if ((ci = find(&r, eq + 1)) < 0)
                rc = fail(&r, "unknown component '%s'", eq + 1);
            else if (!mlos_strlist_has(&set->v[ci].provides, svc))
                rc = fail(&r, "component '%s' does not provide '%s'", eq + 1, svc);
            else
                rc = select_component(&r, (size_t)ci);
        } else {
            rc = 0;
        }
        free(svc);
        if (rc < 0)
            goto done;
    }
    rc = -1;
    for (size_t i = 0; i < app->services.n; i++)
        if (!strchr(app->services.v[i], '=') && need_service(&r, app->services.v[i], "manifest") < 0)
            goto done;
    for (size_t i = 0; i < app->tasks.n; i++) {
        if ((ci = find(&r, app->tasks.v[i])) < 0) {
            fail(&r, "unknown task '%s'", app->tasks.v[i]);
            goto done;
        }
        if (strcmp(set->v[ci].kind, "task")) {
            fail(&r, "'%s' is not a task component (kind %s)", app->tasks.v[i], set->v[ci].kind);
            goto done;
        }
        if (select_component(&r, (size_t)ci) < 0)
            goto done;
    }
    for (size_t i = 0; i < r.nsel; i++) { /* r.nsel grows while we walk */
        const struct mlos_component *c = &set->v[r.sel[i]];
        snprintf(who, sizeof(who), "%s %s", !strcmp(c->kind, "task") ? "task" : "component", c->name);
        for (size_t k = 0; k < c->requires.n; k++)
            if (need_service(&r, c->requires.v[k], who) < 0)
                goto done;
    }
    if (check_conflicts(&r) < 0)
        goto done;

    t.r = &r;
    t.state = calloc(r.nsel + 1, sizeof(int));
    t.out = calloc(r.nsel + 1, sizeof(*t.out));
    if (!t.state || !t.out) {
        fail(&r, "out of memory");
        goto done;
    }
    for (size_t p = 0; p < r.nsel; p++)
        visit(&t, p);
    out->order = t.out;
    out->n = t.nout;
    t.out = NULL;
    for (size_t i = 0; i < out->n; i++) {
        const struct mlos_component *c = out->order[i];
        for (size_t k = 0; k < c->sources.n + c->generated.n; k++) {
            int gen = k >= c->sources.n;
            const char *s = gen ? c->generated.v[k - c->sources.n] : c->sources.v[k];
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", c->dir, s);
            if (mlos_strlist_add(gen ? &out->generated : &out->sources, !strncmp(path, "./", 2) ? path + 2 : path) < 0) {
                fail(&r, "out of memory");
                goto done;
            }
        }
    }
    rc = 0;
done:
    if (rc < 0)
        mlos_composition_free(out);
    free(t.state);
    free(t.out);
    free(r.sel);
    return rc;
}

void mlos_composition_free(struct mlos_composition *c)
{
    free(c->order);
    mlos_strlist_free(&c->sources);
    mlos_strlist_free(&c->generated);
    memset(c, 0, sizeof(*c));
}

int mlos_compose_file(const char *const *roots, size_t nroots, const char *path, struct mlos_component_set *set,
                      struct mlos_app *app, struct mlos_composition *out, char *err, size_t cap)
{
    memset(set, 0, sizeof(*set));
    memset(app, 0, sizeof(*app));
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < nroots; i++)
        if (mlos_components_load(set, roots[i], err, cap) < 0)
            return -1;
    if (mlos_app_load(app, path, err, cap) < 0)
        return -1;
    return mlos_compose(set, app, out, err, cap);
}
