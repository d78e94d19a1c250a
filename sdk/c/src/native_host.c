/*
 * native_host.c: the host interface for native tests. Build a plugin's files with json.c,
 * result.c, host_common.c and this file (not component.c) with the machine's compiler, then call actions
 * with hm_test_call and inspect what they logged, reported and stored.
 */
#include <stdio.h>
#include <string.h>

#include "harmonia.h"
#include "internal.h"

typedef struct record {
    char *text;
    char *extra; /* event type */
    unsigned number; /* level or percent */
} record;

typedef struct records {
    record *items;
    size_t len;
} records;

typedef struct entry {
    char *key;
    uint8_t *value;
    size_t len;
} entry;

static records logs, progress, events;
static entry *kv;
static size_t kv_len;
static entry *secrets;
static size_t secrets_len;

static void push(records *r, char *text, char *extra, unsigned number) {
    r->items = hm__xrealloc(r->items, (r->len + 1) * sizeof *r->items);
    record item = {text, extra, number};
    r->items[r->len++] = item;
}

static void clear(records *r) {
    for (size_t i = 0; i < r->len; i++) {
        free(r->items[i].text);
        free(r->items[i].extra);
    }
    free(r->items);
    r->items = NULL;
    r->len = 0;
}

static entry *find(entry *list, size_t len, const char *key) {
    if (!key) key = ""; /* as component.c sends it */
    for (size_t i = 0; i < len; i++)
        if (strcmp(list[i].key, key) == 0) return &list[i];
    return NULL;
}

static void put(entry **list, size_t *len, const char *key, const void *value, size_t n) {
    entry *e = find(*list, *len, key);
    if (!e) {
        *list = hm__xrealloc(*list, (*len + 1) * sizeof **list);
        e = &(*list)[(*len)++];
        e->key = hm__xstrdup(key);
    } else {
        free(e->value);
    }
    e->value = (uint8_t *)hm__xstrndup(value, n);
    e->len = n;
}

static void clear_entries(entry **list, size_t *len) {
    for (size_t i = 0; i < *len; i++) {
        free((*list)[i].key);
        free((*list)[i].value);
    }
    free(*list);
    *list = NULL;
    *len = 0;
}

void hm_test_reset(void) {
    clear(&logs);
    clear(&progress);
    clear(&events);
    clear_entries(&kv, &kv_len);
    clear_entries(&secrets, &secrets_len);
}

void hm_test_set_secret(const char *name, const char *value) {
    put(&secrets, &secrets_len, name, value, strlen(value));
}

hm_result hm_test_call_ctx(const hm_ctx *ctx, const char *input_json) {
    if (!input_json) input_json = "";
    return hm_dispatch(hm_plugin_definition(), ctx, input_json, strlen(input_json));
}

hm_result hm_test_call(const char *action, const char *input_json) {
    hm_ctx ctx = {action, "test-execution", "test-task", 1, "test-key", false, 0};
    return hm_test_call_ctx(&ctx, input_json);
}

size_t hm_test_log_count(void) { return logs.len; }
const char *hm_test_log(size_t i, hm_level *level) {
    if (i >= logs.len) return NULL;
    if (level) *level = (hm_level)logs.items[i].number;
    return logs.items[i].text;
}

size_t hm_test_progress_count(void) { return progress.len; }
const char *hm_test_progress(size_t i, unsigned *percent) {
    if (i >= progress.len) return NULL;
    if (percent) *percent = progress.items[i].number;
    return progress.items[i].text;
}

size_t hm_test_event_count(void) { return events.len; }
const char *hm_test_event(size_t i, const char **type) {
    if (i >= events.len) return NULL;
    if (type) *type = events.items[i].extra;
    return events.items[i].text;
}

/* ---- the host interface, in memory --------------------------------------------------- */

static char *format(const char *fmt, va_list args) {
    hm_buf buf;
    hm_buf_init(&buf);
    hm_buf_vprintf(&buf, fmt, args);
    return hm_buf_take(&buf);
}

void hm__log_v(hm_level level, const char *fmt, va_list args) {
    push(&logs, format(fmt, args), NULL, (unsigned)level);
}

void hm_progress(unsigned percent, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    push(&progress, format(fmt, args), NULL, percent > 100 ? 100 : percent);
    va_end(args);
}

void hm_emit_event(const char *type, const char *json) {
    if (!json) json = "null";
    char *data;
    if (hm_json_parse(json, strlen(json), NULL).text) {
        data = hm__xstrdup(json);
    } else {
        hm_buf buf;
        hm_buf_init(&buf);
        hm_buf_json_string(&buf, json, strlen(json));
        data = hm_buf_take(&buf);
    }
    push(&events, data, hm__xstrdup(type ? type : ""), 0);
}

/* The limits are checked as component.c does, so a test sees what the host would do. */
bool hm_kv_get(const char *key, uint8_t **value, size_t *len) {
    if (!hm__kv_check(key, false, 0)) return false;
    entry *e = find(kv, kv_len, key);
    if (!e) return false;
    if (value) *value = (uint8_t *)hm__xstrndup((const char *)e->value, e->len);
    if (len) *len = e->len;
    return true;
}

bool hm_kv_set(const char *key, const void *value, size_t len) {
    if (!hm__kv_check(key, true, len)) return false;
    put(&kv, &kv_len, key, value, len);
    return true;
}

bool hm_kv_delete(const char *key) {
    if (!hm__kv_check(key, false, 0)) return false;
    entry *e = find(kv, kv_len, key);
    if (!e) return true;
    free(e->key);
    free(e->value);
    *e = kv[--kv_len];
    return true;
}

char *hm_secret(const char *name) {
    entry *e = find(secrets, secrets_len, name);
    return e ? hm__xstrndup((const char *)e->value, e->len) : NULL;
}
