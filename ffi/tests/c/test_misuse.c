/*
 * Misuse tests of the tether C ABI (ffi/include/tether.h): the mistakes real C users make in
 * firmware and phone apps (handles of the wrong kind, unions, copies, garbage or misaligned
 * storage, absurd lengths, overlapping buffers, re-entry from callbacks, careless responders),
 * each checked against the exact status the header documents, the bytes written or not written,
 * and the state afterwards. Expectations come from the header alone.
 *
 * Build and run through ffi/tests/c/run.sh (ASan+UBSan against the debug library, then valgrind
 * against the release library). By hand:
 *   gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -I ffi/include ffi/tests/c/test_misuse.c \
 *       target/debug/libtether_ffi.a -lpthread -ldl -lm -o /tmp/test_misuse && /tmp/test_misuse
 *
 * A failed CHECK prints file:line, the expression and (for statuses) tether_strerror of what came
 * back, abandons that test and goes on with the next one (so one run lists every mismatch); the
 * last line is "N passed, M failed" and the exit status is 1 if M > 0. Handles of an abandoned
 * test are not wiped, so leak checkers may add reports after a failure.
 */

#define _POSIX_C_SOURCE 200809L

#include "tether.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* ------------------------------------------------------------------------------------------ */
/* Compile-time checks of the header's size macros (item 11): they are integer constant        */
/* expressions usable for static arrays, and they agree with the documented layouts.           */

_Static_assert(sizeof(tether_handshake) == TETHER_HANDSHAKE_SIZE, "handshake size");
_Static_assert(alignof(tether_handshake) == TETHER_HANDSHAKE_ALIGN, "handshake align");
_Static_assert(sizeof(tether_session) == TETHER_SESSION_SIZE, "session size");
_Static_assert(alignof(tether_session) == TETHER_SESSION_ALIGN, "session align");
_Static_assert(sizeof(tether_decoder) == TETHER_DECODER_SIZE, "decoder size");
_Static_assert(alignof(tether_decoder) == TETHER_DECODER_ALIGN, "decoder align");
/* "2 length + 1 flags + 2 counter + 16 tag", "1 flags + 8 counter + 16 tag". */
_Static_assert(TETHER_STREAM_OVERHEAD == 2 + 1 + 2 + 16, "stream overhead");
_Static_assert(TETHER_DATAGRAM_OVERHEAD == 1 + 8 + 16, "datagram overhead");
_Static_assert(TETHER_SEAL_CAPACITY(0) == 2 * TETHER_DATAGRAM_OVERHEAD, "seal capacity of 0");
_Static_assert(TETHER_SEAL_CAPACITY(TETHER_MAX_PLAINTEXT) >=
                   TETHER_MAX_PLAINTEXT + TETHER_STREAM_OVERHEAD + TETHER_STREAM_OVERHEAD,
               "seal capacity covers a stream data record and a key update");
_Static_assert(TETHER_UNIT_CAPACITY(1) == TETHER_HANDSHAKE_MAX_LEN, "unit capacity, small m");
_Static_assert(TETHER_UNIT_CAPACITY(TETHER_MAX_PLAINTEXT) ==
                   TETHER_MAX_PLAINTEXT + TETHER_DATAGRAM_OVERHEAD,
               "unit capacity, largest m");
_Static_assert(TETHER_UNIT_CAPACITY(TETHER_MAX_PLAINTEXT) >= TETHER_HANDSHAKE_MAX_LEN,
               "a unit buffer also holds handshake messages");
_Static_assert(TETHER_DATAGRAM_OVERHEAD >= TETHER_STREAM_OVERHEAD, "datagram is the larger");
/* The header's pairing-code and key lengths. */
_Static_assert(TETHER_PAIRING_CODE_LEN == 8 + 52, "TETHER1: and 52 base32 characters");
_Static_assert(TETHER_KEY_LEN == 32 && TETHER_HANDSHAKE_HASH_LEN == 32, "key and hash lengths");

/* Buffers sized only with the header's macros, at compile time (used by the tests below). */
static uint8_t g_hs_msg[TETHER_HANDSHAKE_MAX_LEN];
static uint8_t g_sealed[TETHER_SEAL_CAPACITY(TETHER_MAX_PLAINTEXT)];
static uint8_t g_plain[TETHER_MAX_PLAINTEXT];
static uint8_t g_opened[TETHER_MAX_PLAINTEXT];
static uint8_t g_unit_small[TETHER_UNIT_CAPACITY(1)];

/* ------------------------------------------------------------------------------------------ */
/* Harness                                                                                     */

static const char *current_test = "(none)";
static int tests_passed, tests_failed;
static jmp_buf test_jmp;

/* Abandons the current test (never called from a callback or another thread). */
static void test_failed(void) {
    fflush(stderr);
    longjmp(test_jmp, 1);
}

static int status_known(tether_status st) {
    return strcmp(tether_strerror(st), "unknown status") != 0;
}

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", __FILE__, __LINE__,           \
                    current_test, #cond);                                                   \
            test_failed();                                                                  \
        }                                                                                   \
    } while (0)

#define CHECK_ST(expr, expected)                                                            \
    do {                                                                                    \
        const tether_status st_ = (expr);                                                   \
        const tether_status want_ = (expected);                                             \
        if (st_ != want_ || !status_known(st_)) {                                           \
            fprintf(stderr, "%s:%d: [%s] %s\n    returned %d (%s), expected %d (%s)\n",     \
                    __FILE__, __LINE__, current_test, #expr, (int)st_, tether_strerror(st_), \
                    (int)want_, tether_strerror(want_));                                    \
            test_failed();                                                                  \
        }                                                                                   \
    } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, TETHER_OK)

/* A status recorded earlier (in a callback or a thread) is the one expected. */
#define CHECK_RECORDED(got, expected, what)                                                 \
    do {                                                                                    \
        const tether_status g_ = (got), w_ = (expected);                                    \
        if (g_ != w_) {                                                                     \
            fprintf(stderr, "%s:%d: [%s] %s returned %d (%s), expected %d (%s)\n",          \
                    __FILE__, __LINE__, current_test, what, (int)g_, tether_strerror(g_),   \
                    (int)w_, tether_strerror(w_));                                          \
            test_failed();                                                                  \
        }                                                                                   \
    } while (0)

static int all_bytes(const void *p, size_t n, uint8_t value) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != value) {
            return 0;
        }
    }
    return 1;
}

/* Whether a handle's storage still holds the bytes of an earlier snapshot (memcpy of it), i.e.
 * a refused call changed nothing. Handles hold padding bytes that were never initialized;
 * under valgrind only the bytes that are defined in both are compared (and definedness must
 * match), so that comparing does not itself branch on undefined bytes. */
static int same_storage(const void *snapshot, const void *storage, size_t n) {
    const uint8_t *a = snapshot, *b = storage;
#ifdef HAVE_MEMCHECK
    if (RUNNING_ON_VALGRIND) {
        static uint8_t va[TETHER_SESSION_SIZE + 64], vb[TETHER_SESSION_SIZE + 64];
        if (n > sizeof va || VALGRIND_GET_VBITS(a, va, n) != 1 ||
            VALGRIND_GET_VBITS(b, vb, n) != 1) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (va[i] != vb[i] || (va[i] == 0 && a[i] != b[i])) {
                return 0;
            }
        }
        return 1;
    }
#endif
    return memcmp(a, b, n) == 0;
}

#define U8(s) ((const uint8_t *)(s))
#define SENT_SIZE ((size_t)0x5EB7)     /* a size_t nobody writes */
#define SENT_ACTION ((tether_action)77) /* an action nobody writes */
#define SENT_EVENT ((tether_event)88)   /* an event nobody writes */

/* ------------------------------------------------------------------------------------------ */
/* Keys, identities                                                                            */

static const uint8_t DEVICE_SECRET[32] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
static const uint8_t CLOUD_SECRET[32] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
static const uint8_t PHONE_SECRET[32] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};
static const uint8_t STRANGER_SECRET[32] = {
    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
};

#define SUITE_CHACHA 1
#define PATTERN_IK 1
#define PATTERN_XX 2
#define PATTERN_PAIRING 3
#define PATTERN_KK 4
#define CHANNEL_DEVICE_PHONE 2
#define FRAMING_STREAM 1
#define FRAMING_DATAGRAM 2

/* ------------------------------------------------------------------------------------------ */
/* The platform: deterministic entropy and clocks behind `user`, plus hooks that let a test    */
/* call back into tether from inside a callback.                                               */

typedef struct env env_t;
typedef void (*hook_fn)(env_t *e);

struct env {
    uint64_t rng; /* splitmix64 state */
    int fail_random;
    unsigned random_calls;
    uint64_t now_ms; /* fake monotonic clock */
    unsigned clock_calls;
    uint64_t unix_s;
    unsigned check_calls;
    const uint8_t *accept_only; /* check_peer: accept only this static key (NULL: anyone) */
    tether_peer seen_peer;
    /* Re-entry hooks, run once per arming (in_hook guards against recursion). */
    hook_fn on_random, on_clock, on_check;
    int in_hook;
    void *ctx; /* what the hook works on */
};

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void run_hook(env_t *e, hook_fn *slot) {
    hook_fn h = *slot;
    if (h != NULL && !e->in_hook) {
        *slot = NULL; /* once */
        e->in_hook = 1;
        h(e);
        e->in_hook = 0;
    }
}

static int32_t det_random(void *user, uint8_t *buf, size_t len) {
    env_t *e = user;
    e->random_calls++;
    run_hook(e, &e->on_random);
    if (e->fail_random) {
        return -1;
    }
    uint64_t word = 0;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            word = splitmix64(&e->rng);
        }
        buf[i] = (uint8_t)(word >> (8 * (i % 8)));
    }
    return 0;
}

static uint64_t fake_monotonic_ms(void *user) {
    env_t *e = user;
    e->clock_calls++;
    run_hook(e, &e->on_clock);
    return e->now_ms;
}

static uint64_t fake_unix_time(void *user) {
    env_t *e = user;
    return e->unix_s;
}

static int32_t check_peer(void *user, const tether_peer_info *info) {
    env_t *e = user;
    e->check_calls++;
    e->seen_peer = *info->peer;
    run_hook(e, &e->on_check);
    if (e->accept_only != NULL && memcmp(info->peer->static_key, e->accept_only, 32) != 0) {
        return TETHER_ERR_UNKNOWN_PEER;
    }
    return TETHER_OK;
}

static void platform_init(tether_platform *p, env_t *e, uint64_t seed) {
    memset(e, 0, sizeof *e);
    e->rng = seed;
    e->now_ms = 1000;
    e->unix_s = UINT64_C(1800000000);
    p->user = e;
    p->fill_random = det_random;
    p->monotonic_ms = fake_monotonic_ms;
    p->unix_time = fake_unix_time;
    p->check_peer = check_peer;
}

/* ------------------------------------------------------------------------------------------ */
/* One side: platform and configuration. Handles live wherever each test puts them.           */

typedef struct {
    env_t env;
    tether_platform plat;
    tether_config cfg;
    uint8_t pub[32];
    uint8_t code[TETHER_PAIRING_CODE_LEN];
} side_t;

static void side_setup(side_t *sd, uint64_t seed, const uint8_t secret[32], const char *id,
                       uint8_t framing) {
    memset(sd, 0, sizeof *sd);
    platform_init(&sd->plat, &sd->env, seed);
    CHECK_OK(tether_config_init(&sd->cfg));
    sd->cfg.static_secret = secret;
    sd->cfg.identity.id = U8(id);
    sd->cfg.identity.id_len = strlen(id);
    sd->cfg.identity.model = U8("model");
    sd->cfg.identity.model_len = 5;
    sd->cfg.identity.version = U8("1.0");
    sd->cfg.identity.version_len = 3;
    sd->cfg.framing = framing;
    CHECK_OK(tether_public_key(secret, sd->pub));
}

/* Configures an initiator and a responder for `pattern`: for Pairing a phone pairs with a device
 * (the code made for the device's key, both sides), otherwise a device talks to the cloud. Both
 * trust callbacks accept only the expected peer's static key. */
static void configure(side_t *ini, side_t *resp, uint8_t pattern, uint8_t framing, uint64_t seed) {
    if (pattern == PATTERN_PAIRING) {
        size_t n = 0;
        side_setup(ini, seed, PHONE_SECRET, "phone", framing);
        side_setup(resp, seed + 1, DEVICE_SECRET, "device", framing);
        CHECK_OK(tether_pairing_code_generate(&resp->plat, resp->pub, resp->code,
                                              sizeof resp->code, &n));
        CHECK(n == TETHER_PAIRING_CODE_LEN);
        memcpy(ini->code, resp->code, n);
        ini->cfg.pairing_code = ini->code;
        resp->cfg.pairing_code = resp->code;
        ini->cfg.pairing_code_len = resp->cfg.pairing_code_len = n;
        ini->cfg.channel = resp->cfg.channel = CHANNEL_DEVICE_PHONE;
    } else {
        side_setup(ini, seed, DEVICE_SECRET, "device", framing);
        side_setup(resp, seed + 1, CLOUD_SECRET, "cloud", framing);
        if (pattern == PATTERN_IK || pattern == PATTERN_KK) {
            ini->cfg.peer_static_key = resp->pub;
        }
        if (pattern == PATTERN_KK) {
            resp->cfg.peer_static_key = ini->pub;
        }
    }
    ini->cfg.pattern = resp->cfg.pattern = pattern;
    ini->env.accept_only = resp->pub;
    resp->env.accept_only = ini->pub;
}

static tether_action next_action(tether_handshake *hs) {
    tether_action a = SENT_ACTION;
    CHECK_OK(tether_handshake_next(hs, &a));
    CHECK(a >= TETHER_ACTION_WRITE && a <= TETHER_ACTION_FAILED);
    return a;
}

/* Writes hs's next message into g_hs_msg (TETHER_HANDSHAKE_MAX_LEN bytes: must suffice). */
static size_t hs_write(tether_handshake *hs) {
    size_t n = SENT_SIZE;
    CHECK(next_action(hs) == TETHER_ACTION_WRITE);
    CHECK_OK(tether_handshake_write(hs, g_hs_msg, sizeof g_hs_msg, &n));
    CHECK(n > 0 && n <= TETHER_HANDSHAKE_MAX_LEN);
    return n;
}

/* Writes hs's next message into msg (a copy the test keeps). */
static size_t hs_write_to(tether_handshake *hs, uint8_t msg[TETHER_HANDSHAKE_MAX_LEN]) {
    size_t n = hs_write(hs);
    memcpy(msg, g_hs_msg, n);
    return n;
}

/* Runs a handshake until both sides reach FINISH. */
static void run_handshake(tether_handshake *ini, tether_handshake *resp) {
    for (int steps = 0;; steps++) {
        CHECK(steps < 10);
        tether_action ai = next_action(ini), ar = next_action(resp);
        if (ai == TETHER_ACTION_FINISH && ar == TETHER_ACTION_FINISH) {
            return;
        }
        CHECK(ai != TETHER_ACTION_FAILED && ar != TETHER_ACTION_FAILED);
        if (ai == TETHER_ACTION_WRITE) {
            size_t n = hs_write(ini);
            CHECK_OK(tether_handshake_read(resp, g_hs_msg, n));
        } else {
            CHECK(ar == TETHER_ACTION_WRITE);
            size_t n = hs_write(resp);
            CHECK_OK(tether_handshake_read(ini, g_hs_msg, n));
        }
    }
}

