/*
 * A medical device written in C, talking to the tether demo cloud over loopback TCP.
 *
 * It runs the provisioned (Noise IK) handshake with the demo's fixed keys, sends five
 * pulse-oximeter readings, the last as a typed vitals batch built with tether_vitals_encode (with
 * an automatic key update after every three records), prints the
 * command the cloud sends after the second reading, closes the session, waits for the cloud's
 * close, wipes everything and exits 0. Any failure prints tether_strerror() and exits 1.
 *
 *   cargo run --example demo -- server 127.0.0.1:7878     # the Rust cloud, in another shell
 *   ./device 127.0.0.1:7878
 *
 * Everything tether needs lives in storage declared here (no malloc): a tether_handshake, a
 * tether_session and a tether_decoder. The platform is getrandom(2) for entropy and
 * clock_gettime(2) for the clocks. The keys are the demo's fixed keys: never ship fixed keys.
 */

#define _POSIX_C_SOURCE 200809L

#include "tether.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEVICE_ID "SN-DEMO-0001"
#define DEVICE_MODEL "PulseOximeter C1"
#define DEVICE_VERSION "1.0.0-c"

/* Everything the platform callbacks need, passed as `user`. */
typedef struct {
    uint8_t cloud_key[32]; /* the pinned cloud static key */
} device_ctx;

/* ------------------------------------------------------------------------------------------ */
/* Platform                                                                                    */

