/* base64.h -- RFC 4648 base64 (standard alphabet, "=" padding, no line
 * breaks; encoded by OpenSSL's libcrypto), for
 * embedding PNG images in the report as data: URIs (RFC 2397). */
#ifndef NEURO_BASE64_H
#define NEURO_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

void base64_append(struct strbuf *sb, const uint8_t *p, size_t n);

#endif
