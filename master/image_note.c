/* Reading a slave image without booting it (mlos_image.h): the ELF header,
 * the mlos note (mlos_abi.h) and the task table. The file is untrusted:
 * it is read whole into memory (bounded) and every offset, size and string
 * is checked against that buffer before use. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kinds/kind.h"
#include "mlos.h"
#include "mlos_abi.h"
#include "mlos_image.h"

#define IMAGE_MAX_BYTES (512u << 20) /* larger than any shard image */
#define TASK_NAME_MAX 255
#define TASKS_MAX 65536

#define EM_386_ 3
#define EM_PPC_ 20
#define EM_PPC64_ 21
#define EM_X86_64_ 62
#define EM_AARCH64_ 183
#define SHT_NOBITS_ 8
#define SHF_ALLOC_ 2
#define PT_INTERP_ 3

struct elf {
    const uint8_t *p;
    size_t len;
    int is64, big;
    unsigned machine;
    int has_interp;
};

struct sect {
    const char *name;
    uint32_t type;
    uint64_t flags, addr, off, size;
};

static int fail(char *err, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err && cap) {
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int in_file(const struct elf *e, uint64_t off, uint64_t n) { return off <= e->len && n <= e->len - off; }

static uint64_t get(const struct elf *e, uint64_t off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)e->p[off + (e->big ? n - 1 - i : i)] << (8 * i);
    return v;
}

static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return fail(err, cap, MLOS_ENOENT, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64 || (uint64_t)st.st_size > IMAGE_MAX_BYTES) {
        close(fd);
        return fail(err, cap, MLOS_EINVAL, "%s is not a slave image (not a regular ELF file of a plausible size)", path);
    }
    *len = (size_t)st.st_size;
    if (!(*buf = malloc(*len))) {
        close(fd);
        return MLOS_ENOMEM;
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != *len) {
        free(*buf);
        return fail(err, cap, MLOS_EIO, "short read on %s", path);
    }
    return 0;
}

/* Section i of e; 0, or -1 if its header or name lies outside the file. */
static int section(const struct elf *e, unsigned i, struct sect *s)
{
    uint64_t shoff = get(e, e->is64 ? 0x28 : 0x20, e->is64 ? 8 : 4);
    unsigned shentsize = (unsigned)get(e, e->is64 ? 0x3a : 0x2e, 2);
    unsigned shstrndx = (unsigned)get(e, e->is64 ? 0x3e : 0x32, 2);
    uint64_t h = shoff + (uint64_t)i * shentsize, sh = shoff + (uint64_t)shstrndx * shentsize;
    unsigned w = e->is64 ? 8 : 4;
    if (shentsize < (e->is64 ? 64u : 40u) || !in_file(e, h, shentsize) || !in_file(e, sh, shentsize))
        return -1;
    s->type = (uint32_t)get(e, h + 4, 4);
    s->flags = get(e, h + 8, w);
    s->addr = get(e, h + 8 + w, w);
    s->off = get(e, h + 8 + 2 * w, w);
    s->size = get(e, h + 8 + 3 * w, w);
    uint64_t stroff = get(e, sh + 8 + 2 * w, w), strsize = get(e, sh + 8 + 3 * w, w);
    uint64_t name = get(e, h, 4);
    if (!in_file(e, stroff, strsize) || name >= strsize || !memchr(e->p + stroff + name, 0, strsize - name))
        return -1;
    s->name = (const char *)e->p + stroff + name;
    if (s->type != SHT_NOBITS_ && !in_file(e, s->off, s->size))
        return -1;
    return 0;
}

static unsigned section_count(const struct elf *e) { return (unsigned)get(e, e->is64 ? 0x3c : 0x30, 2); }

static int find_section(const struct elf *e, const char *name, struct sect *out)
{
    for (unsigned i = 1; i < section_count(e); i++)
        if (section(e, i, out) == 0 && !strcmp(out->name, name))
            return 0;
    return -1;
}

/* The NUL-terminated string at virtual address va, if it lies in a loaded
 * section of the file and is a plausible task name. */
static const char *string_at(const struct elf *e, uint64_t va)
{
    struct sect s;
    for (unsigned i = 1; i < section_count(e); i++) {
        if (section(e, i, &s) < 0 || !(s.flags & SHF_ALLOC_) || s.type == SHT_NOBITS_ || va < s.addr ||
            va - s.addr >= s.size)
            continue;
        const char *p = (const char *)e->p + s.off + (va - s.addr);
        size_t room = (size_t)(s.size - (va - s.addr));
        const char *end = memchr(p, 0, room < TASK_NAME_MAX + 1 ? room : TASK_NAME_MAX + 1);
        if (!end || end == p)
            return NULL;
        for (const char *c = p; c < end; c++)
            if (*c <= ' ' || *c > '~')
                return NULL;
        return p;
    }
    return NULL;
}

