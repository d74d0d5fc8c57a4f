/* tools/compose/compose.h -- composing a shard image from components.
 *
 * A component is a micro-service, a HAL, a transport or a task set,
 * described by a `*.component` manifest next to its sources; an application
 * manifest (`*.mlos`) names the architecture, the services and the tasks it
 * wants. The composer resolves the application against the components:
 * it selects a provider for every required service (transitively), checks
 * architectures and declared conflicts, orders the result dependencies
 * first, and lists the sources to build. Formats: tools/compose/FORMAT.md.
 *
 * Every failure yields one line of English naming the cause, e.g.
 *   task neuro requires 'zlib', but no component provides it
 *   event-delivery: 'immediate' conflicts with 'coalesced'
 *   hal-ppc is for ppc, manifest says x86_64
 * Functions return 0 or -1 with that line in err (never NULL-terminated
 * beyond cap). Host-only code (uses malloc and stdio).
 */
#ifndef MLOS_COMPOSE_H
#define MLOS_COMPOSE_H

#include <stddef.h>

struct mlos_strlist {
    char **v;
    size_t n;
};

struct mlos_component {
    char *name;       /* unique among all loaded components */
    char *kind;       /* service (default), hal, task, transport, mode */
    char *dir;        /* directory of the manifest: sources are relative to it */
    char *file;       /* manifest path, for messages */
    char *description;
    struct mlos_strlist provides;  /* services; the name is always provided too */
    struct mlos_strlist requires;  /* services */
    struct mlos_strlist conflicts; /* component names or services */
    struct mlos_strlist sources;
    struct mlos_strlist generated; /* inputs of generators (e.g. .proto), relative to dir */
    struct mlos_strlist arch;      /* empty or "any": every architecture */
};

struct mlos_component_set {
    struct mlos_component *v;
    size_t n, cap;
};

struct mlos_app {
    char *name;
    char *arch;
    char *file;
    struct mlos_strlist services;   /* "svc" or "svc=component" */
    struct mlos_strlist components; /* explicit picks */
    struct mlos_strlist tasks;      /* task components */
};

struct mlos_composition {
    const struct mlos_component **order; /* dependencies before dependents */
    size_t n;
    struct mlos_strlist sources;   /* dir/source, in order */
    struct mlos_strlist generated; /* dir/input, in order */
};

/* ---- manifests (manifest.c) ---- */

/* Parse one component manifest from text. dir: the directory its sources
 * are relative to; file: name for messages. Appends to set. When
 * check_sources is set, every source must exist under dir. */
int mlos_component_parse(struct mlos_component_set *set, const char *text, const char *dir, const char *file,
                         int check_sources, char *err, size_t cap);

/* Load every *.component below root (recursively; skips hidden
 * directories, build* and fixtures). */
int mlos_components_load(struct mlos_component_set *set, const char *root, char *err, size_t cap);

const struct mlos_component *mlos_component_find(const struct mlos_component_set *set, const char *name);
void mlos_components_free(struct mlos_component_set *set);

int mlos_app_parse(struct mlos_app *app, const char *text, const char *file, char *err, size_t cap);
int mlos_app_load(struct mlos_app *app, const char *path, char *err, size_t cap);
void mlos_app_free(struct mlos_app *app);

/* ---- resolution (compose.c) ---- */

int mlos_compose(const struct mlos_component_set *set, const struct mlos_app *app, struct mlos_composition *out,
                 char *err, size_t cap);
void mlos_composition_free(struct mlos_composition *c);

/* Everything at once: load the components below each of roots[0..nroots),
 * the application manifest at path, and resolve. */
int mlos_compose_file(const char *const *roots, size_t nroots, const char *path, struct mlos_component_set *set,
                      struct mlos_app *app, struct mlos_composition *out, char *err, size_t cap);

/* Where the installed components are (<datadir>/mlos/components, found
 * relative to the running program), overridden by $MLOS_COMPONENT_PATH
 * (colon separated roots). */
const char *mlos_compose_default_roots(void);

/* The composer's command line (compose_cli.c), for mlos-compose and
 * `mlos compose`. Returns the exit status. */
int mlos_compose_cli(int argc, char **argv, const char *prog);

/* helpers shared by the tools */
int mlos_strlist_has(const struct mlos_strlist *l, const char *s);
int mlos_strlist_add(struct mlos_strlist *l, const char *s);
void mlos_strlist_free(struct mlos_strlist *l);

#endif
