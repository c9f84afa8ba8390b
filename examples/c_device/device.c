/*
 * A medical device written in C, talking to the tether gateway (crate gateway/) over TCP with
 * the delivery layer, through the C ABI only.
 *
 *   device ADDR GATEWAY_PUBLIC_KEY_HEX
 *
 * ADDR is HOST:PORT; the key is the one `tether-gateway serve` prints ("gateway public key (pin
 * it on devices): ..."), pinned here as the gateway's static key. What the device does:
 *
 *  1. the provisioned handshake (Noise IK) as SN-DEMO-0001 with its fixed secret (32 x 0xD1);
 *  2. opens a sender over its outbox (an in-memory "flash" behind the storage callbacks) and
 *     pushes five vitals batches (SpO2 and pulse rate, one reading of each per second, real
 *     wall-clock times); the sender sends its hello and the messages, the gateway stores each
 *     one durably and acknowledges it ("<- stored up to message N");
 *  3. follows the gateway's own message stream with a receiver: each message there is a signed
 *     command, verified against the clinic's Ed25519 key and grant; the device applies it (or
 *     not), persists the result with the receiver state, acknowledges delivery and pushes a
 *     command acknowledgement (executed, or rejected with the reason) through its sender;
 *  4. once everything it pushed is acknowledged and at least one command was handled, closes
 *     the session, waits for the gateway's close, wipes everything and exits 0.
 *
 * Any tether failure prints tether_strerror() and exits 1; so does not finishing within 15 s.
 *
 * No malloc here: every tether object (handshake, session, decoder, sender) and every buffer is
 * static or on the stack. The platform is getrandom(2) for entropy and clock_gettime(2) for the
 * clocks. The device key, the outbox storage key and the "flash" are demo stand-ins: a real
 * device keeps its secret and its storage key in a secure element or key store, its outbox and
 * persisted state in flash, and its monotonic counter somewhere a flash copy cannot roll back.
 */

#define _POSIX_C_SOURCE 200809L

#include "tether.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEVICE_ID "SN-DEMO-0001"
#define DEVICE_MODEL "PulseOximeter C1"
#define DEVICE_VERSION "1.1.0-c"

/* The whole run (connect to close) must finish within this, or the device gives up (exit 1). */
#define OVERALL_TIMEOUT_MS 15000

/* Five batches of three seconds, each second one SpO2 and one pulse-rate reading. */
#define N_BATCHES 5
#define SECONDS_PER_BATCH 3
#define READINGS_PER_BATCH (2 * SECONDS_PER_BATCH)

/* The outbox: a slot per message not yet acknowledged (the five batches, plus an answer per
 * command, all of which may be in flight at once), each big enough for the largest message
 * pushed (a batch of six readings is about 50 bytes; a command acknowledgement at most 32). */
#define OUTBOX_SLOTS 16
#define OUTBOX_MAX_MESSAGE 128
#define OUTBOX_SLOT_SIZE (TETHER_OUTBOX_ENTRY_OVERHEAD + OUTBOX_MAX_MESSAGE)
#define SEND_WINDOW 8 /* data frames in flight before an acknowledgement */

/* The command this device takes: operation 1 "set the measurement interval", parameter 1 the
 * interval in seconds (1..=3600, required). */
#define OP_SET_INTERVAL 1
#define PARAM_INTERVAL_S 1

/* The clinic's command authority: key id "clinic", Ed25519 public key of the demo seed 32 x
 * 0xA7 (run.sh gives that seed to `tether-gateway queue-command --authority-seed`). Computed
 * once with Python's cryptography package:
 *   python3 -c 'from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
 *     as K; from cryptography.hazmat.primitives.serialization import Encoding as E, PublicFormat
 *     as P; print(K.from_private_bytes(bytes([0xa7] * 32)).public_key().public_bytes(E.Raw,
 *     P.Raw).hex())'
 * Kept as hex so that run.sh can check it again the same way. A real device is provisioned with
 * its authorities' public keys; their seeds never leave the authority's HSM. */
#define CLINIC_KID "clinic"
#define CLINIC_PUBLIC_KEY_HEX "c9571eeb4aa9de1159858bc6a3d4a626c4f4845e8eebd5f554b2ec0f50c68860"

