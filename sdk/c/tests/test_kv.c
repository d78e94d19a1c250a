/* Native tests of the key-value functions against the in-memory host (src/native_host.c):
 * the host's limits are checked before the call, so a handler gets a failure it can report
 * instead of a call the host aborts. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harmonia.h"

/* An action that stores {"key", "bytes"} and reports a failure as the SDK's README says. */
static hm_result store(const hm_ctx *ctx, hm_json input) {
    (void)ctx;
    char *key = hm_json_get_string(input, "key", NULL);
    int64_t bytes = 0;
    if (!key || !hm_json_get_int(input, "bytes", &bytes) || bytes < 0) {
        free(key);
        return hm_invalid_input("needs `key` and `bytes`");
    }
    char *value = calloc((size_t)bytes + 1, 1);
    bool stored = hm_kv_set(key, value, (size_t)bytes);
    free(value);
    free(key);
    if (!stored) return hm_with_code(hm_fatal("%s", hm_kv_error()), "kv-limit");
    return hm_ok("true");
}

static const hm_action actions[] = {{"store", "Stores zeros", store}};
HM_PLUGIN(.name = "kv-test", .version = "1", HM_ACTIONS(actions))

/* A key of `n` bytes: "k" repeated. */
static char *key_of(size_t n) {
    char *key = malloc(n + 1);
    memset(key, 'k', n);
    key[n] = '\0';
    return key;
}

static void keys_up_to_the_limit_work(void) {
    hm_test_reset();
    char *key = key_of(HM_KV_MAX_KEY);
    CHECK(hm_kv_set(key, "v", 1));
    CHECK(hm_kv_error() == NULL);
    uint8_t *value = NULL;
    size_t len = 0;
    CHECK(hm_kv_get(key, &value, &len) && len == 1 && value[0] == 'v');
    free(value);
    CHECK(hm_kv_delete(key));
    CHECK(!hm_kv_get(key, NULL, NULL));
    CHECK(hm_kv_error() == NULL); /* simply not set */
    free(key);
}

static void longer_keys_fail_with_a_message_naming_key_and_limit(void) {
    hm_test_reset();
    char *key = key_of(HM_KV_MAX_KEY + 1);
    CHECK(!hm_kv_set(key, "v", 1));
    CHECK_CONTAINS(hm_kv_error(), "kv key `kkkkkkkkkk");
    CHECK_CONTAINS(hm_kv_error(), "...` is 1025 bytes, over the host's limit of 1024 bytes");
    CHECK(!hm_kv_get(key, NULL, NULL));
    CHECK(hm_kv_error() != NULL);
    CHECK(!hm_kv_delete(key));
    CHECK(hm_kv_get_json(key) == NULL);
    CHECK(!hm_kv_set_json(key, "1"));
    CHECK_CONTAINS(hm_kv_error(), "1025 bytes");
    /* A success clears the error. */
    CHECK(hm_kv_set("short", "v", 1) && hm_kv_error() == NULL);
    free(key);

    /* The key is counted as sent: each invalid byte becomes U+FFFD, 3 bytes. */
    char bad[400];
    memset(bad, 0xff, sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    CHECK(!hm_kv_set(bad, "v", 1));
    CHECK_CONTAINS(hm_kv_error(), "is 1197 bytes");
    /* The message is valid UTF-8 and cut at a character boundary. */
    CHECK(hm_utf8_valid(hm_kv_error(), strlen(hm_kv_error())));
    char euros[3 * 400 + 1] = "";
    for (int i = 0; i < 400; i++) strcat(euros, "\xe2\x82\xac");
    CHECK(!hm_kv_delete(euros));
    CHECK(hm_utf8_valid(hm_kv_error(), strlen(hm_kv_error())));
    CHECK_CONTAINS(hm_kv_error(), "\xe2\x82\xac...` is 1200 bytes");
}

static void values_over_4_mib_fail(void) {
    hm_test_reset();
    size_t max = HM_KV_MAX_VALUE;
    char *big = calloc(max + 1, 1);
    CHECK(hm_kv_set("big", big, max));
    CHECK(!hm_kv_set("big", big, max + 1));
    CHECK_STR(hm_kv_error(),
              "the value for kv key `big` is 4194305 bytes, over the host's limit of 4194304 bytes "
              "(4 MiB)");
    /* The earlier value is still there. */
    size_t len = 0;
    uint8_t *value = NULL;
    CHECK(hm_kv_get("big", &value, &len) && len == max);
    free(value);
    free(big);
}

static void a_handler_reports_the_failure_as_a_fatal_error(void) {
    hm_test_reset();
    hm_result r = hm_test_call("store", "{\"key\": \"ok\", \"bytes\": 3}");
    CHECK_STR(r.output, "true");
    hm_result_free(&r);
    r = hm_test_call("store", "{\"key\": \"ok\", \"bytes\": 4194305}");
    CHECK(r.error && r.error->kind == HM_FATAL);
    CHECK_STR(r.error->code, "kv-limit");
    CHECK_CONTAINS(r.error->message, "kv key `ok` is 4194305 bytes");
    hm_result_free(&r);
}

int main(void) {
    RUN(keys_up_to_the_limit_work);
    RUN(longer_keys_fail_with_a_message_naming_key_and_limit);
    RUN(values_over_4_mib_fail);
    RUN(a_handler_reports_the_failure_as_a_fatal_error);
    hm_test_reset();
    return check_summary("kv");
}
