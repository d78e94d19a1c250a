/*
 * json.c: the JSON reader (views over validated text), the buffer and the JSON writer.
 * Plain C99 with no host dependency: it builds natively for the SDK's tests.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harmonia.h"
#include "internal.h"

/* Nesting beyond this is refused (serde_json's default limit too). */
#define MAX_DEPTH 128

/* ---- allocation ---------------------------------------------------------------------- */

void *hm__xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) abort(); /* out of memory: the call traps and the host reports a failed task */
    return p;
}

char *hm__xstrndup(const char *s, size_t len) {
    char *copy = hm__xrealloc(NULL, len + 1);
    if (len) memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *hm__xstrdup(const char *s) { return hm__xstrndup(s, strlen(s)); }

/* ---- UTF-8 --------------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 if the bytes there are not
 * one (truncated, overlong, a surrogate, beyond U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) n = 3, hi = 0x9F; /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) n = 4, hi = 0x8F; /* up to U+10FFFF */
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

bool hm_utf8_valid(const char *text, size_t len) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        if (*p < 0x80) { p++; continue; }
        size_t n = utf8_seq(p, end);
        if (!n) return false;
        p += n;
    }
    return true;
}

static void put_utf8(hm_buf *buf, uint32_t cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) out[0] = (char)cp, n = 1;
    else if (cp < 0x800) out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    hm_buf_append(buf, out, n);
}

char *hm__utf8_sanitize(const char *s) {
    size_t len = strlen(s);
    if (hm_utf8_valid(s, len)) return hm__xstrndup(s, len);
    hm_buf buf;
    hm_buf_init(&buf);
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        if (n) hm_buf_append(&buf, p, n), p += n;
        else put_utf8(&buf, 0xFFFD), p++;
    }
    return hm_buf_take(&buf);
}

size_t hm__utf8_sanitized_len(const char *s) {
    size_t len = strlen(s), out = 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        if (n) out += n, p += n;
        else out += 3, p++; /* U+FFFD */
    }
    return out;
}

/* ---- scanning (validation) ----------------------------------------------------------- */

typedef struct scan {
    const char *start; /* for error offsets */
    const char *end;
    hm_json_error *error;
} scan;

static const char *fail(scan *s, const char *at, const char *message) {
    if (s->error && !s->error->message) {
        s->error->offset = (size_t)(at - s->start);
        s->error->message = message;
    }
    return NULL;
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p, or -1. */
static long hex4(const char *p, const char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Reads the escape after a backslash at p (p points at the backslash) into *cp; returns the
 * position after it, or NULL. A \u escape of a high surrogate must be followed by one of a
 * low surrogate; lone surrogates are refused, as serde_json does. */
static const char *read_escape(const char *p, const char *end, uint32_t *cp) {
    if (end - p < 2) return NULL;
    switch (p[1]) {
    case '"': *cp = '"'; return p + 2;
    case '\\': *cp = '\\'; return p + 2;
    case '/': *cp = '/'; return p + 2;
    case 'b': *cp = '\b'; return p + 2;
    case 'f': *cp = '\f'; return p + 2;
    case 'n': *cp = '\n'; return p + 2;
    case 'r': *cp = '\r'; return p + 2;
    case 't': *cp = '\t'; return p + 2;
    case 'u': break;
    default: return NULL;
    }
    long hi = hex4(p + 2, end);
    if (hi < 0) return NULL;
    p += 6;
    if (hi >= 0xDC00 && hi <= 0xDFFF) return NULL;
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (uint32_t)hi;
        return p;
    }
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return NULL;
    long lo = hex4(p + 2, end);
    if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
    *cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    return p + 6;
}

/* p at the opening quote; returns the position after the closing quote. */
static const char *scan_string(scan *s, const char *p) {
    const char *end = s->end;
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            uint32_t cp;
            const char *next = read_escape(p, end, &cp);
            if (!next) return fail(s, p, "invalid escape in a string");
            p = next;
        } else if (c < 0x20) {
            return fail(s, p, "control character in a string (must be escaped)");
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (!n) return fail(s, p, "invalid UTF-8 in a string");
            p += n;
        }
    }
    return fail(s, p, "unterminated string");
}

