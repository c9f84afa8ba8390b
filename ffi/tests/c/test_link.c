/*
 * C tests of tether's BLE link layer through the C ABI (ffi/include/tether.h; spec/LINK.md):
 * - every sequence of spec/vectors/link.json through tether_reassembler_push, step by step (the
 *   status, the unit, the interruption, and whether a unit is left in progress);
 * - every unit of the vectors through tether_fragmenter_start/next at ATT_MTU 23, 185 and 517
 *   (the exact fragments, their sizes and bytes on air), and back through a reassembler;
 * - the fragmenter's rules (numbering, buffer too small, one unit at a time, MTU changes) and
 *   the reassembler's lending (into the fragment or its own buffer);
 * - misuse as C users make it: NULL, wrong kind of handle (a union), copies, use after wipe,
 *   misaligned storage, impossible lengths, overlapping buffers, two threads on one handle;
 * - the phone's side of a BLE session: the device initiates Reconnect (KK) on the device-phone
 *   channel, the phone answers as responder, and every unit both ways (handshake messages,
 *   records of vital signs) crosses the link as fragments at ATT_MTU 23, 185 and 517.
 *
 * Build and run through ffi/tests/c/run.sh (ASan+UBSan, then valgrind). No malloc here. The
 * last line on success is "N passed, 0 failed"; the first failed CHECK ends the run.
 */

#define _POSIX_C_SOURCE 200809L

#include "tether.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

_Static_assert(sizeof(tether_fragmenter) == TETHER_FRAGMENTER_SIZE, "fragmenter size");
_Static_assert(alignof(tether_fragmenter) == TETHER_FRAGMENTER_ALIGN, "fragmenter align");
_Static_assert(sizeof(tether_reassembler) == TETHER_REASSEMBLER_SIZE, "reassembler size");
_Static_assert(alignof(tether_reassembler) == TETHER_REASSEMBLER_ALIGN, "reassembler align");
_Static_assert(TETHER_LINK_MAX_FRAGMENT == 512, "the largest attribute value");
_Static_assert(TETHER_LINK_MIN_ATT_MTU == 23, "the default ATT_MTU");
_Static_assert(TETHER_LINK_DEFAULT_MAX_UNIT == TETHER_DELIVERY_MAX_FRAME + TETHER_DATAGRAM_OVERHEAD,
               "a datagram record of the largest delivery frame");
_Static_assert(TETHER_LINK_MAX_UNIT == 65535, "a unit's length travels in two bytes");

/* Buffers sized with the header's macros alone. */
static uint8_t g_fragment[TETHER_LINK_MAX_FRAGMENT];
static uint8_t g_unit[TETHER_LINK_MAX_UNIT];

typedef enum { PENDING, UNIT, ERROR } outcome_t;

/* One step of a vector sequence: a fragment and what the reassembler makes of it. */
typedef struct {
    const char *fragment;
    outcome_t result;
    tether_status error; /* ERROR only */
    bool interrupted;
    const char *unit; /* UNIT only */
} step_t;

typedef struct {
    const char *name;
    uint16_t mtu;
    uint32_t max_unit;
    const step_t *steps;
    size_t n_steps;
    bool in_progress_after; /* a unit is still in progress after the last step */
} sequence_t;

/* A unit of the vectors and its fragments (all of them, or the first and the last for units
 * above 1000 bytes). */
typedef struct {
    uint16_t mtu;
    size_t max_fragment;
    uint8_t number;
    size_t unit_len;
    int seed; /* -1: the bytes are in unit_hex */
    const char *unit_hex;
    size_t n_fragments;
    size_t link_overhead;
    size_t bytes_on_air;
    const char *fragments[4];
} unit_vector_t;

/* ------------------------------------------------------------------------------------------ */
/* From spec/vectors/link.json: every sequence, every step (hex as in the file).              */