/* Everything the platform callbacks need, passed as `user`. */
typedef struct {
    uint8_t gateway_key[32]; /* the pinned gateway static key */
} device_ctx;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

/* Zeroes secrets in a way the compiler may not drop as a dead store. */
static void wipe_bytes(void *p, size_t n) {
    volatile uint8_t *b = p;
    while (n-- > 0) {
        *b++ = 0;
    }
}

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Exactly 64 hex digits into 32 bytes; -1 otherwise. */
static int parse_key_hex(const char *hex, uint8_t out[32]) {
    if (strlen(hex) != 64) {
        return -1;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void print_text(const uint8_t *p, size_t n) {
    fwrite(p, 1, n, stdout);
}

static void print_hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

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

/* Wall-clock ms since the Unix epoch: reading times, command validity, acknowledgement times. */
static uint64_t wall_ms(void) {
    return clock_ms(CLOCK_REALTIME);
}

/* Accepts the gateway only with the pinned static key (IK already encrypts to that key; this
 * makes the policy explicit and shows who answered). */
static int32_t check_gateway(void *user, const tether_peer_info *info) {
    const device_ctx *ctx = user;
    const tether_peer *peer = info->peer;
    printf("[device] gateway identifies as ");
    print_text(peer->id, peer->id_len);
    printf(" (");
    print_text(peer->model, peer->model_len);
    printf(" ");
    print_text(peer->version, peer->version_len);
    printf(")\n");
    if (memcmp(peer->static_key, ctx->gateway_key, 32) != 0) {
        return TETHER_ERR_KEY_MISMATCH;
    }
    return TETHER_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The outbox's storage: an in-memory stand-in for flash                                       */

/* What a firmware keeps in flash for its outbox: entry slots, two index slots and a monotonic
 * counter cell. Everything tether writes here is already sealed (AES-256-GCM under the storage
 * key), so the storage needs durability, not secrecy. Here it is RAM, so it lasts one run: a
 * new stream every run, which the gateway records as a new stream of the device. */
typedef struct {
    uint8_t entry[OUTBOX_SLOTS][OUTBOX_SLOT_SIZE];
    size_t entry_len[OUTBOX_SLOTS]; /* 0 = empty (erased) */
    uint8_t index[2][TETHER_OUTBOX_INDEX_LEN];
    size_t index_len[2];
    uint64_t counter; /* stands for a secure element's monotonic counter */
} outbox_flash;

static outbox_flash flash;

/* Reads a slot: copies what fits, reports the whole length (the callback contract). */
static int32_t read_slot(const uint8_t *src, size_t stored, uint8_t *buf, size_t cap,
                         size_t *len) {
    memcpy(buf, src, stored < cap ? stored : cap);
    *len = stored;
    return 0;
}

static int32_t read_entry(void *user, uint32_t which, uint8_t *buf, size_t cap, size_t *len) {
    outbox_flash *f = user;
    if (which >= OUTBOX_SLOTS) {
        return -1;
    }
    return read_slot(f->entry[which], f->entry_len[which], buf, cap, len);
}

static int32_t write_entry(void *user, uint32_t which, const uint8_t *data, size_t len) {
    outbox_flash *f = user;
    if (which >= OUTBOX_SLOTS || len > OUTBOX_SLOT_SIZE) {
        return -1; /* reported by the call as TETHER_ERR_STORAGE_IO */
    }
    memcpy(f->entry[which], data, len);
    f->entry_len[which] = len;
    return 0;
}

static int32_t read_index(void *user, uint32_t which, uint8_t *buf, size_t cap, size_t *len) {
    outbox_flash *f = user;
    if (which > 1) {
        return -1;
    }
    return read_slot(f->index[which], f->index_len[which], buf, cap, len);
}

static int32_t write_index(void *user, uint32_t which, const uint8_t *data, size_t len) {
    outbox_flash *f = user;
    if (which > 1 || len > TETHER_OUTBOX_INDEX_LEN) {
        return -1;
    }
    memcpy(f->index[which], data, len);
    f->index_len[which] = len;
    return 0;
}

static int32_t erase_index(void *user, uint32_t which) {
    outbox_flash *f = user;
    if (which > 1) {
        return -1;
    }
    f->index_len[which] = 0;
    return 0;
}

static int32_t read_counter(void *user, uint64_t *value) {
    *value = ((outbox_flash *)user)->counter;
    return 0;
}

/* A monotonic counter only goes up: refuse anything else, as the hardware would. */
static int32_t write_counter(void *user, uint64_t value) {
    outbox_flash *f = user;
    if (value <= f->counter) {
        return -1;
    }
    f->counter = value;
    return 0;
}

/* The key that seals the outbox. FIXED FOR THE EXAMPLE ONLY: a real device draws it once at
 * provisioning and keeps it in its key store, handing tether a copy at open (wiped after). */
static const uint8_t demo_storage_key[32] = {
    0x5e, 0xa1, 0xed, 0x0b, 0x0c, 0x5e, 0xa1, 0xed, 0x0b, 0x0c, 0x5e, 0xa1, 0xed, 0x0b, 0x0c, 0x5e,
    0xa1, 0xed, 0x0b, 0x0c, 0x5e, 0xa1, 0xed, 0x0b, 0x0c, 0x5e, 0xa1, 0xed, 0x0b, 0x0c, 0x5e, 0xa1,
};

/* ------------------------------------------------------------------------------------------ */
/* What the device persists besides its outbox                                                 */

/* The device's own persisted record. On flash it is written as one unit (an A/B page pair, or
 * a journal), so a power cut leaves either the old or the new record: that atomicity is what
 * makes each gateway message take effect exactly once. It holds, together:
 *  - the receiver state of the gateway's stream (tether_receiver_state.bytes: stream id and
 *    next sequence number), stored with the effect of each message delivered;
 *  - the highest command id accepted (the replay floor for tether_command_verify), persisted
 *    before the device acts on the command;
 *  - the setting commands change (the measurement interval). */
typedef struct {
    uint8_t receiver[TETHER_RECEIVER_STATE_LEN];
    uint64_t last_command_id;
    uint32_t interval_s;
} device_record;

static device_record persisted = {.interval_s = 1}; /* a new device: nothing heard, 1 s */

/* One atomic write of the whole record (RAM here). */
static void persist(const device_record *next) {
    persisted = *next;
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

static uint64_t deadline;                      /* monotonic ms: the end of OVERALL_TIMEOUT_MS */
static const char *waiting_for = "the gateway"; /* what read_unit waits for, for its log */

/* Reads from the socket until the decoder yields one unit (a handshake message or a record),
 * waiting at most until `deadline` (monotonic ms). The unit stays valid until the next call.
 * Returns 0, or -1 on a transport or framing error or the deadline. */
static int read_unit(conn *c, tether_decoder *dec, uint64_t deadline, const uint8_t **unit,
                     size_t *unit_len) {
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
        uint64_t now = monotonic_ms(NULL);
        if (now >= deadline) {
            fprintf(stderr, "[device] timed out: not done within %d s (waiting for %s)\n",
                    OVERALL_TIMEOUT_MS / 1000, waiting_for);
            return -1;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)(deadline - now));
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "[device] poll: %s\n", strerror(errno));
            return -1;
        }
        if (ready <= 0) {
            continue; /* interrupted or timed out: the deadline check above decides */
        }
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "[device] recv: %s\n",
                    n == 0 ? "the gateway hung up" : strerror(errno));
            return -1;
        }
        c->len = (size_t)n;
        c->pos = 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The device's state for one run                                                              */

