/*
 * C-side tests of tether's message layer through the C ABI (ffi/include/tether.h): message kinds,
 * vital-sign batches, 11073 value conversion, signed commands and acknowledgements, firmware
 * manifests, image chunks and the stored-image check. Every known answer is a spec vector,
 * hard-coded below as hex and named after its entry in spec/vectors/messages_telemetry.json or
 * spec/vectors/messages_signed.json. Also: every command and manifest rejection status, and
 * misuse (NULL, impossible lengths, overlapping outputs, too-small capacities and buffers).
 *
 * Build and run through ffi/tests/c/run.sh (ASan+UBSan, then valgrind). No malloc here.
 * The last line on success is "N passed, 0 failed".
 */

#include "tether.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ------------------------------------------------------------------------------------------ */
/* Spec vectors                                                                                */

/* messages_telemetry.json valid "vitals/spo2-and-temperature" */
static const char V_VITALS_SPO2_AND_TEMPERATURE[] = "8201a4001b0000019bc0c69b40011903e80282820100820720038f0000186101011901740000f97e000101c48221190e8800001860";
/* messages_telemetry.json valid "vitals/other-channel-and-specials" */
static const char V_VITALS_OTHER_CHANNEL_AND_SPECIALS[] = "8201a4001b0000019bc0c69b4001010282831a00024a011a00040f2000820800038c18fa00187618fa00f97c000001f7190dac01f9fc00";
/* messages_telemetry.json valid "vitals/glucose-mmol-per-litre" */
static const char V_VITALS_GLUCOSE_MMOL_PER_LITRE[] = "8201a4001b0000019bc0c69b400119ea600281820a200389010018360300c482211902640100c4820020";
/* messages_telemetry.json invalid "vitals/tag4-with-channel-exponent" (vitals.readings.value.exponent: NotCanonical) */
static const char V_BAD_TAG4_WITH_CHANNEL_EXPONENT[] = "8201a4001b0000019bc0c69b40011903e8028182010003830000c482001861";
/* messages_telemetry.json invalid "vitals/single-precision-nan" (vitals.readings.value: WrongType) */
static const char V_BAD_SINGLE_PRECISION_NAN[] = "8201a4001b0000019bc0c69b40011903e8028182010003830000fa7fc00000";
/* messages_telemetry.json invalid "vitals/non-canonical-integer" (vitals.readings.value: NotCanonical) */
static const char V_BAD_NON_CANONICAL_INTEGER[] = "8201a4001b0000019bc0c69b40011903e8028182010003830000190061";
/* messages_telemetry.json invalid "vitals/unknown-table-code" (vitals.channels.code: OutOfRange) */
static const char V_BAD_UNKNOWN_TABLE_CODE[] = "8201a4001b0000019bc0c69b40011903e80281820b00038300001861";
/* messages_telemetry.json invalid "vitals/table-entry-in-long-form" (vitals.channels.code: NotCanonical) */
static const char V_BAD_TABLE_ENTRY_IN_LONG_FORM[] = "8201a4001b0000019bc0c69b40011903e80281831a00024bb81a0004022000038300001861";
/* messages_telemetry.json invalid "vitals/channel-index-out-of-range" (vitals.readings.ch: OutOfRange) */
static const char V_BAD_CHANNEL_INDEX_OUT_OF_RANGE[] = "8201a4001b0000019bc0c69b40011903e80281820100038300011861";
/* messages_telemetry.json invalid "vitals/readings-not-multiple-of-3" (vitals.readings: OutOfRange) */
static const char V_BAD_READINGS_NOT_MULTIPLE_OF_3[] = "8201a4001b0000019bc0c69b40011903e8028182010003840000186100";
/* messages_telemetry.json invalid "vitals/513-readings-claimed" (vitals.readings: TooMany) */
static const char V_BAD_513_READINGS_CLAIMED[] = "8201a4001b0000019bc0c69b40011903e8028182010003990603";
/* messages_telemetry.json invalid "vitals/tick-zero" (vitals.tick: OutOfRange) */
static const char V_BAD_TICK_ZERO[] = "8201a4001b0000019bc0c69b4001000281820100038300001861";
/* messages_telemetry.json invalid "vitals/time-overflow" (vitals.readings.dt: OutOfRange) */
static const char V_BAD_TIME_OVERFLOW[] = "8201a4001b0000019bc0c69b40011903e8028182010003831b004189374bc6a7ef001861";
/* messages_telemetry.json invalid "vitals/unknown-critical-key" (vitals: UnknownCritical) */
static const char V_BAD_UNKNOWN_CRITICAL_KEY[] = "8201a5001b0000019bc0c69b40011903e802818201000383000018612000";
/* messages_telemetry.json invalid "vitals/missing-readings" (vitals.readings: Missing) */
static const char V_BAD_MISSING_READINGS[] = "8201a3001b0000019bc0c69b40011903e80281820100";
/* messages_telemetry.json invalid "vitals/trailing-byte" (message: TrailingBytes) */
static const char V_BAD_TRAILING_BYTE[] = "8201a4001b0000019bc0c69b40011903e8028182010003830000186100";
/* messages_telemetry.json invalid "vitals/indefinite-length-array" (vitals.readings: NotCanonical) */
static const char V_BAD_INDEFINITE_LENGTH_ARRAY[] = "8201a4001b0000019bc0c69b40011903e80281820100039f00001861ff";
/* messages_signed.json "command_basal_rate" */
static const char S_COMMAND_BASAL_RATE[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e25840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5664fa8068cdaba8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
/* messages_signed.json "command_bolus" */
static const char S_COMMAND_BOLUS[] =
    "8210d28443a10127a10446636c696e6963582ca60147534e2d303030310208031b000001a0c4506818041b000001a0c454ffe0050206a2011901f40219025858401fe485caec61279d69f1c772710f40891e614fdf08acf384a8cc6834c1b260fe493072cd9dd00028aa6c54747955bc72dd9090e2c8d345698ea6a0803dc42205";
/* messages_signed.json "command_replayed" */
static const char S_COMMAND_REPLAYED[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e25840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5664fa8068cdaba8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
/* messages_signed.json "command_unknown_authority" */
static const char S_COMMAND_UNKNOWN_AUTHORITY[] =
    "8210d28443a10127a10448737472616e6765725828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e2584052bf85ff3670b089865405cef64e6b5d60f2905953c5bdbe6dc5add249123c2e565d6f8c21ee3ffc23708059424a57bbfb952458327b9bd729c0054eae3a4307";
/* messages_signed.json "command_bad_signature" */
static const char S_COMMAND_BAD_SIGNATURE[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e2584052bf85ff3670b089865405cef64e6b5d60f2905953c5bdbe6dc5add249123c2e565d6f8c21ee3ffc23708059424a57bbfb952458327b9bd729c0054eae3a4307";
/* messages_signed.json "command_wrong_device" */
static const char S_COMMAND_WRONG_DEVICE[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030320207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e258400d2ff6073b8f23dcc69bef573f93a7e122b858fbea6e2961fe068f9446c55164f010a16d5fc496aff390ddfc2aa6fabf16d068d9e65c8a9c393b1801f9734206";
/* messages_signed.json "command_not_yet_valid" */
static const char S_COMMAND_NOT_YET_VALID[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4515661041b000001a0c455ea40050106a1011904e25840b3890697b28816ed85532a3e54f2582c618c7b49127450e17c486858fa6511f5a71ae02b5457f49f6a78bde0978d567c52808298908baf27e151ed4b806e1009";
/* messages_signed.json "command_expired" */
static const char S_COMMAND_EXPIRED[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c4506c00050106a1011904e25840229237b499e0341965b5b0bd1dff15a0a4e1a5aeb3374f2583a935fa4925b63958344433748d8bde0bd244eb1adade59076eddff9837e47e211d00674c8e7001";
/* messages_signed.json "command_operation_not_allowed" */
static const char S_COMMAND_OPERATION_NOT_ALLOWED[] =
    "8210d28443a10127a10446636c696e69635824a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050306a058406411c6a588dc2ca3265037d02e4d619516f6ccc5e9fce023acec06614e9175084beaaa72b1695e7f0de85258f319dd8256f9767f6a9ec68852d34868c8a6b20c";
/* messages_signed.json "command_parameter_out_of_range" */
static const char S_COMMAND_PARAMETER_OUT_OF_RANGE[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011913895840b811031ea5da4bf858b5473557ba99c8ce537bd9885274a2d9c663043f15162d732492b695c44ba695abcc200fae80dd5d4347ac1def6c555e56b9f610169103";
/* messages_signed.json "command_parameter_not_granted" */
static const char S_COMMAND_PARAMETER_NOT_GRANTED[] =
    "8210d28443a10127a10446636c696e6963582aa60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a2011903e8020a58402ea309e0ec2229465625fc2eefc1b6b28ed2818590446739fee71a98d16af951dfa4192e1012cf28a5545757ecadd1393a3feba0f4b562d2f463faf8fc76f204";
/* messages_signed.json "command_parameter_missing" */
static const char S_COMMAND_PARAMETER_MISSING[] =
    "8210d28443a10127a10446636c696e69635824a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a058409f37f2d0deb6589de2fa92fcf54d0dd612d05c31d3dacf53cd6676fc96fc43829aabb8b39e42d4f0e02cf6e8827b6a98c3405838580c17d3316825cf67257006";
/* messages_signed.json "command_malformed_payload" */
static const char S_COMMAND_MALFORMED_PAYLOAD[] =
    "8210d28443a10127a10446636c696e696341a0584006a3a6a8a95f9c73af42618fe5ea85a475f131c4db7899e204a4b4530b2581e5e04f6c3e2c09ce02fdd790f10a814a13a9d499a8c607c58b281124e28b90bd04";
/* messages_signed.json "command_empty_validity_window" */
static const char S_COMMAND_EMPTY_VALIDITY_WINDOW[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c4506818050106a1011904e258402b7d9fc61eba63960c5ff56ed14cf16990caf82900c49516625f31ac101bebac23e0c5571a31f5bd922ce9f98bcf6498559c969dc8d4d2ee45436fc6bdd3b70e";
/* messages_signed.json "command_tampered_payload" */
static const char S_COMMAND_TAMPERED_PAYLOAD[] =
    "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e35840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5664fa8068cdaba8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
/* messages_signed.json "command_other_algorithm" */
static const char S_COMMAND_OTHER_ALGORITHM[] =
    "8210d28443a10126a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e2584090b69a41a3c333dcf7747718591db87e4946b405e929f192e4cce629993000d0907c95c522340d915c987f98bf6947e2c233dae397cc3302c9e0952cc748ed09";
/* messages_signed.json "ack_accepted" */
static const char S_ACK_ACCEPTED[] =
    "8211a301070201041b000001a0c4506c14";
/* messages_signed.json "ack_executed" */
static const char S_ACK_EXECUTED[] =
    "8211a301070203041b000001a0c45071dc";
/* messages_signed.json "ack_rejected_expired" */
static const char S_ACK_REJECTED_EXPIRED[] =
    "8211a4010702020304041b000001a0c4506c14";
/* messages_signed.json "ack_failed" */
static const char S_ACK_FAILED[] =
    "8211a40108020403190102041b000001a0c45073d0";
/* messages_signed.json "ack_rejected_unreadable" */
static const char S_ACK_REJECTED_UNREADABLE[] =
    "8211a4010002020309041b000001a0c4506c14";
/* messages_signed.json "firmware_manifest" */
static const char S_FIRMWARE_MANIFEST[] =
    "821820d28443a10127a1044466772d31587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182a05183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e5840a52a2c2ea663eacbbc0fd5e283796b5fcecdd17a1c83b227929ca7ab979d9e8e4e5cfebd430e2998562d4a595762ba00869c2ef88dadb3afe7add9f016c91203";
/* messages_signed.json "manifest_unknown_authority" */
static const char S_MANIFEST_UNKNOWN_AUTHORITY[] =
    "821820d28443a10127a10448737472616e676572587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182a05183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e58402513c98d775df1dffbafaf7175b894fc83a07807c9dedcc36b013b26d95217349045ede5995c3fee67958a9e2ff9fe88cf3c4f1a349872a0da22e6a20a41ae0a";
/* messages_signed.json "manifest_bad_signature" */
static const char S_MANIFEST_BAD_SIGNATURE[] =
    "821820d28443a10127a1044466772d31587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182a05183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e58402513c98d775df1dffbafaf7175b894fc83a07807c9dedcc36b013b26d95217349045ede5995c3fee67958a9e2ff9fe88cf3c4f1a349872a0da22e6a20a41ae0a";
/* messages_signed.json "manifest_wrong_class" */
static const char S_MANIFEST_WRONG_CLASS[] =
    "821820d28443a10127a1044466772d31587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7033620365322e352e3004182a05183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e584086965a06c2e11923f27cdce943998ba9798d9160c747f53169941999991eb3d572742a80af0b761e206188ca3200cfa20c7ca29f14eeed9df90e396131258901";
/* messages_signed.json "manifest_rollback" */
static const char S_MANIFEST_ROLLBACK[] =
    "821820d28443a10127a1044466772d31587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182905183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e584034e517c275df6a2a94f78de4d5ceb3aff5e29cf08aad72782f437aa2d668b01993ea22b125d5d5fe7eea4ddd7649864eb23a4f8e7de8e2d2778cb7bc53cf780f";
/* messages_signed.json "manifest_too_large" */
static const char S_MANIFEST_TOO_LARGE[] =
    "821820d28443a10127a1044466772d31587ba701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182a0519100106822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e5840dd04c65c1995314fb31f654b071b5613613fdab24129eafd8dc18fef3c1c7b21956665784e279357601fbcd7b6f6cc14bc0da157842dc3c76bbd9cfff8768706";
/* messages_signed.json "manifest_malformed_payload" */
static const char S_MANIFEST_MALFORMED_PAYLOAD[] =
    "821820d28443a10127a1044466772d3144a10141005840f69e48c2e2b16f838642001585b5fe2a2f9c24a31d0a26d838122983ab4562832fb64b00b737a75aa452861babbff5f176637abeb1f93ad3d6dc284001df3c04";
/* messages_signed.json "image_chunk_0" */
static const char S_IMAGE_CHUNK_0[] =
    "821821a301182a0200035820030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dc";
/* messages_signed.json "image_chunk_1" */
static const char S_IMAGE_CHUNK_1[] =
    "821821a301182a0218200350e3eaf1f8ff060d141b222930373e454c";
/* messages_signed.json "image_chunk_other_transfer" */
static const char S_IMAGE_CHUNK_OTHER_TRANSFER[] =
    "821821a30118290200035820030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dc";
/* messages_signed.json "image_chunk_beyond_image" */
static const char S_IMAGE_CHUNK_BEYOND_IMAGE[] =
    "821821a301182a02182003510000000000000000000000000000000000";

/* messages_signed.json "keys": public keys (RFC 8032 section 7.1 TEST 1 and TEST 2). */
static const char CLINIC_PUBLIC[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char VENDOR_PUBLIC[] = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
/* messages_signed.json "image": the image of "firmware_manifest". */
static const char IMAGE[] =
    "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c";
/* messages_signed.json: every command vector is checked at this time. */
#define NOW UINT64_C(1790000000000)

/* ------------------------------------------------------------------------------------------ */
/* Message kinds                                                                               */

static void test_message_kind(void) {
    uint8_t msg[512];
    uint32_t kind = 0;
    size_t n = unhex(V_VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg);
    CHECK_OK(tether_message_kind(msg, n, &kind));
    CHECK(kind == TETHER_KIND_VITALS);
    n = unhex(S_COMMAND_BASAL_RATE, msg, sizeof msg);
    CHECK_OK(tether_message_kind(msg, n, &kind));
    CHECK(kind == TETHER_KIND_COMMAND);
    n = unhex(S_FIRMWARE_MANIFEST, msg, sizeof msg);
    CHECK_OK(tether_message_kind(msg, n, &kind));
    CHECK(kind == TETHER_KIND_FIRMWARE_MANIFEST);
    n = unhex(S_IMAGE_CHUNK_0, msg, sizeof msg);
    CHECK_OK(tether_message_kind(msg, n, &kind));
    CHECK(kind == TETHER_KIND_IMAGE_CHUNK);
    n = unhex(S_ACK_ACCEPTED, msg, sizeof msg);
    CHECK_OK(tether_message_kind(msg, n, &kind));
    CHECK(kind == TETHER_KIND_COMMAND_ACK);

    /* An unknown kind (5), and no body: malformed, nothing written. */
    const uint8_t unknown[] = {0x82, 0x05, 0x07}, no_body[] = {0x82, 0x02};
    kind = 1234;
    CHECK_ST(tether_message_kind(unknown, sizeof unknown, &kind), TETHER_ERR_MESSAGE);
    CHECK_ST(tether_message_kind(no_body, sizeof no_body, &kind), TETHER_ERR_MESSAGE);
    CHECK_ST(tether_message_kind(NULL, 0, &kind), TETHER_ERR_MESSAGE);
    CHECK(kind == 1234);

    /* Misuse. */
    CHECK_ST(tether_message_kind(msg, n, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_message_kind(NULL, 3, &kind), TETHER_ERR_NULL);
    CHECK_ST(tether_message_kind(msg, (size_t)PTRDIFF_MAX + 1u, &kind), TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_message_kind(msg, n, (uint32_t *)(void *)(msg + 4)), TETHER_ERR_OVERLAP);
    CHECK(kind == 1234);
}

/* ------------------------------------------------------------------------------------------ */
/* Vitals                                                                                      */

static void test_vitals_decode_vectors(void) {
    uint8_t msg[512];
    uint64_t base = 0;
    uint32_t tick = 0;
    tether_vital_channel ch[TETHER_VITALS_MAX_CHANNELS];
    tether_vital_reading rd[16];
    size_t nc = 0, nr = 0;

    /* "vitals/spo2-and-temperature" */
    size_t n = unhex(V_VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg);
    CHECK_OK(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nr));
    CHECK(base == UINT64_C(1768465800000) && tick == 1000 && nc == 2 && nr == 5);
    CHECK(ch[0].code == 1 && ch[0].unit == 0 && ch[0].exponent == 0);   /* SpO2, % */
    CHECK(ch[1].code == 7 && ch[1].unit == 0 && ch[1].exponent == -1);  /* body temperature */
    CHECK(rd[0].time_ms == base && rd[0].channel == 0);
    CHECK(rd[0].value.special == TETHER_VALUE_NUMBER && rd[0].value.mantissa == 97 &&
          rd[0].value.exponent == 0);
    CHECK(rd[1].time_ms == base + 1000 && rd[1].channel == 1 && rd[1].value.mantissa == 372 &&
          rd[1].value.exponent == -1);
    CHECK(rd[2].time_ms == base + 1000 && rd[2].value.special == TETHER_VALUE_NAN);
    /* 37.20 keeps its precision: 3720 x 10^-2, not 372 x 10^-1. */
    CHECK(rd[3].time_ms == base + 2000 && rd[3].value.mantissa == 3720 &&
          rd[3].value.exponent == -2);
    CHECK(rd[4].time_ms == base + 2000 && rd[4].value.mantissa == 96);

    /* "vitals/other-channel-and-specials": an 11073 code with its unit, and the specials. */
    n = unhex(V_VITALS_OTHER_CHANNEL_AND_SPECIALS, msg, sizeof msg);
    CHECK_OK(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nr));
    CHECK(tick == 1 && nc == 2 && nr == 4);
    CHECK(ch[0].code == 150017 && ch[0].unit == 266016 && ch[0].exponent == 0);
    CHECK(ch[1].code == 8);
    /* A table channel's 11073 codes come from the library's table (spec/MESSAGES.md 4.3.1). */
    uint32_t mdc = 0, unit = 0;
    CHECK_OK(tether_vital_table_codes(ch[1].code, &mdc, &unit));
    CHECK(mdc == 151562 && unit == 264928); /* MDC_RESP_RATE, MDC_DIM_RESP_PER_MIN */
    CHECK_OK(tether_vital_table_codes(1, &mdc, &unit));
    CHECK(mdc == 150456 && unit == 262688); /* MDC_PULS_OXIM_SAT_O2, MDC_DIM_PERCENT */
    mdc = unit = 7;
    CHECK(tether_vital_table_codes(11, &mdc, &unit) == TETHER_ERR_BAD_CONFIG);
    CHECK(tether_vital_table_codes(0, &mdc, &unit) == TETHER_ERR_BAD_CONFIG);
    CHECK(mdc == 7 && unit == 7);
    CHECK(tether_vital_table_codes(1, NULL, &unit) == TETHER_ERR_NULL);
    CHECK(tether_vital_table_codes(1, &mdc, &mdc) == TETHER_ERR_OVERLAP);
    CHECK(rd[0].time_ms == UINT64_C(1768465800250) && rd[0].value.mantissa == 118);
    CHECK(rd[1].value.special == TETHER_VALUE_POS_INF);
    CHECK(rd[2].value.special == TETHER_VALUE_NRES && rd[2].channel == 1);
    CHECK(rd[3].time_ms == UINT64_C(1768465804000) && rd[3].value.special == TETHER_VALUE_NEG_INF);

    /* "vitals/glucose-mmol-per-litre" */
    n = unhex(V_VITALS_GLUCOSE_MMOL_PER_LITRE, msg, sizeof msg);
    CHECK_OK(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nr));
    CHECK(tick == 60000 && nc == 1 && ch[0].code == 10 && nr == 3);
    CHECK(rd[2].value.mantissa == -1 && rd[2].value.exponent == 0);
}

static void test_vitals_encode_matches_vectors(void) {
    uint8_t want[512], out[512];
    size_t written = 0;
    /* "vitals/spo2-and-temperature", built from its values. */
    const uint64_t base = UINT64_C(1768465800000);
    const tether_vital_channel ch[2] = {{1, 0, 0}, {7, 0, -1}};
    const tether_vital_reading rd[5] = {
        {base, 0, {97, 0, TETHER_VALUE_NUMBER}},
        {base + 1000, 1, {372, -1, TETHER_VALUE_NUMBER}},
        {base + 1000, 0, {0, 0, TETHER_VALUE_NAN}},
        {base + 2000, 1, {3720, -2, TETHER_VALUE_NUMBER}},
        {base + 2000, 0, {96, 0, TETHER_VALUE_NUMBER}},
    };
    size_t n = unhex(V_VITALS_SPO2_AND_TEMPERATURE, want, sizeof want);
    CHECK_OK(tether_vitals_encode(base, 1000, ch, 2, rd, 5, out, sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);

    /* "vitals/other-channel-and-specials": an MDC channel given by code and unit. */
    const tether_vital_channel ch2[2] = {{150017, 266016, 0}, {8, 0, 0}};
    const tether_vital_reading rd2[4] = {
        {base + 250, 0, {118, 0, TETHER_VALUE_NUMBER}},
        {base + 500, 0, {0, 0, TETHER_VALUE_POS_INF}},
        {base + 500, 1, {0, 0, TETHER_VALUE_NRES}},
        {base + 4000, 1, {0, 0, TETHER_VALUE_NEG_INF}},
    };
    n = unhex(V_VITALS_OTHER_CHANNEL_AND_SPECIALS, want, sizeof want);
    CHECK_OK(tether_vitals_encode(base, 1, ch2, 2, rd2, 4, out, sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);

    /* Too small: the size needed, nothing written. */
    uint8_t small[20];
    memset(small, 0xAA, sizeof small);
    written = 0;
    CHECK_ST(tether_vitals_encode(base, 1, ch2, 2, rd2, 4, small, sizeof small, &written),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(written == n && all_bytes(small, sizeof small, 0xAA));
    CHECK_ST(tether_vitals_encode(base, 1, ch2, 2, rd2, 4, NULL, 0, &written),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(written == n);

    /* Bad configurations: nothing written. */
    written = 7;
    const tether_vital_channel unknown_code[1] = {{11, 0, 0}};
    const tether_vital_channel low_mdc[1] = {{65535, 0, 0}};
    CHECK_ST(tether_vitals_encode(base, 1000, unknown_code, 1, rd, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_vitals_encode(base, 1000, low_mdc, 1, rd, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_vitals_encode(base, 0, ch, 2, rd, 5, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 0, rd, 5, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, 0, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    tether_vital_channel ch17[TETHER_VITALS_MAX_CHANNELS + 1];
    for (size_t i = 0; i < TETHER_VITALS_MAX_CHANNELS + 1; i++) {
        ch17[i] = ch[0];
    }
    CHECK_ST(tether_vitals_encode(base, 1000, ch17, TETHER_VITALS_MAX_CHANNELS + 1, rd, 5, out,
                                  sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 1, rd, 5, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG); /* reading on channel 1 of a 1-channel batch */
    tether_vital_reading odd[2] = {rd[1], rd[0]}; /* time goes backwards */
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, odd, 2, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    tether_vital_reading special[1] = {{base, 0, {0, 0, 5}}};
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, special, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK(written == 7);

    /* Misuse. */
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, 5, out, sizeof out, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_encode(base, 1000, NULL, 2, rd, 5, out, sizeof out, &written),
             TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, NULL, 5, out, sizeof out, &written),
             TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, 5, NULL, 10, &written), TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, SIZE_MAX / 8, out, sizeof out, &written),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, 5, out, (size_t)PTRDIFF_MAX + 1u,
                                  &written),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd, 5, out, sizeof out, (size_t *)(void *)out),
             TETHER_ERR_OVERLAP);
    tether_vital_reading rd_copy[5];
    memcpy(rd_copy, rd, sizeof rd_copy);
    CHECK_ST(tether_vitals_encode(base, 1000, ch, 2, rd_copy, 5, (uint8_t *)rd_copy,
                                  sizeof rd_copy, &written),
             TETHER_ERR_OVERLAP);
    for (size_t i = 0; i < 5; i++) { /* fields only: the padding was never initialized */
        CHECK(rd_copy[i].time_ms == rd[i].time_ms && rd_copy[i].channel == rd[i].channel &&
              rd_copy[i].value.mantissa == rd[i].value.mantissa &&
              rd_copy[i].value.exponent == rd[i].value.exponent &&
              rd_copy[i].value.special == rd[i].value.special);
    }
}

static void test_vitals_decode_refusals(void) {
    uint8_t msg[512];
    uint64_t base = 5;
    uint32_t tick = 6;
    tether_vital_channel ch[16];
    tether_vital_reading rd[16];
    size_t nc = 7, nr = 8;
    static const char *const invalid[] = {
        V_BAD_TAG4_WITH_CHANNEL_EXPONENT, V_BAD_SINGLE_PRECISION_NAN, V_BAD_NON_CANONICAL_INTEGER,
        V_BAD_UNKNOWN_TABLE_CODE, V_BAD_TABLE_ENTRY_IN_LONG_FORM,
        V_BAD_CHANNEL_INDEX_OUT_OF_RANGE, V_BAD_READINGS_NOT_MULTIPLE_OF_3,
        V_BAD_513_READINGS_CLAIMED, V_BAD_TICK_ZERO, V_BAD_TIME_OVERFLOW,
        V_BAD_UNKNOWN_CRITICAL_KEY, V_BAD_MISSING_READINGS, V_BAD_TRAILING_BYTE,
        V_BAD_INDEFINITE_LENGTH_ARRAY,
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        size_t n = unhex(invalid[i], msg, sizeof msg);
        CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nr),
                 TETHER_ERR_MESSAGE);
    }
    /* Not a vitals message at all. */
    size_t n = unhex(S_ACK_ACCEPTED, msg, sizeof msg);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nr),
             TETHER_ERR_MESSAGE);
    CHECK(base == 5 && tick == 6 && nc == 7 && nr == 8);

    /* Too-small capacities: the counts needed, nothing else. */
    n = unhex(V_VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg);
    memset(rd, 0xAA, sizeof rd);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 4, &nr),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(nc == 2 && nr == 5 && base == 5 && all_bytes(rd, sizeof rd, 0xAA));
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, NULL, 0, &nc, NULL, 0, &nr),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(nc == 2 && nr == 5);

    /* Misuse. */
    CHECK_ST(tether_vitals_decode(msg, n, NULL, &tick, ch, 16, &nc, rd, 16, &nr), TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, NULL, 16, &nc, rd, 16, &nr),
             TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_decode(NULL, n, &base, &tick, ch, 16, &nc, rd, 16, &nr),
             TETHER_ERR_NULL);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, SIZE_MAX / 4, &nr),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, (tether_vital_reading *)msg,
                                  2, &nr),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_vitals_decode(msg, n, &base, &tick, ch, 16, &nc, rd, 16, &nc),
             TETHER_ERR_OVERLAP);
}

