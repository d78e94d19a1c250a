/* Native tests of the JSON reader and writer, the results and hm_dispatch (src/json.c,
 * src/result.c). Run by sdk/c/test.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harmonia.h"

static hm_json parse(const char *text) { return hm_json_parse(text, strlen(text), NULL); }

/* The view's text as a NUL-terminated string in a static buffer, for CHECK_STR. */
static const char *view(hm_json v) {
    static char out[256];
    if (!v.text) return NULL;
    size_t n = v.len < sizeof out - 1 ? v.len : sizeof out - 1;
    memcpy(out, v.text, n);
    out[n] = '\0';
    return out;
}

/* ---- reading ------------------------------------------------------------------------- */

static void parses_every_kind_of_value(void) {
    CHECK_STR(view(parse("  {\"a\": [1, -2.5e+3, true, false, null, \"x\"], \"b\": {}}\n")),
              "{\"a\": [1, -2.5e+3, true, false, null, \"x\"], \"b\": {}}");
    CHECK_STR(view(parse("0")), "0");
    CHECK_STR(view(parse("-0.0E-0")), "-0.0E-0");
    CHECK_STR(view(parse("\t\"\" ")), "\"\"");
    CHECK_STR(view(parse("[]")), "[]");
    CHECK_STR(view(parse("[[[]]]")), "[[[]]]");
    CHECK(hm_json_type_of(parse("{}")) == HM_JSON_OBJECT);
    CHECK(hm_json_type_of(parse("[]")) == HM_JSON_ARRAY);
    CHECK(hm_json_type_of(parse("\"s\"")) == HM_JSON_STRING);
    CHECK(hm_json_type_of(parse("-1")) == HM_JSON_NUMBER);
    CHECK(hm_json_type_of(parse("true")) == HM_JSON_BOOL);
    CHECK(hm_json_type_of(parse("null")) == HM_JSON_NULL);
    CHECK(hm_json_type_of(parse("nul")) == HM_JSON_MISSING);
    CHECK_STR(hm_json_type_name(HM_JSON_OBJECT), "object");
    CHECK_STR(hm_json_type_name(HM_JSON_MISSING), "missing");
}