/* The tether objects: plain storage (static, so zeroed and never moved), set up by init calls,
 * cleared by wipe calls. A sender and a session must never be copied once set up. */
static tether_handshake hs;
static tether_session session;
static tether_decoder dec;
static tether_sender sender;
/* The receiver for the gateway's stream: loaded from the persisted record at each session. */
static tether_receiver_state rx;
static conn c = {.fd = -1};
static device_ctx ctx;
static tether_platform platform;

/* Buffers: a sealed record (a frame and a possible key-update record before it), an opened
 * record's plaintext (one delivery frame: the gateway seals at most TETHER_DELIVERY_MAX_FRAME
 * bytes per record) and one frame to send. */
static uint8_t wire[TETHER_SEAL_CAPACITY(TETHER_DELIVERY_MAX_FRAME)];
static uint8_t plain[TETHER_DELIVERY_MAX_FRAME];
static uint8_t frame[TETHER_DELIVERY_MAX_FRAME];

static uint64_t frames_sent;      /* nonzero frames from tether_sender_next_frame this session */
static uint64_t next_data_seq;    /* the message the next data frame carries (see pump) */
static unsigned commands_handled; /* gateway messages verified and answered */

/* Reports a failed tether call with tether_strerror and returns -1 from the function. */
#define CHECK(expr)                                                                         \
    do {                                                                                    \
        tether_status st_ = (expr);                                                         \
        if (st_ != TETHER_OK) {                                                             \
            fprintf(stderr, "[device] %s failed: %s (%d)\n", #expr, tether_strerror(st_),   \
                    (int)st_);                                                              \
            return -1;                                                                      \
        }                                                                                   \
    } while (0)