static const char *scan_digits(const char *p, const char *end) {
    while (p < end && *p >= '0' && *p <= '9') p++;
    return p;
}

static const char *scan_number(scan *s, const char *p) {
    const char *end = s->end, *q;
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0') p++;
    else if (p < end && *p >= '1' && *p <= '9') p = scan_digits(p, end);
    else return fail(s, p, "invalid number");
    if (p < end && *p == '.') {
        q = scan_digits(p + 1, end);
        if (q == p + 1) return fail(s, q, "expected a digit after `.`");
        p = q;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        q = scan_digits(p, end);
        if (q == p) return fail(s, q, "expected a digit in the exponent");
        p = q;
    }
    return p;
}

static const char *scan_literal(scan *s, const char *p, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - p) < n || memcmp(p, word, n) != 0) return fail(s, p, "expected a value");
    return p + n;
}

/* p at the first byte of a value (no leading whitespace); returns the position after it. */
static const char *scan_value(scan *s, const char *p, int depth) {
    const char *end = s->end;
    if (p >= end) return fail(s, p, "expected a value");
    switch (*p) {
    case '"': return scan_string(s, p);
    case 't': return scan_literal(s, p, "true");
    case 'f': return scan_literal(s, p, "false");
    case 'n': return scan_literal(s, p, "null");
    case '[':
    case '{': {
        bool object = *p == '{';
        char close = object ? '}' : ']';
        if (depth >= MAX_DEPTH) return fail(s, p, "nested too deeply");
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (object) {
                if (p >= end || *p != '"') return fail(s, p, "expected a string key");
                p = scan_string(s, p);
                if (!p) return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return fail(s, p, "expected `:`");
                p = skip_ws(p + 1, end);
            }
            p = scan_value(s, p, depth + 1);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == close) return p + 1;
            return fail(s, p, object ? "expected `,` or `}`" : "expected `,` or `]`");
        }
    }
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) return scan_number(s, p);
        return fail(s, p, "expected a value");
    }
}

hm_json hm_json_parse(const char *text, size_t len, hm_json_error *error) {
    hm_json none = {NULL, 0};
    if (error) error->offset = 0, error->message = NULL;
    if (!text) {
        if (error) error->message = "no text";
        return none;
    }
    scan s = {text, text + len, error};
    const char *start = skip_ws(text, s.end);
    const char *after = scan_value(&s, start, 0);
    if (!after) return none;
    const char *rest = skip_ws(after, s.end);
    if (rest != s.end) {
        fail(&s, rest, "unexpected text after the value");
        return none;
    }
    hm_json value = {start, (size_t)(after - start)};
    return value;
}

/* ---- reading views ------------------------------------------------------------------- */

hm_json_type hm_json_type_of(hm_json v) {
    if (!v.text) return HM_JSON_MISSING;
    if (v.len == 0) return HM_JSON_INVALID;
    switch (v.text[0]) {
    case 'n': return HM_JSON_NULL;
    case 't':
    case 'f': return HM_JSON_BOOL;
    case '"': return HM_JSON_STRING;
    case '[': return HM_JSON_ARRAY;
    case '{': return HM_JSON_OBJECT;
    default:
        return (v.text[0] == '-' || (v.text[0] >= '0' && v.text[0] <= '9')) ? HM_JSON_NUMBER
                                                                           : HM_JSON_INVALID;
    }
}

const char *hm_json_type_name(hm_json_type type) {
    switch (type) {
    case HM_JSON_MISSING: return "missing";
    case HM_JSON_NULL: return "null";
    case HM_JSON_BOOL: return "boolean";
    case HM_JSON_NUMBER: return "number";
    case HM_JSON_STRING: return "string";
    case HM_JSON_ARRAY: return "array";
    case HM_JSON_OBJECT: return "object";
    default: return "invalid JSON";
    }
}

hm_json_iter hm_json_iterate(hm_json v) {
    hm_json_iter it = {NULL, NULL, false};
    hm_json_type t = hm_json_type_of(v);
    if (t != HM_JSON_ARRAY && t != HM_JSON_OBJECT) return it;
    it.pos = v.text + 1;
    it.end = v.text + v.len;
    it.object = t == HM_JSON_OBJECT;
    return it;
}