/* Key "k=" in the note text: copies the value up to the line end. */
static int note_value(const char *desc, size_t len, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < len;) {
        const char *line = desc + i, *nl = memchr(line, '\n', len - i);
        size_t llen = nl ? (size_t)(nl - line) : len - i;
        if (llen > klen && !memcmp(line, key, klen) && line[klen] == '=') {
            size_t v = llen - klen - 1;
            if (v >= cap)
                return -1;
            memcpy(out, line + klen + 1, v);
            out[v] = 0;
            return 0;
        }
        i += llen + 1;
    }
    return -1;
}

static int parse_note(const struct elf *e, const struct sect *s, struct mlos_image_info *info, char *err, size_t cap)
{
    uint64_t off = s->off, end = s->off + s->size;
    while (off + 12 <= end) {
        uint64_t namesz = get(e, off, 4), descsz = get(e, off + 4, 4), type = get(e, off + 8, 4);
        uint64_t name = off + 12, desc = name + ((namesz + 3) & ~3ull);
        uint64_t next = desc + ((descsz + 3) & ~3ull);
        if (namesz > 64 || descsz > 65536 || next > end)
            return fail(err, cap, MLOS_EINVAL, "malformed mlos note");
        if (namesz == 5 && !memcmp(e->p + name, MLOS_NOTE_OWNER, 5) && type == MLOS_NOTE_TYPE_IMAGE) {
            const char *d = (const char *)e->p + desc;
            char abi[16], comps[4096];
            if (note_value(d, descsz, "arch", info->arch, sizeof(info->arch)) < 0 ||
                note_value(d, descsz, "abi", abi, sizeof(abi)) < 0)
                return fail(err, cap, MLOS_EINVAL, "mlos note without arch or abi");
            char *stop;
            unsigned long v = strtoul(abi, &stop, 10);
            if (!abi[0] || *stop || v > 0xffffffffu)
                return fail(err, cap, MLOS_EINVAL, "mlos note with a bad abi '%s'", abi);
            info->abi = (unsigned)v;
            if (note_value(d, descsz, "components", comps, sizeof(comps)) < 0)
                comps[0] = 0;
            free(info->components);
            if (!(info->components = strdup(comps)))
                return MLOS_ENOMEM;
            info->has_note = 1;
            return 0;
        }
        off = next;
    }
    return 0;
}

static int parse_tasks(const struct elf *e, const struct sect *s, struct mlos_image_info *info)
{
    /* Pointer width of the code, not of the file (kinds/kind.h). */
    const struct mlos_kind *k = mlos__kind_find(info->arch);
    unsigned w = k ? k->code_ptr_bytes : 8;
    if (s->type == SHT_NOBITS_ || s->size % (2 * w) || s->size / (2 * w) > TASKS_MAX)
        return MLOS_EINVAL;
    size_t n = (size_t)(s->size / (2 * w));
    if (!(info->tasks = calloc(n ? n : 1, sizeof(char *))))
        return MLOS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = string_at(e, get(e, s->off + i * 2 * w, w));
        if (!name)
            continue; /* e.g. a position-independent executable: filled in by relocation at run time */
        if (!(info->tasks[info->ntasks] = strdup(name)))
            return MLOS_ENOMEM;
        info->ntasks++;
    }
    return 0;
}