/* Handshake between ini and resp in the given storage, finished into the given sessions. */
static void establish_in(side_t *ini, side_t *resp, tether_handshake *hi, tether_handshake *hr,
                         tether_session *si, tether_session *sr) {
    CHECK_OK(tether_handshake_init_initiator(hi, &ini->cfg, &ini->plat));
    CHECK_OK(tether_handshake_init_responder(hr, &resp->cfg, &resp->plat));
    run_handshake(hi, hr);
    CHECK_OK(tether_handshake_finish(hi, si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(hr, sr, NULL, NULL));
    CHECK(all_bytes(hi, sizeof *hi, 0) || (void *)hi == (void *)si);
    CHECK(all_bytes(hr, sizeof *hr, 0) || (void *)hr == (void *)sr);
}

/* A pair of sessions with their own handshake storage (wiped by finish). */
typedef struct {
    side_t a, b; /* a initiated */
    tether_handshake ha, hb;
    tether_session sa, sb;
    uint8_t framing;
} pair_t;

static void pair_up(pair_t *p, uint8_t pattern, uint8_t framing, uint64_t seed) {
    memset(p, 0, sizeof *p); /* nothing live in it yet */
    p->framing = framing;
    configure(&p->a, &p->b, pattern, framing, seed);
    establish_in(&p->a, &p->b, &p->ha, &p->hb, &p->sa, &p->sb);
}

static void pair_wipe(pair_t *p) {
    tether_session_wipe(&p->sa);
    tether_session_wipe(&p->sb);
    tether_handshake_wipe(&p->ha);
    tether_handshake_wipe(&p->hb);
    CHECK(all_bytes(&p->sa, sizeof p->sa, 0) && all_bytes(&p->sb, sizeof p->sb, 0));
}

/* Seals text on s into out (cap bytes); returns the total written, the key-update part in *ku. */
static size_t seal_text(tether_session *s, const char *text, uint8_t *out, size_t cap, size_t *ku) {
    size_t n = SENT_SIZE, k = SENT_SIZE;
    size_t len = strlen(text);
    CHECK_OK(tether_session_seal(s, U8(text), len, out, cap, &n, &k));
    CHECK(k < n && n <= cap && n - k > len);
    *ku = k;
    return n;
}

/* Opens one unit on s and checks it carried `text`. */
static void open_expect(tether_session *s, const uint8_t *unit, size_t len, const char *text) {
    uint8_t data[256];
    tether_event ev = SENT_EVENT;
    size_t n = SENT_SIZE;
    CHECK_OK(tether_session_open(s, unit, len, data, sizeof data, &ev, &n));
    CHECK(ev == TETHER_EVENT_DATA);
    CHECK(n == strlen(text) && memcmp(data, text, n) == 0);
}

static void open_expect_event(tether_session *s, const uint8_t *unit, size_t len,
                              tether_event want) {
    uint8_t data[64];
    tether_event ev = SENT_EVENT;
    size_t n = SENT_SIZE;
    CHECK_OK(tether_session_open(s, unit, len, data, sizeof data, &ev, &n));
    CHECK(ev == want);
    CHECK(n == 0);
}

/* `from` seals text, `to` opens it (a key-update record first, if one was due). */
static void send_recv(tether_session *from, tether_session *to, const char *text) {
    static uint8_t out[TETHER_SEAL_CAPACITY(256)];
    size_t ku = 0;
    size_t n = seal_text(from, text, out, sizeof out, &ku);
    if (ku > 0) {
        open_expect_event(to, out, ku, TETHER_EVENT_KEY_UPDATE);
    }
    open_expect(to, out + ku, n - ku, text);
}

/* Both directions still work. */
static void both_ways(tether_session *a, tether_session *b) {
    send_recv(a, b, "ping from a");
    send_recv(b, a, "pong from b");
}

/* Runs a handshake in the given storage up to the initiator's first READ: message 0 written and
 * read by the responder, message 1 written and kept in msg1 (length returned). */
static size_t start_exchange(side_t *ini, side_t *resp, tether_handshake *hi, tether_handshake *hr,
                             uint8_t msg1[TETHER_HANDSHAKE_MAX_LEN]) {
    CHECK_OK(tether_handshake_init_initiator(hi, &ini->cfg, &ini->plat));
    CHECK_OK(tether_handshake_init_responder(hr, &resp->cfg, &resp->plat));
    size_t n = hs_write(hi);
    CHECK_OK(tether_handshake_read(hr, g_hs_msg, n));
    return hs_write_to(hr, msg1);
}

/* ------------------------------------------------------------------------------------------ */
/* 1. Handles of the wrong kind                                                                */

/* Misuse: a live session passed to the handshake and decoder functions (a C cast, or the wrong
 * member of a union), init of a handshake or a decoder over it, and the other kinds' wipes. */
static void test_session_as_handshake_and_decoder(void) {
    static pair_t p;
    static uint8_t snap[sizeof(tether_session)];
    static tether_session other;
    uint8_t out[512], hash[32];
    tether_peer peer;
    tether_action a = SENT_ACTION;
    size_t n = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    pair_up(&p, PATTERN_IK, FRAMING_DATAGRAM, 0x100);
    both_ways(&p.sa, &p.sb);
    memcpy(snap, &p.sa, sizeof snap);
    /* The session's storage is 4096 bytes: large enough for a handshake (2048) or a decoder. */
    tether_handshake *as_hs = (tether_handshake *)(void *)&p.sa;
    tether_decoder *as_dec = (tether_decoder *)(void *)&p.sa;

    CHECK_ST(tether_handshake_next(as_hs, &a), TETHER_ERR_BAD_STATE);
    CHECK(a == SENT_ACTION);
    memset(out, 0xA5, sizeof out);
    CHECK_ST(tether_handshake_write(as_hs, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK_ST(tether_handshake_write(as_hs, NULL, 0, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE);
    CHECK_ST(tether_handshake_read(as_hs, out, 100), TETHER_ERR_BAD_STATE);
    memset(&peer, 0xA5, sizeof peer);
    memset(hash, 0xA5, sizeof hash);
    CHECK_ST(tether_handshake_finish(as_hs, &other, &peer, hash), TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(&other, sizeof other, 0));
    CHECK(all_bytes(&peer, sizeof peer, 0xA5) && all_bytes(hash, sizeof hash, 0xA5));
    /* "the same storage as hs (a union)": here that storage holds a session, not a handshake. */
    CHECK_ST(tether_handshake_finish(as_hs, &p.sa, NULL, NULL), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_initiator(as_hs, &p.a.cfg, &p.a.plat), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_responder(as_hs, &p.a.cfg, &p.a.plat), TETHER_ERR_BAD_STATE);

    CHECK_ST(tether_decoder_next(as_dec, out, 10, &used, &unit, &ulen), TETHER_ERR_BAD_STATE);
    /* BAD_STATE is one of the misuse statuses: the three outputs stay as they were. */
    CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
    CHECK_ST(tether_decoder_init(as_dec, 1000), TETHER_ERR_BAD_STATE);

    /* The wrong wipes leave the session alone. */
    tether_handshake_wipe(as_hs);
    tether_decoder_wipe(as_dec);
    CHECK(same_storage(snap, &p.sa, sizeof snap));
    both_ways(&p.sa, &p.sb);

    pair_wipe(&p);
}

/* Misuse: a live decoder passed to the session and handshake functions (all three share one
 * union in the caller's struct), init of a handshake over it, a finished handshake finished
 * into it, and the other kinds' wipes. The decoder keeps its partial unit. */
static void test_decoder_as_session_and_handshake(void) {
    static union {
        tether_session s;
        tether_handshake h;
        tether_decoder d;
    } u;
    static uint8_t snap[sizeof u];
    static pair_t q;
    static const uint8_t stream_unit[] = {0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
    uint8_t out[256], hash[32];
    tether_peer peer;
    tether_action a = SENT_ACTION;
    tether_event ev = SENT_EVENT;
    bool erased = true;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    CHECK_OK(tether_decoder_init(&u.d, 100));
    /* The first 3 bytes of a 7-byte unit: the decoder holds them. */
    CHECK_OK(tether_decoder_next(&u.d, stream_unit, 3, &used, &unit, &ulen));
    CHECK(used == 3 && unit == NULL && ulen == 0);
    memcpy(snap, &u, sizeof snap);

    memset(out, 0xA5, sizeof out);
    n = ku = SENT_SIZE;
    CHECK_ST(tether_session_seal(&u.s, U8("x"), 1, out, sizeof out, &n, &ku),
             TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && ku == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK(tether_session_seal_capacity(&u.s, 10) == 0);
    CHECK_ST(tether_session_open(&u.s, stream_unit, sizeof stream_unit, out, sizeof out, &ev, &n),
             TETHER_ERR_BAD_STATE);
    CHECK(ev == SENT_EVENT && n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK_ST(tether_session_poll(&u.s, &erased), TETHER_ERR_BAD_STATE);
    CHECK(erased == true);
    CHECK_ST(tether_session_update_key(&u.s, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_session_close(&u.s, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));

    CHECK_ST(tether_handshake_next(&u.h, &a), TETHER_ERR_BAD_STATE);
    CHECK(a == SENT_ACTION);
    CHECK_ST(tether_handshake_write(&u.h, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_read(&u.h, out, 40), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_finish(&u.h, &q.sa, NULL, NULL), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));

    memset(&q, 0, sizeof q);
    configure(&q.a, &q.b, PATTERN_XX, FRAMING_STREAM, 0x120);
    CHECK_ST(tether_handshake_init_initiator(&u.h, &q.a.cfg, &q.a.plat), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_responder(&u.h, &q.b.cfg, &q.b.plat), TETHER_ERR_BAD_STATE);

    /* A finished handshake finished into the decoder's storage: "Storage that holds a live
     * decoder is refused"; the handshake stays finished and finishes into proper storage. */
    CHECK_OK(tether_handshake_init_initiator(&q.ha, &q.a.cfg, &q.a.plat));
    CHECK_OK(tether_handshake_init_responder(&q.hb, &q.b.cfg, &q.b.plat));
    run_handshake(&q.ha, &q.hb);
    memset(&peer, 0xA5, sizeof peer);
    memset(hash, 0xA5, sizeof hash);
    CHECK_ST(tether_handshake_finish(&q.ha, &u.s, &peer, hash), TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(&peer, sizeof peer, 0xA5) && all_bytes(hash, sizeof hash, 0xA5));
    CHECK(next_action(&q.ha) == TETHER_ACTION_FINISH);

    /* The wrong wipes leave the decoder alone. */
    tether_session_wipe(&u.s);
    tether_handshake_wipe(&u.h);
    CHECK(same_storage(snap, &u, sizeof snap));

    CHECK_OK(tether_handshake_finish(&q.ha, &q.sa, &peer, hash));
    CHECK_OK(tether_handshake_finish(&q.hb, &q.sb, NULL, NULL));
    CHECK(memcmp(peer.static_key, q.b.pub, 32) == 0);
    both_ways(&q.sa, &q.sb);
    pair_wipe(&q);

    /* The decoder still completes its unit from the remaining 4 bytes. */
    CHECK_OK(tether_decoder_next(&u.d, stream_unit + 3, 4, &used, &unit, &ulen));
    CHECK(used == 4 && unit != NULL && ulen == sizeof stream_unit);
    CHECK(memcmp(unit, stream_unit, ulen) == 0);
    tether_decoder_wipe(&u.d);
    CHECK(all_bytes(&u, sizeof u, 0));
}

/* Misuse: a live handshake (initiator waiting for message 1) passed to the session and decoder
 * functions, decoder init over it, a finished handshake finished into it, and the other kinds'
 * wipes. The handshake then completes. */
static void test_handshake_as_session_and_decoder(void) {
    static union {
        tether_session s;
        tether_handshake h;
        tether_decoder d;
    } u;
    static uint8_t snap[sizeof u];
    static side_t ini, resp;
    static tether_handshake hr;
    static tether_session si, sr;
    static pair_t q;
    uint8_t msg1[TETHER_HANDSHAKE_MAX_LEN], out[256], hash[32];
    tether_event ev = SENT_EVENT;
    bool erased = true;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    configure(&ini, &resp, PATTERN_IK, FRAMING_STREAM, 0x130);
    size_t l1 = start_exchange(&ini, &resp, &u.h, &hr, msg1);
    CHECK(next_action(&u.h) == TETHER_ACTION_READ);
    memcpy(snap, &u, sizeof snap);

    memset(out, 0xA5, sizeof out);
    CHECK_ST(tether_session_seal(&u.s, U8("x"), 1, out, sizeof out, &n, &ku),
             TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && ku == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK(tether_session_seal_capacity(&u.s, 10) == 0);
    CHECK_ST(tether_session_open(&u.s, msg1, l1, out, sizeof out, &ev, &n), TETHER_ERR_BAD_STATE);
    CHECK(ev == SENT_EVENT && n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK_ST(tether_session_poll(&u.s, &erased), TETHER_ERR_BAD_STATE);
    CHECK(erased == true);
    CHECK_ST(tether_session_update_key(&u.s, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_session_close(&u.s, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));

    CHECK_ST(tether_decoder_next(&u.d, msg1, l1, &used, &unit, &ulen), TETHER_ERR_BAD_STATE);
    CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
    CHECK_ST(tether_decoder_init(&u.d, 1000), TETHER_ERR_BAD_STATE);

    /* Another pair's finished handshake, finished into this live handshake's storage. */
    memset(&q, 0, sizeof q);
    configure(&q.a, &q.b, PATTERN_IK, FRAMING_STREAM, 0x140);
    CHECK_OK(tether_handshake_init_initiator(&q.ha, &q.a.cfg, &q.a.plat));
    CHECK_OK(tether_handshake_init_responder(&q.hb, &q.b.cfg, &q.b.plat));
    run_handshake(&q.ha, &q.hb);
    memset(hash, 0xA5, sizeof hash);
    CHECK_ST(tether_handshake_finish(&q.ha, &u.s, NULL, hash), TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(hash, sizeof hash, 0xA5));
    CHECK(next_action(&q.ha) == TETHER_ACTION_FINISH);

    tether_session_wipe(&u.s);
    tether_decoder_wipe(&u.d);
    CHECK(same_storage(snap, &u, sizeof snap));

    /* Both handshakes still complete. */
    CHECK_OK(tether_handshake_finish(&q.ha, &q.sa, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&q.hb, &q.sb, NULL, NULL));
    both_ways(&q.sa, &q.sb);
    pair_wipe(&q);
    CHECK_OK(tether_handshake_read(&u.h, msg1, l1));
    CHECK(next_action(&u.h) == TETHER_ACTION_FINISH);
    CHECK_OK(tether_handshake_finish(&u.h, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
    CHECK(all_bytes(&u, sizeof u, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* 2. The firmware union                                                                       */

/* Firmware short of RAM keeps the handshake and the session in one union: finish into the same
 * storage (allowed), use the session, then forget to wipe it before the next handshake (init is
 * refused and the session keeps working), then wipe and start again. */
static void test_firmware_union(void) {
    static side_t dev, cloud;
    static tether_handshake hc;
    static tether_session sc;
    union {
        tether_handshake hs;
        tether_session s;
    } u = {0};
    /* (C only promises to zero the first member, hs, and GCC 15 does just that on the stack: the
     * session's bytes past 2048 may be garbage. tether reads only the 24-byte header, in hs.) */
    tether_peer peer;
    uint8_t hash[32];
    tether_action a = SENT_ACTION;

    configure(&dev, &cloud, PATTERN_IK, FRAMING_DATAGRAM, 0x200);
    CHECK_OK(tether_handshake_init_initiator(&u.hs, &dev.cfg, &dev.plat));
    CHECK_OK(tether_handshake_init_responder(&hc, &cloud.cfg, &cloud.plat));
    run_handshake(&u.hs, &hc);
    memset(&peer, 0, sizeof peer);
    CHECK_OK(tether_handshake_finish(&u.hs, &u.s, &peer, hash));
    CHECK_OK(tether_handshake_finish(&hc, &sc, NULL, NULL));
    CHECK(memcmp(peer.static_key, cloud.pub, 32) == 0);
    CHECK(!all_bytes(&u, 24, 0)); /* the 24-byte header */
    /* The storage now holds a session, not a handshake. */
    CHECK_ST(tether_handshake_next(&u.hs, &a), TETHER_ERR_BAD_STATE);
    CHECK(a == SENT_ACTION);
    both_ways(&u.s, &sc);

    /* The next connection attempt, forgetting the session in the union. */
    CHECK_ST(tether_handshake_init_initiator(&u.hs, &dev.cfg, &dev.plat), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_responder(&u.hs, &cloud.cfg, &cloud.plat),
             TETHER_ERR_BAD_STATE);
    /* A handshake wipe of the union leaves the session alone, too. */
    tether_handshake_wipe(&u.hs);
    both_ways(&u.s, &sc);

    /* Properly: wipe the session, then a new handshake in the same storage. */
    tether_session_wipe(&u.s);
    CHECK(all_bytes(&u, sizeof u, 0));
    tether_session_wipe(&sc);
    CHECK_OK(tether_handshake_init_initiator(&u.hs, &dev.cfg, &dev.plat));
    CHECK_OK(tether_handshake_init_responder(&hc, &cloud.cfg, &cloud.plat));
    run_handshake(&u.hs, &hc);
    CHECK_OK(tether_handshake_finish(&u.hs, &u.s, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hc, &sc, NULL, NULL));
    both_ways(&u.s, &sc);
    tether_session_wipe(&u.s);
    tether_session_wipe(&sc);
    CHECK(all_bytes(&u, sizeof u, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* 3. Copied handles                                                                           */

/* Misuse: a live session copied with memcpy and by struct assignment (a "save the connection"
 * struct copy). Every call on a copy is TETHER_ERR_COPIED and writes nothing; wiping a copy
 * zeroes it and leaves the original working; wiping copies after the original never frees
 * twice. */
static void test_copied_session(void) {
    static pair_t p;
    static tether_session copy1, copy2;
    static uint8_t snap[sizeof(tether_session)];
    uint8_t out[256];
    static uint8_t rec[TETHER_SEAL_CAPACITY(64)];
    tether_event ev = SENT_EVENT;
    bool erased = true;
    size_t n = SENT_SIZE, ku = SENT_SIZE;

    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0x300);
    both_ways(&p.sa, &p.sb);
    memcpy(&copy1, &p.sa, sizeof copy1);
    copy2 = p.sa;
    memcpy(snap, &p.sa, sizeof snap);

    /* A record for the original's peer, to be opened (or not) by the copies. */
    size_t rl = seal_text(&p.sb, "for a", rec, sizeof rec, &ku);
    CHECK(ku == 0);

    tether_session *copies[2] = {&copy1, &copy2};
    for (int i = 0; i < 2; i++) {
        tether_session *c = copies[i];
        memset(out, 0xA5, sizeof out);
        n = ku = SENT_SIZE;
        CHECK_ST(tether_session_seal(c, U8("hi"), 2, out, sizeof out, &n, &ku), TETHER_ERR_COPIED);
        CHECK(n == SENT_SIZE && ku == SENT_SIZE);
        CHECK_ST(tether_session_seal(c, U8("hi"), 2, NULL, 0, &n, &ku), TETHER_ERR_COPIED);
        CHECK(n == SENT_SIZE && ku == SENT_SIZE);
        CHECK(tether_session_seal_capacity(c, 2) == 0);
        CHECK_ST(tether_session_open(c, rec, rl, out, sizeof out, &ev, &n), TETHER_ERR_COPIED);
        CHECK(ev == SENT_EVENT && n == SENT_SIZE);
        CHECK_ST(tether_session_poll(c, &erased), TETHER_ERR_COPIED);
        CHECK(erased == true);
        CHECK_ST(tether_session_update_key(c, out, sizeof out, &n), TETHER_ERR_COPIED);
        CHECK_ST(tether_session_close(c, out, sizeof out, &n), TETHER_ERR_COPIED);
        CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    }
    /* Nothing reached the original. */
    CHECK(same_storage(snap, &p.sa, sizeof snap));
    open_expect(&p.sa, rec, rl, "for a");

    /* Wipe copy1 while the original lives: zeroed, original untouched. */
    tether_session_wipe(&copy1);
    CHECK(all_bytes(&copy1, sizeof copy1, 0));
    both_ways(&p.sa, &p.sb);
    /* A new handshake finished into a copy: not "a session set up at that address" (replacing
     * it would free the original's state), so taken as fresh storage; the original works. */
    static tether_handshake h1, h2;
    static tether_session s2;
    memcpy(&copy1, &p.sa, sizeof copy1);
    establish_in(&p.a, &p.b, &h1, &h2, &copy1, &s2);
    both_ways(&copy1, &s2);
    both_ways(&p.sa, &p.sb);
    tether_session_wipe(&copy1);
    tether_session_wipe(&s2);
    both_ways(&p.sa, &p.sb);
    /* Wipe the original, then copy2 (its pointers now dangle: it must not free them). */
    tether_session_wipe(&p.sa);
    CHECK(all_bytes(&p.sa, sizeof p.sa, 0));
    tether_session_wipe(&copy2);
    CHECK(all_bytes(&copy2, sizeof copy2, 0));
    tether_session_wipe(&copy1);
    tether_session_wipe(&p.sa);
    pair_wipe(&p);
}

/* Misuse: a live handshake (initiator waiting for message 1) copied; every call on the copy is
 * TETHER_ERR_COPIED; wiping the copy leaves the original, which completes. */
static void test_copied_handshake(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr, copy1, copy2;
    static tether_session si, sr, s_copy;
    static uint8_t snap[sizeof(tether_handshake)];
    uint8_t msg1[TETHER_HANDSHAKE_MAX_LEN], out[TETHER_HANDSHAKE_MAX_LEN], hash[32];
    tether_peer peer;
    tether_action a = SENT_ACTION;
    size_t n = SENT_SIZE;

    configure(&ini, &resp, PATTERN_IK, FRAMING_DATAGRAM, 0x310);
    size_t l1 = start_exchange(&ini, &resp, &hi, &hr, msg1);
    memcpy(&copy1, &hi, sizeof copy1);
    copy2 = hi;
    memcpy(snap, &hi, sizeof snap);

    tether_handshake *copies[2] = {&copy1, &copy2};
    for (int i = 0; i < 2; i++) {
        tether_handshake *c = copies[i];
        a = SENT_ACTION;
        CHECK_ST(tether_handshake_next(c, &a), TETHER_ERR_COPIED);
        CHECK(a == SENT_ACTION);
        memset(out, 0xA5, sizeof out);
        CHECK_ST(tether_handshake_write(c, out, sizeof out, &n), TETHER_ERR_COPIED);
        CHECK_ST(tether_handshake_write(c, NULL, 0, &n), TETHER_ERR_COPIED);
        CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
        CHECK_ST(tether_handshake_read(c, msg1, l1), TETHER_ERR_COPIED);
        memset(&peer, 0xA5, sizeof peer);
        memset(hash, 0xA5, sizeof hash);
        CHECK_ST(tether_handshake_finish(c, &s_copy, &peer, hash), TETHER_ERR_COPIED);
        CHECK(all_bytes(&s_copy, sizeof s_copy, 0));
        CHECK(all_bytes(&peer, sizeof peer, 0xA5) && all_bytes(hash, sizeof hash, 0xA5));
    }
    CHECK(same_storage(snap, &hi, sizeof snap));

    /* The copy is wiped (zeroed) without touching the original. */
    tether_handshake_wipe(&copy1);
    CHECK(all_bytes(&copy1, sizeof copy1, 0));
    CHECK(same_storage(snap, &hi, sizeof snap));
    /* The header: init takes "fresh (any bytes: never used, zeroed, or wiped)" storage or "a
     * handshake set up at this address". A copy is a handshake set up at another address: it
     * must not be "wiped and replaced" (that would free the original's state). Expect init to
     * succeed on it as on fresh storage, leaving the original alone. */
    CHECK_OK(tether_handshake_init_initiator(&copy2, &ini.cfg, &ini.plat));
    CHECK(next_action(&copy2) == TETHER_ACTION_WRITE);
    tether_handshake_wipe(&copy2);
    CHECK(all_bytes(&copy2, sizeof copy2, 0));

    /* The original completes. */
    CHECK_OK(tether_handshake_read(&hi, msg1, l1));
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);

    /* A copy of a handshake, wiped after the original (dangling state: no double free). */
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    memcpy(&copy1, &hi, sizeof copy1);
    tether_handshake_wipe(&hi);
    tether_handshake_wipe(&copy1);
    CHECK(all_bytes(&copy1, sizeof copy1, 0) && all_bytes(&hi, sizeof hi, 0));
}

/* Misuse: a live decoder (holding part of a unit) copied; next on the copy is COPIED and writes
 * no output; the copy wiped (before and after the original) frees nothing twice. */
static void test_copied_decoder(void) {
    static const uint8_t stream_unit[] = {0x00, 0x06, 'v', 'i', 't', 'a', 'l', 's'};
    tether_decoder dec = {0}, copy1, copy2;
    uint8_t snap[sizeof dec];
    size_t used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    CHECK_OK(tether_decoder_init(&dec, 64));
    CHECK_OK(tether_decoder_next(&dec, stream_unit, 4, &used, &unit, &ulen));
    CHECK(used == 4 && unit == NULL && ulen == 0);
    memcpy(&copy1, &dec, sizeof dec);
    copy2 = dec;
    memcpy(snap, &dec, sizeof snap);

    used = ulen = SENT_SIZE;
    unit = U8("sentinel");
    CHECK_ST(tether_decoder_next(&copy1, stream_unit + 4, 4, &used, &unit, &ulen),
             TETHER_ERR_COPIED);
    CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
    CHECK_ST(tether_decoder_next(&copy2, stream_unit + 4, 4, &used, &unit, &ulen),
             TETHER_ERR_COPIED);
    CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
    CHECK(same_storage(snap, &dec, sizeof snap));

    tether_decoder_wipe(&copy1);
    CHECK(all_bytes(&copy1, sizeof copy1, 0));
    /* Init over a copy: not "a decoder set up at this address" (replacing it would free the
     * original's buffer), so taken as fresh storage; the original is untouched. */
    memcpy(&copy1, &dec, sizeof dec);
    CHECK_OK(tether_decoder_init(&copy1, 64));
    CHECK_OK(tether_decoder_next(&copy1, U8("\x00\x01q"), 3, &used, &unit, &ulen));
    CHECK(used == 3 && ulen == 3 && unit[2] == 'q');
    CHECK(same_storage(snap, &dec, sizeof snap));
    /* The original still completes its unit. */
    CHECK_OK(tether_decoder_next(&dec, stream_unit + 4, 4, &used, &unit, &ulen));
    CHECK(used == 4 && ulen == sizeof stream_unit && memcmp(unit, stream_unit, ulen) == 0);
    tether_decoder_wipe(&copy1);
    tether_decoder_wipe(&dec);
    tether_decoder_wipe(&copy2); /* after the original: its buffer is gone */
    CHECK(all_bytes(&copy2, sizeof copy2, 0) && all_bytes(&dec, sizeof dec, 0));
    CHECK(all_bytes(&copy1, sizeof copy1, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* 4. Storage initialization                                                                   */

static tether_handshake zs_hs_static;
static tether_session zs_s_static;
static tether_decoder zs_dec_static;

/* Storage zeroed three ways (static, `= {0}`, calloc) works for every kind. */
static void test_zeroed_storage_kinds(void) {
    static side_t ini, resp;
    tether_handshake hr = {0};
    tether_session sr = {0};
    tether_decoder dec = {0};
    size_t used = 0, ulen = 0;
    const uint8_t *unit = NULL;

    configure(&ini, &resp, PATTERN_XX, FRAMING_STREAM, 0x400);
    /* static initiator storage, `= {0}` responder storage, static and calloc'd sessions. */
    tether_session *sc = calloc(1, sizeof *sc);
    tether_decoder *dc = calloc(1, sizeof *dc);
    CHECK(sc != NULL && dc != NULL);
    CHECK((uintptr_t)sc % TETHER_SESSION_ALIGN == 0);
    establish_in(&ini, &resp, &zs_hs_static, &hr, &zs_s_static, sc);
    both_ways(&zs_s_static, sc);
    tether_session_wipe(sc);
    tether_session_wipe(&zs_s_static);
    /* calloc'd handshakes, `= {0}` session. */
    tether_handshake *hc1 = calloc(1, sizeof *hc1), *hc2 = calloc(1, sizeof *hc2);
    CHECK(hc1 != NULL && hc2 != NULL);
    establish_in(&ini, &resp, hc1, hc2, &sr, &zs_s_static);
    both_ways(&sr, &zs_s_static);
    tether_session_wipe(&sr);
    tether_session_wipe(&zs_s_static);
    free(hc1);
    free(hc2);
    free(sc);
    /* Decoders: static, `= {0}`, calloc. */
    tether_decoder *decs[3] = {&zs_dec_static, &dec, dc};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tether_decoder_init(decs[i], 32));
        CHECK_OK(tether_decoder_next(decs[i], U8("\x00\x01Z"), 3, &used, &unit, &ulen));
        CHECK(used == 3 && ulen == 3 && unit != NULL && unit[2] == 'Z');
        tether_decoder_wipe(decs[i]);
        CHECK(all_bytes(decs[i], sizeof *decs[i], 0));
    }
    free(dc);
}

/* Misuse: init called again and again on the same live storage without a wipe in between (a
 * reconnect loop that forgets the wipe), for each kind, and wipe-then-init. Each init replaces
 * (and frees) what was there: the leak checkers would report anything left behind. */
static void test_reinit_without_wipe(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    tether_decoder dec = {0};
    size_t used = 0, ulen = 0;
    const uint8_t *unit = NULL;

    configure(&ini, &resp, PATTERN_IK, FRAMING_DATAGRAM, 0x410);
    for (int i = 0; i < 5; i++) {
        CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
        CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    }
    /* A handshake part-way through, re-initialized: it starts from the beginning. */
    size_t n = hs_write(&hi);
    CHECK_OK(tether_handshake_read(&hr, g_hs_msg, n));
    CHECK(next_action(&hr) == TETHER_ACTION_WRITE);
    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    CHECK(next_action(&hr) == TETHER_ACTION_READ);
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    CHECK(next_action(&hi) == TETHER_ACTION_WRITE);
    /* Finished three times into the same live sessions. */
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
            CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
        }
        run_handshake(&hi, &hr);
        CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
        CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
        both_ways(&si, &sr);
    }
    /* Wipe, then init again. */
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
    establish_in(&ini, &resp, &hi, &hr, &si, &sr);
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);

    for (uint32_t i = 1; i <= 5; i++) {
        CHECK_OK(tether_decoder_init(&dec, 100 * i));
        CHECK_OK(tether_decoder_next(&dec, U8("\x00\x09par"), 5, &used, &unit, &ulen));
        CHECK(unit == NULL); /* a partial unit, held (allocated buffer in use) */
    }
    /* The last init started afresh: a complete unit decodes from its first byte. */
    CHECK_OK(tether_decoder_init(&dec, 100));
    CHECK_OK(tether_decoder_next(&dec, U8("\x00\x02ok"), 4, &used, &unit, &ulen));
    CHECK(used == 4 && ulen == 4 && memcmp(unit, "\x00\x02ok", 4) == 0);
    tether_decoder_wipe(&dec);
    CHECK_OK(tether_decoder_init(&dec, 100));
    tether_decoder_wipe(&dec);
    CHECK(all_bytes(&dec, sizeof dec, 0));
}

/* Misuse: malloc'd storage full of garbage (0xA5, as a debug allocator leaves it) never zeroed.
 * The header: "Bytes that never held a tether object are taken as empty, so storage that was
 * never zeroed works": calls other than init see no object (BAD_STATE); init works; wipe is
 * "safe on ... fresh" storage and "zeroes the storage". */
static void test_garbage_storage(void) {
    static side_t ini, resp;
    tether_action a = SENT_ACTION;
    uint8_t out[128];
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    tether_handshake *hi = malloc(sizeof *hi), *hr = malloc(sizeof *hr);
    tether_session *si = malloc(sizeof *si), *sr = malloc(sizeof *sr);
    tether_decoder *dec = malloc(sizeof *dec);
    CHECK(hi && hr && si && sr && dec);
    memset(hi, 0xA5, sizeof *hi);
    memset(hr, 0xA5, sizeof *hr);
    memset(si, 0xA5, sizeof *si);
    memset(sr, 0xA5, sizeof *sr);
    memset(dec, 0xA5, sizeof *dec);

    /* No object in garbage. */
    CHECK_ST(tether_handshake_next(hi, &a), TETHER_ERR_BAD_STATE);
    CHECK(a == SENT_ACTION);
    CHECK_ST(tether_session_seal(si, U8("x"), 1, out, sizeof out, &n, &ku), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE);
    CHECK(tether_session_seal_capacity(si, 1) == 0);
    CHECK_ST(tether_decoder_next(dec, U8("\x00\x01x"), 3, &used, &unit, &ulen),
             TETHER_ERR_BAD_STATE);
    CHECK(used == SENT_SIZE && unit == U8("sentinel"));

    /* Everything initializes over garbage. */
    configure(&ini, &resp, PATTERN_XX, FRAMING_DATAGRAM, 0x420);
    establish_in(&ini, &resp, hi, hr, si, sr);
    both_ways(si, sr);
    CHECK_OK(tether_decoder_init(dec, 50));
    CHECK_OK(tether_decoder_next(dec, U8("\x00\x01x"), 3, &used, &unit, &ulen));
    CHECK(used == 3 && ulen == 3);
    tether_session_wipe(si);
    tether_session_wipe(sr);
    tether_decoder_wipe(dec);
    CHECK(all_bytes(si, sizeof *si, 0) && all_bytes(sr, sizeof *sr, 0));
    CHECK(all_bytes(dec, sizeof *dec, 0));

    /* Wipe on garbage that never held an object: safe, and the storage is zeroed. */
    memset(hi, 0xA5, sizeof *hi);
    memset(si, 0xA5, sizeof *si);
    memset(dec, 0xA5, sizeof *dec);
    tether_handshake_wipe(hi);
    tether_session_wipe(si);
    tether_decoder_wipe(dec);
    int hs_zeroed = all_bytes(hi, sizeof *hi, 0), s_zeroed = all_bytes(si, sizeof *si, 0),
        dec_zeroed = all_bytes(dec, sizeof *dec, 0);
    free(hi);
    free(hr);
    free(si);
    free(sr);
    free(dec);
    CHECK(hs_zeroed);
    CHECK(s_zeroed);
    CHECK(dec_zeroed);
}

/* ------------------------------------------------------------------------------------------ */
/* 5. Misaligned storage and unaligned out-pointers                                            */

/* An arena whose start is aligned to 64; handles are placed at offsets from it. */
#define ARENA_SIZE (TETHER_SESSION_SIZE + 128)
typedef struct {
    alignas(64) uint8_t b[ARENA_SIZE];
} arena_t;

/* Bytes outside [off, off + size) are still `fill`; inside, unchanged or zeroed. */
static int arena_intact(const arena_t *ar, size_t off, size_t size, uint8_t fill) {
    for (size_t i = 0; i < ARENA_SIZE; i++) {
        uint8_t v = ar->b[i];
        if (i >= off && i < off + size ? (v != fill && v != 0) : v != fill) {
            return 0;
        }
    }
    return 1;
}

/* Misuse: handles placed at offsets 1, 4 and 8 of an aligned buffer (a packed struct, a byte
 * pool). Storage not aligned to its TETHER_*_ALIGN is TETHER_ERR_MISALIGNED from init and from
 * every other call, nothing is written, and wipe is harmless. Offset 8 is aligned enough for a
 * handshake and a decoder (8) but not for a session (16): those work. */
static void test_misaligned_storage(void) {
    static side_t ini, resp;
    static arena_t ar_h, ar_s, ar_d;
    static tether_handshake hr, hfin_i, hfin_r;
    static tether_session sfin_i, sfin_r;
    static const size_t offsets[] = {1, 4, 8};
    uint8_t out[256], hash[32];
    tether_peer peer;
    tether_action a = SENT_ACTION;
    tether_event ev = SENT_EVENT;
    bool erased = true;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    configure(&ini, &resp, PATTERN_IK, FRAMING_STREAM, 0x500);
    /* A finished handshake pair, to finish into misaligned sessions. */
    CHECK_OK(tether_handshake_init_initiator(&hfin_i, &ini.cfg, &ini.plat));
    CHECK_OK(tether_handshake_init_responder(&hfin_r, &resp.cfg, &resp.plat));
    run_handshake(&hfin_i, &hfin_r);

    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        const size_t off = offsets[k];
        memset(&ar_h, 0, sizeof ar_h);
        memset(&ar_s, 0, sizeof ar_s);
        memset(&ar_d, 0, sizeof ar_d);
        tether_handshake *h = (tether_handshake *)(void *)(ar_h.b + off);
        tether_session *s = (tether_session *)(void *)(ar_s.b + off);
        tether_decoder *d = (tether_decoder *)(void *)(ar_d.b + off);

        /* Handshake. */
        if (off % TETHER_HANDSHAKE_ALIGN != 0) {
            CHECK_ST(tether_handshake_init_initiator(h, &ini.cfg, &ini.plat),
                     TETHER_ERR_MISALIGNED);
            CHECK_ST(tether_handshake_init_responder(h, &resp.cfg, &resp.plat),
                     TETHER_ERR_MISALIGNED);
            CHECK(all_bytes(&ar_h, sizeof ar_h, 0));
            CHECK_ST(tether_handshake_next(h, &a), TETHER_ERR_MISALIGNED);
            CHECK(a == SENT_ACTION);
            memset(out, 0xA5, sizeof out);
            CHECK_ST(tether_handshake_write(h, out, sizeof out, &n), TETHER_ERR_MISALIGNED);
            CHECK_ST(tether_handshake_write(h, NULL, 0, &n), TETHER_ERR_MISALIGNED);
            CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
            CHECK_ST(tether_handshake_read(h, out, 50), TETHER_ERR_MISALIGNED);
            memset(&peer, 0xA5, sizeof peer);
            CHECK_ST(tether_handshake_finish(h, &sfin_i, &peer, hash), TETHER_ERR_MISALIGNED);
            CHECK(all_bytes(&peer, sizeof peer, 0xA5) && all_bytes(&sfin_i, sizeof sfin_i, 0));
            CHECK(all_bytes(&ar_h, sizeof ar_h, 0));
            memset(&ar_h, 0x5A, sizeof ar_h);
            tether_handshake_wipe(h);
            CHECK(arena_intact(&ar_h, off, TETHER_HANDSHAKE_SIZE, 0x5A));
        } else {
            /* Aligned enough: a full handshake in it. */
            CHECK_OK(tether_handshake_init_initiator(h, &ini.cfg, &ini.plat));
            CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
            run_handshake(h, &hr);
            tether_handshake_wipe(h);
            tether_handshake_wipe(&hr);
            CHECK(all_bytes(&ar_h, sizeof ar_h, 0));
        }

        /* Session (16-byte alignment: every offset here is misaligned). */
        CHECK(off % TETHER_SESSION_ALIGN != 0);
        memset(&peer, 0xA5, sizeof peer);
        memset(hash, 0xA5, sizeof hash);
        CHECK_ST(tether_handshake_finish(&hfin_i, s, &peer, hash), TETHER_ERR_MISALIGNED);
        CHECK(all_bytes(&peer, sizeof peer, 0xA5) && all_bytes(hash, sizeof hash, 0xA5));
        CHECK(all_bytes(&ar_s, sizeof ar_s, 0));
        CHECK(next_action(&hfin_i) == TETHER_ACTION_FINISH); /* nothing changed */
        memset(out, 0xA5, sizeof out);
        CHECK_ST(tether_session_seal(s, U8("x"), 1, out, sizeof out, &n, &ku),
                 TETHER_ERR_MISALIGNED);
        CHECK(n == SENT_SIZE && ku == SENT_SIZE);
        CHECK(tether_session_seal_capacity(s, 1) == 0);
        CHECK_ST(tether_session_open(s, out, 40, out + 64, 64, &ev, &n), TETHER_ERR_MISALIGNED);
        CHECK(ev == SENT_EVENT && n == SENT_SIZE);
        CHECK_ST(tether_session_poll(s, &erased), TETHER_ERR_MISALIGNED);
        CHECK(erased == true);
        CHECK_ST(tether_session_update_key(s, out, sizeof out, &n), TETHER_ERR_MISALIGNED);
        CHECK_ST(tether_session_close(s, out, sizeof out, &n), TETHER_ERR_MISALIGNED);
        CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
        CHECK(all_bytes(&ar_s, sizeof ar_s, 0));
        memset(&ar_s, 0x5A, sizeof ar_s);
        tether_session_wipe(s);
        CHECK(arena_intact(&ar_s, off, TETHER_SESSION_SIZE, 0x5A));

        /* Decoder. */
        if (off % TETHER_DECODER_ALIGN != 0) {
            CHECK_ST(tether_decoder_init(d, 100), TETHER_ERR_MISALIGNED);
            CHECK(all_bytes(&ar_d, sizeof ar_d, 0));
            used = ulen = SENT_SIZE;
            unit = U8("sentinel");
            CHECK_ST(tether_decoder_next(d, U8("\x00\x01x"), 3, &used, &unit, &ulen),
                     TETHER_ERR_MISALIGNED);
            CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
            memset(&ar_d, 0x5A, sizeof ar_d);
            tether_decoder_wipe(d);
            CHECK(arena_intact(&ar_d, off, TETHER_DECODER_SIZE, 0x5A));
        } else {
            CHECK_OK(tether_decoder_init(d, 100));
            CHECK_OK(tether_decoder_next(d, U8("\x00\x01x"), 3, &used, &unit, &ulen));
            CHECK(used == 3 && ulen == 3);
            tether_decoder_wipe(d);
            CHECK(all_bytes(&ar_d, sizeof ar_d, 0));
        }
    }
    /* The finished handshakes, refused every misaligned session, finish properly. */
    CHECK_OK(tether_handshake_finish(&hfin_i, &sfin_i, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hfin_r, &sfin_r, NULL, NULL));
    both_ways(&sfin_i, &sfin_r);
    tether_session_wipe(&sfin_i);
    tether_session_wipe(&sfin_r);
}

/* Reads a value stored at an odd address. */
#define LOAD(type, p) (*(type *)memcpy(&(type){0}, (p), sizeof(type)))

/* Misuse (allowed by the header): out-pointers and structs at odd addresses, as in a packed
 * message struct. "Pointers to scalars and structs need no alignment": every call works and
 * stores the right values. Also the config and platform structs at odd addresses. */
static void test_unaligned_out_pointers(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t odd[1024];
    static uint8_t cfg_bytes[sizeof(tether_config) + 8], plat_bytes[sizeof(tether_platform) + 8];
    static uint8_t rec[TETHER_SEAL_CAPACITY(64)];
    uint8_t data[64];
    tether_decoder dec = {0};

    configure(&ini, &resp, PATTERN_IK, FRAMING_STREAM, 0x510);
    /* The initiator's config and platform copied to odd addresses. */
    memcpy(cfg_bytes + 1, &ini.cfg, sizeof ini.cfg);
    memcpy(plat_bytes + 3, &ini.plat, sizeof ini.plat);
    const tether_config *odd_cfg = (const tether_config *)(const void *)(cfg_bytes + 1);
    const tether_platform *odd_plat = (const tether_platform *)(const void *)(plat_bytes + 3);
    CHECK_OK(tether_handshake_init_initiator(&hi, odd_cfg, odd_plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));

    tether_action *pa = (tether_action *)(void *)(odd + 1);
    size_t *pw = (size_t *)(void *)(odd + 9);
    CHECK_OK(tether_handshake_next(&hi, pa));
    CHECK(LOAD(tether_action, pa) == TETHER_ACTION_WRITE);
    CHECK_ST(tether_handshake_write(&hi, NULL, 0, pw), TETHER_ERR_BUFFER_TOO_SMALL);
    size_t need = LOAD(size_t, pw);
    CHECK(need > 0 && need <= TETHER_HANDSHAKE_MAX_LEN);
    CHECK_OK(tether_handshake_write(&hi, g_hs_msg, sizeof g_hs_msg, pw));
    CHECK(LOAD(size_t, pw) == need);

    /* The responder's message 0 goes through a decoder with odd out-pointers. */
    CHECK_OK(tether_decoder_init(&dec, 64));
    size_t *pc = (size_t *)(void *)(odd + 21);
    const uint8_t **pu = (const uint8_t **)(void *)(odd + 35);
    size_t *pl = (size_t *)(void *)(odd + 50);
    CHECK_OK(tether_decoder_next(&dec, g_hs_msg, need, pc, pu, pl));
    CHECK(LOAD(size_t, pc) == need && LOAD(size_t, pl) == need);
    const uint8_t *u0 = LOAD(const uint8_t *, pu);
    CHECK(u0 != NULL && memcmp(u0, g_hs_msg, need) == 0);
    CHECK_OK(tether_handshake_read(&hr, u0, need));
    size_t n1 = hs_write(&hr);
    CHECK_OK(tether_handshake_read(&hi, g_hs_msg, n1));

    /* finish: peer and hash at odd addresses. */
    tether_peer *pp = (tether_peer *)(void *)(odd + 101);
    uint8_t *ph = odd + 401;
    uint8_t hash_r[32];
    CHECK_OK(tether_handshake_finish(&hi, &si, pp, ph));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, hash_r));
    tether_peer peer = LOAD(tether_peer, pp);
    CHECK(memcmp(peer.static_key, resp.pub, 32) == 0);
    CHECK(peer.id_len == 5 && memcmp(peer.id, "cloud", 5) == 0);
    CHECK(memcmp(ph, hash_r, 32) == 0);

    /* seal: written and key_update_len at odd addresses; open: event and data_len. */
    size_t *pku = (size_t *)(void *)(odd + 451);
    CHECK_OK(tether_session_seal(&si, U8("odd"), 3, rec, sizeof rec, pw, pku));
    CHECK(LOAD(size_t, pw) == 3 + TETHER_STREAM_OVERHEAD && LOAD(size_t, pku) == 0);
    tether_event *pe = (tether_event *)(void *)(odd + 461);
    size_t *pd = (size_t *)(void *)(odd + 467);
    CHECK_OK(tether_session_open(&sr, rec, LOAD(size_t, pw), data, sizeof data, pe, pd));
    CHECK(LOAD(tether_event, pe) == TETHER_EVENT_DATA && LOAD(size_t, pd) == 3);
    CHECK(memcmp(data, "odd", 3) == 0);
    CHECK_OK(tether_session_update_key(&si, rec, sizeof rec, pw));
    CHECK(LOAD(size_t, pw) == TETHER_STREAM_OVERHEAD);
    CHECK_OK(tether_session_open(&sr, rec, TETHER_STREAM_OVERHEAD, data, sizeof data, pe, pd));
    CHECK(LOAD(tether_event, pe) == TETHER_EVENT_KEY_UPDATE && LOAD(size_t, pd) == 0);
    bool *pb = (bool *)(void *)(odd + 477);
    CHECK_OK(tether_session_poll(&sr, pb));

    /* Key helpers and pairing codes with odd outputs. */
    CHECK_OK(tether_keypair_generate(odd_plat, odd + 501, odd + 541));
    uint8_t pub[32];
    CHECK_OK(tether_public_key(odd + 501, pub));
    CHECK(memcmp(pub, odd + 541, 32) == 0);
    CHECK_OK(tether_pairing_code_generate(odd_plat, odd + 541, odd + 601, 64,
                                          (size_t *)(void *)(odd + 671)));
    CHECK(LOAD(size_t, odd + 671) == TETHER_PAIRING_CODE_LEN);
    CHECK(memcmp(odd + 601, "TETHER1:", 8) == 0);

    both_ways(&si, &sr);
    tether_decoder_wipe(&dec);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* ------------------------------------------------------------------------------------------ */
/* 6. Lengths above PTRDIFF_MAX                                                                */

static const size_t HUGE_LENGTHS[] = {SIZE_MAX, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 2};

/* Misuse: a length above PTRDIFF_MAX (a negative int converted to size_t, an unsigned
 * underflow `len - used` gone wrong) for every buffer argument: TETHER_ERR_BAD_LENGTH, nothing
 * written, nothing changed. */
static void test_huge_lengths(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t snap_hi[sizeof(tether_handshake)], snap_si[sizeof(tether_session)];
    static uint8_t rec[TETHER_SEAL_CAPACITY(64)];
    uint8_t buf[256];
    tether_decoder dec = {0};
    tether_event ev = SENT_EVENT;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    configure(&ini, &resp, PATTERN_IK, FRAMING_STREAM, 0x600);
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    CHECK_OK(tether_decoder_init(&dec, 64));
    memcpy(snap_hi, &hi, sizeof snap_hi);
    for (size_t k = 0; k < sizeof HUGE_LENGTHS / sizeof HUGE_LENGTHS[0]; k++) {
        const size_t big = HUGE_LENGTHS[k];
        memset(buf, 0xA5, sizeof buf);
        n = SENT_SIZE;
        CHECK_ST(tether_handshake_write(&hi, buf, big, &n), TETHER_ERR_BAD_LENGTH);
        CHECK(n == SENT_SIZE && all_bytes(buf, sizeof buf, 0xA5));
        CHECK_ST(tether_handshake_read(&hr, buf, big), TETHER_ERR_BAD_LENGTH);
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        used = ulen = SENT_SIZE;
        unit = U8("sentinel");
        CHECK_ST(tether_decoder_next(&dec, buf, big, &used, &unit, &ulen), TETHER_ERR_BAD_LENGTH);
        CHECK(used == SENT_SIZE && ulen == SENT_SIZE && unit == U8("sentinel"));
        CHECK_ST(tether_pairing_code_generate(&resp.plat, resp.pub, buf, big, &n),
                 TETHER_ERR_BAD_LENGTH);
        CHECK(n == SENT_SIZE && all_bytes(buf, sizeof buf, 0xA5));
    }
    CHECK(same_storage(snap_hi, &hi, sizeof snap_hi));
    run_handshake(&hi, &hr);
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));

    size_t rl = seal_text(&sr, "to the initiator", rec, sizeof rec, &ku);
    memcpy(snap_si, &si, sizeof snap_si);
    for (size_t k = 0; k < sizeof HUGE_LENGTHS / sizeof HUGE_LENGTHS[0]; k++) {
        const size_t big = HUGE_LENGTHS[k];
        memset(buf, 0xA5, sizeof buf);
        n = ku = SENT_SIZE;
        CHECK_ST(tether_session_seal(&si, U8("abc"), big, buf, sizeof buf, &n, &ku),
                 TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_session_seal(&si, U8("abc"), 3, buf, big, &n, &ku), TETHER_ERR_BAD_LENGTH);
        CHECK(n == SENT_SIZE && ku == SENT_SIZE && all_bytes(buf, sizeof buf, 0xA5));
        CHECK_ST(tether_session_open(&si, rec, big, buf, sizeof buf, &ev, &n),
                 TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_session_open(&si, rec, rl, buf, big, &ev, &n), TETHER_ERR_BAD_LENGTH);
        CHECK(ev == SENT_EVENT && n == SENT_SIZE && all_bytes(buf, sizeof buf, 0xA5));
        CHECK_ST(tether_session_update_key(&si, buf, big, &n), TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_session_close(&si, buf, big, &n), TETHER_ERR_BAD_LENGTH);
        CHECK(n == SENT_SIZE && all_bytes(buf, sizeof buf, 0xA5));
        /* "Size of an output buffer that always suffices to seal plaintext_len bytes": no
         * size_t wraps around (TETHER_SEAL_CAPACITY(SIZE_MAX) would be 49); such a plaintext
         * cannot be sealed, so 0 ("no usable session" for it) or a saturated value. */
        size_t cap = tether_session_seal_capacity(&si, big);
        CHECK(cap == 0 || cap >= big);
    }
    CHECK(same_storage(snap_si, &si, sizeof snap_si));
    /* The record refused with huge lengths still opens: nothing was consumed. */
    open_expect(&si, rec, rl, "to the initiator");
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
    tether_decoder_wipe(&dec);
}

/* Misuse: a pointer plus a length that runs past the end of the address space (a corrupted
 * pointer, a length computed from the wrong base): TETHER_ERR_BAD_LENGTH, nothing touched. */
static void test_length_past_address_space(void) {
    static pair_t p;
    const uint8_t *top = (const uint8_t *)(uintptr_t)(UINTPTR_MAX - 15);
    uint8_t *top_out = (uint8_t *)(uintptr_t)(UINTPTR_MAX - 15);
    static tether_handshake hs;
    tether_decoder dec = {0};
    uint8_t buf[64];
    tether_event ev = SENT_EVENT;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    pair_up(&p, PATTERN_IK, FRAMING_DATAGRAM, 0x610);
    CHECK_ST(tether_session_seal(&p.sa, top, 64, buf, sizeof buf, &n, &ku), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_session_seal(&p.sa, U8("x"), 1, top_out, 64, &n, &ku), TETHER_ERR_BAD_LENGTH);
    CHECK(n == SENT_SIZE && ku == SENT_SIZE);
    CHECK_ST(tether_session_open(&p.sa, top, 64, buf, sizeof buf, &ev, &n), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_session_update_key(&p.sa, top_out, 64, &n), TETHER_ERR_BAD_LENGTH);
    CHECK(ev == SENT_EVENT && n == SENT_SIZE);
    CHECK_OK(tether_decoder_init(&dec, 64));
    CHECK_ST(tether_decoder_next(&dec, top, 64, &used, &unit, &ulen), TETHER_ERR_BAD_LENGTH);
    CHECK(used == SENT_SIZE && unit == U8("sentinel"));
    CHECK_OK(tether_handshake_init_responder(&hs, &p.b.cfg, &p.b.plat));
    CHECK_ST(tether_handshake_read(&hs, top, 64), TETHER_ERR_BAD_LENGTH);
    CHECK(next_action(&hs) == TETHER_ACTION_READ);
    tether_handshake_wipe(&hs);
    tether_decoder_wipe(&dec);
    both_ways(&p.sa, &p.sb);
    pair_wipe(&p);
}

/* Misuse: huge lengths inside the configuration (identity fields, context, pairing code).
 * The header's convention: "A length above PTRDIFF_MAX is TETHER_ERR_BAD_LENGTH" (init's own
 * list of statuses does not name it). On error "hs is left as it was": a live handshake in the
 * storage still works. */
static void test_huge_lengths_in_config(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t snap[sizeof(tether_handshake)];
    static tether_config bad;

    configure(&ini, &resp, PATTERN_PAIRING, FRAMING_DATAGRAM, 0x620);
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    memcpy(snap, &hi, sizeof snap);
    size_t *fields[] = {&bad.identity.id_len, &bad.identity.model_len, &bad.identity.version_len,
                        &bad.identity.key_id_len, &bad.context_len, &bad.pairing_code_len};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (size_t k = 0; k < sizeof HUGE_LENGTHS / sizeof HUGE_LENGTHS[0]; k++) {
            bad = ini.cfg;
            if (fields[f] == &bad.context_len) {
                bad.context = U8("ctx");
            }
            if (fields[f] == &bad.identity.key_id_len) {
                bad.identity.key_id = U8("kid");
            }
            *fields[f] = HUGE_LENGTHS[k];
            CHECK_ST(tether_handshake_init_initiator(&hi, &bad, &ini.plat), TETHER_ERR_BAD_LENGTH);
            CHECK_ST(tether_handshake_init_responder(&hi, &bad, &ini.plat), TETHER_ERR_BAD_LENGTH);
            CHECK(same_storage(snap, &hi, sizeof snap));
        }
    }
    /* The credential issuer too. */
    static const uint8_t sig[64] = {1};
    bad = ini.cfg;
    bad.identity.has_credential = true;
    bad.identity.credential_not_before = 1;
    bad.identity.credential_not_after = 2;
    bad.identity.credential_issuer = U8("acme");
    bad.identity.credential_issuer_len = SIZE_MAX;
    bad.identity.credential_signature = sig;
    CHECK_ST(tether_handshake_init_initiator(&hi, &bad, &ini.plat), TETHER_ERR_BAD_LENGTH);
    CHECK(same_storage(snap, &hi, sizeof snap));

    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    run_handshake(&hi, &hr);
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* ------------------------------------------------------------------------------------------ */
/* 7. Overlap                                                                                  */

/* Misuse: sealing "in place" or nearly (the output buffer overlapping the plaintext at several
 * offsets), the output or an out-pointer inside the session's own storage, and out-pointers
 * inside the buffers. TETHER_ERR_OVERLAP, nothing written, nothing changed: on a stream the
 * next record still opens on the peer (a consumed counter would make it OUT_OF_ORDER). Buffers
 * that merely touch (adjacent) are not overlapping. */
static void test_overlap_seal(void) {
    static pair_t p;
    static uint8_t buf[512], before[512];
    static uint8_t snap[sizeof(tether_session)];
    const size_t pt = 200, len = 40, cap = TETHER_SEAL_CAPACITY(40); /* 40 + 50 */
    /* out starts: overlapping the plaintext's tail, its start, inside it, its last byte, and a
     * buffer whose slack only reaches the plaintext's first byte. */
    static const size_t overlapping[] = {130, 200, 220, 239, 200 - 90 + 1};
    size_t n = SENT_SIZE, ku = SENT_SIZE;

    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0x700);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
    }
    memcpy(before, buf, sizeof buf);
    memcpy(snap, &p.sa, sizeof snap);
    for (size_t k = 0; k < sizeof overlapping / sizeof overlapping[0]; k++) {
        n = ku = SENT_SIZE;
        CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf + overlapping[k], cap, &n, &ku),
                 TETHER_ERR_OVERLAP);
        CHECK(n == SENT_SIZE && ku == SENT_SIZE);
        CHECK(memcmp(buf, before, sizeof buf) == 0);
    }
    /* update_key and close into a buffer that holds the plaintext are fine (no input): not
     * misuse. Out-pointers inside the buffers: */
    size_t *w_in_out = (size_t *)(void *)(buf + 16); /* inside out = buf[0, 90) */
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, w_in_out, &ku),
             TETHER_ERR_OVERLAP);
    size_t *w_in_pt = (size_t *)(void *)(buf + pt + 8);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, w_in_pt, &ku), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, &n, w_in_out), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, &n, &n), TETHER_ERR_OVERLAP);
    CHECK(n == SENT_SIZE);
    size_t *w_in_out2 = (size_t *)(void *)(buf + 8);
    CHECK_ST(tether_session_update_key(&p.sa, buf, 64, w_in_out2), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_close(&p.sa, buf, 64, w_in_out2), TETHER_ERR_OVERLAP);
    CHECK(memcmp(buf, before, sizeof buf) == 0);

    /* Outputs inside the session's own storage. */
    uint8_t *inside = (uint8_t *)(void *)&p.sa;
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, inside + 1000, cap, &n, &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, inside + sizeof p.sa - 10, cap, &n, &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, (size_t *)(void *)(inside + 512),
                                 &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal(&p.sa, buf + pt, len, buf, cap, &n,
                                 (size_t *)(void *)(inside + 2048)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_update_key(&p.sa, inside + 64, 64, &n), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_close(&p.sa, buf, 64, (size_t *)(void *)(inside + 24)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_poll(&p.sa, (bool *)(void *)(inside + 100)), TETHER_ERR_OVERLAP);
    /* The plaintext inside the storage is an input, not an output: "Nothing works in place"
     * names outputs only, so that is not tested. */
    CHECK(n == SENT_SIZE && ku == SENT_SIZE);
    CHECK(same_storage(snap, &p.sa, sizeof snap));
    CHECK(memcmp(buf, before, sizeof buf) == 0);

    /* Adjacent buffers are fine: out right before, then right after the plaintext. */
    CHECK_OK(tether_session_seal(&p.sa, buf + pt, len, buf + pt - cap, cap, &n, &ku));
    CHECK(ku == 0 && n == len + TETHER_STREAM_OVERHEAD);
    static uint8_t rec1[128], rec2[128];
    memcpy(rec1, buf + pt - cap, n);
    size_t n1 = n;
    CHECK_OK(tether_session_seal(&p.sa, buf + pt, len, buf + pt + len, cap, &n, &ku));
    memcpy(rec2, buf + pt + len, n);
    /* Both open in order on the peer, with the plaintext. */
    uint8_t data[64];
    tether_event ev = SENT_EVENT;
    size_t dl = SENT_SIZE;
    CHECK_OK(tether_session_open(&p.sb, rec1, n1, data, sizeof data, &ev, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == len && memcmp(data, before + pt, len) == 0);
    CHECK_OK(tether_session_open(&p.sb, rec2, n, data, sizeof data, &ev, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == len && memcmp(data, before + pt, len) == 0);
    both_ways(&p.sa, &p.sb);
    pair_wipe(&p);
}

/* Misuse: opening "in place" (the output overlapping the unit at several offsets), outputs
 * inside the session, out-pointers inside the unit or the output or each other. OVERLAP, event
 * not written, no plaintext in out, the unit untouched, and the same record still opens (it
 * was not consumed: on a stream a second open of a consumed record is OUT_OF_ORDER). */
static void test_overlap_open(void) {
    static pair_t p;
    static uint8_t buf[512], before[512];
    static uint8_t snap[sizeof(tether_session)];
    const size_t at = 200;
    size_t ku = 0;
    tether_event ev = SENT_EVENT;
    size_t dl = SENT_SIZE;

    pair_up(&p, PATTERN_XX, FRAMING_STREAM, 0x710);
    memset(buf, 0x3C, sizeof buf);
    size_t rl = seal_text(&p.sa, "open me where I lie, please", buf + at, 128, &ku);
    CHECK(ku == 0);
    memcpy(before, buf, sizeof buf);
    memcpy(snap, &p.sb, sizeof snap);
    const size_t outlen = 64;
    const size_t overlapping[] = {at - outlen + 1, at, at + 5, at + rl - 1};
    for (size_t k = 0; k < sizeof overlapping / sizeof overlapping[0]; k++) {
        CHECK_ST(tether_session_open(&p.sb, buf + at, rl, buf + overlapping[k], outlen, &ev, &dl),
                 TETHER_ERR_OVERLAP);
        CHECK(ev == SENT_EVENT && dl == SENT_SIZE);
        CHECK(memcmp(buf, before, sizeof buf) == 0);
    }
    uint8_t data[64];
    memset(data, 0xEE, sizeof data);
    /* Out-pointers inside the unit, inside out, and the same address for both. */
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data,
                                 (tether_event *)(void *)(buf + at + 4), &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data, &ev,
                                 (size_t *)(void *)(buf + at + 8)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data, &ev,
                                 (size_t *)(void *)(data + 8)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data,
                                 (tether_event *)(void *)(data + 40), &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data, (tether_event *)&dl, &dl),
             TETHER_ERR_OVERLAP);
    /* Outputs inside the session's storage. */
    uint8_t *inside = (uint8_t *)(void *)&p.sb;
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, inside + 300, 64, &ev, &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data,
                                 (tether_event *)(void *)(inside + 40), &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open(&p.sb, buf + at, rl, data, sizeof data, &ev,
                                 (size_t *)(void *)(inside + 4000)),
             TETHER_ERR_OVERLAP);
    CHECK(ev == SENT_EVENT && dl == SENT_SIZE);
    CHECK(all_bytes(data, sizeof data, 0xEE));
    CHECK(memcmp(buf, before, sizeof buf) == 0);
    CHECK(same_storage(snap, &p.sb, sizeof snap));

    /* The record was not consumed: it opens now, into an adjacent buffer (right after it). */
    CHECK_OK(tether_session_open(&p.sb, buf + at, rl, buf + at + rl, 64, &ev, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == 27);
    CHECK(memcmp(buf + at + rl, "open me where I lie, please", 27) == 0);
    both_ways(&p.sa, &p.sb);
    pair_wipe(&p);
}

/* Misuse of the in-place calls: the buffer inside the session's storage or running into it,
 * out-pointers inside the buffer, inside the session or on each other. OVERLAP, nothing
 * written, nothing changed: on a stream the next record still opens on the peer, and a unit
 * refused for overlap still opens afterwards (it was not consumed). Out-pointers right after
 * the buffer merely touch it. */
static void test_overlap_in_place(void) {
    static pair_t p;
    static alignas(16) uint8_t buf[256];
    static uint8_t before[256];
    static uint8_t snap[sizeof(tether_session)];
    const size_t len = 40, need = TETHER_SEAL_HEADROOM + 40 + 16; /* 90 */
    size_t start = SENT_SIZE, n = SENT_SIZE, ku = SENT_SIZE;

    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0x720);
    CHECK(tether_session_seal_in_place_len(&p.sa, len) == need);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(i * 5 + 1);
    }
    memcpy(before, buf, sizeof buf);
    memcpy(snap, &p.sa, sizeof snap);
    uint8_t *inside = (uint8_t *)(void *)&p.sa;
    /* The buffer inside the session's storage, at its start, or running into its end. */
    CHECK_ST(tether_session_seal_in_place(&p.sa, inside + 1000, need, len, &start, &n, &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, inside, need, len, &start, &n, &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, inside + sizeof p.sa - 10, need, len, &start,
                                          &n, &ku),
             TETHER_ERR_OVERLAP);
    /* Out-pointers inside the buffer (the headroom, the plaintext, the tag's place). */
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, (size_t *)(void *)(buf + 8), &n,
                                          &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &start,
                                          (size_t *)(void *)(buf + 40), &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &start, &n,
                                          (size_t *)(void *)(buf + 72)),
             TETHER_ERR_OVERLAP);
    /* Out-pointers on each other. */
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &n, &n, &ku), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &start, &n, &start),
             TETHER_ERR_OVERLAP);
    /* Out-pointers inside the session. */
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, (size_t *)(void *)(inside + 512),
                                          &n, &ku),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &start, &n,
                                          (size_t *)(void *)(inside + 2048)),
             TETHER_ERR_OVERLAP);
    CHECK(start == SENT_SIZE && n == SENT_SIZE && ku == SENT_SIZE);
    CHECK(memcmp(buf, before, sizeof buf) == 0);
    CHECK(same_storage(snap, &p.sa, sizeof snap));

    /* Adjacent: *written right after the buffer (96 bytes, more than needed). The record is
     * the session's first. */
    size_t *after = (size_t *)(void *)(buf + 96);
    CHECK_OK(tether_session_seal_in_place(&p.sa, buf, 96, len, &start, after, NULL));
    size_t written;
    memcpy(&written, after, sizeof written);
    CHECK(start == TETHER_SEAL_HEADROOM - 5 && written == len + TETHER_STREAM_OVERHEAD);
    static alignas(16) uint8_t rec[128];
    memcpy(rec, buf + start, written);
    uint8_t data[64];
    tether_event ev = SENT_EVENT;
    size_t dl = SENT_SIZE, at = SENT_SIZE;
    CHECK_OK(tether_session_open(&p.sb, rec, written, data, sizeof data, &ev, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == len);
    CHECK(memcmp(data, before + TETHER_SEAL_HEADROOM, len) == 0);

    /* Opening: the unit inside the session, out-pointers inside the unit, inside the session,
     * on each other. */
    size_t ku2 = 0;
    const size_t rl = seal_text(&p.sa, "open me where I lie", rec, sizeof rec, &ku2);
    CHECK(ku2 == 0);
    static uint8_t rec_before[128];
    memcpy(rec_before, rec, rl);
    memcpy(snap, &p.sb, sizeof snap);
    ev = SENT_EVENT;
    dl = at = SENT_SIZE;
    uint8_t *inside_b = (uint8_t *)(void *)&p.sb;
    CHECK_ST(tether_session_open_in_place(&p.sb, inside_b + 300, rl, &ev, &at, &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, (tether_event *)(void *)(rec + 4), &at,
                                          &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, &ev, (size_t *)(void *)(rec + 8), &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, &ev, &at,
                                          (size_t *)(void *)(rec + rl - 8)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, &ev, &dl, &dl), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, (tether_event *)(void *)&at, &at, &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, (tether_event *)(void *)(inside_b + 40),
                                          &at, &dl),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_session_open_in_place(&p.sb, rec, rl, &ev, &at,
                                          (size_t *)(void *)(inside_b + 4000)),
             TETHER_ERR_OVERLAP);
    CHECK(ev == SENT_EVENT && at == SENT_SIZE && dl == SENT_SIZE);
    CHECK(memcmp(rec, rec_before, rl) == 0);
    CHECK(same_storage(snap, &p.sb, sizeof snap));
    /* Not consumed: it opens in place now. */
    CHECK_OK(tether_session_open_in_place(&p.sb, rec, rl, &ev, &at, &dl));
    CHECK(ev == TETHER_EVENT_DATA && at == 5 && dl == 19);
    CHECK(memcmp(rec + at, "open me where I lie", 19) == 0);
    both_ways(&p.sa, &p.sb);
    pair_wipe(&p);
}

