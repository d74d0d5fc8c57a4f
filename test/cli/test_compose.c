/* The composer: accepted and refused compositions, with the exact message
 * for each refusal (unsatisfiable, conflicting, arch mismatch, unknown
 * component, ambiguous choice, malformed manifests) and requires chains
 * (transitive, and cycles that terminate), on a
 * small in-memory component set; then the real manifests of the source
 * tree (argv[1]) and the sample applications in tools/compose/examples. */
#include <string.h>

#include "check.h"
#include "compose.h"

static struct mlos_component_set set;
static char err[1024];

static const char *const comps[][2] = {
    {"hal-a", "name: hal-a\nkind: hal\nprovides: hal\nconflicts: hal\narch: x86_64\nsources: a1.c a2.S\n"},
    {"hal-p", "name: hal-p\nkind: hal\nprovides: hal\nconflicts: hal\narch: ppc\nsources: p.c\n"},
    {"mem", "# allocator\nname: mem\nrequires: hal\nsources: mem.c\n"},
    {"evloop", "name: evloop\nrequires: hal\nsources: evloop.c\n"},
    {"ed-core", "name: ed-core\nrequires: evloop\nsources: ed.c\n"},
    {"immediate", "name: immediate\nkind: mode\nprovides: event-delivery\nrequires: ed-core\n"
                  "conflicts: coalesced\nsources: ed_immediate.c\n"},
    {"coalesced", "name: coalesced\nkind: mode\nprovides: event-delivery\nrequires: ed-core\n"
                  "conflicts: immediate\nsources: ed_coalesced.c\n"},
    {"runtime", "name: runtime\nrequires: mem, evloop\nsources: runtime.c\n"},
    {"neuro", "name: neuro\nkind: task\nrequires: runtime zlib\nsources: neuro.c\n"},
    {"builtin", "name: builtin\nkind: task\nrequires: runtime\nsources: builtin.c\n"},
    {"c1", "name: c1\nrequires: s2\n"},
    {"c2", "name: c2\nprovides: s2\nrequires: s3\n"},
    {"c3", "name: c3\nprovides: s3\nrequires: s4\n"},
    {"c4", "name: c4\nprovides: s4\nsources: c4.c\n"},
    {"cy1", "name: cy1\nrequires: cy2\n"},
    {"cy2", "name: cy2\nrequires: cy3\n"},
    {"cy3", "name: cy3\nrequires: cy1\n"},
};

/* Compose app text; returns 0/-1 and leaves the message in err. */
static int compose_text(const char *app_text, struct mlos_composition *out)
{
    struct mlos_app app;
    struct mlos_composition tmp;
    int rc;
    err[0] = 0;
    if (mlos_app_parse(&app, app_text, "app.mlos", err, sizeof(err)) < 0)
        return -1;
    rc = mlos_compose(&set, &app, out ? out : &tmp, err, sizeof(err));
    if (!out && rc == 0)
        mlos_composition_free(&tmp);
    mlos_app_free(&app);
    return rc;
}

#define REFUSE(app, msg)                                                                                         \
    do {                                                                                                         \
        CHECK_EQ(compose_text(app, NULL), -1);                                                                   \
        if (strcmp(err, msg))                                                                                    \
            fprintf(stderr, "%s:%d: got   \"%s\"\n    want  \"%s\"\n", __FILE__, __LINE__, err, msg),            \
                check_failures++;                                                                                \
    } while (0)

static const char *order_text(const struct mlos_composition *c)
{
    static char buf[512];
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < c->n; i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? " " : "", c->order[i]->name);
    return buf;
}

