/*
 * host_common.c: the parts of the host interface that are the same over both backends
 * (component.c in a component, native_host.c in native tests): the varargs log functions
 * and the JSON forms of kv-get and kv-set. Built with exactly one of the two backends, which
 * provides hm__log_v, hm_kv_get and hm_kv_set.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harmonia.h"
#include "internal.h"

void hm_log(hm_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    hm__log_v(level, fmt, args);
    va_end(args);
}

#define LOG_FN(fn, level)                                                                      \
    void fn(const char *fmt, ...) {                                                            \
        va_list args;                                                                          \
        va_start(args, fmt);                                                                   \
        hm__log_v(level, fmt, args);                                                           \
        va_end(args);                                                                          \
    }
LOG_FN(hm_log_trace, HM_TRACE)
LOG_FN(hm_log_debug, HM_DEBUG)
LOG_FN(hm_log_info, HM_INFO)
LOG_FN(hm_log_warn, HM_WARN)
LOG_FN(hm_log_error, HM_ERROR)

char *hm_kv_get_json(const char *key) {
    uint8_t *value;
    size_t len;
    if (!hm_kv_get(key, &value, &len)) return NULL;
    if (!hm_json_parse((const char *)value, len, NULL).text) {
        free(value);
        return NULL;
    }
    return (char *)value;
}

bool hm_kv_set_json(const char *key, const char *json) {
    if (!json) json = "null";
    return hm_kv_set(key, json, strlen(json));
}
