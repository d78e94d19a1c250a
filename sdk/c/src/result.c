/*
 * result.c: what handlers return (hm_result and its error builders), hm_dispatch, which
 * runs one call against a plugin's action table, and the check of the key-value limits. No
 * host dependency: it builds natively.
 */
#include <string.h>

#include "harmonia.h"
#include "internal.h"

hm_result hm_ok(const char *json) { return hm_ok_take(hm__xstrdup(json ? json : "null")); }

hm_result hm_ok_take(char *json) {
    hm_result r = {json, NULL};
    if (!json) r.output = hm__xstrdup("null");
    return r;
}

hm_result hm_ok_writer(hm_writer *w) {
    if (w->error || w->depth != 0 || !w->has_value) {
        const char *why = w->error ? w->error
                          : w->depth ? "an array or object was left open"
                                     : "nothing was written";
        hm_w_free(w);
        return hm_fatal("the action built invalid output JSON: %s", why);
    }
    hm_result r = hm_ok_take(hm_buf_take(&w->buf));
    hm_w_free(w);
    return r;
}

static hm_result error_take(hm_error_kind kind, char *message) {
    hm_error *e = hm__xrealloc(NULL, sizeof *e);
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->message = message;
    hm_result r = {NULL, e};
    return r;
}

hm_result hm_error_new(hm_error_kind kind, const char *message) {
    return error_take(kind, hm__xstrdup(message ? message : ""));
}

static hm_result error_v(hm_error_kind kind, const char *fmt, va_list args) {
    hm_buf buf;
    hm_buf_init(&buf);
    hm_buf_vprintf(&buf, fmt, args);
    return error_take(kind, hm_buf_take(&buf));
}

hm_result hm_invalid_input(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    hm_result r = error_v(HM_INVALID_INPUT, fmt, args);
    va_end(args);
    return r;
}

hm_result hm_retryable(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    hm_result r = error_v(HM_RETRYABLE, fmt, args);
    va_end(args);
    return r;
}

hm_result hm_fatal(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    hm_result r = error_v(HM_FATAL, fmt, args);
    va_end(args);
    return r;
}

hm_result hm_with_code(hm_result r, const char *code) {
    if (r.error) {
        free(r.error->code);
        r.error->code = code ? hm__xstrdup(code) : NULL;
    }
    return r;
}

hm_result hm_with_details(hm_result r, const char *json) {
    if (r.error) {
        free(r.error->details);
        r.error->details = NULL;
        if (json) {
            if (hm_json_parse(json, strlen(json), NULL).text) {
                r.error->details = hm__xstrdup(json);
            } else {
                /* Not JSON: keep the text, as a JSON string, rather than lose it. */
                hm_buf buf;
                hm_buf_init(&buf);
                hm_buf_json_string(&buf, json, strlen(json));
                r.error->details = hm_buf_take(&buf);
            }
        }
    }
    return r;
}

hm_result hm_with_retry_after_ms(hm_result r, uint64_t ms) {
    if (r.error) {
        r.error->has_retry_after = true;
        r.error->retry_after_ms = ms;
    }
    return r;
}

void hm_result_free(hm_result *r) {
    free(r->output);
    if (r->error) {
        free(r->error->message);
        free(r->error->code);
        free(r->error->details);
        free(r->error);
    }
    r->output = NULL;
    r->error = NULL;
}

/* Makes a handler's result safe to hand to the host: exactly one of output and error, the
 * output valid JSON, every string valid UTF-8. */