/* Each step re-scans what it passes over, so a view made by hand (not by hm_json_parse)
 * can never lead a read out of its bounds: malformed text just ends the walk. */
bool hm_json_next(hm_json_iter *it, hm_json *key, hm_json *value) {
    if (!it->pos) return false;
    scan s = {it->pos, it->end, NULL};
    const char *p = skip_ws(it->pos, it->end);
    if (p < it->end && *p == ',') p = skip_ws(p + 1, it->end);
    if (p >= it->end || *p == ']' || *p == '}') goto done;
    if (it->object) {
        if (*p != '"') goto done;
        const char *kend = scan_string(&s, p);
        if (!kend) goto done;
        if (key) key->text = p, key->len = (size_t)(kend - p);
        p = skip_ws(kend, it->end);
        if (p >= it->end || *p != ':') goto done;
        p = skip_ws(p + 1, it->end);
    } else if (key) {
        key->text = NULL, key->len = 0;
    }
    const char *vend = scan_value(&s, p, 1);
    if (!vend) goto done;
    value->text = p;
    value->len = (size_t)(vend - p);
    it->pos = vend;
    return true;
done:
    it->pos = NULL;
    return false;
}

hm_json hm_json_get(hm_json object, const char *key) {
    hm_json found = {NULL, 0}, k, v;
    if (hm_json_type_of(object) != HM_JSON_OBJECT || !key) return found;
    hm_json_iter it = hm_json_iterate(object);
    while (hm_json_next(&it, &k, &v))
        if (hm_json_string_equals(k, key)) found = v;
    return found;
}

hm_json hm_json_at(hm_json array, size_t index) {
    hm_json none = {NULL, 0}, v;
    if (hm_json_type_of(array) != HM_JSON_ARRAY) return none;
    hm_json_iter it = hm_json_iterate(array);
    for (size_t i = 0; hm_json_next(&it, NULL, &v); i++)
        if (i == index) return v;
    return none;
}

size_t hm_json_count(hm_json value) {
    hm_json_iter it = hm_json_iterate(value);
    hm_json v;
    size_t n = 0;
    while (hm_json_next(&it, NULL, &v)) n++;
    return n;
}

/* Decodes the string value at v into buf; false if v is not a valid string. */
static bool decode_string(hm_json v, hm_buf *buf) {
    if (hm_json_type_of(v) != HM_JSON_STRING || v.len < 2) return false;
    const char *p = v.text + 1, *end = v.text + v.len - 1;
    if (v.text[v.len - 1] != '"') return false;
    while (p < end) {
        const char *run = p;
        while (p < end && *p != '\\' && *p != '"') p++;
        hm_buf_append(buf, run, (size_t)(p - run));
        if (p >= end) break;
        if (*p == '"') return false; /* an unescaped quote inside: not one string */
        uint32_t cp;
        const char *next = read_escape(p, end, &cp);
        if (!next) return false;
        put_utf8(buf, cp);
        p = next;
    }
    return true;
}

char *hm_json_string(hm_json v, size_t *len) {
    hm_buf buf;
    hm_buf_init(&buf);
    if (!decode_string(v, &buf)) {
        hm_buf_free(&buf);
        return NULL;
    }
    if (len) *len = buf.len;
    return hm_buf_take(&buf);
}

bool hm_json_string_equals(hm_json v, const char *s) {
    if (hm_json_type_of(v) != HM_JSON_STRING || v.len < 2 || !s) return false;
    size_t n = strlen(s);
    const char *inner = v.text + 1;
    size_t inner_len = v.len - 2;
    /* Fast path: no escapes, compare the bytes as they are. */
    if (!memchr(inner, '\\', inner_len)) return inner_len == n && memcmp(inner, s, n) == 0;
    hm_buf buf;
    hm_buf_init(&buf);
    bool eq = decode_string(v, &buf) && buf.len == n && memcmp(buf.data, s, n) == 0;
    hm_buf_free(&buf);
    return eq;
}

/* A NUL-terminated copy of a number's text for strtod, which must not read past the view. */
static bool number_text(hm_json v, char *small, size_t small_size, char **out) {
    if (hm_json_type_of(v) != HM_JSON_NUMBER) return false;
    scan s = {v.text, v.text + v.len, NULL};
    if (scan_number(&s, v.text) != v.text + v.len) return false;
    char *t = v.len < small_size ? small : hm__xrealloc(NULL, v.len + 1);
    memcpy(t, v.text, v.len);
    t[v.len] = '\0';
    *out = t;
    return true;
}