static void test_values_from_11073(void) {
    tether_vital_value v = {0, 0, 0};
    CHECK_OK(tether_value_from_sfloat(0xF174, &v)); /* 372 x 10^-1: 37.2 degrees */
    CHECK(v.mantissa == 372 && v.exponent == -1 && v.special == TETHER_VALUE_NUMBER);
    CHECK_OK(tether_value_from_sfloat(0x0FFF, &v)); /* mantissa -1 */
    CHECK(v.mantissa == -1 && v.exponent == 0);
    CHECK_OK(tether_value_from_sfloat(0x07FF, &v));
    CHECK(v.special == TETHER_VALUE_NAN && v.mantissa == 0);
    CHECK_OK(tether_value_from_sfloat(0x0800, &v));
    CHECK(v.special == TETHER_VALUE_NRES);
    CHECK_OK(tether_value_from_sfloat(0x07FE, &v));
    CHECK(v.special == TETHER_VALUE_POS_INF);
    CHECK_OK(tether_value_from_sfloat(0x0802, &v));
    CHECK(v.special == TETHER_VALUE_NEG_INF);
    CHECK_ST(tether_value_from_sfloat(0x0801, &v), TETHER_ERR_MESSAGE); /* reserved */
    CHECK(v.special == TETHER_VALUE_NEG_INF);
    CHECK_OK(tether_value_from_float(0xFE000E88u, &v)); /* 3720 x 10^-2 */
    CHECK(v.mantissa == 3720 && v.exponent == -2 && v.special == TETHER_VALUE_NUMBER);
    CHECK_OK(tether_value_from_float(0x007FFFFFu, &v));
    CHECK(v.special == TETHER_VALUE_NAN);
    CHECK_ST(tether_value_from_float(0x00800001u, &v), TETHER_ERR_MESSAGE);
    CHECK_ST(tether_value_from_sfloat(0, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_value_from_float(0, NULL), TETHER_ERR_NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Commands (messages_signed.json "command_policy")                                           */

static const tether_command_rule BASAL_RULES[1] = {{1, 0, 5000, 1}};
static const tether_command_rule BOLUS_RULES[2] = {{1, 1, 10000, 1}, {2, 0, 3600, 0}};
static const tether_command_grant CLINIC_GRANTS[2] = {
    {1, BASAL_RULES, 1}, /* set basal rate (0.001 U/h) */
    {2, BOLUS_RULES, 2}, /* bolus (0.001 U, over seconds) */
};
static tether_command_authority clinic;
static tether_command_policy command_policy;

static void command_policy_init(void) {
    clinic.kid = (const uint8_t *)"clinic";
    clinic.kid_len = 6;
    unhex(CLINIC_PUBLIC, clinic.public_key, 32);
    clinic.grants = CLINIC_GRANTS;
    clinic.n_grants = 2;
    command_policy.device_id = (const uint8_t *)"SN-0001";
    command_policy.device_id_len = 7;
    command_policy.authorities = &clinic;
    command_policy.n_authorities = 1;
    command_policy.max_clock_skew_ms = 60000;
}

static void test_command_accepted(void) {
    command_policy_init();
    uint8_t msg[512];
    tether_command cmd;
    uint32_t reason = 99;
    uint64_t last = 5;
    /* "command_basal_rate": accepted, last_accepted 5 -> 7. */
    size_t n = unhex(S_COMMAND_BASAL_RATE, msg, sizeof msg);
    CHECK_OK(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd, &reason));
    CHECK(last == 7 && reason == 0);
    CHECK(cmd.command_id == 7 && cmd.operation == 1 && cmd.n_params == 1);
    CHECK(cmd.issued_ms == UINT64_C(1789999999000) && cmd.expires_ms == UINT64_C(1790000300000));
    CHECK(cmd.params[0].id == 1 && cmd.params[0].value == 1250);
    CHECK(cmd.authority_kid_len == 6 && memcmp(cmd.authority_kid, "clinic", 6) == 0);
    /* "command_bolus": accepted after it (7 -> 8), with an optional parameter. */
    n = unhex(S_COMMAND_BOLUS, msg, sizeof msg);
    CHECK_OK(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd, &reason));
    CHECK(last == 8 && cmd.command_id == 8 && cmd.operation == 2 && cmd.n_params == 2);
    CHECK(cmd.params[0].id == 1 && cmd.params[0].value == 500);
    CHECK(cmd.params[1].id == 2 && cmd.params[1].value == 600);
}

static void test_command_rejections(void) {
    command_policy_init();
    static const struct {
        const char *name, *hex;
        uint64_t last;
        tether_status status;
        uint32_t reason;
    } cases[] = {
        {"command_replayed", S_COMMAND_REPLAYED, 7, TETHER_ERR_COMMAND_REPLAYED,
         TETHER_COMMAND_REASON_REPLAYED},
        {"command_unknown_authority", S_COMMAND_UNKNOWN_AUTHORITY, 5,
         TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY, TETHER_COMMAND_REASON_UNKNOWN_AUTHORITY},
        {"command_bad_signature", S_COMMAND_BAD_SIGNATURE, 5, TETHER_ERR_COMMAND_BAD_SIGNATURE,
         TETHER_COMMAND_REASON_BAD_SIGNATURE},
        {"command_wrong_device", S_COMMAND_WRONG_DEVICE, 5, TETHER_ERR_COMMAND_WRONG_DEVICE,
         TETHER_COMMAND_REASON_WRONG_DEVICE},
        {"command_not_yet_valid", S_COMMAND_NOT_YET_VALID, 5, TETHER_ERR_COMMAND_NOT_YET_VALID,
         TETHER_COMMAND_REASON_NOT_YET_VALID},
        {"command_expired", S_COMMAND_EXPIRED, 5, TETHER_ERR_COMMAND_EXPIRED,
         TETHER_COMMAND_REASON_EXPIRED},
        {"command_operation_not_allowed", S_COMMAND_OPERATION_NOT_ALLOWED, 5,
         TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED, TETHER_COMMAND_REASON_OPERATION_NOT_ALLOWED},
        {"command_parameter_out_of_range", S_COMMAND_PARAMETER_OUT_OF_RANGE, 5,
         TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE, TETHER_COMMAND_REASON_PARAMETER_OUT_OF_RANGE},
        {"command_parameter_not_granted", S_COMMAND_PARAMETER_NOT_GRANTED, 5,
         TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE, TETHER_COMMAND_REASON_PARAMETER_OUT_OF_RANGE},
        {"command_parameter_missing", S_COMMAND_PARAMETER_MISSING, 5,
         TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE, TETHER_COMMAND_REASON_PARAMETER_OUT_OF_RANGE},
        {"command_malformed_payload", S_COMMAND_MALFORMED_PAYLOAD, 5, TETHER_ERR_COMMAND_MALFORMED,
         TETHER_COMMAND_REASON_MALFORMED},
        {"command_empty_validity_window", S_COMMAND_EMPTY_VALIDITY_WINDOW, 5,
         TETHER_ERR_COMMAND_NOT_YET_VALID, TETHER_COMMAND_REASON_NOT_YET_VALID},
        {"command_tampered_payload", S_COMMAND_TAMPERED_PAYLOAD, 5,
         TETHER_ERR_COMMAND_BAD_SIGNATURE, TETHER_COMMAND_REASON_BAD_SIGNATURE},
        {"command_other_algorithm", S_COMMAND_OTHER_ALGORITHM, 5, TETHER_ERR_MESSAGE,
         TETHER_COMMAND_REASON_MALFORMED},
    };
    uint8_t msg[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        current_test = cases[i].name;
        tether_command cmd;
        memset(&cmd, 0xAA, sizeof cmd);
        uint32_t reason = 0;
        uint64_t last = cases[i].last;
        size_t n = unhex(cases[i].hex, msg, sizeof msg);
        CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd, &reason),
                 cases[i].status);
        CHECK(reason == cases[i].reason);
        CHECK((int)cases[i].status == 100 + (int)reason || cases[i].status == TETHER_ERR_MESSAGE);
        CHECK(last == cases[i].last);
        CHECK(all_bytes(&cmd, sizeof cmd, 0xAA));
    }
    current_test = "command_rejections";
    /* No authority at all: deny by default. */
    tether_command_policy empty = command_policy;
    empty.authorities = NULL;
    empty.n_authorities = 0;
    tether_command cmd;
    uint32_t reason = 0;
    uint64_t last = 5;
    size_t n = unhex(S_COMMAND_BASAL_RATE, msg, sizeof msg);
    CHECK_ST(tether_command_verify(&empty, &last, msg, n, NOW, &cmd, &reason),
             TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY);
    /* Not a command: a vitals message is malformed as a command. */
    n = unhex(V_VITALS_SPO2_AND_TEMPERATURE, msg, sizeof msg);
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd, &reason),
             TETHER_ERR_MESSAGE);
    CHECK(reason == TETHER_COMMAND_REASON_MALFORMED && last == 5);
}

