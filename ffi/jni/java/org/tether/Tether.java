package org.tether;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Java binding of tether's C ABI (ffi/include/tether.h), through the JNI shim
 * ffi/jni/tether_jni.c (library {@code tether_jni}).
 *
 * <p>Roles. A device calls the cloud ({@link Handshake#initiator(HandshakeConfig)} on the
 * device-cloud channel). A phone answers its device over Bluetooth LE: the device initiates and
 * the phone is the {@link Handshake#responder(HandshakeConfig) responder} on the device-phone
 * channel, with datagram framing; every unit (handshake message or record) crosses the BLE link
 * as fragments, cut by a {@link Fragmenter} and put back together by a {@link Reassembler}
 * (spec/LINK.md), and the records carry application messages such as vital signs
 * ({@link #decodeVitals}). The pieces meet only through units, plain {@code byte[]}s: a
 * handshake reads and writes units, a session opens and seals them, the link layer cuts and
 * joins them without knowing what they are.
 *
 * <p>Pairing by a short code (spec/PROTOCOL.md 4.7.2): the device shows six digits
 * ({@link CodePairing#generateCode()}), the user types them into the phone; a
 * {@link CodePairing} on each side exchanges two code messages, then
 * {@link Handshake#codeInitiator} (phone) and {@link Handshake#codeResponder} (device) run the
 * Pairing handshake keyed by that exchange. The device spaces attempts out with an
 * {@link AttemptLimiter}. From then on the pair uses Reconnect with the keys the pairing
 * reported ({@link Peer#staticKey()}).
 *
 * <p>The relay (spec/PROTOCOL.md 3.4): a device's end-to-end session with the cloud crosses the
 * phone, its units wrapped with an index ({@link RelayTable#wrap}); the phone moves them between
 * the device's link and its uplink through a {@link RelayTable}, without a session of its own,
 * and the cloud finds the session and the unit inside with {@link RelayTable#parse}.
 *
 * <p>Objects that own native storage ({@link Handshake}, {@link Session},
 * {@link StreamDecoder}, {@link Fragmenter}, {@link Reassembler}, {@link CodePairing},
 * {@link RelayTable}) are {@link AutoCloseable}: use
 * try-with-resources. {@code close()} zeroizes the keys (tether_*_wipe) and frees the storage; it
 * is idempotent. There is no finalizer or Cleaner: an object that is never closed leaks its
 * storage and leaves its keys in memory until the process ends, so always close. (On Android API 33+ a
 * {@code java.lang.ref.Cleaner} could be added as a safety net.)
 *
 * <p>Threading: every method of one object is {@code synchronized} on it, because a tether handle
 * must never be used from two threads at once and {@code close()} must not free storage that
 * another thread is using. Different objects are independent.
 *
 * <p>Errors: a non-zero tether status becomes a {@link TetherException} carrying the status code
 * and its {@code tether_strerror} text. Java misuse becomes the usual unchecked exception: a
 * {@code null} argument {@link NullPointerException}, a key of the wrong length or an id out of
 * range {@link IllegalArgumentException}, a closed object {@link IllegalStateException}.
 *
 * <p>Strings are converted to and from UTF-8 here in Java, never in the shim (JNI's
 * {@code NewStringUTF}/{@code GetStringUTFChars} use "modified UTF-8", which is not what tether
 * puts on the wire). This file sticks to Java 8 APIs so that it compiles for any Android level.
 */
public final class Tether {
    static {
        System.loadLibrary("tether_jni");
    }

    private Tether() {}

    // ---- Constants from tether.h. The shim checks each one against the header at compile time.

    /** Length of static keys (secret and public) and of the handshake hash. */
    public static final int KEY_LEN = 32;
    /** Largest plaintext per record the library allows (and the default). */
    public static final int MAX_PLAINTEXT = 16384;
    /** Length of a pairing code's text. */
    public static final int PAIRING_CODE_LEN = 60;

    /** Suite ids. */
    public static final int SUITE_25519_CHACHAPOLY_BLAKE2S = 1;
    public static final int SUITE_25519_AESGCM_SHA256 = 2;
    /** Pattern ids. */
    public static final int PATTERN_PROVISIONED = 1; // IK
    public static final int PATTERN_ENROLLMENT = 2; // XX
    public static final int PATTERN_PAIRING = 3; // XXpsk0
    public static final int PATTERN_RECONNECT = 4; // KK
    /** Channel kinds. */
    public static final int CHANNEL_DEVICE_CLOUD = 1;
    public static final int CHANNEL_DEVICE_PHONE = 2;
    public static final int CHANNEL_RELAYED = 3;
    public static final int CHANNEL_PHONE_CLOUD = 4;
    /** Framings. */
    public static final int FRAMING_STREAM = 1;
    public static final int FRAMING_DATAGRAM = 2;

    /** What a handshake wants next ({@link Handshake#next()}). */
    public static final int ACTION_WRITE = 1;
    public static final int ACTION_READ = 2;
    public static final int ACTION_FINISH = 3;
    public static final int ACTION_FAILED = 4;

    /** What an opened record carried ({@link Opened#kind}). */
    public static final int EVENT_DATA = 1;
    public static final int EVENT_KEY_UPDATE = 2;
    public static final int EVENT_CLOSE = 3;

    /** Status codes ({@link TetherException#code()}). */
    public static final int OK = 0;
    public static final int ERR_NULL = 1;
    public static final int ERR_BUFFER_TOO_SMALL = 2;
    public static final int ERR_BAD_STATE = 3;
    public static final int ERR_BAD_CONFIG = 4;
    public static final int ERR_NOT_ALLOWED = 5;
    public static final int ERR_ENTROPY = 6;
    public static final int ERR_LIMIT_REACHED = 7;
    public static final int ERR_PLAINTEXT_TOO_LARGE = 8;
    public static final int ERR_BAD_KEY = 9;
    public static final int ERR_COPIED = 10;
    public static final int ERR_MISALIGNED = 11;
    public static final int ERR_OVERLAP = 12;
    public static final int ERR_BUSY = 13;
    public static final int ERR_BAD_LENGTH = 14;
    public static final int ERR_TRUNCATED = 20;
    public static final int ERR_OVERSIZED = 21;
    public static final int ERR_VERSION = 22;
    public static final int ERR_UNKNOWN_TYPE = 23;
    public static final int ERR_LENGTH = 24;
    public static final int ERR_CBOR = 25;
    public static final int ERR_IO = 16;
    public static final int ERR_PAIRING_CODE = 26;
    public static final int ERR_MESSAGE = 28;
    public static final int ERR_AUTHENTICATION = 40;
    public static final int ERR_REPLAYED = 41;
    public static final int ERR_TOO_OLD = 42;
    public static final int ERR_EPOCH = 43;
    public static final int ERR_OUT_OF_ORDER = 44;
    public static final int ERR_AFTER_CLOSE = 45;
    public static final int ERR_COUNTER_EXHAUSTED = 46;
    public static final int ERR_UNEXPECTED_MESSAGE = 47;
    public static final int ERR_DUPLICATE = 48;
    public static final int ERR_UNKNOWN_PEER = 60;
    public static final int ERR_REVOKED = 61;
    public static final int ERR_KEY_MISMATCH = 62;
    public static final int ERR_MISSING_CREDENTIAL = 63;
    public static final int ERR_BAD_CREDENTIAL = 64;
    public static final int ERR_NOT_YET_VALID = 65;
    public static final int ERR_EXPIRED = 66;
    public static final int ERR_REJECTED = 67;
    public static final int ERR_PANIC = 90;
    public static final int ERR_INTERNAL = 91;
    /** Command refusals: 100 + the reason code the acknowledgement carries. */
    public static final int ERR_COMMAND_BAD_SIGNATURE = 101;
    public static final int ERR_COMMAND_UNKNOWN_AUTHORITY = 102;
    public static final int ERR_COMMAND_WRONG_DEVICE = 103;
    public static final int ERR_COMMAND_EXPIRED = 104;
    public static final int ERR_COMMAND_NOT_YET_VALID = 105;
    public static final int ERR_COMMAND_OPERATION_NOT_ALLOWED = 106;
    public static final int ERR_COMMAND_PARAMETER_OUT_OF_RANGE = 107;
    public static final int ERR_COMMAND_REPLAYED = 108;
    public static final int ERR_COMMAND_MALFORMED = 109;
    /** Update refusals: 120 + the reason code the update status carries. */
    public static final int ERR_UPDATE_BAD_SIGNATURE = 121;
    public static final int ERR_UPDATE_UNKNOWN_AUTHORITY = 122;
    public static final int ERR_UPDATE_WRONG_CLASS = 123;
    public static final int ERR_UPDATE_ROLLBACK = 124;
    public static final int ERR_UPDATE_TOO_LARGE = 125;
    public static final int ERR_UPDATE_DIGEST_MISMATCH = 126;
    public static final int ERR_UPDATE_SIZE_MISMATCH = 127;
    public static final int ERR_UPDATE_BAD_OFFSET = 128;
    public static final int ERR_UPDATE_MALFORMED = 129;
    /** Delivery and the sealed outbox; 142..145 are security events. */
    public static final int ERR_STORAGE_IO = 140;
    public static final int ERR_OUTBOX_FULL = 141;
    public static final int ERR_STORAGE_TAMPERED = 142;
    public static final int ERR_STORAGE_TRUNCATED = 143;
    public static final int ERR_STORAGE_ROLLED_BACK = 144;
    public static final int ERR_STORAGE_REORDERED = 145;
    public static final int ERR_BAD_FRAME = 146;
    public static final int ERR_BAD_RECEIVER_STATE = 147;
    /**
     * A fragment the {@link Reassembler} dropped (spec/LINK.md section 6): it is idle again and
     * the unit in progress, if any, is lost. Not security events: what loss looks like on BLE.
     */
    public static final int ERR_LINK_TOO_LONG = 160;
    public static final int ERR_LINK_TRUNCATED = 161;
    public static final int ERR_LINK_START_INDEX = 162;
    public static final int ERR_LINK_OVERSIZED = 163;
    public static final int ERR_LINK_NOT_STARTED = 164;
    public static final int ERR_LINK_WRONG_UNIT = 165;
    public static final int ERR_LINK_GAP = 166;
    public static final int ERR_LINK_DUPLICATE = 167;
    public static final int ERR_LINK_OVERRUN = 168;
    public static final int ERR_LINK_INCOMPLETE = 169;
    /**
     * A device refused a pairing attempt: too many failed in a row. Nothing changed;
     * {@link TetherException#retryInMs()} says when the next is allowed.
     */
    public static final int ERR_RATE_LIMITED = 17;
    /** A {@link RelayTable} has no free uplink index for a new route; nothing changed. */
    public static final int ERR_RELAY_FULL = 18;

    /** Application message kinds ({@link #messageKind}), spec/MESSAGES.md. */
    public static final int KIND_VITALS = 1;
    public static final int KIND_USAGE = 2;
    public static final int KIND_DIAGNOSTICS = 3;
    public static final int KIND_SECURITY_EVENTS = 4;
    public static final int KIND_COMMAND = 16;
    public static final int KIND_COMMAND_ACK = 17;
    public static final int KIND_FIRMWARE_MANIFEST = 32;
    public static final int KIND_IMAGE_CHUNK = 33;
    public static final int KIND_UPDATE_STATUS = 34;
    public static final int KIND_APP_UPDATE_NOTICE = 35;

    /** What a {@link Value} is ({@link Value#special}): a number, or an 11073 special value. */
    public static final int VALUE_NUMBER = 0;
    public static final int VALUE_NAN = 1;
    public static final int VALUE_NRES = 2;
    public static final int VALUE_POS_INF = 3;
    public static final int VALUE_NEG_INF = 4;

    /** Most channels and readings one vitals batch holds. */
    public static final int VITALS_MAX_CHANNELS = 16;
    public static final int VITALS_MAX_READINGS = 512;
    /** Channel codes from this one on are 11073 (MDC) codes; below it, tether table codes. */
    public static final int VITALS_MDC_MIN = 65536;

    /** The largest BLE fragment at any ATT_MTU: {@code min(ATT_MTU - 3, 512)} at a known one. */
    public static final int LINK_MAX_FRAGMENT = 512;
    /** The smallest ATT_MTU, and every connection's until the ATT MTU exchange. */
    public static final int LINK_MIN_ATT_MTU = 23;
    /** A reassembler's default largest unit: a datagram record of the largest delivery frame. */
    public static final int LINK_DEFAULT_MAX_UNIT = 1063;
    /** The largest unit the link layer carries, and the largest {@code maxUnit}. */
    public static final int LINK_MAX_UNIT = 65535;
    /**
     * The largest delivery frame: as a session's largest plaintext over BLE, it makes records
     * that a reassembler of {@link #LINK_DEFAULT_MAX_UNIT} always takes.
     */
    public static final int DELIVERY_MAX_FRAME = 1038;

    /** Digits in a short code. */
    public static final int SHORT_CODE_LEN = 6;
    /** The largest code message (35 bytes on a stream, 33 as a datagram). */
    public static final int CODE_MESSAGE_MAX = 35;
    /** Bytes the relay envelope adds to a unit. */
    public static final int RELAY_HEADER_LEN = 2;
    /** Sessions one hop can address (indexes 0 to 4095), and the largest {@link RelayTable}. */
    public static final int RELAY_INDEXES = 4096;

    // ---- Library-wide functions.

    /** The loaded library's version, {@code (major << 16) | (minor << 8) | patch}. */
    public static int version() {
        return nVersion();
    }

    /**
     * The version of tether.h the shim was compiled against, in the same form as
     * {@link #version()}. An app should refuse to run if the two differ in major version.
     */
    public static int headerVersion() {
        return nHeaderVersion();
    }

    /** tether_strerror: an English description of a status ("unknown status" if not one). */
    public static String strerror(int status) {
        return new String(nStrerror(status), StandardCharsets.UTF_8);
    }

    /** The X25519 public key of a 32-byte static secret. */
    public static byte[] publicKey(byte[] secret) throws TetherException {
        checkKey(secret, "secret");
        return nPublicKey(secret);
    }

    // ---- Application messages (spec/MESSAGES.md): what a phone does with what it received.

    /**
     * What kind of application message {@code message} is (one of the {@code KIND_*}
     * constants), from its envelope alone, so that it can be routed to the right decoder. A
     * message that is not an envelope, or of an unknown kind, throws {@link #ERR_MESSAGE}.
     */
    public static int messageKind(byte[] message) throws TetherException {
        if (message == null) {
            throw new NullPointerException("message");
        }
        return nMessageKind(message);
    }

    /**
     * Decodes a vitals message (kind {@link #KIND_VITALS}) strictly, for display: every reading
     * with its absolute time, its channel's codes and its exact value. A malformed message, or
     * one of another kind, throws {@link #ERR_MESSAGE}.
     */
    public static VitalsBatch decodeVitals(byte[] message) throws TetherException {
        if (message == null) {
            throw new NullPointerException("message");
        }
        return nVitalsDecode(message);
    }

    /**
     * Converts an ISO/IEEE 11073-20601 SFLOAT (the 16-bit value most personal-health sensors
     * report, e.g. over Bluetooth LE) exactly: precision kept, special patterns mapped. The
     * reserved pattern 0x0801 throws {@link #ERR_MESSAGE}.
     *
     * @param raw the 16 bits, 0 to 0xFFFF
     */
    public static Value valueFromSfloat(int raw) throws TetherException {
        if (raw < 0 || raw > 0xFFFF) {
            throw new IllegalArgumentException("an SFLOAT is 16 bits, not " + raw);
        }
        return nValueFromSfloat(raw);
    }

    /**
     * A measured value exactly as the device measured it: {@code mantissa × 10^exponent},
     * never normalised (37.20 is {3720, -2}, not {372, -1}: the digits are the precision), or
     * an 11073 special value.
     */
    public static final class Value {
        /** The digits with their sign (0 for a special value). */
        public final long mantissa;
        /** The power of ten, -128 to 127 (0 for a special value). */
        public final int exponent;
        /** {@link #VALUE_NUMBER}, or which special value ({@link #VALUE_NAN}, ...). */
        public final int special;

        Value(long mantissa, int exponent, int special) {
            this.mantissa = mantissa;
            this.exponent = exponent;
            this.special = special;
        }

        /** Whether this is a number (not NaN, NRes or an infinity). */
        public boolean isNumber() {
            return special == VALUE_NUMBER;
        }

        /** The number exactly, with its precision as scale; {@code null} for a special value. */
        public BigDecimal toBigDecimal() {
            return isNumber() ? BigDecimal.valueOf(mantissa, -exponent) : null;
        }

        /**
         * The value as text with exactly the measured digits: "37.20", "97", "-0.5", or "NaN",
         * "NRes", "+inf", "-inf" (the spellings of the spec's vectors).
         */
        public String text() {
            switch (special) {
                case VALUE_NUMBER:
                    return toBigDecimal().toPlainString();
                case VALUE_NAN:
                    return "NaN";
                case VALUE_NRES:
                    return "NRes";
                case VALUE_POS_INF:
                    return "+inf";
                case VALUE_NEG_INF:
                    return "-inf";
                default:
                    return "special " + special;
            }
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Value)) {
                return false;
            }
            Value v = (Value) o;
            return mantissa == v.mantissa && exponent == v.exponent && special == v.special;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(mantissa) * 31 * 31 + exponent * 31 + special;
        }

        @Override
        public String toString() {
            return text();
        }
    }

    /**
     * One observation of a vitals batch: when, what (the channel's codes) and the value. Codes
     * are unsigned 32-bit numbers, hence {@code long}.
     */
    public static final class Reading {
        /** Milliseconds since the Unix epoch (UTC). */
        public final long timeMs;
        /** Index of the reading's channel in the batch. */
        public final int channel;
        /** The channel's tether table code (1..10), or 0 for a channel sent in 11073 form. */
        public final int tableCode;
        /** The IEEE 11073-10101 observation code (for a table channel, its table entry's). */
        public final long mdcCode;
        /** The IEEE 11073-10101 unit code (MDC_DIM_*). */
        public final long unitCode;
        /** The value's digits ({@link Value#mantissa}). */
        public final long mantissa;
        /** The value's power of ten ({@link Value#exponent}). */
        public final int exponent;
        /** {@link #VALUE_NUMBER} or a special ({@link Value#special}). */
        public final int special;

        /**
         * Called by the shim: a table channel's codes come from the library's table
         * (tether_vital_table_codes), so Java holds no copy of it.
         */
        Reading(long timeMs, int channel, int tableCode, long mdcCode, long unitCode,
                long mantissa, int exponent, int special) {
            this.timeMs = timeMs;
            this.channel = channel;
            this.tableCode = tableCode;
            this.mdcCode = mdcCode;
            this.unitCode = unitCode;
            this.mantissa = mantissa;
            this.exponent = exponent;
            this.special = special;
        }

        /** The value. */
        public Value value() {
            return new Value(mantissa, exponent, special);
        }

        /** The value as text with its measured digits: "37.20", "NaN" ({@link Value#text}). */
        public String text() {
            return value().text();
        }

        @Override
        public String toString() {
            return timeMs + " ms: " + text() + " (MDC " + mdcCode + ", unit " + unitCode + ")";
        }
    }

    /** A decoded vitals batch ({@link #decodeVitals}): immutable. */
    public static final class VitalsBatch {
        /** The batch's base time, ms since the Unix epoch (UTC). */
        public final long base;
        /** Milliseconds per time step of the batch (1 to 3600000). */
        public final int tickMs;
        private final Reading[] readings;

        /** Called by the shim. */
        VitalsBatch(long base, int tickMs, Reading[] readings) {
            this.base = base;
            this.tickMs = tickMs;
            this.readings = readings;
        }

        /** The readings in time order (a copy of the array; the readings are immutable). */
        public Reading[] readings() {
            return readings.clone();
        }

        /** How many readings (1 to {@link #VITALS_MAX_READINGS}). */
        public int size() {
            return readings.length;
        }

        /** Reading {@code i}. */
        public Reading reading(int i) {
            return readings[i];
        }
    }

    // ---- Objects.

    /** An authenticated peer, as copied out of a finished handshake. */
    public static final class Peer {
        private final byte[] id;
        private final String model;
        private final String version;
        private final byte[] keyId;
        private final byte[] staticKey;
        private final boolean hasCredential;

        Peer(byte[] id, byte[] model, byte[] version, byte[] keyId, byte[] staticKey,
                boolean hasCredential) {
            this.id = id;
            this.model = new String(model, StandardCharsets.UTF_8);
            this.version = new String(version, StandardCharsets.UTF_8);
            this.keyId = keyId;
            this.staticKey = staticKey;
            this.hasCredential = hasCredential;
        }

        /** Entity id (device serial number, service name), 1 to 32 bytes. */
        public byte[] id() {
            return id.clone();
        }

        /** Model name. */
        public String model() {
            return model;
        }

        /** Firmware or software version. */
        public String version() {
            return version;
        }

        /** Key id (may be empty). */
        public byte[] keyId() {
            return keyId.clone();
        }

        /** The peer's static X25519 public key, authenticated by the handshake. */
        public byte[] staticKey() {
            return staticKey.clone();
        }

        /** Whether the peer presented a manufacturer credential. */
        public boolean hasCredential() {
            return hasCredential;
        }

        @Override
        public String toString() {
            return new String(id, StandardCharsets.UTF_8) + " (" + model + " " + version + ")";
        }
    }

    /** What {@link Session#open} found in a unit. */
    public static final class Opened {
        /** {@link #EVENT_DATA}, {@link #EVENT_KEY_UPDATE} or {@link #EVENT_CLOSE}. */
        public final int kind;
        /** The plaintext for {@link #EVENT_DATA}; empty otherwise. */
        public final byte[] data;

        Opened(int kind, byte[] data) {
            this.kind = kind;
            this.data = data;
        }

        public boolean isData() {
            return kind == EVENT_DATA;
        }

        public boolean isKeyUpdate() {
            return kind == EVENT_KEY_UPDATE;
        }

        public boolean isClose() {
            return kind == EVENT_CLOSE;
        }
    }

    /**
     * What a handshake needs (tether_config): the suite, pattern, channel and framing, this
     * side's key and identity, and the peer it accepts. Set what applies (each setter returns
     * this config), then pass it to {@link Handshake#initiator(HandshakeConfig)} or
     * {@link Handshake#responder(HandshakeConfig)}; one config may make several handshakes.
     *
     * <p>Defaults: ChaChaPoly/BLAKE2s, Provisioned, device-cloud, stream, the largest plaintext,
     * an empty model, version and key id; a responder answers only {@link #pattern(int)}. There
     * is no trust callback: a peer is accepted only if its static key is
     * {@link #peerStaticKey(byte[])} (with none set, no peer is).
     *
     * <p>The arrays are kept by reference and read when a handshake is made: the library keeps
     * its own copy of the secret, so overwrite yours ({@code Arrays.fill}) once the handshakes
     * are made. Settings that later roles need (a pairing code or the key a short-code exchange
     * derives, a context, a credential) are further setters; none of these changes.
     */
    public static final class HandshakeConfig {
        private int suite = SUITE_25519_CHACHAPOLY_BLAKE2S;
        private int pattern = PATTERN_PROVISIONED;
        private int channel = CHANNEL_DEVICE_CLOUD;
        private int framing = FRAMING_STREAM;
        private byte[] staticSecret;
        private byte[] id;
        private String model = "";
        private String version = "";
        private byte[] keyId = new byte[0];
        private byte[] peerStaticKey;
        private int allowedPatterns;
        private int maxPlaintext = MAX_PLAINTEXT;

        /** The initiator's suite ({@code SUITE_*}); a responder accepts every suite built in. */
        public HandshakeConfig suite(int suite) {
            this.suite = suite;
            return this;
        }

        /** The initiator's pattern ({@code PATTERN_*}); the one a responder answers. */
        public HandshakeConfig pattern(int pattern) {
            this.pattern = pattern;
            return this;
        }

        /** The channel ({@code CHANNEL_*}): both sides the same. */
        public HandshakeConfig channel(int channel) {
            this.channel = channel;
            return this;
        }

        /** The framing: {@link #FRAMING_STREAM}, or {@link #FRAMING_DATAGRAM} (BLE). */
        public HandshakeConfig framing(int framing) {
            this.framing = framing;
            return this;
        }

        /** This side's 32-byte X25519 static secret. Required. */
        public HandshakeConfig staticSecret(byte[] secret) {
            checkKey(secret, "staticSecret");
            this.staticSecret = secret;
            return this;
        }

        /**
         * Who this side is: its id (1 to 32 bytes: a serial number, a service or app name), its
         * model (up to 32 bytes of UTF-8) and its software version (up to 16 bytes of UTF-8).
         */
        public HandshakeConfig identity(byte[] id, String model, String version) {
            if (id == null || model == null || version == null) {
                throw new NullPointerException("id, model and version are required");
            }
            this.id = id;
            this.model = model;
            this.version = version;
            return this;
        }

        /** The key id this side presents (up to 16 bytes; empty by default). */
        public HandshakeConfig keyId(byte[] keyId) {
            if (keyId == null) {
                throw new NullPointerException("keyId");
            }
            this.keyId = keyId;
            return this;
        }

        /**
         * The peer's 32-byte static public key, the only one accepted: the responder's for a
         * Provisioned or Reconnect initiator (required there), the initiator's for a responder.
         */
        public HandshakeConfig peerStaticKey(byte[] key) {
            checkKey(key, "peerStaticKey");
            this.peerStaticKey = key;
            return this;
        }

        /**
         * Responder: the patterns it answers ({@code PATTERN_*}); by default only
         * {@link #pattern(int)}.
         */
        public HandshakeConfig allowPatterns(int... patterns) {
            int mask = 0;
            for (int p : patterns) {
                if (p < 0 || p > 31) {
                    throw new IllegalArgumentException("pattern id " + p);
                }
                mask |= 1 << p;
            }
            this.allowedPatterns = mask;
            return this;
        }

        /**
         * The largest plaintext per record, both sides the same (1 to {@link #MAX_PLAINTEXT}).
         * Over BLE, at most what the peer's reassembler takes in one record (25 bytes more):
         * {@link #DELIVERY_MAX_FRAME} for a reassembler of {@link #LINK_DEFAULT_MAX_UNIT}.
         */
        public HandshakeConfig maxPlaintext(int maxPlaintext) {
            if (maxPlaintext < 0) {
                throw new IllegalArgumentException("maxPlaintext " + maxPlaintext);
            }
            this.maxPlaintext = maxPlaintext;
            return this;
        }
    }

    /**
     * A handshake in progress. Drive it with {@link #next()}: {@link #ACTION_WRITE} means call
     * {@link #write()} and send the bytes, {@link #ACTION_READ} means pass the peer's next unit to
     * {@link #read}, {@link #ACTION_FINISH} means call {@link #finish()}, {@link #ACTION_FAILED}
     * means give up (close it). An initiator starts with WRITE, a responder with READ.
     */
    public static final class Handshake implements AutoCloseable {
        private long handle; // tether_handshake storage owned by the shim; 0 once closed
        private final int framing;

        private Handshake(long handle, int framing) {
            this.handle = handle;
            this.framing = framing;
        }

        /** The initiator of {@code config}'s pattern: it writes the first message. */
        public static Handshake initiator(HandshakeConfig config) throws TetherException {
            return make(true, config);
        }

        /**
         * A responder waiting for an initiator's first message: the phone's side when its
         * device connects. It stays available: a first message that is refused (a stranger, a
         * peer key other than the configured one) throws and leaves it waiting for the next
         * one, and a copy of the first message it accepted (a retransmission) throws
         * {@link #ERR_DUPLICATE} and changes nothing (send the reply again). Only
         * {@link #finish()} ends it.
         */
        public static Handshake responder(HandshakeConfig config) throws TetherException {
            return make(false, config);
        }

        /**
         * The phone's Pairing handshake after a short-code exchange: the initiator keyed by the
         * key {@code pairing} holds (a phone's {@link CodePairing} after
         * {@link CodePairing#finish}), which it takes: the pairing is spent (a second use throws
         * {@link #ERR_BAD_STATE}); close it. The config's channel (device-phone), framing, key
         * and identity apply; its pattern and peer key do not: the code authenticates the
         * device, whose key {@link Session#peer()} then reports (keep it for Reconnect). The
         * phone counts the device as paired once a record of it opens.
         */
        public static Handshake codeInitiator(HandshakeConfig config, CodePairing pairing)
                throws TetherException {
            return makeCode(true, config, pairing);
        }

        /**
         * The device's Pairing handshake after a short-code exchange: a responder that accepts
         * only the Pairing handshake keyed by the key {@code pairing} holds (a device's
         * {@link CodePairing} after {@link CodePairing#respond}), which it takes. A message 0
         * keyed otherwise (a wrong code) throws {@link #ERR_AUTHENTICATION} and leaves it
         * waiting. Once it finishes, call {@link AttemptLimiter#succeeded()}.
         */
        public static Handshake codeResponder(HandshakeConfig config, CodePairing pairing)
                throws TetherException {
            return makeCode(false, config, pairing);
        }

        private static Handshake makeCode(boolean initiator, HandshakeConfig c,
                CodePairing pairing) throws TetherException {
            if (c == null || pairing == null) {
                throw new NullPointerException("config and pairing are required");
            }
            if (c.staticSecret == null || c.id == null) {
                throw new NullPointerException("config: staticSecret and identity are required");
            }
            synchronized (pairing) {
                long h = nHandshakeNewCode(initiator, pairing.live(), c.suite, c.channel,
                        c.framing, c.staticSecret, c.id, c.model.getBytes(StandardCharsets.UTF_8),
                        c.version.getBytes(StandardCharsets.UTF_8), c.keyId, null,
                        c.maxPlaintext);
                return new Handshake(h, c.framing);
            }
        }

        private static Handshake make(boolean initiator, HandshakeConfig c)
                throws TetherException {
            if (c == null) {
                throw new NullPointerException("config");
            }
            if (c.staticSecret == null || c.id == null) {
                throw new NullPointerException("config: staticSecret and identity are required");
            }
            long h = nHandshakeNew(initiator, c.suite, c.pattern, c.channel, c.framing,
                    c.staticSecret, c.id, c.model.getBytes(StandardCharsets.UTF_8),
                    c.version.getBytes(StandardCharsets.UTF_8), c.keyId, c.peerStaticKey,
                    c.allowedPatterns, c.maxPlaintext);
            return new Handshake(h, c.framing);
        }

        /**
         * A device calling the cloud service whose static public key it was provisioned with
         * (Noise IK, suite ChaChaPoly/BLAKE2s, channel device-cloud). Only that key is accepted
         * for the cloud: it is pinned, no trust callback is installed.
         *
         * @param staticSecret this device's 32-byte X25519 secret
         * @param deviceId serial number, 1 to 32 bytes
         * @param model model name, up to 32 bytes of UTF-8
         * @param version firmware or app version, up to 16 bytes of UTF-8
         * @param cloudPublicKey the cloud's 32-byte static public key
         * @param framing {@link #FRAMING_STREAM} or {@link #FRAMING_DATAGRAM}
         */
        public static Handshake initiatorProvisioned(byte[] staticSecret, byte[] deviceId,
                String model, String version, byte[] cloudPublicKey, int framing)
                throws TetherException {
            return initiator(SUITE_25519_CHACHAPOLY_BLAKE2S, PATTERN_PROVISIONED,
                    CHANNEL_DEVICE_CLOUD, framing, staticSecret, deviceId, model, version,
                    new byte[0], cloudPublicKey);
        }

        /**
         * The general initiator with every setting as an argument: the same as
         * {@link #initiator(HandshakeConfig)}. {@code peerStaticKey} is pinned: required for
         * Provisioned and Reconnect; for Enrollment pass the expected key, since without a
         * trust callback no other key is accepted.
         */
        public static Handshake initiator(int suite, int pattern, int channel, int framing,
                byte[] staticSecret, byte[] id, String model, String version, byte[] keyId,
                byte[] peerStaticKey) throws TetherException {
            checkKey(staticSecret, "staticSecret");
            checkKey(peerStaticKey, "peerStaticKey");
            if (id == null || model == null || version == null || keyId == null) {
                throw new NullPointerException("id, model, version and keyId are required");
            }
            return initiator(new HandshakeConfig().suite(suite).pattern(pattern)
                    .channel(channel).framing(framing).staticSecret(staticSecret)
                    .identity(id, model, version).keyId(keyId).peerStaticKey(peerStaticKey));
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("Handshake is closed");
            }
            return handle;
        }

        /** What to do next: one of the {@code ACTION_*} constants. */
        public synchronized int next() throws TetherException {
            return nHandshakeNext(live());
        }

        /** Whether {@link #finish()} is due. */
        public synchronized boolean isFinished() throws TetherException {
            return nHandshakeNext(live()) == ACTION_FINISH;
        }

        /** The next handshake message, framed for the channel: send all of it. */
        public synchronized byte[] write() throws TetherException {
            return nHandshakeWrite(live());
        }

        /**
         * The peer's next unit (a datagram, a unit from a {@link Reassembler}, or one unit from
         * a {@link StreamDecoder}). A unit that does not parse or authenticate throws and
         * changes nothing; a peer refused by the trust policy throws and fails an initiator's
         * handshake (a responder goes back to waiting for a first message).
         */
        public synchronized void read(byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            nHandshakeRead(live(), unit);
        }

        /**
         * The established session. This handshake is wiped by it (further calls throw
         * {@link #ERR_BAD_STATE}); still close it.
         */
        public synchronized Session finish() throws TetherException {
            long h = live();
            byte[] hash = new byte[KEY_LEN];
            byte[][] peer = new byte[5][];
            boolean[] credential = new boolean[1];
            long s = nHandshakeFinish(h, hash, peer, credential);
            return new Session(s, framing,
                    new Peer(peer[0], peer[1], peer[2], peer[3], peer[4], credential[0]), hash);
        }

        /** Zeroizes and frees the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nHandshakeFree(h);
            }
        }
    }

    /** An established session: seal and open records. */
    public static final class Session implements AutoCloseable {
        private long handle; // tether_session storage owned by the shim; 0 once closed
        private final int framing;
        private final Peer peer;
        private final byte[] handshakeHash;

        private Session(long handle, int framing, Peer peer, byte[] handshakeHash) {
            this.handle = handle;
            this.framing = framing;
            this.peer = peer;
            this.handshakeHash = handshakeHash;
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("Session is closed");
            }
            return handle;
        }

        /** The authenticated peer. */
        public Peer peer() {
            return peer;
        }

        /** The 32-byte handshake hash (the same on both sides: usable for channel binding). */
        public byte[] handshakeHash() {
            return handshakeHash.clone();
        }

        /** {@link #FRAMING_STREAM} or {@link #FRAMING_DATAGRAM}. */
        public int framing() {
            return framing;
        }

        /**
         * Seals one record. Returns every byte to send; on a stream write them all. If a key
         * update was due, its record comes first in the same array: on datagrams use
         * {@link #sealDatagrams} instead, which returns the records separately.
         */
        public synchronized byte[] seal(byte[] plaintext) throws TetherException {
            if (plaintext == null) {
                throw new NullPointerException("plaintext");
            }
            return nSessionSeal(live(), plaintext, null);
        }

        /** Seals one record as datagrams to send in order: the data record, after a key-update
         * record if one was due. */
        public synchronized byte[][] sealDatagrams(byte[] plaintext) throws TetherException {
            if (plaintext == null) {
                throw new NullPointerException("plaintext");
            }
            int[] keyUpdateLen = new int[1];
            byte[] all = nSessionSeal(live(), plaintext, keyUpdateLen);
            int k = keyUpdateLen[0];
            if (k == 0) {
                return new byte[][] {all};
            }
            return new byte[][] {Arrays.copyOfRange(all, 0, k),
                Arrays.copyOfRange(all, k, all.length)};
        }

        /**
         * Opens one unit (a datagram, or one unit from a {@link StreamDecoder}). Any error
         * throws and changes nothing: drop the unit (on a stream, close the connection).
         */
        public synchronized Opened open(byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            int[] event = new int[1];
            byte[] data = nSessionOpen(live(), unit, event);
            return new Opened(event[0], data);
        }

        /** Moves to a new sending key now; returns the key-update record to send. */
        public synchronized byte[] updateKey() throws TetherException {
            return nSessionUpdateKey(live());
        }

        /**
         * Returns a close record to send (tether_session_close). Afterwards {@link #seal}
         * throws {@link #ERR_BAD_STATE}; {@link #open} goes on until the peer's close arrives.
         * (Named like {@code SSLEngine.closeOutbound}, since {@link #close()} is taken by
         * {@link AutoCloseable}: that one frees the session.)
         */
        public synchronized byte[] closeOutbound() throws TetherException {
            return nSessionClose(live());
        }

        /** Zeroizes the keys and frees the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nSessionFree(h);
            }
        }
    }

    /** Splits a byte stream (TCP, serial) into the units that handshakes and sessions read. */
    public static final class StreamDecoder implements AutoCloseable {
        private long handle; // tether_decoder storage owned by the shim; 0 once closed

        /** A decoder for sessions with the default (and largest) maximum plaintext. */
        public StreamDecoder() throws TetherException {
            this(MAX_PLAINTEXT);
        }

        /** A decoder for sessions whose maximum plaintext is {@code maxPlaintext}. */
        public StreamDecoder(int maxPlaintext) throws TetherException {
            handle = nDecoderNew(maxPlaintext);
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("StreamDecoder is closed");
            }
            return handle;
        }

        /** Every unit completed by {@code chunk}, in order (often none); partial input is kept. */
        public byte[][] feed(byte[] chunk) throws TetherException {
            if (chunk == null) {
                throw new NullPointerException("chunk");
            }
            return feed(chunk, 0, chunk.length);
        }

        /** As {@link #feed(byte[])} for {@code chunk[offset .. offset + length]}, e.g. after
         * {@code InputStream.read(buffer)}. {@link #ERR_OVERSIZED} means the stream is broken. */
        public synchronized byte[][] feed(byte[] chunk, int offset, int length)
                throws TetherException {
            if (chunk == null) {
                throw new NullPointerException("chunk");
            }
            if (offset < 0 || length < 0 || offset > chunk.length - length) {
                throw new IndexOutOfBoundsException(
                        "offset " + offset + ", length " + length + ", size " + chunk.length);
            }
            return nDecoderFeed(live(), chunk, offset, length);
        }

        /** Frees the reassembly buffer and the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nDecoderFree(h);
            }
        }
    }

    /**
     * The sending side of one BLE link (one direction of one connection; spec/LINK.md): it cuts
     * each unit (a handshake message or a datagram record) into fragments, each the whole value
     * of one ATT write or notification, and numbers the units. Make one per connection (the
     * numbering starts at 0) and send every fragment of a unit, in order, before any of the
     * next unit's.
     */
    public static final class Fragmenter implements AutoCloseable {
        private long handle; // tether_fragmenter storage owned by the shim; 0 once closed

        /**
         * A fragmenter for a connection whose ATT_MTU is {@code attMtu} ({@link
         * #LINK_MIN_ATT_MTU} until the ATT MTU exchange). Below 23 throws
         * {@link #ERR_BAD_CONFIG}.
         */
        public Fragmenter(int attMtu) throws TetherException {
            handle = nFragmenterNew(checkMtu(attMtu));
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("Fragmenter is closed");
            }
            return handle;
        }

        /** The connection's new ATT_MTU (after the exchange), for the units from now on. */
        public synchronized void setMtu(int attMtu) throws TetherException {
            nFragmenterSetMtu(live(), checkMtu(attMtu));
        }

        /**
         * Every fragment of {@code unit}, in the order to send them: each at most
         * {@code min(ATT_MTU - 3, 512)} bytes, all but the last exactly that. An empty unit
         * throws {@link #ERR_BAD_CONFIG}; one of more than 256 fragments (above 4606 bytes at
         * ATT_MTU 23) or 65535 bytes {@link #ERR_PLAINTEXT_TOO_LARGE}; neither takes a number.
         */
        public synchronized byte[][] fragment(byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            return nFragmenterFragment(live(), unit);
        }

        /** Frees the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nFragmenterFree(h);
            }
        }
    }

    /** What one fragment did in a {@link Reassembler}. */
    public static final class Pushed {
        /** The unit this fragment completed (a copy), or {@code null}. */
        public final byte[] unit;
        /**
         * This fragment started a unit while another was in progress, whose end was lost: that
         * unit is abandoned. The fragment itself was taken (it began a unit, or was one).
         */
        public final boolean interrupted;

        Pushed(byte[] unit, boolean interrupted) {
            this.unit = unit;
            this.interrupted = interrupted;
        }

        /** Whether a unit was completed. */
        public boolean hasUnit() {
            return unit != null;
        }
    }

    /**
     * The receiving side of one BLE link (spec/LINK.md): puts units back together from the
     * fragments the connection delivers, one unit at a time, in a buffer allocated once. Give it
     * every attribute value the link delivers, in the order they arrived.
     */
    public static final class Reassembler implements AutoCloseable {
        private long handle; // tether_reassembler storage owned by the shim; 0 once closed

        /**
         * A reassembler for units of up to {@link #LINK_DEFAULT_MAX_UNIT} bytes: every
         * handshake message and every record of a session whose largest plaintext is
         * {@link #DELIVERY_MAX_FRAME}.
         */
        public Reassembler() throws TetherException {
            this(LINK_DEFAULT_MAX_UNIT);
        }

        /**
         * A reassembler for units of 1 to {@code maxUnit} bytes (at most {@link #LINK_MAX_UNIT},
         * else {@link #ERR_BAD_CONFIG}). It takes fragments of any ATT_MTU until
         * {@link #setMtu} names the connection's.
         */
        public Reassembler(int maxUnit) throws TetherException {
            if (maxUnit < 0) {
                throw new IllegalArgumentException("maxUnit " + maxUnit);
            }
            handle = nReassemblerNew(maxUnit);
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("Reassembler is closed");
            }
            return handle;
        }

        /** The connection's ATT_MTU: longer fragments throw {@link #ERR_LINK_TOO_LONG}. */
        public synchronized void setMtu(int attMtu) throws TetherException {
            nReassemblerSetMtu(live(), checkMtu(attMtu));
        }

        /**
         * Takes the next fragment (the whole value of one write or notification). The unit it
         * completes, if any, is in the result, ready for {@link Handshake#read} or
         * {@link Session#open}. An {@code ERR_LINK_*} status means the fragment was dropped and
         * the unit in progress lost (the delivery layer resends what it carried): carry on with
         * the next fragment.
         */
        public synchronized Pushed push(byte[] fragment) throws TetherException {
            if (fragment == null) {
                throw new NullPointerException("fragment");
            }
            boolean[] interrupted = new boolean[1];
            byte[] unit = nReassemblerPush(live(), fragment, interrupted);
            return new Pushed(unit, interrupted[0]);
        }

        /**
         * Abandons the unit in progress (call it when the connection drops); returns whether
         * there was one.
         */
        public synchronized boolean reset() throws TetherException {
            return nReassemblerReset(live());
        }

        /** Frees the buffer and the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nReassemblerFree(h);
            }
        }
    }

    /**
     * The device's pairing attempt limiter (spec/PROTOCOL.md 4.7.2): 3 failed attempts in a row
     * may follow each other at once, then each waits twice as long as the one before, from 30
     * seconds up to an hour. An attempt counts as failed from the moment the device answers it
     * ({@link CodePairing#respond}) until {@link #succeeded()}. Keep {@link #failures()} in
     * persistent storage whenever it changes, and after a restart {@link #restore} it: otherwise
     * restarting the app or the device resets the count. Times are on one monotonic clock (the
     * {@code nowMs} passed to {@code respond}).
     */
    public static final class AttemptLimiter {
        private final long[] state = new long[2]; // failures, next allowed time

        /** No failures yet. */
        public AttemptLimiter() {}

        /**
         * After a restart: {@code failures} as saved, the clock restarted at {@code nowMs}; the
         * next attempt waits the full delay for that count.
         */
        public static AttemptLimiter restore(long failures, long nowMs) throws TetherException {
            if (failures < 0 || failures > 0xFFFFFFFFL || nowMs < 0) {
                throw new IllegalArgumentException("failures " + failures + ", nowMs " + nowMs);
            }
            AttemptLimiter l = new AttemptLimiter();
            long[] restored = nAttemptLimiterRestore(failures, nowMs);
            System.arraycopy(restored, 0, l.state, 0, 2);
            return l;
        }

        /** Consecutive attempts that have not succeeded: the number to keep. */
        public synchronized long failures() {
            return state[0];
        }

        /** When the next attempt is allowed, on the clock of {@code nowMs}. */
        public synchronized long nextAllowedMs() {
            return state[1];
        }

        /** The pairing handshake of the last attempt finished: the count starts again. */
        public synchronized void succeeded() {
            state[0] = 0;
            state[1] = 0;
        }
    }

    /**
     * One side of a short-code exchange (spec/PROTOCOL.md 4.7.2). The phone:
     * {@link #phone(String, int)} with the digits the user typed, {@link #start()} (send the
     * code message it returns), {@link #finish(byte[])} with the device's answer, then
     * {@link Handshake#codeInitiator}. The device: {@link #generateCode()} and show it,
     * {@link #device(String, int)}, {@link #respond} to the phone's code message, then
     * {@link Handshake#codeResponder}. Each pairing is one attempt: the code is spent once the
     * device answers, and the handshake takes the key. Code messages travel like handshake
     * messages (over BLE: as fragments, datagram framing). {@link #close()} zeroizes the code and
     * the key.
     */
    public static final class CodePairing implements AutoCloseable {
        private long handle; // tether_code_pairing storage owned by the shim; 0 once closed

        private CodePairing(long handle) {
            this.handle = handle;
        }

        /** A fresh code for the device to show: six digits, uniformly drawn. One per attempt. */
        public static String generateCode() throws TetherException {
            return new String(nShortCodeGenerate(), StandardCharsets.US_ASCII);
        }

        /**
         * The phone's side, with the code the user typed (exactly six ASCII digits, else
         * {@link #ERR_PAIRING_CODE}), in {@code framing} ({@link #FRAMING_DATAGRAM} over BLE).
         */
        public static CodePairing phone(String code, int framing) throws TetherException {
            return make(true, code, framing);
        }

        /** The device's side, with the code it shows. */
        public static CodePairing device(String code, int framing) throws TetherException {
            return make(false, code, framing);
        }

        private static CodePairing make(boolean phone, String code, int framing)
                throws TetherException {
            if (code == null) {
                throw new NullPointerException("code");
            }
            byte[] digits = code.getBytes(StandardCharsets.UTF_8);
            try {
                return new CodePairing(nCodePairingNew(phone, framing, digits));
            } finally {
                Arrays.fill(digits, (byte) 0);
            }
        }

        long live() {
            if (handle == 0) {
                throw new IllegalStateException("CodePairing is closed");
            }
            return handle;
        }

        /** Phone: code message 0, to send to the device. */
        public synchronized byte[] start() throws TetherException {
            return nCodePairingStart(live());
        }

        /**
         * Phone: the device's code message 1. A unit that is not one throws and changes nothing
         * (keep waiting); one with an invalid point throws {@link #ERR_AUTHENTICATION} and ends
         * the exchange (start again with a fresh code). Whether the codes matched shows only in
         * the handshake that follows.
         */
        public synchronized void finish(byte[] codeMessage1) throws TetherException {
            if (codeMessage1 == null) {
                throw new NullPointerException("codeMessage1");
            }
            nCodePairingFinish(live(), codeMessage1);
        }

        /**
         * Device: answers the phone's code message 0 and returns code message 1 to send. The
         * attempt counts in {@code limiter} from now on (save its {@link
         * AttemptLimiter#failures()}) and the code is spent. A refused message changes nothing:
         * a malformed or forged one throws its status, and too many failures
         * {@link #ERR_RATE_LIMITED} with {@link TetherException#retryInMs()}.
         */
        public synchronized byte[] respond(AttemptLimiter limiter, long nowMs,
                byte[] codeMessage0) throws TetherException {
            if (limiter == null || codeMessage0 == null) {
                throw new NullPointerException("limiter and codeMessage0 are required");
            }
            if (nowMs < 0) {
                throw new IllegalArgumentException("nowMs " + nowMs);
            }
            synchronized (limiter) {
                return nCodePairingRespond(live(), limiter.state, nowMs, codeMessage0);
            }
        }

        /** Zeroizes the code, the exchange and the key, and frees the storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nCodePairingFree(h);
            }
        }
    }

    /** Where a relayed unit goes down: the device's link and the index it uses there. */
    public static final class Route {
        /** The caller's number for the device's link (unsigned 32 bits). */
        public final int link;
        /** The index the unit carries on that link (0 to 4095). */
        public final int deviceIndex;

        Route(int link, int deviceIndex) {
            this.link = link;
            this.deviceIndex = deviceIndex;
        }

        @Override
        public String toString() {
            return "link " + Integer.toUnsignedString(link) + ", index " + deviceIndex;
        }
    }

    /** A relayed unit, parsed: the session's index on this hop and the unit inside (a copy). */
    public static final class Relayed {
        /** The index, 0 to 4095. */
        public final int index;
        private final byte[] unit;

        Relayed(int index, byte[] unit) {
            this.index = index;
            this.unit = unit;
        }

        /** The unit inside (a datagram unit: a handshake message, a code message or a record). */
        public byte[] unit() {
            return unit.clone();
        }
    }

    /**
     * A relay's table (spec/PROTOCOL.md 3.4), the phone's role: each (device link, device index)
     * route gets its own index on the uplink, the lowest free one, kept until
     * {@link #removeLink}. {@link #up} and {@link #down} rewrite a relayed unit's two-byte
     * envelope in place and never look inside it: the phone cannot read what it relays. The
     * capacity is fixed, so a device cannot make it grow.
     */
    public static final class RelayTable implements AutoCloseable {
        private long handle; // tether_relay_table storage owned by the shim; 0 once closed

        /** A table for up to {@code capacity} routes (1 to {@link #RELAY_INDEXES}). */
        public RelayTable(int capacity) throws TetherException {
            if (capacity < 0) {
                throw new IllegalArgumentException("capacity " + capacity);
            }
            handle = nRelayTableNew(capacity);
        }

        /**
         * {@code unit} relayed under {@code index} (0 to 4095): what a device sends for its
         * session with the cloud (index 0), or the cloud for a session on a phone's uplink. Each
         * unit gets its own envelope. An empty unit throws {@link #ERR_TRUNCATED}, an index
         * above 4095 {@link #ERR_BAD_CONFIG}.
         */
        public static byte[] wrap(int index, byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            if (index < 0 || index > 0xFFFF) {
                throw new IllegalArgumentException("index " + index);
            }
            return nRelayWrap(index, unit);
        }

        /**
         * Parses a relayed unit as framed on its hop ({@link #FRAMING_DATAGRAM}: as a BLE link
         * delivers it; {@link #FRAMING_STREAM}: with its length prefix). A unit that is not
         * relayed throws a malformed-input status.
         */
        public static Relayed parse(int framing, byte[] bytes) throws TetherException {
            if (bytes == null) {
                throw new NullPointerException("bytes");
            }
            int[] index = new int[1];
            byte[] inner = nRelayParse(framing, bytes, index);
            return new Relayed(index[0], inner);
        }

        private long live() {
            if (handle == 0) {
                throw new IllegalStateException("RelayTable is closed");
            }
            return handle;
        }

        /**
         * A relayed unit from the device on {@code link} (the app's stable number for it, not a
         * connection handle), going up: its envelope is rewritten in place to the route's
         * uplink index, which is returned. Not a relayed unit: throws, unchanged; a new route
         * with no free index: {@link #ERR_RELAY_FULL}, unchanged.
         */
        public synchronized int up(int link, byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            return nRelayTableUp(live(), link, unit);
        }

        /**
         * A relayed unit from the uplink, going down: its envelope is rewritten in place to the
         * device's index, and the route says which device link to send it on. An index with no
         * route throws {@link #ERR_UNEXPECTED_MESSAGE} (drop the unit), unchanged.
         */
        public synchronized Route down(byte[] unit) throws TetherException {
            if (unit == null) {
                throw new NullPointerException("unit");
            }
            int[] route = new int[2];
            nRelayTableDown(live(), unit, route);
            return new Route(route[0], route[1]);
        }

        /** The route behind uplink index {@code uplinkIndex}, or {@code null}. */
        public synchronized Route route(int uplinkIndex) throws TetherException {
            int[] route = new int[2];
            return nRelayTableRoute(live(), uplinkIndex, route) ? new Route(route[0], route[1])
                    : null;
        }

        /** Forgets every route of {@code link} (the device is unpaired); returns how many. */
        public synchronized int removeLink(int link) throws TetherException {
            return nRelayTableRemoveLink(live(), link);
        }

        /** Frees the routes and the native storage. Idempotent. */
        @Override
        public synchronized void close() {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nRelayTableFree(h);
            }
        }
    }

    private static int checkMtu(int attMtu) {
        if (attMtu < 0 || attMtu > 0xFFFF) {
            throw new IllegalArgumentException("an ATT_MTU is 16 bits, not " + attMtu);
        }
        return attMtu;
    }

    private static void checkKey(byte[] key, String name) {
        if (key == null) {
            throw new NullPointerException(name);
        }
        if (key.length != KEY_LEN) {
            throw new IllegalArgumentException(name + " must be " + KEY_LEN + " bytes, not "
                    + key.length);
        }
    }

    // ---- Native methods (ffi/jni/tether_jni.c). Handles are the addresses of shim-allocated
    // storage; the shim re-checks every argument, so a bad call throws rather than crashes.

    private static native int nVersion();

    private static native int nHeaderVersion();

    private static native byte[] nStrerror(int status);

    private static native byte[] nPublicKey(byte[] secret) throws TetherException;

    private static native long nHandshakeNew(boolean initiator, int suite, int pattern,
            int channel, int framing, byte[] staticSecret, byte[] id, byte[] model,
            byte[] version, byte[] keyId, byte[] peerStaticKey, int allowedPatterns,
            int maxPlaintext) throws TetherException;

    private static native int nHandshakeNext(long hs) throws TetherException;

    private static native byte[] nHandshakeWrite(long hs) throws TetherException;

    private static native void nHandshakeRead(long hs, byte[] unit) throws TetherException;

    private static native long nHandshakeFinish(long hs, byte[] hashOut, byte[][] peerOut,
            boolean[] hasCredentialOut) throws TetherException;

    private static native void nHandshakeFree(long hs);

    private static native byte[] nSessionSeal(long s, byte[] plaintext, int[] keyUpdateLenOut)
            throws TetherException;

    private static native byte[] nSessionOpen(long s, byte[] unit, int[] eventOut)
            throws TetherException;

    private static native byte[] nSessionUpdateKey(long s) throws TetherException;

    private static native byte[] nSessionClose(long s) throws TetherException;

    private static native void nSessionFree(long s);

    private static native long nDecoderNew(int maxPlaintext) throws TetherException;

    private static native byte[][] nDecoderFeed(long dec, byte[] chunk, int offset, int length)
            throws TetherException;

    private static native void nDecoderFree(long dec);

    private static native long nFragmenterNew(int attMtu) throws TetherException;

    private static native void nFragmenterSetMtu(long f, int attMtu) throws TetherException;

    private static native byte[][] nFragmenterFragment(long f, byte[] unit)
            throws TetherException;

    private static native void nFragmenterFree(long f);

    private static native long nReassemblerNew(int maxUnit) throws TetherException;

    private static native void nReassemblerSetMtu(long r, int attMtu) throws TetherException;

    private static native byte[] nReassemblerPush(long r, byte[] fragment,
            boolean[] interruptedOut) throws TetherException;

    private static native boolean nReassemblerReset(long r) throws TetherException;

    private static native void nReassemblerFree(long r);

    private static native long nHandshakeNewCode(boolean initiator, long pairing, int suite,
            int channel, int framing, byte[] staticSecret, byte[] id, byte[] model,
            byte[] version, byte[] keyId, byte[] peerStaticKey, int maxPlaintext)
            throws TetherException;

    private static native byte[] nShortCodeGenerate() throws TetherException;

    private static native long nCodePairingNew(boolean phone, int framing, byte[] code)
            throws TetherException;

    private static native byte[] nCodePairingStart(long cp) throws TetherException;

    private static native void nCodePairingFinish(long cp, byte[] unit) throws TetherException;

    private static native byte[] nCodePairingRespond(long cp, long[] limiter, long nowMs,
            byte[] unit) throws TetherException;

    private static native long[] nAttemptLimiterRestore(long failures, long nowMs)
            throws TetherException;

    private static native void nCodePairingFree(long cp);

    private static native byte[] nRelayWrap(int index, byte[] unit) throws TetherException;

    private static native byte[] nRelayParse(int framing, byte[] bytes, int[] indexOut)
            throws TetherException;

    private static native long nRelayTableNew(int capacity) throws TetherException;

    private static native int nRelayTableUp(long t, int link, byte[] unit) throws TetherException;

    private static native void nRelayTableDown(long t, byte[] unit, int[] routeOut)
            throws TetherException;

    private static native boolean nRelayTableRoute(long t, int uplink, int[] routeOut)
            throws TetherException;

    private static native int nRelayTableRemoveLink(long t, int link) throws TetherException;

    private static native void nRelayTableFree(long t);

    private static native int nMessageKind(byte[] message) throws TetherException;

    private static native VitalsBatch nVitalsDecode(byte[] message) throws TetherException;

    private static native Value nValueFromSfloat(int raw) throws TetherException;
}
