/* multipart.h -- multipart/form-data (RFC 7578 on RFC 2046) parsing.
 *
 * The whole request body is in memory (it was spooled to disk and is read
 * back or mapped); parts point into it, nothing is copied but the headers.
 *
 * Rules (RFC 2046 section 5.1.1 with the leniency real clients need):
 *  - The boundary comes from the Content-Type "boundary" parameter, as a
 *    token or a quoted-string, parameter names case-insensitive, in any
 *    position among other parameters. 1..70 characters, printable ASCII,
 *    not ending in a space.
 *  - A preamble before the first "--boundary" line and an epilogue after
 *    the closing "--boundary--" are ignored.
 *  - The line ending is taken from the first boundary line: CRLF (the
 *    standard) or bare LF (some hand-made clients); later delimiters must
 *    use the same. Header lines may end in either.
 *  - A delimiter is CRLF "--" boundary, then optional spaces/tabs, then a
 *    line ending or "--". Anything else (data that merely contains
 *    "\r\n--boundary" followed by other bytes) is part data.
 *  - Part data is binary: it may hold CR, LF, "--" and NULs.
 *  - Each part needs Content-Disposition: form-data with a name; filename
 *    and Content-Type are optional. Folded header lines are joined.
 *    In quoted parameter values only \" and \\ are escapes; any other
 *    backslash is literal (browsers send Windows paths unescaped).
 *  - Limits: MP_MAX_PARTS parts, MP_MAX_HEADER_BYTES of headers per part.
 *  - A body that ends before the closing delimiter is truncated (MP_ETRUNC),
 *    which is how an interrupted upload shows up when the length is unknown.
 */
#ifndef NEURO_MULTIPART_H
#define NEURO_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MP_MAX_BOUNDARY 70
#define MP_MAX_PARTS 64
#define MP_MAX_HEADER_BYTES 16384

enum mp_status {
    MP_OK = 0,
    MP_EBAD = -1,     /* malformed body or Content-Type */
    MP_ETRUNC = -2,   /* body ends before the closing delimiter */
    MP_ELIMIT = -3,   /* too many parts or part headers too large */
    MP_ENOMEM = -4,
    MP_ENOTFORM = -5, /* Content-Type is not multipart/form-data */
};

struct mp_part {
    char *name;          /* form field name; never NULL */
    char *filename;      /* as sent (may include a path); NULL if absent */
    char *content_type;  /* NULL if absent */
    const uint8_t *data; /* into the body */
    size_t len;
};

struct mp_form {
    struct mp_part *parts;
    size_t nparts;
};

/* Check that content_type is multipart/form-data and extract the boundary
 * into out (at least MP_MAX_BOUNDARY + 1 bytes). Returns MP_OK, MP_ENOTFORM
 * or MP_EBAD (missing or invalid boundary), with a reason in err. */
int mp_content_type(const char *content_type, char *out, char *err, size_t errlen);

/* Split body into parts. On failure out is empty and err says why. */
int mp_parse(const uint8_t *body, size_t len, const char *boundary, struct mp_form *out, char *err,
             size_t errlen);

/* The first part named name, or NULL; *count (if given) is how many there are. */
const struct mp_part *mp_find(const struct mp_form *f, const char *name, int *count);

void mp_form_free(struct mp_form *f);

#endif
