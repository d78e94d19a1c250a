/*
 * check.h: a minimal test harness for native tests of the C SDK and of C plugins.
 *
 *     #include "check.h"
 *     static void adds(void) { CHECK(1 + 1 == 2); CHECK_STR("a", "a"); }
 *     int main(void) { RUN(adds); return check_summary("mytests"); }
 *
 * Each RUN is one test; it fails if any CHECK in it fails. check_summary prints
 * "<name>: N passed, N failed" and returns the exit code (1 if any test failed).
 */
#ifndef HARMONIA_CHECK_H
#define HARMONIA_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_checks, check_tests_passed, check_tests_failed;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            check_failed_checks++;                                                             \
        }                                                                                      \
    } while (0)

/* Two C strings are equal (NULL only equals NULL). */
#define CHECK_STR(actual, expected)                                                            \
    do {                                                                                       \
        const char *check_a_ = (actual), *check_e_ = (expected);                               \
        if (!(check_a_ == check_e_ ||                                                          \
              (check_a_ && check_e_ && strcmp(check_a_, check_e_) == 0))) {                    \
            fprintf(stderr, "%s:%d: %s\n    is: %s\n  want: %s\n", __FILE__, __LINE__, #actual,  \
                    check_a_ ? check_a_ : "(null)", check_e_ ? check_e_ : "(null)");           \
            check_failed_checks++;                                                             \
        }                                                                                      \
    } while (0)

/* `haystack` contains `needle`. */
#define CHECK_CONTAINS(haystack, needle)                                                       \
    do {                                                                                       \
        const char *check_h_ = (haystack), *check_n_ = (needle);                               \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                                        \
            fprintf(stderr, "%s:%d: %s\n    is: %s\n  want it to contain: %s\n", __FILE__,     \
                    __LINE__, #haystack, check_h_ ? check_h_ : "(null)", check_n_);            \
            check_failed_checks++;                                                             \
        }                                                                                      \
    } while (0)

#define RUN(test) check_run(#test, test)

static void check_run(const char *name, void (*test)(void)) {
    int before = check_failed_checks;
    test();
    if (check_failed_checks == before) {
        check_tests_passed++;
    } else {
        check_tests_failed++;
        fprintf(stderr, "FAILED: %s\n", name);
    }
}

static int check_summary(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

#endif
