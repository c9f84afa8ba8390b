/*
 * C tests of short-code pairing and the relay through the C ABI (ffi/include/tether.h;
 * spec/PROTOCOL.md 4.7.2 and 3.4):
 * - the code pairing vector of spec/vectors/code_XXpsk0_25519_ChaChaPoly_BLAKE2s_datagram.json:
 *   its code_exchange entropy fed through the platform's entropy callback gives both code
 *   messages byte for byte, then the XXpsk0 handshake keyed by it gives the vector's handshake
 *   messages, handshake hash and first records;
 * - a full pairing phone <-> device: the device's code, the exchange, XXpsk0 through
 *   tether_handshake_init_code_initiator/responder, records both ways, then the Reconnect (KK)
 *   the pair uses from then on, with the keys learnt at pairing;
 * - a wrong code (refused at the device on handshake message 0, the attempt counted), a spent
 *   code (a second answer, a second handshake from one exchange: TETHER_ERR_BAD_STATE),
 *   malformed code messages (refused, nothing changed: no attempt, the code kept, no output);
 * - the attempt limiter: three free failures, then TETHER_ERR_RATE_LIMITED with the time left,
 *   and the same after a "reboot" (the count restored from "flash");
 * - relay wrap/parse against spec/vectors/relay.json, and the relay table: routes up and down,
 *   full, unknown indexes, in-place rewrites that change nothing on error;
 * - misuse of both new handles: NULL, wrong kind (a union), copies, misaligned storage, use after
 *   wipe, impossible lengths, overlapping buffers.
 *
 * Build and run through ffi/tests/c/run.sh (ASan+UBSan, then valgrind). No malloc here. The
 * last line on success is "N passed, 0 failed"; the first failed CHECK ends the run.
 */

#include "tether.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

_Static_assert(sizeof(tether_code_pairing) == TETHER_CODE_PAIRING_SIZE, "code pairing size");
_Static_assert(alignof(tether_code_pairing) == TETHER_CODE_PAIRING_ALIGN, "code pairing align");
_Static_assert(sizeof(tether_relay_table) == TETHER_RELAY_TABLE_SIZE, "relay table size");
_Static_assert(alignof(tether_relay_table) == TETHER_RELAY_TABLE_ALIGN, "relay table align");
_Static_assert(TETHER_SHORT_CODE_LEN == 6, "six digits");
_Static_assert(TETHER_CODE_MESSAGE_MAX == 35, "a code message on a stream");
_Static_assert(TETHER_RELAY_HEADER_LEN == 2, "the envelope");
_Static_assert(TETHER_RELAY_INDEXES == 4096, "12-bit indexes");

#define STREAM 1
#define DATAGRAM 2
#define PATTERN_PAIRING 3
#define PATTERN_RECONNECT 4
#define CHANNEL_DEVICE_PHONE 2

static int same_limiter(const tether_attempt_limiter *a, const tether_attempt_limiter *b) {
    return a->failures == b->failures && a->next_allowed_ms == b->next_allowed_ms;
}

/* ------------------------------------------------------------------------------------------ */
/* Platforms                                                                                  */

/* Entropy from a queue of given bytes, then 1, 2, 3, ... (the vectors' generator). */
typedef struct {
    const uint8_t *bytes;
    size_t len;
    size_t at;
    uint8_t next;
} queue_t;

static int32_t from_queue(void *user, uint8_t *buf, size_t len) {
    queue_t *q = user;
    for (size_t i = 0; i < len; i++) {
        buf[i] = q->at < q->len ? q->bytes[q->at++] : ++q->next;
    }
    return 0;
}

/* Deterministic entropy for tests only: splitmix64 behind `user`. */
static int32_t det_random(void *user, uint8_t *buf, size_t len) {
    uint64_t *state = user;
    uint64_t word = 0;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
            z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
            word = z ^ (z >> 31);
        }
        buf[i] = (uint8_t)(word >> (8 * (i % 8)));
    }
    return 0;
}

static int32_t broken_random(void *user, uint8_t *buf, size_t len) {
    (void)user;
    (void)buf;
    (void)len;
    return -1;
}

/* The trust decision of a pairing: the code authenticated the peer, so a Pairing handshake is
 * accepted (the key is learnt from tether_handshake_finish); any other pattern is not. */
static int32_t accept_pairing(void *user, const tether_peer_info *info) {
    (void)user;
    return info->pattern == PATTERN_PAIRING ? TETHER_OK : TETHER_ERR_UNKNOWN_PEER;
}

/* ------------------------------------------------------------------------------------------ */
/* Statuses                                                                                   */