static void test_small_set(void)
{
    struct mlos_composition c;

    for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
        CHECK_EQ(mlos_component_parse(&set, comps[i][1], "d", comps[i][0], 0, err, sizeof(err)), 0);
        if (err[0] && i == 0)
            fprintf(stderr, "%s\n", err);
    }
    CHECK_EQ(set.n, sizeof(comps) / sizeof(comps[0]));

    /* accepted: dependencies first, sources in that order, only one mode */
    CHECK_EQ(compose_text("arch: x86_64\nservices: event-delivery=coalesced\ntasks: builtin\n", &c), 0);
    CHECK(!strcmp(order_text(&c), "hal-a ed-core evloop coalesced mem runtime builtin") ||
          !strcmp(order_text(&c), "hal-a evloop ed-core coalesced mem runtime builtin"));
    if (c.sources.n) {
        CHECK(!strcmp(c.sources.v[0], "d/a1.c"));
        CHECK(mlos_strlist_has(&c.sources, "d/ed_coalesced.c"));
        CHECK(!mlos_strlist_has(&c.sources, "d/ed_immediate.c"));
        CHECK(!mlos_strlist_has(&c.sources, "d/p.c"));
    }
    CHECK_EQ(c.sources.n, 8);
    mlos_composition_free(&c);
    /* the same on ppc picks the other HAL */
    CHECK_EQ(compose_text("arch: ppc\nservices: runtime\n", &c), 0);
    CHECK(!strcmp(c.order[0]->name, "hal-p"));
    mlos_composition_free(&c);

    /* cycle-free requires chain: resolved transitively, deepest first */
    CHECK_EQ(compose_text("arch: x86_64\ncomponents: c1\n", &c), 0);
    CHECK(!strcmp(order_text(&c), "c4 c3 c2 c1"));
    CHECK_EQ(c.sources.n, 1);
    mlos_composition_free(&c);
    /* an explicit pick already satisfies a requirement: not chosen twice */
    CHECK_EQ(compose_text("arch: x86_64\ncomponents: c3 c1\n", &c), 0);
    CHECK_EQ(c.n, 4);
    mlos_composition_free(&c);

    /* unsatisfiable */
    REFUSE("arch: x86_64\ntasks: neuro\n", "task neuro requires 'zlib', but no component provides it");
    REFUSE("arch: x86_64\nservices: tls\n", "manifest requires 'tls', but no component provides it");
    /* conflicting, however the two were asked for */
    REFUSE("arch: x86_64\nservices: event-delivery=immediate event-delivery=coalesced\n",
           "event-delivery: 'immediate' conflicts with 'coalesced'");
    REFUSE("arch: x86_64\ncomponents: coalesced\nservices: event-delivery=immediate\n",
           "event-delivery: 'coalesced' conflicts with 'immediate'");
    REFUSE("arch: x86_64\ncomponents: hal-a hal-p\n", "hal-p is for ppc, manifest says x86_64");
    /* arch mismatch, explicit and implicit */
    REFUSE("arch: x86_64\ncomponents: hal-p\n", "hal-p is for ppc, manifest says x86_64");
    REFUSE("arch: riscv\nservices: mem\n", "component mem requires 'hal': hal-a is for x86_64, manifest says riscv");
    /* unknown names */
    REFUSE("arch: x86_64\ncomponents: nope\n", "unknown component 'nope'");
    REFUSE("arch: x86_64\ntasks: nope\n", "unknown task 'nope'");
    REFUSE("arch: x86_64\ntasks: mem\n", "'mem' is not a task component (kind service)");
    REFUSE("arch: x86_64\nservices: event-delivery=nope\n", "unknown component 'nope'");
    REFUSE("arch: x86_64\nservices: event-delivery=mem\n", "component 'mem' does not provide 'event-delivery'");
    /* a service with several providers must be chosen */
    REFUSE("arch: x86_64\nservices: event-delivery\n",
           "manifest requires 'event-delivery', which several components provide (immediate, coalesced): "
           "choose one with 'services: event-delivery=NAME'");
    /* a requires cycle terminates and is taken whole, in depth-first order */
    CHECK_EQ(compose_text("arch: x86_64\ncomponents: cy1\n", &c), 0);
    CHECK(!strcmp(order_text(&c), "cy3 cy2 cy1"));
    mlos_composition_free(&c);
    CHECK_EQ(compose_text("arch: x86_64\ncomponents: cy2 c1\n", &c), 0);
    CHECK(!strcmp(order_text(&c), "cy1 cy3 cy2 c4 c3 c2 c1"));
    mlos_composition_free(&c);

    /* malformed manifests */
    CHECK_EQ(mlos_component_parse(&set, "name: x\nprovide: y\n", "d", "x.component", 0, err, sizeof(err)), -1);
    CHECK(!strcmp(err, "x.component:2: unknown key 'provide'"));
    CHECK_EQ(mlos_component_parse(&set, "provides: y\n", "d", "y.component", 0, err, sizeof(err)), -1);
    CHECK(!strcmp(err, "y.component: no 'name'"));
    CHECK_EQ(mlos_component_parse(&set, "name: mem\n", "d", "m2.component", 0, err, sizeof(err)), -1);
    CHECK(!strcmp(err, "duplicate component 'mem' (mem and m2.component)"));
    CHECK_EQ(mlos_component_parse(&set, "name: z\nname: z2\n", "d", "z.component", 0, err, sizeof(err)), -1);
    CHECK(!strcmp(err, "z.component:2: 'name' given twice"));
    CHECK_EQ(mlos_component_parse(&set, "name: q\nsources: q.c\n", "/nonexistent", "q.component", 1, err,
                                  sizeof(err)), -1);
    CHECK(!strcmp(err, "q.component: source 'q.c' not found"));
    CHECK_EQ(compose_text("services: mem\n", NULL), -1);
    CHECK(!strcmp(err, "app.mlos: no 'arch'"));
    CHECK_EQ(compose_text("arch: x86_64\nservices mem\n", NULL), -1);
    CHECK(!strcmp(err, "app.mlos:2: expected 'key: value'"));
    mlos_components_free(&set);
}