static void refuses_invalid_json_with_offset_and_reason(void) {
    static const struct {
        const char *text;
        size_t offset;
        const char *message;
    } cases[] = {
        {"", 0, "expected a value"},
        {"   ", 3, "expected a value"},
        {"{\"a\":1,}", 7, "expected a string key"},
        {"{\"a\" 1}", 5, "expected `:`"},
        {"[1 2]", 3, "expected `,` or `]`"},
        {"[1,]", 3, "expected a value"},
        {"01", 1, "unexpected text after the value"},
        {"1.", 2, "expected a digit after `.`"},
        {"1e", 2, "expected a digit in the exponent"},
        {"-", 1, "invalid number"},
        {".5", 0, "expected a value"},
        {"+1", 0, "expected a value"},
        {"tru", 0, "expected a value"},
        {"\"abc", 4, "unterminated string"},
        {"\"a\nb\"", 2, "control character in a string (must be escaped)"},
        {"\"\\x\"", 1, "invalid escape in a string"},
        {"\"\\u12\"", 1, "invalid escape in a string"},
        {"\"\\ud800\"", 1, "invalid escape in a string"},        /* lone high surrogate */
        {"\"\\udc00\"", 1, "invalid escape in a string"},        /* lone low surrogate */
        {"\"\\ud800\\u0041\"", 1, "invalid escape in a string"}, /* high + not low */
        {"\"\xff\"", 1, "invalid UTF-8 in a string"},
        {"\"\xc0\x80\"", 1, "invalid UTF-8 in a string"}, /* overlong NUL */
        {"\"\xed\xa0\x80\"", 1, "invalid UTF-8 in a string"}, /* encoded surrogate */
        {"1 2", 2, "unexpected text after the value"},
        {"{} x", 3, "unexpected text after the value"},
        {"NaN", 0, "expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hm_json_error err;
        hm_json v = hm_json_parse(cases[i].text, strlen(cases[i].text), &err);
        CHECK(v.text == NULL);
        if (err.offset != cases[i].offset || !err.message || strcmp(err.message, cases[i].message)) {
            fprintf(stderr, "case %zu `%s`: got `%s` at %zu\n", i, cases[i].text,
                    err.message ? err.message : "(none)", err.offset);
            check_failed_checks++;
        }
    }
    /* An embedded NUL is not the end of the text: the length is. */
    CHECK(hm_json_parse("1\0", 2, NULL).text == NULL);
    CHECK(hm_json_parse("1\0", 1, NULL).text != NULL);
    CHECK(hm_json_parse(NULL, 0, NULL).text == NULL);
}

static void limits_nesting_depth(void) {
    char deep[2 * 130 + 1];
    for (int depth = 128; depth <= 129; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        hm_json_error err;
        hm_json v = hm_json_parse(deep, strlen(deep), &err);
        if (depth == 128) CHECK(v.text != NULL);
        else CHECK(v.text == NULL && strcmp(err.message, "nested too deeply") == 0);
    }
}

static void looks_up_members(void) {
    hm_json doc = parse("{\"name\": \"Ada\", \"n\": 3, \"nested\": {\"list\": [10, 20, {\"k\": true}]},"
                        " \"dup\": 1, \"dup\": 2, \"a\\u0062\": \"escaped key\", \"\": 0}");
    CHECK_STR(view(hm_json_get(doc, "name")), "\"Ada\"");
    CHECK_STR(view(hm_json_get(doc, "n")), "3");
    CHECK(hm_json_is_missing(hm_json_get(doc, "nope")));
    CHECK(hm_json_is_missing(hm_json_get(doc, "Name")));
    CHECK_STR(view(hm_json_get(doc, "dup")), "2"); /* the last one wins */
    CHECK_STR(view(hm_json_get(doc, "ab")), "\"escaped key\"");
    CHECK_STR(view(hm_json_get(doc, "")), "0");
    hm_json list = hm_json_get(hm_json_get(doc, "nested"), "list");
    CHECK(hm_json_count(list) == 3);
    CHECK_STR(view(hm_json_at(list, 1)), "20");
    CHECK(hm_json_is_missing(hm_json_at(list, 3)));
    bool b = false;
    CHECK(hm_json_get_bool(hm_json_at(list, 2), "k", &b) && b);
    /* A chain through missing or wrong-typed values stays missing, never crashes. */
    CHECK(hm_json_is_missing(hm_json_get(hm_json_get(doc, "nope"), "x")));
    CHECK(hm_json_is_missing(hm_json_get(hm_json_get(doc, "n"), "x")));
    CHECK(hm_json_is_missing(hm_json_at(doc, 0)));
    CHECK(hm_json_is_missing(hm_json_get(list, "0")));
    CHECK(hm_json_count(hm_json_get(doc, "name")) == 0);
    CHECK(hm_json_count(doc) == 7); /* both `dup` members count */
}

static void iterates_arrays_and_objects(void) {
    hm_json obj = parse("{ \"a\" : 1 , \"b\":[2,3] ,\"c\":{} }");
    hm_json_iter it = hm_json_iterate(obj);
    hm_json k, v;
    const char *keys[3] = {"a", "b", "c"}, *values[3] = {"1", "[2,3]", "{}"};
    int i = 0;
    while (hm_json_next(&it, &k, &v)) {
        CHECK(i < 3);
        if (i >= 3) break;
        CHECK(hm_json_string_equals(k, keys[i]));
        CHECK_STR(view(v), values[i]);
        i++;
    }
    CHECK(i == 3);
    it = hm_json_iterate(parse("[ ]"));
    CHECK(!hm_json_next(&it, NULL, &v));
    it = hm_json_iterate(parse("\"not a container\""));
    CHECK(!hm_json_next(&it, NULL, &v));
}

static void decodes_strings(void) {
    size_t len = 99;
    char *s = hm_json_string(parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), &len);
    CHECK_STR(s, "\"\\/\b\f\n\r\t");
    CHECK(len == 8);
    free(s);
    s = hm_json_string(parse("\"caf\\u00e9 \\u20AC \\ud83d\\ude00 \\u0041\""), &len);
    CHECK_STR(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 A");
    free(s);
    s = hm_json_string(parse("\"raw \xc3\xa9 \xf0\x9f\x98\x80\""), NULL);
    CHECK_STR(s, "raw \xc3\xa9 \xf0\x9f\x98\x80");
    free(s);
    s = hm_json_string(parse("\"a\\u0000b\""), &len); /* an embedded NUL counts */
    CHECK(s && len == 3 && s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && s[3] == '\0');
    free(s);
    s = hm_json_string(parse("\"\""), &len);
    CHECK_STR(s, "");
    CHECK(len == 0);
    free(s);
    CHECK(hm_json_string(parse("12"), NULL) == NULL);
    CHECK(hm_json_string(hm_json_get(parse("{}"), "x"), NULL) == NULL);
    CHECK(hm_json_string_equals(parse("\"\\u00e9\""), "\xc3\xa9"));
    CHECK(!hm_json_string_equals(parse("\"ab\""), "a"));
    CHECK(!hm_json_string_equals(parse("\"a\""), "ab"));
    CHECK(!hm_json_string_equals(parse("1"), "1"));
}

static void reads_numbers_and_booleans(void) {
    double d = 0;
    int64_t i = 0;
    bool b = true;
    CHECK(hm_json_number(parse("-2.5e-3"), &d) && d == -2.5e-3);
    CHECK(hm_json_number(parse("1e400"), &d) && isinf(d));
    CHECK(hm_json_int(parse("42"), &i) && i == 42);
    CHECK(hm_json_int(parse("-0"), &i) && i == 0);
    CHECK(hm_json_int(parse("9223372036854775807"), &i) && i == INT64_MAX);
    CHECK(hm_json_int(parse("-9223372036854775808"), &i) && i == INT64_MIN);
    CHECK(!hm_json_int(parse("9223372036854775808"), &i));
    CHECK(!hm_json_int(parse("-9223372036854775809"), &i));
    CHECK(hm_json_number(parse("9223372036854775808"), &d));
    CHECK(hm_json_int(parse("2.0"), &i) && i == 2);
    CHECK(hm_json_int(parse("1e3"), &i) && i == 1000);
    CHECK(!hm_json_int(parse("1.5"), &i));
    CHECK(!hm_json_int(parse("1e19"), &i));
    CHECK(!hm_json_int(parse("\"3\""), &i));
    /* Decided from the decimal text, not from the double it rounds to. */
    i = 7;
    CHECK(!hm_json_int(parse("1e-400"), &i) && i == 7);
    CHECK(!hm_json_int(parse("1.0000000000000001"), &i));
    CHECK(!hm_json_int(parse("-0.5e0"), &i));
    CHECK(!hm_json_int(parse("9223372036854775807.5"), &i));
    CHECK(hm_json_int(parse("9007199254740993.0"), &i) && i == 9007199254740993LL);
    CHECK(hm_json_int(parse("9007199254740993"), &i) && i == 9007199254740993LL);
    CHECK(hm_json_int(parse("9.223372036854775807e18"), &i) && i == INT64_MAX);
    CHECK(hm_json_int(parse("-92233720368547758.08E2"), &i) && i == INT64_MIN);
    CHECK(!hm_json_int(parse("9.223372036854775808e18"), &i));
    CHECK(hm_json_int(parse("2.5e1"), &i) && i == 25);
    CHECK(hm_json_int(parse("100e-2"), &i) && i == 1);
    CHECK(hm_json_int(parse("12300E-2"), &i) && i == 123);
    CHECK(!hm_json_int(parse("12301E-2"), &i));
    CHECK(hm_json_int(parse("0.000"), &i) && i == 0);
    CHECK(hm_json_int(parse("-0.0e-99999999999999999999"), &i) && i == 0);
    CHECK(hm_json_int(parse("0e99999999999999999999"), &i) && i == 0);
    CHECK(!hm_json_int(parse("1e99999999999999999999"), &i));
    CHECK(!hm_json_int(parse("1e-99999999999999999999"), &i));
    CHECK(hm_json_int(parse("0.00001e5"), &i) && i == 1);
    CHECK(hm_json_int(parse("1E+2"), &i) && i == 100);
    /* A long text: 0.(3000 zeros)1e3001 is exactly 1. */
    static char longer[3100];
    strcpy(longer, "0.");
    memset(longer + 2, '0', 3000);
    strcpy(longer + 3002, "1e3001");
    CHECK(hm_json_int(parse(longer), &i) && i == 1);
    longer[3007] = '2'; /* 1e3002: 10 */
    CHECK(hm_json_int(parse(longer), &i) && i == 10);
    longer[3007] = '0'; /* 1e3000: 0.1 */
    CHECK(!hm_json_int(parse(longer), &i));
    CHECK(!hm_json_number(parse("true"), &d));
    CHECK(hm_json_bool(parse("false"), &b) && !b);
    CHECK(hm_json_bool(parse("true"), &b) && b);
    CHECK(!hm_json_bool(parse("null"), &b));
    CHECK(hm_json_is_null(parse(" null ")));
    hm_json obj = parse("{\"n\": 7, \"x\": 0.5, \"t\": true, \"s\": \"v\"}");
    CHECK(hm_json_get_int(obj, "n", &i) && i == 7);
    CHECK(hm_json_get_number(obj, "x", &d) && d == 0.5);
    CHECK(hm_json_get_bool(obj, "t", &b) && b);
    CHECK(!hm_json_get_int(obj, "s", &i));
    char *s = hm_json_get_string(obj, "s", NULL);
    CHECK_STR(s, "v");
    free(s);
    /* A long number goes through a heap copy. */
    char big[200];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(hm_json_number(parse(big), &d) && d > 1e198);
}

static void hand_made_views_stay_in_bounds(void) {
    /* Views that were never validated: truncated text must end the read, not overrun. */
    const char *text = "{\"a\": [1, 2], \"b\": \"xyz\"}";
    for (size_t n = 0; n < strlen(text); n++) {
        hm_json v = {text, n};
        hm_json_count(v);
        hm_json_get(v, "b");
        hm_json_at(v, 1);
        free(hm_json_get_string(v, "b", NULL));
    }
    hm_json cut = {"\"ab\\\"", 5}; /* "ab\"  : the closing quote is escaped */
    CHECK(hm_json_string(cut, NULL) == NULL);
    hm_json num = {"12345", 2};
    int64_t i = 0;
    CHECK(hm_json_int(num, &i) && i == 12);
    hm_json bad = {"{\"a\" 1}", 7};
    CHECK(hm_json_is_missing(hm_json_get(bad, "a")));
}

/* ---- writing ------------------------------------------------------------------------- */

static void writes_objects_and_arrays_with_commas(void) {
    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_key(&w, "s");
    hm_w_string(&w, "text");
    hm_w_key(&w, "i");
    hm_w_int(&w, -42);
    hm_w_key(&w, "u");
    hm_w_uint(&w, UINT64_MAX);
    hm_w_key(&w, "d");
    hm_w_double(&w, 0.1);
    hm_w_key(&w, "b");
    hm_w_bool(&w, true);
    hm_w_key(&w, "n");
    hm_w_null(&w);
    hm_w_key(&w, "none");
    hm_w_string(&w, NULL);
    hm_w_key(&w, "list");
    hm_w_array_begin(&w);
    hm_w_array_begin(&w);
    hm_w_array_end(&w);
    hm_w_int(&w, 1);
    hm_w_object_begin(&w);
    hm_w_object_end(&w);
    hm_w_raw(&w, " [true] ", 8);
    hm_w_array_end(&w);
    hm_w_key(&w, "f");
    hm_w_printf_string(&w, "%d-%s", 7, "x");
    hm_w_object_end(&w);
    CHECK(w.error == NULL);
    CHECK_STR(hm_w_text(&w),
              "{\"s\":\"text\",\"i\":-42,\"u\":18446744073709551615,\"d\":0.1,\"b\":true,\"n\":null,"
              "\"none\":null,\"list\":[[],1,{},[true]],\"f\":\"7-x\"}");
    CHECK(parse(hm_w_text(&w)).text != NULL);
    hm_result r = hm_ok_writer(&w);
    CHECK(r.output && !r.error);
    CHECK(w.buf.data == NULL); /* handed over */
    hm_result_free(&r);
}

static void escapes_strings(void) {
    hm_writer w;
    hm_w_init(&w);
    hm_w_array_begin(&w);
    hm_w_string(&w, "quote\" backslash\\ slash/ nl\n tab\t cr\r bell\x07 del\x7f");
    hm_w_string_n(&w, "nul\0end", 7);
    hm_w_string(&w, "caf\xc3\xa9 \xf0\x9f\x98\x80");   /* valid UTF-8 as is */
    hm_w_string(&w, "bad\xff \xc3 \xed\xa0\x80 end"); /* invalid bytes become U+FFFD */
    hm_w_array_end(&w);
    CHECK_STR(hm_w_text(&w),
              "[\"quote\\\" backslash\\\\ slash/ nl\\n tab\\t cr\\r bell\\u0007 del\x7f\","
              "\"nul\\u0000end\",\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
              "\"bad\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end\"]");
    CHECK(hm_utf8_valid(hm_w_text(&w), strlen(hm_w_text(&w))));
    hm_w_free(&w);
}

static void round_trips_strings(void) {
    static const char tricky[] = "\"\\\x01\x1f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n{}[],:";
    hm_writer w;
    hm_w_init(&w);
    hm_w_string_n(&w, tricky, sizeof tricky); /* with the final NUL */
    size_t len;
    char *back = hm_json_string(parse(hm_w_text(&w)), &len);
    CHECK(back && len == sizeof tricky && memcmp(back, tricky, len) == 0);
    free(back);
    hm_w_free(&w);
}

static void writes_numbers(void) {
    static const struct {
        double d;
        const char *text;
    } cases[] = {
        {0, "0"}, {3, "3"}, {-1.5, "-1.5"}, {0.1, "0.1"}, {1e300, "1e+300"},
        {1.0 / 3, "0.33333333333333331"}, {123456789012, "123456789012"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hm_writer w;
        hm_w_init(&w);
        hm_w_double(&w, cases[i].d);
        CHECK_STR(hm_w_text(&w), cases[i].text);
        double back;
        CHECK(hm_json_number(parse(hm_w_text(&w)), &back) && back == cases[i].d);
        hm_w_free(&w);
    }
    hm_writer w;
    hm_w_init(&w);
    hm_w_array_begin(&w);
    hm_w_double(&w, NAN);
    hm_w_double(&w, INFINITY);
    hm_w_int(&w, INT64_MIN);
    hm_w_array_end(&w);
    CHECK_STR(hm_w_text(&w), "[null,null,-9223372036854775808]");
    hm_w_free(&w);
}

static void reports_writer_misuse(void) {
    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_string(&w, "no key");
    CHECK(w.error != NULL);
    hm_result r = hm_ok_writer(&w);
    CHECK(r.error && r.error->kind == HM_FATAL);
    CHECK_CONTAINS(r.error->message, "without a key");
    hm_result_free(&r);

    hm_w_init(&w);
    hm_w_array_begin(&w);
    hm_w_object_end(&w);
    CHECK_CONTAINS(w.error, "without an open object");
    hm_w_free(&w);

    hm_w_init(&w);
    hm_w_array_begin(&w);
    r = hm_ok_writer(&w);
    CHECK(r.error);
    CHECK_CONTAINS(r.error->message, "left open");
    hm_result_free(&r);

    hm_w_init(&w);
    hm_w_int(&w, 1);
    hm_w_int(&w, 2);
    CHECK_CONTAINS(w.error, "second value");
    hm_w_free(&w);

    hm_w_init(&w);
    r = hm_ok_writer(&w);
    CHECK(r.error);
    CHECK_CONTAINS(r.error->message, "nothing was written");
    hm_result_free(&r);

    hm_w_init(&w);
    hm_w_array_begin(&w);
    hm_w_key(&w, "k");
    CHECK_CONTAINS(w.error, "outside an object");
    hm_w_free(&w);

    hm_w_init(&w);
    hm_w_raw(&w, "{oops", 5);
    CHECK_CONTAINS(w.error, "not valid JSON");
    hm_w_free(&w);
}

static void grows_buffers_and_formats(void) {
    hm_buf b;
    hm_buf_init(&b);
    for (int i = 0; i < 1000; i++) hm_buf_printf(&b, "%04d,", i);
    CHECK(b.len == 5000);
    CHECK(strncmp(b.data + 4995, "0999,", 5) == 0);
    char *text = hm_buf_take(&b);
    CHECK(b.data == NULL && b.len == 0);
    free(text);
    hm_buf_printf(&b, "%s", "");
    CHECK(b.len == 0 && b.data && b.data[0] == '\0');
    hm_buf_free(&b);
    text = hm_buf_take(&b);
    CHECK_STR(text, "");
    free(text);
}

static void validates_utf8(void) {
    CHECK(hm_utf8_valid("", 0));
    CHECK(hm_utf8_valid("plain", 5));
    CHECK(hm_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    CHECK(!hm_utf8_valid("\x80", 1));             /* a lone continuation byte */
    CHECK(!hm_utf8_valid("\xc3", 1));             /* truncated */
    CHECK(!hm_utf8_valid("\xe0\x80\x80", 3));     /* overlong */
    CHECK(!hm_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    CHECK(!hm_utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    CHECK(!hm_utf8_valid("\xfe", 1));
}

/* ---- results and dispatch ------------------------------------------------------------ */

static hm_result echo(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    hm_writer w;
    hm_w_init(&w);
    hm_w_json(&w, input);
    return hm_ok_writer(&w);
}

static hm_result broken(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    (void)input;
    return hm_ok("{\"unclosed\": ");
}

static hm_result failing(const hm_ctx *ctx, hm_json input) {
    (void)input;
    return hm_with_retry_after_ms(
        hm_with_details(hm_with_code(hm_retryable("%s failed on attempt %u", ctx->action, ctx->attempt),
                                     "http-503"),
                        "{\"status\": 503}"),
        1500);
}

static hm_result bad_bytes(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    (void)input;
    return hm_with_details(hm_fatal("broken \xff byte"), "not json");
}

static const hm_action test_actions[] = {
    {"echo", "Echoes", echo},
    {"broken", "Bad output", broken},
    {"failing", "Fails", failing},
    {"bad_bytes", "Bad bytes", bad_bytes},
};
static const hm_plugin test_plugin = {.name = "t", .version = "1", HM_ACTIONS(test_actions)};

static hm_result call(const char *action, const char *input) {
    hm_ctx ctx = {action, "e", "t", 2, "k", false, 0};
    return hm_dispatch(&test_plugin, &ctx, input, strlen(input));
}

static void dispatches_by_name(void) {
    hm_result r = call("echo", " {\"a\": [1, \"\\u00e9\"]} ");
    CHECK(!r.error);
    CHECK_STR(r.output, "{\"a\": [1, \"\\u00e9\"]}");
    hm_result_free(&r);
    r = call("echo", "  ");
    CHECK_STR(r.output, "null"); /* an empty input reads as null */
    hm_result_free(&r);
}

static void unknown_action_lists_the_known_ones(void) {
    hm_result r = call("nope", "{}");
    CHECK(r.error && !r.output);
    CHECK(r.error->kind == HM_UNKNOWN_ACTION);
    CHECK_STR(r.error->message, "unknown action `nope`; known actions: echo, broken, failing, bad_bytes");
    hm_result_free(&r);
}

static void invalid_input_json_is_invalid_input(void) {
    hm_result r = call("echo", "{\"a\": }");
    CHECK(r.error && r.error->kind == HM_INVALID_INPUT);
    CHECK_STR(r.error->message, "the input of action `echo` is not valid JSON: expected a value at byte 6");
    hm_result_free(&r);
}

static void invalid_output_is_a_fatal_error(void) {
    hm_result r = call("broken", "{}");
    CHECK(r.error && r.error->kind == HM_FATAL);
    CHECK_CONTAINS(r.error->message, "action `broken` returned invalid JSON");
    hm_result_free(&r);
}

static void errors_carry_code_details_and_retry_after(void) {
    hm_result r = call("failing", "{}");
    CHECK(r.error && !r.output);
    CHECK(r.error->kind == HM_RETRYABLE);
    CHECK_STR(r.error->message, "failing failed on attempt 2");
    CHECK_STR(r.error->code, "http-503");
    CHECK_STR(r.error->details, "{\"status\": 503}");
    CHECK(r.error->has_retry_after && r.error->retry_after_ms == 1500);
    hm_result_free(&r);

    r = call("bad_bytes", "{}");
    CHECK_STR(r.error->message, "broken \xef\xbf\xbd byte");
    CHECK_STR(r.error->details, "\"not json\""); /* kept, as a JSON string */
    hm_result_free(&r);

    /* Builders leave a success alone. */
    r = hm_with_code(hm_ok("1"), "x");
    CHECK(!r.error);
    CHECK_STR(r.output, "1");
    hm_result_free(&r);
    r = hm_ok(NULL);
    CHECK_STR(r.output, "null");
    hm_result_free(&r);
}

int main(void) {
    RUN(parses_every_kind_of_value);
    RUN(refuses_invalid_json_with_offset_and_reason);
    RUN(limits_nesting_depth);
    RUN(looks_up_members);
    RUN(iterates_arrays_and_objects);
    RUN(decodes_strings);
    RUN(reads_numbers_and_booleans);
    RUN(hand_made_views_stay_in_bounds);
    RUN(writes_objects_and_arrays_with_commas);
    RUN(escapes_strings);
    RUN(round_trips_strings);
    RUN(writes_numbers);
    RUN(reports_writer_misuse);
    RUN(grows_buffers_and_formats);
    RUN(validates_utf8);
    RUN(dispatches_by_name);
    RUN(unknown_action_lists_the_known_ones);
    RUN(invalid_input_json_is_invalid_input);
    RUN(invalid_output_is_a_fatal_error);
    RUN(errors_carry_code_details_and_retry_after);
    return check_summary("json");
}
