/*
 * C-side tests of delivery through the C ABI: a sender over the sealed outbox whose "flash" is
 * a set of C arrays behind the storage callbacks, and receivers in plain C structs. Covers
 * delivery end to end, resend and duplicates, a reboot that resumes, each storage attack and its
 * recovery, and misuse (NULL, wrong kind, copies, overlap, small buffers, re-entry from a
 * callback, I/O failures). No malloc in this file.
 *
 * Build and run through ffi/tests/c/run.sh (ASan+UBSan, then valgrind). By hand:
 *   gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -I ffi/include ffi/tests/c/test_outbox.c \
 *       target/debug/libtether_ffi.a -lpthread -ldl -lm -o /tmp/test_outbox && /tmp/test_outbox
 */

#include "tether.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(tether_sender) == TETHER_SENDER_SIZE, "tether_sender size");
_Static_assert(alignof(tether_sender) == TETHER_SENDER_ALIGN, "tether_sender align");
_Static_assert(sizeof(((tether_receiver_state *)0)->bytes) == TETHER_RECEIVER_STATE_LEN,
               "receiver state bytes");

/* ------------------------------------------------------------------------------------------ */
/* Harness (harness.h)                                                                         */

#include "harness.h"

static int all_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* The in-memory flash and its callbacks                                                       */

#define SLOTS 4
#define SLOT_SIZE (TETHER_OUTBOX_ENTRY_OVERHEAD + 64)
#define BLOCK 4
#define WINDOW 8

typedef struct {
    uint8_t entry[SLOTS][SLOT_SIZE];
    size_t entry_len[SLOTS]; /* 0 = erased */
    uint8_t index[2][TETHER_OUTBOX_INDEX_LEN];
    size_t index_len[2];
    uint64_t counter; /* stands for a secure element's monotonic counter */
} flash_t;

typedef struct {
    flash_t flash;
    int fail_writes;          /* write callbacks report an I/O failure */
    tether_sender *reenter;   /* if set, write_entry calls back into this sender */
    tether_status reentry;    /* what that call returned */
    uint8_t rng;              /* deterministic "entropy" */
} device_t;

static int read_slot(const uint8_t *src, size_t stored, uint8_t *buf, size_t cap, size_t *len) {
    memcpy(buf, src, stored < cap ? stored : cap);
    *len = stored;
    return 0;
}

static int32_t cb_read_entry(void *user, uint32_t which, uint8_t *buf, size_t cap, size_t *len) {
    device_t *d = user;
    if (which >= SLOTS) {
        return -1;
    }
    return read_slot(d->flash.entry[which], d->flash.entry_len[which], buf, cap, len);
}

static int32_t cb_write_entry(void *user, uint32_t which, const uint8_t *data, size_t len) {
    device_t *d = user;
    if (d->reenter != NULL) {
        uint64_t n = 0;
        d->reentry = tether_sender_pending(d->reenter, &n);
    }
    if (d->fail_writes || which >= SLOTS || len > SLOT_SIZE) {
        return -1;
    }
    memcpy(d->flash.entry[which], data, len);
    d->flash.entry_len[which] = len;
    return 0;
}

static int32_t cb_read_index(void *user, uint32_t which, uint8_t *buf, size_t cap, size_t *len) {
    device_t *d = user;
    if (which > 1) {
        return -1;
    }
    return read_slot(d->flash.index[which], d->flash.index_len[which], buf, cap, len);
}

static int32_t cb_write_index(void *user, uint32_t which, const uint8_t *data, size_t len) {
    device_t *d = user;
    if (d->fail_writes || which > 1 || len > TETHER_OUTBOX_INDEX_LEN) {
        return -1;
    }
    memcpy(d->flash.index[which], data, len);
    d->flash.index_len[which] = len;
    return 0;
}

static int32_t cb_erase_index(void *user, uint32_t which) {
    device_t *d = user;
    if (d->fail_writes || which > 1) {
        return -1;
    }
    d->flash.index_len[which] = 0;
    return 0;
}

static int32_t cb_read_counter(void *user, uint64_t *value) {
    *value = ((device_t *)user)->flash.counter;
    return 0;
}

static int32_t cb_write_counter(void *user, uint64_t value) {
    device_t *d = user;
    if (d->fail_writes || value <= d->flash.counter) {
        return -1;
    }
    d->flash.counter = value;
    return 0;
}