bool hm_json_number(hm_json v, double *out) {
    char small[64], *t;
    if (!number_text(v, small, sizeof small, &t)) return false;
    double d = strtod(t, NULL);
    if (t != small) free(t);
    if (out) *out = d;
    return true;
}

/* The digits of a number's integer and fraction parts read as one sequence, as if the
 * decimal point were not there. */
typedef struct digits {
    const char *int_part, *frac_part;
    size_t int_len, frac_len;
} digits;

static int digit_at(const digits *d, size_t k) {
    return (k < d->int_len ? d->int_part[k] : d->frac_part[k - d->int_len]) - '0';
}

/* Decided from the decimal text, not from a rounded double: the value is
 * (int digits . frac digits) x 10^exponent, an integer exactly when no nonzero digit ends
 * up after the decimal point, and it must fit int64. */
bool hm_json_int(hm_json v, int64_t *out) {
    if (hm_json_type_of(v) != HM_JSON_NUMBER) return false;
    scan s = {v.text, v.text + v.len, NULL};
    if (scan_number(&s, v.text) != v.text + v.len) return false;

    const char *p = v.text, *end = v.text + v.len;
    bool neg = *p == '-';
    if (neg) p++;
    digits d = {p, NULL, 0, 0};
    while (p < end && *p >= '0' && *p <= '9') p++;
    d.int_len = (size_t)(p - d.int_part);
    d.frac_part = p;
    if (p < end && *p == '.') {
        d.frac_part = ++p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        d.frac_len = (size_t)(p - d.frac_part);
    }
    /* The exponent, saturated: once it is past the number of digits (plus the 19 of int64)
     * either way, the answer no longer depends on it (a fraction, or out of range). Sizes
     * fit int64: a text is far below 2^63 bytes. */
    int64_t exponent = 0, cap = (int64_t)v.len + 20;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool exp_neg = *p == '-';
        if (*p == '-' || *p == '+') p++;
        for (; p < end; p++)
            if (exponent <= cap) exponent = exponent * 10 + (*p - '0');
        if (exp_neg) exponent = -exponent;
    }

    /* The nonzero digits run from `first` to `last` of the sequence. */
    size_t n = d.int_len + d.frac_len, first = 0, last = n;
    while (first < n && digit_at(&d, first) == 0) first++;
    if (first == n) { /* zero, whatever the exponent: 0.0, -0, 0e-999 */
        if (out) *out = 0;
        return true;
    }
    while (digit_at(&d, last - 1) == 0) last--;
    /* The value is the digits first..last-1 times 10^scale. */
    int64_t scale = exponent - (int64_t)d.frac_len + (int64_t)(n - last);
    if (scale < 0) return false;         /* a nonzero digit after the decimal point */
    if ((int64_t)(last - first) + scale > 19) return false; /* INT64_MAX has 19 digits */

    /* Accumulate as a negative number so that INT64_MIN fits. */
    int64_t acc = 0;
    for (int64_t k = (int64_t)first; k < (int64_t)last + scale; k++) {
        int digit = k < (int64_t)last ? digit_at(&d, (size_t)k) : 0;
        if (acc < (INT64_MIN + digit) / 10) return false;
        acc = acc * 10 - digit;
    }
    if (!neg && acc == INT64_MIN) return false; /* 2^63 does not fit */
    if (out) *out = neg ? acc : -acc;
    return true;
}

bool hm_json_bool(hm_json v, bool *out) {
    if (v.text && v.len == 4 && memcmp(v.text, "true", 4) == 0) {
        if (out) *out = true;
        return true;
    }
    if (v.text && v.len == 5 && memcmp(v.text, "false", 5) == 0) {
        if (out) *out = false;
        return true;
    }
    return false;
}