static void test_statuses(void) {
    CHECK(TETHER_ERR_RATE_LIMITED == 17 && TETHER_ERR_RELAY_FULL == 18);
    const char *rate = tether_strerror(TETHER_ERR_RATE_LIMITED);
    const char *full = tether_strerror(TETHER_ERR_RELAY_FULL);
    CHECK(strcmp(rate, "unknown status") != 0 && strcmp(full, "unknown status") != 0);
    CHECK(strcmp(rate, full) != 0);
    CHECK(strstr(rate, "pairing attempts") != NULL);
    CHECK(strstr(full, "relay table") != NULL);
    CHECK(strcmp(tether_strerror(15), "unknown status") == 0);
    CHECK(strcmp(tether_strerror(19), "unknown status") == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The code pairing vector                                                                    */

/* spec/vectors/code_XXpsk0_25519_ChaChaPoly_BLAKE2s_datagram.json */
static const char V_CODE[] = "306119";
static const char V_MESSAGE_0[] =
    "5136012d9832d1db9d821838a81936e5ab227165756115d592ecec44547e3fde0c";
static const char V_MESSAGE_1[] =
    "55d411437cc90aab1257f0f69dbeb6520461b49dadd31d05a1bd36173091020c03";
static const char *const V_HANDSHAKE[3] = {
    "5001034c2817a9d668ed844d2f95b93b69ecb8485095783a015a424164b0d09702894fe9c2539685832e80d45"
    "8a044e9be78d2",
    "5419d80204bf85f3e1118e1b23410c88f0d0eeced5156f4c5bdf347b14ed7ec63f4cc97bb04fa9e0fec24457a"
    "0c55e041257326958fe06de9506b0556fd97fc9832eecf86da0355d63480effb14482638ab9a3c26819fd1c3d"
    "78f1c45b2f83561c42d9d8c85bd897ed23d9236e2d9c34fc898be3460c09dc0dcf7457f27cfafc6d780d3421"
    "78865f",
    "5868e1428ff319d38091e7b8b2785625b7f0d149323dbcdcdc917a6d61adfea2c01ed3ee053879da0036f32a5"
    "f7b399baeae9a6db1fd9bd477909a8ab4cae7ca91e71d9caaa338fac3c55d4ebc1f183eda341fb9f15a6cfa2b"
    "76565c30da88fa50e7770a383ce4",
};
static const char V_HASH[] = "59fc50584c0b1f3e47741994aa643d737e31451863e28e708ab222fcc35f46a4";
/* records[0] (initiator, data) and records[1] (responder, data): plaintext, unit. */
static const char V_RECORD_0_PLAIN[] =
    "8201a4001b0000019bc0c69b40011903e80282820100820720038f0000186101011901740000f97e000101c48"
    "221190e8800001860";
static const char V_RECORD_0_UNIT[] =
    "100000000000000000fe0cf62382e8c54fb2212f79af60e8e438170619ec29ee84badf43fb6f2d2eb4abe0d7d"
    "34bfdce86f07c93757c5ceb0da3e2352a2cbe3825fbb44307dd9796286f1c264829";
static const char V_RECORD_1_PLAIN[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b0000"
    "01a0c454ffe0050106a1011904e25840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5"
    "664fa8068cdaba8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
static const char V_RECORD_1_UNIT[] =
    "10000000000000000023a2642fac14b324a7c94159d19d4cf19a6243246af05a2892f1ac6479cde3d7b637e06d"
    "af9040990e30b9d81520219d08b6788c292e661f09f19721414f8ea0be3e8ebb7705436a4d2099bc74ea08126c"
    "096d7cb15e4892608253f3c1fba887bedc23e8e5ae79a8ab07c653f791e2b60205a58fd93dc78799893a40d987"
    "d50b2e6539b9ecbdd75e6427018130";

static void vector_config(tether_config *c, const uint8_t *secret, const char *id,
                          const char *model, const uint8_t *key_id) {
    CHECK_OK(tether_config_init(c));
    c->channel = CHANNEL_DEVICE_PHONE;
    c->framing = DATAGRAM;
    c->static_secret = secret;
    c->identity.id = (const uint8_t *)id;
    c->identity.id_len = strlen(id);
    c->identity.model = (const uint8_t *)model;
    c->identity.model_len = strlen(model);
    c->identity.version = (const uint8_t *)"1.0.0";
    c->identity.version_len = 5;
    c->identity.key_id = key_id;
    c->identity.key_id_len = 1;
}

/* Seals `plain_hex` on `from`, compares the record with `unit_hex`, opens it on `to`. */
static void vector_record(tether_session *from, tether_session *to, const char *plain_hex,
                          const char *unit_hex) {
    static uint8_t plain[512], want[512], out[600], opened[512];
    size_t pn = unhex(plain_hex, plain, sizeof plain);
    size_t wn = unhex(unit_hex, want, sizeof want);
    size_t n = 0, m = 0;
    tether_event ev = TETHER_EVENT_CLOSE;
    CHECK_OK(tether_session_seal(from, plain, pn, out, sizeof out, &n, NULL));
    CHECK(n == wn && memcmp(out, want, n) == 0);
    CHECK_OK(tether_session_open(to, out, n, opened, sizeof opened, &ev, &m));
    CHECK(ev == TETHER_EVENT_DATA && m == pn && memcmp(opened, plain, m) == 0);
}

static void test_vector(void) {
    static tether_code_pairing phone, device;
    static tether_handshake phs, dhs;
    static tether_session ps, ds;
    static const uint8_t PHONE_STATIC[32] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
                                             3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t DEVICE_STATIC[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                              1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t KEY_ID_PHONE = 3, KEY_ID_DEVICE = 1;
    /* The code_exchange entropy (phone_entropy, device_entropy: 64 bytes each), then each
     * side's Noise ephemeral key. */
    uint8_t phone_bytes[96], device_bytes[96];
    for (size_t i = 0; i < 64; i++) {
        phone_bytes[i] = (uint8_t)i;
        device_bytes[i] = (uint8_t)(0x80 + i);
    }
    memset(phone_bytes + 64, 0xE1, 32);
    memset(device_bytes + 64, 0xE2, 32);
    queue_t pq = {phone_bytes, sizeof phone_bytes, 0, 0};
    queue_t dq = {device_bytes, sizeof device_bytes, 0, 0};
    tether_platform pp = {&pq, from_queue, NULL, NULL, accept_pairing};
    tether_platform pd = {&dq, from_queue, NULL, NULL, accept_pairing};
    uint8_t m0[TETHER_CODE_MESSAGE_MAX], m1[TETHER_CODE_MESSAGE_MAX], want[300], buf[300];
    size_t n0 = 0, n1 = 0, n = 0;
    uint64_t retry = 0;
    tether_attempt_limiter limiter = {0, 0};
    tether_config pcfg, dcfg;
    tether_peer peer;
    uint8_t h1[32], h2[32];

    CHECK_OK(tether_code_pairing_init_phone(&phone, &pp, DATAGRAM, (const uint8_t *)V_CODE, 6));
    CHECK_OK(tether_code_pairing_init_device(&device, &pd, DATAGRAM, (const uint8_t *)V_CODE, 6));
    CHECK_OK(tether_code_pairing_start(&phone, m0, sizeof m0, &n0));
    CHECK(n0 == unhex(V_MESSAGE_0, want, sizeof want) && memcmp(m0, want, n0) == 0);
    CHECK_OK(tether_code_pairing_respond(&device, &limiter, 0, m0, n0, m1, sizeof m1, &n1,
                                         &retry));
    CHECK(n1 == unhex(V_MESSAGE_1, want, sizeof want) && memcmp(m1, want, n1) == 0);
    CHECK_OK(tether_code_pairing_finish(&phone, m1, n1));

    vector_config(&pcfg, PHONE_STATIC, "phone-app-7", "CompanionApp", &KEY_ID_PHONE);
    vector_config(&dcfg, DEVICE_STATIC, "SN-0001", "GlucoseMonitor G1", &KEY_ID_DEVICE);
    CHECK_OK(tether_handshake_init_code_initiator(&phs, &pcfg, &pp, &phone));
    CHECK_OK(tether_handshake_init_code_responder(&dhs, &dcfg, &pd, &device));
    for (size_t i = 0; i < 3; i++) {
        tether_handshake *from = i % 2 == 0 ? &phs : &dhs, *to = i % 2 == 0 ? &dhs : &phs;
        CHECK_OK(tether_handshake_write(from, buf, sizeof buf, &n));
        CHECK(n == unhex(V_HANDSHAKE[i], want, sizeof want) && memcmp(buf, want, n) == 0);
        CHECK_OK(tether_handshake_read(to, buf, n));
    }
    CHECK_OK(tether_handshake_finish(&phs, &ps, &peer, h1));
    CHECK(peer.id_len == 7 && memcmp(peer.id, "SN-0001", 7) == 0);
    CHECK_OK(tether_handshake_finish(&dhs, &ds, &peer, h2));
    CHECK(peer.id_len == 11 && memcmp(peer.id, "phone-app-7", 11) == 0);
    CHECK(unhex(V_HASH, want, sizeof want) == 32);
    CHECK(memcmp(h1, want, 32) == 0 && memcmp(h2, want, 32) == 0);
    vector_record(&ps, &ds, V_RECORD_0_PLAIN, V_RECORD_0_UNIT);
    vector_record(&ds, &ps, V_RECORD_1_PLAIN, V_RECORD_1_UNIT);

    tether_session_wipe(&ps);
    tether_session_wipe(&ds);
    tether_code_pairing_wipe(&phone);
    tether_code_pairing_wipe(&device);
    CHECK(all_bytes(&phone, sizeof phone, 0) && all_bytes(&device, sizeof device, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* A phone and its device                                                                     */

static const uint8_t DEVICE_SECRET[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};
static const uint8_t PHONE_SECRET[32] = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18, 0x29};

/* One side: its entropy, platform, configuration, code pairing, handshake and session. */
typedef struct {
    uint64_t rng;
    tether_platform plat;
    tether_config cfg;
    tether_code_pairing cp;
    tether_handshake hs;
    tether_session s;
    tether_peer peer;
} side_t;

static void side_init(side_t *x, const uint8_t *secret, const char *id, uint64_t seed) {
    memset(x, 0, sizeof *x);
    x->rng = seed;
    x->plat.user = &x->rng;
    x->plat.fill_random = det_random;
    x->plat.check_peer = accept_pairing;
    CHECK_OK(tether_config_init(&x->cfg));
    x->cfg.channel = CHANNEL_DEVICE_PHONE;
    x->cfg.framing = DATAGRAM;
    x->cfg.static_secret = secret;
    x->cfg.identity.id = (const uint8_t *)id;
    x->cfg.identity.id_len = strlen(id);
    x->cfg.max_plaintext = TETHER_DELIVERY_MAX_FRAME;
}

static void side_wipe(side_t *x) {
    tether_code_pairing_wipe(&x->cp);
    tether_handshake_wipe(&x->hs);
    tether_session_wipe(&x->s);
}

static tether_action next_action(tether_handshake *hs) {
    tether_action a = TETHER_ACTION_FAILED;
    CHECK_OK(tether_handshake_next(hs, &a));
    return a;
}

/* Runs a handshake between `a` and `b` until neither writes; returns the first refused read's
 * status (TETHER_OK if none). */
static tether_status drive(side_t *a, side_t *b) {
    uint8_t buf[TETHER_HANDSHAKE_MAX_LEN];
    for (int round = 0; round < 3; round++) {
        side_t *pair[2][2] = {{a, b}, {b, a}};
        for (int k = 0; k < 2; k++) {
            side_t *me = pair[k][0], *other = pair[k][1];
            if (next_action(&me->hs) == TETHER_ACTION_WRITE) {
                size_t n = 0;
                CHECK_OK(tether_handshake_write(&me->hs, buf, sizeof buf, &n));
                tether_status st = tether_handshake_read(&other->hs, buf, n);
                if (st != TETHER_OK) {
                    return st;
                }
            }
        }
    }
    return TETHER_OK;
}

/* The code exchange: the device draws and shows a code (into `shown`), the user types it with
 * its last digit moved by `typo` (0: the right code). */
static void exchange(side_t *phone, side_t *device, tether_attempt_limiter *limiter,
                     uint64_t now, int typo, char shown[7]) {
    uint8_t m0[TETHER_CODE_MESSAGE_MAX], m1[TETHER_CODE_MESSAGE_MAX];
    char typed[7];
    size_t n0 = 0, n1 = 0;
    uint64_t retry = 0;
    CHECK_OK(tether_short_code_generate(&device->plat, (uint8_t *)shown));
    shown[6] = '\0';
    for (int i = 0; i < 6; i++) {
        CHECK(shown[i] >= '0' && shown[i] <= '9');
    }
    CHECK_OK(tether_code_pairing_init_device(&device->cp, &device->plat, DATAGRAM,
                                             (const uint8_t *)shown, 6));
    memcpy(typed, shown, sizeof typed);
    typed[5] = (char)('0' + (typed[5] - '0' + typo) % 10);
    CHECK_OK(tether_code_pairing_init_phone(&phone->cp, &phone->plat, DATAGRAM,
                                            (const uint8_t *)typed, 6));
    CHECK_OK(tether_code_pairing_start(&phone->cp, m0, sizeof m0, &n0));
    CHECK(n0 == 33 && m0[0] == 0x51);
    CHECK_OK(tether_code_pairing_respond(&device->cp, limiter, now, m0, n0, m1, sizeof m1, &n1,
                                         &retry));
    CHECK(n1 == 33 && m1[0] == 0x55);
    CHECK_OK(tether_code_pairing_finish(&phone->cp, m1, n1));
}

static void seal_open(side_t *from, side_t *to, const char *text) {
    uint8_t out[128], plain[128];
    size_t n = 0, m = 0;
    tether_event ev = TETHER_EVENT_CLOSE;
    CHECK_OK(tether_session_seal(&from->s, (const uint8_t *)text, strlen(text), out, sizeof out,
                                 &n, NULL));
    CHECK_OK(tether_session_open(&to->s, out, n, plain, sizeof plain, &ev, &m));
    CHECK(ev == TETHER_EVENT_DATA && m == strlen(text) && memcmp(plain, text, m) == 0);
}

static void test_pairing_then_reconnect(void) {
    static side_t phone, device;
    tether_attempt_limiter limiter = {0, 0};
    char shown[7];
    uint8_t device_key[32], phone_key[32], device_pub[32], phone_pub[32];
    side_init(&phone, PHONE_SECRET, "phone-app", 1);
    side_init(&device, DEVICE_SECRET, "SN-0001", 2);
    CHECK_OK(tether_public_key(DEVICE_SECRET, device_pub));
    CHECK_OK(tether_public_key(PHONE_SECRET, phone_pub));

    exchange(&phone, &device, &limiter, 1000, 0, shown);
    CHECK(limiter.failures == 1 && limiter.next_allowed_ms == 1000);
    CHECK_OK(tether_handshake_init_code_initiator(&phone.hs, &phone.cfg, &phone.plat, &phone.cp));
    CHECK_OK(tether_handshake_init_code_responder(&device.hs, &device.cfg, &device.plat,
                                                  &device.cp));
    CHECK(next_action(&phone.hs) == TETHER_ACTION_WRITE);
    CHECK(next_action(&device.hs) == TETHER_ACTION_READ);
    CHECK_OK(drive(&phone, &device));
    CHECK_OK(tether_handshake_finish(&phone.hs, &phone.s, &phone.peer, NULL));
    CHECK_OK(tether_handshake_finish(&device.hs, &device.s, &device.peer, NULL));
    CHECK_OK(tether_attempt_limiter_succeeded(&limiter));
    CHECK(limiter.failures == 0 && limiter.next_allowed_ms == 0);
    /* Each side learnt the other's key from the pairing. */
    memcpy(device_key, phone.peer.static_key, 32);
    memcpy(phone_key, device.peer.static_key, 32);
    CHECK(memcmp(device_key, device_pub, 32) == 0 && memcmp(phone_key, phone_pub, 32) == 0);
    CHECK(phone.peer.id_len == 7 && memcmp(phone.peer.id, "SN-0001", 7) == 0);
    /* The phone stores the device as paired once a record of it opens. */
    seal_open(&device, &phone, "paired: SpO2 97 %");
    seal_open(&phone, &device, "hello device");
    seal_open(&device, &phone, "pulse 72 bpm");
    tether_session_wipe(&phone.s);
    tether_session_wipe(&device.s);

    /* From then on: Reconnect (KK) with the keys learnt, the device initiating, the phone
     * answering; only the pinned keys are accepted (no check_peer). */
    phone.plat.check_peer = NULL;
    device.plat.check_peer = NULL;
    phone.cfg.pattern = PATTERN_RECONNECT;
    device.cfg.pattern = PATTERN_RECONNECT;
    phone.cfg.peer_static_key = device_key;
    device.cfg.peer_static_key = phone_key;
    CHECK_OK(tether_handshake_init_initiator(&device.hs, &device.cfg, &device.plat));
    CHECK_OK(tether_handshake_init_responder(&phone.hs, &phone.cfg, &phone.plat));
    CHECK_OK(drive(&device, &phone));
    CHECK_OK(tether_handshake_finish(&device.hs, &device.s, NULL, NULL));
    CHECK_OK(tether_handshake_finish(&phone.hs, &phone.s, &phone.peer, NULL));
    CHECK(memcmp(phone.peer.static_key, device_pub, 32) == 0);
    seal_open(&device, &phone, "reconnected");
    seal_open(&phone, &device, "ack");
    side_wipe(&phone);
    side_wipe(&device);
}

static void test_wrong_code_then_spent_code(void) {
    static side_t phone, device;
    tether_attempt_limiter limiter = {0, 0};
    char shown[7];
    uint8_t m0[TETHER_CODE_MESSAGE_MAX], out[TETHER_CODE_MESSAGE_MAX];
    size_t n = 0, n0 = 0;
    uint64_t retry = 0;
    side_init(&phone, PHONE_SECRET, "phone-app", 3);
    side_init(&device, DEVICE_SECRET, "SN-0001", 4);

    /* The user mistypes: the last digit off by one. The exchange itself succeeds on both
     * sides: nothing in it tells whether the codes matched. */
    exchange(&phone, &device, &limiter, 0, 1, shown);
    CHECK(limiter.failures == 1);
    CHECK_OK(tether_handshake_init_code_initiator(&phone.hs, &phone.cfg, &phone.plat, &phone.cp));
    CHECK_OK(tether_handshake_init_code_responder(&device.hs, &device.cfg, &device.plat,
                                                  &device.cp));
    /* The device refuses handshake message 0 and keeps waiting; the phone hears nothing. */
    CHECK_ST(drive(&phone, &device), TETHER_ERR_AUTHENTICATION);
    CHECK(next_action(&device.hs) == TETHER_ACTION_READ);
    CHECK(next_action(&phone.hs) == TETHER_ACTION_READ);
    CHECK(limiter.failures == 1); /* the attempt stays counted */
    /* The spent pairings: a second handshake from either is refused, the handles unchanged. */
    static tether_handshake other;
    CHECK_ST(tether_handshake_init_code_initiator(&other, &phone.cfg, &phone.plat, &phone.cp),
             TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_code_responder(&other, &device.cfg, &device.plat, &device.cp),
             TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(&other, sizeof other, 0));
    /* A spent code answers no second attempt: a new phone exchange finds it spent. */
    static tether_code_pairing second;
    CHECK_OK(tether_code_pairing_init_phone(&second, &phone.plat, DATAGRAM,
                                            (const uint8_t *)shown, 6));
    CHECK_OK(tether_code_pairing_start(&second, m0, sizeof m0, &n0));
    static tether_code_pairing answered;
    CHECK_OK(tether_code_pairing_init_device(&answered, &device.plat, DATAGRAM,
                                             (const uint8_t *)shown, 6));
    CHECK_OK(tether_code_pairing_respond(&answered, &limiter, 0, m0, n0, out, sizeof out, &n,
                                         &retry));
    CHECK(limiter.failures == 2);
    n = 77;
    CHECK_ST(tether_code_pairing_respond(&answered, &limiter, 0, m0, n0, out, sizeof out, &n,
                                         &retry),
             TETHER_ERR_BAD_STATE);
    CHECK(n == 77 && limiter.failures == 2);
    /* The right code on a fresh one pairs. */
    tether_handshake_wipe(&phone.hs);
    tether_handshake_wipe(&device.hs);
    exchange(&phone, &device, &limiter, 0, 0, shown);
    CHECK(limiter.failures == 3);
    CHECK_OK(tether_handshake_init_code_initiator(&phone.hs, &phone.cfg, &phone.plat, &phone.cp));
    CHECK_OK(tether_handshake_init_code_responder(&device.hs, &device.cfg, &device.plat,
                                                  &device.cp));
    CHECK_OK(drive(&phone, &device));
    CHECK_OK(tether_handshake_finish(&device.hs, &device.s, NULL, NULL));
    CHECK_OK(tether_attempt_limiter_succeeded(&limiter));
    CHECK_OK(tether_handshake_finish(&phone.hs, &phone.s, NULL, NULL));
    seal_open(&device, &phone, "paired");
    tether_code_pairing_wipe(&second);
    tether_code_pairing_wipe(&answered);
    side_wipe(&phone);
    side_wipe(&device);
}

/* Refused code messages change nothing: no attempt, the code kept, no output written. */
static void test_malformed_code_messages(void) {
    static side_t phone, device;
    tether_attempt_limiter limiter = {1, 500}, saved;
    uint8_t m0[TETHER_CODE_MESSAGE_MAX], m1[TETHER_CODE_MESSAGE_MAX], out[64], bad[1100];
    size_t n0 = 0, n1 = 0, n = 0;
    uint64_t retry = 0;
    side_init(&phone, PHONE_SECRET, "phone-app", 5);
    side_init(&device, DEVICE_SECRET, "SN-0001", 6);
    CHECK_OK(tether_code_pairing_init_phone(&phone.cp, &phone.plat, DATAGRAM,
                                            (const uint8_t *)"271828", 6));
    CHECK_OK(tether_code_pairing_init_device(&device.cp, &device.plat, DATAGRAM,
                                             (const uint8_t *)"271828", 6));
    CHECK_OK(tether_code_pairing_start(&phone.cp, m0, sizeof m0, &n0));

    static const struct {
        const char *why;
        int kind; /* 0: m0 cut to `len`; 1: m0 with first byte `byte`; 2: a point; 3: long */
        size_t len;
        uint8_t byte;
        const char *point;
        tether_status want;
    } CASES[] = {
        {"empty", 0, 0, 0, NULL, TETHER_ERR_TRUNCATED},
        {"cut short", 0, 32, 0, NULL, TETHER_ERR_LENGTH},
        {"one byte too long", 0, 34, 0, NULL, TETHER_ERR_LENGTH},
        {"a code message 1", 1, 33, 0x55, NULL, TETHER_ERR_UNEXPECTED_MESSAGE},
        {"a handshake message 0", 1, 33, 0x50, NULL, TETHER_ERR_UNKNOWN_TYPE},
        {"a record", 1, 33, 0x10, NULL, TETHER_ERR_UNKNOWN_TYPE},
        {"version 2", 1, 33, 0x61, NULL, TETHER_ERR_VERSION},
        {"a relayed unit", 1, 33, 0x90, NULL, TETHER_ERR_UNKNOWN_TYPE},
        {"y >= p", 2, 33, 0,
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
         TETHER_ERR_AUTHENTICATION},
        {"the neutral element", 2, 33, 0,
         "0100000000000000000000000000000000000000000000000000000000000000",
         TETHER_ERR_AUTHENTICATION},
        {"a point of order 4", 2, 33, 0,
         "0000000000000000000000000000000000000000000000000000000000000000",
         TETHER_ERR_AUTHENTICATION},
        {"a point of order 8", 2, 33, 0,
         "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
         TETHER_ERR_AUTHENTICATION},
        {"above the handshake bound", 3, 1025, 0x51, NULL, TETHER_ERR_OVERSIZED},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        size_t len = CASES[i].len;
        memset(bad, 0x51, sizeof bad);
        memcpy(bad, m0, len < n0 ? len : n0);
        if (CASES[i].kind == 1) {
            bad[0] = CASES[i].byte;
        } else if (CASES[i].kind == 2) {
            CHECK(unhex(CASES[i].point, bad + 1, 32) == 32);
        }
        saved = limiter;
        memset(out, 0xEE, sizeof out);
        n = 77;
        retry = 77;
        current_test = CASES[i].why;
        CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, 600, bad, len, out,
                                             sizeof out, &n, &retry),
                 CASES[i].want);
        CHECK(same_limiter(&limiter, &saved) && n == 77 && retry == 77);
        CHECK(all_bytes(out, sizeof out, 0xEE));
    }
    current_test = "malformed code messages";
    /* Too small an output: the size, nothing else. */
    CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, 600, m0, n0, out, 32, &n, NULL),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 33 && limiter.failures == 1 && all_bytes(out, sizeof out, 0xEE));
    /* The genuine message is still answered: the code was kept. */
    CHECK_OK(tether_code_pairing_respond(&device.cp, &limiter, 600, m0, n0, m1, sizeof m1, &n1,
                                         NULL));
    CHECK(limiter.failures == 2 && n1 == 33);

    /* The phone refuses what is not a code message 1 and keeps waiting. */
    CHECK_ST(tether_code_pairing_finish(&phone.cp, m0, n0), TETHER_ERR_UNEXPECTED_MESSAGE);
    CHECK_ST(tether_code_pairing_finish(&phone.cp, m1, 20), TETHER_ERR_LENGTH);
    CHECK_ST(tether_code_pairing_finish(&phone.cp, NULL, 0), TETHER_ERR_TRUNCATED);
    memcpy(bad, m1, n1);
    bad[0] = 0x54;
    CHECK_ST(tether_code_pairing_finish(&phone.cp, bad, n1), TETHER_ERR_UNKNOWN_TYPE);
    CHECK_OK(tether_code_pairing_finish(&phone.cp, m1, n1));
    CHECK_ST(tether_code_pairing_finish(&phone.cp, m1, n1), TETHER_ERR_BAD_STATE);
    CHECK_OK(tether_handshake_init_code_initiator(&phone.hs, &phone.cfg, &phone.plat, &phone.cp));
    CHECK_OK(tether_handshake_init_code_responder(&device.hs, &device.cfg, &device.plat,
                                                  &device.cp));
    CHECK_OK(drive(&phone, &device));
    CHECK(next_action(&phone.hs) == TETHER_ACTION_FINISH);
    CHECK(next_action(&device.hs) == TETHER_ACTION_FINISH);

    /* A forged point at the phone is refused and changes nothing: the exchange still waits. */
    CHECK_OK(tether_code_pairing_init_phone(&phone.cp, &phone.plat, STREAM,
                                            (const uint8_t *)"271828", 6));
    CHECK_OK(tether_code_pairing_start(&phone.cp, m0, sizeof m0, &n0));
    CHECK(n0 == 35 && m0[0] == 0 && m0[1] == 33 && m0[2] == 0x51);
    uint8_t forged[35] = {0, 33, 0x55, 1};
    CHECK_ST(tether_code_pairing_finish(&phone.cp, forged, 34), TETHER_ERR_LENGTH);
    CHECK_ST(tether_code_pairing_finish(&phone.cp, forged, 35), TETHER_ERR_AUTHENTICATION);
    CHECK_ST(tether_code_pairing_finish(&phone.cp, forged, 35), TETHER_ERR_AUTHENTICATION);
    side_wipe(&phone);
    side_wipe(&device);
}

/* Three free failures, then a wait that doubles; the count survives a reboot. */
static void test_rate_limiting(void) {
    static side_t phone, device;
    tether_attempt_limiter limiter = {0, 0}, saved;
    uint8_t m0[TETHER_CODE_MESSAGE_MAX], out[TETHER_CODE_MESSAGE_MAX];
    size_t n0 = 0, n = 0;
    uint64_t retry = 0;
    side_init(&phone, PHONE_SECRET, "phone-app", 7);
    side_init(&device, DEVICE_SECRET, "SN-0001", 8);
    /* An attacker's code message 0 (guessing 000000), once per attempt. */
    CHECK_OK(tether_code_pairing_init_phone(&phone.cp, &phone.plat, DATAGRAM,
                                            (const uint8_t *)"000000", 6));
    CHECK_OK(tether_code_pairing_start(&phone.cp, m0, sizeof m0, &n0));
    uint64_t now = 10000;
    for (uint32_t i = 1; i <= 3; i++) {
        char code[7];
        CHECK_OK(tether_short_code_generate(&device.plat, (uint8_t *)code));
        CHECK_OK(tether_code_pairing_init_device(&device.cp, &device.plat, DATAGRAM,
                                                 (const uint8_t *)code, 6));
        CHECK_OK(tether_code_pairing_respond(&device.cp, &limiter, now, m0, n0, out, sizeof out,
                                             &n, &retry));
        CHECK(limiter.failures == i);
        now += 10;
    }
    CHECK(limiter.next_allowed_ms == 10020 + 30000);
    CHECK_OK(tether_code_pairing_init_device(&device.cp, &device.plat, DATAGRAM,
                                             (const uint8_t *)"123456", 6));
    saved = limiter;
    retry = 0;
    n = 77;
    CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, now, m0, n0, out, sizeof out, &n,
                                         &retry),
             TETHER_ERR_RATE_LIMITED);
    CHECK(retry == 10020 + 30000 - now && n == 77 && same_limiter(&limiter, &saved));
    /* retry_in_ms is optional. */
    CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, now, m0, n0, out, sizeof out, &n,
                                         NULL),
             TETHER_ERR_RATE_LIMITED);

    /* "Reboot": the failure count comes back from flash, the monotonic clock restarts at 0, the
     * full wait for 3 failures applies again. */
    uint32_t flash = limiter.failures;
    memset(&limiter, 0xA5, sizeof limiter);
    CHECK_OK(tether_attempt_limiter_restore(&limiter, flash, 0));
    CHECK(limiter.failures == 3 && limiter.next_allowed_ms == 30000);
    CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, 0, m0, n0, out, sizeof out, &n,
                                         &retry),
             TETHER_ERR_RATE_LIMITED);
    CHECK(retry == 30000);
    CHECK_ST(tether_code_pairing_respond(&device.cp, &limiter, 29999, m0, n0, out, sizeof out,
                                         &n, &retry),
             TETHER_ERR_RATE_LIMITED);
    CHECK(retry == 1);
    /* Waited: the attempt is answered (the code was kept through the refusals), and the next
     * waits twice as long. */
    CHECK_OK(tether_code_pairing_respond(&device.cp, &limiter, 30000, m0, n0, out, sizeof out,
                                         &n, &retry));
    CHECK(limiter.failures == 4 && limiter.next_allowed_ms == 30000 + 60000);
    /* A reboot after more failures: an hour at most. */
    CHECK_OK(tether_attempt_limiter_restore(&limiter, 40, 5));
    CHECK(limiter.failures == 40 && limiter.next_allowed_ms == 5 + 3600000);
    /* Success resets the count. */
    CHECK_OK(tether_attempt_limiter_succeeded(&limiter));
    CHECK(limiter.failures == 0 && limiter.next_allowed_ms == 0);
    CHECK_ST(tether_attempt_limiter_restore(NULL, 1, 0), TETHER_ERR_NULL);
    CHECK_ST(tether_attempt_limiter_succeeded(NULL), TETHER_ERR_NULL);
    side_wipe(&phone);
    side_wipe(&device);
}

