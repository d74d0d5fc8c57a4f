/* driver.c -- a deterministic stand-in for libFuzzer's main, so every fuzz
 * target also runs where clang's libFuzzer is missing (gcc builds, CI
 * images without the runtime, the sanitizer build).
 *
 *   fuzz_<target> [-runs=N] [-seed=S] [-max_len=L] [CORPUS_DIR|FILE]...
 *
 * Replays every file given (directories: every regular file inside, in
 * name order), then feeds N inputs (default 100000) made by mutating a
 * random corpus entry (bit flips, byte overwrites with interesting
 * values, inserts, deletes, truncation, splices of two entries) or, one
 * time in eight, plain random bytes. The same seed gives the same inputs.
 * Coverage guidance is libFuzzer's job; this driver finds what the seeds
 * plus blind mutation reach, and makes CI runs reproducible.
 *
 * The target is the usual LLVMFuzzerTestOneInput, which reports a bug by
 * aborting (or through a sanitizer when the driver is built with one).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

struct entry {
    uint8_t *data;
    size_t len;
};

static struct entry *corpus;
static size_t ncorpus, capcorpus;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: quality is irrelevant here, determinism is not */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void add_entry(uint8_t *data, size_t len)
{
    if (ncorpus == capcorpus) {
        capcorpus = capcorpus ? 2 * capcorpus : 64;
        corpus = realloc(corpus, capcorpus * sizeof(*corpus));
        if (!corpus) {
            perror("driver: corpus");
            exit(2);
        }
    }
    corpus[ncorpus++] = (struct entry){data, len};
}

static int load_file(const char *path, size_t max_len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t len;
    long sz;

    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return -1;
    }
    len = (size_t)sz;
    /* exactly sized (a sanitizer sees a read past len); malloc(0) may be NULL */
    if (!(buf = malloc(len ? len : 1)) || fread(buf, 1, len, f) != len) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* replay the whole file, keep at most max_len of it for mutation */
    LLVMFuzzerTestOneInput(buf, len);
    add_entry(buf, len > max_len ? max_len : len);
    return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_path(const char *path, size_t max_len)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "driver: %s: cannot stat\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(path, max_len);
    if (!(d = opendir(path)))
        return -1;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names))))
            exit(2);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), name_cmp); /* readdir order is not reproducible */
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, names[i]);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && load_file(full, max_len) < 0)
            fprintf(stderr, "driver: %s: cannot read\n", full);
        free(names[i]);
    }
    free(names);
    return 0;
}

static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20, 0x40, '\r', '\n', '-', '"'};

/* One mutant of a random corpus entry into buf (max_len bytes). */
static size_t mutate(uint8_t *buf, size_t max_len)
{
    size_t len, n;

    if (!ncorpus || rnd() % 8 == 0) {
        len = (size_t)(rnd() % (max_len + 1));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd();
        return len;
    }
    const struct entry *e = &corpus[rnd() % ncorpus];
    len = e->len > max_len ? max_len : e->len;
    if (len)
        memcpy(buf, e->data, len);
    n = 1 + rnd() % 4;
    while (n--) {
        switch (rnd() % 7) {
        case 0: /* bit flip */
            if (len)
                buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* interesting byte */
            if (len)
                buf[rnd() % len] = interesting[rnd() % sizeof(interesting)];
            break;
        case 2: /* random byte */
            if (len)
                buf[rnd() % len] = (uint8_t)rnd();
            break;
        case 3: /* insert a byte */
            if (len < max_len) {
                size_t at = len ? rnd() % (len + 1) : 0;
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)rnd();
                len++;
            }
            break;
        case 4: /* delete a run */
            if (len) {
                size_t at = rnd() % len, k = 1 + rnd() % (len - at < 16 ? len - at : 16);
                memmove(buf + at, buf + at + k, len - at - k);
                len -= k;
            }
            break;
        case 5: /* truncate */
            if (len)
                len = rnd() % (len + 1);
            break;
        default: { /* splice: the tail of another entry at a random point */
            const struct entry *o = &corpus[rnd() % ncorpus];
            size_t at = len ? rnd() % (len + 1) : 0, from = o->len ? rnd() % o->len : 0, k = o->len - from;
            if (k > max_len - at)
                k = max_len - at;
            if (k)
                memcpy(buf + at, o->data + from, k);
            if (at + k > len)
                len = at + k;
            break;
        }
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    long runs = 100000;
    size_t max_len = 4096, nfiles = 0;
    uint8_t *buf;

    rng_state = 0x9e3779b97f4a7c15ull;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-runs=", 6))
            runs = atol(argv[i] + 6);
        else if (!strncmp(argv[i], "-seed=", 6))
            rng_state = strtoull(argv[i] + 6, NULL, 0) | 1;
        else if (!strncmp(argv[i], "-max_len=", 9))
            max_len = (size_t)atol(argv[i] + 9);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [-runs=N] [-seed=S] [-max_len=L] [corpus dir or file]...\n", argv[0]);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') {
            size_t before = ncorpus;
            if (load_path(argv[i], max_len) < 0)
                return 2;
            nfiles += ncorpus - before;
        }
    if (!(buf = malloc(max_len + 1)))
        return 2;
    for (long r = 0; r < runs; r++) {
        size_t len = mutate(buf, max_len);
        /* an exactly sized copy, so a sanitizer sees any read past len */
        uint8_t *in = malloc(len ? len : 1);
        if (!in)
            return 2;
        memcpy(in, buf, len);
        LLVMFuzzerTestOneInput(in, len);
        free(in);
    }
    printf("%s: %zu corpus files replayed, %ld mutated inputs, no failure\n", argv[0], nfiles, runs);
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].data);
    free(corpus);
    free(buf);
    return 0;
}
