/* shard_env.c -- the environment of a process shard.
 *
 * A process shard runs code the application loaded into it and, like any
 * slave, is not trusted with the master's secrets: it gets an explicit
 * environment, not the master's whole one. What it gets:
 *  - MLOS_SHARD_ARGS, built by the master (window, id, memory, polling);
 *  - the master's other MLOS_* variables (the runtime's own switches such
 *    as MLOS_VERBOSE, MLOS_SHM_SPIN_US, and those of test doubles), except
 *    names ending in _TOKEN, _SECRET, _KEY or _PASSWORD: those are
 *    credentials for other parts of mlos (remote workers), never a shard's;
 *  - LD_LIBRARY_PATH, so that a shard finds the libmlos the master found
 *    (it grants nothing the master did not have already);
 *  - the sanitizer runtimes' options (ASAN_OPTIONS, UBSAN_OPTIONS,
 *    LSAN_OPTIONS), so that a sanitized build reports as configured.
 * Not passed, among others: HOME, USER, PATH (the launcher execs the shard
 * by its full path and the shard runs no program), LANG/LC_* and TZ (a
 * shard formats nothing for people), LD_PRELOAD, and whatever credentials
 * the application's environment holds.
 * Bare-metal shards are not concerned: their guest cannot read the
 * environment of the QEMU process that runs it, and QEMU keeps the
 * master's (it may need it, e.g. for its own diagnostics).
 */
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"

extern char **environ;

static int has_suffix(const char *name, size_t len, const char *suf)
{
    size_t n = strlen(suf);
    return len >= n && !memcmp(name + len - n, suf, n);
}

static int passed(const char *var)
{
    static const char *const exact[] = {"LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    size_t len = strcspn(var, "=");
    if (!var[len])
        return 0; /* no '=': not a variable */
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strlen(exact[i]) == len && !memcmp(var, exact[i], len))
            return 1;
    if (len < 5 || memcmp(var, "MLOS_", 5) || (len == 15 && !memcmp(var, "MLOS_SHARD_ARGS", 15)))
        return 0;
    return !has_suffix(var, len, "_TOKEN") && !has_suffix(var, len, "_SECRET") && !has_suffix(var, len, "_KEY") &&
           !has_suffix(var, len, "_PASSWORD");
}

char **mlos__shard_env(char *shard_args)
{
    size_t n = 0, j = 0;
    char **env;
    while (environ[n])
        n++;
    if (!(env = calloc(n + 2, sizeof(char *))))
        return NULL;
    env[j++] = shard_args;
    for (size_t i = 0; i < n; i++)
        if (passed(environ[i]))
            env[j++] = environ[i];
    return env;
}
