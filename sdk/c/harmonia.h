/*
 * harmonia.h: Harmonia plugins in C.
 *
 * A plugin describes itself with HM_PLUGIN(...) and gives one handler per action. A handler
 * gets the call's context and its input JSON and returns hm_ok(...) with output JSON text or
 * an error built with hm_invalid_input / hm_retryable / hm_fatal. The SDK implements the
 * `adapter` world of wit/plugin.wit over the bindings that wit-bindgen generates, so a plugin
 * never touches the generated types.
 *
 *     #include "harmonia.h"
 *
 *     static hm_result greet(const hm_ctx *ctx, hm_json input) {
 *         char *name = hm_json_get_string(input, "name", NULL);
 *         if (!name) return hm_invalid_input("`name` must be a string");
 *         hm_log_info("greeting %s (attempt %u)", name, ctx->attempt);
 *         hm_writer w;
 *         hm_w_init(&w);
 *         hm_w_object_begin(&w);
 *         hm_w_key(&w, "greeting");
 *         hm_w_printf_string(&w, "Hello, %s!", name);
 *         hm_w_object_end(&w);
 *         free(name);
 *         return hm_ok_writer(&w);
 *     }
 *
 *     static const hm_action actions[] = {
 *         { "greet", "Says hello to someone", greet },
 *     };
 *     HM_PLUGIN(.name = "greeter", .version = "0.1.0", .description = "Greets people",
 *               HM_ACTIONS(actions))
 *
 * Memory: every `char *` and `uint8_t *` the SDK returns is malloc'd and the caller frees it
 * with free(); every `const char *` it returns is borrowed and lives until the handler
 * returns. Running out of memory aborts the call (the host reports a failed task).
 *
 * The JSON reader/writer and the result builders (json.c, result.c) are plain C99 with no
 * host dependency, so they also build and run natively (sdk/c/test.sh does).
 */
#ifndef HARMONIA_H
#define HARMONIA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define HM_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------------------------
 * JSON reading
 *
 * An hm_json is a view of one JSON value inside a larger text: no copy, no allocation. Every
 * function accepts any view, including a missing one, and checks what it reads, so a lookup
 * chain needs no checks in between:
 *     hm_json_get_int(hm_json_get(input, "options"), "limit", &limit)
 * ---------------------------------------------------------------------------------------- */

/** A view of one JSON value: `text` points at its first byte, `len` bytes long. A missing
 * value (a member that is not there) has text == NULL. */
typedef struct hm_json {
    const char *text;
    size_t len;
} hm_json;

typedef enum hm_json_type {
    HM_JSON_MISSING = 0, /* no value (text == NULL) */
    HM_JSON_INVALID,     /* not valid JSON */
    HM_JSON_NULL,
    HM_JSON_BOOL,
    HM_JSON_NUMBER,
    HM_JSON_STRING,
    HM_JSON_ARRAY,
    HM_JSON_OBJECT,
} hm_json_type;

/** Why a text is not valid JSON. */
typedef struct hm_json_error {
    size_t offset;       /* byte offset of the problem */
    const char *message; /* static text, e.g. "expected `:`" */
} hm_json_error;

/** Checks that `text` (`len` bytes) is one complete JSON document (RFC 8259; surrounding
 * whitespace allowed, nesting up to 128 levels, as in serde_json) and returns a view of its
 * value. On failure returns a view with text == NULL and fills `error` if not NULL. */
hm_json hm_json_parse(const char *text, size_t len, hm_json_error *error);

/** The type of a value: from its first byte for a view that came from hm_json_parse or a
 * lookup (already validated), so this is O(1). */
hm_json_type hm_json_type_of(hm_json value);
/** A name for a type: "missing", "null", "boolean", "number", "string", "array", ... */
const char *hm_json_type_name(hm_json_type type);

static inline bool hm_json_is_missing(hm_json value) { return value.text == NULL; }
static inline bool hm_json_is_null(hm_json value) { return hm_json_type_of(value) == HM_JSON_NULL; }

