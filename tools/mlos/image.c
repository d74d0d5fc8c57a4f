/* mlos image info IMAGE [--json]: what a slave image is -- architecture,
 * ABI version, components and tasks -- read from the file (its note and
 * task table, mlos_image.h) without booting it.
 *
 * Text output is one "key: value" per line; --json prints one object
 *   {"image":..., "arch":..., "abi":N, "note":true, "machine":...,
 *    "components":[...], "tasks":[...]}
 * Exit status: 0, 1 (not an image, unreadable), 2 (usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MLOS_HAVE_JANSSON
#include <jansson.h>
#endif

#include "cli.h"
#include "mlos_image.h"

static int usage(void)
{
    fprintf(stderr, "usage: mlos image info IMAGE [--json]\n");
    return 2;
}

static int print_json(const char *path, const struct mlos_image_info *info)
{
#ifdef MLOS_HAVE_JANSSON
    json_t *o = json_object(), *comps = json_array(), *tasks = json_array();
    char *copy = strdup(info->components), *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        json_array_append_new(comps, json_string(w));
    free(copy);
    for (size_t i = 0; i < info->ntasks; i++)
        json_array_append_new(tasks, json_string(info->tasks[i]));
    json_object_set_new(o, "image", json_string(path));
    json_object_set_new(o, "arch", json_string(info->arch));
    json_object_set_new(o, "abi", json_integer(info->abi));
    json_object_set_new(o, "note", json_boolean(info->has_note));
    json_object_set_new(o, "machine", json_string(info->machine));
    json_object_set_new(o, "components", comps);
    json_object_set_new(o, "tasks", tasks);
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? 1 : 0;
    putchar('\n');
    json_decref(o);
    return rc;
#else
    (void)path;
    (void)info;
    fprintf(stderr, "mlos image: this mlos was built without jansson: no --json\n");
    return 1;
#endif
}

static int info_cmd(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' || path)
            return usage();
        else
            path = argv[i];
    }
    if (!path)
        return usage();

    struct mlos_image_info info;
    char err[512];
    if (mlos_image_inspect(path, &info, err, sizeof(err)) < 0) {
        fprintf(stderr, "mlos image: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (json) {
        rc = print_json(path, &info);
    } else {
        printf("image: %s\n", path);
        printf("arch: %s%s\n", info.arch, info.has_note ? "" : " (guessed from the ELF machine: no mlos note)");
        if (info.has_note)
            printf("abi: %u\n", info.abi);
        printf("machine: %s\n", info.machine);
        printf("components: %s\n", info.components);
        printf("tasks (%zu):", info.ntasks);
        for (size_t i = 0; i < info.ntasks; i++)
            printf(" %s", info.tasks[i]);
        putchar('\n');
    }
    mlos_image_info_free(&info);
    return rc;
}

int mlos_cli_image(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "info"))
        return info_cmd(argc - 1, argv + 1);
    return usage();
}
