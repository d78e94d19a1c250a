/* internal.h: helpers shared by the SDK's own files; not part of the API. */
#ifndef HARMONIA_INTERNAL_H
#define HARMONIA_INTERNAL_H

#include <stddef.h>

/* Allocation that aborts the call when memory runs out. */
void *hm__xrealloc(void *ptr, size_t size);
char *hm__xstrdup(const char *s);
char *hm__xstrndup(const char *s, size_t len);
/* A malloc'd copy of `s` with every byte that is not valid UTF-8 replaced by U+FFFD: what a
 * WIT string must be, or the host traps the call. */
char *hm__utf8_sanitize(const char *s);

#endif