/* "duplicate": A's fragment 1 twice: the copy abandons A */
static const step_t SEQ_DUPLICATE[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_DUPLICATE, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "earlier_index": A's fragment 1 again after fragment 2 */
static const step_t SEQ_EARLIER_INDEX[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_DUPLICATE, false, NULL},
    {"41030c131a21282f363d", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "gap": A's fragment 1 lost */
static const step_t SEQ_GAP[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", ERROR, TETHER_ERR_LINK_GAP, false, NULL},
    {"41030c131a21282f363d", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "in_order": the three fragments of B in order */
static const step_t SEQ_IN_ORDER[] = {
    {"82000028b0b7bec5ccd3dae1e8eff6fd040b1219", PENDING, TETHER_OK, false, NULL},
    {"020120272e353c434a51585f666d747b82899097", PENDING, TETHER_OK, false, NULL},
    {"42029ea5acb3bac1", UNIT, TETHER_OK, false,
     "b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1"},
};
/* "incomplete_at_index_255": a unit declared 1000 bytes sent one byte per fragment: index 255
 * without END cannot be followed */
static const step_t SEQ_INCOMPLETE_AT_INDEX_255[] = {
    {"890003e800", PENDING, TETHER_OK, false, NULL},
    {"090101", PENDING, TETHER_OK, false, NULL},
    {"090202", PENDING, TETHER_OK, false, NULL},
    {"090303", PENDING, TETHER_OK, false, NULL},
    {"090404", PENDING, TETHER_OK, false, NULL},
    {"090505", PENDING, TETHER_OK, false, NULL},
    {"090606", PENDING, TETHER_OK, false, NULL},
    {"090707", PENDING, TETHER_OK, false, NULL},
    {"090808", PENDING, TETHER_OK, false, NULL},
    {"090909", PENDING, TETHER_OK, false, NULL},
    {"090a0a", PENDING, TETHER_OK, false, NULL},
    {"090b0b", PENDING, TETHER_OK, false, NULL},
    {"090c0c", PENDING, TETHER_OK, false, NULL},
    {"090d0d", PENDING, TETHER_OK, false, NULL},
    {"090e0e", PENDING, TETHER_OK, false, NULL},
    {"090f0f", PENDING, TETHER_OK, false, NULL},
    {"091010", PENDING, TETHER_OK, false, NULL},
    {"091111", PENDING, TETHER_OK, false, NULL},
    {"091212", PENDING, TETHER_OK, false, NULL},
    {"091313", PENDING, TETHER_OK, false, NULL},
    {"091414", PENDING, TETHER_OK, false, NULL},
    {"091515", PENDING, TETHER_OK, false, NULL},
    {"091616", PENDING, TETHER_OK, false, NULL},
    {"091717", PENDING, TETHER_OK, false, NULL},
    {"091818", PENDING, TETHER_OK, false, NULL},
    {"091919", PENDING, TETHER_OK, false, NULL},
    {"091a1a", PENDING, TETHER_OK, false, NULL},
    {"091b1b", PENDING, TETHER_OK, false, NULL},
    {"091c1c", PENDING, TETHER_OK, false, NULL},
    {"091d1d", PENDING, TETHER_OK, false, NULL},
    {"091e1e", PENDING, TETHER_OK, false, NULL},
    {"091f1f", PENDING, TETHER_OK, false, NULL},
    {"092020", PENDING, TETHER_OK, false, NULL},
    {"092121", PENDING, TETHER_OK, false, NULL},
    {"092222", PENDING, TETHER_OK, false, NULL},
    {"092323", PENDING, TETHER_OK, false, NULL},
    {"092424", PENDING, TETHER_OK, false, NULL},
    {"092525", PENDING, TETHER_OK, false, NULL},
    {"092626", PENDING, TETHER_OK, false, NULL},
    {"092727", PENDING, TETHER_OK, false, NULL},
    {"092828", PENDING, TETHER_OK, false, NULL},
    {"092929", PENDING, TETHER_OK, false, NULL},
    {"092a2a", PENDING, TETHER_OK, false, NULL},
    {"092b2b", PENDING, TETHER_OK, false, NULL},
    {"092c2c", PENDING, TETHER_OK, false, NULL},
    {"092d2d", PENDING, TETHER_OK, false, NULL},
    {"092e2e", PENDING, TETHER_OK, false, NULL},
    {"092f2f", PENDING, TETHER_OK, false, NULL},
    {"093030", PENDING, TETHER_OK, false, NULL},
    {"093131", PENDING, TETHER_OK, false, NULL},
    {"093232", PENDING, TETHER_OK, false, NULL},
    {"093333", PENDING, TETHER_OK, false, NULL},
    {"093434", PENDING, TETHER_OK, false, NULL},
    {"093535", PENDING, TETHER_OK, false, NULL},
    {"093636", PENDING, TETHER_OK, false, NULL},
    {"093737", PENDING, TETHER_OK, false, NULL},
    {"093838", PENDING, TETHER_OK, false, NULL},
    {"093939", PENDING, TETHER_OK, false, NULL},
    {"093a3a", PENDING, TETHER_OK, false, NULL},
    {"093b3b", PENDING, TETHER_OK, false, NULL},
    {"093c3c", PENDING, TETHER_OK, false, NULL},
    {"093d3d", PENDING, TETHER_OK, false, NULL},
    {"093e3e", PENDING, TETHER_OK, false, NULL},
    {"093f3f", PENDING, TETHER_OK, false, NULL},
    {"094040", PENDING, TETHER_OK, false, NULL},
    {"094141", PENDING, TETHER_OK, false, NULL},
    {"094242", PENDING, TETHER_OK, false, NULL},
    {"094343", PENDING, TETHER_OK, false, NULL},
    {"094444", PENDING, TETHER_OK, false, NULL},
    {"094545", PENDING, TETHER_OK, false, NULL},
    {"094646", PENDING, TETHER_OK, false, NULL},
    {"094747", PENDING, TETHER_OK, false, NULL},
    {"094848", PENDING, TETHER_OK, false, NULL},
    {"094949", PENDING, TETHER_OK, false, NULL},
    {"094a4a", PENDING, TETHER_OK, false, NULL},
    {"094b4b", PENDING, TETHER_OK, false, NULL},
    {"094c4c", PENDING, TETHER_OK, false, NULL},
    {"094d4d", PENDING, TETHER_OK, false, NULL},
    {"094e4e", PENDING, TETHER_OK, false, NULL},
    {"094f4f", PENDING, TETHER_OK, false, NULL},
    {"095050", PENDING, TETHER_OK, false, NULL},
    {"095151", PENDING, TETHER_OK, false, NULL},
    {"095252", PENDING, TETHER_OK, false, NULL},
    {"095353", PENDING, TETHER_OK, false, NULL},
    {"095454", PENDING, TETHER_OK, false, NULL},
    {"095555", PENDING, TETHER_OK, false, NULL},
    {"095656", PENDING, TETHER_OK, false, NULL},
    {"095757", PENDING, TETHER_OK, false, NULL},
    {"095858", PENDING, TETHER_OK, false, NULL},
    {"095959", PENDING, TETHER_OK, false, NULL},
    {"095a5a", PENDING, TETHER_OK, false, NULL},
    {"095b5b", PENDING, TETHER_OK, false, NULL},
    {"095c5c", PENDING, TETHER_OK, false, NULL},
    {"095d5d", PENDING, TETHER_OK, false, NULL},
    {"095e5e", PENDING, TETHER_OK, false, NULL},
    {"095f5f", PENDING, TETHER_OK, false, NULL},
    {"096060", PENDING, TETHER_OK, false, NULL},
    {"096161", PENDING, TETHER_OK, false, NULL},
    {"096262", PENDING, TETHER_OK, false, NULL},
    {"096363", PENDING, TETHER_OK, false, NULL},
    {"096464", PENDING, TETHER_OK, false, NULL},
    {"096565", PENDING, TETHER_OK, false, NULL},
    {"096666", PENDING, TETHER_OK, false, NULL},
    {"096767", PENDING, TETHER_OK, false, NULL},
    {"096868", PENDING, TETHER_OK, false, NULL},
    {"096969", PENDING, TETHER_OK, false, NULL},
    {"096a6a", PENDING, TETHER_OK, false, NULL},
    {"096b6b", PENDING, TETHER_OK, false, NULL},
    {"096c6c", PENDING, TETHER_OK, false, NULL},
    {"096d6d", PENDING, TETHER_OK, false, NULL},
    {"096e6e", PENDING, TETHER_OK, false, NULL},
    {"096f6f", PENDING, TETHER_OK, false, NULL},
    {"097070", PENDING, TETHER_OK, false, NULL},
    {"097171", PENDING, TETHER_OK, false, NULL},
    {"097272", PENDING, TETHER_OK, false, NULL},
    {"097373", PENDING, TETHER_OK, false, NULL},
    {"097474", PENDING, TETHER_OK, false, NULL},
    {"097575", PENDING, TETHER_OK, false, NULL},
    {"097676", PENDING, TETHER_OK, false, NULL},
    {"097777", PENDING, TETHER_OK, false, NULL},
    {"097878", PENDING, TETHER_OK, false, NULL},
    {"097979", PENDING, TETHER_OK, false, NULL},
    {"097a7a", PENDING, TETHER_OK, false, NULL},
    {"097b7b", PENDING, TETHER_OK, false, NULL},
    {"097c7c", PENDING, TETHER_OK, false, NULL},
    {"097d7d", PENDING, TETHER_OK, false, NULL},
    {"097e7e", PENDING, TETHER_OK, false, NULL},
    {"097f7f", PENDING, TETHER_OK, false, NULL},
    {"098080", PENDING, TETHER_OK, false, NULL},
    {"098181", PENDING, TETHER_OK, false, NULL},
    {"098282", PENDING, TETHER_OK, false, NULL},
    {"098383", PENDING, TETHER_OK, false, NULL},
    {"098484", PENDING, TETHER_OK, false, NULL},
    {"098585", PENDING, TETHER_OK, false, NULL},
    {"098686", PENDING, TETHER_OK, false, NULL},
    {"098787", PENDING, TETHER_OK, false, NULL},
    {"098888", PENDING, TETHER_OK, false, NULL},
    {"098989", PENDING, TETHER_OK, false, NULL},
    {"098a8a", PENDING, TETHER_OK, false, NULL},
    {"098b8b", PENDING, TETHER_OK, false, NULL},
    {"098c8c", PENDING, TETHER_OK, false, NULL},
    {"098d8d", PENDING, TETHER_OK, false, NULL},
    {"098e8e", PENDING, TETHER_OK, false, NULL},
    {"098f8f", PENDING, TETHER_OK, false, NULL},
    {"099090", PENDING, TETHER_OK, false, NULL},
    {"099191", PENDING, TETHER_OK, false, NULL},
    {"099292", PENDING, TETHER_OK, false, NULL},
    {"099393", PENDING, TETHER_OK, false, NULL},
    {"099494", PENDING, TETHER_OK, false, NULL},
    {"099595", PENDING, TETHER_OK, false, NULL},
    {"099696", PENDING, TETHER_OK, false, NULL},
    {"099797", PENDING, TETHER_OK, false, NULL},
    {"099898", PENDING, TETHER_OK, false, NULL},
    {"099999", PENDING, TETHER_OK, false, NULL},
    {"099a9a", PENDING, TETHER_OK, false, NULL},
    {"099b9b", PENDING, TETHER_OK, false, NULL},
    {"099c9c", PENDING, TETHER_OK, false, NULL},
    {"099d9d", PENDING, TETHER_OK, false, NULL},
    {"099e9e", PENDING, TETHER_OK, false, NULL},
    {"099f9f", PENDING, TETHER_OK, false, NULL},
    {"09a0a0", PENDING, TETHER_OK, false, NULL},
    {"09a1a1", PENDING, TETHER_OK, false, NULL},
    {"09a2a2", PENDING, TETHER_OK, false, NULL},
    {"09a3a3", PENDING, TETHER_OK, false, NULL},
    {"09a4a4", PENDING, TETHER_OK, false, NULL},
    {"09a5a5", PENDING, TETHER_OK, false, NULL},
    {"09a6a6", PENDING, TETHER_OK, false, NULL},
    {"09a7a7", PENDING, TETHER_OK, false, NULL},
    {"09a8a8", PENDING, TETHER_OK, false, NULL},
    {"09a9a9", PENDING, TETHER_OK, false, NULL},
    {"09aaaa", PENDING, TETHER_OK, false, NULL},
    {"09abab", PENDING, TETHER_OK, false, NULL},
    {"09acac", PENDING, TETHER_OK, false, NULL},
    {"09adad", PENDING, TETHER_OK, false, NULL},
    {"09aeae", PENDING, TETHER_OK, false, NULL},
    {"09afaf", PENDING, TETHER_OK, false, NULL},
    {"09b0b0", PENDING, TETHER_OK, false, NULL},
    {"09b1b1", PENDING, TETHER_OK, false, NULL},
    {"09b2b2", PENDING, TETHER_OK, false, NULL},
    {"09b3b3", PENDING, TETHER_OK, false, NULL},
    {"09b4b4", PENDING, TETHER_OK, false, NULL},
    {"09b5b5", PENDING, TETHER_OK, false, NULL},
    {"09b6b6", PENDING, TETHER_OK, false, NULL},
    {"09b7b7", PENDING, TETHER_OK, false, NULL},
    {"09b8b8", PENDING, TETHER_OK, false, NULL},
    {"09b9b9", PENDING, TETHER_OK, false, NULL},
    {"09baba", PENDING, TETHER_OK, false, NULL},
    {"09bbbb", PENDING, TETHER_OK, false, NULL},
    {"09bcbc", PENDING, TETHER_OK, false, NULL},
    {"09bdbd", PENDING, TETHER_OK, false, NULL},
    {"09bebe", PENDING, TETHER_OK, false, NULL},
    {"09bfbf", PENDING, TETHER_OK, false, NULL},
    {"09c0c0", PENDING, TETHER_OK, false, NULL},
    {"09c1c1", PENDING, TETHER_OK, false, NULL},
    {"09c2c2", PENDING, TETHER_OK, false, NULL},
    {"09c3c3", PENDING, TETHER_OK, false, NULL},
    {"09c4c4", PENDING, TETHER_OK, false, NULL},
    {"09c5c5", PENDING, TETHER_OK, false, NULL},
    {"09c6c6", PENDING, TETHER_OK, false, NULL},
    {"09c7c7", PENDING, TETHER_OK, false, NULL},
    {"09c8c8", PENDING, TETHER_OK, false, NULL},
    {"09c9c9", PENDING, TETHER_OK, false, NULL},
    {"09caca", PENDING, TETHER_OK, false, NULL},
    {"09cbcb", PENDING, TETHER_OK, false, NULL},
    {"09cccc", PENDING, TETHER_OK, false, NULL},
    {"09cdcd", PENDING, TETHER_OK, false, NULL},
    {"09cece", PENDING, TETHER_OK, false, NULL},
    {"09cfcf", PENDING, TETHER_OK, false, NULL},
    {"09d0d0", PENDING, TETHER_OK, false, NULL},
    {"09d1d1", PENDING, TETHER_OK, false, NULL},
    {"09d2d2", PENDING, TETHER_OK, false, NULL},
    {"09d3d3", PENDING, TETHER_OK, false, NULL},
    {"09d4d4", PENDING, TETHER_OK, false, NULL},
    {"09d5d5", PENDING, TETHER_OK, false, NULL},
    {"09d6d6", PENDING, TETHER_OK, false, NULL},
    {"09d7d7", PENDING, TETHER_OK, false, NULL},
    {"09d8d8", PENDING, TETHER_OK, false, NULL},
    {"09d9d9", PENDING, TETHER_OK, false, NULL},
    {"09dada", PENDING, TETHER_OK, false, NULL},
    {"09dbdb", PENDING, TETHER_OK, false, NULL},
    {"09dcdc", PENDING, TETHER_OK, false, NULL},
    {"09dddd", PENDING, TETHER_OK, false, NULL},
    {"09dede", PENDING, TETHER_OK, false, NULL},
    {"09dfdf", PENDING, TETHER_OK, false, NULL},
    {"09e0e0", PENDING, TETHER_OK, false, NULL},
    {"09e1e1", PENDING, TETHER_OK, false, NULL},
    {"09e2e2", PENDING, TETHER_OK, false, NULL},
    {"09e3e3", PENDING, TETHER_OK, false, NULL},
    {"09e4e4", PENDING, TETHER_OK, false, NULL},
    {"09e5e5", PENDING, TETHER_OK, false, NULL},
    {"09e6e6", PENDING, TETHER_OK, false, NULL},
    {"09e7e7", PENDING, TETHER_OK, false, NULL},
    {"09e8e8", PENDING, TETHER_OK, false, NULL},
    {"09e9e9", PENDING, TETHER_OK, false, NULL},
    {"09eaea", PENDING, TETHER_OK, false, NULL},
    {"09ebeb", PENDING, TETHER_OK, false, NULL},
    {"09ecec", PENDING, TETHER_OK, false, NULL},
    {"09eded", PENDING, TETHER_OK, false, NULL},
    {"09eeee", PENDING, TETHER_OK, false, NULL},
    {"09efef", PENDING, TETHER_OK, false, NULL},
    {"09f0f0", PENDING, TETHER_OK, false, NULL},
    {"09f1f1", PENDING, TETHER_OK, false, NULL},
    {"09f2f2", PENDING, TETHER_OK, false, NULL},
    {"09f3f3", PENDING, TETHER_OK, false, NULL},
    {"09f4f4", PENDING, TETHER_OK, false, NULL},
    {"09f5f5", PENDING, TETHER_OK, false, NULL},
    {"09f6f6", PENDING, TETHER_OK, false, NULL},
    {"09f7f7", PENDING, TETHER_OK, false, NULL},
    {"09f8f8", PENDING, TETHER_OK, false, NULL},
    {"09f9f9", PENDING, TETHER_OK, false, NULL},
    {"09fafa", PENDING, TETHER_OK, false, NULL},
    {"09fbfb", PENDING, TETHER_OK, false, NULL},
    {"09fcfc", PENDING, TETHER_OK, false, NULL},
    {"09fdfd", PENDING, TETHER_OK, false, NULL},
    {"09fefe", PENDING, TETHER_OK, false, NULL},
    {"09ffff", ERROR, TETHER_ERR_LINK_INCOMPLETE, false, NULL},
};
/* "incomplete_end": A's fragment 1 with END set: 34 of 60 bytes */
static const step_t SEQ_INCOMPLETE_END[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"410110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_INCOMPLETE, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "incomplete_single": a START and END fragment declaring 3 bytes and carrying 2 */
static const step_t SEQ_INCOMPLETE_SINGLE[] = {
    {"c8000003eeee", ERROR, TETHER_ERR_LINK_INCOMPLETE, false, NULL},
};
/* "interrupted_by_one_fragment_unit": A's fragment 0, then C (one fragment): C is yielded by
 * the call that reports the interruption */
static const step_t SEQ_INTERRUPTED_BY_ONE_FRAGMENT_UNIT[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"c300000ac0c7ced5dce3eaf1f8ff", UNIT, TETHER_OK, true,
     "c0c7ced5dce3eaf1f8ff"},
};
/* "interrupted_keeps_new": A's fragments 0 and 1, then B: B's START fragment abandons A, is
 * reported as interrupted, and B completes */
static const step_t SEQ_INTERRUPTED_KEEPS_NEW[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"82000028b0b7bec5ccd3dae1e8eff6fd040b1219", PENDING, TETHER_OK, true, NULL},
    {"020120272e353c434a51585f666d747b82899097", PENDING, TETHER_OK, false, NULL},
    {"42029ea5acb3bac1", UNIT, TETHER_OK, false,
     "b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1"},
};
/* "not_started": A without its START fragment */
static const step_t SEQ_NOT_STARTED[] = {
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
    {"41030c131a21282f363d", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "overrun_in_last": A's last fragment with one byte too many */
static const step_t SEQ_OVERRUN_IN_LAST[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", PENDING, TETHER_OK, false, NULL},
    {"41030c131a21282f363dee", ERROR, TETHER_ERR_LINK_OVERRUN, false, NULL},
};
/* "overrun_in_start": START fragments carrying more than their declared length */
static const step_t SEQ_OVERRUN_IN_START[] = {
    {"c7000001eeee", ERROR, TETHER_ERR_LINK_OVERRUN, false, NULL},
    {"87000001eeee", ERROR, TETHER_ERR_LINK_OVERRUN, false, NULL},
};
/* "oversized_for_mtu": max_unit 65535 at ATT_MTU 23: 4607 bytes need 257 fragments; 4606 is
 * accepted */
static const step_t SEQ_OVERSIZED_FOR_MTU[] = {
    {"860011ffee", ERROR, TETHER_ERR_LINK_OVERSIZED, false, NULL},
    {"860011feee", PENDING, TETHER_OK, false, NULL},
};
/* "oversized_max_unit": a receiver with max_unit 100: a 101-byte unit is refused at its first
 * fragment */
static const step_t SEQ_OVERSIZED_MAX_UNIT[] = {
    {"8400006511181f262d343b424950575e656c737a", ERROR, TETHER_ERR_LINK_OVERSIZED, false, NULL},
    {"040181888f969da4abb2b9c0c7ced5dce3eaf1f8", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
    {"85000064121920272e353c434a51585f666d747b", PENDING, TETHER_OK, false, NULL},
    {"0501828990979ea5acb3bac1c8cfd6dde4ebf2f9", PENDING, TETHER_OK, false, NULL},
    {"050200070e151c232a31383f464d545b62697077", PENDING, TETHER_OK, false, NULL},
    {"05037e858c939aa1a8afb6bdc4cbd2d9e0e7eef5", PENDING, TETHER_OK, false, NULL},
    {"0504fc030a11181f262d343b424950575e656c73", PENDING, TETHER_OK, false, NULL},
    {"45057a81888f969da4abb2b9c0c7", UNIT, TETHER_OK, false,
     "121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7"},
};
/* "oversized_zero": START fragments declaring a unit of 0 bytes */
static const step_t SEQ_OVERSIZED_ZERO[] = {
    {"c0000000", ERROR, TETHER_ERR_LINK_OVERSIZED, false, NULL},
    {"80000000ee", ERROR, TETHER_ERR_LINK_OVERSIZED, false, NULL},
};
/* "repeated_start_restarts": A's START fragment twice: the second restarts A, which then
 * completes */
static const step_t SEQ_REPEATED_START_RESTARTS[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, true, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", PENDING, TETHER_OK, false, NULL},
    {"41030c131a21282f363d", UNIT, TETHER_OK, false,
     "a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d"},
};
/* "short_fragments": fragments shorter than the MTU allows, one of them empty, and an empty
 * END: the receiver accepts any split */
static const step_t SEQ_SHORT_FRAGMENTS[] = {
    {"8a00000401", PENDING, TETHER_OK, false, NULL},
    {"0a01", PENDING, TETHER_OK, false, NULL},
    {"0a020203", PENDING, TETHER_OK, false, NULL},
    {"0a0304", PENDING, TETHER_OK, false, NULL},
    {"4a04", UNIT, TETHER_OK, false,
     "01020304"},
};
/* "single_fragment": a one-fragment unit: START and END set */
static const step_t SEQ_SINGLE_FRAGMENT[] = {
    {"c300000ac0c7ced5dce3eaf1f8ff", UNIT, TETHER_OK, false,
     "c0c7ced5dce3eaf1f8ff"},
};
/* "splice_same_number": a limit, not a requirement: A's first two fragments, then everything
 * lost up to D's fragment 2, 64 units later (the same number on the air, the same length). The
 * link layer yields a unit that was never sent; the record layer's AEAD rejects it
 * (spec/LINK.md section 8) */
static const step_t SEQ_SPLICE_SAME_NUMBER[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", PENDING, TETHER_OK, false, NULL},
    {"0102bec5ccd3dae1e8eff6fd040b121920272e35", PENDING, TETHER_OK, false, NULL},
    {"41033c434a51585f666d", UNIT, TETHER_OK, false,
     "a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b72798087bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d"},
};
/* "start_index": a START fragment with index 1 */
static const step_t SEQ_START_INDEX[] = {
    {"8101003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", ERROR, TETHER_ERR_LINK_START_INDEX, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "too_long": a 21-byte fragment at ATT_MTU 23 (fragments of ATT_MTU 24), then A interrupted by
 * one */
static const step_t SEQ_TOO_LONG[] = {
    {"8600003c21282f363d444b525960676e757c838a91", ERROR, TETHER_ERR_LINK_TOO_LONG, false, NULL},
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"0601989fa6adb4bbc2c9d0d7dee5ecf3fa01080f16", ERROR, TETHER_ERR_LINK_TOO_LONG, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "truncated": fragments shorter than their header, alone and inside A */
static const step_t SEQ_TRUNCATED[] = {
    {"", ERROR, TETHER_ERR_LINK_TRUNCATED, false, NULL},
    {"01", ERROR, TETHER_ERR_LINK_TRUNCATED, false, NULL},
    {"8100", ERROR, TETHER_ERR_LINK_TRUNCATED, false, NULL},
    {"c10000", ERROR, TETHER_ERR_LINK_TRUNCATED, false, NULL},
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"01", ERROR, TETHER_ERR_LINK_TRUNCATED, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};
/* "wrong_unit": A's fragment 0, then B's fragment 1: A is abandoned, and its fragment 1 finds
 * no unit in progress */
static const step_t SEQ_WRONG_UNIT[] = {
    {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", PENDING, TETHER_OK, false, NULL},
    {"020120272e353c434a51585f666d747b82899097", ERROR, TETHER_ERR_LINK_WRONG_UNIT, false, NULL},
    {"010110171e252c333a41484f565d646b72798087", ERROR, TETHER_ERR_LINK_NOT_STARTED, false, NULL},
};

#define SEQ(name, mtu, max_unit, steps, left) \
    {name, mtu, max_unit, steps, sizeof steps / sizeof steps[0], left}
static const sequence_t SEQUENCES[] = {
    SEQ("duplicate", 23, 1063, SEQ_DUPLICATE, false),
    SEQ("earlier_index", 23, 1063, SEQ_EARLIER_INDEX, false),
    SEQ("gap", 23, 1063, SEQ_GAP, false),
    SEQ("in_order", 23, 1063, SEQ_IN_ORDER, false),
    SEQ("incomplete_at_index_255", 23, 1063, SEQ_INCOMPLETE_AT_INDEX_255, false),
    SEQ("incomplete_end", 23, 1063, SEQ_INCOMPLETE_END, false),
    SEQ("incomplete_single", 23, 1063, SEQ_INCOMPLETE_SINGLE, false),
    SEQ("interrupted_by_one_fragment_unit", 23, 1063, SEQ_INTERRUPTED_BY_ONE_FRAGMENT_UNIT, false),
    SEQ("interrupted_keeps_new", 23, 1063, SEQ_INTERRUPTED_KEEPS_NEW, false),
    SEQ("not_started", 23, 1063, SEQ_NOT_STARTED, false),
    SEQ("overrun_in_last", 23, 1063, SEQ_OVERRUN_IN_LAST, false),
    SEQ("overrun_in_start", 23, 1063, SEQ_OVERRUN_IN_START, false),
    SEQ("oversized_for_mtu", 23, 65535, SEQ_OVERSIZED_FOR_MTU, true),
    SEQ("oversized_max_unit", 23, 100, SEQ_OVERSIZED_MAX_UNIT, false),
    SEQ("oversized_zero", 23, 1063, SEQ_OVERSIZED_ZERO, false),
    SEQ("repeated_start_restarts", 23, 1063, SEQ_REPEATED_START_RESTARTS, false),
    SEQ("short_fragments", 23, 1063, SEQ_SHORT_FRAGMENTS, false),
    SEQ("single_fragment", 23, 1063, SEQ_SINGLE_FRAGMENT, false),
    SEQ("splice_same_number", 23, 1063, SEQ_SPLICE_SAME_NUMBER, false),
    SEQ("start_index", 23, 1063, SEQ_START_INDEX, false),
    SEQ("too_long", 23, 1063, SEQ_TOO_LONG, false),
    SEQ("truncated", 23, 1063, SEQ_TRUNCATED, false),
    SEQ("wrong_unit", 23, 1063, SEQ_WRONG_UNIT, false),
};
#undef SEQ

/* From spec/vectors/link.json: the units at ATT_MTU 23, 185 and 517. Filler units (byte i is
 * i * 7 + seed, modulo 256) are given by their seed, the reading's record by its bytes; the
 * fragments of units above 1000 bytes by the first and the last. */
static const unit_vector_t UNITS[] = {
    /* "1 byte" at ATT_MTU 23: 1 fragment */
    {23, 20, 63, 1, 1,
     NULL,
     1, 4, 8,
     {"ff00000101"}},
    /* "exactly one full fragment" at ATT_MTU 23: 1 fragment */
    {23, 20, 36, 16, 2,
     NULL,
     1, 4, 23,
     {"e4000010020910171e252c333a41484f565d646b"}},
    /* "one byte more than a full fragment" at ATT_MTU 23: 2 fragments */
    {23, 20, 9, 17, 3,
     NULL,
     2, 6, 29,
     {"89000011030a11181f262d343b424950575e656c",
      "490173"}},
    /* "a reading: one datagram record (spec/LINK.md section 7)" at ATT_MTU 23: 4 fragments */
    {23, 20, 46, 69, -1,
     "10000000000000000052daa54d8d3fb70c3d30e3532084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd63a455ac45dfa526",
     4, 10, 91,
     {"ae00004510000000000000000052daa54d8d3fb7",
      "2e010c3d30e3532084ea310474f792d55575b94c",
      "2e0286b352c869fb69fb4ae5c248a4000a894705",
      "6e0325a6ccb63abda598dd63a455ac45dfa526"}},
    /* "the largest delivery record (DEFAULT_MAX_UNIT)" at ATT_MTU 23: 60 fragments */
    {23, 20, 19, 1063, 4,
     NULL,
     60, 122, 1365,
     {"93000427040b121920272e353c434a51585f666d",
      "533b00070e"}},
    /* "the largest unit at ATT_MTU 23" at ATT_MTU 23: 256 fragments */
    {23, 20, 56, 4606, 5,
     NULL,
     256, 514, 5888,
     {"b80011fe050c131a21282f363d444b525960676e",
      "78ff7980878e959ca3aab1b8bfc6cdd4dbe2e9f0"}},
    /* "1 byte" at ATT_MTU 185: 1 fragment */
    {185, 182, 29, 1, 1,
     NULL,
     1, 4, 8,
     {"dd00000101"}},
    /* "exactly one full fragment" at ATT_MTU 185: 1 fragment */
    {185, 182, 2, 178, 2,
     NULL,
     1, 4, 185,
     {"c20000b2020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9"}},
    /* "one byte more than a full fragment" at ATT_MTU 185: 2 fragments */
    {185, 182, 39, 179, 3,
     NULL,
     2, 6, 191,
     {"a70000b3030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da",
      "6701e1"}},
    /* "a reading: one datagram record (spec/LINK.md section 7)" at ATT_MTU 185: 1 fragment */
    {185, 182, 12, 69, -1,
     "10000000000000000052daa54d8d3fb70c3d30e3532084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd63a455ac45dfa526",
     1, 4, 76,
     {"cc00004510000000000000000052daa54d8d3fb70c3d30e3532084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd63a455ac45dfa526"}},
    /* "the largest delivery record (DEFAULT_MAX_UNIT)" at ATT_MTU 185: 6 fragments */
    {185, 182, 49, 1063, 4,
     NULL,
     6, 14, 1095,
     {"b1000427040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4db",
      "71059299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e"}},
    /* "the largest unit at ATT_MTU 23" at ATT_MTU 185: 26 fragments */
    {185, 182, 22, 4606, 5,
     NULL,
     26, 54, 4738,
     {"960011fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dc",
      "5619030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0"}},
    /* "1 byte" at ATT_MTU 517: 1 fragment */
    {517, 512, 59, 1, 1,
     NULL,
     1, 4, 8,
     {"fb00000101"}},
    /* "exactly one full fragment" at ATT_MTU 517: 1 fragment */
    {517, 512, 32, 508, 2,
     NULL,
     1, 4, 515,
     {"e00001fc020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8df"}},
    /* "one byte more than a full fragment" at ATT_MTU 517: 2 fragments */
    {517, 512, 5, 509, 3,
     NULL,
     2, 6, 521,
     {"850001fd030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0",
      "4501e7"}},
    /* "a reading: one datagram record (spec/LINK.md section 7)" at ATT_MTU 517: 1 fragment */
    {517, 512, 42, 69, -1,
     "10000000000000000052daa54d8d3fb70c3d30e3532084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd63a455ac45dfa526",
     1, 4, 76,
     {"ea00004510000000000000000052daa54d8d3fb70c3d30e3532084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd63a455ac45dfa526"}},
    /* "the largest delivery record (DEFAULT_MAX_UNIT)" at ATT_MTU 517: 3 fragments */
    {517, 512, 15, 1063, 4,
     NULL,
     3, 8, 1080,
     {"8f000427040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1",
      "4f02dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e"}},
    /* "the largest unit at ATT_MTU 23" at ATT_MTU 517: 10 fragments */
    {517, 512, 52, 4606, 5,
     NULL,
     10, 22, 4658,
     {"b40011fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2",
      "74097980878e959ca3aab1b8bfc6cdd4dbe2e9f0"}},
};

/* ------------------------------------------------------------------------------------------ */
/* Statuses                                                                                    */

static const tether_status LINK_STATUSES[] = {
    TETHER_ERR_LINK_TOO_LONG,    TETHER_ERR_LINK_TRUNCATED,   TETHER_ERR_LINK_START_INDEX,
    TETHER_ERR_LINK_OVERSIZED,   TETHER_ERR_LINK_NOT_STARTED, TETHER_ERR_LINK_WRONG_UNIT,
    TETHER_ERR_LINK_GAP,         TETHER_ERR_LINK_DUPLICATE,   TETHER_ERR_LINK_OVERRUN,
    TETHER_ERR_LINK_INCOMPLETE,
};

/* "160..179 a fragment the BLE link layer's reassembler dropped": ten statuses in the order of
 * spec/LINK.md section 6, each with its own text; the rest of the range is no status. */
static void test_link_statuses(void) {
    const size_t n = sizeof LINK_STATUSES / sizeof LINK_STATUSES[0];
    CHECK(n == 10);
    for (size_t i = 0; i < n; i++) {
        CHECK((int)LINK_STATUSES[i] == 160 + (int)i);
        const char *text = tether_strerror(LINK_STATUSES[i]);
        CHECK(strncmp(text, "link: ", 6) == 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(text, tether_strerror(LINK_STATUSES[j])) != 0);
        }
    }
    for (int32_t s = 170; s < 180; s++) {
        CHECK(strcmp(tether_strerror(s), "unknown status") == 0);
    }
    CHECK(strcmp(tether_strerror(159), "unknown status") == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The vectors                                                                                 */

/* Every sequence into a fresh reassembler: each step's status, unit and interruption, every
 * output written on a link error, and (by a reset at the end) whether a unit is left. */
static void test_vector_sequences(void) {
    static tether_reassembler r;
    static uint8_t frag[TETHER_LINK_MAX_FRAGMENT + 1];
    static uint8_t want[4700];
    const size_t n = sizeof SEQUENCES / sizeof SEQUENCES[0];
    CHECK(n == 23);
    size_t steps = 0;
    for (size_t i = 0; i < n; i++) {
        const sequence_t *s = &SEQUENCES[i];
        current_test = s->name;
        CHECK_OK(tether_reassembler_init(&r, s->max_unit));
        CHECK_OK(tether_reassembler_set_mtu(&r, s->mtu));
        for (size_t k = 0; k < s->n_steps; k++) {
            const step_t *st = &s->steps[k];
            size_t len = unhex(st->fragment, frag, sizeof frag);
            const uint8_t *unit = frag; /* garbage: every outcome writes all three outputs */
            size_t unit_len = 12345;
            bool interrupted = !st->interrupted;
            tether_status rc =
                tether_reassembler_push(&r, frag, len, &unit, &unit_len, &interrupted);
            switch (st->result) {
            case PENDING:
                CHECK_OK(rc);
                CHECK(unit == NULL && unit_len == 0);
                break;
            case UNIT: {
                CHECK_OK(rc);
                size_t wl = unhex(st->unit, want, sizeof want);
                CHECK(unit != NULL && unit_len == wl && memcmp(unit, want, wl) == 0);
                break;
            }
            case ERROR:
                CHECK_ST(rc, st->error);
                CHECK(unit == NULL && unit_len == 0);
                break;
            }
            CHECK(interrupted == st->interrupted);
            steps++;
        }
        bool abandoned = !s->in_progress_after;
        CHECK_OK(tether_reassembler_reset(&r, &abandoned));
        CHECK(abandoned == s->in_progress_after);
    }
    current_test = "vector_sequences";
    CHECK(steps > 300);
    tether_reassembler_wipe(&r);
}

/* The unit of a vector. */
static size_t vector_unit(const unit_vector_t *u, uint8_t *buf) {
    if (u->seed < 0) {
        CHECK(unhex(u->unit_hex, buf, u->unit_len) == u->unit_len);
    } else {
        for (size_t i = 0; i < u->unit_len; i++) {
            buf[i] = (uint8_t)((uint8_t)i * 7u + (unsigned)u->seed);
        }
    }
    return u->unit_len;
}

/* Starts and finishes 1-byte units until the fragmenter's next unit is numbered `number`
 * modulo 64 (a fresh fragmenter numbers from 0). */
static void advance_to(tether_fragmenter *f, uint8_t number) {
    const uint8_t one = 0;
    for (uint8_t k = 0; k < number; k++) {
        size_t count = 0, n = 0;
        CHECK_OK(tether_fragmenter_start(f, &one, 1, &count));
        CHECK(count == 1);
        CHECK_OK(tether_fragmenter_next(f, &one, 1, g_fragment, sizeof g_fragment, &n));
        CHECK(n == 5 && g_fragment[0] == (0xC0 | k));
    }
}

/* Every unit of the vectors: fragmented exactly as the vectors say, as large as the ATT_MTU
 * allows, with the bytes on air of spec/LINK.md section 7; and reassembled whole. */
static void test_vector_units(void) {
    static tether_fragmenter f;
    static tether_reassembler r;
    static uint8_t want[TETHER_LINK_MAX_FRAGMENT];
    const size_t n = sizeof UNITS / sizeof UNITS[0];
    CHECK(n == 18);
    for (size_t i = 0; i < n; i++) {
        const unit_vector_t *u = &UNITS[i];
        size_t len = vector_unit(u, g_unit);
        CHECK_OK(tether_fragmenter_init(&f, u->mtu));
        CHECK_OK(tether_reassembler_init(&r, TETHER_LINK_MAX_UNIT));
        CHECK_OK(tether_reassembler_set_mtu(&r, u->mtu));
        advance_to(&f, u->number);
        size_t count = 0, on_air = 0, link = 0;
        CHECK_OK(tether_fragmenter_start(&f, g_unit, len, &count));
        CHECK(count == u->n_fragments);
        for (size_t k = 0; k < count; k++) {
            size_t fl = 0;
            CHECK_OK(tether_fragmenter_next(&f, g_unit, len, g_fragment, sizeof g_fragment, &fl));
            CHECK(fl <= u->max_fragment && (k + 1 == count || fl == u->max_fragment));
            on_air += fl + 3;
            link += fl;
            /* The header: START, END, the number, the index (spec/LINK.md section 3). */
            CHECK(g_fragment[0] == (uint8_t)((k == 0 ? 0x80 : 0) | (k + 1 == count ? 0x40 : 0) |
                                             u->number));
            CHECK(g_fragment[1] == (k == 0 ? 0 : k));
            const char *hex = NULL;
            if (u->unit_len <= 1000) {
                hex = u->fragments[k];
            } else if (k == 0) {
                hex = u->fragments[0];
            } else if (k + 1 == count) {
                hex = u->fragments[1];
            }
            if (hex != NULL) {
                CHECK(unhex(hex, want, sizeof want) == fl && memcmp(want, g_fragment, fl) == 0);
            }
            const uint8_t *unit = NULL;
            size_t unit_len = 0;
            CHECK_OK(tether_reassembler_push(&r, g_fragment, fl, &unit, &unit_len, NULL));
            if (k + 1 < count) {
                CHECK(unit == NULL);
            } else {
                CHECK(unit_len == len && memcmp(unit, g_unit, len) == 0);
            }
        }
        CHECK(link - len == u->link_overhead && link - len == 2 + 2 * count);
        CHECK(on_air == u->bytes_on_air);
        /* The unit is done: the fragmenter takes the next. */
        CHECK_ST(tether_fragmenter_next(&f, g_unit, len, g_fragment, sizeof g_fragment, &link),
                 TETHER_ERR_BAD_STATE);
    }
    tether_fragmenter_wipe(&f);
    tether_reassembler_wipe(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* The fragmenter's rules and the reassembler's lending                                        */

static void test_fragmenter_rules(void) {
    tether_fragmenter f = {0};
    uint8_t unit[100];
    for (size_t i = 0; i < sizeof unit; i++) {
        unit[i] = (uint8_t)(i + 1);
    }
    size_t count = 77, n = 77;

    CHECK_ST(tether_fragmenter_init(&f, 22), TETHER_ERR_BAD_CONFIG);
    CHECK(all_bytes(&f, sizeof f, 0));
    CHECK_OK(tether_fragmenter_init(&f, 23));
    /* Units are numbered 0, 1, 2, ... modulo 64 on the air. */
    for (unsigned k = 0; k < 130; k++) {
        CHECK_OK(tether_fragmenter_start(&f, unit, 1, NULL));
        CHECK_OK(tether_fragmenter_next(&f, unit, 1, g_fragment, 5, &n));
        CHECK(n == 5 && g_fragment[0] == (0xC0 | (k % 64)));
    }
    /* Nothing in progress: next is out of order. An empty unit, or one above what 256
     * fragments carry, is refused and takes no number. */
    CHECK_ST(tether_fragmenter_next(&f, unit, 1, g_fragment, 5, &n), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_fragmenter_start(&f, unit, 0, &count), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_fragmenter_start(&f, NULL, 0, &count), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_fragmenter_start(&f, g_unit, 4607, &count), TETHER_ERR_PLAINTEXT_TOO_LARGE);
    CHECK(count == 77);
    CHECK_OK(tether_fragmenter_start(&f, g_unit, 4606, &count));
    CHECK(count == 256);
    for (size_t k = 0; k < count; k++) {
        CHECK_OK(tether_fragmenter_next(&f, g_unit, 4606, g_fragment, sizeof g_fragment, &n));
        CHECK(n == 20 && g_fragment[0] == ((k == 0 ? 0x80 : 0) | (k == 255 ? 0x40 : 0) | 2));
    }

    /* A buffer too small: nothing written, the size needed stored, the same fragment next. */
    CHECK_OK(tether_fragmenter_start(&f, unit, 40, &count)); /* number 3 */
    CHECK(count == 3);
    memset(g_fragment, 0xA5, sizeof g_fragment);
    CHECK_ST(tether_fragmenter_next(&f, unit, 40, g_fragment, 19, &n),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 20 && all_bytes(g_fragment, sizeof g_fragment, 0xA5));
    CHECK_ST(tether_fragmenter_next(&f, unit, 40, NULL, 0, &n), TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 20);
    CHECK_OK(tether_fragmenter_next(&f, unit, 40, g_fragment, 20, &n));
    CHECK(n == 20 && g_fragment[0] == 0x83 && g_fragment[3] == 40 && g_fragment[4] == 1);
    /* One unit at a time, given whole at every call. */
    CHECK_ST(tether_fragmenter_start(&f, unit, 10, &count), TETHER_ERR_BAD_STATE);
    CHECK(count == 3);
    CHECK_ST(tether_fragmenter_next(&f, unit, 39, g_fragment, 20, &n), TETHER_ERR_BAD_STATE);
    /* An MTU set now applies from the next unit. */
    CHECK_OK(tether_fragmenter_set_mtu(&f, 517));
    CHECK_ST(tether_fragmenter_set_mtu(&f, 0), TETHER_ERR_BAD_CONFIG);
    CHECK_OK(tether_fragmenter_next(&f, unit, 40, g_fragment, sizeof g_fragment, &n));
    CHECK(n == 20 && g_fragment[0] == 0x03 && g_fragment[1] == 1 && g_fragment[2] == 17);
    CHECK_OK(tether_fragmenter_next(&f, unit, 40, g_fragment, sizeof g_fragment, &n));
    CHECK(n == 8 && g_fragment[0] == 0x43 && g_fragment[1] == 2 && g_fragment[7] == 40);
    CHECK_OK(tether_fragmenter_start(&f, unit, 100, &count));
    CHECK(count == 1);
    CHECK_OK(tether_fragmenter_next(&f, unit, 100, g_fragment, sizeof g_fragment, &n));
    CHECK(n == 104 && g_fragment[0] == 0xC4);
    /* At 517 a unit of 65535 bytes takes 129 fragments. */
    CHECK_OK(tether_fragmenter_start(&f, g_unit, sizeof g_unit, &count));
    CHECK(count == 129);
    for (size_t k = 0; k < count; k++) {
        CHECK_OK(tether_fragmenter_next(&f, g_unit, sizeof g_unit, g_fragment, 512, &n));
        CHECK(k + 1 == count || n == 512);
    }
    /* Init again (a new connection): numbering restarts at 0. */
    CHECK_OK(tether_fragmenter_start(&f, unit, 100, &count));
    CHECK_OK(tether_fragmenter_init(&f, 23));
    CHECK_OK(tether_fragmenter_start(&f, unit, 1, &count));
    CHECK_OK(tether_fragmenter_next(&f, unit, 1, g_fragment, 5, &n));
    CHECK(g_fragment[0] == 0xC0);
    tether_fragmenter_wipe(&f);
    CHECK(all_bytes(&f, sizeof f, 0));
}

static void test_reassembler_lending(void) {
    tether_reassembler r = {0};
    uint8_t one[] = {0xC5, 0, 0, 3, 7, 8, 9};
    uint8_t a0[] = {0x86, 0, 0, 4, 1, 2};
    uint8_t a1[] = {0x46, 1, 3, 4};
    const uint8_t *unit = NULL;
    size_t len = 0;
    bool interrupted = true, abandoned = false;

    CHECK_ST(tether_reassembler_init(&r, 0), TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_reassembler_init(&r, TETHER_LINK_MAX_UNIT + 1), TETHER_ERR_BAD_CONFIG);
    CHECK(all_bytes(&r, sizeof r, 0));
    CHECK_OK(tether_reassembler_init(&r, 10));
    /* A one-fragment unit is lent from the fragment itself. */
    CHECK_OK(tether_reassembler_push(&r, one, sizeof one, &unit, &len, &interrupted));
    CHECK(unit == one + 4 && len == 3 && !interrupted);
    /* A longer one from the reassembler's buffer, outside both fragments. */
    CHECK_OK(tether_reassembler_push(&r, a0, sizeof a0, &unit, &len, NULL));
    CHECK(unit == NULL && len == 0);
    CHECK_OK(tether_reassembler_push(&r, a1, sizeof a1, &unit, &len, NULL));
    CHECK(len == 4 && unit[0] == 1 && unit[3] == 4);
    CHECK((unit + 4 <= a0 || unit >= a0 + sizeof a0) && (unit + 4 <= a1 || unit >= a1 + sizeof a1));
    const uint8_t *lent = unit;
    /* Passed back as a fragment, or as an out-pointer's place: refused, nothing changed. */
    CHECK_ST(tether_reassembler_push(&r, lent, 4, &unit, &len, NULL), TETHER_ERR_OVERLAP);
    CHECK(unit == lent && len == 4);
    CHECK_ST(tether_reassembler_push(&r, a0, sizeof a0, &unit, &len, (bool *)(uintptr_t)(lent + 1)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_reset(&r, (bool *)(uintptr_t)lent), TETHER_ERR_OVERLAP);
    CHECK(lent[0] == 1 && lent[1] == 2);
    /* A START fragment in the middle of a unit abandons it: reported, and the new unit kept. */
    CHECK_OK(tether_reassembler_push(&r, a0, sizeof a0, &unit, &len, &interrupted));
    CHECK(!interrupted);
    CHECK_OK(tether_reassembler_push(&r, one, sizeof one, &unit, &len, &interrupted));
    CHECK(interrupted && unit == one + 4);
    /* A unit above max_unit is refused at its first fragment. */
    uint8_t big[] = {0x80, 0, 0, 11, 0};
    CHECK_ST(tether_reassembler_push(&r, big, sizeof big, &unit, &len, &interrupted),
             TETHER_ERR_LINK_OVERSIZED);
    CHECK(unit == NULL && len == 0 && !interrupted);
    /* Reset when the connection drops. */
    CHECK_OK(tether_reassembler_push(&r, a0, sizeof a0, &unit, &len, NULL));
    CHECK_OK(tether_reassembler_reset(&r, &abandoned));
    CHECK(abandoned);
    CHECK_ST(tether_reassembler_push(&r, a1, sizeof a1, &unit, &len, NULL),
             TETHER_ERR_LINK_NOT_STARTED);
    CHECK_OK(tether_reassembler_reset(&r, &abandoned));
    CHECK(!abandoned);
    /* Until the ATT_MTU is set, any fragment up to 512 bytes; then at most ATT_MTU - 3. */
    static uint8_t long_frag[513];
    memset(long_frag, 0, sizeof long_frag);
    long_frag[0] = 0xC0;
    long_frag[3] = 4;
    CHECK_OK(tether_reassembler_init(&r, 1000)); /* replaces the reassembler: no leak */
    CHECK_OK(tether_reassembler_push(&r, long_frag, 8, &unit, &len, NULL));
    CHECK(len == 4);
    long_frag[2] = 0x01;
    long_frag[3] = 0xFC; /* 508 bytes */
    CHECK_OK(tether_reassembler_push(&r, long_frag, 512, &unit, &len, NULL));
    CHECK(len == 508);
    CHECK_ST(tether_reassembler_push(&r, long_frag, 513, &unit, &len, NULL),
             TETHER_ERR_LINK_TOO_LONG);
    CHECK_OK(tether_reassembler_set_mtu(&r, 185));
    CHECK_ST(tether_reassembler_push(&r, long_frag, 512, &unit, &len, NULL),
             TETHER_ERR_LINK_TOO_LONG);
    CHECK_ST(tether_reassembler_set_mtu(&r, 22), TETHER_ERR_BAD_CONFIG);
    tether_reassembler_wipe(&r);
    CHECK(all_bytes(&r, sizeof r, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* Misuse                                                                                      */

/* Handles of the wrong kind (a union, as firmware short of RAM declares them), copies, use
 * after wipe, NULL. */
static void test_misuse_handles(void) {
    static union {
        tether_fragmenter f;
        tether_reassembler r;
        tether_session s;
        tether_decoder d;
    } u;
    static tether_reassembler copy;
    static tether_fragmenter fcopy;
    uint8_t frag[] = {0x80, 0, 0, 4, 1, 2};
    uint8_t rest[] = {0x40, 1, 3, 4};
    const uint8_t *unit = frag;
    size_t len = 99, n = 99;
    tether_action action;

    memset(&u, 0, sizeof u);
    /* Zeroed storage holds nothing. */
    CHECK_ST(tether_reassembler_push(&u.r, frag, sizeof frag, &unit, &len, NULL),
             TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_fragmenter_start(&u.f, frag, 1, NULL), TETHER_ERR_BAD_STATE);
    CHECK(unit == frag && len == 99);
    /* NULL. */
    CHECK_ST(tether_fragmenter_init(NULL, 23), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_init(NULL, 100), TETHER_ERR_NULL);
    CHECK_ST(tether_fragmenter_set_mtu(NULL, 23), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_set_mtu(NULL, 23), TETHER_ERR_NULL);
    CHECK_ST(tether_fragmenter_start(NULL, frag, 1, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_fragmenter_next(NULL, frag, 1, g_fragment, 20, &n), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_push(NULL, frag, 6, &unit, &len, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_reset(NULL, NULL), TETHER_ERR_NULL);
    tether_fragmenter_wipe(NULL);
    tether_reassembler_wipe(NULL);

    /* A reassembler in the union: the other kinds' calls refuse it and their wipes leave it. */
    CHECK_OK(tether_reassembler_init(&u.r, 100));
    CHECK_ST(tether_fragmenter_init(&u.f, 23), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_fragmenter_set_mtu(&u.f, 23), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_fragmenter_start(&u.f, frag, 1, NULL), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_decoder_init(&u.d, 64), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_handshake_next((tether_handshake *)(void *)&u, &action), TETHER_ERR_BAD_STATE);
    tether_fragmenter_wipe(&u.f);
    tether_session_wipe(&u.s);
    tether_decoder_wipe(&u.d);
    CHECK_OK(tether_reassembler_push(&u.r, frag, sizeof frag, &unit, &len, NULL));
    CHECK(unit == NULL);
    /* NULL out-pointers and fragments. */
    CHECK_ST(tether_reassembler_push(&u.r, rest, sizeof rest, NULL, &len, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_push(&u.r, rest, sizeof rest, &unit, NULL, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_reassembler_push(&u.r, NULL, 4, &unit, &len, NULL), TETHER_ERR_NULL);

    /* A copy (struct assignment): refused; its wipe zeroes it and frees nothing (ASan and
     * valgrind would report the double free). The original goes on. */
    copy = u.r;
    CHECK_ST(tether_reassembler_push(&copy, rest, sizeof rest, &unit, &len, NULL),
             TETHER_ERR_COPIED);
    CHECK_ST(tether_reassembler_set_mtu(&copy, 185), TETHER_ERR_COPIED);
    CHECK_ST(tether_reassembler_reset(&copy, NULL), TETHER_ERR_COPIED);
    tether_reassembler_wipe(&copy);
    CHECK(all_bytes(&copy, sizeof copy, 0));
    CHECK_OK(tether_reassembler_push(&u.r, rest, sizeof rest, &unit, &len, NULL));
    CHECK(len == 4 && memcmp(unit, "\x01\x02\x03\x04", 4) == 0);
    /* Use after wipe. */
    tether_reassembler_wipe(&u.r);
    CHECK(all_bytes(&u, sizeof u, 0));
    CHECK_ST(tether_reassembler_push(&u.r, frag, sizeof frag, &unit, &len, NULL),
             TETHER_ERR_BAD_STATE);
    tether_reassembler_wipe(&u.r);

    /* The same for a fragmenter; a fragmenter in the union refuses the reassembler's calls. */
    CHECK_OK(tether_fragmenter_init(&u.f, 23));
    CHECK_ST(tether_reassembler_init(&u.r, 100), TETHER_ERR_BAD_STATE);
    CHECK_ST(tether_reassembler_push(&u.r, frag, sizeof frag, &unit, &len, NULL),
             TETHER_ERR_BAD_STATE);
    tether_reassembler_wipe(&u.r);
    CHECK_OK(tether_fragmenter_start(&u.f, frag, sizeof frag, NULL));
    memcpy(&fcopy, &u.f, sizeof fcopy);
    CHECK_ST(tether_fragmenter_next(&fcopy, frag, sizeof frag, g_fragment, 20, &n),
             TETHER_ERR_COPIED);
    CHECK_ST(tether_fragmenter_start(&fcopy, frag, 1, NULL), TETHER_ERR_COPIED);
    tether_fragmenter_wipe(&fcopy);
    CHECK(all_bytes(&fcopy, sizeof fcopy, 0));
    CHECK_OK(tether_fragmenter_next(&u.f, frag, sizeof frag, g_fragment, 20, &n));
    CHECK(n == 10 && g_fragment[0] == 0xC0);
    tether_fragmenter_wipe(&u.f);
    CHECK_ST(tether_fragmenter_start(&u.f, frag, 1, NULL), TETHER_ERR_BAD_STATE);
    CHECK(all_bytes(&u, sizeof u, 0));
}

/* Misaligned storage, impossible lengths and overlapping buffers: refused, nothing written. */
static void test_misuse_buffers(void) {
    static alignas(16) uint8_t arena[TETHER_REASSEMBLER_SIZE + 16];
    static tether_fragmenter f;
    static tether_reassembler r;
    static uint8_t buf[64];
    const uint8_t *top = (const uint8_t *)(uintptr_t)(UINTPTR_MAX - 15);
    const uint8_t unit_bytes[30] = {1, 2, 3};
    const uint8_t *unit = NULL;
    size_t len = 99, n = 99;
    bool flag = false;

    CHECK_ST(tether_fragmenter_init((tether_fragmenter *)(void *)(arena + 4), 23),
             TETHER_ERR_MISALIGNED);
    CHECK_ST(tether_reassembler_init((tether_reassembler *)(void *)(arena + 4), 100),
             TETHER_ERR_MISALIGNED);
    CHECK_ST(tether_reassembler_push((tether_reassembler *)(void *)(arena + 4), buf, 4, &unit,
                                     &len, NULL),
             TETHER_ERR_MISALIGNED);
    CHECK(all_bytes(arena, sizeof arena, 0));

    CHECK_OK(tether_fragmenter_init(&f, 23));
    CHECK_OK(tether_reassembler_init(&r, 100));
    CHECK_OK(tether_fragmenter_start(&f, unit_bytes, sizeof unit_bytes, NULL));
    /* Lengths above PTRDIFF_MAX, or past the end of the address space. */
    const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1};
    for (size_t k = 0; k < 2; k++) {
        memset(buf, 0xA5, sizeof buf);
        CHECK_ST(tether_fragmenter_start(&f, unit_bytes, huge[k], NULL),
                 TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_fragmenter_next(&f, unit_bytes, huge[k], buf, sizeof buf, &n),
                 TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_fragmenter_next(&f, unit_bytes, 30, buf, huge[k], &n),
                 TETHER_ERR_BAD_LENGTH);
        CHECK_ST(tether_reassembler_push(&r, buf, huge[k], &unit, &len, NULL),
                 TETHER_ERR_BAD_LENGTH);
        CHECK(n == 99 && len == 99 && all_bytes(buf, sizeof buf, 0xA5));
    }
    CHECK_ST(tether_fragmenter_next(&f, top, 30, buf, sizeof buf, &n), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_fragmenter_next(&f, unit_bytes, 30, (uint8_t *)(uintptr_t)top, 20, &n),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_reassembler_push(&r, top, 20, &unit, &len, NULL), TETHER_ERR_BAD_LENGTH);
    /* Overlaps: the fragment over the unit, the length inside the fragment buffer, outputs
     * inside the handles, the fragment inside the reassembler, out-pointers inside the
     * fragment or each other. */
    memcpy(buf, unit_bytes, sizeof unit_bytes);
    CHECK_ST(tether_fragmenter_next(&f, buf, 30, buf + 20, 20, &n), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_fragmenter_next(&f, unit_bytes, 30, buf, 20, (size_t *)(void *)(buf + 8)),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_fragmenter_next(&f, unit_bytes, 30, (uint8_t *)&f + 8, 20, &n),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_fragmenter_start(&f, (const uint8_t *)&f, 8, NULL), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_push(&r, (const uint8_t *)&r, 8, &unit, &len, NULL),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_push(&r, buf, 20, &unit, (size_t *)(void *)(buf + 8), NULL),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_push(&r, buf, 20, &unit, &len, (bool *)(void *)&unit),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_push(&r, buf, 20, &unit, &len, (bool *)(void *)&r),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_reassembler_reset(&r, (bool *)(void *)((uint8_t *)&r + 40)),
             TETHER_ERR_OVERLAP);
    CHECK(n == 99 && len == 99 && unit == NULL && !flag);
    /* Nothing changed: the first fragment is still next, and the reassembler is idle. */
    CHECK_OK(tether_fragmenter_next(&f, unit_bytes, 30, buf, 20, &n));
    CHECK(n == 20 && buf[0] == 0x80 && buf[3] == 30);
    CHECK_OK(tether_reassembler_reset(&r, &flag));
    CHECK(!flag);
    tether_fragmenter_wipe(&f);
    tether_reassembler_wipe(&r);
}

/* Two threads pushing into one reassembler at once: each call either runs or is refused with
 * TETHER_ERR_BUSY (when tether sees the overlap); nothing is corrupted either way. */
typedef struct {
    tether_reassembler *r;
    int busy, ok, other;
} pusher_t;

static void *pusher(void *arg) {
    pusher_t *p = arg;
    static const uint8_t one[] = {0xC0, 0, 0, 2, 5, 6};
    for (int i = 0; i < 2000; i++) {
        const uint8_t *unit = NULL;
        size_t len = 0;
        tether_status rc = tether_reassembler_push(p->r, one, sizeof one, &unit, &len, NULL);
        if (rc == TETHER_OK && len == 2 && unit == one + 4) {
            p->ok++;
        } else if (rc == TETHER_ERR_BUSY) {
            p->busy++;
        } else {
            p->other++;
        }
    }
    return NULL;
}

static void test_two_threads_one_reassembler(void) {
    static tether_reassembler r;
    CHECK_OK(tether_reassembler_init(&r, 100));
    pusher_t a = {&r, 0, 0, 0}, b = {&r, 0, 0, 0};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, pusher, &a) == 0);
    CHECK(pthread_create(&tb, NULL, pusher, &b) == 0);
    CHECK(pthread_join(ta, NULL) == 0 && pthread_join(tb, NULL) == 0);
    CHECK(a.other == 0 && b.other == 0);
    CHECK(a.ok + a.busy == 2000 && b.ok + b.busy == 2000 && a.ok + b.ok > 0);
    bool abandoned = true;
    CHECK_OK(tether_reassembler_reset(&r, &abandoned));
    CHECK(!abandoned);
    tether_reassembler_wipe(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* The phone's side of a BLE session                                                           */

static const uint8_t DEVICE_SECRET[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};
static const uint8_t PHONE_SECRET[32] = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18, 0x29};
static const uint8_t STRANGER_SECRET[32] = {0x5A, 0x5A, 0x5A, 0x5A};

/* spec/vectors/messages_telemetry.json, vector "vitals/spo2-and-temperature". */
static const char VITALS_SPO2_AND_TEMPERATURE[] =
    "8201a4001b0000019bc0c69b40011903e80282820100820720038f0000186101011901740000f97e000101c48"
    "221190e8800001860";

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Deterministic entropy for tests only: splitmix64 behind `user`. */
static int32_t det_random(void *user, uint8_t *buf, size_t len) {
    uint64_t word = 0;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            word = splitmix64(user);
        }
        buf[i] = (uint8_t)(word >> (8 * (i % 8)));
    }
    return 0;
}

/* One end of the BLE connection: its handshake or session, and its side of the link. */
typedef struct {
    uint64_t rng;
    uint8_t pub[32];
    tether_platform plat;
    tether_config cfg;
    tether_handshake hs;
    tether_session s;
    tether_fragmenter tx;
    tether_reassembler rx;
} end_t;

/* KK (Reconnect) on the device-phone channel over datagrams, with each side's peer key pinned
 * (no check_peer: only that key is accepted). Records are sized for the link's default
 * max_unit: a delivery frame at most. */
static void end_init(end_t *e, const uint8_t *secret, const uint8_t *peer_pub, const char *id,
                     uint16_t att_mtu, uint64_t seed) {
    memset(e, 0, sizeof *e);
    e->rng = seed;
    CHECK_OK(tether_public_key(secret, e->pub));
    e->plat.user = &e->rng;
    e->plat.fill_random = det_random;
    CHECK_OK(tether_config_init(&e->cfg));
    e->cfg.pattern = 4;
    e->cfg.channel = 2;
    e->cfg.framing = 2;
    e->cfg.static_secret = secret;
    e->cfg.peer_static_key = peer_pub;
    e->cfg.identity.id = (const uint8_t *)id;
    e->cfg.identity.id_len = strlen(id);
    e->cfg.max_plaintext = TETHER_DELIVERY_MAX_FRAME;
    CHECK_OK(tether_fragmenter_init(&e->tx, att_mtu));
    CHECK_OK(tether_reassembler_init(&e->rx, TETHER_LINK_DEFAULT_MAX_UNIT));
    CHECK_OK(tether_reassembler_set_mtu(&e->rx, att_mtu));
}

static void end_wipe(end_t *e) {
    tether_handshake_wipe(&e->hs);
    tether_session_wipe(&e->s);
    tether_fragmenter_wipe(&e->tx);
    tether_reassembler_wipe(&e->rx);
}

/* The fragments on the air, kept until the next send (a unit may be lent from one of them). */
static uint8_t g_air[256][TETHER_LINK_MAX_FRAGMENT];
static size_t g_air_len[256];
static size_t g_air_count;

/* Fragments `unit` with `from`'s fragmenter, checking each against the ATT_MTU. */
static void send_unit(end_t *from, const uint8_t *unit, size_t len, uint16_t att_mtu) {
    size_t max = att_mtu - 3u < 512u ? att_mtu - 3u : 512u;
    CHECK_OK(tether_fragmenter_start(&from->tx, unit, len, &g_air_count));
    CHECK(g_air_count >= 1 && g_air_count <= 256);
    for (size_t k = 0; k < g_air_count; k++) {
        CHECK_OK(tether_fragmenter_next(&from->tx, unit, len, g_air[k], sizeof g_air[k],
                                        &g_air_len[k]));
        CHECK(g_air_len[k] <= max && (k + 1 == g_air_count || g_air_len[k] == max));
    }
}

/* Pushes the fragments on the air into `to`'s reassembler, skipping fragment `drop` (none if
 * out of range); returns the unit completed by the last one (or NULL) and the status of the
 * first refused fragment in *refused. */
static const uint8_t *receive_unit(end_t *to, size_t drop, size_t *len, tether_status *refused) {
    const uint8_t *got = NULL;
    *len = 0;
    *refused = TETHER_OK;
    for (size_t k = 0; k < g_air_count; k++) {
        const uint8_t *unit = NULL;
        size_t n = 0;
        if (k == drop) {
            continue;
        }
        tether_status rc = tether_reassembler_push(&to->rx, g_air[k], g_air_len[k], &unit, &n, NULL);
        if (rc != TETHER_OK && *refused == TETHER_OK) {
            *refused = rc;
        }
        if (unit != NULL) {
            CHECK(got == NULL);
            got = unit;
            *len = n;
        }
    }
    return got;
}

/* A whole unit from one end to the other; it must arrive. */
static const uint8_t *cross(end_t *from, end_t *to, const uint8_t *unit, size_t len,
                            uint16_t att_mtu, size_t *got_len) {
    tether_status refused;
    send_unit(from, unit, len, att_mtu);
    const uint8_t *got = receive_unit(to, SIZE_MAX, got_len, &refused);
    CHECK_OK(refused);
    CHECK(got != NULL && *got_len == len && memcmp(got, unit, len) == 0);
    return got;
}

static tether_action next_action(tether_handshake *hs) {
    tether_action a = TETHER_ACTION_FAILED;
    CHECK_OK(tether_handshake_next(hs, &a));
    return a;
}

/* Writes `from`'s next handshake message and carries it over the link to `to`'s handshake. */
static tether_status hs_cross(end_t *from, end_t *to, uint16_t att_mtu) {
    static uint8_t msg[TETHER_HANDSHAKE_MAX_LEN];
    size_t n = 0, got_len = 0;
    CHECK(next_action(&from->hs) == TETHER_ACTION_WRITE);
    CHECK_OK(tether_handshake_write(&from->hs, msg, sizeof msg, &n));
    const uint8_t *unit = cross(from, to, msg, n, att_mtu, &got_len);
    return tether_handshake_read(&to->hs, unit, got_len);
}

/* Seals `msg` at `from`, carries the record over the link and opens it at `to` (copying). */
static tether_event record_cross(end_t *from, end_t *to, const uint8_t *msg, size_t len,
                                 uint16_t att_mtu, uint8_t *plain, size_t *plain_len) {
    static uint8_t rec[TETHER_SEAL_CAPACITY(TETHER_DELIVERY_MAX_FRAME)];
    size_t n = 0, ku = 0, got_len = 0;
    tether_event ev = TETHER_EVENT_CLOSE;
    CHECK_OK(tether_session_seal(&from->s, msg, len, rec, sizeof rec, &n, &ku));
    CHECK(ku == 0);
    const uint8_t *unit = cross(from, to, rec, n, att_mtu, &got_len);
    CHECK_OK(tether_session_open(&to->s, unit, got_len, plain, TETHER_DELIVERY_MAX_FRAME, &ev,
                                 plain_len));
    return ev;
}

/* A vitals message of `count` readings of 5 % SpO2 (one channel, tick 1 s). */
static size_t vitals_of(size_t count, uint8_t *out) {
    size_t n = unhex("8201a4001b0000019bc0c69b40010102818201000399", out, 64);
    out[n++] = (uint8_t)((3 * count) >> 8);
    out[n++] = (uint8_t)(3 * count);
    for (size_t i = 0; i < count; i++) {
        out[n++] = 0; /* dt */
        out[n++] = 0; /* channel */
        out[n++] = 5; /* value */
    }
    return n;
}

static void phone_session_at(uint16_t att_mtu) {
    static end_t device, phone, stranger;
    static uint8_t msg[TETHER_DELIVERY_MAX_FRAME], plain[TETHER_DELIVERY_MAX_FRAME];
    static tether_vital_channel channels[TETHER_VITALS_MAX_CHANNELS];
    static tether_vital_reading readings[TETHER_VITALS_MAX_READINGS];
    uint8_t phone_pub[32], device_pub[32];
    CHECK_OK(tether_public_key(PHONE_SECRET, phone_pub));
    CHECK_OK(tether_public_key(DEVICE_SECRET, device_pub));
    end_init(&device, DEVICE_SECRET, phone_pub, "SN-0001", att_mtu, 1);
    end_init(&phone, PHONE_SECRET, device_pub, "phone-app", att_mtu, 2);
    end_init(&stranger, STRANGER_SECRET, phone_pub, "SN-6666", att_mtu, 3);

    /* The phone waits as responder; a stranger's message 0 is refused (KK: it was not made
     * with the pinned device key) and the phone keeps waiting for the genuine device. */
    CHECK_OK(tether_handshake_init_responder(&phone.hs, &phone.cfg, &phone.plat));
    CHECK(next_action(&phone.hs) == TETHER_ACTION_READ);
    CHECK_OK(tether_handshake_init_initiator(&stranger.hs, &stranger.cfg, &stranger.plat));
    CHECK_ST(hs_cross(&stranger, &phone, att_mtu), TETHER_ERR_AUTHENTICATION);
    CHECK(next_action(&phone.hs) == TETHER_ACTION_READ);

    /* The device initiates; every handshake message crosses the link as fragments. */
    CHECK_OK(tether_handshake_init_initiator(&device.hs, &device.cfg, &device.plat));
    CHECK_OK(hs_cross(&device, &phone, att_mtu));
    /* The same message 0 again (a retransmission): recognised, nothing changes. */
    {
        size_t got_len = 0;
        tether_status refused;
        const uint8_t *again = receive_unit(&phone, SIZE_MAX, &got_len, &refused);
        CHECK_OK(refused);
        CHECK_ST(tether_handshake_read(&phone.hs, again, got_len), TETHER_ERR_DUPLICATE);
    }
    CHECK_OK(hs_cross(&phone, &device, att_mtu));
    CHECK(next_action(&device.hs) == TETHER_ACTION_FINISH);
    CHECK(next_action(&phone.hs) == TETHER_ACTION_FINISH);
    tether_peer peer;
    uint8_t h1[32], h2[32];
    CHECK_OK(tether_handshake_finish(&phone.hs, &phone.s, &peer, h1));
    CHECK(peer.id_len == 7 && memcmp(peer.id, "SN-0001", 7) == 0);
    CHECK(memcmp(peer.static_key, device_pub, 32) == 0);
    CHECK_OK(tether_handshake_finish(&device.hs, &device.s, &peer, h2));
    CHECK(peer.id_len == 9 && memcmp(peer.id, "phone-app", 9) == 0);
    CHECK(memcmp(h1, h2, 32) == 0);

    /* Vital signs from the device: the spec vector, then a batch of 300 readings (a record of
     * 949 bytes: 53 fragments at ATT_MTU 23, 6 at 185, 2 at 517). */
    size_t len = unhex(VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg), plain_len = 0;
    CHECK(record_cross(&device, &phone, msg, len, att_mtu, plain, &plain_len) ==
          TETHER_EVENT_DATA);
    uint32_t kind = 0, tick = 0;
    uint64_t base = 0;
    size_t nc = 0, nr = 0;
    CHECK_OK(tether_message_kind(plain, plain_len, &kind));
    CHECK(kind == TETHER_KIND_VITALS);
    CHECK_OK(tether_vitals_decode(plain, plain_len, &base, &tick, channels,
                                  TETHER_VITALS_MAX_CHANNELS, &nc, readings,
                                  TETHER_VITALS_MAX_READINGS, &nr));
    CHECK(base == UINT64_C(1768465800000) && tick == 1000 && nc == 2 && nr == 5);
    CHECK(readings[0].value.mantissa == 97 && readings[0].value.exponent == 0);
    CHECK(readings[3].value.mantissa == 3720 && readings[3].value.exponent == -2);
    CHECK(readings[2].value.special == TETHER_VALUE_NAN);

    len = vitals_of(300, msg);
    CHECK(record_cross(&device, &phone, msg, len, att_mtu, plain, &plain_len) ==
          TETHER_EVENT_DATA);
    CHECK(g_air_count == (att_mtu == 23 ? 53u : att_mtu == 185 ? 6u : 2u));
    CHECK_OK(tether_vitals_decode(plain, plain_len, &base, &tick, channels,
                                  TETHER_VITALS_MAX_CHANNELS, &nc, readings,
                                  TETHER_VITALS_MAX_READINGS, &nr));
    CHECK(nr == 300 && readings[299].value.mantissa == 5 && readings[299].time_ms == base);

    /* A lost fragment loses its unit (never a wrong one); the next record still opens. A
     * fragment altered on the air makes a unit that fails authentication. */
    static uint8_t rec[TETHER_SEAL_CAPACITY(TETHER_DELIVERY_MAX_FRAME)];
    size_t n = 0, got_len = 0;
    tether_status refused;
    CHECK_OK(tether_session_seal(&device.s, msg, len, rec, sizeof rec, &n, NULL));
    send_unit(&device, rec, n, att_mtu);
    CHECK(receive_unit(&phone, 1, &got_len, &refused) == NULL);
    CHECK(refused == (g_air_count > 2 ? TETHER_ERR_LINK_GAP : TETHER_OK));
    CHECK_OK(tether_session_seal(&device.s, msg, len, rec, sizeof rec, &n, NULL));
    send_unit(&device, rec, n, att_mtu);
    g_air[g_air_count - 1][g_air_len[g_air_count - 1] - 1] ^= 0x01;
    const uint8_t *forged = receive_unit(&phone, SIZE_MAX, &got_len, &refused);
    CHECK_OK(refused);
    CHECK(forged != NULL && got_len == n);
    tether_event ev = TETHER_EVENT_DATA;
    CHECK_ST(tether_session_open(&phone.s, forged, got_len, plain, sizeof plain, &ev, &plain_len),
             TETHER_ERR_AUTHENTICATION);
    len = unhex(VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg);
    CHECK(record_cross(&device, &phone, msg, len, att_mtu, plain, &plain_len) ==
          TETHER_EVENT_DATA);
    CHECK(plain_len == len && memcmp(plain, msg, len) == 0);

    /* The phone answers over its own link; then the device closes. */
    CHECK(record_cross(&phone, &device, (const uint8_t *)"ack", 3, att_mtu, plain, &plain_len) ==
          TETHER_EVENT_DATA);
    CHECK(plain_len == 3 && memcmp(plain, "ack", 3) == 0);
    CHECK_OK(tether_session_close(&device.s, rec, sizeof rec, &n));
    const uint8_t *unit = cross(&device, &phone, rec, n, att_mtu, &got_len);
    CHECK_OK(tether_session_open(&phone.s, unit, got_len, plain, sizeof plain, &ev, &plain_len));
    CHECK(ev == TETHER_EVENT_CLOSE);

    end_wipe(&device);
    end_wipe(&phone);
    end_wipe(&stranger);
}

static void test_phone_session_mtu_23(void) { phone_session_at(23); }
static void test_phone_session_mtu_185(void) { phone_session_at(185); }
static void test_phone_session_mtu_517(void) { phone_session_at(517); }

/* ------------------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    void (*run)(void);
} TESTS[] = {
    {"link_statuses", test_link_statuses},
    {"vector_sequences", test_vector_sequences},
    {"vector_units", test_vector_units},
    {"fragmenter_rules", test_fragmenter_rules},
    {"reassembler_lending", test_reassembler_lending},
    {"misuse_handles", test_misuse_handles},
    {"misuse_buffers", test_misuse_buffers},
    {"two_threads_one_reassembler", test_two_threads_one_reassembler},
    {"phone_session_mtu_23", test_phone_session_mtu_23},
    {"phone_session_mtu_185", test_phone_session_mtu_185},
    {"phone_session_mtu_517", test_phone_session_mtu_517},
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
