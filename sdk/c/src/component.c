/*
 * component.c: the `adapter` world's exports and the host interface, over the C bindings
 * that `harmonia-c bindings` generates (adapter.h / adapter.c) from wit/plugin.wit.
 *
 * Ownership across the boundary (canonical ABI):
 *  - what an export returns is freed by the generated cabi_post_* functions after the host
 *    copied it, so every returned string and list is malloc'd here and never freed here;
 *  - the invocation an export receives was allocated by the host through cabi_realloc and
 *    belongs to us: adapter_invocation_free releases it;
 *  - strings and lists that host imports return (kv-get, secret) are ours to free too.
 * A string of length 0 may carry a pointer that was never allocated (cabi_realloc answers a
 * request of 0 bytes with the alignment): such a pointer is never freed or reused.
 */
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "harmonia.h"
#include "internal.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Hands a malloc'd NUL-terminated string over to a WIT string. */
static void give(adapter_string_t *out, char *s) {
    out->len = strlen(s);
    if (out->len == 0) {
        free(s);
        out->ptr = NULL;
    } else {
        out->ptr = (uint8_t *)s;
    }
}

/* Gives a received WIT string a NUL terminator in place (one realloc, no copy of the
 * content) and returns it as C text. The string stays owned by its struct. */
static const char *terminate(adapter_string_t *s) {
    if (s->len == 0) return "";
    s->ptr = hm__xrealloc(s->ptr, s->len + 1);
    s->ptr[s->len] = '\0';
    return (const char *)s->ptr;
}

/* A borrowed WIT view of a C string that is valid UTF-8 (else a sanitized copy, freed by
 * release). */
typedef struct out_str {
    adapter_string_t wit;
    char *owned;
} out_str;

static out_str borrow(const char *s) {
    out_str o = {{NULL, 0}, NULL};
    if (!s) s = "";
    size_t len = strlen(s);
    if (!hm_utf8_valid(s, len)) {
        o.owned = hm__utf8_sanitize(s);
        s = o.owned;
        len = strlen(s);
    }
    o.wit.ptr = (uint8_t *)s;
    o.wit.len = len;
    return o;
}

static void release(out_str *o) { free(o->owned); }

/* ---- exports ------------------------------------------------------------------------- */

void exports_adapter_describe(adapter_plugin_info_t *ret) {
    const hm_plugin *p = hm_plugin_definition();
    give(&ret->name, hm__utf8_sanitize(p->name ? p->name : ""));
    give(&ret->version, hm__utf8_sanitize(p->version ? p->version : ""));
    give(&ret->description, hm__utf8_sanitize(p->description ? p->description : ""));

    size_t n = p->action_count;
    ret->actions.len = n;
    ret->actions.ptr = n ? hm__xrealloc(NULL, n * sizeof *ret->actions.ptr) : NULL;
    for (size_t i = 0; i < n; i++) {
        const hm_action *a = &p->actions[i];
        if (!a->name || !a->name[0]) {
            fprintf(stderr, "harmonia: action %zu of plugin `%s` has no name\n", i, p->name);
            abort();
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->actions[j].name, a->name) == 0) {
                /* A plugin bug: the host refuses to load the plugin, with this on stderr. */
                fprintf(stderr, "harmonia: action `%s` is defined twice\n", a->name);
                abort();
            }
        }
        harmonia_plugin_types_action_info_t *info = &ret->actions.ptr[i];
        give(&info->name, hm__utf8_sanitize(a->name));
        give(&info->description, hm__utf8_sanitize(a->description ? a->description : ""));
        info->input_schema.is_some = a->input_schema != NULL;
        if (a->input_schema) give(&info->input_schema.val, hm__utf8_sanitize(a->input_schema));
        info->output_schema.is_some = a->output_schema != NULL;
        if (a->output_schema) give(&info->output_schema.val, hm__utf8_sanitize(a->output_schema));
    }

    size_t caps = 0;
    while (p->capabilities && p->capabilities[caps]) caps++;
    ret->capabilities.len = caps;
    ret->capabilities.ptr = caps ? hm__xrealloc(NULL, caps * sizeof *ret->capabilities.ptr) : NULL;
    for (size_t i = 0; i < caps; i++)
        give(&ret->capabilities.ptr[i], hm__utf8_sanitize(p->capabilities[i]));
}

