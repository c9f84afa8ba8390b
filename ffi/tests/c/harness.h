/*
 * The C tests' shared harness: the running test's name, the pass count, and CHECK macros that
 * print file:line, the expression and (for statuses) tether_strerror of what came back, then the
 * summary line, and exit with status 1. Every status a call returns must be a documented one.
 * Each test binary includes it once.
 */
#ifndef TETHER_TEST_HARNESS_H
#define TETHER_TEST_HARNESS_H

#include "tether.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *current_test = "(none)";
static int tests_passed;

static void fail_exit(void) {
    fflush(stdout);
    fprintf(stderr, "FAILED in %s\n", current_test);
    printf("%d passed, 1 failed\n", tests_passed);
    fflush(stdout);
    exit(1);
}

/* Every status any call returns must be a documented one (0 for success only). */
static void check_known_status(const char *file, int line, tether_status st) {
    if (strcmp(tether_strerror(st), "unknown status") == 0) {
        fprintf(stderr, "%s:%d: [%s] undocumented status %d\n", file, line, current_test, (int)st);
        fail_exit();
    }
}

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", __FILE__, __LINE__,           \
                    current_test, #cond);                                                   \
            fail_exit();                                                                    \
        }                                                                                   \
    } while (0)

#define CHECK_ST(expr, expected)                                                            \
    do {                                                                                    \
        const tether_status st_ = (expr);                                                   \
        const tether_status want_ = (expected);                                             \
        if (st_ != want_) {                                                                 \
            fprintf(stderr, "%s:%d: [%s] %s\n    returned %d (%s), expected %d (%s)\n",     \
                    __FILE__, __LINE__, current_test, #expr, (int)st_, tether_strerror(st_), \
                    (int)want_, tether_strerror(want_));                                    \
            fail_exit();                                                                    \
        }                                                                                   \
        check_known_status(__FILE__, __LINE__, st_);                                        \
    } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, TETHER_OK)

/* Decodes lowercase hex into buf (capacity cap); returns the byte count. */
static inline size_t unhex(const char *hex, uint8_t *buf, size_t cap) {
    size_t n = strlen(hex) / 2;
    CHECK(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1);
        buf[i] = (uint8_t)v;
    }
    return n;
}

/* Whether the n bytes at p all equal value. */
static inline int all_bytes(const void *p, size_t n, uint8_t value) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != value) {
            return 0;
        }
    }
    return 1;
}

#endif