/** The member `key` of an object (the last one if the key repeats, as most parsers do),
 * or a missing value when `object` is not an object or has no such member. Keys are
 * compared after decoding their escapes. */
hm_json hm_json_get(hm_json object, const char *key);
/** Element `index` of an array, or a missing value. O(index). */
hm_json hm_json_at(hm_json array, size_t index);
/** The number of elements of an array or members of an object; 0 for anything else. */
size_t hm_json_count(hm_json value);

/** Walks the elements of an array or the members of an object:
 *     hm_json_iter it = hm_json_iterate(list); hm_json item;
 *     while (hm_json_next(&it, NULL, &item)) { ... }
 * For an object, `key` (if not NULL) receives each member's key as a string value. */
typedef struct hm_json_iter {
    const char *pos, *end;
    bool object;
} hm_json_iter;
hm_json_iter hm_json_iterate(hm_json array_or_object);
bool hm_json_next(hm_json_iter *it, hm_json *key, hm_json *value);

/** Decodes a string value (all escapes, \uXXXX with surrogate pairs) into a malloc'd,
 * NUL-terminated UTF-8 copy; `len` (if not NULL) gets its length, which counts any
 * embedded NUL (from \u0000). NULL when the value is not a string. */
char *hm_json_string(hm_json value, size_t *len);
/** Whether a string value decodes to exactly `s`, without allocating. */
bool hm_json_string_equals(hm_json value, const char *s);
/** A number value as a double; false when the value is not a number. */
bool hm_json_number(hm_json value, double *out);
/** A number value that is an integer within int64, e.g. 3, -7, 2.0, 1e3, 2.5e1; false
 * otherwise. Decided exactly from the decimal text, not from a rounded double: 1e-400 and
 * 1.0000000000000001 are not integers, 9007199254740993.0 reads as 9007199254740993. */
bool hm_json_int(hm_json value, int64_t *out);
/** A boolean value; false when the value is not true or false. */
bool hm_json_bool(hm_json value, bool *out);

/* Shorthands: the member `key` of `object`, read as one type. */
char *hm_json_get_string(hm_json object, const char *key, size_t *len);
bool hm_json_get_number(hm_json object, const char *key, double *out);
bool hm_json_get_int(hm_json object, const char *key, int64_t *out);
bool hm_json_get_bool(hm_json object, const char *key, bool *out);

/* ------------------------------------------------------------------------------------------
 * JSON writing
 *
 * hm_writer builds JSON text in a growing buffer and puts the commas in:
 *     hm_writer w; hm_w_init(&w);
 *     hm_w_object_begin(&w);
 *     hm_w_key(&w, "hex"); hm_w_string(&w, hex);
 *     hm_w_key(&w, "sizes"); hm_w_array_begin(&w); hm_w_int(&w, 1); hm_w_int(&w, 2); hm_w_array_end(&w);
 *     hm_w_object_end(&w);
 *     // w.buf.data is now {"hex":"...","sizes":[1,2]}
 * Strings are escaped as JSON requires; bytes that are not valid UTF-8 become U+FFFD, so the
 * output is always valid UTF-8. Misuse (a value where a key is due, unbalanced ends) sets
 * `w.error`, which hm_ok_writer reports as a fatal error naming it.
 * ---------------------------------------------------------------------------------------- */

/** A growable NUL-terminated byte buffer: `data` is NULL until something is appended. */
typedef struct hm_buf {
    char *data;
    size_t len, cap;
} hm_buf;