/* ------------------------------------------------------------------------------------------ */
/* Code pairing misuse                                                                        */

static void test_code_pairing_misuse(void) {
    static union {
        tether_code_pairing cp;
        tether_handshake hs;
        tether_relay_table t;
        tether_reassembler r;
    } u;
    static tether_code_pairing copy;
    static alignas(16) uint8_t arena[TETHER_CODE_PAIRING_SIZE + 16];
    static side_t phone;
    static tether_handshake hs;
    uint8_t out[64], m0[TETHER_CODE_MESSAGE_MAX] = {0};
    size_t n = 0, n0 = 0;
    uint64_t retry = 0;
    tether_attempt_limiter limiter = {0, 0};
    tether_action action;
    const uint8_t *code = (const uint8_t *)"123456";
    side_init(&phone, PHONE_SECRET, "phone-app", 9);
    tether_platform *p = &phone.plat;

    memset(&u, 0, sizeof u);
    /* Zeroed storage holds nothing; NULL. */
    CHECK_ST(tether_code_pairing_start(&u.cp, out, sizeof out, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_code_pairing_init_phone(NULL, p, DATAGRAM, code, 6), TETHER_ERR_NULL);
    CHECK_ST(tether_code_pairing_init_phone(&u.cp, NULL, DATAGRAM, code, 6), TETHER_ERR_NULL);
    CHECK_ST(tether_code_pairing_init_phone(&u.cp, p, DATAGRAM, NULL, 6), TETHER_ERR_NULL);
    CHECK_ST(tether_code_pairing_start(NULL, out, sizeof out, &n), TETHER_ERR_NULL);
    CHECK_ST(tether_code_pairing_finish(NULL, out, 33), TETHER_ERR_NULL);
    CHECK_ST(tether_short_code_generate(NULL, out), TETHER_ERR_NULL);
    CHECK_ST(tether_short_code_generate(p, NULL), TETHER_ERR_NULL);
    tether_code_pairing_wipe(NULL);
    /* Codes that are not six digits, unknown framings, impossible lengths. */
    CHECK_ST(tether_code_pairing_init_phone(&u.cp, p, DATAGRAM, code, 5), TETHER_ERR_PAIRING_CODE);
    CHECK_ST(tether_code_pairing_init_phone(&u.cp, p, DATAGRAM, (const uint8_t *)"12345x", 6),
             TETHER_ERR_PAIRING_CODE);
    CHECK_ST(tether_code_pairing_init_device(&u.cp, p, DATAGRAM, (const uint8_t *)"1234567", 7),
             TETHER_ERR_PAIRING_CODE);
    CHECK_ST(tether_code_pairing_init_device(&u.cp, p, 0, code, 6), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_code_pairing_init_device(&u.cp, p, 3, code, 6), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_code_pairing_init_device(&u.cp, p, DATAGRAM, code, SIZE_MAX),
             TETHER_ERR_BAD_LENGTH);
    CHECK(all_bytes(&u, sizeof u, 0));

    /* A code pairing in the union: the other kinds refuse it and leave it. */
    CHECK_OK(tether_code_pairing_init_phone(&u.cp, p, DATAGRAM, code, 6));
    CHECK_ST(tether_handshake_next(&u.hs, &action), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_relay_table_init(&u.t, 4), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_reassembler_init(&u.r, 100), TETHER_ERR_BAD_STATE);
    tether_handshake_wipe(&u.hs);
    tether_relay_table_wipe(&u.t);
    tether_reassembler_wipe(&u.r);
    /* A phone's handle refuses the device's call, and a finish before start. */
    CHECK_ST(tether_code_pairing_respond(&u.cp, &limiter, 0, m0, 33, out, sizeof out, &n,
                                         &retry),
             TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_code_pairing_finish(&u.cp, m0, 33), TETHER_ERR_BAD_STATE);
    /* Overlaps: the output inside the handle, the length inside the output. */
    CHECK_ST(tether_code_pairing_start(&u.cp, (uint8_t *)&u.cp + 64, 40, &n), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_code_pairing_start(&u.cp, out, sizeof out, (size_t *)(void *)(out + 8)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_code_pairing_start(&u.cp, out, SIZE_MAX, &n), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_code_pairing_start(&u.cp, NULL, 40, &n), TETHER_ERR_NULL);
    /* Still intact: it starts. */
    CHECK_OK(tether_code_pairing_start(&u.cp, m0, sizeof m0, &n0));
    CHECK_ST(tether_code_pairing_start(&u.cp, m0, sizeof m0, &n0), TETHER_ERR_BAD_STATE);

    /* A copy: refused; its wipe zeroes it and frees nothing (the exchange allocated). */
    copy = u.cp;
    CHECK_ST(tether_code_pairing_finish(&copy, m0, n0), TETHER_ERR_COPIED);
    CHECK_ST(tether_handshake_init_code_initiator(&hs, &phone.cfg, p, &copy), TETHER_ERR_COPIED);
    tether_code_pairing_wipe(&copy);
    CHECK(all_bytes(&copy, sizeof copy, 0));
    CHECK(all_bytes(&hs, sizeof hs, 0));
    /* Not finished: no key for a handshake. */
    CHECK_ST(tether_handshake_init_code_initiator(&hs, &phone.cfg, p, &u.cp), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_init_code_initiator(&hs, &phone.cfg, p, NULL), TETHER_ERR_NULL);
    /* The handshake's storage overlapping the pairing's. */
    CHECK_ST(tether_handshake_init_code_initiator(&u.hs, &phone.cfg, p, &u.cp),
             TETHER_ERR_OVERLAP);
    /* Use after wipe. */
    tether_code_pairing_wipe(&u.cp);
    CHECK(all_bytes(&u, sizeof u, 0));
    CHECK_ST(tether_code_pairing_finish(&u.cp, m0, n0), TETHER_ERR_BAD_STATE);
    tether_code_pairing_wipe(&u.cp);

    /* Misaligned storage. */
    tether_code_pairing *odd = (tether_code_pairing *)(void *)(arena + 4);
    CHECK_ST(tether_code_pairing_init_device(odd, p, DATAGRAM, code, 6), TETHER_ERR_MISALIGNED);
    CHECK(all_bytes(arena, sizeof arena, 0));

    /* Broken entropy: the phone's start fails and keeps its code; the device counts nothing. */
    tether_platform broken = *p;
    broken.fill_random = broken_random;
    CHECK_ST(tether_short_code_generate(&broken, out), TETHER_ERR_ENTROPY);
    CHECK_OK(tether_code_pairing_init_phone(&u.cp, &broken, DATAGRAM, code, 6));
    CHECK_ST(tether_code_pairing_start(&u.cp, out, sizeof out, &n), TETHER_ERR_ENTROPY);
    CHECK_ST(tether_code_pairing_start(&u.cp, out, 32, &n), TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 33);
    tether_code_pairing_wipe(&u.cp);
    CHECK_OK(tether_code_pairing_init_device(&u.cp, &broken, DATAGRAM, code, 6));
    CHECK_ST(tether_code_pairing_respond(&u.cp, &limiter, 0, m0, n0, out, sizeof out, &n, &retry),
             TETHER_ERR_ENTROPY);
    CHECK(limiter.failures == 0);
    /* Respond's overlaps: the limiter inside the output, the unit inside the handle. */
    CHECK_ST(tether_code_pairing_respond(&u.cp, (tether_attempt_limiter *)(void *)(out + 8), 0,
                                         m0, n0, out, sizeof out, &n, &retry),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_code_pairing_respond(&u.cp, &limiter, 0, (uint8_t *)&u.cp, n0, out,
                                         sizeof out, &n, &retry),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_code_pairing_respond(&u.cp, NULL, 0, m0, n0, out, sizeof out, &n, &retry),
             TETHER_ERR_NULL);
    CHECK_ST(tether_code_pairing_respond(&u.cp, &limiter, 0, m0, n0, out, sizeof out, NULL,
                                         &retry),
             TETHER_ERR_NULL);
    tether_code_pairing_wipe(&u.cp);
    CHECK(all_bytes(&u, sizeof u, 0));
    side_wipe(&phone);
}

/* ------------------------------------------------------------------------------------------ */
/* Relay                                                                                      */

/* spec/vectors/relay.json */
static const struct {
    uint16_t index;
    const char *relayed, *unit;
} RELAY_VALID[] = {
    {0, "900050", "50"},
    {1, "90011300000000000000000102", "1300000000000000000102"},
    {2748, "9abc51aa", "51aa"},
    {256, "910058ffee", "58ffee"},
    {4095, "9fff18", "18"},
};
static const struct {
    const char *relayed;
    tether_status error;
} RELAY_INVALID[] = {
    {"", TETHER_ERR_TRUNCATED},
    {"90", TETHER_ERR_TRUNCATED},
    {"9000", TETHER_ERR_TRUNCATED},
    {"900090000013", TETHER_ERR_UNKNOWN_TYPE},
    {"9000a00013", TETHER_ERR_UNKNOWN_TYPE},
    {"a00013", TETHER_ERR_VERSION},
    {"d00013", TETHER_ERR_UNKNOWN_TYPE},
};

static void test_relay_vectors(void) {
    uint8_t relayed[64], unit[64], out[64], framed[66], header[2];
    size_t n = 0, offset = 0, len = 0;
    uint16_t index = 0;
    for (size_t i = 0; i < sizeof RELAY_VALID / sizeof RELAY_VALID[0]; i++) {
        size_t rn = unhex(RELAY_VALID[i].relayed, relayed, sizeof relayed);
        size_t un = unhex(RELAY_VALID[i].unit, unit, sizeof unit);
        CHECK_OK(tether_relay_wrap(RELAY_VALID[i].index, unit, un, out, sizeof out, &n));
        CHECK(n == rn && memcmp(out, relayed, n) == 0);
        CHECK_OK(tether_relay_header(RELAY_VALID[i].index, header));
        CHECK(memcmp(header, relayed, 2) == 0);
        CHECK_OK(tether_relay_parse(DATAGRAM, relayed, rn, &index, &offset, &len));
        CHECK(index == RELAY_VALID[i].index && offset == 2 && len == un);
        CHECK(memcmp(relayed + offset, unit, len) == 0);
        /* On a stream hop, behind the length prefix of the whole relayed unit. */
        framed[0] = (uint8_t)(rn >> 8);
        framed[1] = (uint8_t)rn;
        memcpy(framed + 2, relayed, rn);
        CHECK_OK(tether_relay_parse(STREAM, framed, rn + 2, &index, &offset, &len));
        CHECK(index == RELAY_VALID[i].index && offset == 4 && len == un);
        framed[1] ^= 1;
        CHECK_ST(tether_relay_parse(STREAM, framed, rn + 2, &index, &offset, &len),
                 TETHER_ERR_LENGTH);
    }
    for (size_t i = 0; i < sizeof RELAY_INVALID / sizeof RELAY_INVALID[0]; i++) {
        size_t rn = unhex(RELAY_INVALID[i].relayed, relayed, sizeof relayed);
        index = 7;
        offset = len = 7;
        CHECK_ST(tether_relay_parse(DATAGRAM, relayed, rn, &index, &offset, &len),
                 RELAY_INVALID[i].error);
        CHECK(index == 7 && offset == 7 && len == 7);
    }
    /* Wrap's refusals and misuse. */
    memset(out, 0xAA, sizeof out);
    CHECK_ST(tether_relay_wrap(4096, unit, 1, out, sizeof out, &n), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_relay_wrap(0, unit, 0, out, sizeof out, &n), TETHER_ERR_TRUNCATED);
    CHECK_ST(tether_relay_wrap(0, unit, 3, out, 4, &n), TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 5 && all_bytes(out, sizeof out, 0xAA));
    CHECK_ST(tether_relay_wrap(0, NULL, 3, out, 4, &n), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_wrap(0, unit, 3, out, 8, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_wrap(0, out, 3, out + 2, 8, &n), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_relay_wrap(0, unit, SIZE_MAX, out, 8, &n), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_relay_header(4096, header), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_relay_header(0, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_parse(3, relayed, 3, &index, &offset, &len), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_relay_parse(DATAGRAM, relayed, 3, NULL, &offset, &len), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_parse(DATAGRAM, relayed, 3, &index, &offset,
                                (size_t *)(void *)relayed),
             TETHER_ERR_OVERLAP);
}

static size_t relayed_unit(uint16_t index, const uint8_t *unit, size_t len, uint8_t *out) {
    size_t n = 0;
    CHECK_OK(tether_relay_wrap(index, unit, len, out, 64, &n));
    return n;
}

static void test_relay_table(void) {
    static union {
        tether_relay_table t;
        tether_code_pairing cp;
        tether_fragmenter f;
    } u;
    static tether_relay_table copy;
    static alignas(16) uint8_t arena[TETHER_RELAY_TABLE_SIZE + 16];
    const uint8_t record[] = {0x10, 0, 0, 0, 0, 0, 0, 0, 7, 0xAB, 0xCD};
    uint8_t a[64], b[64], before[64];
    size_t n = 0, removed = 0;
    uint16_t up = 0, index = 0;
    uint32_t link = 0;
    bool found = false;

    memset(&u, 0, sizeof u);
    CHECK_ST(tether_relay_table_init(&u.t, 0), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_relay_table_init(&u.t, TETHER_RELAY_INDEXES + 1), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_relay_table_init(NULL, 2), TETHER_ERR_NULL);
    CHECK(all_bytes(&u, sizeof u, 0));
    n = relayed_unit(0, record, sizeof record, a);
    CHECK_ST(tether_relay_table_up(&u.t, 1, a, n, &up), TETHER_ERR_BAD_STATE);
    CHECK_OK(tether_relay_table_init(&u.t, 2));

    /* Up: each (link, index) route gets the lowest free uplink index and keeps it. */
    CHECK_OK(tether_relay_table_up(&u.t, 100, a, n, &up));
    CHECK(up == 0 && a[0] == 0x90 && a[1] == 0x00);
    n = relayed_unit(0, record, sizeof record, a);
    CHECK_OK(tether_relay_table_up(&u.t, 200, a, n, &up));
    CHECK(up == 1 && a[0] == 0x90 && a[1] == 0x01 && memcmp(a + 2, record, sizeof record) == 0);
    n = relayed_unit(0, record, sizeof record, a);
    CHECK_OK(tether_relay_table_up(&u.t, 200, a, n, &up));
    CHECK(up == 1);
    /* Full: a third route is refused; the unit and the index unchanged. */
    n = relayed_unit(9, record, sizeof record, a);
    memcpy(before, a, n);
    up = 777;
    CHECK_ST(tether_relay_table_up(&u.t, 100, a, n, &up), TETHER_ERR_RELAY_FULL);
    CHECK(up == 777 && memcmp(a, before, n) == 0);
    /* Down: back to the device's link and index. */
    n = relayed_unit(1, record, sizeof record, b);
    CHECK_OK(tether_relay_table_down(&u.t, b, n, &link, &index));
    CHECK(link == 200 && index == 0 && b[0] == 0x90 && b[1] == 0x00);
    /* An index with no route, and units that are not relayed: refused, unchanged. */
    n = relayed_unit(2, record, sizeof record, b);
    memcpy(before, b, n);
    link = 7;
    index = 7;
    CHECK_ST(tether_relay_table_down(&u.t, b, n, &link, &index), TETHER_ERR_UNEXPECTED_MESSAGE);
    CHECK(link == 7 && index == 7 && memcmp(b, before, n) == 0);
    memcpy(b, record, sizeof record);
    CHECK_ST(tether_relay_table_down(&u.t, b, sizeof record, &link, &index),
             TETHER_ERR_UNKNOWN_TYPE);
    CHECK_ST(tether_relay_table_up(&u.t, 100, b, sizeof record, &up), TETHER_ERR_UNKNOWN_TYPE);
    CHECK(memcmp(b, record, sizeof record) == 0);
    for (size_t i = 0; i < sizeof RELAY_INVALID / sizeof RELAY_INVALID[0]; i++) {
        size_t rn = unhex(RELAY_INVALID[i].relayed, b, sizeof b);
        memcpy(before, b, rn);
        CHECK_ST(tether_relay_table_up(&u.t, 100, b, rn, &up), RELAY_INVALID[i].error);
        CHECK_ST(tether_relay_table_down(&u.t, b, rn, &link, &index), RELAY_INVALID[i].error);
        CHECK(rn == 0 || memcmp(b, before, rn) == 0);
    }
    /* Routes, and removing a link. */
    CHECK_OK(tether_relay_table_route(&u.t, 1, &link, &index, &found));
    CHECK(found && link == 200 && index == 0);
    CHECK_OK(tether_relay_table_remove_link(&u.t, 200, &removed));
    CHECK(removed == 1);
    CHECK_OK(tether_relay_table_route(&u.t, 1, &link, &index, &found));
    CHECK(!found);
    CHECK_ST(tether_relay_table_route(&u.t, 4096, &link, &index, &found), TETHER_ERR_BAD_CONFIG);
    n = relayed_unit(9, record, sizeof record, a);
    CHECK_OK(tether_relay_table_up(&u.t, 100, a, n, &up));
    CHECK(up == 1);

    /* Misuse: NULL, lengths, overlaps (the index inside the unit, the unit inside the table). */
    CHECK_ST(tether_relay_table_up(&u.t, 1, a, n, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_table_up(&u.t, 1, NULL, n, &up), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_table_down(&u.t, a, n, NULL, &index), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_table_down(&u.t, a, n, &link, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_relay_table_up(&u.t, 1, a, SIZE_MAX, &up), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_relay_table_up(&u.t, 1, a, n, (uint16_t *)(void *)(a + 2)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_relay_table_down(&u.t, (uint8_t *)&u.t + 8, 4, &link, &index),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_relay_table_remove_link(&u.t, 1, (size_t *)(void *)&u.t), TETHER_ERR_OVERLAP);
    /* Another kind refuses it and leaves it. */
    CHECK_ST(tether_code_pairing_start(&u.cp, a, sizeof a, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_fragmenter_init(&u.f, 23), TETHER_ERR_BAD_STATE);
    tether_code_pairing_wipe(&u.cp);
    tether_fragmenter_wipe(&u.f);
    CHECK_OK(tether_relay_table_route(&u.t, 0, &link, &index, &found));
    CHECK(found && link == 100 && index == 0);
    /* A copy: refused; its wipe frees nothing (ASan and valgrind would see a double free). */
    copy = u.t;
    CHECK_ST(tether_relay_table_route(&copy, 0, &link, &index, &found), TETHER_ERR_COPIED);
    tether_relay_table_wipe(&copy);
    CHECK(all_bytes(&copy, sizeof copy, 0));
    /* Misaligned storage. */
    CHECK_ST(tether_relay_table_init((tether_relay_table *)(void *)(arena + 4), 2),
             TETHER_ERR_MISALIGNED);
    CHECK(all_bytes(arena, sizeof arena, 0));
    /* Use after wipe. */
    tether_relay_table_wipe(&u.t);
    CHECK(all_bytes(&u, sizeof u, 0));
    CHECK_ST(tether_relay_table_remove_link(&u.t, 100, NULL), TETHER_ERR_BAD_STATE);
    tether_relay_table_wipe(&u.t);
    tether_relay_table_wipe(NULL);
    /* The largest table. */
    CHECK_OK(tether_relay_table_init(&u.t, TETHER_RELAY_INDEXES));
    n = relayed_unit(4095, record, sizeof record, a);
    CHECK_OK(tether_relay_table_up(&u.t, UINT32_MAX, a, n, &up));
    CHECK(up == 0);
    tether_relay_table_wipe(&u.t);
}

/* ------------------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    void (*run)(void);
} TESTS[] = {
    {"new statuses", test_statuses},
    {"code pairing vector", test_vector},
    {"pairing then reconnect", test_pairing_then_reconnect},
    {"wrong code, then a spent code", test_wrong_code_then_spent_code},
    {"malformed code messages", test_malformed_code_messages},
    {"rate limiting and reboot", test_rate_limiting},
    {"code pairing misuse", test_code_pairing_misuse},
    {"relay vectors", test_relay_vectors},
    {"relay table", test_relay_table},
};

int main(void) {
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
        current_test = TESTS[i].name;
        TESTS[i].run();
        tests_passed++;
        printf("ok %zu - %s\n", i + 1, TESTS[i].name);
        fflush(stdout);
    }
    printf("%d passed, 0 failed\n", tests_passed);
    return 0;
}