char *hm_json_get_string(hm_json object, const char *key, size_t *len) {
    return hm_json_string(hm_json_get(object, key), len);
}
bool hm_json_get_number(hm_json object, const char *key, double *out) {
    return hm_json_number(hm_json_get(object, key), out);
}
bool hm_json_get_int(hm_json object, const char *key, int64_t *out) {
    return hm_json_int(hm_json_get(object, key), out);
}
bool hm_json_get_bool(hm_json object, const char *key, bool *out) {
    return hm_json_bool(hm_json_get(object, key), out);
}

/* ---- the buffer ---------------------------------------------------------------------- */

void hm_buf_init(hm_buf *buf) {
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static void reserve(hm_buf *buf, size_t extra) {
    size_t need = buf->len + extra + 1; /* + the NUL */
    if (need < buf->len) abort();       /* overflow */
    if (need <= buf->cap) return;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) cap = cap * 2 > cap ? cap * 2 : need;
    buf->data = hm__xrealloc(buf->data, cap);
    buf->cap = cap;
}

void hm_buf_append(hm_buf *buf, const void *bytes, size_t len) {
    reserve(buf, len);
    if (len) memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void hm_buf_puts(hm_buf *buf, const char *s) { hm_buf_append(buf, s, strlen(s)); }

void hm_buf_putc(hm_buf *buf, char c) { hm_buf_append(buf, &c, 1); }

void hm_buf_vprintf(hm_buf *buf, const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    reserve(buf, 0);
    size_t room = buf->cap - buf->len;
    int n = vsnprintf(buf->data + buf->len, room, fmt, args);
    if (n < 0) {
        va_end(copy);
        buf->data[buf->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        reserve(buf, (size_t)n);
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, copy);
    }
    va_end(copy);
    buf->len += (size_t)n;
}

void hm_buf_printf(hm_buf *buf, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    hm_buf_vprintf(buf, fmt, args);
    va_end(args);
}

void hm_buf_json_string(hm_buf *buf, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    reserve(buf, len + 2);
    hm_buf_putc(buf, '"');
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        hm_buf_append(buf, run, (size_t)(p - run));
        if (p >= end) break;
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (n) hm_buf_append(buf, p, n), p += n;
            else put_utf8(buf, 0xFFFD), p++;
            continue;
        }
        p++;
        switch (c) {
        case '"': hm_buf_puts(buf, "\\\""); break;
        case '\\': hm_buf_puts(buf, "\\\\"); break;
        case '\n': hm_buf_puts(buf, "\\n"); break;
        case '\r': hm_buf_puts(buf, "\\r"); break;
        case '\t': hm_buf_puts(buf, "\\t"); break;
        case '\b': hm_buf_puts(buf, "\\b"); break;
        case '\f': hm_buf_puts(buf, "\\f"); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            hm_buf_append(buf, esc, 6);
        }
        }
    }
    hm_buf_putc(buf, '"');
}

char *hm_buf_take(hm_buf *buf) {
    char *text = buf->data ? buf->data : hm__xstrdup("");
    hm_buf_init(buf);
    return text;
}

void hm_buf_free(hm_buf *buf) {
    free(buf->data);
    hm_buf_init(buf);
}

/* ---- the writer ---------------------------------------------------------------------- */

void hm_w_init(hm_writer *w) {
    memset(w, 0, sizeof *w);
    hm_buf_init(&w->buf);
}

void hm_w_free(hm_writer *w) {
    hm_buf_free(&w->buf);
    hm_w_init(w);
}

static void w_fail(hm_writer *w, const char *error) {
    if (!w->error) w->error = error;
}

/* Before any value: checks that one may come here and writes the comma it needs. */
static bool w_value(hm_writer *w) {
    if (w->error) return false;
    if (w->depth == 0) {
        if (w->has_value) {
            w_fail(w, "a second value after the complete top-level value");
            return false;
        }
        return true;
    }
    int level = w->depth - 1;
    if (w->in_object[level]) {
        if (!w->after_key) {
            w_fail(w, "a value in an object without a key (call hm_w_key first)");
            return false;
        }
        w->after_key = false;
        return true;
    }
    if (!w->first[level]) hm_buf_putc(&w->buf, ',');
    w->first[level] = false;
    return true;
}

static void w_done(hm_writer *w) {
    if (w->depth == 0) w->has_value = true;
}