/* Misuse of the in-place calls besides overlaps: a short buffer, NULLs, absurd lengths, a
 * closed, copied or zeroed session, a tampered or replayed unit. */
static void test_in_place_misuse(void) {
    static pair_t p;
    static tether_session copy, zeroed;
    static uint8_t buf[TETHER_SEAL_IN_PLACE_LEN(64)];
    static uint8_t unit[128], unit_before[128];
    const char *text = "heart rate 61";
    const size_t len = strlen(text);
    size_t start = SENT_SIZE, n = SENT_SIZE, ku = SENT_SIZE, at = SENT_SIZE, dl = SENT_SIZE;
    tether_event ev = SENT_EVENT;

    pair_up(&p, PATTERN_IK, FRAMING_DATAGRAM, 0x730);
    const size_t head = tether_session_seal_headroom(&p.sa);
    const size_t need = tether_session_seal_in_place_len(&p.sa, len);
    CHECK(head == TETHER_SEAL_HEADROOM && need == head + len + 16);
    CHECK(tether_session_seal_in_place_len(&p.sa, SIZE_MAX) == SIZE_MAX); /* saturates */
    memset(buf, 0x5A, sizeof buf);
    memcpy(buf + head, text, len);
    memcpy(unit_before, buf, need);

    /* One byte short: the size needed in *written, nothing else written. NULL with length 0
     * asks for the size. */
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need - 1, len, &start, &n, &ku),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == need && start == SENT_SIZE && ku == SENT_SIZE);
    n = SENT_SIZE;
    CHECK_ST(tether_session_seal_in_place(&p.sa, NULL, 0, len, &start, &n, &ku),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == need);
    /* NULLs and absurd lengths. */
    n = SENT_SIZE;
    CHECK_ST(tether_session_seal_in_place(NULL, buf, need, len, &start, &n, &ku), TETHER_ERR_NULL);
    CHECK_ST(tether_session_seal_in_place(&p.sa, NULL, need, len, &start, &n, &ku),
             TETHER_ERR_NULL);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, NULL, &n, &ku), TETHER_ERR_NULL);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, need, len, &start, NULL, &ku),
             TETHER_ERR_NULL);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, (size_t)PTRDIFF_MAX + 1, len, &start, &n,
                                          &ku),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_session_seal_in_place(&p.sa, buf, sizeof buf, TETHER_MAX_PLAINTEXT + 1, &start,
                                          &n, &ku),
             TETHER_ERR_PLAINTEXT_TOO_LARGE);
    CHECK(start == SENT_SIZE && n == SENT_SIZE && ku == SENT_SIZE);
    CHECK(memcmp(buf, unit_before, need) == 0 && all_bytes(buf + need, sizeof buf - need, 0x5A));

    /* A copy of the session, and zeroed storage. */
    memcpy(&copy, &p.sa, sizeof copy);
    CHECK(tether_session_seal_headroom(&copy) == 0);
    CHECK(tether_session_seal_in_place_len(&copy, 1) == 0);
    CHECK_ST(tether_session_seal_in_place(&copy, buf, need, len, &start, &n, &ku),
             TETHER_ERR_COPIED);
    CHECK_ST(tether_session_open_in_place(&copy, buf, need, &ev, &at, &dl), TETHER_ERR_COPIED);
    tether_session_wipe(&copy);
    memset(&zeroed, 0, sizeof zeroed);
    CHECK(tether_session_seal_headroom(&zeroed) == 0);
    CHECK_ST(tether_session_seal_in_place(&zeroed, buf, need, len, &start, &n, &ku),
             TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_session_open_in_place(&zeroed, buf, need, &ev, &at, &dl), TETHER_ERR_BAD_STATE);
    CHECK(memcmp(buf, unit_before, need) == 0);

    /* The genuine record, sealed now (NULL key_update_len is fine). */
    CHECK_OK(tether_session_seal_in_place(&p.sa, buf, sizeof buf, len, &start, &n, NULL));
    CHECK(start == TETHER_DATAGRAM_OVERHEAD && n == len + TETHER_DATAGRAM_OVERHEAD);
    memcpy(unit, buf + start, n);
    memcpy(unit_before, unit, n);

    /* Opening: NULLs, a unit one byte short, tampered bytes anywhere: refused, the unit and the
     * outputs untouched. */
    CHECK_ST(tether_session_open_in_place(NULL, unit, n, &ev, &at, &dl), TETHER_ERR_NULL);
    CHECK_ST(tether_session_open_in_place(&p.sb, NULL, n, &ev, &at, &dl), TETHER_ERR_NULL);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, n, NULL, &at, &dl), TETHER_ERR_NULL);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, n, &ev, NULL, &dl), TETHER_ERR_NULL);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, n, &ev, &at, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, (size_t)PTRDIFF_MAX + 1, &ev, &at, &dl),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_session_open_in_place(&p.sb, NULL, 0, &ev, &at, &dl), TETHER_ERR_TRUNCATED);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, n - 1, &ev, &at, &dl),
             TETHER_ERR_AUTHENTICATION);
    for (size_t i = 0; i < n; i++) {
        unit[i] ^= 0x01;
        CHECK(tether_session_open_in_place(&p.sb, unit, n, &ev, &at, &dl) != TETHER_OK);
        unit[i] ^= 0x01;
        CHECK(memcmp(unit, unit_before, n) == 0);
    }
    CHECK(ev == SENT_EVENT && at == SENT_SIZE && dl == SENT_SIZE);
    /* The session was not changed: the genuine unit opens, once; its replay is refused and left
     * as it was. */
    CHECK_OK(tether_session_open_in_place(&p.sb, unit, n, &ev, &at, &dl));
    CHECK(ev == TETHER_EVENT_DATA && at == 9 && dl == len && memcmp(unit + at, text, len) == 0);
    memcpy(unit, unit_before, n);
    CHECK_ST(tether_session_open_in_place(&p.sb, unit, n, &ev, &at, &dl), TETHER_ERR_REPLAYED);
    CHECK(memcmp(unit, unit_before, n) == 0);
    both_ways(&p.sa, &p.sb);

    /* After close: BAD_STATE, nothing written. */
    {
        uint8_t out[64];
        size_t cn = 0;
        CHECK_OK(tether_session_close(&p.sa, out, sizeof out, &cn));
        memset(buf, 0x5A, sizeof buf);
        start = n = SENT_SIZE;
        CHECK_ST(tether_session_seal_in_place(&p.sa, buf, sizeof buf, len, &start, &n, NULL),
                 TETHER_ERR_BAD_STATE);
        CHECK(start == SENT_SIZE && n == SENT_SIZE && all_bytes(buf, sizeof buf, 0x5A));
    }
    pair_wipe(&p);

    /* On a stream the plaintext goes at the same TETHER_SEAL_HEADROOM, and the bytes before the
     * record's units are not touched. */
    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0x740);
    CHECK(tether_session_seal_headroom(&p.sa) == TETHER_SEAL_HEADROOM);
    memset(buf, '-', sizeof buf);
    memcpy(buf + TETHER_SEAL_HEADROOM, text, len);
    CHECK_OK(tether_session_seal_in_place(&p.sa, buf, sizeof buf, len, &start, &n, NULL));
    CHECK(all_bytes(buf, start, '-'));
    CHECK_OK(tether_session_open_in_place(&p.sb, buf + start, n, &ev, &at, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == len);
    CHECK(buf + start + at == buf + TETHER_SEAL_HEADROOM);
    CHECK(memcmp(buf + start + at, text, len) == 0);
    pair_wipe(&p);
}