static void test_command_misuse(void) {
    command_policy_init();
    uint8_t msg[512];
    tether_command cmd;
    uint32_t reason = 42;
    uint64_t last = 5;
    size_t n = unhex(S_COMMAND_BASAL_RATE, msg, sizeof msg);
    CHECK_ST(tether_command_verify(NULL, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_NULL);
    CHECK_ST(tether_command_verify(&command_policy, NULL, msg, n, NOW, &cmd, &reason),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_verify(&command_policy, &last, NULL, n, NOW, &cmd, &reason),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW, NULL, &reason),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd, NULL),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, (size_t)PTRDIFF_MAX + 1u, NOW,
                                   &cmd, &reason),
             TETHER_ERR_BAD_LENGTH);
    /* Outputs overlapping the message or each other. */
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW,
                                   (tether_command *)(void *)(msg + 8), &reason),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_command_verify(&command_policy, &last, msg, n, NOW, &cmd,
                                   (uint32_t *)(void *)&last),
             TETHER_ERR_OVERLAP);
    CHECK(last == 5 && reason == 42);
    /* Bad policies, whatever the command. */
    tether_command_policy p = command_policy;
    p.device_id_len = 0;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_BAD_CONFIG);
    p.device_id_len = 33;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_BAD_CONFIG);
    p = command_policy;
    p.authorities = NULL;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_NULL);
    tether_command_authority bad = clinic;
    bad.kid_len = 17;
    p = command_policy;
    p.authorities = &bad;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_BAD_CONFIG);
    bad = clinic;
    memset(bad.public_key, 0, 32);
    bad.public_key[0] = 2; /* not a point on the curve */
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_BAD_KEY);
    bad = clinic;
    bad.grants = NULL;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_NULL);
    tether_command_grant many = {1, BASAL_RULES, TETHER_COMMAND_MAX_RULES + 1};
    bad = clinic;
    bad.grants = &many;
    bad.n_grants = 1;
    CHECK_ST(tether_command_verify(&p, &last, msg, n, NOW, &cmd, &reason), TETHER_ERR_BAD_CONFIG);
    CHECK(last == 5 && reason == 42);
}

