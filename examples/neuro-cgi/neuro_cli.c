/* neuro-cli -- run the neuro analysis on a NIfTI file from the command line.
 *
 *   neuro-cli [--shards N] [--arch x86_64|ppc|process] [--atlas FILE] [--sigma S]
 *             [--max-iter N] [--float] [--whole] [--master-reduce] [--json] [--test-crash SLAB:ROUND]
 *             [--cluster slurm|local [--nodes N] [--partition P] [--agent PATH]] image.nii[.gz]
 *
 * Prints tissue volumes, k-means iterations, per-shard timing and (with an
 * atlas) the per-region table; --json prints one JSON object with the keys
 * of test/reference.py instead. --float uses the float32 smoothing kernel
 * (benchmarks); --whole smooths every voxel, not only the mask's and the
 * atlas regions' boxes (benchmarks: the same results, more work);
 * --master-reduce has the master reduce every k-means step instead of the
 * slaves allreducing among themselves (comparisons: the same results);
 * --test-crash crashes one slab's shard once (tests). --cluster puts the
 * slaves behind node agents: one per node of a Slurm allocation of N nodes
 * (srun), or N on this host (local, for tests); the same results.
 * Exit status: 0, 1 on bad input, 2 on analysis failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "neuro.h"
#include "neuro_cluster.h"

#define MAX_VOXELS (512u * 512u * 512u)

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int usage(void)
{
    fprintf(stderr, "usage: neuro-cli [--shards N] [--arch x86_64|ppc|process] [--atlas FILE] [--sigma S] "
                    "[--max-iter N] [--float] [--whole] [--master-reduce] [--json] [--test-crash SLAB:ROUND] "
                    "[--cluster slurm|local [--nodes N] [--partition P] [--agent PATH]] image.nii[.gz]\n");
    return 1;
}

/* The keys of test/reference.py's output, written by jansson (full
 * double precision: the JSON carries what the analysis computed). */