static hm_result checked(const char *action, hm_result r) {
    if (r.error) {
        free(r.output);
        r.output = NULL;
        hm_error *e = r.error;
        if ((unsigned)e->kind > HM_UNKNOWN_ACTION) e->kind = HM_FATAL;
        char *fixed = hm__utf8_sanitize(e->message ? e->message : "");
        free(e->message);
        e->message = fixed;
        if (e->code) {
            fixed = hm__utf8_sanitize(e->code);
            free(e->code);
            e->code = fixed;
        }
        if (e->details && !hm_json_parse(e->details, strlen(e->details), NULL).text) {
            char *details = e->details;
            e->details = NULL;
            r = hm_with_details(r, details); /* wraps it as a JSON string */
            free(details);
        }
        return r;
    }
    if (!r.output) return hm_fatal("action `%s` returned neither output nor an error", action);
    hm_json_error err;
    if (!hm_json_parse(r.output, strlen(r.output), &err).text) {
        hm_result_free(&r);
        return hm_fatal("action `%s` returned invalid JSON: %s at byte %zu", action, err.message,
                        err.offset);
    }
    return r;
}

hm_result hm_dispatch(const hm_plugin *plugin, const hm_ctx *ctx, const char *input, size_t len) {
    const char *name = ctx->action ? ctx->action : "";
    const hm_action *action = NULL;
    for (size_t i = 0; i < plugin->action_count; i++) {
        if (plugin->actions[i].name && strcmp(plugin->actions[i].name, name) == 0) {
            action = &plugin->actions[i];
            break;
        }
    }
    if (!action) {
        hm_buf known;
        hm_buf_init(&known);
        for (size_t i = 0; i < plugin->action_count; i++) {
            if (i) hm_buf_puts(&known, ", ");
            hm_buf_puts(&known, plugin->actions[i].name ? plugin->actions[i].name : "");
        }
        hm_buf msg;
        hm_buf_init(&msg);
        hm_buf_printf(&msg, "unknown action `%s`; known actions: %s", name,
                      known.data ? known.data : "(none)");
        hm_result r = error_take(HM_UNKNOWN_ACTION, hm_buf_take(&msg));
        hm_buf_free(&known);
        return checked(name, r);
    }
    if (!action->handler) return hm_fatal("action `%s` has no handler", name);

    /* An empty input reads as null. */
    hm_json value = {"null", 4};
    const char *p = input ? input : "";
    size_t n = input ? len : 0;
    while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++, n--;
    if (n) {
        hm_json_error err;
        value = hm_json_parse(input, len, &err);
        if (!value.text)
            return hm_invalid_input("the input of action `%s` is not valid JSON: %s at byte %zu",
                                    name, err.message, err.offset);
    }
    return checked(name, action->handler(ctx, value));
}

/* ---- the limits of the key-value space ----------------------------------------------- */

/* Why the last key-value call failed (malloc'd), or NULL. */
static char *kv_error;

const char *hm_kv_error(void) { return kv_error; }

bool hm__kv_check(const char *key, bool has_value, size_t value_len) {
    free(kv_error);
    kv_error = NULL;
    if (!key) key = "";
    size_t key_len = hm__utf8_sanitized_len(key);
    if (key_len <= HM_KV_MAX_KEY && (!has_value || value_len <= HM_KV_MAX_VALUE)) return true;

    /* Name the key by its start (whole characters), not all of a key that may be huge. */
    size_t shown = strlen(key);
    const char *more = "";
    if (shown > 60) {
        shown = 60;
        while (shown > 0 && ((unsigned char)key[shown] & 0xC0) == 0x80) shown--;
        more = "...";
    }
    hm_buf buf;
    hm_buf_init(&buf);
    if (key_len > HM_KV_MAX_KEY)
        hm_buf_printf(&buf, "kv key `%.*s%s` is %zu bytes, over the host's limit of %d bytes",
                      (int)shown, key, more, key_len, HM_KV_MAX_KEY);
    else
        hm_buf_printf(&buf,
                      "the value for kv key `%.*s%s` is %zu bytes, over the host's limit of %d "
                      "bytes (4 MiB)",
                      (int)shown, key, more, value_len, HM_KV_MAX_VALUE);
    /* Valid UTF-8, whatever the key holds: it may well end up in an error message. */
    kv_error = hm__utf8_sanitize(buf.data ? buf.data : "");
    hm_buf_free(&buf);
    return false;
}
