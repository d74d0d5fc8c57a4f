/* The command line of the composer, shared by `mlos-compose` and
 * `mlos compose`:
 *
 *   [--root DIR]... [--check] [--sources | --out FILE] APP.mlos
 *
 *   --root DIR   load *.component below DIR (repeatable; default: the
 *                colon-separated $MLOS_COMPONENT_PATH, else the installed
 *                components, <bindir>/../share/mlos/components)
 *   --check      only say whether the manifest composes: "ok: ..." on
 *                stdout, exit 0; else the cause on stderr, exit 1
 *   --sources    print the source list only, one path per line
 *   --out FILE   write that list to FILE (meson: fs.read(FILE).split())
 * Without options: the resolved components, then the sources.
 * Exit status: 0 composed, 1 refused, 2 usage. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"

/* On stdout when asked for (--help, exit 0), else on stderr (exit 2). */
static int usage(const char *prog, int asked)
{
    fprintf(asked ? stdout : stderr,
            "usage: %s [--root DIR]... [--check] [--sources | --out FILE] APP.mlos\n"
            "Resolve an application manifest against the component manifests.\n"
            "  --root DIR   load *.component below DIR (repeatable; default $MLOS_COMPONENT_PATH\n"
            "               or the source tree)\n"
            "  --check      only say whether it composes\n"
            "  --sources    print the source list, one path per line\n"
            "  --out FILE   write the source list to FILE\n",
            prog);
    return asked ? 0 : 2;
}

static void print_list(FILE *f, const struct mlos_strlist *l, const char *indent)
{
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%s%s\n", indent, l->v[i]);
}

int mlos_compose_cli(int argc, char **argv, const char *prog)
{
    struct mlos_strlist roots = {0};
    const char *file = NULL, *out_path = NULL;
    int check = 0, sources_only = 0, rc;
    struct mlos_component_set set;
    struct mlos_app app;
    struct mlos_composition comp;
    char err[1024];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            mlos_strlist_free(&roots);
            return usage(prog, 1);
        }
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            mlos_strlist_add(&roots, argv[++i]);
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (!strcmp(argv[i], "--sources"))
            sources_only = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (argv[i][0] == '-' || file) {
            if (!strcmp(argv[i], "--root") || !strcmp(argv[i], "--out"))
                fprintf(stderr, "%s: %s needs a value\n", prog, argv[i]);
            else
                fprintf(stderr, "%s: %s '%s'\n", prog, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                        argv[i]);
            mlos_strlist_free(&roots);
            return usage(prog, 0);
        } else
            file = argv[i];
    }
    if (!file) {
        mlos_strlist_free(&roots);
        return usage(prog, 0);
    }
    if (!roots.n) {
        char *copy = strdup(mlos_compose_default_roots()), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
            mlos_strlist_add(&roots, d);
        free(copy);
    }
    rc = mlos_compose_file((const char *const *)roots.v, roots.n, file, &set, &app, &comp, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
    } else if (check) {
        printf("ok: %s (%s): %zu components, %zu sources\n", app.name, app.arch, comp.n, comp.sources.n);
    } else if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            fprintf(stderr, "%s: cannot write %s\n", prog, out_path);
            rc = -1;
        } else {
            print_list(f, &comp.sources, "");
            if (fclose(f) != 0)
                rc = -1;
        }
    } else if (sources_only) {
        print_list(stdout, &comp.sources, "");
    } else {
        printf("%s (%s): %zu components\n", app.name, app.arch, comp.n);
        for (size_t i = 0; i < comp.n; i++) {
            const struct mlos_component *c = comp.order[i];
            printf("  %-16s %-10s %s\n", c->name, c->kind, c->dir);
        }
        printf("sources:\n");
        print_list(stdout, &comp.sources, "  ");
        if (comp.generated.n) {
            printf("generated from:\n");
            print_list(stdout, &comp.generated, "  ");
        }
    }
    mlos_composition_free(&comp);
    mlos_app_free(&app);
    mlos_components_free(&set);
    mlos_strlist_free(&roots);
    return rc < 0 ? 1 : 0;
}