static int print_json(const struct neuro_result *r, double load_ms)
{
    json_t *o = json_object(), *replaced = json_array(), *regions = NULL;
    int rc = -1;

    for (int i = 0; i < r->nshards; i++)
        json_array_append_new(replaced, json_integer(r->timing[i].replaced));
    json_object_set_new(o, "dims", json_pack("[iii]", r->seg.nx, r->seg.ny, r->seg.nz));
    json_object_set_new(o, "centers", json_pack("[fff]", r->centers[0], r->centers[1], r->centers[2]));
    json_object_set_new(o, "voxels", json_pack("[III]", (json_int_t)r->voxels[0], (json_int_t)r->voxels[1],
                                               (json_int_t)r->voxels[2]));
    json_object_set_new(o, "ml", json_pack("[fff]", r->ml[0], r->ml[1], r->ml[2]));
    json_object_set_new(o, "iterations", json_integer(r->iterations));
    json_object_set_new(o, "shards", json_integer(r->nshards));
    json_object_set_new(o, "replaced", replaced);
    json_object_set_new(o, "time_ms", json_pack("{sfsfsf}", "load", load_ms, "analysis", r->total_ms, "prep",
                                                r->prep_ms));
    if (r->regions) {
        regions = json_array();
        for (size_t i = 0; i < r->nregions; i++) {
            const struct neuro_region *g = &r->regions[i];
            json_array_append_new(regions, json_pack("{sisIsfsf}", "label", (int)g->label, "voxels",
                                                     (json_int_t)g->voxels, "mean_smoothed", g->mean_smoothed,
                                                     "gm_ml", g->gm_ml));
        }
        json_object_set_new(o, "regions", regions);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    if (text) {
        rc = puts(text) < 0 ? -1 : 0;
        free(text);
    }
    json_decref(o);
    return rc;
}

static void print_text(const struct neuro_result *r, double load_ms)
{
    static const char *names[3] = {"CSF", "GM", "WM"};
    printf("image %dx%dx%d, loaded in %.1f ms\n", r->seg.nx, r->seg.ny, r->seg.nz, load_ms);
    printf("k-means: %d iterations\n", r->iterations);
    printf("%-4s %10s %12s %10s\n", "", "center", "voxels", "mL");
    for (int k = 0; k < 3; k++)
        printf("%-4s %10.3f %12llu %10.3f\n", names[k], r->centers[k], (unsigned long long)r->voxels[k], r->ml[k]);
    printf("analysis %.1f ms (master prep %.1f ms) on %d shard(s)\n", r->total_ms, r->prep_ms, r->nshards);
    printf("%-5s %-8s %5s %9s %9s %8s %9s %9s %9s %8s\n", "slab", "arch", "id", "z", "spawn_ms", "put_ms",
           "smooth_ms", "kmeans_ms", "finish_ms", "replaced");
    for (int i = 0; i < r->nshards; i++) {
        const struct neuro_shard_timing *t = &r->timing[i];
        char z[24];
        snprintf(z, sizeof(z), "%d-%d", t->z0, t->z1);
        printf("%-5d %-8s %5u %9s %9.1f %8.1f %9.1f %9.1f %9.1f %8d\n", i + 1, t->arch, t->shard_id, z, t->spawn_ms,
               t->put_ms, t->smooth_ms, t->kmeans_ms, t->regions_ms, t->replaced);
    }
    if (r->regions) {
        printf("%8s %10s %14s %10s\n", "label", "voxels", "mean_smoothed", "GM_mL");
        for (size_t i = 0; i < r->nregions; i++)
            printf("%8d %10llu %14.3f %10.3f\n", r->regions[i].label, (unsigned long long)r->regions[i].voxels,
                   r->regions[i].mean_smoothed, r->regions[i].gm_ml);
    }
}

int main(int argc, char **argv)
{
    struct neuro_opts o = {0};
    struct neuro_cluster_opts co = {0};
    struct neuro_cluster *nc = NULL;
    const char *image = NULL, *atlas_path = NULL;
    int json = 0;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--shards") && more)
            o.shards = atoi(argv[++i]);
        else if (!strcmp(a, "--arch") && more)
            o.arch = argv[++i];
        else if (!strcmp(a, "--atlas") && more)
            atlas_path = argv[++i];
        else if (!strcmp(a, "--sigma") && more)
            o.sigma = atof(argv[++i]);
        else if (!strcmp(a, "--max-iter") && more)
            o.max_iter = atoi(argv[++i]);
        else if (!strcmp(a, "--float"))
            o.float_kernel = 1;
        else if (!strcmp(a, "--master-reduce"))
            o.master_reduce = 1;
        else if (!strcmp(a, "--cluster") && more)
            co.launcher = argv[++i];
        else if (!strcmp(a, "--nodes") && more)
            co.nodes = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--partition") && more)
            co.partition = argv[++i];
        else if (!strcmp(a, "--agent") && more)
            co.agent = argv[++i];
        else if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--whole"))
            o.smoothed_volume = 1; /* smooth every voxel (the whole volume comes back) */
        else if (!strcmp(a, "--test-crash") && more) {
            if (sscanf(argv[++i], "%d:%d", &o.test_crash_slab, &o.test_crash_iter) != 2)
                return usage();
        } else if (a[0] == '-' || image)
            return usage();
        else
            image = a;
    }
    if (!image)
        return usage();

    double t0 = now_ms();
    size_t len;
    uint8_t *buf = slurp(image, &len);
    if (!buf) {
        perror(image);
        return 1;
    }
    struct neuro_volume vol;
    struct neuro_labels atlas = {0};
    int rc = neuro_nifti_read(buf, len, MAX_VOXELS, &vol, err, sizeof(err));
    free(buf);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", image, err);
        return 1;
    }
    if (atlas_path) {
        buf = slurp(atlas_path, &len);
        if (!buf) {
            perror(atlas_path);
            neuro_volume_free(&vol);
            return 1;
        }
        rc = neuro_nifti_read_labels(buf, len, MAX_VOXELS, &atlas, err, sizeof(err));
        free(buf);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", atlas_path, err);
            neuro_volume_free(&vol);
            return 1;
        }
        o.atlas = &atlas;
    }
    double load_ms = now_ms() - t0;

    struct neuro_result res;
    if (co.launcher) {
        double tc = now_ms();
        if ((rc = neuro_cluster_open(uv_default_loop(), &co, &nc, err, sizeof(err))) < 0) {
            fprintf(stderr, "no node agents: %s\n", err);
            neuro_volume_free(&vol);
            neuro_labels_free(&atlas);
            return 2;
        }
        if (!json)
            printf("%u node agent(s) joined in %.1f ms\n", neuro_cluster_nodes(nc), now_ms() - tc);
        o.placement = neuro_cluster_placement(nc);
    }
    rc = neuro_analyze(uv_default_loop(), &vol, &o, &res, err, sizeof(err));
    neuro_cluster_close(nc);
    neuro_volume_free(&vol);
    neuro_labels_free(&atlas);
    if (rc < 0) {
        fprintf(stderr, "analysis failed: %s (%s)\n", err, mlos_strerror(rc));
        uv_loop_close(uv_default_loop());
        return 2;
    }
    int out = 0;
    if (json && print_json(&res, load_ms) < 0) {
        fprintf(stderr, "neuro-cli: cannot write the JSON result\n");
        out = 2;
    } else if (!json) {
        print_text(&res, load_ms);
    }
    neuro_result_free(&res);
    uv_loop_close(uv_default_loop());
    return out;
}