/* Misuse: handshake outputs overlapping each other, the handshake, or the new session; key
 * helpers with overlapping outputs. */
static void test_overlap_handshake(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t snap[sizeof(tether_handshake)];
    uint8_t out[TETHER_HANDSHAKE_MAX_LEN + 16], hash[64];
    tether_peer peer;
    size_t n = SENT_SIZE;

    configure(&ini, &resp, PATTERN_XX, FRAMING_DATAGRAM, 0x720);
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    memcpy(snap, &hi, sizeof snap);
    uint8_t *inside = (uint8_t *)(void *)&hi;
    memset(out, 0xA5, sizeof out);
    CHECK_ST(tether_handshake_next(&hi, (tether_action *)(void *)(inside + 8)), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_write(&hi, inside + 100, 400, &n), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_write(&hi, out, sizeof out, (size_t *)(void *)(inside + 64)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_write(&hi, out, sizeof out, (size_t *)(void *)(out + 16)),
             TETHER_ERR_OVERLAP);
    CHECK(n == SENT_SIZE && all_bytes(out, sizeof out, 0xA5));
    CHECK(same_storage(snap, &hi, sizeof snap));
    CHECK(next_action(&hi) == TETHER_ACTION_WRITE);
    /* A unit read from inside the responder's own storage. */
    CHECK_ST(tether_handshake_read(&hr, (const uint8_t *)(const void *)&hr + 200, 32),
             TETHER_ERR_OVERLAP);
    CHECK(next_action(&hr) == TETHER_ACTION_READ);
    run_handshake(&hi, &hr);

    /* finish: peer and hash overlapping each other, the handshake, or the session. */
    memset(hash, 0xA5, sizeof hash);
    memset(&peer, 0xA5, sizeof peer);
    CHECK_ST(tether_handshake_finish(&hi, &si, &peer, (uint8_t *)&peer + 8), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_finish(&hi, &si, (tether_peer *)(void *)(inside + 16), hash),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_finish(&hi, &si, &peer, inside + 1024), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_finish(&hi, &si, &peer, (uint8_t *)(void *)&si + 100),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_handshake_finish(&hi, &si, (tether_peer *)(void *)((uint8_t *)&si + 200), NULL),
             TETHER_ERR_OVERLAP);
    CHECK(all_bytes(hash, sizeof hash, 0xA5) && all_bytes(&peer, sizeof peer, 0xA5));
    CHECK(all_bytes(&si, sizeof si, 0));
    CHECK(next_action(&hi) == TETHER_ACTION_FINISH);
    CHECK_OK(tether_handshake_finish(&hi, &si, &peer, hash));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    CHECK(memcmp(peer.static_key, resp.pub, 32) == 0);
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);

    /* Key helpers. */
    uint8_t keys[96];
    memset(keys, 0xA5, sizeof keys);
    CHECK_ST(tether_keypair_generate(&ini.plat, keys, keys + 16), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_keypair_generate(&ini.plat, keys, keys), TETHER_ERR_OVERLAP);
    CHECK(all_bytes(keys, sizeof keys, 0xA5));
    /* tether_public_key may overlap ("the secret is read first"). */
    uint8_t pub[32];
    memcpy(keys, DEVICE_SECRET, 32);
    CHECK_OK(tether_public_key(keys, keys));
    CHECK(memcmp(keys, ini.pub, 32) == 0);
    memcpy(keys, DEVICE_SECRET, 32);
    CHECK_OK(tether_public_key(keys, keys + 8));
    CHECK(memcmp(keys + 8, ini.pub, 32) == 0);
    CHECK_OK(tether_public_key(DEVICE_SECRET, pub));
    /* Pairing code over the device key, and its written inside the text. */
    static uint8_t text[128];
    memset(text, 0xA5, sizeof text);
    memcpy(text + 40, resp.pub, 32);
    n = SENT_SIZE;
    CHECK_ST(tether_pairing_code_generate(&resp.plat, text + 40, text, 100, &n),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_pairing_code_generate(&resp.plat, resp.pub, text + 72, 56,
                                          (size_t *)(void *)(text + 80)),
             TETHER_ERR_OVERLAP);
    CHECK(n == SENT_SIZE && all_bytes(text, 40, 0xA5) && all_bytes(text + 72, 56, 0xA5));
}