/* Seals one delivery frame in one record and sends it (with the key-update record in front, if
 * one was due); `what` describes it in the log. */
static int send_frame(const uint8_t *f, size_t len, const char *what) {
    size_t written = 0, key_update = 0;
    CHECK(tether_session_seal(&session, f, len, wire, sizeof wire, &written, &key_update));
    if (key_update > 0) {
        printf("[device] -> key update record (%zu bytes)\n", key_update);
    }
    printf("[device] -> %s (%zu bytes on the wire)\n", what, written - key_update);
    return send_all(&c, wire, written);
}

/* Sends what the sender has due: its hello first, then data frames while fewer than
 * SEND_WINDOW are unacknowledged. With resend_after_ms 0 (a stream: TCP does not lose records)
 * nothing is sent twice within a session, so after the hello each frame carries the next
 * message in order; that is only used for the log. */
static int pump(void) {
    for (;;) {
        size_t n = 0;
        CHECK(tether_sender_next_frame(&sender, monotonic_ms(NULL), frame, sizeof frame, &n));
        if (n == 0) {
            return 0;
        }
        char what[64];
        if (frames_sent++ == 0) {
            snprintf(what, sizeof what, "hello, oldest unacknowledged message %" PRIu64,
                     next_data_seq);
        } else {
            snprintf(what, sizeof what, "message %" PRIu64, next_data_seq++);
        }
        if (send_frame(frame, n, what) != 0) {
            return -1;
        }
    }
}

/* Sends the delivery acknowledgement the receiver has due, if any (after the gateway's hello,
 * or a duplicate). */
static int send_due_ack(void) {
    uint8_t ack[TETHER_DELIVERY_CONTROL_MAX];
    size_t n = 0;
    CHECK(tether_receiver_poll_ack(&rx, ack, sizeof ack, &n));
    if (n > 0 && send_frame(ack, n, "delivery ack on the gateway's stream") != 0) {
        return -1;
    }
    return 0;
}

/* Measures (synthesises) one batch: SECONDS_PER_BATCH seconds of SpO2 and pulse rate from
 * `base_ms`, encodes it as a vitals message (spec/MESSAGES.md 4.3) and pushes it into the
 * outbox, durably: from here on tether delivers it, across sessions and reboots. */
static int push_vitals(unsigned batch, uint64_t base_ms) {
    const tether_vital_channel channels[2] = {
        {.code = 1, .unit = 0, .exponent = 0}, /* table code 1: SpO2, % */
        {.code = 2, .unit = 0, .exponent = 0}, /* table code 2: pulse rate, /min */
    };
    tether_vital_reading readings[READINGS_PER_BATCH];
    for (unsigned i = 0; i < SECONDS_PER_BATCH; i++) {
        unsigned t = batch * SECONDS_PER_BATCH + i; /* seconds since the first reading */
        readings[2 * i] = (tether_vital_reading){
            .time_ms = base_ms + 1000u * i,
            .channel = 0,
            .value = {.mantissa = 96 + (int64_t)(t % 3), .special = TETHER_VALUE_NUMBER}};
        readings[2 * i + 1] = (tether_vital_reading){
            .time_ms = base_ms + 1000u * i,
            .channel = 1,
            .value = {.mantissa = 70 + (int64_t)(t * 3 % 7), .special = TETHER_VALUE_NUMBER}};
    }
    uint8_t msg[OUTBOX_MAX_MESSAGE];
    size_t len = 0;
    uint64_t seq = 0;
    CHECK(tether_vitals_encode(base_ms, 1000, channels, 2, readings, READINGS_PER_BATCH, msg,
                               sizeof msg, &len));
    CHECK(tether_sender_push(&sender, msg, len, &seq));
    printf("[device] pushed vitals batch %u (%d readings, %zu bytes) as message %" PRIu64 "\n",
           batch + 1, READINGS_PER_BATCH, len, seq);
    return 0;
}