void hm_buf_init(hm_buf *buf);
void hm_buf_append(hm_buf *buf, const void *bytes, size_t len);
void hm_buf_puts(hm_buf *buf, const char *s);
void hm_buf_putc(hm_buf *buf, char c);
void hm_buf_printf(hm_buf *buf, const char *fmt, ...) HM_PRINTF(2, 3);
void hm_buf_vprintf(hm_buf *buf, const char *fmt, va_list args);
/** Appends `s` (`len` bytes) as a quoted, escaped JSON string. */
void hm_buf_json_string(hm_buf *buf, const char *s, size_t len);
/** Hands over the text (malloc'd, NUL-terminated, "" if empty) and empties the buffer. */
char *hm_buf_take(hm_buf *buf);
void hm_buf_free(hm_buf *buf);

#define HM_WRITER_MAX_DEPTH 64

typedef struct hm_writer {
    hm_buf buf;
    const char *error;   /* first misuse, or NULL */
    int depth;
    bool after_key;      /* a key was written, its value is due */
    bool has_value;      /* a complete top-level value was written */
    bool first[HM_WRITER_MAX_DEPTH]; /* no element yet at this depth */
    bool in_object[HM_WRITER_MAX_DEPTH];
} hm_writer;

void hm_w_init(hm_writer *w);
void hm_w_free(hm_writer *w);
void hm_w_object_begin(hm_writer *w);
void hm_w_object_end(hm_writer *w);
void hm_w_array_begin(hm_writer *w);
void hm_w_array_end(hm_writer *w);
void hm_w_key(hm_writer *w, const char *key);
void hm_w_key_n(hm_writer *w, const char *key, size_t len);
void hm_w_string(hm_writer *w, const char *s); /* NULL writes null */
void hm_w_string_n(hm_writer *w, const char *s, size_t len);
void hm_w_printf_string(hm_writer *w, const char *fmt, ...) HM_PRINTF(2, 3);
void hm_w_int(hm_writer *w, int64_t n);
void hm_w_uint(hm_writer *w, uint64_t n);
/** A double in the shortest form that reads back the same; NaN and infinities as null. */
void hm_w_double(hm_writer *w, double d);
void hm_w_bool(hm_writer *w, bool b);
void hm_w_null(hm_writer *w);
/** Inserts JSON text as one value, as is (validated: invalid text sets w.error). */
void hm_w_raw(hm_writer *w, const char *json, size_t len);
/** Inserts a value read with the reader. */
void hm_w_json(hm_writer *w, hm_json value);
/** The text so far (NUL-terminated, "" when empty); borrowed from the writer. */
const char *hm_w_text(const hm_writer *w);

/* ------------------------------------------------------------------------------------------
 * Results: what a handler returns
 * ---------------------------------------------------------------------------------------- */

typedef enum hm_error_kind {
    HM_INVALID_INPUT = 0, /* the input does not fit the action; retrying cannot help */
    HM_RETRYABLE = 1,     /* a transient failure: the engine may retry */
    HM_FATAL = 2,         /* a permanent failure */
    HM_UNKNOWN_ACTION = 3 /* the action is not one the plugin offers (the SDK answers this) */
} hm_error_kind;

typedef struct hm_error {
    hm_error_kind kind;
    char *message;  /* malloc'd */
    char *code;     /* malloc'd or NULL */
    char *details;  /* malloc'd JSON text or NULL */
    bool has_retry_after;
    uint64_t retry_after_ms;
} hm_error;

/** A handler's outcome: output JSON text (malloc'd) or an error (malloc'd), never both. */
typedef struct hm_result {
    char *output;
    hm_error *error;
} hm_result;

/** Success with a copy of `json` (valid JSON text). */
hm_result hm_ok(const char *json);
/** Success with `json`, a malloc'd text the result now owns. */
hm_result hm_ok_take(char *json);
/** Success with the writer's text (the writer is emptied); a fatal error if the writer
 * recorded a misuse or holds no complete value. */
hm_result hm_ok_writer(hm_writer *w);
/** Errors with a printf-style message. */
hm_result hm_invalid_input(const char *fmt, ...) HM_PRINTF(1, 2);
hm_result hm_retryable(const char *fmt, ...) HM_PRINTF(1, 2);
hm_result hm_fatal(const char *fmt, ...) HM_PRINTF(1, 2);
hm_result hm_error_new(hm_error_kind kind, const char *message);
/** Add to an error (no effect on a success):
 *     return hm_with_code(hm_retryable("service unavailable"), "http-503"); */