/* Misuse: the decoder's unit fed back as input while it points into the decoder's own buffer
 * (a unit that arrived in pieces), and the decoder's out-pointers inside the input, the
 * decoder, or each other. OVERLAP, no output written, and the decoder goes on. */
static void test_overlap_decoder(void) {
    static const uint8_t two_units[] = {0x00, 0x04, 'a', 'b', 'c', 'd', 0x00, 0x02, 'x', 'y'};
    static uint8_t input[64];
    tether_decoder dec = {0};
    size_t used = SENT_SIZE, ulen = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");

    CHECK_OK(tether_decoder_init(&dec, 64));
    /* The first unit in two pieces: reassembled in the decoder's buffer. */
    CHECK_OK(tether_decoder_next(&dec, two_units, 3, &used, &unit, &ulen));
    CHECK(used == 3 && unit == NULL);
    CHECK_OK(tether_decoder_next(&dec, two_units + 3, 7, &used, &unit, &ulen));
    CHECK(used == 3 && ulen == 6 && unit != NULL && memcmp(unit, two_units, 6) == 0);
    CHECK(!(unit >= two_units && unit < two_units + sizeof two_units)); /* in its buffer */
    const uint8_t *held = unit;
    size_t held_len = ulen;
    size_t c2 = SENT_SIZE, l2 = SENT_SIZE;
    const uint8_t *u2 = U8("sentinel");
    CHECK_ST(tether_decoder_next(&dec, held, held_len, &c2, &u2, &l2), TETHER_ERR_OVERLAP);
    CHECK(c2 == SENT_SIZE && l2 == SENT_SIZE && u2 == U8("sentinel"));
    CHECK_ST(tether_decoder_next(&dec, held + 2, 2, &c2, &u2, &l2), TETHER_ERR_OVERLAP);
    CHECK(c2 == SENT_SIZE && l2 == SENT_SIZE && u2 == U8("sentinel"));

    /* Out-pointers inside the input, the decoder, or each other. */
    memcpy(input, two_units + 6, 4);
    uint8_t *dinside = (uint8_t *)(void *)&dec;
    CHECK_ST(tether_decoder_next(&dec, input, 4, (size_t *)(void *)(input + 1), &u2, &l2),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_decoder_next(&dec, input, 4, &c2, (const uint8_t **)(void *)(input + 2), &l2),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_decoder_next(&dec, input, 4, &c2, &u2, (size_t *)(void *)(input)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_decoder_next(&dec, input, 4, &c2, &u2, &c2), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_decoder_next(&dec, input, 4, (size_t *)(void *)(dinside + 8), &u2, &l2),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_decoder_next(&dec, input, 4, &c2, (const uint8_t **)(void *)(dinside + 16),
                                 &l2),
             TETHER_ERR_OVERLAP);
    CHECK(c2 == SENT_SIZE && l2 == SENT_SIZE && u2 == U8("sentinel"));
    CHECK(memcmp(input, two_units + 6, 4) == 0);
    /* The decoder goes on with the second unit. */
    CHECK_OK(tether_decoder_next(&dec, input, 4, &c2, &u2, &l2));
    CHECK(c2 == 4 && l2 == 4 && memcmp(u2, two_units + 6, 4) == 0);
    tether_decoder_wipe(&dec);
}

/* ------------------------------------------------------------------------------------------ */
/* 8. Re-entry from callbacks                                                                  */

/* What a callback did to the handle that is running it. */
typedef struct {
    union {
        tether_handshake h; /* the handle; in a union so that session calls on it are legal */
        tether_session s;
    } *u;
    const tether_config *cfg;
    const tether_platform *plat;
    tether_session *other_a, *other_b; /* another live pair, for "other handles work" */
    int wipe;                          /* wipe the running handle */
    int ran;
    tether_status st_next, st_write, st_size, st_read, st_init_i, st_init_r, st_finish;
    tether_status st_seal, st_open, st_poll, st_update, st_close, st_after_wipe, st_other;
    tether_action action;
    size_t written, capacity;
    uint8_t other_rec[TETHER_SEAL_CAPACITY(16)];
    size_t other_len;
} reentry_t;

static tether_session reentry_sink; /* finish target inside callbacks: must stay untouched */

/* Calls back into the running handshake. */
static void reenter_handshake(env_t *e) {
    reentry_t *r = e->ctx;
    tether_handshake *hs = &r->u->h;
    uint8_t buf[TETHER_HANDSHAKE_MAX_LEN];
    size_t ku = SENT_SIZE;
    tether_event ev = SENT_EVENT;
    bool erased = false;
    r->ran++;
    r->st_next = tether_handshake_next(hs, &r->action);
    r->st_write = tether_handshake_write(hs, buf, sizeof buf, &r->written);
    r->st_size = tether_handshake_write(hs, NULL, 0, &r->written);
    r->st_read = tether_handshake_read(hs, g_hs_msg, 64);
    r->st_init_i = tether_handshake_init_initiator(hs, r->cfg, r->plat);
    r->st_init_r = tether_handshake_init_responder(hs, r->cfg, r->plat);
    r->st_finish = tether_handshake_finish(hs, &reentry_sink, NULL, NULL);
    /* Session calls on the same handle (the storage is a union with a session). */
    r->st_seal = tether_session_seal(&r->u->s, U8("x"), 1, buf, sizeof buf, &r->written, &ku);
    r->capacity = tether_session_seal_capacity(&r->u->s, 1);
    r->st_open = tether_session_open(&r->u->s, g_hs_msg, 64, buf, sizeof buf, &ev, &r->written);
    r->st_poll = tether_session_poll(&r->u->s, &erased);
    /* Other handles work from inside a callback. */
    if (r->other_a != NULL) {
        r->st_other = tether_session_seal(r->other_a, U8("from a callback"), 15, r->other_rec,
                                          sizeof r->other_rec, &r->other_len, &ku);
    }
    if (r->wipe) {
        tether_handshake_wipe(hs);
        r->st_after_wipe = tether_handshake_next(hs, &r->action);
    }
}

static void expect_busy_everywhere(const reentry_t *r) {
    CHECK(r->ran == 1);
    CHECK_RECORDED(r->st_next, TETHER_ERR_BUSY, "next from a callback");
    CHECK_RECORDED(r->st_write, TETHER_ERR_BUSY, "write from a callback");
    CHECK_RECORDED(r->st_size, TETHER_ERR_BUSY, "write (size query) from a callback");
    CHECK_RECORDED(r->st_read, TETHER_ERR_BUSY, "read from a callback");
    CHECK_RECORDED(r->st_init_i, TETHER_ERR_BUSY, "init_initiator from a callback");
    CHECK_RECORDED(r->st_init_r, TETHER_ERR_BUSY, "init_responder from a callback");
    CHECK_RECORDED(r->st_finish, TETHER_ERR_BUSY, "finish from a callback");
    /* A session call on the running handshake: "a call on the handle that is running it is
     * refused with TETHER_ERR_BUSY", but it is also a handle of the wrong kind ("s holds no
     * session": TETHER_ERR_BAD_STATE). The header does not order the two checks: either, and
     * nothing written. */
    CHECK(r->st_seal == TETHER_ERR_BUSY || r->st_seal == TETHER_ERR_BAD_STATE);
    CHECK(r->st_open == TETHER_ERR_BUSY || r->st_open == TETHER_ERR_BAD_STATE);
    CHECK(r->st_poll == TETHER_ERR_BUSY || r->st_poll == TETHER_ERR_BAD_STATE);
    CHECK(r->capacity == 0);
    CHECK(r->action == SENT_ACTION && r->written == SENT_SIZE);
    CHECK(all_bytes(&reentry_sink, sizeof reentry_sink, 0));
}

/* Misuse: a trust callback (check_peer) that calls back into the handshake running it (next,
 * write, read, init, finish, seal...): every call is TETHER_ERR_BUSY and changes nothing; a call
 * on another handle works; the handshake then completes. */
static void test_reentry_check_peer(void) {
    static side_t ini, resp;
    static tether_handshake hi;
    static union {
        tether_handshake h;
        tether_session s;
    } ur;
    static tether_session si, sr;
    static pair_t other;
    static reentry_t r;

    pair_up(&other, PATTERN_IK, FRAMING_DATAGRAM, 0x800);
    configure(&ini, &resp, PATTERN_IK, FRAMING_DATAGRAM, 0x810);
    memset(&r, 0, sizeof r);
    r.u = (void *)&ur;
    r.cfg = &resp.cfg;
    r.plat = &resp.plat;
    r.other_a = &other.sa;
    r.action = SENT_ACTION;
    r.written = SENT_SIZE;
    CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
    CHECK_OK(tether_handshake_init_responder(&ur.h, &resp.cfg, &resp.plat));
    size_t n = hs_write(&hi);
    resp.env.ctx = &r;
    resp.env.on_check = reenter_handshake;
    CHECK_OK(tether_handshake_read(&ur.h, g_hs_msg, n));
    CHECK(resp.env.check_calls == 1);
    expect_busy_everywhere(&r);
    CHECK_RECORDED(r.st_other, TETHER_OK, "seal on another session from a callback");
    open_expect(&other.sb, r.other_rec, r.other_len, "from a callback");
    /* The responder goes on as if nothing happened. */
    CHECK(next_action(&ur.h) == TETHER_ACTION_WRITE);
    run_handshake(&hi, &ur.h);
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&ur.h, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
    pair_wipe(&other);
}

/* Misuse: a trust callback that wipes the handshake running it (to "abort" a connection).
 * "Called from one of this handshake's own callbacks, the wipe happens when the running call
 * returns": inside the callback the handle is still busy; after the call it is zeroed, with
 * nothing leaked, and every call on it is BAD_STATE. The initiator, on the other side, still
 * gets nothing valid. */
static void test_reentry_check_peer_wipe(void) {
    static side_t ini, resp;
    static tether_handshake hi;
    static union {
        tether_handshake h;
        tether_session s;
    } ur;
    static reentry_t r;
    tether_action a = SENT_ACTION;

    for (int side = 0; side < 2; side++) { /* the responder's callback, then the initiator's */
        configure(&ini, &resp, PATTERN_XX, FRAMING_STREAM, 0x820 + (uint64_t)side);
        memset(&r, 0, sizeof r);
        r.u = (void *)&ur;
        r.cfg = side == 0 ? &resp.cfg : &ini.cfg;
        r.plat = side == 0 ? &resp.plat : &ini.plat;
        r.wipe = 1;
        r.action = SENT_ACTION;
        r.written = SENT_SIZE;
        tether_handshake *h_ini = side == 0 ? &hi : &ur.h;
        tether_handshake *h_resp = side == 0 ? &ur.h : &hi;
        CHECK_OK(tether_handshake_init_initiator(h_ini, &ini.cfg, &ini.plat));
        CHECK_OK(tether_handshake_init_responder(h_resp, &resp.cfg, &resp.plat));
        /* XX: the initiator checks the responder at message 1, the responder the initiator at
         * message 2. */
        size_t n = hs_write(h_ini);
        CHECK_OK(tether_handshake_read(h_resp, g_hs_msg, n));
        n = hs_write(h_resp);
        env_t *e = side == 0 ? &resp.env : &ini.env;
        e->ctx = &r;
        e->on_check = reenter_handshake;
        if (side == 1) {
            tether_status st = tether_handshake_read(h_ini, g_hs_msg, n);
            fprintf(stderr, "  [%s] initiator read whose callback wiped it returned %d (%s)\n",
                    current_test, (int)st, tether_strerror(st));
            CHECK(status_known(st));
        } else {
            CHECK_OK(tether_handshake_read(h_ini, g_hs_msg, n));
            n = hs_write(h_ini);
            tether_status st = tether_handshake_read(h_resp, g_hs_msg, n);
            fprintf(stderr, "  [%s] responder read whose callback wiped it returned %d (%s)\n",
                    current_test, (int)st, tether_strerror(st));
            CHECK(status_known(st));
        }
        CHECK(e->check_calls == 1);
        expect_busy_everywhere(&r);
        CHECK_RECORDED(r.st_after_wipe, TETHER_ERR_BUSY, "next after a deferred wipe");
        /* The wipe took effect when the call returned. */
        CHECK(all_bytes(&ur, sizeof ur, 0));
        a = SENT_ACTION;
        CHECK_ST(tether_handshake_next(&ur.h, &a), TETHER_ERR_BAD_STATE);
        CHECK(a == SENT_ACTION);
        tether_handshake_wipe(&hi);
        /* The storage is reusable. */
        CHECK_OK(tether_handshake_init_initiator(&ur.h, &ini.cfg, &ini.plat));
        tether_handshake_wipe(&ur.h);
    }
}

/* Calls back into the handshake from fill_random (drawn while the handshake is set up). */
static void reenter_from_random(env_t *e) {
    reentry_t *r = e->ctx;
    uint8_t buf[TETHER_HANDSHAKE_MAX_LEN];
    r->ran++;
    r->st_next = tether_handshake_next(&r->u->h, &r->action);
    r->st_write = tether_handshake_write(&r->u->h, buf, sizeof buf, &r->written);
    r->st_init_i = tether_handshake_init_initiator(&r->u->h, r->cfg, r->plat);
    r->st_init_r = tether_handshake_init_responder(&r->u->h, r->cfg, r->plat);
    if (r->wipe) {
        tether_handshake_wipe(&r->u->h);
    }
}

/* Misuse: the entropy callback calling back into the handshake running it: a responder's read
 * of message 0 (BUSY everywhere, as for check_peer), and init, on fresh storage and over a live
 * handshake being replaced: init's own status list names "TETHER_ERR_BUSY (called from a
 * callback of this very handshake)". The outer call completes, the handshake works, nothing
 * leaks. */
static void test_reentry_fill_random(void) {
    static side_t ini, resp;
    static union {
        tether_handshake h;
        tether_session s;
    } ui;
    static tether_handshake hr;
    static tether_session si, sr;
    static reentry_t r;

    configure(&ini, &resp, PATTERN_IK, FRAMING_DATAGRAM, 0x830);

    /* A responder draws its ephemeral key while it reads message 0: fill_random then runs
     * inside that read, on this very handle. */
    static union {
        tether_handshake h;
        tether_session s;
    } ur;
    memset(&r, 0, sizeof r);
    r.u = (void *)&ur;
    r.cfg = &resp.cfg;
    r.plat = &resp.plat;
    r.action = SENT_ACTION;
    r.written = SENT_SIZE;
    CHECK_OK(tether_handshake_init_initiator(&ui.h, &ini.cfg, &ini.plat));
    CHECK_OK(tether_handshake_init_responder(&ur.h, &resp.cfg, &resp.plat));
    size_t n = hs_write(&ui.h);
    resp.env.ctx = &r;
    resp.env.on_random = reenter_handshake;
    unsigned before = resp.env.random_calls;
    CHECK_OK(tether_handshake_read(&ur.h, g_hs_msg, n));
    CHECK(resp.env.random_calls > before);
    expect_busy_everywhere(&r);
    run_handshake(&ui.h, &ur.h);
    CHECK_OK(tether_handshake_finish(&ui.h, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&ur.h, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);

    /* The initiator draws its ephemeral key in init: fill_random runs inside init. */
    for (int live = 0; live < 2; live++) {
        if (live) {
            CHECK_OK(tether_handshake_init_initiator(&ui.h, &ini.cfg, &ini.plat));
        }
        memset(&r, 0, sizeof r);
        r.u = (void *)&ui;
        r.cfg = &ini.cfg;
        r.plat = &ini.plat;
        r.action = SENT_ACTION;
        r.written = SENT_SIZE;
        ini.env.ctx = &r;
        ini.env.on_random = reenter_from_random;
        unsigned calls = ini.env.random_calls;
        CHECK_OK(tether_handshake_init_initiator(&ui.h, &ini.cfg, &ini.plat));
        CHECK(ini.env.random_calls > calls); /* "drawing its ephemeral key from the platform" */
        CHECK(r.ran == 1);
        fprintf(stderr, "  [%s] live=%d, from fill_random: next %d write %d init_i %d init_r %d\n",
                current_test, live, (int)r.st_next, (int)r.st_write, (int)r.st_init_i,
                (int)r.st_init_r);
        /* A nested init of the storage being initialized: BUSY (init's documented case). */
        CHECK_RECORDED(r.st_init_i, TETHER_ERR_BUSY, "init_initiator from fill_random in init");
        CHECK_RECORDED(r.st_init_r, TETHER_ERR_BUSY, "init_responder from fill_random in init");
        if (live) {
            /* The live handshake being replaced is the handle the running init works on. */
            CHECK_RECORDED(r.st_next, TETHER_ERR_BUSY, "next from fill_random during re-init");
            CHECK_RECORDED(r.st_write, TETHER_ERR_BUSY, "write from fill_random during re-init");
        } else {
            /* Fresh storage holds no handshake yet: BUSY or "BAD_STATE (hs holds no
             * handshake)" both fit the header. */
            CHECK(r.st_next == TETHER_ERR_BUSY || r.st_next == TETHER_ERR_BAD_STATE);
            CHECK(r.st_write == TETHER_ERR_BUSY || r.st_write == TETHER_ERR_BAD_STATE);
        }
        CHECK(r.action == SENT_ACTION && r.written == SENT_SIZE);
        CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
        run_handshake(&ui.h, &hr);
        CHECK_OK(tether_handshake_finish(&ui.h, &si, NULL, NULL));
        CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
        both_ways(&si, &sr);
        tether_session_wipe(&si);
        tether_session_wipe(&sr);
    }
    /* The entropy callback wiping the handshake being set up: the wipe happens when init
     * returns; the storage ends zeroed (whatever init returned) and nothing leaks. */
    memset(&r, 0, sizeof r);
    r.u = (void *)&ui;
    r.cfg = &ini.cfg;
    r.plat = &ini.plat;
    r.wipe = 1;
    ini.env.ctx = &r;
    ini.env.on_random = reenter_from_random;
    tether_status st = tether_handshake_init_initiator(&ui.h, &ini.cfg, &ini.plat);
    fprintf(stderr, "  [%s] init whose fill_random wiped it returned %d (%s)\n", current_test,
            (int)st, tether_strerror(st));
    CHECK(status_known(st));
    CHECK(r.ran == 1);
    CHECK(all_bytes(&ui, sizeof ui, 0));
    tether_handshake_wipe(&ui.h);
}

/* What a clock callback does to the session running it. */
typedef struct {
    tether_session *s;
    int wipe;
    int ran;
    tether_status st_seal, st_open, st_poll, st_update, st_close;
    size_t capacity, written;
    bool erased;
    uint8_t rec[64];
    size_t rec_len;
} clock_reentry_t;

static void reenter_session(env_t *e) {
    clock_reentry_t *c = e->ctx;
    uint8_t buf[128];
    size_t ku = SENT_SIZE;
    tether_event ev = SENT_EVENT;
    c->ran++;
    c->st_seal = tether_session_seal(c->s, U8("x"), 1, buf, sizeof buf, &c->written, &ku);
    c->capacity = tether_session_seal_capacity(c->s, 1);
    c->st_open = tether_session_open(c->s, c->rec, c->rec_len, buf, sizeof buf, &ev, &c->written);
    c->st_poll = tether_session_poll(c->s, &c->erased);
    c->st_update = tether_session_update_key(c->s, buf, sizeof buf, &c->written);
    c->st_close = tether_session_close(c->s, buf, sizeof buf, &c->written);
    if (c->wipe) {
        tether_session_wipe(c->s);
    }
}

/* Misuse: a monotonic_ms callback that calls back into the session running it (seal, open,
 * poll, update_key, close), then one that wipes it. BUSY, nothing changed; the wipe happens
 * when the running call returns. */
static void test_reentry_clock(void) {
    static pair_t p;
    static clock_reentry_t c;
    size_t ku = 0;

    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0x840);
    memset(&c, 0, sizeof c);
    c.s = &p.sb;
    c.written = SENT_SIZE;
    c.erased = true;
    /* A record for sb, to be offered to it from inside its own callback. */
    c.rec_len = seal_text(&p.sa, "in order", c.rec, sizeof c.rec, &ku);
    p.b.env.ctx = &c;
    p.b.env.on_clock = reenter_session;
    unsigned before = p.b.env.clock_calls;
    bool erased = true;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false);
    CHECK(p.b.env.clock_calls > before); /* poll reads the monotonic clock */
    CHECK(c.ran == 1);
    CHECK_RECORDED(c.st_seal, TETHER_ERR_BUSY, "seal from the session's clock callback");
    CHECK_RECORDED(c.st_open, TETHER_ERR_BUSY, "open from the session's clock callback");
    CHECK_RECORDED(c.st_poll, TETHER_ERR_BUSY, "poll from the session's clock callback");
    CHECK_RECORDED(c.st_update, TETHER_ERR_BUSY, "update_key from the clock callback");
    CHECK_RECORDED(c.st_close, TETHER_ERR_BUSY, "close from the clock callback");
    CHECK(c.capacity == 0);
    CHECK(c.written == SENT_SIZE && c.erased == true);
    /* Nothing changed: the record offered inside the callback opens now, in order. */
    open_expect(&p.sb, c.rec, c.rec_len, "in order");
    both_ways(&p.sa, &p.sb);

    /* The clock callback wipes the session: zeroed once poll returns. */
    memset(&c, 0, sizeof c);
    c.s = &p.sb;
    c.wipe = 1;
    p.b.env.ctx = &c;
    p.b.env.on_clock = reenter_session;
    tether_status st = tether_session_poll(&p.sb, &erased);
    fprintf(stderr, "  [%s] poll whose clock callback wiped the session returned %d (%s)\n",
            current_test, (int)st, tether_strerror(st));
    CHECK(status_known(st));
    CHECK(c.ran == 1);
    CHECK_RECORDED(c.st_seal, TETHER_ERR_BUSY, "seal from the clock callback (wipe case)");
    CHECK(all_bytes(&p.sb, sizeof p.sb, 0));
    size_t n = SENT_SIZE;
    uint8_t out[64];
    CHECK_ST(tether_session_seal(&p.sb, U8("x"), 1, out, sizeof out, &n, NULL),
             TETHER_ERR_BAD_STATE);
    pair_wipe(&p);
}