static int32_t det_random(void *user, uint8_t *buf, size_t len) {
    device_t *d = user;
    for (size_t i = 0; i < len; i++) {
        buf[i] = ++d->rng;
    }
    return 0;
}

static tether_outbox_storage storage_of(device_t *d) {
    tether_outbox_storage s;
    memset(&s, 0, sizeof s);
    s.user = d;
    s.slot_count = SLOTS;
    s.slot_size = SLOT_SIZE;
    s.read_entry = cb_read_entry;
    s.write_entry = cb_write_entry;
    s.read_index = cb_read_index;
    s.write_index = cb_write_index;
    s.erase_index = cb_erase_index;
    s.read_counter = cb_read_counter;
    s.write_counter = cb_write_counter;
    return s;
}

static tether_platform platform_of(device_t *d) {
    tether_platform p;
    memset(&p, 0, sizeof p);
    p.user = d;
    p.fill_random = det_random;
    return p;
}

static const uint8_t STORAGE_KEY[32] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
};

static tether_status open_sender(tether_sender *s, device_t *d, uint64_t resend_after_ms) {
    const tether_outbox_storage st = storage_of(d);
    const tether_platform p = platform_of(d);
    return tether_sender_open(s, &st, STORAGE_KEY, &p, BLOCK, WINDOW, resend_after_ms);
}

static tether_status reset_sender(tether_sender *s, device_t *d) {
    const tether_outbox_storage st = storage_of(d);
    const tether_platform p = platform_of(d);
    return tether_sender_reset_storage(s, &st, STORAGE_KEY, &p, BLOCK, WINDOW, 0);
}

/* One frame in flight. */
typedef struct {
    uint8_t bytes[TETHER_DELIVERY_MAX_FRAME];
    size_t len;
} frame_t;

static int next_frame(tether_sender *s, uint64_t now, frame_t *f) {
    CHECK_OK(tether_sender_next_frame(s, now, f->bytes, sizeof f->bytes, &f->len));
    return f->len != 0;
}

static tether_incoming handle(tether_receiver_state *rx, const frame_t *f) {
    tether_incoming in;
    memset(&in, 0xa5, sizeof in);
    CHECK_OK(tether_receiver_handle(rx, f->bytes, f->len, &in));
    return in;
}

/* The cloud side applies a message: "persists" `then` with it, then acknowledges. Returns the
 * ack frame. */
static frame_t deliver(tether_receiver_state *rx, const tether_incoming *in, uint8_t *persisted) {
    frame_t ack;
    CHECK(in->kind == TETHER_INCOMING_MESSAGE);
    memcpy(persisted, in->then, TETHER_RECEIVER_STATE_LEN); /* with the message's effect */
    CHECK_OK(tether_receiver_delivered(rx, in->seq, ack.bytes, TETHER_DELIVERY_CONTROL_MAX,
                                       &ack.len));
    CHECK(memcmp(rx->bytes, persisted, TETHER_RECEIVER_STATE_LEN) == 0);
    return ack;
}

/* The device side reads an ack frame with its own receiver and passes it to its sender. */
static void take_ack(tether_sender *s, tether_receiver_state *dev_rx, const frame_t *ack,
                     uint64_t want) {
    const tether_incoming in = handle(dev_rx, ack);
    CHECK(in.kind == TETHER_INCOMING_ACK);
    CHECK(in.seq == want);
    CHECK(in.message == NULL);
    CHECK_OK(tether_sender_on_ack(s, in.seq));
}

static void push(tether_sender *s, const char *text, uint64_t want_seq) {
    uint64_t seq = 0;
    CHECK_OK(tether_sender_push(s, (const uint8_t *)text, strlen(text), &seq));
    CHECK(seq == want_seq);
}

static uint64_t pending(tether_sender *s) {
    uint64_t n = UINT64_MAX;
    CHECK_OK(tether_sender_pending(s, &n));
    return n;
}

