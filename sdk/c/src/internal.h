/* internal.h: helpers shared by the SDK's own files; not part of the API. */
#ifndef HARMONIA_INTERNAL_H
#define HARMONIA_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "harmonia.h"

/* Allocation that aborts the call when memory runs out. */
void *hm__xrealloc(void *ptr, size_t size);
char *hm__xstrdup(const char *s);
char *hm__xstrndup(const char *s, size_t len);
/* A malloc'd copy of `s` with every byte that is not valid UTF-8 replaced by U+FFFD: what a
 * WIT string must be, or the host traps the call. */
char *hm__utf8_sanitize(const char *s);
/* The length in bytes of hm__utf8_sanitize(s), without making it. */
size_t hm__utf8_sanitized_len(const char *s);
/* Checks a key-value call against the host's limits (the key as sent, sanitized; the value's
 * length when `has_value`) and sets or clears what hm_kv_error() says. False when over. */
bool hm__kv_check(const char *key, bool has_value, size_t value_len);
/* One log line, formatted: each backend's own (component.c, native_host.c); the varargs
 * hm_log* functions of host_common.c call it. */
void hm__log_v(hm_level level, const char *fmt, va_list args);

#endif