/* A message on the gateway's stream: a signed command. Verifies it, applies it, persists the
 * effect with the receiver's `then` and the replay floor in one write, then acknowledges
 * delivery and pushes the command acknowledgement (spec/MESSAGES.md 5.2.5 and 6.3). */
static int on_command(const tether_incoming *in) {
    /* The policy: this device's id, one authority (the clinic) allowed one operation with one
     * bounded, required parameter; anything else is refused (least privilege). */
    static const tether_command_rule interval_rule = {
        .id = PARAM_INTERVAL_S, .min = 1, .max = 3600, .required = 1};
    static const tether_command_grant grant = {
        .operation = OP_SET_INTERVAL, .rules = &interval_rule, .n_rules = 1};
    tether_command_authority clinic = {.kid = (const uint8_t *)CLINIC_KID,
                                       .kid_len = strlen(CLINIC_KID),
                                       .grants = &grant,
                                       .n_grants = 1};
    if (parse_key_hex(CLINIC_PUBLIC_KEY_HEX, clinic.public_key) != 0) {
        fprintf(stderr, "[device] CLINIC_PUBLIC_KEY_HEX is not 64 hex digits\n");
        return -1;
    }
    const tether_command_policy policy = {
        .device_id = (const uint8_t *)DEVICE_ID,
        .device_id_len = strlen(DEVICE_ID),
        .authorities = &clinic,
        .n_authorities = 1,
        .max_clock_skew_ms = 60000, /* the clinic's clock may run up to a minute ahead */
    };

    /* The answer needs an outbox slot. Without one, leave the command undelivered: it is not
     * acted on, and the gateway sends it again on the next session. (Messages after it on this
     * session are then dropped as gaps, and come again too.) */
    uint64_t unacknowledged = 0;
    CHECK(tether_sender_pending(&sender, &unacknowledged));
    if (unacknowledged >= OUTBOX_SLOTS) {
        printf("[device] <- gateway message %" PRIu64 ": outbox full, left for later\n", in->seq);
        return 0;
    }

    device_record next = persisted;
    tether_command cmd;
    uint32_t reason = 0;
    uint8_t ack_msg[32]; /* 32 bytes always suffice for a command acknowledgement */
    size_t ack_len = 0;
    uint64_t now = wall_ms();
    printf("[device] <- gateway message %" PRIu64 " (%zu bytes)\n", in->seq, in->message_len);
    tether_status st = tether_command_verify(&policy, &next.last_command_id, in->message,
                                             in->message_len, now, &cmd, &reason);
    if (st == TETHER_OK) {
        /* Verified: act on it. The grant guarantees the parameter is there and in range. */
        int64_t interval = 0;
        for (size_t i = 0; i < cmd.n_params; i++) {
            if (cmd.params[i].id == PARAM_INTERVAL_S) {
                interval = cmd.params[i].value;
            }
        }
        next.interval_s = (uint32_t)interval;
        printf("[device] <- command %" PRIu64 " from ", cmd.command_id);
        print_text(cmd.authority_kid, cmd.authority_kid_len);
        printf(": set interval %" PRId64 " s (operation %u): executed\n", interval,
               (unsigned)cmd.operation);
        CHECK(tether_command_ack_encode(cmd.command_id, TETHER_ACK_EXECUTED, 0, wall_ms(),
                                        ack_msg, sizeof ack_msg, &ack_len));
    } else if (reason != 0) {
        /* Refused: nothing in it is acted on; the acknowledgement carries the reason (and the
         * unverified command id, only so the clinic can match it). */
        printf("[device] <- command refused: %s (reason %" PRIu32 ")\n", tether_strerror(st),
               reason);
        CHECK(tether_command_ack_rejected(in->message, in->message_len, reason, now, ack_msg,
                                          sizeof ack_msg, &ack_len));
    } else {
        /* Not a verdict on the command but a failure of the call itself (a bad policy). */
        fprintf(stderr, "[device] tether_command_verify failed: %s (%d)\n", tether_strerror(st),
                (int)st);
        return -1;
    }

    /* One atomic write: the new setting, the replay floor (before the device acts: here acting
     * is this very write) and the receiver state after this message. A rejected command is
     * delivered too: its effect is "nothing", and it must not be handled twice. */
    memcpy(next.receiver, in->then, sizeof next.receiver);
    persist(&next);

    /* Only now is the message delivered: tell the gateway (it stops resending it). */
    uint8_t ack[TETHER_DELIVERY_CONTROL_MAX];
    size_t n = 0;
    char what[64];
    CHECK(tether_receiver_delivered(&rx, in->seq, ack, sizeof ack, &n));
    snprintf(what, sizeof what, "delivery ack of gateway message %" PRIu64, in->seq);
    if (send_frame(ack, n, what) != 0) {
        return -1;
    }

    /* The answer travels like any message: durably through the outbox, until acknowledged. (A
     * power cut between the write above and this push loses the answer, not the command's
     * effect; a device that must never lose it journals the answer with the record.) */
    uint64_t seq = 0;
    CHECK(tether_sender_push(&sender, ack_msg, ack_len, &seq));
    printf("[device] pushed command acknowledgement (%zu bytes) as message %" PRIu64 "\n",
           ack_len, seq);
    commands_handled++;
    return 0;
}

