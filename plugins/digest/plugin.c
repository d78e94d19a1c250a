/*
 * digest: checksums and statistics of text, a Harmonia plugin in C (sdk/c).
 *
 *   hash     {text, algorithm?: sha256 | crc32 | fnv1a}  -> {algorithm, hex, bytes}
 *   stats    {text}                                      -> {bytes, lines, ascii, utf8_chars}
 *   seen     {text}   remembers the text's SHA-256 in the plugin's key-value space
 *                                                        -> {hex, duplicate, count}
 *   forget   {text}   removes what `seen` remembered     -> {hex, removed}
 */
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "harmonia.h"

/* Reads the required string member `text` (decoded, may hold NUL bytes); on failure sets
 * `error` and returns false. */
static bool read_text(hm_json input, char **text, size_t *len, hm_result *error) {
    hm_json value = hm_json_get(input, "text");
    *text = hm_json_string(value, len);
    if (*text) return true;
    if (hm_json_is_missing(value))
        *error = hm_invalid_input("missing field `text` (a string)");
    else
        *error = hm_invalid_input("field `text` must be a string, not %s",
                                  hm_json_type_name(hm_json_type_of(value)));
    return false;
}

static void sha256_hex(const char *text, size_t len, char hex[65]) {
    uint8_t sum[32];
    digest_sha256(text, len, sum);
    digest_hex(sum, sizeof sum, hex);
}

static hm_result hash(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    const char *algorithm = "sha256";
    hm_json alg = hm_json_get(input, "algorithm");
    if (!hm_json_is_missing(alg) && !hm_json_is_null(alg)) {
        static const char *const known[] = {"sha256", "crc32", "fnv1a"};
        algorithm = NULL;
        for (size_t i = 0; i < 3; i++)
            if (hm_json_string_equals(alg, known[i])) algorithm = known[i];
        if (!algorithm) {
            /* Quote what was given, as JSON, so any value reads clearly in the message. */
            hm_writer given;
            hm_w_init(&given);
            hm_w_json(&given, alg);
            hm_result err = hm_invalid_input(
                "field `algorithm` must be one of sha256, crc32, fnv1a; got %s", hm_w_text(&given));
            hm_w_free(&given);
            return hm_with_details(hm_with_code(err, "unknown-algorithm"),
                                   "{\"supported\":[\"sha256\",\"crc32\",\"fnv1a\"]}");
        }
    }

    char *text;
    size_t len;
    hm_result error;
    if (!read_text(input, &text, &len, &error)) return error;

    char hex[65];
    if (strcmp(algorithm, "sha256") == 0) {
        sha256_hex(text, len, hex);
    } else {
        uint32_t sum = strcmp(algorithm, "crc32") == 0 ? digest_crc32(text, len)
                                                       : digest_fnv1a32(text, len);
        snprintf(hex, sizeof hex, "%08x", (unsigned)sum);
    }
    free(text);
    hm_log_info("%s of %zu bytes: %s", algorithm, len, hex);

    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_key(&w, "algorithm");
    hm_w_string(&w, algorithm);
    hm_w_key(&w, "hex");
    hm_w_string(&w, hex);
    hm_w_key(&w, "bytes");
    hm_w_uint(&w, len);
    hm_w_object_end(&w);
    return hm_ok_writer(&w);
}

static hm_result stats(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    char *text;
    size_t len;
    hm_result error;
    if (!read_text(input, &text, &len, &error)) return error;
    text_stats s = digest_stats(text, len);
    free(text);
    hm_log_info("stats of %zu bytes: %zu lines, %zu characters", s.bytes, s.lines, s.utf8_chars);

    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_key(&w, "bytes");
    hm_w_uint(&w, s.bytes);
    hm_w_key(&w, "lines");
    hm_w_uint(&w, s.lines);
    hm_w_key(&w, "ascii");
    hm_w_bool(&w, s.ascii);
    hm_w_key(&w, "utf8_chars");
    hm_w_uint(&w, s.utf8_chars);
    hm_w_object_end(&w);
    return hm_ok_writer(&w);
}

/* The key-value key for a text: "seen/<sha256 hex>". */
static bool seen_key(hm_json input, char hex[65], char key[70], hm_result *error) {
    char *text;
    size_t len;
    if (!read_text(input, &text, &len, error)) return false;
    sha256_hex(text, len, hex);
    free(text);
    snprintf(key, 70, "seen/%s", hex);
    return true;
}

static hm_result seen(const hm_ctx *ctx, hm_json input) {
    char hex[65], key[70];
    hm_result error;
    if (!seen_key(input, hex, key, &error)) return error;

    int64_t count = 0;
    char *stored = hm_kv_get_json(key);
    if (stored) {
        hm_json_int(hm_json_parse(stored, strlen(stored), NULL), &count);
        free(stored);
    }
    count++;
    char value[24];
    snprintf(value, sizeof value, "%lld", (long long)count);
    if (!hm_kv_set_json(key, value)) return hm_fatal("%s", hm_kv_error()); /* over a kv limit */
    hm_log_info("text %s seen %lld time(s) (task %s, attempt %u)", hex, (long long)count,
                ctx->task_id, ctx->attempt);

    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_key(&w, "hex");
    hm_w_string(&w, hex);
    hm_w_key(&w, "duplicate");
    hm_w_bool(&w, count > 1);
    hm_w_key(&w, "count");
    hm_w_int(&w, count);
    hm_w_object_end(&w);
    if (count > 1) hm_emit_event("digest.duplicate", hm_w_text(&w));
    return hm_ok_writer(&w);
}

static hm_result forget(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    char hex[65], key[70];
    hm_result error;
    if (!seen_key(input, hex, key, &error)) return error;
    bool removed = hm_kv_get(key, NULL, NULL);
    hm_kv_delete(key);
    hm_log_info("forgot text %s", hex);

    hm_writer w;
    hm_w_init(&w);
    hm_w_object_begin(&w);
    hm_w_key(&w, "hex");
    hm_w_string(&w, hex);
    hm_w_key(&w, "removed");
    hm_w_bool(&w, removed);
    hm_w_object_end(&w);
    return hm_ok_writer(&w);
}

/* The input of the actions that take only a text. */
#define TEXT_INPUT \
    "{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{\"type\":\"string\"}}}"

static const hm_action actions[] = {
    {"hash", "Checksum of a text: sha256 (default), crc32 or fnv1a, as hex", hash,
     "{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{\"type\":\"string\"},"
     "\"algorithm\":{\"enum\":[\"sha256\",\"crc32\",\"fnv1a\"]}}}"},
    {"stats", "Bytes, lines, characters of a text, and whether it is ASCII", stats, TEXT_INPUT},
    {"seen", "Remembers a text's SHA-256 and says whether it was seen before", seen, TEXT_INPUT},
    {"forget", "Forgets a text remembered by `seen`", forget, TEXT_INPUT},
};

HM_PLUGIN(.name = "digest", .version = "0.1.0",
          .description = "Checksums (SHA-256, CRC-32, FNV-1a) and statistics of text",
          HM_ACTIONS(actions))