/* ------------------------------------------------------------------------------------------ */
/* 9. Safe defaults of a pairing responder                                                     */

/* A stranger's message 0 for `pattern` to the responder hr: returns the status of the read. */
static tether_status stranger_msg0(tether_handshake *hr, uint8_t pattern, uint8_t framing,
                                   uint8_t channel, const uint8_t responder_pub[32],
                                   uint64_t seed) {
    static side_t stranger;
    static tether_handshake hs;
    side_setup(&stranger, seed, STRANGER_SECRET, "intruder", framing);
    stranger.cfg.pattern = pattern;
    stranger.cfg.channel = channel;
    if (pattern == PATTERN_IK || pattern == PATTERN_KK) {
        stranger.cfg.peer_static_key = responder_pub;
    }
    CHECK_OK(tether_handshake_init_initiator(&hs, &stranger.cfg, &stranger.plat));
    size_t n = hs_write(&hs);
    tether_handshake_wipe(&hs);
    return tether_handshake_read(hr, g_hs_msg, n);
}

/* Pairing runs from the phone's handshake in hi to the device's in hr, to the end. */
static void complete_pairing(side_t *phone, side_t *dev, tether_handshake *hi,
                             tether_handshake *hr) {
    static tether_session si, sr;
    tether_peer peer, peer_i;
    CHECK_OK(tether_handshake_init_initiator(hi, &phone->cfg, &phone->plat));
    run_handshake(hi, hr);
    CHECK_OK(tether_handshake_finish(hi, &si, &peer_i, NULL));
    CHECK_OK(tether_handshake_finish(hr, &sr, &peer, NULL));
    CHECK(memcmp(peer.static_key, phone->pub, 32) == 0);
    CHECK(memcmp(peer_i.static_key, dev->pub, 32) == 0);
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* Misuse: a device configured for Pairing with the defaults of tether_config_init, left
 * waiting while strangers in radio range try Enrollment (XX), Provisioned (IK) and Reconnect
 * (KK). The defaults refuse them (TETHER_ERR_NOT_ALLOWED), the device keeps waiting, and the
 * phone that scanned the code then pairs. Explicitly allowed patterns behave as documented. */
static void test_pairing_responder_defaults(void) {
    static side_t phone, dev;
    static tether_handshake hi, hr;
    static tether_session s1, s2;
    const uint8_t framings[] = {FRAMING_DATAGRAM, FRAMING_STREAM};

    for (size_t f = 0; f < 2; f++) {
        const uint8_t framing = framings[f];
        configure(&phone, &dev, PATTERN_PAIRING, framing, 0x900 + f);
        CHECK(dev.cfg.allowed_patterns == 0 && dev.cfg.allow_without_code == false);
        CHECK_OK(tether_handshake_init_responder(&hr, &dev.cfg, &dev.plat));
        CHECK_ST(stranger_msg0(&hr, PATTERN_XX, framing, CHANNEL_DEVICE_PHONE, dev.pub,
                               0x910),
                 TETHER_ERR_NOT_ALLOWED);
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        CHECK_ST(stranger_msg0(&hr, PATTERN_IK, framing, CHANNEL_DEVICE_PHONE, dev.pub,
                               0x911),
                 TETHER_ERR_NOT_ALLOWED);
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        CHECK_ST(stranger_msg0(&hr, PATTERN_KK, framing, CHANNEL_DEVICE_PHONE, dev.pub,
                               0x912),
                 TETHER_ERR_NOT_ALLOWED);
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        CHECK(dev.env.check_calls == 0);
        complete_pairing(&phone, &dev, &hi, &hr);
    }

    /* XX and IK allowed by pattern, but a code is set and allow_without_code is false. */
    configure(&phone, &dev, PATTERN_PAIRING, FRAMING_DATAGRAM, 0x920);
    dev.cfg.allowed_patterns = (1u << PATTERN_PAIRING) | (1u << PATTERN_XX) | (1u << PATTERN_IK);
    CHECK_OK(tether_handshake_init_responder(&hr, &dev.cfg, &dev.plat));
    CHECK_ST(stranger_msg0(&hr, PATTERN_XX, FRAMING_DATAGRAM, CHANNEL_DEVICE_PHONE, dev.pub,
                           0x921),
             TETHER_ERR_NOT_ALLOWED);
    CHECK_ST(stranger_msg0(&hr, PATTERN_IK, FRAMING_DATAGRAM, CHANNEL_DEVICE_PHONE, dev.pub,
                           0x922),
             TETHER_ERR_NOT_ALLOWED);
    CHECK(next_action(&hr) == TETHER_ACTION_READ);
    complete_pairing(&phone, &dev, &hi, &hr);

    /* allow_without_code, but allowed_patterns left at 0 (only the configured Pairing). */
    configure(&phone, &dev, PATTERN_PAIRING, FRAMING_DATAGRAM, 0x930);
    dev.cfg.allow_without_code = true;
    CHECK_OK(tether_handshake_init_responder(&hr, &dev.cfg, &dev.plat));
    CHECK_ST(stranger_msg0(&hr, PATTERN_XX, FRAMING_DATAGRAM, CHANNEL_DEVICE_PHONE, dev.pub,
                           0x931),
             TETHER_ERR_NOT_ALLOWED);
    CHECK_ST(stranger_msg0(&hr, PATTERN_IK, FRAMING_DATAGRAM, CHANNEL_DEVICE_PHONE, dev.pub,
                           0x932),
             TETHER_ERR_NOT_ALLOWED);
    complete_pairing(&phone, &dev, &hi, &hr);

    /* Both: XX and IK are answered (here the trust callback accepts anyone), Pairing too. */
    static side_t other;
    for (uint8_t pattern = PATTERN_IK; pattern <= PATTERN_PAIRING; pattern++) {
        configure(&phone, &dev, PATTERN_PAIRING, FRAMING_DATAGRAM, 0x940 + pattern);
        dev.cfg.allow_without_code = true;
        dev.cfg.allowed_patterns =
            (1u << PATTERN_PAIRING) | (1u << PATTERN_XX) | (1u << PATTERN_IK);
        dev.env.accept_only = NULL;
        CHECK_OK(tether_handshake_init_responder(&hr, &dev.cfg, &dev.plat));
        if (pattern == PATTERN_PAIRING) {
            complete_pairing(&phone, &dev, &hi, &hr);
            continue;
        }
        side_setup(&other, 0x950, STRANGER_SECRET, "enroller", FRAMING_DATAGRAM);
        other.cfg.pattern = pattern;
        other.cfg.channel = CHANNEL_DEVICE_PHONE;
        other.cfg.peer_static_key = pattern == PATTERN_IK ? dev.pub : NULL;
        CHECK_OK(tether_handshake_init_initiator(&hi, &other.cfg, &other.plat));
        run_handshake(&hi, &hr);
        CHECK_OK(tether_handshake_finish(&hi, &s1, NULL, NULL));
        CHECK_OK(tether_handshake_finish(&hr, &s2, NULL, NULL));
        both_ways(&s1, &s2);
        tether_session_wipe(&s1);
        tether_session_wipe(&s2);
    }

    /* Reconnect (KK) from the known peer_static_key is answered while a code is set (when
     * allowed_patterns lists it); from a stranger it is refused and the device keeps waiting. */
    configure(&phone, &dev, PATTERN_PAIRING, FRAMING_DATAGRAM, 0x960);
    dev.cfg.allowed_patterns = (1u << PATTERN_PAIRING) | (1u << PATTERN_KK);
    dev.cfg.peer_static_key = phone.pub;
    CHECK_OK(tether_handshake_init_responder(&hr, &dev.cfg, &dev.plat));
    tether_status st =
        stranger_msg0(&hr, PATTERN_KK, FRAMING_DATAGRAM, CHANNEL_DEVICE_PHONE, dev.pub, 0x961);
    CHECK(st >= 20 && st <= 79 && status_known(st));
    CHECK(next_action(&hr) == TETHER_ACTION_READ);
    phone.cfg.pattern = PATTERN_KK;
    phone.cfg.peer_static_key = dev.pub;
    complete_pairing(&phone, &dev, &hi, &hr);
}

/* ------------------------------------------------------------------------------------------ */
/* 10. Responder availability                                                                  */

/* Misuse (of the network, by others): a single waiting responder receives a stranger's message
 * 0 first. IK: the stranger is refused by the trust policy, the responder goes back to waiting
 * and the genuine device completes. A retransmitted copy of the genuine message 0 is
 * TETHER_ERR_DUPLICATE once the reply is sent, and changes nothing. */
static void test_responder_availability_ik(void) {
    static side_t dev, cloud;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    uint8_t msg0[TETHER_HANDSHAKE_MAX_LEN], junk[64];
    const uint8_t framings[] = {FRAMING_DATAGRAM, FRAMING_STREAM};

    for (size_t f = 0; f < 2; f++) {
        configure(&dev, &cloud, PATTERN_IK, framings[f], 0xA00 + f);
        CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
        /* Garbage first (framed as a plausible stream unit), then a refused stranger. */
        memset(junk, 0x41, sizeof junk);
        junk[0] = 0;
        junk[1] = sizeof junk - 2;
        tether_status st = tether_handshake_read(&hr, junk, sizeof junk);
        CHECK(st >= 20 && st <= 59 && status_known(st));
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        CHECK_ST(stranger_msg0(&hr, PATTERN_IK, framings[f], cloud.cfg.channel, cloud.pub, 0xA10),
                 TETHER_ERR_UNKNOWN_PEER);
        CHECK(cloud.env.check_calls == 1);
        CHECK(next_action(&hr) == TETHER_ACTION_READ);
        /* The genuine device. */
        CHECK_OK(tether_handshake_init_initiator(&hi, &dev.cfg, &dev.plat));
        size_t l0 = hs_write_to(&hi, msg0);
        CHECK_OK(tether_handshake_read(&hr, msg0, l0));
        CHECK(next_action(&hr) == TETHER_ACTION_WRITE);
        /* A copy before the reply: the header documents both TETHER_ERR_BAD_STATE ("it is this
         * side's turn to write") and TETHER_ERR_DUPLICATE ("a copy of the message 0 it is
         * answering"; "resend the reply already sent, if any"). Either, and nothing changes. */
        st = tether_handshake_read(&hr, msg0, l0);
        CHECK(st == TETHER_ERR_BAD_STATE || st == TETHER_ERR_DUPLICATE);
        CHECK(next_action(&hr) == TETHER_ACTION_WRITE);
        size_t l1 = hs_write(&hr);
        static uint8_t msg1[TETHER_HANDSHAKE_MAX_LEN];
        memcpy(msg1, g_hs_msg, l1);
        CHECK(next_action(&hr) == TETHER_ACTION_FINISH);
        /* The copy after the reply: DUPLICATE, nothing changed. */
        CHECK_ST(tether_handshake_read(&hr, msg0, l0), TETHER_ERR_DUPLICATE);
        CHECK(next_action(&hr) == TETHER_ACTION_FINISH);
        CHECK(cloud.env.check_calls == 2);
        CHECK_OK(tether_handshake_read(&hi, msg1, l1));
        CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
        CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
        both_ways(&si, &sr);
        tether_session_wipe(&si);
        tether_session_wipe(&sr);
    }
}

/* XX: the stranger's message 0 cannot be judged (no identity yet): the responder takes it.
 * (a) The stranger's message 2 is refused by policy: back to waiting; the genuine device
 * completes. (b) The genuine device's message 0 arrives while the responder waits for the
 * stranger's message 2: it replaces that handshake; the stranger's late message 2 is refused;
 * (c) the genuine message 0 arrives before the responder has even replied to the stranger:
 * "a new message 0 that is accepted replaces the handshake in progress" (the header also lists
 * BAD_STATE for a read when "it is this side's turn to write"; the availability promise is the
 * one expected here). In all cases a copy of the genuine message 0 after the reply is
 * DUPLICATE and the genuine device completes. */
static void test_responder_availability_xx(void) {
    static side_t dev, cloud, stranger;
    static tether_handshake hi, hr, hx;
    static tether_session si, sr;
    static uint8_t msg0[TETHER_HANDSHAKE_MAX_LEN], smsg2[TETHER_HANDSHAKE_MAX_LEN];
    const uint8_t framings[] = {FRAMING_DATAGRAM, FRAMING_STREAM};

    for (size_t f = 0; f < 2; f++) {
        for (int variant = 0; variant < 3; variant++) {
            configure(&dev, &cloud, PATTERN_XX, framings[f], 0xB00 + 3 * f + (uint64_t)variant);
            side_setup(&stranger, 0xB10, STRANGER_SECRET, "intruder", framings[f]);
            stranger.cfg.pattern = PATTERN_XX;
            CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
            CHECK_OK(tether_handshake_init_initiator(&hx, &stranger.cfg, &stranger.plat));
            size_t n = hs_write(&hx);
            CHECK_OK(tether_handshake_read(&hr, g_hs_msg, n));
            size_t ls2 = 0;
            if (variant < 2) {
                n = hs_write(&hr);
                CHECK_OK(tether_handshake_read(&hx, g_hs_msg, n)); /* the stranger accepts all */
                ls2 = hs_write_to(&hx, smsg2);
                CHECK(next_action(&hr) == TETHER_ACTION_READ);
            } else {
                CHECK(next_action(&hr) == TETHER_ACTION_WRITE); /* not replied yet */
            }
            tether_handshake_wipe(&hx);
            if (variant == 0) {
                CHECK_ST(tether_handshake_read(&hr, smsg2, ls2), TETHER_ERR_UNKNOWN_PEER);
                CHECK(next_action(&hr) == TETHER_ACTION_READ);
            }
            CHECK_OK(tether_handshake_init_initiator(&hi, &dev.cfg, &dev.plat));
            size_t l0 = hs_write_to(&hi, msg0);
            CHECK_OK(tether_handshake_read(&hr, msg0, l0));
            size_t l1 = hs_write(&hr);
            CHECK_OK(tether_handshake_read(&hi, g_hs_msg, l1));
            if (variant == 1) {
                tether_status st = tether_handshake_read(&hr, smsg2, ls2);
                CHECK(st >= 20 && st <= 79 && status_known(st));
                CHECK(next_action(&hr) == TETHER_ACTION_READ);
            }
            CHECK_ST(tether_handshake_read(&hr, msg0, l0), TETHER_ERR_DUPLICATE);
            CHECK(next_action(&hr) == TETHER_ACTION_READ);
            size_t l2 = hs_write(&hi);
            CHECK_OK(tether_handshake_read(&hr, g_hs_msg, l2));
            CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
            CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
            both_ways(&si, &sr);
            tether_session_wipe(&si);
            tether_session_wipe(&sr);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* 11. Smaller points from the header                                                          */

/* tether_decoder_next on a broken stream: "on error *consumed is 0, *unit NULL, *unit_len 0",
 * and "the same error repeats on every later call", valid input or not. */
static void test_decoder_broken_stream_outputs(void) {
    static const uint8_t oversized[] = {0xFF, 0xFF, 1, 2, 3};
    static const uint8_t zero[] = {0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c'};
    static tether_decoder dec; /* static: still reachable if the test is abandoned */
    size_t used, ulen;
    const uint8_t *unit;

    for (int kind = 0; kind < 3; kind++) {
        CHECK_OK(tether_decoder_init(&dec, 100));
        tether_status want = kind == 1 ? TETHER_ERR_TRUNCATED : TETHER_ERR_OVERSIZED;
        if (kind == 2) {
            /* The oversized prefix split across two calls: the first byte is taken. */
            CHECK_OK(tether_decoder_next(&dec, oversized, 1, &used, &unit, &ulen));
            CHECK(used == 1 && unit == NULL && ulen == 0);
        }
        const uint8_t *in = kind == 1 ? zero : kind == 2 ? oversized + 1 : oversized;
        size_t in_len =
            kind == 1 ? sizeof zero : kind == 2 ? sizeof oversized - 1 : sizeof oversized;
        /* "Nothing of the bad prefix is consumed, so the same bytes give the same error again"
         * (a caller that keeps feeding the unconsumed bytes never gets past it). */
        for (int again = 0; again < 3; again++) {
            used = ulen = SENT_SIZE;
            unit = U8("sentinel");
            CHECK_ST(tether_decoder_next(&dec, in, in_len, &used, &unit, &ulen), want);
            CHECK(used == 0);
            CHECK(unit == NULL);
            CHECK(ulen == 0);
        }
        tether_decoder_wipe(&dec);
    }
}

/* Datagrams: a data record reordered behind the peer's close is delivered ("records it sealed
 * before the close may still arrive (reordered) and are delivered"); the closed side can seal
 * nothing more (seal, update_key, close: BAD_STATE) but goes on opening until the peer closes. */
static void test_datagram_close_reordered(void) {
    static pair_t p;
    static uint8_t d1[128], d2[128], c[64];
    size_t ku = 0, n = SENT_SIZE;
    uint8_t out[128];

    pair_up(&p, PATTERN_IK, FRAMING_DATAGRAM, 0xC00);
    size_t l1 = seal_text(&p.sa, "sealed first", d1, sizeof d1, &ku);
    size_t l2 = seal_text(&p.sa, "sealed second", d2, sizeof d2, &ku);
    CHECK_OK(tether_session_close(&p.sa, c, sizeof c, &n));
    CHECK(n == TETHER_DATAGRAM_OVERHEAD);
    size_t lc = n;
    n = SENT_SIZE;
    CHECK_ST(tether_session_seal(&p.sa, U8("late"), 4, out, sizeof out, &n, &ku),
             TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_session_update_key(&p.sa, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_session_close(&p.sa, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE);
    /* The close arrives first, then the data in reverse order. */
    open_expect_event(&p.sb, c, lc, TETHER_EVENT_CLOSE);
    open_expect(&p.sb, d2, l2, "sealed second");
    open_expect(&p.sb, d1, l1, "sealed first");
    /* Replays after the close are still replays. */
    tether_event ev = SENT_EVENT;
    uint8_t data[64];
    CHECK_ST(tether_session_open(&p.sb, d1, l1, data, sizeof data, &ev, &n), TETHER_ERR_REPLAYED);
    CHECK_ST(tether_session_open(&p.sb, c, lc, data, sizeof data, &ev, &n), TETHER_ERR_REPLAYED);
    CHECK(ev == SENT_EVENT);
    /* The side that closed still opens what its peer sends. */
    send_recv(&p.sb, &p.sa, "still listening");
    pair_wipe(&p);
}

/* A replayed record: TETHER_ERR_OUT_OF_ORDER on a stream ("never as TETHER_ERR_REPLAYED"),
 * TETHER_ERR_REPLAYED on datagrams; a skipped record on a stream is OUT_OF_ORDER and changes
 * nothing; datagrams accept reordering. */
static void test_replay_stream_vs_datagram(void) {
    static pair_t p;
    static uint8_t r1[64], r2[64], r3[64];
    size_t ku = 0, n = SENT_SIZE;
    uint8_t data[64];
    tether_event ev = SENT_EVENT;

    for (uint8_t framing = FRAMING_STREAM; framing <= FRAMING_DATAGRAM; framing++) {
        pair_up(&p, PATTERN_XX, framing, 0xC10 + framing);
        size_t l1 = seal_text(&p.sa, "one", r1, sizeof r1, &ku);
        size_t l2 = seal_text(&p.sa, "two", r2, sizeof r2, &ku);
        size_t l3 = seal_text(&p.sa, "three", r3, sizeof r3, &ku);
        open_expect(&p.sb, r1, l1, "one");
        const tether_status replay =
            framing == FRAMING_STREAM ? TETHER_ERR_OUT_OF_ORDER : TETHER_ERR_REPLAYED;
        CHECK_ST(tether_session_open(&p.sb, r1, l1, data, sizeof data, &ev, &n), replay);
        CHECK(ev == SENT_EVENT && n == SENT_SIZE);
        if (framing == FRAMING_STREAM) {
            CHECK_ST(tether_session_open(&p.sb, r3, l3, data, sizeof data, &ev, &n),
                     TETHER_ERR_OUT_OF_ORDER);
            open_expect(&p.sb, r2, l2, "two");
            open_expect(&p.sb, r3, l3, "three");
        } else {
            open_expect(&p.sb, r3, l3, "three");
            open_expect(&p.sb, r2, l2, "two");
            CHECK_ST(tether_session_open(&p.sb, r2, l2, data, sizeof data, &ev, &n),
                     TETHER_ERR_REPLAYED);
        }
        CHECK_ST(tether_session_open(&p.sb, r3, l3, data, sizeof data, &ev, &n), replay);
        both_ways(&p.sa, &p.sb);
        pair_wipe(&p);
    }
}

/* tether_session_poll with a fake clock: the previous receive key is erased once
 * previous_key_ms have passed since the peer's key update, not before; `*erased` says so once;
 * a datagram from the old epoch is then TOO_OLD (before, it was delivered). Opening a record
 * erases too. */
static void test_poll_with_fake_clock(void) {
    static pair_t p;
    static uint8_t r1[64], r2[64], k[64], r3[64];
    size_t ku = 0, n = 0;
    bool erased = true;
    uint8_t data[64];
    tether_event ev = SENT_EVENT;

    memset(&p, 0, sizeof p);
    p.framing = FRAMING_DATAGRAM;
    configure(&p.a, &p.b, PATTERN_IK, FRAMING_DATAGRAM, 0xC20);
    p.a.cfg.previous_key_ms = p.b.cfg.previous_key_ms = 500;
    establish_in(&p.a, &p.b, &p.ha, &p.hb, &p.sa, &p.sb);

    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false); /* no key update yet */
    CHECK_OK(tether_session_poll(&p.sb, NULL));
    size_t l1 = seal_text(&p.sa, "epoch 0, first", r1, sizeof r1, &ku);
    size_t l2 = seal_text(&p.sa, "epoch 0, late", r2, sizeof r2, &ku);
    CHECK_OK(tether_session_update_key(&p.sa, k, sizeof k, &n));
    CHECK(n == TETHER_DATAGRAM_OVERHEAD);
    open_expect_event(&p.sb, k, n, TETHER_EVENT_KEY_UPDATE);
    erased = true;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false);
    open_expect(&p.sb, r1, l1, "epoch 0, first"); /* the previous key still opens */
    p.b.env.now_ms += 499;
    erased = true;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false);
    p.b.env.now_ms += 2; /* 501 ms after the update */
    erased = false;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == true);
    erased = true;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false); /* nothing left to erase */
    CHECK_ST(tether_session_open(&p.sb, r2, l2, data, sizeof data, &ev, &n), TETHER_ERR_TOO_OLD);
    CHECK(ev == SENT_EVENT);
    size_t l3 = seal_text(&p.sa, "epoch 1", r3, sizeof r3, &ku);
    open_expect(&p.sb, r3, l3, "epoch 1");

    /* Opening a record after the period also erases: poll finds nothing afterwards. */
    CHECK_OK(tether_session_update_key(&p.sa, k, sizeof k, &n));
    open_expect_event(&p.sb, k, n, TETHER_EVENT_KEY_UPDATE);
    l2 = seal_text(&p.sa, "epoch 2", r2, sizeof r2, &ku);
    p.b.env.now_ms += 600;
    open_expect(&p.sb, r2, l2, "epoch 2");
    erased = true;
    CHECK_OK(tether_session_poll(&p.sb, &erased));
    CHECK(erased == false);
    pair_wipe(&p);
}

/* A maximal identity: every field at its documented maximum, with a credential. */
static void max_identity(side_t *sd) {
    static const uint8_t id[32] = "0123456789abcdef0123456789ABCDEF";
    static const uint8_t model[32] = "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM";
    static const uint8_t version[16] = "1.22.333-4444-55";
    static const uint8_t key_id[16] = "kkkkkkkkkkkkkkkk";
    static const uint8_t issuer[16] = "issuer-16-bytes!";
    static uint8_t sig[64];
    memset(sig, 0x5C, sizeof sig);
    sd->cfg.identity.id = id;
    sd->cfg.identity.id_len = sizeof id;
    sd->cfg.identity.model = model;
    sd->cfg.identity.model_len = sizeof model;
    sd->cfg.identity.version = version;
    sd->cfg.identity.version_len = sizeof version;
    sd->cfg.identity.key_id = key_id;
    sd->cfg.identity.key_id_len = sizeof key_id;
    sd->cfg.identity.has_credential = true;
    sd->cfg.identity.credential_not_before = UINT64_MAX - 1;
    sd->cfg.identity.credential_not_after = UINT64_MAX;
    sd->cfg.identity.credential_issuer = issuer;
    sd->cfg.identity.credential_issuer_len = sizeof issuer;
    sd->cfg.identity.credential_signature = sig;
}

/* The size macros, used for static buffers (see the top of this file), suffice for every
 * handshake message of every pattern in both framings with maximal identities, for every
 * record (largest plaintext, with a key update in front), and for every unit the decoder
 * returns. */
static void test_size_macros_suffice(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static tether_decoder dec;
    static uint8_t context[64];
    size_t largest_msg = 0;

    for (uint8_t framing = FRAMING_STREAM; framing <= FRAMING_DATAGRAM; framing++) {
        for (uint8_t pattern = PATTERN_IK; pattern <= PATTERN_KK; pattern++) {
            configure(&ini, &resp, pattern, framing, 0xC30 + pattern);
            max_identity(&ini);
            max_identity(&resp);
            memset(context, 0xC7, sizeof context);
            ini.cfg.context = resp.cfg.context = context;
            ini.cfg.context_len = resp.cfg.context_len = sizeof context;
            ini.cfg.key_update_records = resp.cfg.key_update_records = 1;
            CHECK_OK(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat));
            CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
            /* A decoder for the smallest max_plaintext still takes every handshake message. */
            CHECK_OK(tether_decoder_init(&dec, 1));
            for (int steps = 0;; steps++) {
                CHECK(steps < 10);
                tether_action ai = next_action(&hi), ar = next_action(&hr);
                if (ai == TETHER_ACTION_FINISH && ar == TETHER_ACTION_FINISH) {
                    break;
                }
                tether_handshake *from = ai == TETHER_ACTION_WRITE ? &hi : &hr;
                tether_handshake *to = ai == TETHER_ACTION_WRITE ? &hr : &hi;
                size_t need = SENT_SIZE;
                CHECK_ST(tether_handshake_write(from, NULL, 0, &need), TETHER_ERR_BUFFER_TOO_SMALL);
                CHECK(need <= TETHER_HANDSHAKE_MAX_LEN);
                size_t n = hs_write(from); /* into g_hs_msg[TETHER_HANDSHAKE_MAX_LEN] */
                CHECK(n == need);
                largest_msg = n > largest_msg ? n : largest_msg;
                if (framing == FRAMING_STREAM) {
                    size_t used = 0, ulen = 0;
                    const uint8_t *unit = NULL;
                    CHECK_OK(tether_decoder_next(&dec, g_hs_msg, n, &used, &unit, &ulen));
                    CHECK(used == n && ulen == n && ulen <= sizeof g_unit_small);
                    memcpy(g_unit_small, unit, ulen);
                    CHECK_OK(tether_handshake_read(to, g_unit_small, ulen));
                } else {
                    CHECK_OK(tether_handshake_read(to, g_hs_msg, n));
                }
            }
            tether_decoder_wipe(&dec);
            CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
            CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));

            /* Records of the largest plaintext; from the second one on, a key update is due
             * first. */
            const size_t over = framing == FRAMING_STREAM ? TETHER_STREAM_OVERHEAD
                                                          : TETHER_DATAGRAM_OVERHEAD;
            CHECK_OK(tether_decoder_init(&dec, TETHER_MAX_PLAINTEXT));
            for (int rec = 0; rec < 3; rec++) {
                size_t n = 0, ku = SENT_SIZE;
                memset(g_plain, 'a' + rec, sizeof g_plain);
                size_t cap = tether_session_seal_capacity(&si, sizeof g_plain);
                CHECK(cap >= sizeof g_plain + over && cap <= sizeof g_sealed);
                CHECK_OK(tether_session_seal(&si, g_plain, sizeof g_plain, g_sealed,
                                             sizeof g_sealed, &n, &ku));
                CHECK(ku == (rec == 0 ? 0 : over));
                CHECK(n == ku + sizeof g_plain + over && n <= cap);
                size_t pos = 0;
                int units = 0;
                while (pos < n) {
                    const uint8_t *unit = g_sealed + pos;
                    size_t ulen = pos == 0 && ku > 0 ? ku : n - pos;
                    if (framing == FRAMING_STREAM) {
                        size_t used = 0;
                        CHECK_OK(tether_decoder_next(&dec, g_sealed + pos, n - pos, &used, &unit,
                                                     &ulen));
                        CHECK(unit != NULL && used == ulen);
                    }
                    CHECK(ulen <= TETHER_UNIT_CAPACITY(TETHER_MAX_PLAINTEXT));
                    tether_event ev = SENT_EVENT;
                    size_t dl = SENT_SIZE;
                    CHECK_OK(tether_session_open(&sr, unit, ulen, g_opened, sizeof g_opened, &ev,
                                                 &dl));
                    if (ev == TETHER_EVENT_DATA) {
                        CHECK(dl == sizeof g_plain && memcmp(g_opened, g_plain, dl) == 0);
                    } else {
                        CHECK(ev == TETHER_EVENT_KEY_UPDATE && ku > 0 && pos == 0);
                    }
                    pos += ulen;
                    units++;
                }
                CHECK(units == (ku > 0 ? 2 : 1));
            }
            tether_decoder_wipe(&dec);
            tether_session_wipe(&si);
            tether_session_wipe(&sr);
        }
    }
    fprintf(stderr, "  [%s] largest handshake message: %zu bytes (TETHER_HANDSHAKE_MAX_LEN %d)\n",
            current_test, largest_msg, TETHER_HANDSHAKE_MAX_LEN);
    CHECK(largest_msg <= TETHER_HANDSHAKE_MAX_LEN);
}