hm_result hm_with_code(hm_result result, const char *code);
hm_result hm_with_details(hm_result result, const char *json); /* valid JSON text */
hm_result hm_with_retry_after_ms(hm_result result, uint64_t ms);
/** Frees what a result holds (the SDK does this for the results handlers return). */
void hm_result_free(hm_result *result);
/** Whether `text` is valid UTF-8 (what a WIT string must be). */
bool hm_utf8_valid(const char *text, size_t len);

/* ------------------------------------------------------------------------------------------
 * The plugin
 * ---------------------------------------------------------------------------------------- */

/** The call being served. Strings are NUL-terminated and borrowed for the call. */
typedef struct hm_ctx {
    const char *action;          /* the action called */
    const char *execution_id;    /* "" outside a workflow */
    const char *task_id;         /* "" outside a workflow */
    uint32_t attempt;            /* 1 for the first attempt */
    const char *idempotency_key; /* the same for every attempt of one task */
    bool has_deadline;
    uint64_t deadline_ms;        /* when the host stops the call, ms since the Unix epoch */
} hm_ctx;

/** An action handler: the call's context and its input, already checked to be valid JSON
 * (`input.text` is NUL-terminated; an empty input reads as null, so every lookup on it
 * gives a missing value). */
typedef hm_result (*hm_handler)(const hm_ctx *ctx, hm_json input);

typedef struct hm_action {
    const char *name;          /* what workflows write as `action:` */
    const char *description;   /* one line */
    hm_handler handler;
    const char *input_schema;  /* JSON Schema text, or NULL */
    const char *output_schema; /* JSON Schema text, or NULL */
} hm_action;

typedef struct hm_plugin {
    const char *name;        /* what workflows write as `component:` */
    const char *version;
    const char *description;
    const hm_action *actions;
    size_t action_count;
    const char *const *capabilities; /* NULL-terminated list, or NULL */
} hm_plugin;

/** `.actions = array, .action_count = its length`, for HM_PLUGIN. */
#define HM_ACTIONS(array) .actions = (array), .action_count = sizeof(array) / sizeof((array)[0])

/** Defines the plugin; use once, in one file, with designated initializers of hm_plugin. */
#define HM_PLUGIN(...)                                                                         \
    const hm_plugin *hm_plugin_definition(void) {                                             \
        static const hm_plugin plugin = {__VA_ARGS__};                                         \
        return &plugin;                                                                        \
    }

/** Defined by HM_PLUGIN in the plugin's code; the SDK's exports call it. */
const hm_plugin *hm_plugin_definition(void);

/** Runs a plugin's action on JSON text as the export `invoke` does: checks the input, finds
 * the action (an unknown one is an HM_UNKNOWN_ACTION error listing the known ones), calls
 * the handler and checks its output (valid JSON, valid UTF-8). */
hm_result hm_dispatch(const hm_plugin *plugin, const hm_ctx *ctx, const char *input, size_t len);

/* ------------------------------------------------------------------------------------------
 * The host (wit/plugin.wit, interface `host`); only in a component
 * ---------------------------------------------------------------------------------------- */

typedef enum hm_level { HM_TRACE = 0, HM_DEBUG, HM_INFO, HM_WARN, HM_ERROR } hm_level;