static void test_command_acks(void) {
    uint8_t want[64], out[64], msg[512];
    size_t written = 0;
    /* "ack_accepted", "ack_executed", "ack_rejected_expired", "ack_failed" */
    size_t n = unhex(S_ACK_ACCEPTED, want, sizeof want);
    CHECK_OK(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 0, UINT64_C(1790000000020), out,
                                       sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);
    n = unhex(S_ACK_EXECUTED, want, sizeof want);
    CHECK_OK(tether_command_ack_encode(7, TETHER_ACK_EXECUTED, 0, UINT64_C(1790000001500), out,
                                       sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);
    n = unhex(S_ACK_REJECTED_EXPIRED, want, sizeof want);
    CHECK_OK(tether_command_ack_encode(7, TETHER_ACK_REJECTED, TETHER_COMMAND_REASON_EXPIRED,
                                       UINT64_C(1790000000020), out, sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);
    n = unhex(S_ACK_FAILED, want, sizeof want);
    CHECK_OK(tether_command_ack_encode(8, TETHER_ACK_FAILED, 258, UINT64_C(1790000002000), out,
                                       sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);

    /* The rejection ack straight from the refused command: its id is read from it. */
    size_t m = unhex(S_COMMAND_EXPIRED, msg, sizeof msg);
    n = unhex(S_ACK_REJECTED_EXPIRED, want, sizeof want);
    CHECK_OK(tether_command_ack_rejected(msg, m, TETHER_COMMAND_REASON_EXPIRED,
                                         UINT64_C(1790000000020), out, sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);
    /* "ack_rejected_unreadable": a command that does not parse gets id 0. */
    const uint8_t garbage[] = {0x82, 0x10, 0x00};
    n = unhex(S_ACK_REJECTED_UNREADABLE, want, sizeof want);
    CHECK_OK(tether_command_ack_rejected(garbage, sizeof garbage, TETHER_COMMAND_REASON_MALFORMED,
                                         UINT64_C(1790000000020), out, sizeof out, &written));
    CHECK(written == n && memcmp(out, want, n) == 0);

    /* Bad values, too small, misuse. */
    CHECK_ST(tether_command_ack_encode(7, 5, 0, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 1, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_REJECTED, 10, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_command_ack_encode(0, TETHER_ACK_EXECUTED, 0, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    CHECK_ST(tether_command_ack_rejected(msg, m, 0, 1, out, sizeof out, &written),
             TETHER_ERR_BAD_CONFIG);
    uint8_t small[8];
    memset(small, 0xAA, sizeof small);
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 0, UINT64_C(1790000000020), small,
                                       sizeof small, &written),
             TETHER_ERR_BUFFER_TOO_SMALL);
    CHECK(written == 17 && all_bytes(small, sizeof small, 0xAA));
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 0, 1, out, sizeof out, NULL),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 0, 1, NULL, 4, &written),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_ack_rejected(NULL, 3, 9, 1, out, sizeof out, &written),
             TETHER_ERR_NULL);
    CHECK_ST(tether_command_ack_rejected(msg, m, 9, 1, msg + 4, 64, &written), TETHER_ERR_OVERLAP);
    CHECK_ST(tether_command_ack_encode(7, TETHER_ACK_ACCEPTED, 0, 1, out, sizeof out,
                                       (size_t *)(void *)out),
             TETHER_ERR_OVERLAP);
}

/* ------------------------------------------------------------------------------------------ */
/* Updates (messages_signed.json "update_policy")                                             */

static tether_update_authority vendor;
static tether_update_policy update_policy;

static void update_policy_init(void) {
    vendor.kid = (const uint8_t *)"fw-1";
    vendor.kid_len = 4;
    unhex(VENDOR_PUBLIC, vendor.public_key, 32);
    memcpy(update_policy.vendor_id, "tether-vendor-01", 16);
    memcpy(update_policy.class_id, "insulin-pump-p2a", 16);
    update_policy.installed_sequence = 41;
    update_policy.max_image_size = 4096;
    update_policy.authorities = &vendor;
    update_policy.n_authorities = 1;
}

/* The device's stored image, read back through the callback. */
typedef struct {
    uint8_t bytes[64];
    size_t len;
    int calls;
} stored_image;

static int32_t read_image(void *user, uint32_t offset, uint8_t *buf, size_t len) {
    stored_image *img = user;
    img->calls++;
    if ((size_t)offset > img->len || len > img->len - offset) {
        return -1;
    }
    memcpy(buf, img->bytes + offset, len);
    return 0;
}

static void test_manifest_chunks_and_image(void) {
    update_policy_init();
    uint8_t msg[512];
    tether_manifest m;
    /* "firmware_manifest": accepted. */
    size_t n = unhex(S_FIRMWARE_MANIFEST, msg, sizeof msg);
    CHECK_OK(tether_manifest_verify(&update_policy, msg, n, &m));
    CHECK(m.sequence == 42 && m.image_size == 48);
    CHECK(memcmp(m.vendor_id, "tether-vendor-01", 16) == 0);
    CHECK(memcmp(m.class_id, "insulin-pump-p2a", 16) == 0);
    CHECK(strcmp(m.version, "2.5.0") == 0);
    uint8_t digest[32];
    unhex("31cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f339636144", digest, 32);
    CHECK(memcmp(m.digest, digest, 32) == 0);

    /* "image_chunk_0" and "image_chunk_1" carry the image; store them where they say. */
    stored_image img;
    memset(&img, 0, sizeof img);
    const char *chunks[2] = {S_IMAGE_CHUNK_0, S_IMAGE_CHUNK_1};
    for (int i = 0; i < 2; i++) {
        uint8_t chunk[128];
        size_t cn = unhex(chunks[i], chunk, sizeof chunk);
        uint64_t seq = 0;
        uint32_t off = 99;
        const uint8_t *data = NULL;
        size_t dlen = 0;
        CHECK_OK(tether_image_chunk_decode(chunk, cn, &seq, &off, &data, &dlen));
        CHECK(seq == m.sequence && off == (i == 0 ? 0u : 32u) && dlen == (i == 0 ? 32u : 16u));
        CHECK(data >= chunk && data + dlen == chunk + cn);
        memcpy(img.bytes + off, data, dlen);
        img.len = off + dlen;
    }
    uint8_t image[48];
    unhex(IMAGE, image, sizeof image);
    CHECK(img.len == 48 && memcmp(img.bytes, image, 48) == 0);
    CHECK_OK(tether_image_check(&m, read_image, &img));
    CHECK(img.calls == 1); /* 48 bytes: one block of TETHER_IMAGE_READ_BLOCK */

    /* One flipped bit in flash: digest mismatch. A failing read: TETHER_ERR_IO. */
    img.bytes[20] ^= 0x01;
    CHECK_ST(tether_image_check(&m, read_image, &img), TETHER_ERR_UPDATE_DIGEST_MISMATCH);
    img.bytes[20] ^= 0x01;
    img.len = 40;
    CHECK_ST(tether_image_check(&m, read_image, &img), TETHER_ERR_IO);
    img.len = 48;
    CHECK_OK(tether_image_check(&m, read_image, &img));
    CHECK_ST(tether_image_check(&m, NULL, &img), TETHER_ERR_NULL);
    CHECK_ST(tether_image_check(NULL, read_image, &img), TETHER_ERR_NULL);
    tether_manifest zero = m;
    zero.sequence = 0;
    CHECK_ST(tether_image_check(&zero, read_image, &img), TETHER_ERR_BAD_CONFIG);

    /* Chunk decode refusals and misuse. */
    uint8_t chunk[128];
    size_t cn = unhex(S_IMAGE_CHUNK_0, chunk, sizeof chunk);
    uint64_t seq = 0;
    uint32_t off = 0;
    const uint8_t *data = NULL;
    size_t dlen = 0;
    CHECK_ST(tether_image_chunk_decode(chunk, cn - 1, &seq, &off, &data, &dlen),
             TETHER_ERR_MESSAGE);
    CHECK_ST(tether_image_chunk_decode(msg, n, &seq, &off, &data, &dlen), TETHER_ERR_MESSAGE);
    CHECK(data == NULL && dlen == 0);
    /* "image_chunk_other_transfer" and "image_chunk_beyond_image" decode; the transfer (the
     * caller, for a device that stores chunks itself) refuses them by sequence and offset. */
    cn = unhex(S_IMAGE_CHUNK_OTHER_TRANSFER, chunk, sizeof chunk);
    CHECK_OK(tether_image_chunk_decode(chunk, cn, &seq, &off, &data, &dlen));
    CHECK(seq == 41 && seq != m.sequence);
    cn = unhex(S_IMAGE_CHUNK_BEYOND_IMAGE, chunk, sizeof chunk);
    CHECK_OK(tether_image_chunk_decode(chunk, cn, &seq, &off, &data, &dlen));
    CHECK(seq == 42 && off == 32 && dlen == 17 && off + dlen > m.image_size);
    cn = unhex(S_IMAGE_CHUNK_0, chunk, sizeof chunk);
    CHECK_ST(tether_image_chunk_decode(chunk, cn, NULL, &off, &data, &dlen), TETHER_ERR_NULL);
    CHECK_ST(tether_image_chunk_decode(chunk, cn, &seq, &off, &data, (size_t *)(void *)chunk),
             TETHER_ERR_OVERLAP);
    CHECK_ST(tether_image_chunk_decode(chunk, (size_t)PTRDIFF_MAX + 1u, &seq, &off, &data, &dlen),
             TETHER_ERR_BAD_LENGTH);
}

static void test_manifest_rejections(void) {
    update_policy_init();
    static const struct {
        const char *name, *hex;
        tether_status status;
    } cases[] = {
        {"manifest_unknown_authority", S_MANIFEST_UNKNOWN_AUTHORITY,
         TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY},
        {"manifest_bad_signature", S_MANIFEST_BAD_SIGNATURE, TETHER_ERR_UPDATE_BAD_SIGNATURE},
        {"manifest_wrong_class", S_MANIFEST_WRONG_CLASS, TETHER_ERR_UPDATE_WRONG_CLASS},
        {"manifest_rollback", S_MANIFEST_ROLLBACK, TETHER_ERR_UPDATE_ROLLBACK},
        {"manifest_too_large", S_MANIFEST_TOO_LARGE, TETHER_ERR_UPDATE_TOO_LARGE},
        {"manifest_malformed_payload", S_MANIFEST_MALFORMED_PAYLOAD, TETHER_ERR_UPDATE_MALFORMED},
        {"image_chunk_0 (not a manifest)", S_IMAGE_CHUNK_0, TETHER_ERR_MESSAGE},
    };
    uint8_t msg[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        current_test = cases[i].name;
        tether_manifest m;
        memset(&m, 0xAA, sizeof m);
        size_t n = unhex(cases[i].hex, msg, sizeof msg);
        CHECK_ST(tether_manifest_verify(&update_policy, msg, n, &m), cases[i].status);
        CHECK(all_bytes(&m, sizeof m, 0xAA));
    }
    current_test = "manifest_rejections";
    /* The installed firmware is the manifest's: a rollback. */
    tether_manifest m;
    size_t n = unhex(S_FIRMWARE_MANIFEST, msg, sizeof msg);
    tether_update_policy p = update_policy;
    p.installed_sequence = 42;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_UPDATE_ROLLBACK);
    p = update_policy;
    p.max_image_size = 47;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_UPDATE_TOO_LARGE);
    p = update_policy;
    p.n_authorities = 0;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY);
    /* Misuse. */
    CHECK_ST(tether_manifest_verify(NULL, msg, n, &m), TETHER_ERR_NULL);
    CHECK_ST(tether_manifest_verify(&update_policy, NULL, n, &m), TETHER_ERR_NULL);
    CHECK_ST(tether_manifest_verify(&update_policy, msg, n, NULL), TETHER_ERR_NULL);
    CHECK_ST(tether_manifest_verify(&update_policy, msg, (size_t)PTRDIFF_MAX + 1u, &m),
             TETHER_ERR_BAD_LENGTH);
    CHECK_ST(tether_manifest_verify(&update_policy, msg, n, (tether_manifest *)(void *)(msg + 16)),
             TETHER_ERR_OVERLAP);
    p = update_policy;
    p.authorities = NULL;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_NULL);
    tether_update_authority bad = vendor;
    bad.kid_len = 0;
    p.authorities = &bad;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_BAD_CONFIG);
    bad = vendor;
    memset(bad.public_key, 0, 32);
    bad.public_key[0] = 2;
    CHECK_ST(tether_manifest_verify(&p, msg, n, &m), TETHER_ERR_BAD_KEY);
}

/* ------------------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    void (*run)(void);
} TESTS[] = {
    {"message_kind", test_message_kind},
    {"vitals_decode_vectors", test_vitals_decode_vectors},
    {"vitals_encode_matches_vectors", test_vitals_encode_matches_vectors},
    {"vitals_decode_refusals", test_vitals_decode_refusals},
    {"values_from_11073", test_values_from_11073},
    {"command_accepted", test_command_accepted},
    {"command_rejections", test_command_rejections},
    {"command_misuse", test_command_misuse},
    {"command_acks", test_command_acks},
    {"manifest_chunks_and_image", test_manifest_chunks_and_image},
    {"manifest_rejections", test_manifest_rejections},
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
