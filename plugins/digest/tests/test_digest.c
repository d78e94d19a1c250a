/* Native tests of the digest plugin: its algorithms against published vectors, and its
 * actions through the SDK's in-memory host. Run with `bash sdk/c/test.sh plugins/digest`. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"
#include "harmonia.h"

static const char *sha256_hex(const void *data, size_t len) {
    static char hex[65];
    uint8_t sum[32];
    digest_sha256(data, len, sum);
    digest_hex(sum, 32, hex);
    return hex;
}

static void sha256_matches_known_vectors(void) {
    CHECK_STR(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_STR(sha256_hex(two_blocks, strlen(two_blocks)),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* Lengths around the padding boundaries (55/56 bytes: one or two final blocks). */
    static const struct {
        size_t n;
        const char *hex;
    } as[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) CHECK_STR(sha256_hex(a, as[i].n), as[i].hex);
    free(a);
}

static void crc32_and_fnv1a_match_known_vectors(void) {
    CHECK(digest_crc32("123456789", 9) == 0xcbf43926u);
    CHECK(digest_crc32("", 0) == 0);
    CHECK(digest_crc32("The quick brown fox jumps over the lazy dog", 43) == 0x414fa339u);
    CHECK(digest_fnv1a32("", 0) == 0x811c9dc5u);
    CHECK(digest_fnv1a32("a", 1) == 0xe40c292cu);
    CHECK(digest_fnv1a32("foobar", 6) == 0xbf9cf968u);
}

static void counts_text(void) {
    text_stats s = digest_stats("", 0);
    CHECK(s.bytes == 0 && s.lines == 0 && s.ascii && s.utf8_chars == 0);
    s = digest_stats("one", 3);
    CHECK(s.lines == 1 && s.utf8_chars == 3);
    s = digest_stats("one\n", 4);
    CHECK(s.lines == 1);
    s = digest_stats("one\ntwo", 7);
    CHECK(s.lines == 2);
    s = digest_stats("\n\n", 2);
    CHECK(s.lines == 2);
    s = digest_stats("h\xc3\xa9llo \xf0\x9f\x98\x80", 11); /* "héllo 😀" */
    CHECK(s.bytes == 11 && s.utf8_chars == 7 && !s.ascii && s.lines == 1);
}

/* ---- the actions, through the SDK ---------------------------------------------------- */

static void hash_defaults_to_sha256_and_logs_one_line(void) {
    hm_test_reset();
    hm_result r = hm_test_call("hash", "{\"text\": \"abc\"}");
    CHECK(!r.error);
    CHECK_STR(r.output, "{\"algorithm\":\"sha256\",\"hex\":"
                        "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"bytes\":3}");
    hm_result_free(&r);
    CHECK(hm_test_log_count() == 1);
    hm_level level;
    CHECK_CONTAINS(hm_test_log(0, &level), "sha256 of 3 bytes");
    CHECK(level == HM_INFO);
}

static void hash_offers_crc32_and_fnv1a(void) {
    hm_result r = hm_test_call("hash", "{\"text\": \"123456789\", \"algorithm\": \"crc32\"}");
    CHECK_STR(r.output, "{\"algorithm\":\"crc32\",\"hex\":\"cbf43926\",\"bytes\":9}");
    hm_result_free(&r);
    r = hm_test_call("hash", "{\"algorithm\": \"fnv1a\", \"text\": \"a\"}");
    CHECK_STR(r.output, "{\"algorithm\":\"fnv1a\",\"hex\":\"e40c292c\",\"bytes\":1}");
    hm_result_free(&r);
    /* Bytes are those of the UTF-8 text after JSON decoding. */
    r = hm_test_call("hash", "{\"text\": \"\\u00e9\\u0000\", \"algorithm\": \"crc32\"}");
    CHECK_CONTAINS(r.output, "\"bytes\":3");
    hm_result_free(&r);
}

