/* test_neuro_cluster.c -- neuro_analyze with its slaves behind node agents
 * must give byte-identical results to the same analysis on this host.
 *   test_neuro_cluster AGENT LAUNCHER NODES ARCH...
 * LAUNCHER local: NODES agents on this host; slurm: srun over NODES nodes
 * of the allocation (test_neuro_slurm.sh starts a private Slurm).
 *
 * For each ARCH, on a synthetic head with an atlas (and on the MRIcron
 * ch2bet template with the AAL atlas where installed: megabytes of results
 * per slab, several GET requests each):
 *   - local and on the agents (puts in, mlos_node_get out; both with the
 *     slaves' own k-means group, over the agents' copies of the group
 *     memory there): centers, volumes, iterations, segmentation, the whole
 *     smoothed volume, the region table, byte for byte;
 *   - the same on the agents smoothing only the boxes the results need;
 *   - on the agents with slab 2's slave crashed, replaced on a node: with
 *     the master reducing (before k-means step 3) and with the group
 *     (before its call; the group is re-formed): the same bytes.
 * Afterwards no agent (child of this process) is left. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlos.h"
#include "neuro.h"
#include "neuro_cluster.h"

struct transcript {
    uint8_t *p;
    size_t len, cap;
};

static void emit(struct transcript *t, const void *data, size_t len)
{
    if (t->len + len > t->cap) {
        t->cap = (t->len + len) * 2;
        t->p = realloc(t->p, t->cap);
        CHECK(t->p);
    }
    memcpy(t->p + t->len, data, len);
    t->len += len;
}

static uint64_t lcg(uint64_t *s) { return *s = *s * 6364136223846793005ull + 1442695040888963407ull; }

static void make_volume(struct neuro_volume *v, struct neuro_labels *atlas)
{
    int nx = 40, ny = 44, nz = 36;
    uint64_t seed = 7;
    memset(v, 0, sizeof(*v));
    v->nx = atlas->nx = nx, v->ny = atlas->ny = ny, v->nz = atlas->nz = nz;
    v->dx = 1.0, v->dy = 1.2, v->dz = 1.5;
    v->data = calloc((size_t)nx * ny * nz, sizeof(float));
    atlas->data = calloc((size_t)nx * ny * nz, sizeof(int32_t));
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                double dx = (x - nx / 2.0) / (nx / 2.2), dy = (y - ny / 2.0) / (ny / 2.2),
                       dz = (z - nz / 2.0) / (nz / 2.2), r = dx * dx + dy * dy + dz * dz;
                size_t i = (size_t)x + (size_t)nx * ((size_t)y + (size_t)ny * z);
                int base = r > 1.0 ? 0 : r > 0.8 ? 300 : r > 0.45 ? 700 : 1000;
                v->data[i] = (float)(base + (base ? (int)(lcg(&seed) >> 58) - 32 : 0));
                atlas->data[i] = base ? 1 + (x >= nx / 2) + 2 * (y >= ny / 2) + 4 * (z >= nz / 2) : 0;
            }
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n)) &&
        fread(b, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    else
        free(b), b = NULL;
    fclose(f);
    return b;
}

/* ch2bet and AAL, 0; or -1 where mricron-data is not installed */
static int load_ch2(struct neuro_volume *v, struct neuro_labels *atlas)
{
    char err[256];
    size_t la = 0, lb = 0;
    uint8_t *a = slurp("/usr/share/mricron/templates/ch2bet.nii.gz", &la);
    uint8_t *b = slurp("/usr/share/mricron/templates/aal.nii.gz", &lb);
    int ok = a && b && neuro_nifti_read(a, la, 1u << 26, v, err, sizeof(err)) == 0 &&
             neuro_nifti_read_labels(b, lb, 1u << 26, atlas, err, sizeof(err)) == 0;
    free(a), free(b);
    return ok ? 0 : -1;
}