/* The manifests shipped in the tree: all load (their sources exist), the
 * examples compose, and the seed's refusals hold for the real components. */
static void test_tree(const char *root)
{
    static const char *examples[] = {"events-x86_64", "hello-ppc", "host-msg"};
    struct mlos_composition c;
    char path[4096];

    err[0] = 0;
    CHECK_EQ(mlos_components_load(&set, root, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "load: %s\n", err);
    CHECK(set.n >= 20);
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        struct mlos_app app;
        snprintf(path, sizeof(path), "%s/tools/compose/examples/%s.mlos", root, examples[i]);
        err[0] = 0;
        CHECK_EQ(mlos_app_load(&app, path, err, sizeof(err)), 0);
        CHECK_EQ(mlos_compose(&set, &app, &c, err, sizeof(err)), 0);
        if (err[0])
            fprintf(stderr, "%s: %s\n", examples[i], err);
        char want_hal[64];
        snprintf(want_hal, sizeof(want_hal), "hal-%s", !strcmp(app.arch, "process") ? "linux" : app.arch);
        int hal_ok = 0;
        for (size_t k = 0; k < c.n; k++)
            hal_ok += !strcmp(c.order[k]->name, want_hal);
        CHECK_EQ(hal_ok, 1);
        mlos_composition_free(&c);
        mlos_app_free(&app);
    }
    CHECK_EQ(compose_text("arch: x86_64\nservices: runtime event-delivery=coalesced\ntasks: builtin\n", &c),
             0);
    {
        char want[4096];
        snprintf(want, sizeof(want), "%s/libos/ed_coalesced.c", root);
        CHECK(mlos_strlist_has(&c.sources, want));
        snprintf(want, sizeof(want), "%s/libos/ed_immediate.c", root);
        CHECK(!mlos_strlist_has(&c.sources, want));
        snprintf(want, sizeof(want), "%s/hal/libc/string.c", root);
        CHECK(mlos_strlist_has(&c.sources, want));
    }
    mlos_composition_free(&c);
    REFUSE("arch: x86_64\nservices: runtime event-delivery=immediate event-delivery=coalesced\n",
           "event-delivery: 'immediate' conflicts with 'coalesced'");
    REFUSE("arch: x86_64\ncomponents: hal-ppc\n", "hal-ppc is for ppc, manifest says x86_64");
    REFUSE("arch: x86_64\ncomponents: msg-shm\n", "msg-shm is for process, manifest says x86_64");
    REFUSE("arch: process\nservices: msg\n",
           "component msg requires 'transport-verbs', which several components provide (msg-verbs, msg-verbs-stub): "
           "choose one with 'services: transport-verbs=NAME'");
    REFUSE("arch: x86_64\ntasks: zlib-thing\n", "unknown task 'zlib-thing'");
    mlos_components_free(&set);
}

int main(int argc, char **argv)
{
    test_small_set();
    if (argc > 1)
        test_tree(argv[1]);
    CHECK_DONE();
}