/* One frame from the gateway (the plaintext of one record). */
static int on_frame(const uint8_t *f, size_t len) {
    tether_incoming in;
    CHECK(tether_receiver_handle(&rx, f, len, &in));
    switch (in.kind) {
    case TETHER_INCOMING_ACK:
        CHECK(tether_sender_on_ack(&sender, in.seq));
        printf("[device] <- stored up to message %" PRIu64 "\n", in.seq);
        break;
    case TETHER_INCOMING_MESSAGE:
        if (on_command(&in) != 0) {
            return -1;
        }
        break;
    case TETHER_INCOMING_NEW_STREAM:
        /* An audit event on a real device: first contact, or a gateway that lost its state. */
        printf("[device] <- gateway hello: new stream ");
        print_hex(in.stream, sizeof in.stream);
        printf(", next message %" PRIu64 "\n", in.seq);
        break;
    case TETHER_INCOMING_RESUMED:
        printf("[device] <- gateway hello: stream resumed after message %" PRIu64 "\n", in.seq);
        break;
    case TETHER_INCOMING_SKIPPED:
        /* An audit event: messages the gateway no longer holds will never arrive. */
        printf("[device] <- gateway hello: messages %" PRIu64 "..%" PRIu64 " skipped\n",
               in.expected, in.seq - 1);
        break;
    case TETHER_INCOMING_DUPLICATE:
        printf("[device] <- duplicate of gateway message %" PRIu64 " (not applied again)\n",
               in.seq);
        break;
    case TETHER_INCOMING_GAP:
        printf("[device] <- gateway message %" PRIu64 " while %" PRIu64 " was next: dropped\n",
               in.seq, in.expected);
        break;
    default:
        fprintf(stderr, "[device] unknown incoming kind %d\n", (int)in.kind);
        return -1;
    }
    /* Acknowledgements first, then the sender's frames (spec/MESSAGES.md 6.4.4). */
    return send_due_ack();
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

int main(int argc, char **argv) {
    static const uint8_t device_secret[32] = {
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
        0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1, 0xD1,
    };
    tether_config cfg;
    tether_outbox_storage storage;
    tether_peer gateway;
    uint8_t hash[32], device_public[32], storage_key[32];
    uint8_t hsbuf[TETHER_HANDSHAKE_MAX_LEN];
    const uint8_t *unit = NULL;
    size_t unit_len = 0, n = 0;
    uint64_t pending = 0;
    tether_action action = 0;
    tether_event ev = 0;
    int exit_code = 1;

    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, in order with stderr, also into a pipe */
    if (argc != 3 || parse_key_hex(argv[2], ctx.gateway_key) != 0) {
        fprintf(stderr, "usage: %s HOST:PORT GATEWAY_PUBLIC_KEY_HEX (64 hex digits)\n",
                argv[0]);
        return 2;
    }
    if (tether_version() != (((uint32_t)TETHER_VERSION_MAJOR << 16) |
                             ((uint32_t)TETHER_VERSION_MINOR << 8) | TETHER_VERSION_PATCH)) {
        fprintf(stderr, "[device] tether.h and the library are different versions\n");
        return 1;
    }
    deadline = monotonic_ms(NULL) + OVERALL_TIMEOUT_MS;

    /* The key the gateway must have registered for this id (run.sh checks it). */
    TRY(tether_public_key(device_secret, device_public));
    printf("[device] " DEVICE_ID ", static public key ");
    print_hex(device_public, sizeof device_public);
    printf("\n");

    platform.user = &ctx;
    platform.fill_random = os_random;
    platform.monotonic_ms = monotonic_ms;
    platform.unix_time = unix_time;
    platform.check_peer = check_gateway;

    TRY(tether_config_init(&cfg));
    cfg.suite = 1;   /* 25519_ChaChaPoly_BLAKE2s */
    cfg.pattern = 1; /* Provisioned: Noise IK */
    cfg.channel = 1; /* device-cloud */
    cfg.framing = 1; /* stream (TCP) */
    cfg.static_secret = device_secret;
    cfg.peer_static_key = ctx.gateway_key;
    cfg.identity.id = (const uint8_t *)DEVICE_ID;
    cfg.identity.id_len = strlen(DEVICE_ID);
    cfg.identity.model = (const uint8_t *)DEVICE_MODEL;
    cfg.identity.model_len = strlen(DEVICE_MODEL);
    cfg.identity.version = (const uint8_t *)DEVICE_VERSION;
    cfg.identity.version_len = strlen(DEVICE_VERSION);
    cfg.identity.key_id = (const uint8_t *)"k1";
    cfg.identity.key_id_len = 2;
    /* Every record carries one delivery frame, so both sides use the largest frame as their
     * record limit (the gateway does; the two must agree). */
    cfg.max_plaintext = TETHER_DELIVERY_MAX_FRAME;
    /* A key update every 3 records so the run shows some (the default is 2^20 or an hour). */
    cfg.key_update_records = 3;

    c.fd = connect_to(argv[1]);
    if (c.fd < 0) {
        goto done;
    }
    TRY(tether_decoder_init(&dec, cfg.max_plaintext));
    TRY(tether_handshake_init_initiator(&hs, &cfg, &platform));

    /* The handshake: do what tether_handshake_next says until it is finished. */
    waiting_for = "the handshake";
    for (unsigned msg = 1;; msg++) {
        TRY(tether_handshake_next(&hs, &action));
        if (action == TETHER_ACTION_WRITE) {
            TRY(tether_handshake_write(&hs, hsbuf, sizeof hsbuf, &n));
            printf("[device] -> handshake message %u (%zu bytes, Noise IK, ChaChaPoly)\n", msg, n);
            TRY_IO(send_all(&c, hsbuf, n));
        } else if (action == TETHER_ACTION_READ) {
            TRY_IO(read_unit(&c, &dec, deadline, &unit, &unit_len));
            printf("[device] <- handshake message %u (%zu bytes)\n", msg, unit_len);
            TRY(tether_handshake_read(&hs, unit, unit_len));
        } else if (action == TETHER_ACTION_FINISH) {
            break;
        } else {
            fprintf(stderr, "[device] handshake failed\n");
            goto done;
        }
    }
    TRY(tether_handshake_finish(&hs, &session, &gateway, hash)); /* also wipes hs */
    printf("[device] session up with ");
    print_text(gateway.id, gateway.id_len);
    printf(" (handshake hash ");
    print_hex(hash, 8);
    printf("...)\n");

    /* The outbox and its sender. The storage callbacks get the "flash" as `user`; tether copies
     * the struct, the key and the platform, so they can live on the stack; the flash must
     * outlive the sender (it is static). */
    memset(&storage, 0, sizeof storage);
    storage.user = &flash;
    storage.slot_count = OUTBOX_SLOTS;
    storage.slot_size = OUTBOX_SLOT_SIZE;
    storage.read_entry = read_entry;
    storage.write_entry = write_entry;
    storage.read_index = read_index;
    storage.write_index = write_index;
    storage.erase_index = erase_index;
    storage.read_counter = read_counter;
    storage.write_counter = write_counter;
    memcpy(storage_key, demo_storage_key, sizeof storage_key); /* "from the key store" */
    {
        /* resend_after_ms 0: on a stream nothing is lost within a session; a new session
         * (tether_sender_reconnect) resends whatever is unacknowledged. */
        tether_status st = tether_sender_open(&sender, &storage, storage_key, &platform,
                                              TETHER_OUTBOX_DEFAULT_BLOCK, SEND_WINDOW, 0);
        wipe_bytes(storage_key, sizeof storage_key);
        TRY(st);
    }
    /* Opened at the start of this session, so its hello is due; a sender kept open across
     * sessions would call tether_sender_reconnect after each handshake instead. */

    /* The receiver: the persisted bytes, and this session's progress from 0; the gateway must
     * say hello again on every session. */
    memcpy(rx.bytes, persisted.receiver, sizeof rx.bytes);
    rx.session = 0;
    TRY(tether_receiver_reconnect(&rx));

    /* The measurements: the last N_BATCHES x SECONDS_PER_BATCH seconds, on whole seconds. */
    {
        uint64_t first = wall_ms() / 1000u * 1000u - 1000u * N_BATCHES * SECONDS_PER_BATCH;
        for (unsigned b = 0; b < N_BATCHES; b++) {
            TRY_IO(push_vitals(b, first + 1000u * SECONDS_PER_BATCH * b));
        }
    }
    TRY(tether_sender_pending(&sender, &pending));
    next_data_seq = 1; /* a new outbox: its oldest unacknowledged message is number 1 */

    /* Serve the session: send what is due, then handle what arrives, until everything pushed
     * is stored by the gateway and a command was handled. */
    waiting_for = "acknowledgements and a command";
    for (;;) {
        TRY_IO(pump());
        TRY(tether_sender_pending(&sender, &pending));
        if (pending == 0 && commands_handled > 0) {
            break;
        }
        TRY_IO(read_unit(&c, &dec, deadline, &unit, &unit_len));
        TRY(tether_session_open(&session, unit, unit_len, plain, sizeof plain, &ev, &n));
        if (ev == TETHER_EVENT_KEY_UPDATE) {
            printf("[device] <- key update\n");
        } else if (ev == TETHER_EVENT_CLOSE) {
            fprintf(stderr, "[device] the gateway closed the session before we were done\n");
            goto done;
        } else {
            TRY_IO(on_frame(plain, n));
        }
    }
    printf("[device] everything stored; interval now %" PRIu32 " s\n", persisted.interval_s);

    TRY(tether_session_close(&session, wire, sizeof wire, &n));
    printf("[device] -> close\n");
    TRY_IO(send_all(&c, wire, n));
    waiting_for = "the gateway's close";
    /* Until the gateway's close: late acknowledgements still free outbox slots; a message that
     * arrives now cannot be acknowledged (sealing is over), so it is left for the next session,
     * where the gateway sends it again. */
    for (;;) {
        TRY_IO(read_unit(&c, &dec, deadline, &unit, &unit_len));
        TRY(tether_session_open(&session, unit, unit_len, plain, sizeof plain, &ev, &n));
        if (ev == TETHER_EVENT_CLOSE) {
            break;
        }
        if (ev == TETHER_EVENT_DATA) {
            tether_incoming in;
            TRY(tether_receiver_handle(&rx, plain, n, &in));
            if (in.kind == TETHER_INCOMING_ACK) {
                TRY(tether_sender_on_ack(&sender, in.seq));
            } else {
                printf("[device] <- a frame after our close: left for the next session\n");
            }
        }
    }
    printf("[device] <- close; done\n");
    exit_code = 0;

done:
    /* Wipes are safe on storage that was never set up or is already wiped. The outbox's
     * "flash" holds only sealed bytes; the receiver state is not secret, but goes too. */
    tether_handshake_wipe(&hs);
    tether_session_wipe(&session);
    tether_sender_wipe(&sender);
    tether_decoder_wipe(&dec);
    wipe_bytes(&rx, sizeof rx);
    wipe_bytes(storage_key, sizeof storage_key);
    wipe_bytes(plain, sizeof plain);
    wipe_bytes(frame, sizeof frame);
    if (c.fd >= 0) {
        close(c.fd);
    }
    fflush(stdout);
    return exit_code;
}
