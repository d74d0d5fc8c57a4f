/* fileio.h -- whole-file reads and writes with EINTR and short-I/O handling. */
#ifndef NEURO_FILEIO_H
#define NEURO_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Write all n bytes to fd. Returns 0 or -1 (errno set). */
int fileio_write_all(int fd, const void *p, size_t n);

/* Read a whole file of at most max bytes into a malloc'ed buffer (with a
 * NUL after the last byte, not counted). Returns 0, -1 (errno set) or -2
 * if the file is larger than max. */
int fileio_read(const char *path, size_t max, uint8_t **buf, size_t *len);

/* Create path (mode 0644) holding exactly these bytes: written to a
 * temporary name and renamed, so readers never see half a file.
 * Returns 0 or -1 (errno set). */
int fileio_write(const char *path, const void *p, size_t n);

#endif