static void w_begin(hm_writer *w, bool object) {
    if (!w_value(w)) return;
    if (w->depth >= HM_WRITER_MAX_DEPTH) {
        w_fail(w, "nested too deeply");
        return;
    }
    hm_buf_putc(&w->buf, object ? '{' : '[');
    w->first[w->depth] = true;
    w->in_object[w->depth] = object;
    w->depth++;
}

static void w_end(hm_writer *w, bool object) {
    if (w->error) return;
    if (w->depth == 0 || w->in_object[w->depth - 1] != object) {
        w_fail(w, object ? "hm_w_object_end without an open object" : "hm_w_array_end without an open array");
        return;
    }
    if (object && w->after_key) {
        w_fail(w, "an object ended after a key, before its value");
        return;
    }
    hm_buf_putc(&w->buf, object ? '}' : ']');
    w->depth--;
    w_done(w);
}

void hm_w_object_begin(hm_writer *w) { w_begin(w, true); }
void hm_w_object_end(hm_writer *w) { w_end(w, true); }
void hm_w_array_begin(hm_writer *w) { w_begin(w, false); }
void hm_w_array_end(hm_writer *w) { w_end(w, false); }

void hm_w_key_n(hm_writer *w, const char *key, size_t len) {
    if (w->error) return;
    if (w->depth == 0 || !w->in_object[w->depth - 1] || w->after_key) {
        w_fail(w, w->after_key ? "a key where a value was due" : "a key outside an object");
        return;
    }
    int level = w->depth - 1;
    if (!w->first[level]) hm_buf_putc(&w->buf, ',');
    w->first[level] = false;
    hm_buf_json_string(&w->buf, key, len);
    hm_buf_putc(&w->buf, ':');
    w->after_key = true;
}

void hm_w_key(hm_writer *w, const char *key) { hm_w_key_n(w, key ? key : "", key ? strlen(key) : 0); }

void hm_w_string_n(hm_writer *w, const char *s, size_t len) {
    if (!w_value(w)) return;
    hm_buf_json_string(&w->buf, s, len);
    w_done(w);
}

void hm_w_string(hm_writer *w, const char *s) {
    if (!s) hm_w_null(w);
    else hm_w_string_n(w, s, strlen(s));
}

void hm_w_printf_string(hm_writer *w, const char *fmt, ...) {
    hm_buf tmp;
    hm_buf_init(&tmp);
    va_list args;
    va_start(args, fmt);
    hm_buf_vprintf(&tmp, fmt, args);
    va_end(args);
    hm_w_string_n(w, tmp.data ? tmp.data : "", tmp.len);
    hm_buf_free(&tmp);
}

static void w_literal(hm_writer *w, const char *text) {
    if (!w_value(w)) return;
    hm_buf_puts(&w->buf, text);
    w_done(w);
}

void hm_w_int(hm_writer *w, int64_t n) {
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)n);
    w_literal(w, text);
}

void hm_w_uint(hm_writer *w, uint64_t n) {
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)n);
    w_literal(w, text);
}

void hm_w_double(hm_writer *w, double d) {
    if (isnan(d) || isinf(d)) {
        w_literal(w, "null");
        return;
    }
    char text[32];
    snprintf(text, sizeof text, "%.15g", d);
    if (strtod(text, NULL) != d) snprintf(text, sizeof text, "%.17g", d);
    w_literal(w, text);
}

void hm_w_bool(hm_writer *w, bool b) { w_literal(w, b ? "true" : "false"); }

void hm_w_null(hm_writer *w) { w_literal(w, "null"); }

void hm_w_raw(hm_writer *w, const char *json, size_t len) {
    hm_json v = hm_json_parse(json, len, NULL);
    if (!v.text) {
        w_fail(w, "hm_w_raw was given text that is not valid JSON");
        return;
    }
    hm_w_json(w, v);
}

void hm_w_json(hm_writer *w, hm_json value) {
    /* Re-check: a view may have been made by hand. */
    hm_json v = hm_json_parse(value.text, value.len, NULL);
    if (!v.text) {
        w_fail(w, "hm_w_json was given a value that is not valid JSON");
        return;
    }
    if (!w_value(w)) return;
    hm_buf_append(&w->buf, v.text, v.len);
    w_done(w);
}

const char *hm_w_text(const hm_writer *w) { return w->buf.data ? w->buf.data : ""; }