static void hash_refuses_bad_input_naming_the_field(void) {
    hm_result r = hm_test_call("hash", "{\"text\": \"x\", \"algorithm\": \"md5\"}");
    CHECK(r.error && r.error->kind == HM_INVALID_INPUT);
    CHECK_STR(r.error->message, "field `algorithm` must be one of sha256, crc32, fnv1a; got \"md5\"");
    CHECK_STR(r.error->code, "unknown-algorithm");
    CHECK_STR(r.error->details, "{\"supported\":[\"sha256\",\"crc32\",\"fnv1a\"]}");
    hm_result_free(&r);
    r = hm_test_call("hash", "{\"algorithm\": \"crc32\"}");
    CHECK(r.error && r.error->kind == HM_INVALID_INPUT);
    CHECK_STR(r.error->message, "missing field `text` (a string)");
    hm_result_free(&r);
    r = hm_test_call("hash", "{\"text\": 12}");
    CHECK_STR(r.error->message, "field `text` must be a string, not number");
    hm_result_free(&r);
    r = hm_test_call("hash", "");
    CHECK(r.error && r.error->kind == HM_INVALID_INPUT);
    hm_result_free(&r);
}

static void stats_counts_bytes_lines_and_characters(void) {
    hm_test_reset();
    hm_result r = hm_test_call("stats", "{\"text\": \"h\\u00e9llo\\nw\\u00f6rld\\n\"}");
    CHECK_STR(r.output, "{\"bytes\":14,\"lines\":2,\"ascii\":false,\"utf8_chars\":12}");
    hm_result_free(&r);
    r = hm_test_call("stats", "{\"text\": \"\"}");
    CHECK_STR(r.output, "{\"bytes\":0,\"lines\":0,\"ascii\":true,\"utf8_chars\":0}");
    hm_result_free(&r);
    CHECK(hm_test_log_count() == 2);
}

static void seen_remembers_texts_in_the_key_value_space(void) {
    hm_test_reset();
    hm_result r = hm_test_call("seen", "{\"text\": \"abc\"}");
    CHECK_CONTAINS(r.output, "\"duplicate\":false,\"count\":1");
    hm_result_free(&r);
    CHECK(hm_test_event_count() == 0);
    r = hm_test_call("seen", "{\"text\": \"abc\"}");
    CHECK_CONTAINS(r.output, "\"duplicate\":true,\"count\":2");
    hm_result_free(&r);
    const char *type;
    CHECK(hm_test_event_count() == 1);
    CHECK_CONTAINS(hm_test_event(0, &type), "\"count\":2");
    CHECK_STR(type, "digest.duplicate");
    char *stored = hm_kv_get_json("seen/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_STR(stored, "2");
    free(stored);

    r = hm_test_call("forget", "{\"text\": \"abc\"}");
    CHECK_CONTAINS(r.output, "\"removed\":true");
    hm_result_free(&r);
    r = hm_test_call("forget", "{\"text\": \"abc\"}");
    CHECK_CONTAINS(r.output, "\"removed\":false");
    hm_result_free(&r);
    r = hm_test_call("seen", "{\"text\": \"abc\"}");
    CHECK_CONTAINS(r.output, "\"count\":1");
    hm_result_free(&r);
    hm_test_reset();
}

static void unknown_action_is_unknown_action(void) {
    hm_result r = hm_test_call("sign", "{}");
    CHECK(r.error && r.error->kind == HM_UNKNOWN_ACTION);
    CHECK_CONTAINS(r.error->message, "known actions: hash, stats, seen, forget");
    hm_result_free(&r);
}

int main(void) {
    RUN(sha256_matches_known_vectors);
    RUN(crc32_and_fnv1a_match_known_vectors);
    RUN(counts_text);
    RUN(hash_defaults_to_sha256_and_logs_one_line);
    RUN(hash_offers_crc32_and_fnv1a);
    RUN(hash_refuses_bad_input_naming_the_field);
    RUN(stats_counts_bytes_lines_and_characters);
    RUN(seen_remembers_texts_in_the_key_value_space);
    RUN(unknown_action_is_unknown_action);
    hm_test_reset();
    return check_summary("digest");
}