static int32_t os_random(void *user, uint8_t *buf, size_t len) {
    (void)user;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint64_t clock_ms(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t monotonic_ms(void *user) {
    (void)user;
    return clock_ms(CLOCK_MONOTONIC);
}

static uint64_t unix_time(void *user) {
    (void)user;
    return clock_ms(CLOCK_REALTIME) / 1000u;
}

static void print_text(const uint8_t *p, size_t n) {
    fwrite(p, 1, n, stdout);
}

static void print_hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

/* Accepts the cloud only with the pinned static key (IK already encrypts to that key; this
 * makes the policy explicit and shows who answered). */
static int32_t check_cloud(void *user, const tether_peer_info *info) {
    const device_ctx *ctx = user;
    const tether_peer *peer = info->peer;
    printf("[device] cloud identifies as ");
    print_text(peer->id, peer->id_len);
    printf(" (");
    print_text(peer->model, peer->model_len);
    printf(" ");
    print_text(peer->version, peer->version_len);
    printf(")\n");
    if (memcmp(peer->static_key, ctx->cloud_key, 32) != 0) {
        return TETHER_ERR_KEY_MISMATCH;
    }
    return TETHER_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Transport                                                                                   */

typedef struct {
    int fd;
    uint8_t buf[4096]; /* bytes received and not yet given to the decoder */
    size_t len;
    size_t pos;
} conn;

static int connect_to(const char *addr) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host || colon[1] == '\0') {
        fprintf(stderr, "[device] bad address %s (want HOST:PORT)\n", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "[device] cannot resolve %s: %s\n", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "[device] cannot connect to %s: %s\n", addr, strerror(errno));
        return -1;
    }
    /* Never wait forever on a silent cloud. */
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int send_all(conn *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "[device] send: %s\n", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads from the socket until the decoder yields one unit (a handshake message or a record).
 * The unit stays valid until the next call. Returns 0, or -1 on a transport or framing error. */
static int read_unit(conn *c, tether_decoder *dec, const uint8_t **unit, size_t *unit_len) {
    for (;;) {
        if (c->pos < c->len) {
            size_t used = 0;
            tether_status st =
                tether_decoder_next(dec, c->buf + c->pos, c->len - c->pos, &used, unit, unit_len);
            if (st != TETHER_OK) {
                fprintf(stderr, "[device] broken stream: %s\n", tether_strerror(st));
                return -1;
            }
            c->pos += used;
            if (*unit != NULL) {
                return 0;
            }
        }
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "[device] recv: %s\n", n == 0 ? "the cloud hung up" : strerror(errno));
            return -1;
        }
        c->len = (size_t)n;
        c->pos = 0;
    }
}

/* ------------------------------------------------------------------------------------------ */

#define TRY(expr)                                                                           \
    do {                                                                                    \
        tether_status st_ = (expr);                                                         \
        if (st_ != TETHER_OK) {                                                             \
            fprintf(stderr, "[device] %s failed: %s (%d)\n", #expr, tether_strerror(st_),   \
                    (int)st_);                                                              \
            goto done;                                                                      \
        }                                                                                   \
    } while (0)

#define TRY_IO(expr)                                                                        \
    do {                                                                                    \
        if ((expr) != 0) {                                                                  \
            goto done;                                                                      \
        }                                                                                   \
    } while (0)

/* Seals one record's plaintext and sends it (with the key-update record in front, if one was
 * due); `what` describes it in the log. */
static tether_status send_record(conn *c, tether_session *s, unsigned index, const uint8_t *plain,
                                 size_t len, const char *what) {
    uint8_t wire[256];
    size_t written = 0, key_update = 0;
    if (tether_session_seal_capacity(s, len) > sizeof wire) {
        return TETHER_ERR_BUFFER_TOO_SMALL;
    }
    tether_status st = tether_session_seal(s, plain, len, wire, sizeof wire, &written, &key_update);
    if (st != TETHER_OK) {
        return st;
    }
    if (key_update > 0) {
        printf("[device] -> key update record (%zu bytes)\n", key_update);
    }
    printf("[device] -> reading %u (%zu bytes on the wire): %s\n", index, written - key_update,
           what);
    return send_all(c, wire, written) == 0 ? TETHER_OK : TETHER_ERR_INTERNAL;
}

/* Seals one text reading and sends it. */
static tether_status send_reading(conn *c, tether_session *s, unsigned index, const char *text) {
    return send_record(c, s, index, (const uint8_t *)text, strlen(text), text);
}

/* Encodes three seconds of SpO2 and pulse rate as a vitals batch (spec/MESSAGES.md 4.3) with the
 * C ABI and sends it: the typed form of the readings above, about 4 bytes a reading. */
static tether_status send_vitals(conn *c, tether_session *s, unsigned index) {
    const uint64_t base = UINT64_C(1768465800000); /* 2026-01-15T08:30:00Z, in ms */
    const tether_vital_channel channels[2] = {
        {.code = 1, .unit = 0, .exponent = 0}, /* table code 1: SpO2, % */
        {.code = 2, .unit = 0, .exponent = 0}, /* table code 2: pulse rate, /min */
    };
    tether_vital_reading readings[6];
    const int64_t spo2[3] = {97, 96, 97}, pulse[3] = {72, 75, 74};
    for (unsigned i = 0; i < 3; i++) {
        readings[2 * i] = (tether_vital_reading){
            .time_ms = base + 1000u * i,
            .channel = 0,
            .value = {.mantissa = spo2[i], .exponent = 0, .special = TETHER_VALUE_NUMBER}};
        readings[2 * i + 1] = (tether_vital_reading){
            .time_ms = base + 1000u * i,
            .channel = 1,
            .value = {.mantissa = pulse[i], .exponent = 0, .special = TETHER_VALUE_NUMBER}};
    }
    uint8_t msg[128];
    size_t len = 0;
    tether_status st = tether_vitals_encode(base, 1000, channels, 2, readings, 6, msg, sizeof msg,
                                            &len);
    if (st != TETHER_OK) {
        return st;
    }
    char what[64];
    snprintf(what, sizeof what, "vitals batch, 6 readings in %zu bytes", len);
    return send_record(c, s, index, msg, len, what);
}

int main(int argc, char **argv) {
    static const uint8_t device_secret[32] = {
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
    };
    static const uint8_t cloud_secret[32] = {
        0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1,
        0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1,
        0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1, 0xC1,
    };
    static const char *readings[] = {"SpO2 97 %", "pulse 72 /min", "SpO2 96 %", "pulse 75 /min"};
    /* The tether objects: plain storage, set up by init calls, cleared by wipe calls. */
    static tether_handshake hs;
    static tether_session session;
    static tether_decoder dec;
    static conn c;
    device_ctx ctx;
    tether_config cfg;
    tether_platform platform;
    tether_peer cloud;
    uint8_t hash[32], buf[2048], data[512];
    const uint8_t *unit = NULL;
    size_t unit_len = 0, n = 0;
    tether_action action = 0;
    tether_event ev = 0;
    int exit_code = 1;

    c.fd = -1;
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
        return 2;
    }
    if (tether_version() != (((uint32_t)TETHER_VERSION_MAJOR << 16) |
                             ((uint32_t)TETHER_VERSION_MINOR << 8) | TETHER_VERSION_PATCH)) {
        fprintf(stderr, "[device] tether.h and the library are different versions\n");
        return 1;
    }

    /* The cloud's public key, pinned (the demo derives it from its fixed secret). */
    TRY(tether_public_key(cloud_secret, ctx.cloud_key));
    platform.user = &ctx;
    platform.fill_random = os_random;
    platform.monotonic_ms = monotonic_ms;
    platform.unix_time = unix_time;
    platform.check_peer = check_cloud;

    TRY(tether_config_init(&cfg));
    cfg.suite = 1;   /* 25519_ChaChaPoly_BLAKE2s */
    cfg.pattern = 1; /* Provisioned: Noise IK */
    cfg.channel = 1; /* device-cloud */
    cfg.framing = 1; /* stream (TCP) */
    cfg.static_secret = device_secret;
    cfg.peer_static_key = ctx.cloud_key;
    cfg.identity.id = (const uint8_t *)DEVICE_ID;
    cfg.identity.id_len = strlen(DEVICE_ID);
    cfg.identity.model = (const uint8_t *)DEVICE_MODEL;
    cfg.identity.model_len = strlen(DEVICE_MODEL);
    cfg.identity.version = (const uint8_t *)DEVICE_VERSION;
    cfg.identity.version_len = strlen(DEVICE_VERSION);
    cfg.identity.key_id = (const uint8_t *)"k1";
    cfg.identity.key_id_len = 2;
    /* A key update every 3 records so the demo shows one (the default is 2^20 or an hour). */
    cfg.key_update_records = 3;

    c.fd = connect_to(argv[1]);
    if (c.fd < 0) {
        goto done;
    }
    TRY(tether_decoder_init(&dec, cfg.max_plaintext));
    TRY(tether_handshake_init_initiator(&hs, &cfg, &platform));

    /* The handshake: do what tether_handshake_next says until it is finished. */
    for (unsigned msg = 1;; msg++) {
        TRY(tether_handshake_next(&hs, &action));
        if (action == TETHER_ACTION_WRITE) {
            TRY(tether_handshake_write(&hs, buf, sizeof buf, &n));
            printf("[device] -> handshake message %u (%zu bytes, Noise IK, ChaChaPoly)\n", msg, n);
            TRY_IO(send_all(&c, buf, n));
        } else if (action == TETHER_ACTION_READ) {
            TRY_IO(read_unit(&c, &dec, &unit, &unit_len));
            printf("[device] <- handshake message %u (%zu bytes)\n", msg, unit_len);
            TRY(tether_handshake_read(&hs, unit, unit_len));
        } else if (action == TETHER_ACTION_FINISH) {
            break;
        } else {
            fprintf(stderr, "[device] handshake failed\n");
            goto done;
        }
    }
    TRY(tether_handshake_finish(&hs, &session, &cloud, hash)); /* also wipes hs */
    printf("[device] session up with ");
    print_text(cloud.id, cloud.id_len);
    printf(" (handshake hash ");
    print_hex(hash, 8);
    printf("...)\n");

    for (unsigned i = 0; i < sizeof readings / sizeof readings[0]; i++) {
        TRY(send_reading(&c, &session, i + 1, readings[i]));
        if (i == 1) {
            /* The cloud answers the second reading with a command. */
            do {
                TRY_IO(read_unit(&c, &dec, &unit, &unit_len));
                TRY(tether_session_open(&session, unit, unit_len, data, sizeof data, &ev, &n));
            } while (ev == TETHER_EVENT_KEY_UPDATE);
            if (ev != TETHER_EVENT_DATA) {
                fprintf(stderr, "[device] the cloud closed instead of sending a command\n");
                goto done;
            }
            printf("[device] <- ");
            print_text(data, n);
            printf("\n");
        }
    }

    TRY(send_vitals(&c, &session, sizeof readings / sizeof readings[0] + 1));

    TRY(tether_session_close(&session, buf, sizeof buf, &n));
    printf("[device] -> close\n");
    TRY_IO(send_all(&c, buf, n));
    do {
        TRY_IO(read_unit(&c, &dec, &unit, &unit_len));
        TRY(tether_session_open(&session, unit, unit_len, data, sizeof data, &ev, &n));
    } while (ev != TETHER_EVENT_CLOSE);
    printf("[device] <- close; done\n");
    exit_code = 0;

done:
    /* Wipes are safe on storage that was never set up or is already wiped. */
    tether_handshake_wipe(&hs);
    tether_session_wipe(&session);
    tether_decoder_wipe(&dec);
    if (c.fd >= 0) {
        close(c.fd);
    }
    fflush(stdout);
    return exit_code;
}
