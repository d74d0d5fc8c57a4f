/* form.h -- the upload form served for GET: a multipart/form-data POST to
 * the script itself with the fields described in options.h. */
#ifndef NEURO_FORM_H
#define NEURO_FORM_H

#include "config.h"
#include "strbuf.h"

void form_page(struct strbuf *sb, const struct cgi_config *cfg);

#endif