bool exports_adapter_invoke(adapter_invocation_t *call, adapter_json_t *ret,
                            adapter_task_error_t *err) {
    hm_ctx ctx;
    ctx.action = terminate(&call->action);
    ctx.execution_id = terminate(&call->execution_id);
    ctx.task_id = terminate(&call->task_id);
    ctx.attempt = call->attempt;
    ctx.idempotency_key = terminate(&call->idempotency_key);
    ctx.has_deadline = call->deadline_ms.is_some;
    ctx.deadline_ms = call->deadline_ms.is_some ? call->deadline_ms.val : 0;
    const char *input = terminate(&call->input);

    hm_result r = hm_dispatch(hm_plugin_definition(), &ctx, input, call->input.len);
    adapter_invocation_free(call);

    if (!r.error) {
        give(ret, r.output);
        return true;
    }
    hm_error *e = r.error;
    err->kind = (harmonia_plugin_types_error_kind_t)e->kind;
    give(&err->message, e->message);
    err->code.is_some = e->code != NULL;
    if (e->code) give(&err->code.val, e->code);
    err->details.is_some = e->details != NULL;
    if (e->details) give(&err->details.val, e->details);
    err->retry_after_ms.is_some = e->has_retry_after;
    err->retry_after_ms.val = e->retry_after_ms;
    free(e); /* its strings now belong to `err`, freed by cabi_post_invoke */
    return false;
}

/* ---- the host interface -------------------------------------------------------------- */

void hm__log_v(hm_level level, const char *fmt, va_list args) {
    hm_buf buf;
    hm_buf_init(&buf);
    hm_buf_vprintf(&buf, fmt, args);
    out_str msg = borrow(buf.data);
    if ((unsigned)level > HM_ERROR) level = HM_ERROR;
    harmonia_plugin_host_log((harmonia_plugin_host_level_t)level, &msg.wit);
    release(&msg);
    hm_buf_free(&buf);
}

void hm_progress(unsigned percent, const char *fmt, ...) {
    hm_buf buf;
    hm_buf_init(&buf);
    va_list args;
    va_start(args, fmt);
    hm_buf_vprintf(&buf, fmt, args);
    va_end(args);
    out_str msg = borrow(buf.data);
    harmonia_plugin_host_progress((uint8_t)(percent > 100 ? 100 : percent), &msg.wit);
    release(&msg);
    hm_buf_free(&buf);
}

void hm_emit_event(const char *type, const char *json) {
    hm_buf quoted;
    hm_buf_init(&quoted);
    if (!json) json = "null";
    if (!hm_json_parse(json, strlen(json), NULL).text) {
        hm_buf_json_string(&quoted, json, strlen(json));
        json = quoted.data;
    }
    out_str t = borrow(type), data = borrow(json);
    harmonia_plugin_host_emit_event(&t.wit, &data.wit);
    release(&t);
    release(&data);
    hm_buf_free(&quoted);
}

/* A received list/string as a malloc'd NUL-terminated block. */
static uint8_t *received(uint8_t *ptr, size_t len) {
    if (len == 0) return (uint8_t *)hm__xstrdup(""); /* ptr was never allocated */
    ptr = hm__xrealloc(ptr, len + 1);
    ptr[len] = '\0';
    return ptr;
}

/* Every kv function checks the host's limits first: over them the host would abort the
 * call, where a failed check lets the handler report a task error (hm_kv_error). */
bool hm_kv_get(const char *key, uint8_t **value, size_t *len) {
    if (!hm__kv_check(key, false, 0)) return false;
    out_str k = borrow(key);
    adapter_list_u8_t list;
    bool found = harmonia_plugin_host_kv_get(&k.wit, &list);
    release(&k);
    if (!found) return false;
    uint8_t *bytes = received(list.ptr, list.len);
    if (len) *len = list.len;
    if (value) *value = bytes;
    else free(bytes);
    return true;
}

bool hm_kv_set(const char *key, const void *value, size_t len) {
    if (!hm__kv_check(key, true, len)) return false;
    out_str k = borrow(key);
    adapter_list_u8_t list = {(uint8_t *)value, len};
    harmonia_plugin_host_kv_set(&k.wit, &list);
    release(&k);
    return true;
}

bool hm_kv_delete(const char *key) {
    if (!hm__kv_check(key, false, 0)) return false;
    out_str k = borrow(key);
    harmonia_plugin_host_kv_delete(&k.wit);
    release(&k);
    return true;
}

char *hm_secret(const char *name) {
    out_str n = borrow(name);
    adapter_string_t value;
    bool found = harmonia_plugin_host_secret(&n.wit, &value);
    release(&n);
    if (!found) return NULL;
    return (char *)received(value.ptr, value.len);
}