static void run(uv_loop_t *loop, const char *arch, const struct neuro_volume *v, const struct neuro_labels *atlas,
                int whole, const struct mlos_pool_placement *pl, int crash, struct transcript *t, double *ms)
{
    struct neuro_opts o = {.sigma = 1.5, .shards = 3, .arch = arch, .atlas = atlas, .smoothed_volume = whole,
                           .placement = pl};
    struct neuro_result r;
    char err[512] = "";
    size_t nvox = (size_t)v->nx * v->ny * v->nz;
    if (crash) /* 1: the master reduces, the slave is lost before step 3; 2: lost before the group call */
        o.master_reduce = crash == 1, o.test_crash_slab = 2, o.test_crash_iter = 3;
    int rc = neuro_analyze(loop, v, &o, &r, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s%s: neuro_analyze: %s\n", arch, pl ? " on agents" : "", err);
    CHECK_EQ(rc, 0);
    emit(t, r.centers, sizeof(r.centers));
    emit(t, r.voxels, sizeof(r.voxels));
    emit(t, r.ml, sizeof(r.ml));
    emit(t, &r.iterations, sizeof(r.iterations));
    emit(t, r.seg.data, nvox * sizeof(int32_t));
    if (whole)
        emit(t, r.smoothed.data, nvox * sizeof(float));
    for (size_t i = 0; i < r.nregions; i++)
        emit(t, &r.regions[i], sizeof(r.regions[i]));
    if (crash) {
        int replaced = 0;
        for (int i = 0; i < r.nshards; i++)
            replaced += r.timing[i].replaced;
        CHECK(replaced >= 1);
    }
    *ms = r.total_ms;
    neuro_result_free(&r);
}

static int same(const struct transcript *a, const struct transcript *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* children of this process still running (agents, srun) */
static int children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        int pid = atoi(e->d_name), ppid = 0;
        char st = 0;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f)) {
            char *p = strrchr(buf, ')');
            if (p && sscanf(p + 1, " %c %d", &st, &ppid) == 2 && ppid == getpid() && st != 'Z')
                n++;
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    struct neuro_volume vols[2];
    struct neuro_labels atlases[2];
    const char *names[2] = {"synthetic", "ch2bet+aal"};
    char err[512];
    int nv = 1;

    if (argc < 5) {
        fprintf(stderr, "usage: test_neuro_cluster AGENT local|slurm NODES ARCH...\n");
        return 2;
    }
    setenv("MLOS_QUIET", "1", 1);
    make_volume(&vols[0], &atlases[0]);
    if (load_ch2(&vols[1], &atlases[1]) == 0)
        nv = 2;
    else
        printf("mricron-data not installed: the synthetic volume only\n");
    struct neuro_cluster_opts co = {.launcher = argv[2], .nodes = (unsigned)atoi(argv[3]), .agent = argv[1],
                                    .join_timeout_ms = 60000};
    for (int a = 4; a < argc; a++) {
        const char *arch = argv[a];
        for (int k = 0; k < nv; k++) {
            struct transcript loc = {0}, rem = {0}, boxes_l = {0}, boxes_r = {0}, crash = {0}, gcrash = {0};
            struct neuro_cluster *nc = NULL;
            double ms_l, ms_r, ms_bl, ms_br, ms_c, ms_gc;
            run(loop, arch, &vols[k], &atlases[k], 1, NULL, 0, &loc, &ms_l);
            run(loop, arch, &vols[k], &atlases[k], 0, NULL, 0, &boxes_l, &ms_bl);
            uint64_t t0 = uv_hrtime();
            int rc = neuro_cluster_open(loop, &co, &nc, err, sizeof(err));
            if (rc)
                fprintf(stderr, "neuro_cluster_open: %s\n", err);
            CHECK_EQ(rc, 0);
            double join_ms = (uv_hrtime() - t0) / 1e6;
            CHECK_EQ(neuro_cluster_nodes(nc), co.nodes);
            run(loop, arch, &vols[k], &atlases[k], 1, neuro_cluster_placement(nc), 0, &rem, &ms_r);
            run(loop, arch, &vols[k], &atlases[k], 0, neuro_cluster_placement(nc), 0, &boxes_r, &ms_br);
            run(loop, arch, &vols[k], &atlases[k], 1, neuro_cluster_placement(nc), 1, &crash, &ms_c);
            run(loop, arch, &vols[k], &atlases[k], 1, neuro_cluster_placement(nc), 2, &gcrash, &ms_gc);
            neuro_cluster_close(nc);
            CHECK(same(&loc, &rem));
            CHECK(same(&boxes_l, &boxes_r));
            CHECK(same(&loc, &crash));
            CHECK(same(&loc, &gcrash));
            printf("%-8s %-11s %zu result bytes identical; analysis local %.0f ms, on %s agents %.0f ms "
                   "(boxes: %.0f / %.0f ms; a slave lost: %.0f ms master-reduced, %.0f ms in the group); agents "
                   "joined in %.0f ms\n",
                   arch, names[k], loc.len, ms_l, argv[2], ms_r, ms_bl, ms_br, ms_c, ms_gc, join_ms);
            free(loc.p), free(rem.p), free(boxes_l.p), free(boxes_r.p), free(crash.p), free(gcrash.p);
            CHECK_EQ(children(), 0);
        }
    }
    for (int k = 0; k < nv; k++)
        neuro_volume_free(&vols[k]), neuro_labels_free(&atlases[k]);
    CHECK_DONE();
}