int mlos_image_inspect(const char *path, struct mlos_image_info *info, char *err, size_t err_len)
{
    uint8_t *buf = NULL;
    struct elf e = {0};
    struct sect s;
    int rc;

    if (!path || !info)
        return MLOS_EINVAL;
    memset(info, 0, sizeof(*info));
    if ((rc = read_file(path, &buf, &e.len, err, err_len)) < 0)
        return rc;
    e.p = buf;
    if (memcmp(buf, "\177ELF", 4) || (buf[4] != 1 && buf[4] != 2) || (buf[5] != 1 && buf[5] != 2)) {
        free(buf);
        return fail(err, err_len, MLOS_EINVAL, "%s is not an ELF file", path);
    }
    e.is64 = buf[4] == 2;
    e.big = buf[5] == 2;
    e.machine = (unsigned)get(&e, 18, 2);
    if (!in_file(&e, 0, e.is64 ? 64 : 52)) {
        free(buf);
        return fail(err, err_len, MLOS_EINVAL, "%s: truncated ELF header", path);
    }
    /* A program interpreter means a Linux program: a process shard. */
    uint64_t phoff = get(&e, e.is64 ? 0x20 : 0x1c, e.is64 ? 8 : 4);
    unsigned phentsize = (unsigned)get(&e, e.is64 ? 0x36 : 0x2a, 2), phnum = (unsigned)get(&e, e.is64 ? 0x38 : 0x2c, 2);
    for (unsigned i = 0; i < phnum && phentsize >= 4; i++)
        if (in_file(&e, phoff + (uint64_t)i * phentsize, phentsize) && get(&e, phoff + (uint64_t)i * phentsize, 4) == PT_INTERP_)
            e.has_interp = 1;
    const char *mname = e.machine == EM_386_ ? "i386" : e.machine == EM_X86_64_ ? "x86-64" : e.machine == EM_PPC_ ? "ppc"
                      : e.machine == EM_PPC64_ ? "ppc64" : e.machine == EM_AARCH64_ ? "aarch64" : "other";
    snprintf(info->machine, sizeof(info->machine), "%s/ELF%d%s", mname, e.is64 ? 64 : 32, e.big ? "BE" : "LE");
    /* Without a note: the architecture the machine implies. */
    snprintf(info->arch, sizeof(info->arch), "%s",
             e.machine == EM_386_ ? "x86_64" : e.machine == EM_PPC_ ? "ppc" : e.has_interp ? "process" : e.machine == EM_X86_64_ ? "x86_64" : "unknown");
    rc = 0;
    if (find_section(&e, MLOS_NOTE_SECTION, &s) == 0)
        rc = parse_note(&e, &s, info, err, err_len);
    if (rc == 0 && !info->components && !(info->components = strdup("")))
        rc = MLOS_ENOMEM;
    if (rc == 0 && find_section(&e, "mlos_tasks", &s) == 0 && (rc = parse_tasks(&e, &s, info)) == MLOS_EINVAL)
        fail(err, err_len, rc, "%s: malformed task table", path);
    free(buf);
    if (rc < 0)
        mlos_image_info_free(info);
    return rc;
}

void mlos_image_info_free(struct mlos_image_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->ntasks; i++)
        free(info->tasks[i]);
    free(info->tasks);
    free(info->components);
    memset(info, 0, sizeof(*info));
}

int mlos_image_check(const char *path, const char *arch, char *err, size_t err_len)
{
    struct mlos_image_info info;
    char why[256];
    const struct mlos_kind *kind = mlos__kind_lookup(arch, why, sizeof(why));
    if (!kind)
        return fail(err, err_len, MLOS_EINVAL, "%s", why);
    int rc = mlos_image_inspect(path, &info, why, sizeof(why));
    if (rc < 0)
        return fail(err, err_len, rc, "%s", why);
    /* Without a note only the ELF machine speaks, and each kind judges it:
     * only clear mismatches count. */
    int same = info.has_note ? !strcmp(info.arch, kind->name) : kind->plain_image_ok(&info);
    char abi[48];
    if (info.has_note)
        snprintf(abi, sizeof(abi), "ABI %u", info.abi);
    else
        snprintf(abi, sizeof(abi), "%s, no mlos note", info.machine);
    if (!same)
        rc = fail(err, err_len, MLOS_ESPAWN, "image %s is built for %s (%s), not for %s (ABI %u)", path, info.arch,
                  abi, arch, MLOS_ABI_VERSION);
    else if (info.has_note && info.abi != MLOS_ABI_VERSION)
        rc = fail(err, err_len, MLOS_EVERSION, "image %s speaks ABI %u; this master speaks ABI %u (rebuild it with this SDK)",
                  path, info.abi, MLOS_ABI_VERSION);
    mlos_image_info_free(&info);
    return rc;
}

int mlos__spawn_check_image(const char *path, const char *arch)
{
    char err[1200];
    int rc = mlos_image_check(path, arch, err, sizeof(err));
    if (rc != MLOS_ESPAWN && rc != MLOS_EVERSION)
        return 0; /* not an ELF image at all: the launcher reports what it makes of it */
    if (!getenv("MLOS_QUIET"))
        fprintf(stderr, "mlos: spawn refused: %s\n", err);
    return rc;
}