static int message_is(const tether_incoming *in, const char *text) {
    return in->kind == TETHER_INCOMING_MESSAGE && in->message_len == strlen(text) &&
           memcmp(in->message, text, in->message_len) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */

static device_t dev; /* static: zeroed flash, as fresh as a new part */
static tether_sender sender;

static void fresh(void) {
    tether_sender_wipe(&sender);
    memset(&dev, 0, sizeof dev);
}

static void test_deliver_end_to_end(void) {
    fresh();
    tether_receiver_state cloud = {0}, device_rx = {0};
    uint8_t persisted[TETHER_RECEIVER_STATE_LEN] = {0};
    CHECK_OK(open_sender(&sender, &dev, 0));
    CHECK(dev.flash.counter > 0 && dev.flash.index_len[1] == TETHER_OUTBOX_INDEX_LEN);
    push(&sender, "one", 1);
    push(&sender, "two", 2);
    push(&sender, "three", 3);
    CHECK(pending(&sender) == 3);
    /* The plaintext is not on the flash. */
    for (size_t i = 0; i + 3 <= dev.flash.entry_len[1]; i++) {
        CHECK(memcmp(dev.flash.entry[1] + i, "one", 3) != 0);
    }

    frame_t f;
    CHECK(next_frame(&sender, 0, &f));
    tether_incoming in = handle(&cloud, &f);
    CHECK(in.kind == TETHER_INCOMING_NEW_STREAM && in.seq == 1 && !in.has_previous);
    frame_t ack;
    CHECK_OK(tether_receiver_poll_ack(&cloud, ack.bytes, sizeof ack.bytes, &ack.len));
    CHECK(ack.len == 3);
    take_ack(&sender, &device_rx, &ack, 0);

    const char *want[] = {"one", "two", "three"};
    for (uint64_t i = 0; i < 3; i++) {
        CHECK(next_frame(&sender, 0, &f));
        in = handle(&cloud, &f);
        CHECK(message_is(&in, want[i]) && in.seq == i + 1);
        CHECK(in.message >= f.bytes && in.message + in.message_len <= f.bytes + f.len);
        ack = deliver(&cloud, &in, persisted);
        take_ack(&sender, &device_rx, &ack, i + 1);
    }
    CHECK(!next_frame(&sender, 0, &f));
    CHECK(pending(&sender) == 0);
    /* Nothing owed: no ack to poll. */
    CHECK_OK(tether_receiver_poll_ack(&cloud, ack.bytes, sizeof ack.bytes, &ack.len));
    CHECK(ack.len == 0);
    tether_sender_wipe(&sender);
    CHECK(all_zero(&sender, sizeof sender));
}

static void test_resend_dedup_and_reconnect(void) {
    fresh();
    tether_receiver_state cloud = {0}, device_rx = {0};
    uint8_t persisted[TETHER_RECEIVER_STATE_LEN];
    CHECK_OK(open_sender(&sender, &dev, 100));
    push(&sender, "a", 1);
    push(&sender, "b", 2);
    frame_t hello, d1, d2, f, ack;
    CHECK(next_frame(&sender, 1000, &hello));
    CHECK(next_frame(&sender, 1000, &d1));
    CHECK(next_frame(&sender, 1000, &d2));
    CHECK(!next_frame(&sender, 1099, &f));
    /* d1 is lost: d2 is a gap and is dropped. */
    CHECK(handle(&cloud, &hello).kind == TETHER_INCOMING_NEW_STREAM);
    tether_incoming in = handle(&cloud, &d2);
    CHECK(in.kind == TETHER_INCOMING_GAP && in.expected == 1 && in.seq == 2);
    /* Silence: everything again, the hello first (never answered). */
    CHECK(next_frame(&sender, 1100, &f));
    in = handle(&cloud, &f);
    CHECK(in.kind == TETHER_INCOMING_RESUMED && in.seq == 0);
    CHECK(next_frame(&sender, 1100, &f));
    in = handle(&cloud, &f);
    CHECK(message_is(&in, "a"));
    ack = deliver(&cloud, &in, persisted);
    take_ack(&sender, &device_rx, &ack, 1);
    /* A duplicate of d1 is not delivered again; an ack is due. */
    in = handle(&cloud, &d1);
    CHECK(in.kind == TETHER_INCOMING_DUPLICATE && in.seq == 1);
    CHECK_OK(tether_receiver_poll_ack(&cloud, ack.bytes, sizeof ack.bytes, &ack.len));
    CHECK(ack.len == 3);
    /* Delivering twice is refused and changes nothing. */
    uint8_t before[sizeof cloud];
    memcpy(before, &cloud, sizeof cloud);
    CHECK_ST(tether_receiver_delivered(&cloud, 1, ack.bytes, sizeof ack.bytes, &ack.len),
             TETHER_ERR_BAD_STATE);
    CHECK(memcmp(before, &cloud, sizeof cloud) == 0);
    /* A new session: hello, then the unacknowledged "b" again. Data before hello is refused. */
    CHECK_OK(tether_sender_reconnect(&sender));
    CHECK_OK(tether_receiver_reconnect(&cloud));
    CHECK_ST(tether_receiver_handle(&cloud, d2.bytes, d2.len, &in),
             TETHER_ERR_UNEXPECTED_MESSAGE);
    CHECK(next_frame(&sender, 5000, &f));
    in = handle(&cloud, &f);
    CHECK(in.kind == TETHER_INCOMING_RESUMED && in.seq == 1);
    CHECK(next_frame(&sender, 5000, &f));
    in = handle(&cloud, &f);
    CHECK(message_is(&in, "b") && in.seq == 2);
    ack = deliver(&cloud, &in, persisted);
    take_ack(&sender, &device_rx, &ack, 2);
    CHECK(pending(&sender) == 0);
    /* An ack above anything assigned is refused. */
    CHECK_ST(tether_sender_on_ack(&sender, 3), TETHER_ERR_UNEXPECTED_MESSAGE);
    /* Garbage is a bad frame and changes nothing. */
    const uint8_t junk[] = {0x83, 0x00};
    memcpy(before, &cloud, sizeof cloud);
    CHECK_ST(tether_receiver_handle(&cloud, junk, sizeof junk, &in), TETHER_ERR_BAD_FRAME);
    CHECK(memcmp(before, &cloud, sizeof cloud) == 0);
}

static void test_reboot_resumes(void) {
    fresh();
    tether_receiver_state cloud = {0}, device_rx = {0};
    uint8_t persisted[TETHER_RECEIVER_STATE_LEN] = {0};
    CHECK_OK(open_sender(&sender, &dev, 0));
    push(&sender, "kept", 1);
    push(&sender, "also kept", 2);
    frame_t f, ack;
    CHECK(next_frame(&sender, 0, &f));
    handle(&cloud, &f);
    CHECK(next_frame(&sender, 0, &f));
    tether_incoming in = handle(&cloud, &f);
    ack = deliver(&cloud, &in, persisted);
    take_ack(&sender, &device_rx, &ack, 1);

    /* Both sides reboot: the device opens a new handle over the same flash, the cloud reloads
     * what it persisted (session flags 0). */
    tether_sender_wipe(&sender);
    static tether_sender after_reboot;
    CHECK_OK(open_sender(&after_reboot, &dev, 0));
    CHECK(pending(&after_reboot) == 1);
    tether_receiver_state reloaded = {0};
    memcpy(reloaded.bytes, persisted, sizeof reloaded.bytes);
    CHECK(next_frame(&after_reboot, 0, &f));
    in = handle(&reloaded, &f);
    CHECK(in.kind == TETHER_INCOMING_RESUMED && in.seq == 1);
    CHECK(next_frame(&after_reboot, 0, &f));
    in = handle(&reloaded, &f);
    CHECK(message_is(&in, "also kept") && in.seq == 2);
    ack = deliver(&reloaded, &in, persisted);
    device_rx.session = 0;
    take_ack(&after_reboot, &device_rx, &ack, 2);
    CHECK(pending(&after_reboot) == 0);
    tether_sender_wipe(&after_reboot);
}

/* Opens, expects `status` with the handle left zeroed, then recovers with a reset and checks
 * that the peer sees a new stream. */
static void expect_detection_then_reset(tether_status status) {
    tether_sender_wipe(&sender);
    CHECK_ST(open_sender(&sender, &dev, 0), status);
    CHECK(all_zero(&sender, sizeof sender));
    CHECK_ST(tether_sender_reconnect(&sender), TETHER_ERR_BAD_STATE);
    const uint64_t counter = dev.flash.counter;
    CHECK_OK(reset_sender(&sender, &dev));
    CHECK(dev.flash.counter >= counter); /* never goes back: no nonce reuse */
    CHECK(pending(&sender) == 0);
    frame_t f;
    CHECK_ST(tether_sender_next_frame(&sender, 0, f.bytes, sizeof f.bytes, &f.len),
             TETHER_ERR_BAD_STATE); /* not on the old session */
    push(&sender, "after reset", 1);
    CHECK_OK(tether_sender_reconnect(&sender));
    tether_receiver_state cloud = {0};
    memset(cloud.bytes, 0x77, 8); /* followed some old stream, next = 1 */
    cloud.bytes[15] = 1;
    CHECK(next_frame(&sender, 0, &f));
    tether_incoming in = handle(&cloud, &f);
    CHECK(in.kind == TETHER_INCOMING_NEW_STREAM && in.has_previous && in.seq == 1);
    CHECK(in.previous[0] == 0x77 && memcmp(in.stream, in.previous, 8) != 0);
    CHECK(next_frame(&sender, 0, &f));
    CHECK(message_is((in = handle(&cloud, &f), &in), "after reset"));
    /* And the reset storage opens cleanly. */
    tether_sender_wipe(&sender);
    CHECK_OK(open_sender(&sender, &dev, 0));
    CHECK(pending(&sender) == 1);
    tether_sender_wipe(&sender);
}

static flash_t good;

static void prepare_three(void) {
    fresh();
    CHECK_OK(open_sender(&sender, &dev, 0));
    push(&sender, "m1", 1);
    push(&sender, "m2", 2);
    push(&sender, "m3", 3);
    tether_sender_wipe(&sender);
    good = dev.flash;
}

static void test_attack_tampered(void) {
    prepare_three();
    dev.flash.entry[2][30] ^= 0x01;
    expect_detection_then_reset(TETHER_ERR_STORAGE_TAMPERED);
}

static void test_attack_reordered(void) {
    prepare_three();
    uint8_t tmp[SLOT_SIZE];
    memcpy(tmp, dev.flash.entry[1], SLOT_SIZE);
    memcpy(dev.flash.entry[1], dev.flash.entry[2], SLOT_SIZE);
    memcpy(dev.flash.entry[2], tmp, SLOT_SIZE);
    const size_t l = dev.flash.entry_len[1];
    dev.flash.entry_len[1] = dev.flash.entry_len[2];
    dev.flash.entry_len[2] = l;
    expect_detection_then_reset(TETHER_ERR_STORAGE_REORDERED);
}

static void test_attack_truncated(void) {
    prepare_three();
    dev.flash.entry_len[3] = 0; /* erased: the index still names it */
    expect_detection_then_reset(TETHER_ERR_STORAGE_TRUNCATED);
    prepare_three();
    dev.flash.entry_len[2] -= 5; /* cut short */
    expect_detection_then_reset(TETHER_ERR_STORAGE_TRUNCATED);
}

static void test_attack_rolled_back(void) {
    prepare_three();
    /* Keep going until the counter moved twice past the snapshot's reservation. */
    CHECK_OK(open_sender(&sender, &dev, 0));
    CHECK_OK(tether_sender_on_ack(&sender, 3));
    uint64_t seq = 4;
    while (dev.flash.counter < good.counter + 2 * BLOCK) {
        push(&sender, "x", seq);
        CHECK_OK(tether_sender_on_ack(&sender, seq));
        seq++;
    }
    tether_sender_wipe(&sender);
    const uint64_t counter = dev.flash.counter;
    dev.flash = good; /* an old image of every array... */
    dev.flash.counter = counter; /* ...but the counter cell cannot be restored */
    expect_detection_then_reset(TETHER_ERR_STORAGE_ROLLED_BACK);
}

static void test_io_failure_loses_nothing(void) {
    fresh();
    CHECK_OK(open_sender(&sender, &dev, 0));
    push(&sender, "safe", 1);
    const flash_t before = dev.flash;
    dev.fail_writes = 1;
    uint64_t seq = 99;
    CHECK_ST(tether_sender_push(&sender, (const uint8_t *)"lost", 4, &seq), TETHER_ERR_STORAGE_IO);
    CHECK(seq == 99);
    CHECK(memcmp(&before, &dev.flash, sizeof before) == 0);
    dev.fail_writes = 0;
    /* Stopped until opened again. */
    CHECK_ST(tether_sender_push(&sender, (const uint8_t *)"x", 1, &seq), TETHER_ERR_STORAGE_IO);
    CHECK_OK(open_sender(&sender, &dev, 0)); /* replaces the live handle */
    CHECK(pending(&sender) == 1);
    tether_receiver_state cloud = {0};
    frame_t f;
    CHECK(next_frame(&sender, 0, &f));
    handle(&cloud, &f);
    CHECK(next_frame(&sender, 0, &f));
    tether_incoming in = handle(&cloud, &f);
    CHECK(message_is(&in, "safe"));
    /* An open that fails on I/O leaves fresh storage uninitialised. */
    tether_sender_wipe(&sender);
    memset(&dev, 0, sizeof dev);
    dev.fail_writes = 1;
    CHECK_ST(open_sender(&sender, &dev, 0), TETHER_ERR_STORAGE_IO);
    CHECK(all_zero(&sender, sizeof sender));
    dev.fail_writes = 0;
}

static void test_full_and_too_large(void) {
    fresh();
    CHECK_OK(open_sender(&sender, &dev, 0));
    for (uint64_t i = 1; i <= SLOTS; i++) {
        push(&sender, "fill", i);
    }
    uint64_t seq = 0;
    CHECK_ST(tether_sender_push(&sender, (const uint8_t *)"more", 4, &seq),
             TETHER_ERR_OUTBOX_FULL);
    CHECK_OK(tether_sender_on_ack(&sender, 1));
    push(&sender, "more", SLOTS + 1);
    static const uint8_t big[65];
    CHECK_ST(tether_sender_push(&sender, big, sizeof big, &seq), TETHER_ERR_PLAINTEXT_TOO_LARGE);
    CHECK_ST(tether_sender_push(&sender, NULL, 0, NULL), TETHER_ERR_OUTBOX_FULL);
    tether_sender_wipe(&sender);
}

static void test_misuse(void) {
    fresh();
    const tether_outbox_storage st = storage_of(&dev);
    const tether_platform p = platform_of(&dev);
    uint64_t n = 0;
    frame_t f;
    /* NULLs. */
    CHECK_ST(tether_sender_open(NULL, &st, STORAGE_KEY, &p, BLOCK, WINDOW, 0), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_open(&sender, NULL, STORAGE_KEY, &p, BLOCK, WINDOW, 0), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_open(&sender, &st, NULL, &p, BLOCK, WINDOW, 0), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_open(&sender, &st, STORAGE_KEY, NULL, BLOCK, WINDOW, 0), TETHER_ERR_NULL);
    tether_outbox_storage missing = st;
    missing.write_counter = NULL;
    CHECK_ST(tether_sender_open(&sender, &missing, STORAGE_KEY, &p, BLOCK, WINDOW, 0),
             TETHER_ERR_NULL);
    CHECK_ST(tether_sender_open(&sender, &st, STORAGE_KEY, &p, 1, WINDOW, 0), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_sender_open(&sender, &st, STORAGE_KEY, &p, BLOCK, 0, 0), TETHER_ERR_BAD_CONFIG);
    tether_outbox_storage tiny = st;
    tiny.slot_size = TETHER_OUTBOX_ENTRY_OVERHEAD - 1;
    CHECK_ST(tether_sender_open(&sender, &tiny, STORAGE_KEY, &p, BLOCK, WINDOW, 0),
             TETHER_ERR_BAD_CONFIG);
    CHECK(all_zero(&dev.flash, sizeof dev.flash)); /* refused opens wrote nothing */
    CHECK(all_zero(&sender, sizeof sender));
    /* Not opened yet. */
    CHECK_ST(tether_sender_pending(&sender, &n), TETHER_ERR_BAD_STATE);
    CHECK_OK(open_sender(&sender, &dev, 0));
    CHECK_ST(tether_sender_pending(&sender, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_pending(NULL, &n), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_push(&sender, NULL, 3, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_next_frame(&sender, 0, f.bytes, sizeof f.bytes, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_next_frame(&sender, 0, NULL, 5, &f.len), TETHER_ERR_NULL);
    CHECK_ST(tether_sender_push(&sender, (const uint8_t *)"x", (size_t)PTRDIFF_MAX + 1, NULL),
             TETHER_ERR_BAD_LENGTH);
    /* Too small: the size needed, nothing sent. */
    uint8_t small[4];
    size_t written = 0;
    CHECK_ST(tether_sender_hello(&sender, small, sizeof small, &written),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(written > sizeof small && written <= TETHER_DELIVERY_CONTROL_MAX);
    CHECK_ST(tether_sender_next_frame(&sender, 0, small, sizeof small, &written),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(next_frame(&sender, 0, &f)); /* the hello is still due */
    CHECK(f.len == written);
    /* Overlap: an output inside the handle, the count inside the message. */
    CHECK_ST(tether_sender_next_frame(&sender, 0, (uint8_t *)&sender + 64, 64, &written),
             TETHER_ERR_OVERLAP);
    uint8_t msg[16] = {0};
    CHECK_ST(tether_sender_push(&sender, msg, sizeof msg, (uint64_t *)(void *)(msg + 8)),
             TETHER_ERR_OVERLAP);
    CHECK(pending(&sender) == 0);
    tether_receiver_state rx = {0};
    tether_incoming in;
    CHECK_ST(tether_receiver_handle(&rx, (const uint8_t *)&in, 8, &in), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_receiver_handle(&rx, f.bytes, f.len, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_receiver_handle(NULL, f.bytes, f.len, &in), TETHER_ERR_NULL);
    /* A corrupted receiver state is refused, not followed. */
    tether_receiver_state bad = {0};
    memset(bad.bytes, 0xff, sizeof bad.bytes);
    CHECK_ST(tether_receiver_handle(&bad, f.bytes, f.len, &in), TETHER_ERR_BAD_RECEIVER_STATE);
    bad = (tether_receiver_state){0};
    bad.session = 8;
    CHECK_ST(tether_receiver_reconnect(&bad), TETHER_ERR_BAD_RECEIVER_STATE);
    /* A copied handle is refused; wiping the copy leaves the original working. */
    static tether_sender copy;
    memcpy(&copy, &sender, sizeof copy);
    CHECK_ST(tether_sender_reconnect(&copy), TETHER_ERR_COPIED);
    tether_sender_wipe(&copy);
    CHECK(all_zero(&copy, sizeof copy));
    CHECK_OK(tether_sender_reconnect(&sender));
    /* Another kind of handle. */
    static tether_decoder dec;
    CHECK_OK(tether_decoder_init(&dec, 1024));
    CHECK_ST(tether_sender_pending((tether_sender *)(void *)&dec, &n), TETHER_ERR_BAD_STATE);
    tether_sender_wipe((tether_sender *)(void *)&dec); /* left alone */
    CHECK(!all_zero(&dec, sizeof dec));
    tether_decoder_wipe(&dec);
    CHECK(all_zero(&dec, sizeof dec));
    /* Re-entry from a storage callback: BUSY for the nested call, the outer push succeeds. */
    dev.reenter = &sender;
    dev.reentry = TETHER_OK;
    push(&sender, "re-entered", 1);
    dev.reenter = NULL;
    CHECK_ST(dev.reentry, TETHER_ERR_BUSY);
    CHECK(pending(&sender) == 1);
    tether_sender_wipe(&sender);
    tether_sender_wipe(NULL);
}

typedef struct {
    const char *name;
    void (*run)(void);
} test_t;

static const test_t TESTS[] = {
    {"deliver_end_to_end", test_deliver_end_to_end},
    {"resend_dedup_and_reconnect", test_resend_dedup_and_reconnect},
    {"reboot_resumes", test_reboot_resumes},
    {"attack_tampered", test_attack_tampered},
    {"attack_reordered", test_attack_reordered},
    {"attack_truncated", test_attack_truncated},
    {"attack_rolled_back", test_attack_rolled_back},
    {"io_failure_loses_nothing", test_io_failure_loses_nothing},
    {"full_and_too_large", test_full_and_too_large},
    {"misuse", test_misuse},
};

int main(void) {
    const size_t n = sizeof TESTS / sizeof TESTS[0];
    for (size_t i = 0; i < n; i++) {
        current_test = TESTS[i].name;
        TESTS[i].run();
        tests_passed++;
        printf("ok %zu - %s\n", i + 1, TESTS[i].name);
        fflush(stdout);
    }
    printf("%d passed, 0 failed\n", tests_passed);
    fflush(stdout);
    return 0;
}