/* ------------------------------------------------------------------------------------------ */
/* 12. Other misuse the header promises to survive                                             */

/* Misuse: the config and platform built in a stack frame that is gone (here: overwritten) right
 * after init, and the secret zeroed by the caller once "used". Config pointers "are read during
 * the init call only"; the platform is "copied into each handshake and session at init". */
static void test_config_and_platform_are_copied(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t secret[32], id[16], peer_key[32];
    static tether_config cfg;
    static tether_platform plat;
    tether_peer peer;

    configure(&ini, &resp, PATTERN_IK, FRAMING_DATAGRAM, 0xD00);
    memcpy(secret, DEVICE_SECRET, 32);
    memcpy(id, "volatile-id", 11);
    memcpy(peer_key, resp.pub, 32);
    cfg = ini.cfg;
    cfg.static_secret = secret;
    cfg.identity.id = id;
    cfg.identity.id_len = 11;
    cfg.peer_static_key = peer_key;
    plat = ini.plat;
    CHECK_OK(tether_handshake_init_initiator(&hi, &cfg, &plat));
    memset(secret, 0, sizeof secret);
    memset(id, 'X', sizeof id);
    memset(peer_key, 0xEE, sizeof peer_key);
    memset(&cfg, 0xEE, sizeof cfg);
    memset(&plat, 0, sizeof plat); /* fill_random NULL, user NULL: no longer looked at */
    CHECK_OK(tether_handshake_init_responder(&hr, &resp.cfg, &resp.plat));
    run_handshake(&hi, &hr);
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, &peer, NULL));
    CHECK(peer.id_len == 11 && memcmp(peer.id, "volatile-id", 11) == 0);
    CHECK(memcmp(peer.static_key, ini.pub, 32) == 0);
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* Misuse: re-initializing live storage with a bad configuration or failing entropy. "On error
 * hs is left as it was" / "On error dec is left as it was": the live object keeps working. */
