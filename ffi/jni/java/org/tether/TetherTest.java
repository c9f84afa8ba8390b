package org.tether;

import static org.tether.Checks.*;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Java binding driven the way an Android app would drive it: as the demo device
 * (examples/records.rs: the record layer alone) talking to its Rust server over loopback TCP.
 *
 * <pre>
 * java -Djava.library.path=DIR -cp CLASSES org.tether.TetherTest HOST:PORT
 *      [--header=ffi/include/tether.h] [--cloud-key=HEX]
 * </pre>
 *
 * {@code --header} also checks every status, action and event number and the version macros
 * against tether.h; {@code --cloud-key} checks {@link Tether#publicKey} against the key the
 * server printed. The last line is {@code N passed, M failed}; the exit status is non-zero on
 * any failure.
 */
public final class TetherTest {
    /** The TCP connection to the cloud: writes bytes, reads whole units through a decoder. */
    private static final class Link implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;
        private final Tether.StreamDecoder decoder;
        private final ArrayDeque<byte[]> units = new ArrayDeque<>();
        // Small reads, so that units arrive split across feeds and reassembly is exercised.
        private final byte[] chunk = new byte[13];

        Link(String address) throws IOException {
            int colon = address.lastIndexOf(':');
            socket = new Socket();
            socket.connect(new InetSocketAddress(address.substring(0, colon),
                    Integer.parseInt(address.substring(colon + 1))), 10_000);
            socket.setSoTimeout(30_000);
            socket.setTcpNoDelay(true);
            in = socket.getInputStream();
            out = socket.getOutputStream();
            decoder = new Tether.StreamDecoder();
        }

        void send(byte[] bytes) throws IOException {
            out.write(bytes);
            out.flush();
        }

        byte[] receive() throws IOException {
            while (units.isEmpty()) {
                int n = in.read(chunk);
                if (n < 0) {
                    throw new EOFException("the cloud hung up");
                }
                units.addAll(Arrays.asList(decoder.feed(chunk, 0, n)));
            }
            return units.poll();
        }

        /** Whether the peer has closed the connection (and sent nothing more). */
        boolean atEof() throws IOException {
            return units.isEmpty() && in.read(chunk) < 0;
        }

        @Override
        public void close() throws IOException {
            decoder.close();
            socket.close();
        }
    }

    // ---- Checks that need no network.

    private static void libraryChecks(String headerPath, String cloudKeyHex) throws Exception {
        int v = Tether.version();
        checkEquals("version() is the version the shim was compiled against",
                Tether.headerVersion(), v);
        checkEquals("version() is 0.1.0", 0x000100, v);
        checkEquals("strerror(OK)", "success", Tether.strerror(Tether.OK));
        checkEquals("strerror(ERR_AUTHENTICATION)", "authentication failed",
                Tether.strerror(Tether.ERR_AUTHENTICATION));
        checkEquals("strerror of a number that is no status", "unknown status",
                Tether.strerror(12345));
        checkEquals("strerror of a negative number", "unknown status", Tether.strerror(-1));
        checkEquals("TetherException carries code and text", "authentication failed",
                new TetherException(40).description());

        if (headerPath != null) {
            headerChecks(new String(Files.readAllBytes(Paths.get(headerPath)),
                    StandardCharsets.UTF_8), v);
        } else {
            System.out.println("note: no --header given, tether.h not compared");
        }

        byte[] cloudPublic = Tether.publicKey(filled(0xC1));
        checkEquals("publicKey is 32 bytes", 32, cloudPublic.length);
        check("publicKey is deterministic",
                Arrays.equals(cloudPublic, Tether.publicKey(filled(0xC1))));
        check("publicKey differs per secret",
                !Arrays.equals(cloudPublic, Tether.publicKey(filled(0xD1))));
        if (cloudKeyHex != null) {
            checkEquals("publicKey(0xC1 x 32) is the key the Rust server printed", cloudKeyHex,
                    hex(cloudPublic));
        }
        expectThrows("publicKey(null)", NullPointerException.class,
                () -> Tether.publicKey(null));
        expectThrows("publicKey of 31 bytes", IllegalArgumentException.class,
                () -> Tether.publicKey(new byte[31]));

        // Handshake configuration errors come back from the library; nothing is allocated.
        byte[] secret = filled(0xD1);
        byte[] id = utf8("SN-DEMO-0001");
        expectStatus("model longer than 32 bytes", Tether.ERR_BAD_CONFIG,
                () -> Tether.Handshake.initiatorProvisioned(secret, id,
                        "a model name far longer than 32 bytes", "2.4.1", cloudPublic,
                        Tether.FRAMING_STREAM).close());
        expectStatus("empty device id", Tether.ERR_BAD_CONFIG,
                () -> Tether.Handshake.initiatorProvisioned(secret, new byte[0], "m", "1",
                        cloudPublic, Tether.FRAMING_STREAM).close());
        expectStatus("framing 7", Tether.ERR_BAD_CONFIG,
                () -> Tether.Handshake.initiatorProvisioned(secret, id, "m", "1", cloudPublic, 7)
                        .close());
        expectStatus("suite 9", Tether.ERR_BAD_CONFIG,
                () -> Tether.Handshake.initiator(9, Tether.PATTERN_PROVISIONED,
                        Tether.CHANNEL_DEVICE_CLOUD, Tether.FRAMING_STREAM, secret, id, "m", "1",
                        new byte[0], cloudPublic).close());
        expectThrows("framing 300 (not a byte)", IllegalArgumentException.class,
                () -> Tether.Handshake.initiatorProvisioned(secret, id, "m", "1", cloudPublic,
                        300).close());
        expectThrows("cloud key of 31 bytes", IllegalArgumentException.class,
                () -> Tether.Handshake.initiatorProvisioned(secret, id, "m", "1", new byte[31],
                        Tether.FRAMING_STREAM).close());
        expectThrows("null model", NullPointerException.class,
                () -> Tether.Handshake.initiatorProvisioned(secret, id, null, "1", cloudPublic,
                        Tether.FRAMING_STREAM).close());

        // The decoder alone.
        Tether.StreamDecoder dec = new Tether.StreamDecoder();
        try {
            checkEquals("decoder: a partial prefix yields nothing", 0,
                    dec.feed(new byte[] {0}).length);
            expectStatus("decoder: length prefix above the maximum", Tether.ERR_OVERSIZED, () -> {
                try (Tether.StreamDecoder other = new Tether.StreamDecoder()) {
                    other.feed(new byte[] {(byte) 0xff, (byte) 0xff});
                }
            });
            expectThrows("decoder: offset out of range", IndexOutOfBoundsException.class,
                    () -> dec.feed(new byte[4], 3, 2));
        } finally {
            dec.close();
        }
        dec.close(); // idempotent
        expectThrows("decoder: feed after close", IllegalStateException.class,
                () -> dec.feed(new byte[1]));
        expectStatus("decoder: maximum plaintext 0", Tether.ERR_BAD_CONFIG,
                () -> new Tether.StreamDecoder(0).close());
    }

    // ---- Application messages: what a phone does with what the device measured.

    /** spec/vectors/messages_telemetry.json, vector "vitals/spo2-and-temperature". */
    static final String VITALS_SPO2_AND_TEMPERATURE = "8201a4001b0000019bc0c69b40011903e8"
            + "0282820100820720038f0000186101011901740000f97e000101c48221190e8800001860";
    /** spec/vectors/messages_telemetry.json, vector "vitals/other-channel-and-specials". */
    private static final String VITALS_OTHER_CHANNEL_AND_SPECIALS = "8201a4001b0000019bc0c69b40"
            + "01010282831a00024a011a00040f2000820800038c18fa00187618fa00f97c000001f7190dac01f9"
            + "fc00";
    /** spec/vectors/messages_signed.json, vector "command_basal_rate" (envelope kind 16). */
    private static final String COMMAND_BASAL_RATE = "8210d28443a10127a10446636c696e696358"
            + "28a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a101190"
            + "4e25840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5664fa8068cdaba"
            + "8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
    /** 2026-01-15T08:30:00Z, the base time of the vectors. */
    static final long BASE = 1768465800000L;

    /** Checks every field of one decoded reading. */
    static void checkReading(String what, Tether.Reading r, long timeMs, int channel,
            int tableCode, long mdcCode, long unitCode, long mantissa, int exponent, int special,
            String text) {
        String got = r.timeMs + " ch" + r.channel + " table " + r.tableCode + " mdc " + r.mdcCode
                + " unit " + r.unitCode + " value {" + r.mantissa + ", " + r.exponent + ", "
                + r.special + "} \"" + r.text() + "\"";
        String want = timeMs + " ch" + channel + " table " + tableCode + " mdc " + mdcCode
                + " unit " + unitCode + " value {" + mantissa + ", " + exponent + ", " + special
                + "} \"" + text + "\"";
        checkEquals(what, want, got);
    }

    /** A vitals message of {@code n} readings of 5 % SpO2 at the base time, built by hand. */
    static byte[] vitalsOf(int n) {
        byte[] head = unhex("8201a4001b0000019bc0c69b40010102818201000399"
                + String.format("%04x", 3 * n));
        byte[] all = Arrays.copyOf(head, head.length + 3 * n);
        for (int i = 0; i < n; i++) {
            all[head.length + 3 * i + 2] = 5; // dt 0, ch 0, value 5
        }
        return all;
    }

    private static void messageChecks() throws Exception {
        byte[] spo2 = unhex(VITALS_SPO2_AND_TEMPERATURE);
        checkEquals("messageKind(vitals/spo2-and-temperature) is KIND_VITALS",
                Tether.KIND_VITALS, Tether.messageKind(spo2));
        checkEquals("messageKind(command_basal_rate) is 16 (KIND_COMMAND)", 16,
                Tether.messageKind(unhex(COMMAND_BASAL_RATE)));
        checkEquals("KIND_COMMAND is 16", 16, Tether.KIND_COMMAND);

        Tether.VitalsBatch b = Tether.decodeVitals(spo2);
        checkEquals("vitals/spo2-and-temperature: base", BASE, b.base);
        checkEquals("vitals/spo2-and-temperature: tick", 1000, b.tickMs);
        checkEquals("vitals/spo2-and-temperature: 5 readings", 5, b.size());
        if (b.size() == 5) {
            Tether.Reading[] r = b.readings();
            checkReading("spo2-and-temperature reading 0: 97 % SpO2", r[0], BASE, 0, 1, 150456,
                    262688, 97, 0, Tether.VALUE_NUMBER, "97");
            checkReading("spo2-and-temperature reading 1: 37.2 C", r[1], BASE + 1000, 1, 7,
                    150364, 268192, 372, -1, Tether.VALUE_NUMBER, "37.2");
            checkReading("spo2-and-temperature reading 2: SpO2 NaN", r[2], BASE + 1000, 0, 1,
                    150456, 262688, 0, 0, Tether.VALUE_NAN, "NaN");
            checkReading("spo2-and-temperature reading 3: 37.20 C (precision kept)", r[3],
                    BASE + 2000, 1, 7, 150364, 268192, 3720, -2, Tether.VALUE_NUMBER, "37.20");
            checkReading("spo2-and-temperature reading 4: 96 % SpO2", r[4], BASE + 2000, 0, 1,
                    150456, 262688, 96, 0, Tether.VALUE_NUMBER, "96");
            check("readings() is a copy: the batch cannot be changed through it", b.readings()
                    != b.readings() && b.reading(0) == b.readings()[0]);
            check("NaN is not a number; 37.20 and 37.2 differ",
                    !r[2].value().isNumber() && !r[1].value().equals(r[3].value())
                    && r[3].value().toBigDecimal().toString().equals("37.20"));
        }

        Tether.VitalsBatch o = Tether.decodeVitals(unhex(VITALS_OTHER_CHANNEL_AND_SPECIALS));
        checkEquals("vitals/other-channel-and-specials: base", BASE, o.base);
        checkEquals("vitals/other-channel-and-specials: tick", 1, o.tickMs);
        checkEquals("vitals/other-channel-and-specials: 4 readings", 4, o.size());
        if (o.size() == 4) {
            Tether.Reading[] r = o.readings();
            checkReading("other-channel-and-specials reading 0: invasive systolic 118 mmHg",
                    r[0], BASE + 250, 0, 0, 150017, 266016, 118, 0, Tether.VALUE_NUMBER, "118");
            checkReading("other-channel-and-specials reading 1: +inf", r[1], BASE + 500, 0, 0,
                    150017, 266016, 0, 0, Tether.VALUE_POS_INF, "+inf");
            checkReading("other-channel-and-specials reading 2: respiration NRes", r[2],
                    BASE + 500, 1, 8, 151562, 264928, 0, 0, Tether.VALUE_NRES, "NRes");
            checkReading("other-channel-and-specials reading 3: respiration -inf", r[3],
                    BASE + 4000, 1, 8, 151562, 264928, 0, 0, Tether.VALUE_NEG_INF, "-inf");
        }

        // Damaged messages: each a clear ERR_MESSAGE (28), never a wrong batch.
        checkEquals("TETHER_ERR_MESSAGE is 28", 28, Tether.ERR_MESSAGE);
        byte[] count = spo2.clone();
        int at = VITALS_SPO2_AND_TEMPERATURE.indexOf("038f") / 2 + 1;
        count[at] ^= 0x01; // readings: 15 items -> 14, not a multiple of 3
        expectStatus("spo2-and-temperature with the readings count byte flipped", 28,
                () -> Tether.decodeVitals(count));
        byte[] entries = spo2.clone();
        entries[2] ^= 0x01; // map of 4 entries -> 5: truncated
        expectStatus("spo2-and-temperature with the map head flipped", Tether.ERR_MESSAGE,
                () -> Tether.decodeVitals(entries));
        byte[] kind = spo2.clone();
        kind[1] ^= 0x03; // kind 1 -> 2
        checkEquals("kind byte flipped: the envelope now says usage", Tether.KIND_USAGE,
                Tether.messageKind(kind));
        expectStatus("kind byte flipped: not a vitals message", Tether.ERR_MESSAGE,
                () -> Tether.decodeVitals(kind));
        expectStatus("spo2-and-temperature without its last byte", Tether.ERR_MESSAGE,
                () -> Tether.decodeVitals(Arrays.copyOf(spo2, spo2.length - 1)));
        expectStatus("a command is not a vitals message", Tether.ERR_MESSAGE,
                () -> Tether.decodeVitals(unhex(COMMAND_BASAL_RATE)));
        expectStatus("messageKind of an empty message", Tether.ERR_MESSAGE,
                () -> Tether.messageKind(new byte[0]));
        expectStatus("messageKind of kind 5 (unknown)", Tether.ERR_MESSAGE,
                () -> Tether.messageKind(unhex("8205a0")));
        expectThrows("messageKind(null)", NullPointerException.class,
                () -> Tether.messageKind(null));
        expectThrows("decodeVitals(null)", NullPointerException.class,
                () -> Tether.decodeVitals(null));

        // The largest batch fills the shim's arrays exactly; one more reading is refused.
        Tether.VitalsBatch max = Tether.decodeVitals(vitalsOf(Tether.VITALS_MAX_READINGS));
        boolean all = max.size() == 512;
        for (Tether.Reading r : max.readings()) {
            all &= r.timeMs == BASE && r.mdcCode == 150456 && r.text().equals("5");
        }
        check("a batch of 512 readings decodes whole", all);
        expectStatus("a batch of 513 readings", Tether.ERR_MESSAGE,
                () -> Tether.decodeVitals(vitalsOf(Tether.VITALS_MAX_READINGS + 1)));

        // 11073 SFLOAT from a sensor: exact, specials mapped, the reserved pattern refused.
        checkEquals("SFLOAT 0xF174 is 37.2", "37.2 {372, -1}", sfloat(0xF174));
        checkEquals("SFLOAT 0x0061 is 97", "97 {97, 0}", sfloat(0x0061));
        checkEquals("SFLOAT 0x0FFF is -1", "-1 {-1, 0}", sfloat(0x0FFF));
        checkEquals("SFLOAT 0xE7D0 is 20.00 (2000 x 10^-2)", "20.00 {2000, -2}", sfloat(0xE7D0));
        checkEquals("SFLOAT 0x07FF is NaN", Tether.VALUE_NAN,
                Tether.valueFromSfloat(0x07FF).special);
        checkEquals("SFLOAT 0x0800 is NRes", Tether.VALUE_NRES,
                Tether.valueFromSfloat(0x0800).special);
        checkEquals("SFLOAT 0x07FE is +inf", "+inf", Tether.valueFromSfloat(0x07FE).text());
        checkEquals("SFLOAT 0x0802 is -inf", "-inf", Tether.valueFromSfloat(0x0802).text());
        expectStatus("SFLOAT 0x0801 (reserved)", Tether.ERR_MESSAGE,
                () -> Tether.valueFromSfloat(0x0801));
        expectThrows("SFLOAT 0x10000 (17 bits)", IllegalArgumentException.class,
                () -> Tether.valueFromSfloat(0x10000));
        expectThrows("shim: SFLOAT -1", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nValueFromSfloat", -1)));
        expectThrows("shim: decode null", NullPointerException.class,
                () -> rethrow(() -> callNative("nVitalsDecode", (Object) null)));
    }

    private static String sfloat(int raw) throws TetherException {
        Tether.Value v = Tether.valueFromSfloat(raw);
        return v.text() + " {" + v.mantissa + ", " + v.exponent + "}"
                + (v.special == Tether.VALUE_NUMBER ? "" : " special " + v.special);
    }

    /** The shim's own argument checks, below the Java wrappers: it throws, never crashes. */
    private static void shimChecks() throws Exception {
        byte[] key = filled(0xD1);
        expectThrows("shim: session handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nSessionSeal", 0L, new byte[1], null)));
        expectThrows("shim: handshake handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nHandshakeNext", 0L)));
        expectThrows("shim: decoder handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nDecoderFeed", 0L, new byte[1], 0, 1)));
        expectThrows("shim: null secret", NullPointerException.class,
                () -> rethrow(() -> callNative("nPublicKey", (Object) null)));
        expectThrows("shim: secret of 33 bytes", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nPublicKey", (Object) new byte[33])));
        expectThrows("shim: suite -1", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nHandshakeNew", true, -1, 1, 1, 1, key,
                        new byte[1], new byte[0], new byte[0], new byte[0], key, 0, 1024)));
        expectThrows("shim: null device id", NullPointerException.class,
                () -> rethrow(() -> callNative("nHandshakeNew", false, 1, 1, 1, 1, key, null,
                        new byte[0], new byte[0], new byte[0], key, 0, 1024)));
        expectThrows("shim: maximum plaintext -1", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nHandshakeNew", false, 1, 1, 1, 1, key,
                        new byte[1], new byte[0], new byte[0], new byte[0], key, 0, -1)));
        expectThrows("shim: peer key of 31 bytes", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nHandshakeNew", false, 1, 1, 1, 1, key,
                        new byte[1], new byte[0], new byte[0], new byte[0], new byte[31], 0,
                        1024)));
        Tether.StreamDecoder dec = new Tether.StreamDecoder();
        try {
            long h = handleOf(dec);
            expectThrows("shim: feed with a negative length", IndexOutOfBoundsException.class,
                    () -> rethrow(() -> callNative("nDecoderFeed", h, new byte[4], 0, -1)));
            expectThrows("shim: feed past the end", IndexOutOfBoundsException.class,
                    () -> rethrow(() -> callNative("nDecoderFeed", h, new byte[4], 2, 3)));
            expectThrows("shim: feed(null)", NullPointerException.class,
                    () -> rethrow(() -> callNative("nDecoderFeed", h, null, 0, 0)));
        } finally {
            dec.close();
        }
    }

    /** Java constants, version() and strerror() against the numbers in tether.h. */
    private static void headerChecks(String header, int version) throws Exception {
        Map<String, Integer> macros = new HashMap<>();
        Matcher m = Pattern.compile("(?m)^#define TETHER_VERSION_(MAJOR|MINOR|PATCH) (\\d+)$")
                .matcher(header);
        while (m.find()) {
            macros.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        checkEquals("tether.h defines three version macros", 3, macros.size());
        checkEquals("version() matches TETHER_VERSION_* in tether.h",
                (macros.get("MAJOR") << 16) | (macros.get("MINOR") << 8) | macros.get("PATCH"),
                version);

        Map<String, Integer> javaConstants = new HashMap<>();
        for (Field f : Tether.class.getFields()) {
            String n = f.getName();
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class
                    && (n.equals("OK") || n.startsWith("ERR_") || n.startsWith("ACTION_")
                    || n.startsWith("EVENT_"))) {
                javaConstants.put(n, f.getInt(null));
            }
        }
        Matcher e = Pattern.compile("(?m)^\\s*TETHER_((?:OK|ERR_|ACTION_|EVENT_)\\w*) = (\\d+),")
                .matcher(header);
        int statuses = 0;
        int mismatches = 0;
        int found = 0;
        int badText = 0;
        while (e.find()) {
            found++;
            String name = e.group(1);
            int value = Integer.parseInt(e.group(2));
            Integer mine = javaConstants.remove(name);
            if (mine == null || mine != value) {
                mismatches++;
                System.out.println("     Tether." + name + " = " + mine + ", tether.h: " + value);
            }
            if (name.equals("OK") || name.startsWith("ERR_")) {
                statuses++;
                String t = Tether.strerror(value);
                if (t.isEmpty() || t.equals("unknown status")) {
                    badText++;
                    System.out.println("     strerror(" + value + ") = \"" + t + "\"");
                }
            }
        }
        check("tether.h lists statuses, actions and events (" + found + " found)", found > 40);
        checkEquals("every number in tether.h has the same Tether constant", 0, mismatches);
        checkEquals("no Tether constant missing from tether.h", "{}",
                javaConstants.toString());
        checkEquals("strerror describes every one of the " + statuses + " statuses in tether.h", 0,
                badText);
    }

    // ---- The device, over the network.

    private static void device(String address) throws Exception {
        byte[] cloudPublic = Tether.publicKey(filled(0xC1));
        Tether.Session session;
        Link link = new Link(address);
        try {
            Tether.Handshake hs = Tether.Handshake.initiatorProvisioned(filled(0xD1),
                    utf8("SN-DEMO-0001"), "PulseOximeter P3", "2.4.1", cloudPublic,
                    Tether.FRAMING_STREAM);
            try {
                checkEquals("handshake: first action is WRITE", Tether.ACTION_WRITE, hs.next());
                expectStatus("handshake: read before write", Tether.ERR_BAD_STATE,
                        () -> hs.read(new byte[10]));
                expectStatus("handshake: finish before the end", Tether.ERR_BAD_STATE,
                        hs::finish);
                checkEquals("handshake: still WRITE after refused calls", Tether.ACTION_WRITE,
                        hs.next());
                byte[] m1 = hs.write();
                check("handshake: message 1 (" + m1.length + " bytes)", m1.length > 2);
                link.send(m1);
                checkEquals("handshake: then READ", Tether.ACTION_READ, hs.next());
                expectStatus("handshake: write out of turn", Tether.ERR_BAD_STATE, hs::write);

                byte[] m2 = link.receive();
                byte[] tampered = m2.clone();
                tampered[tampered.length - 1] ^= 1;
                expectStatus("handshake: tampered message 2", Tether.ERR_AUTHENTICATION,
                        () -> hs.read(tampered));
                checkEquals("handshake: still READ after the tampered message",
                        Tether.ACTION_READ, hs.next());
                hs.read(m2);
                check("handshake: message 2 (" + m2.length + " bytes) read, finished",
                        hs.isFinished());
                session = hs.finish();
                expectStatus("handshake: wiped by finish", Tether.ERR_BAD_STATE, hs::next);
            } finally {
                hs.close();
            }
            hs.close(); // idempotent
            expectThrows("handshake: write after close", IllegalStateException.class, hs::write);

            try {
                session(link, session, cloudPublic);
            } finally {
                session.close();
            }
            session.close();
            expectThrows("session: seal after close", IllegalStateException.class,
                    () -> session.seal(new byte[1]));
            expectThrows("session: open after close", IllegalStateException.class,
                    () -> session.open(new byte[21]));
        } finally {
            link.close();
        }
    }

    private static void session(Link link, Tether.Session session, byte[] cloudPublic)
            throws Exception {
        Tether.Peer peer = session.peer();
        checkEquals("peer id", "cloud.demo", text(peer.id()));
        checkEquals("peer model", "tether-demo-gateway", peer.model());
        checkEquals("peer version", "0.1.0", peer.version());
        checkEquals("peer key id", "k1", text(peer.keyId()));
        check("peer static key is the pinned cloud key",
                Arrays.equals(cloudPublic, peer.staticKey()));
        check("peer presented no credential", !peer.hasCredential());
        check("handshake hash is 32 non-zero bytes", session.handshakeHash().length == 32
                && !Arrays.equals(new byte[32], session.handshakeHash()));
        System.out.println("     session up with " + peer + ", handshake hash "
                + hex(session.handshakeHash()).substring(0, 16) + "...");

        String[] readings = {"SpO2 97 %", "pulse 72 /min", "SpO2 96 %", "pulse 75 /min",
            "SpO2 97 %"};

        // Readings 1 and 2; the cloud answers the second with a command.
        for (int i = 0; i < 2; i++) {
            byte[] wire = session.seal(utf8(readings[i]));
            checkEquals("reading " + (i + 1) + " is 21 bytes of overhead",
                    21 + readings[i].length(), wire.length);
            link.send(wire);
        }
        byte[] command = link.receive();
        byte[] tampered = command.clone();
        tampered[tampered.length - 1] ^= 0x40;
        expectStatus("open: tampered command record", Tether.ERR_AUTHENTICATION,
                () -> session.open(tampered));
        byte[] header = command.clone();
        // The flags byte follows the u16 length: 00 (record) | 01 (version 1) | type | epoch, 2
        // bits each (spec 5.1). Data (00) in epoch 0 is 0x10; make it Close (10), 0x18. Flags are
        // associated data, so this must fail authentication rather than pass as a close.
        checkEquals("the command is a Data record of epoch 0", 0x10, header[2] & 0xff);
        header[2] = (byte) ((header[2] & 0xf3) | 0x08);
        expectStatus("open: record with its type changed to Close", Tether.ERR_AUTHENTICATION,
                () -> session.open(header));
        Tether.Opened opened = session.open(command);
        check("open: the genuine record still opens after the refused ones", opened.isData());
        checkEquals("open: the command", "command: set-interval 60s", text(opened.data));
        expectStatus("open: the same record again", Tether.ERR_OUT_OF_ORDER,
                () -> session.open(command));
        expectThrows("open(null)", NullPointerException.class, () -> session.open(null));

        // Reading 3, a key update, reading 4: checked through a local decoder, then sent.
        byte[] r3 = session.seal(utf8(readings[2]));
        byte[] update = session.updateKey();
        checkEquals("key update record is 21 bytes", 21, update.length);
        byte[] r4 = session.seal(utf8(readings[3]));
        byte[] burst = concat(r3, update, r4);
        try (Tether.StreamDecoder dec = new Tether.StreamDecoder()) {
            byte[][] units = dec.feed(burst);
            check("decoder: three records in one chunk give three exact units",
                    units.length == 3 && Arrays.equals(units[0], r3)
                    && Arrays.equals(units[1], update) && Arrays.equals(units[2], r4));
            int got = 0;
            for (int i = 0; i < r3.length; i++) {
                byte[][] u = dec.feed(r3, i, 1);
                got += u.length;
                if (u.length == 1 && (i != r3.length - 1 || !Arrays.equals(u[0], r3))) {
                    got = -100;
                }
            }
            checkEquals("decoder: a record fed byte by byte gives one unit, at its last byte", 1,
                    got);
        }
        link.send(burst);

        // A plaintext over the maximum is refused and changes nothing: reading 5 still goes.
        expectStatus("seal: plaintext over the maximum", Tether.ERR_PLAINTEXT_TOO_LARGE,
                () -> session.seal(new byte[Tether.MAX_PLAINTEXT + 1]));
        expectThrows("seal(null)", NullPointerException.class, () -> session.seal(null));
        link.send(session.seal(utf8(readings[4])));

        // Close: ours, then the cloud's.
        byte[] close = session.closeOutbound();
        checkEquals("close record is 21 bytes", 21, close.length);
        link.send(close);
        expectStatus("seal after our close", Tether.ERR_BAD_STATE,
                () -> session.seal(utf8("late")));
        Tether.Opened last = session.open(link.receive());
        check("the cloud closed too", last.isClose() && last.data.length == 0);
        check("the cloud hung up after its close", link.atEof());
    }

    public static void main(String[] args) {
        String address = null;
        String header = null;
        String cloudKey = null;
        for (String a : args) {
            if (a.startsWith("--header=")) {
                header = a.substring("--header=".length());
            } else if (a.startsWith("--cloud-key=")) {
                cloudKey = a.substring("--cloud-key=".length());
            } else if (address == null && !a.startsWith("--")) {
                address = a;
            } else {
                System.err.println("unexpected argument " + a);
                System.exit(2);
            }
        }
        if (address == null) {
            System.err.println(
                    "usage: TetherTest HOST:PORT [--header=tether.h] [--cloud-key=HEX]");
            System.exit(2);
        }
        final String headerPath = header;
        final String cloudKeyHex = cloudKey;
        final String cloud = address;
        runAll(() -> libraryChecks(headerPath, cloudKeyHex), TetherTest::shimChecks,
            TetherTest::messageChecks, () -> device(cloud));
    }
}