/** A line in the host's log, tagged with the plugin, action, execution and task. */
void hm_log(hm_level level, const char *fmt, ...) HM_PRINTF(2, 3);
void hm_log_trace(const char *fmt, ...) HM_PRINTF(1, 2);
void hm_log_debug(const char *fmt, ...) HM_PRINTF(1, 2);
void hm_log_info(const char *fmt, ...) HM_PRINTF(1, 2);
void hm_log_warn(const char *fmt, ...) HM_PRINTF(1, 2);
void hm_log_error(const char *fmt, ...) HM_PRINTF(1, 2);
/** How far the task is (0 to 100, larger values count as 100) with a short message. */
void hm_progress(unsigned percent, const char *fmt, ...) HM_PRINTF(2, 3);
/** Publishes an event; `json` must be valid JSON (invalid text is sent as a JSON string). */
void hm_emit_event(const char *type, const char *json);

/** The host's limits on the key-value space: a key is at most HM_KV_MAX_KEY bytes of UTF-8,
 * a value at most HM_KV_MAX_VALUE bytes. The host aborts a call that goes beyond them, so
 * the hm_kv_* functions check them first: over a limit they do nothing and fail (return
 * false or NULL), and hm_kv_error() says why, naming the key and the limit:
 *     if (!hm_kv_set(key, data, len)) return hm_fatal("%s", hm_kv_error());
 */
#define HM_KV_MAX_KEY 1024
#define HM_KV_MAX_VALUE (4 * 1024 * 1024)

/** The plugin's durable key-value space. hm_kv_get returns false when the key is not set
 * (or is over the key limit: then hm_kv_error() is not NULL); otherwise `*value` gets a
 * malloc'd copy (NUL-terminated for convenience, not counted in `*len`). hm_kv_set and
 * hm_kv_delete return false, having done nothing, when the key or value is over a limit. */
bool hm_kv_get(const char *key, uint8_t **value, size_t *len);
bool hm_kv_set(const char *key, const void *value, size_t len);
bool hm_kv_delete(const char *key);
/** JSON values in the key-value space: hm_kv_get_json gives the stored text (malloc'd),
 * or NULL when the key is not set, is over the limit or its value is not valid JSON;
 * hm_kv_set_json stores `json` (valid JSON text), false when over a limit. */
char *hm_kv_get_json(const char *key);
bool hm_kv_set_json(const char *key, const char *json);
/** Why the last hm_kv_* call failed, e.g. "kv key `cache/...` is 2000 bytes, over the host's
 * limit of 1024 bytes", or NULL when it did not fail. Valid until the next hm_kv_* call. */
const char *hm_kv_error(void);
/** A secret granted by the plugin's manifest (malloc'd), or NULL. */
char *hm_secret(const char *name);

/* ------------------------------------------------------------------------------------------
 * Testing on your machine
 *
 * src/native_host.c stands in for the host when a plugin is compiled natively (with json.c
 * and result.c instead of component.c): it records logs, progress and events in memory and
 * keeps an in-memory key-value space, so a test can call actions directly:
 *     hm_result r = hm_test_call("hash", "{\"text\":\"abc\"}");
 *     assert(r.output && hm_test_log_count() == 1);
 *     hm_result_free(&r);
 * ---------------------------------------------------------------------------------------- */

/** Calls an action of the plugin defined with HM_PLUGIN, as invoke does, with a context of
 * attempt 1 and ids "test-execution", "test-task", "test-key". */
hm_result hm_test_call(const char *action, const char *input_json);
/** The same with a context of your own. */
hm_result hm_test_call_ctx(const hm_ctx *ctx, const char *input_json);
/** Forgets every record, key and secret. */
void hm_test_reset(void);
void hm_test_set_secret(const char *name, const char *value);
size_t hm_test_log_count(void);
/** The i-th log line (NULL past the end); `level` (if not NULL) gets its level. */
const char *hm_test_log(size_t i, hm_level *level);
size_t hm_test_progress_count(void);
const char *hm_test_progress(size_t i, unsigned *percent);
size_t hm_test_event_count(void);
/** The i-th event's data (JSON text); `type` (if not NULL) gets its type. */
const char *hm_test_event(size_t i, const char **type);

#ifdef __cplusplus
}
#endif

#endif /* HARMONIA_H */