static void test_failed_reinit_keeps_object(void) {
    static side_t ini, resp;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static uint8_t snap[sizeof(tether_handshake)];
    static tether_config bad;
    uint8_t msg1[TETHER_HANDSHAKE_MAX_LEN];
    tether_decoder dec = {0};
    size_t used = 0, ulen = 0;
    const uint8_t *unit = NULL;

    configure(&ini, &resp, PATTERN_IK, FRAMING_STREAM, 0xD10);
    size_t l1 = start_exchange(&ini, &resp, &hi, &hr, msg1);
    memcpy(snap, &hi, sizeof snap);
    bad = ini.cfg;
    bad.max_plaintext = 0;
    CHECK_ST(tether_handshake_init_initiator(&hi, &bad, &ini.plat), TETHER_ERR_BAD_CONFIG);
    bad = ini.cfg;
    bad.peer_static_key = NULL; /* required for Provisioned */
    CHECK_ST(tether_handshake_init_initiator(&hi, &bad, &ini.plat), TETHER_ERR_BAD_CONFIG);
    bad = ini.cfg;
    bad.static_secret = NULL;
    CHECK_ST(tether_handshake_init_initiator(&hi, &bad, &ini.plat), TETHER_ERR_NULL);
    bad = ini.cfg;
    bad.suite = 200;
    tether_status st = tether_handshake_init_initiator(&hi, &bad, &ini.plat);
    CHECK(st == TETHER_ERR_BAD_CONFIG || st == TETHER_ERR_NOT_ALLOWED);
    ini.env.fail_random = 1;
    CHECK_ST(tether_handshake_init_initiator(&hi, &ini.cfg, &ini.plat), TETHER_ERR_ENTROPY);
    ini.env.fail_random = 0;
    CHECK(same_storage(snap, &hi, sizeof snap));
    CHECK_OK(tether_handshake_read(&hi, msg1, l1));
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);

    CHECK_OK(tether_decoder_init(&dec, 100));
    CHECK_OK(tether_decoder_next(&dec, U8("\x00\x03o"), 3, &used, &unit, &ulen));
    CHECK_ST(tether_decoder_init(&dec, 0), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_decoder_init(&dec, TETHER_MAX_PLAINTEXT + 1), TETHER_ERR_BAD_CONFIG);
    CHECK_OK(tether_decoder_next(&dec, U8("ld"), 2, &used, &unit, &ulen));
    CHECK(used == 2 && ulen == 5 && memcmp(unit, "\x00\x03old", 5) == 0);
    tether_decoder_wipe(&dec);
}

/* Misuse: a configuration not filled by tether_config_init (`= {0}` plus the secret and the
 * identity): the zero suite, pattern, channel, framing and limits are out of range. A pairing
 * code passed with its NUL (sizeof a C string): invalid text. */
static void test_config_without_config_init(void) {
    static side_t ini, resp;
    static tether_handshake hs;
    tether_config cfg = {0};
    char code[TETHER_PAIRING_CODE_LEN + 1];

    configure(&ini, &resp, PATTERN_PAIRING, FRAMING_DATAGRAM, 0xD20);
    cfg.static_secret = DEVICE_SECRET;
    cfg.identity = ini.cfg.identity;
    CHECK_ST(tether_handshake_init_initiator(&hs, &cfg, &ini.plat), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_handshake_init_responder(&hs, &cfg, &ini.plat), TETHER_ERR_BAD_CONFIG);
    CHECK(all_bytes(&hs, sizeof hs, 0));

    memcpy(code, ini.code, TETHER_PAIRING_CODE_LEN);
    code[TETHER_PAIRING_CODE_LEN] = '\0';
    tether_config with_nul = ini.cfg;
    with_nul.pairing_code = (const uint8_t *)code;
    with_nul.pairing_code_len = sizeof code;
    CHECK_ST(tether_handshake_init_initiator(&hs, &with_nul, &ini.plat), TETHER_ERR_PAIRING_CODE);
    CHECK_ST(tether_handshake_init_responder(&hs, &with_nul, &ini.plat), TETHER_ERR_PAIRING_CODE);
    CHECK(all_bytes(&hs, sizeof hs, 0));
    with_nul.pairing_code_len = TETHER_PAIRING_CODE_LEN;
    CHECK_OK(tether_handshake_init_initiator(&hs, &with_nul, &ini.plat));
    tether_handshake_wipe(&hs);
}

/* Misuse: empty buffers (NULL with length 0, allowed) where something is expected, and open
 * used as a size query (NULL output) on a stream: "the plaintext size is stored in *data_len:
 * call again with a larger out" - the record is not consumed. */
static void test_empty_inputs_and_size_query(void) {
    static pair_t p;
    static tether_handshake hr;
    static uint8_t rec[TETHER_SEAL_CAPACITY(64)], k[64];
    tether_decoder dec = {0};
    tether_event ev = SENT_EVENT;
    size_t n = SENT_SIZE, ku = SENT_SIZE, used = SENT_SIZE, ulen = SENT_SIZE, dl = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");
    uint8_t data[64];

    pair_up(&p, PATTERN_IK, FRAMING_STREAM, 0xD30);
    CHECK_OK(tether_handshake_init_responder(&hr, &p.b.cfg, &p.b.plat));
    CHECK_ST(tether_handshake_read(&hr, NULL, 0), TETHER_ERR_TRUNCATED);
    CHECK(next_action(&hr) == TETHER_ACTION_READ);
    tether_handshake_wipe(&hr);
    CHECK_ST(tether_session_open(&p.sb, NULL, 0, data, sizeof data, &ev, &dl),
             TETHER_ERR_TRUNCATED);
    CHECK(ev == SENT_EVENT);
    CHECK_OK(tether_decoder_init(&dec, 64));
    CHECK_OK(tether_decoder_next(&dec, NULL, 0, &used, &unit, &ulen));
    CHECK(used == 0 && unit == NULL && ulen == 0);
    tether_decoder_wipe(&dec);

    /* An empty message is a data record. */
    CHECK_OK(tether_session_seal(&p.sa, NULL, 0, rec, sizeof rec, &n, &ku));
    CHECK(ku == 0 && n == TETHER_STREAM_OVERHEAD);
    CHECK_OK(tether_session_open(&p.sb, rec, n, NULL, 0, &ev, &dl));
    CHECK(ev == TETHER_EVENT_DATA && dl == 0);

    /* Size query on open. */
    size_t rl = seal_text(&p.sa, "how big?", rec, sizeof rec, &ku);
    ev = SENT_EVENT;
    dl = SENT_SIZE;
    CHECK_ST(tether_session_open(&p.sb, rec, rl, NULL, 0, &ev, &dl), TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(dl == 8 && ev == SENT_EVENT);
    memset(data, 0xEE, sizeof data);
    CHECK_ST(tether_session_open(&p.sb, rec, rl, data, 7, &ev, &dl), TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(dl == 8 && ev == SENT_EVENT && all_bytes(data, sizeof data, 0xEE));
    open_expect(&p.sb, rec, rl, "how big?");
    /* A key update carries nothing: no output buffer needed. */
    CHECK_OK(tether_session_update_key(&p.sa, k, sizeof k, &n));
    CHECK_OK(tether_session_open(&p.sb, k, n, NULL, 0, &ev, &dl));
    CHECK(ev == TETHER_EVENT_KEY_UPDATE && dl == 0);
    both_ways(&p.sa, &p.sb);
    pair_wipe(&p);
}

/* Misuse: on datagrams, a retransmitted handshake message arriving after the handshake is
 * finished is fed to the session: TETHER_ERR_UNEXPECTED_MESSAGE ("a handshake message"),
 * nothing changed. */
static void test_handshake_message_to_session(void) {
    static side_t dev, cloud;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    uint8_t msg0[TETHER_HANDSHAKE_MAX_LEN], msg1[TETHER_HANDSHAKE_MAX_LEN], data[64];
    tether_event ev = SENT_EVENT;
    size_t dl = SENT_SIZE;

    configure(&dev, &cloud, PATTERN_IK, FRAMING_DATAGRAM, 0xD40);
    CHECK_OK(tether_handshake_init_initiator(&hi, &dev.cfg, &dev.plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
    size_t l0 = hs_write_to(&hi, msg0);
    CHECK_OK(tether_handshake_read(&hr, msg0, l0));
    size_t l1 = hs_write_to(&hr, msg1);
    CHECK_OK(tether_handshake_read(&hi, msg1, l1));
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    CHECK_ST(tether_session_open(&si, msg1, l1, data, sizeof data, &ev, &dl),
             TETHER_ERR_UNEXPECTED_MESSAGE);
    CHECK_ST(tether_session_open(&sr, msg0, l0, data, sizeof data, &ev, &dl),
             TETHER_ERR_UNEXPECTED_MESSAGE);
    CHECK(ev == SENT_EVENT && dl == SENT_SIZE);
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* Misuse: an initiator whose responder was refused, used again without init: it is FAILED,
 * every step is BAD_STATE; "initialize it again" works. */
static void test_failed_initiator_reuse(void) {
    static side_t dev, cloud;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    uint8_t out[TETHER_HANDSHAKE_MAX_LEN];
    size_t n = SENT_SIZE;

    configure(&dev, &cloud, PATTERN_XX, FRAMING_DATAGRAM, 0xD50);
    dev.env.accept_only = STRANGER_SECRET; /* not the cloud's key: the cloud is refused */
    CHECK_OK(tether_handshake_init_initiator(&hi, &dev.cfg, &dev.plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
    n = hs_write(&hi);
    CHECK_OK(tether_handshake_read(&hr, g_hs_msg, n));
    n = hs_write(&hr);
    CHECK_ST(tether_handshake_read(&hi, g_hs_msg, n), TETHER_ERR_UNKNOWN_PEER);
    CHECK(next_action(&hi) == TETHER_ACTION_FAILED);
    n = SENT_SIZE;
    CHECK_ST(tether_handshake_write(&hi, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK(n == SENT_SIZE);
    CHECK_ST(tether_handshake_read(&hi, g_hs_msg, 40), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_finish(&hi, &si, NULL, NULL), TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(&si, sizeof si, 0));
    CHECK(next_action(&hi) == TETHER_ACTION_FAILED);
    dev.env.accept_only = cloud.pub;
    CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
    establish_in(&dev, &cloud, &hi, &hr, &si, &sr); /* init over the failed handshake */
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
}

/* Misuse: the two sides configured with different max_plaintext (firmware short of RAM picks
 * 1000, the cloud keeps the default). "both sides must use the same value (a record above the
 * receiver's maximum is refused with TETHER_ERR_OVERSIZED)": the receiver's decoder refuses the
 * length prefix, and open refuses the unit, changing nothing (a small record then opens on
 * datagrams). */
static void test_mismatched_max_plaintext(void) {
    static side_t cloud, dev;
    static tether_handshake hc, hd;
    static tether_session sc, sd;
    static tether_decoder dec;
    static uint8_t small[64];
    size_t used = SENT_SIZE, ulen = SENT_SIZE, ku = 0, n = 0, dl = SENT_SIZE;
    const uint8_t *unit = U8("sentinel");
    tether_event ev = SENT_EVENT;

    for (uint8_t framing = FRAMING_STREAM; framing <= FRAMING_DATAGRAM; framing++) {
        configure(&dev, &cloud, PATTERN_IK, framing, 0xD70 + framing);
        dev.cfg.max_plaintext = 1000;
        establish_in(&dev, &cloud, &hd, &hc, &sd, &sc);
        memset(g_plain, 'p', 2000);
        /* The device cannot seal above its own maximum. */
        CHECK_ST(tether_session_seal(&sd, g_plain, 1001, g_sealed, sizeof g_sealed, &n, &ku),
                 TETHER_ERR_PLAINTEXT_TOO_LARGE);
        CHECK_OK(tether_session_seal(&sc, g_plain, 2000, g_sealed, sizeof g_sealed, &n, &ku));
        CHECK(ku == 0);
        if (framing == FRAMING_STREAM) {
            CHECK_OK(tether_decoder_init(&dec, 1000));
            CHECK_ST(tether_decoder_next(&dec, g_sealed, n, &used, &unit, &ulen),
                     TETHER_ERR_OVERSIZED);
            CHECK(used == 0 && unit == NULL && ulen == 0);
            tether_decoder_wipe(&dec);
        }
        CHECK_ST(tether_session_open(&sd, g_sealed, n, g_opened, sizeof g_opened, &ev, &dl),
                 TETHER_ERR_OVERSIZED);
        CHECK(ev == SENT_EVENT && dl == SENT_SIZE);
        if (framing == FRAMING_DATAGRAM) {
            size_t sl = seal_text(&sc, "small enough", small, sizeof small, &ku);
            open_expect(&sd, small, sl, "small enough");
            send_recv(&sd, &sc, "device to cloud");
        }
        tether_session_wipe(&sc);
        tether_session_wipe(&sd);
    }
}

/* Misuse (phone app): the network thread is inside a handshake call (its trust callback is
 * waiting on the UI) while the UI thread calls into the same handshake: the second call is
 * TETHER_ERR_BUSY ("tether refuses the second with TETHER_ERR_BUSY, but only when it sees the
 * overlap": here the overlap is certain). Another handle works meanwhile. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_callback, ui_done;
    tether_handshake *hs;
    tether_session *other_a;
    tether_status ui_next, ui_write, ui_init, ui_other;
    tether_action action;
    const tether_config *cfg;
    const tether_platform *plat;
} threads_t;

static void wait_for_ui(env_t *e) {
    threads_t *t = e->ctx;
    pthread_mutex_lock(&t->mu);
    t->in_callback = 1;
    pthread_cond_broadcast(&t->cv);
    while (!t->ui_done) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
}

static void *ui_thread(void *arg) {
    threads_t *t = arg;
    uint8_t buf[TETHER_HANDSHAKE_MAX_LEN], rec[TETHER_SEAL_CAPACITY(8)];
    size_t n = SENT_SIZE, ku = 0;
    pthread_mutex_lock(&t->mu);
    while (!t->in_callback) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    t->ui_next = tether_handshake_next(t->hs, &t->action);
    t->ui_write = tether_handshake_write(t->hs, buf, sizeof buf, &n);
    t->ui_init = tether_handshake_init_responder(t->hs, t->cfg, t->plat);
    t->ui_other = tether_session_seal(t->other_a, U8("ui"), 2, rec, sizeof rec, &n, &ku);
    pthread_mutex_lock(&t->mu);
    t->ui_done = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void test_two_threads_one_handshake(void) {
    static side_t dev, cloud;
    static tether_handshake hi, hr;
    static tether_session si, sr;
    static pair_t other;
    static threads_t t;
    pthread_t th;

    pair_up(&other, PATTERN_IK, FRAMING_DATAGRAM, 0xD60);
    configure(&dev, &cloud, PATTERN_IK, FRAMING_DATAGRAM, 0xD61);
    memset(&t, 0, sizeof t);
    CHECK(pthread_mutex_init(&t.mu, NULL) == 0 && pthread_cond_init(&t.cv, NULL) == 0);
    t.hs = &hr;
    t.other_a = &other.sa;
    t.action = SENT_ACTION;
    t.cfg = &cloud.cfg;
    t.plat = &cloud.plat;
    CHECK_OK(tether_handshake_init_initiator(&hi, &dev.cfg, &dev.plat));
    CHECK_OK(tether_handshake_init_responder(&hr, &cloud.cfg, &cloud.plat));
    size_t n = hs_write(&hi);
    cloud.env.ctx = &t;
    cloud.env.on_check = wait_for_ui;
    CHECK(pthread_create(&th, NULL, ui_thread, &t) == 0);
    tether_status st = tether_handshake_read(&hr, g_hs_msg, n);
    CHECK(pthread_join(th, NULL) == 0);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
    CHECK_OK(st);
    CHECK_RECORDED(t.ui_next, TETHER_ERR_BUSY, "next from another thread");
    CHECK_RECORDED(t.ui_write, TETHER_ERR_BUSY, "write from another thread");
    CHECK_RECORDED(t.ui_init, TETHER_ERR_BUSY, "init from another thread");
    CHECK_RECORDED(t.ui_other, TETHER_OK, "seal on another session from another thread");
    CHECK(t.action == SENT_ACTION);
    run_handshake(&hi, &hr);
    CHECK_OK(tether_handshake_finish(&hi, &si, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&hr, &sr, NULL, NULL));
    both_ways(&si, &sr);
    tether_session_wipe(&si);
    tether_session_wipe(&sr);
    pair_wipe(&other);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

static const test_case TESTS[] = {
    {"session_as_handshake_and_decoder", test_session_as_handshake_and_decoder},
    {"decoder_as_session_and_handshake", test_decoder_as_session_and_handshake},
    {"handshake_as_session_and_decoder", test_handshake_as_session_and_decoder},
    {"firmware_union", test_firmware_union},
    {"copied_session", test_copied_session},
    {"copied_handshake", test_copied_handshake},
    {"copied_decoder", test_copied_decoder},
    {"zeroed_storage_kinds", test_zeroed_storage_kinds},
    {"reinit_without_wipe", test_reinit_without_wipe},
    {"garbage_storage", test_garbage_storage},
    {"misaligned_storage", test_misaligned_storage},
    {"unaligned_out_pointers", test_unaligned_out_pointers},
    {"huge_lengths", test_huge_lengths},
    {"length_past_address_space", test_length_past_address_space},
    {"huge_lengths_in_config", test_huge_lengths_in_config},
    {"overlap_seal", test_overlap_seal},
    {"overlap_open", test_overlap_open},
    {"overlap_in_place", test_overlap_in_place},
    {"in_place_misuse", test_in_place_misuse},
    {"overlap_handshake", test_overlap_handshake},
    {"overlap_decoder", test_overlap_decoder},
    {"reentry_check_peer", test_reentry_check_peer},
    {"reentry_check_peer_wipe", test_reentry_check_peer_wipe},
    {"reentry_fill_random", test_reentry_fill_random},
    {"reentry_clock", test_reentry_clock},
    {"pairing_responder_defaults", test_pairing_responder_defaults},
    {"responder_availability_ik", test_responder_availability_ik},
    {"responder_availability_xx", test_responder_availability_xx},
    {"decoder_broken_stream_outputs", test_decoder_broken_stream_outputs},
    {"datagram_close_reordered", test_datagram_close_reordered},
    {"replay_stream_vs_datagram", test_replay_stream_vs_datagram},
    {"poll_with_fake_clock", test_poll_with_fake_clock},
    {"size_macros_suffice", test_size_macros_suffice},
    {"config_and_platform_are_copied", test_config_and_platform_are_copied},
    {"failed_reinit_keeps_object", test_failed_reinit_keeps_object},
    {"config_without_config_init", test_config_without_config_init},
    {"empty_inputs_and_size_query", test_empty_inputs_and_size_query},
    {"handshake_message_to_session", test_handshake_message_to_session},
    {"failed_initiator_reuse", test_failed_initiator_reuse},
    {"mismatched_max_plaintext", test_mismatched_max_plaintext},
    {"two_threads_one_handshake", test_two_threads_one_handshake},
};

int main(int argc, char **argv) {
    const size_t n = sizeof TESTS / sizeof TESTS[0];
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], TESTS[i].name) != 0) {
            continue; /* run one test by name */
        }
        current_test = TESTS[i].name;
        clock_t start = clock();
        if (setjmp(test_jmp) == 0) {
            TESTS[i].run();
            tests_passed++;
            printf("ok %zu - %s (%.0f ms cpu)\n", i + 1, TESTS[i].name,
                   1000.0 * (double)(clock() - start) / CLOCKS_PER_SEC);
        } else {
            tests_failed++;
            printf("not ok %zu - %s\n", i + 1, TESTS[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    fflush(stdout); /* before any exit-time report (LeakSanitizer aborts) */
    return tests_failed == 0 ? 0 : 1;
}
