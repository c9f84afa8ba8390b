package org.tether;

import static org.tether.Checks.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The binding driven the way a phone app drives it: Java is the phone, the responder of a
 * Bluetooth LE session its device starts. The device is the same library, driven from Java
 * through the device's side of the binding (the initiator handshake, sealing) in this JVM. The
 * BLE link between them is byte arrays, one per ATT write or notification, at ATT_MTU 23, 185
 * and 517: every handshake message and record crosses it as fragments.
 *
 * <pre>
 * java -Djava.library.path=DIR -cp CLASSES org.tether.PhoneTest
 * </pre>
 *
 * Then the phone pairs with a new device by a six-digit code (the short-code exchange and the
 * Pairing handshake keyed by it, every unit as fragments), reconnects with it (Reconnect, KK,
 * with the keys learnt at pairing), and relays the device's own session with a cloud (also in
 * this JVM): wrapped units through a {@link Tether.RelayTable}, which the phone cannot open.
 *
 * The last line is {@code N passed, M failed}; the exit status is non-zero on any failure.
 */
public final class PhoneTest {
    private PhoneTest() {}

    // ---- spec/vectors/link.json

    /** "a reading: one datagram record (spec/LINK.md section 7)": the record. */
    private static final String READING_RECORD = "10000000000000000052daa54d8d3fb70c3d30e353"
            + "2084ea310474f792d55575b94c86b352c869fb69fb4ae5c248a4000a89470525a6ccb63abda598dd"
            + "63a455ac45dfa526";
    /** Its fragments at ATT_MTU 23, as unit number 46. */
    private static final String[] READING_AT_23 = {"ae00004510000000000000000052daa54d8d3fb7",
        "2e010c3d30e3532084ea310474f792d55575b94c", "2e0286b352c869fb69fb4ae5c248a4000a894705",
        "6e0325a6ccb63abda598dd63a455ac45dfa526"};
    /** The vitals message it carries (one SpO2 and one pulse-rate reading). */
    private static final String READING_MESSAGE = "8201a4001b0000019bc0c69b40011903e80282820100"
            + "82020003860000186100011848";
    /** Sequence "interrupted_keeps_new": A's fragments 0 and 1, then all of B. */
    private static final String[] INTERRUPTED_KEEPS_NEW = {
        "8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209", "010110171e252c333a41484f565d646b72798087",
        "82000028b0b7bec5ccd3dae1e8eff6fd040b1219", "020120272e353c434a51585f666d747b82899097",
        "42029ea5acb3bac1"};
    private static final String INTERRUPTED_KEEPS_NEW_UNIT = "b0b7bec5ccd3dae1e8eff6fd040b1219"
            + "20272e353c434a51585f666d747b828990979ea5acb3bac1";
    /** Sequence "gap": A's fragment 1 lost. */
    private static final String[] GAP = {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209",
        "01028e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe05", "41030c131a21282f363d"};
    /** Sequence "wrong_unit": A's fragment 0, then B's fragment 1. */
    private static final String[] WRONG_UNIT = {"8100003ca0a7aeb5bcc3cad1d8dfe6edf4fb0209",
        "020120272e353c434a51585f666d747b82899097", "010110171e252c333a41484f565d646b72798087"};

    private static final byte[] DEVICE_SECRET = filled(0xD1);
    private static final byte[] PHONE_SECRET = filled(0xA7);
    private static final byte[] STRANGER_SECRET = filled(0x5E);
    private static final byte[] CLOUD_SECRET = filled(0xC1);
    /** The phone's number for its device's link (a bond slot, stable across connections). */
    private static final int DEVICE_LINK = 7;

    private static int maxFragment(int attMtu) {
        return Math.min(attMtu - 3, Tether.LINK_MAX_FRAGMENT);
    }

    /** Pushes fragments given as hex; returns the units they completed. */
    private static List<byte[]> pushAll(Tether.Reassembler rx, String[] fragments)
            throws TetherException {
        List<byte[]> units = new ArrayList<>();
        for (String f : fragments) {
            Tether.Pushed p = rx.push(unhex(f));
            if (p.hasUnit()) {
                units.add(p.unit);
            }
        }
        return units;
    }

    // ---- The link layer against its vectors and its rules.

    private static void linkVectors() throws Exception {
        try (Tether.Reassembler rx = new Tether.Reassembler()) {
            rx.setMtu(23);
            List<byte[]> got = pushAll(rx, READING_AT_23);
            check("vector: the reading's 4 fragments at ATT_MTU 23 give its record",
                    got.size() == 1 && hex(got.get(0)).equals(READING_RECORD));
            Tether.VitalsBatch b = Tether.decodeVitals(unhex(READING_MESSAGE));
            checkEquals("vector: the reading's message is 2 readings", 2, b.size());
            if (b.size() == 2) {
                checkEquals("vector: its SpO2", "97", b.reading(0).text());
                checkEquals("vector: its pulse rate", "72", b.reading(1).text());
            }

            Tether.Pushed p = null;
            for (String f : INTERRUPTED_KEEPS_NEW) {
                Tether.Pushed q = rx.push(unhex(f));
                if (q.interrupted) {
                    p = q;
                }
                if (q.hasUnit()) {
                    checkEquals("vector interrupted_keeps_new: B completes",
                            INTERRUPTED_KEEPS_NEW_UNIT, hex(q.unit));
                }
            }
            check("vector interrupted_keeps_new: B's START fragment reports A abandoned",
                    p != null && !p.hasUnit());

            rx.push(unhex(GAP[0]));
            expectStatus("vector gap: a lost fragment", Tether.ERR_LINK_GAP,
                    () -> rx.push(unhex(GAP[1])));
            expectStatus("vector gap: then nothing is in progress", Tether.ERR_LINK_NOT_STARTED,
                    () -> rx.push(unhex(GAP[2])));
            rx.push(unhex(WRONG_UNIT[0]));
            expectStatus("vector wrong_unit", Tether.ERR_LINK_WRONG_UNIT,
                    () -> rx.push(unhex(WRONG_UNIT[1])));
            expectStatus("vector wrong_unit: A abandoned", Tether.ERR_LINK_NOT_STARTED,
                    () -> rx.push(unhex(WRONG_UNIT[2])));
        }

        // The fragmenter makes the vector's fragments exactly, once its numbering reaches 46.
        try (Tether.Fragmenter tx = new Tether.Fragmenter(23)) {
            for (int i = 0; i < 46; i++) {
                tx.fragment(new byte[] {1});
            }
            byte[][] f = tx.fragment(unhex(READING_RECORD));
            boolean same = f.length == READING_AT_23.length;
            for (int i = 0; same && i < f.length; i++) {
                same = hex(f[i]).equals(READING_AT_23[i]);
            }
            check("vector: the fragmenter cuts the reading into the vector's 4 fragments", same);
        }
    }

    private static void linkRules() throws Exception {
        expectStatus("fragmenter at ATT_MTU 22", Tether.ERR_BAD_CONFIG,
                () -> new Tether.Fragmenter(22).close());
        expectStatus("reassembler for units of 0 bytes", Tether.ERR_BAD_CONFIG,
                () -> new Tether.Reassembler(0).close());
        expectStatus("reassembler for units of 65536 bytes", Tether.ERR_BAD_CONFIG,
                () -> new Tether.Reassembler(Tether.LINK_MAX_UNIT + 1).close());
        expectThrows("ATT_MTU 65536", IllegalArgumentException.class,
                () -> new Tether.Fragmenter(65536).close());

        for (int mtu : new int[] {23, 185, 517}) {
            try (Tether.Fragmenter tx = new Tether.Fragmenter(mtu);
                    Tether.Reassembler rx = new Tether.Reassembler(Tether.LINK_MAX_UNIT)) {
                rx.setMtu(mtu);
                int f = maxFragment(mtu);
                // Units around fragment boundaries, and the largest at this ATT_MTU.
                int largest = Math.min(Tether.LINK_MAX_UNIT, (f - 4) + 255 * (f - 2));
                int[] lengths = {1, f - 4, f - 3, 2 * f - 6, 2 * f - 5, 1063, largest};
                boolean allOk = true;
                String problem = "";
                for (int k = 0; k < lengths.length; k++) {
                    byte[] unit = new byte[lengths[k]];
                    for (int i = 0; i < unit.length; i++) {
                        unit[i] = (byte) (i * 31 + k);
                    }
                    byte[][] frags = tx.fragment(unit);
                    int expected = unit.length <= f - 4 ? 1
                            : 1 + (unit.length - (f - 4) + (f - 3)) / (f - 2);
                    byte[] got = null;
                    for (int i = 0; i < frags.length; i++) {
                        int flags = (i == 0 ? 0x80 : 0) | (i == frags.length - 1 ? 0x40 : 0);
                        boolean full = frags[i].length == f || i == frags.length - 1;
                        if (frags[i].length > f || !full || (frags[i][0] & 0xc0) != flags
                                || (frags[i][0] & 0x3f) != k || (frags[i][1] & 0xff) != i) {
                            allOk = false;
                            problem = "fragment " + i + " of unit " + k;
                        }
                        Tether.Pushed p = rx.push(frags[i]);
                        if (p.hasUnit()) {
                            got = p.unit;
                        }
                    }
                    if (frags.length != expected || !Arrays.equals(unit, got)) {
                        allOk = false;
                        problem = "unit " + k + " of " + unit.length + " bytes: " + frags.length
                                + " fragments";
                    }
                }
                check("ATT_MTU " + mtu + ": units of " + Arrays.toString(lengths)
                        + " bytes, numbered 0.." + (lengths.length - 1) + ", in full fragments"
                        + " of at most " + f + " bytes, reassembled whole"
                        + (allOk ? "" : ": " + problem), allOk);
                expectStatus("ATT_MTU " + mtu + ": a unit one byte above the largest ("
                        + largest + ")", Tether.ERR_PLAINTEXT_TOO_LARGE,
                        () -> tx.fragment(new byte[largest + 1]));
                expectStatus("ATT_MTU " + mtu + ": an empty unit", Tether.ERR_BAD_CONFIG,
                        () -> tx.fragment(new byte[0]));
            }
        }

        try (Tether.Fragmenter tx = new Tether.Fragmenter(23);
                Tether.Reassembler rx = new Tether.Reassembler(100)) {
            // Numbers run modulo 64 on the air; a new fragmenter (a new connection) starts at 0.
            boolean wraps = true;
            for (int k = 0; k < 70; k++) {
                wraps &= (tx.fragment(new byte[] {(byte) k})[0][0] & 0x3f) == k % 64;
            }
            check("units are numbered modulo 64", wraps);
            byte[][] a = tx.fragment(new byte[40]);
            checkEquals("a 40-byte unit at ATT_MTU 23 is 3 fragments", 3, a.length);
            // A unit above max_unit is refused at its first fragment.
            expectStatus("a unit above the reassembler's maximum", Tether.ERR_LINK_OVERSIZED,
                    () -> rx.push(tx.fragment(new byte[101])[0]));
            // Before the ATT_MTU is set, any fragment up to 512 bytes; after, at most MTU - 3.
            try (Tether.Fragmenter big = new Tether.Fragmenter(517)) {
                byte[] f = big.fragment(new byte[90])[0];
                check("before setMtu a 94-byte fragment is taken", rx.push(f).hasUnit());
                rx.setMtu(23);
                expectStatus("after setMtu(23) it is too long", Tether.ERR_LINK_TOO_LONG,
                        () -> rx.push(f));
            }
            expectStatus("setMtu(22)", Tether.ERR_BAD_CONFIG, () -> rx.setMtu(22));
            rx.push(a[0]);
            check("reset abandons the unit in progress", rx.reset());
            check("and then there is none", !rx.reset());
            expectStatus("its next fragment has no unit", Tether.ERR_LINK_NOT_STARTED,
                    () -> rx.push(a[1]));
            expectStatus("a fragment shorter than its header", Tether.ERR_LINK_TRUNCATED,
                    () -> rx.push(new byte[1]));
            expectThrows("push(null)", NullPointerException.class, () -> rx.push(null));
            expectThrows("fragment(null)", NullPointerException.class, () -> tx.fragment(null));
        }

        // Closed objects throw; close is idempotent.
        Tether.Fragmenter tx = new Tether.Fragmenter(23);
        Tether.Reassembler rx = new Tether.Reassembler();
        tx.close();
        tx.close();
        rx.close();
        rx.close();
        expectThrows("fragment after close", IllegalStateException.class,
                () -> tx.fragment(new byte[1]));
        expectThrows("push after close", IllegalStateException.class,
                () -> rx.push(new byte[4]));
        expectThrows("reset after close", IllegalStateException.class, rx::reset);

        // The shim checks its arguments too, below the Java wrappers.
        expectThrows("shim: fragmenter handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nFragmenterFragment", 0L, new byte[1])));
        expectThrows("shim: reassembler handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nReassemblerPush", 0L, new byte[4],
                        new boolean[1])));
        expectThrows("shim: ATT_MTU -1", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nFragmenterNew", -1)));
        expectThrows("shim: maxUnit -1", IllegalArgumentException.class,
                () -> rethrow(() -> callNative("nReassemblerNew", -1)));
        try (Tether.Reassembler r = new Tether.Reassembler()) {
            long h = handleOf(r);
            expectThrows("shim: push(null)", NullPointerException.class,
                    () -> rethrow(() -> callNative("nReassemblerPush", h, null, new boolean[1])));
            expectThrows("shim: push without its out-parameter", NullPointerException.class,
                    () -> rethrow(() -> callNative("nReassemblerPush", h, new byte[4], null)));
            expectThrows("shim: push with an out-parameter of 2", IllegalArgumentException.class,
                    () -> rethrow(() -> callNative("nReassemblerPush", h, new byte[4],
                            new boolean[2])));
            expectThrows("shim: setMtu(70000)", IllegalArgumentException.class,
                    () -> rethrow(() -> callNative("nReassemblerSetMtu", h, 70000)));
        }
    }

    // ---- The phone's session with its device, over the BLE link.

    /** One end of the BLE connection: its side of the link and its session. */
    private static final class End implements AutoCloseable {
        final Tether.Fragmenter tx;
        final Tether.Reassembler rx;
        Tether.Handshake hs;
        Tether.Session session;

        End(int attMtu) throws TetherException {
            tx = new Tether.Fragmenter(attMtu);
            rx = new Tether.Reassembler();
            rx.setMtu(attMtu);
        }

        @Override
        public void close() {
            if (hs != null) {
                hs.close();
            }
            if (session != null) {
                session.close();
            }
            tx.close();
            rx.close();
        }
    }

    /** The fragments of the last unit sent, as they went on the air. */
    private static byte[][] air;

    /**
     * Sends {@code unit} from {@code from} to {@code to} as fragments of at most ATT_MTU - 3
     * bytes; returns the unit the receiver completed, or null if none.
     */
    private static byte[] send(End from, End to, byte[] unit, int attMtu) throws TetherException {
        air = from.tx.fragment(unit);
        return receive(to, -1, attMtu);
    }

    /** Pushes the fragments on the air into {@code to}, skipping fragment {@code drop}. */
    private static byte[] receive(End to, int drop, int attMtu) throws TetherException {
        byte[] got = null;
        for (int i = 0; i < air.length; i++) {
            if (air[i].length > maxFragment(attMtu)) {
                throw new AssertionError("a fragment of " + air[i].length + " bytes at ATT_MTU "
                        + attMtu);
            }
            if (i != drop) {
                Tether.Pushed p = to.rx.push(air[i]);
                if (p.hasUnit()) {
                    got = p.unit;
                }
            }
        }
        return got;
    }

    private static Tether.HandshakeConfig bleConfig(byte[] secret, String id, String model,
            byte[] peerKey) {
        return new Tether.HandshakeConfig().pattern(Tether.PATTERN_RECONNECT)
                .channel(Tether.CHANNEL_DEVICE_PHONE).framing(Tether.FRAMING_DATAGRAM)
                .staticSecret(secret).identity(utf8(id), model, "1.0").peerStaticKey(peerKey)
                .maxPlaintext(Tether.DELIVERY_MAX_FRAME);
    }

    /** Seals {@code message} at the device and opens it at the phone, over the link. */
    private static Tether.Opened deliver(End device, End phone, byte[] message, int attMtu)
            throws TetherException {
        byte[][] records = device.session.sealDatagrams(message);
        Tether.Opened last = null;
        for (byte[] r : records) {
            byte[] unit = send(device, phone, r, attMtu);
            if (unit == null || !Arrays.equals(unit, r)) {
                throw new AssertionError("a record did not cross the link whole");
            }
            last = phone.session.open(unit);
        }
        return last;
    }

    private static void phoneSession(int mtu) throws Exception {
        String at = "ATT_MTU " + mtu + ": ";
        byte[] devicePublic = Tether.publicKey(DEVICE_SECRET);
        byte[] phonePublic = Tether.publicKey(PHONE_SECRET);
        try (End device = new End(mtu); End phone = new End(mtu); End stranger = new End(mtu)) {
            // The phone waits for its device, whose key it learnt when they paired. It answers
            // Reconnect (KK) and Provisioned (IK).
            phone.hs = Tether.Handshake.responder(bleConfig(PHONE_SECRET, "phone-app",
                    "Companion Android", devicePublic).allowPatterns(Tether.PATTERN_RECONNECT,
                    Tether.PATTERN_PROVISIONED));
            checkEquals(at + "the responder waits for a first message", Tether.ACTION_READ,
                    phone.hs.next());

            // Strangers in radio range are refused, and the phone keeps waiting.
            stranger.hs = Tether.Handshake.initiator(bleConfig(STRANGER_SECRET, "SN-6666",
                    "Fake", phonePublic));
            byte[] m = send(stranger, phone, stranger.hs.write(), mtu);
            expectStatus(at + "a stranger's Reconnect", Tether.ERR_AUTHENTICATION,
                    () -> phone.hs.read(m));
            stranger.hs.close();
            stranger.hs = Tether.Handshake.initiator(bleConfig(STRANGER_SECRET, "SN-6666",
                    "Fake", phonePublic).pattern(Tether.PATTERN_PROVISIONED));
            byte[] m2 = send(stranger, phone, stranger.hs.write(), mtu);
            expectStatus(at + "a stranger's Provisioned (its key is not the device's)",
                    Tether.ERR_KEY_MISMATCH, () -> phone.hs.read(m2));
            checkEquals(at + "still waiting", Tether.ACTION_READ, phone.hs.next());

            // The device starts; every message crosses the link as fragments.
            device.hs = Tether.Handshake.initiator(bleConfig(DEVICE_SECRET, "SN-0001",
                    "PulseOximeter P3", phonePublic));
            byte[] first = device.hs.write();
            byte[] got = send(device, phone, first, mtu);
            check(at + "message 1 (" + first.length + " bytes, " + air.length
                    + " fragments) reassembled", Arrays.equals(first, got));
            phone.hs.read(got);
            expectStatus(at + "message 1 again (a retransmission)", Tether.ERR_DUPLICATE,
                    () -> phone.hs.read(first));
            checkEquals(at + "the phone answers", Tether.ACTION_WRITE, phone.hs.next());
            byte[] second = phone.hs.write();
            got = send(phone, device, second, mtu);
            check(at + "message 2 (" + second.length + " bytes, " + air.length
                    + " fragments) reassembled", Arrays.equals(second, got));
            device.hs.read(got);
            check(at + "both finished", device.hs.isFinished() && phone.hs.isFinished());
            phone.session = phone.hs.finish();
            device.session = device.hs.finish();
            checkEquals(at + "the phone's peer is the device", "SN-0001",
                    text(phone.session.peer().id()));
            checkEquals(at + "its model", "PulseOximeter P3", phone.session.peer().model());
            check(at + "its key is the device's",
                    Arrays.equals(devicePublic, phone.session.peer().staticKey()));
            checkEquals(at + "the device's peer is the phone", "phone-app",
                    text(device.session.peer().id()));
            check(at + "the same handshake hash on both sides", Arrays.equals(
                    phone.session.handshakeHash(), device.session.handshakeHash()));
            checkEquals(at + "the session is datagram-framed", Tether.FRAMING_DATAGRAM,
                    phone.session.framing());

            // Vital signs from the device: a spec vector, then a batch of 300 readings.
            byte[] vitals = unhex(TetherTest.VITALS_SPO2_AND_TEMPERATURE);
            Tether.Opened o = deliver(device, phone, vitals, mtu);
            check(at + "a vitals record opens", o.isData());
            checkEquals(at + "its kind", Tether.KIND_VITALS, Tether.messageKind(o.data));
            Tether.VitalsBatch b = Tether.decodeVitals(o.data);
            checkEquals(at + "5 readings", 5, b.size());
            if (b.size() == 5) {
                TetherTest.checkReading(at + "reading 0: 97 % SpO2", b.reading(0),
                        TetherTest.BASE, 0, 1, 150456, 262688, 97, 0, Tether.VALUE_NUMBER, "97");
                TetherTest.checkReading(at + "reading 3: 37.20 C", b.reading(3),
                        TetherTest.BASE + 2000, 1, 7, 150364, 268192, 3720, -2,
                        Tether.VALUE_NUMBER, "37.20");
                checkEquals(at + "reading 2 is NaN", "NaN", b.reading(2).text());
            }
            byte[] batch = TetherTest.vitalsOf(300);
            o = deliver(device, phone, batch, mtu);
            int expectedFragments = mtu == 23 ? 53 : mtu == 185 ? 6 : 2;
            checkEquals(at + "a record of " + (batch.length + 25) + " bytes in fragments",
                    expectedFragments, air.length);
            Tether.VitalsBatch big = Tether.decodeVitals(o.data);
            boolean all = big.size() == 300;
            for (Tether.Reading r : big.readings()) {
                all &= r.text().equals("5") && r.mdcCode == 150456;
            }
            check(at + "300 readings of 5 % SpO2", all);

            // Losses on the air lose a unit, never give a wrong one; the next one still opens.
            air = device.tx.fragment(device.session.sealDatagrams(batch)[0]);
            if (air.length > 2) {
                expectStatus(at + "a lost fragment", Tether.ERR_LINK_GAP,
                        () -> receive(phone, 1, mtu));
            } else {
                check(at + "a lost last fragment yields nothing", receive(phone, 1, mtu) == null);
            }
            air = device.tx.fragment(device.session.sealDatagrams(batch)[0]);
            phone.rx.push(air[0]);
            phone.rx.push(air[1]);
            if (air.length > 2) {
                expectStatus(at + "a repeated fragment", Tether.ERR_LINK_DUPLICATE,
                        () -> phone.rx.push(air[1]));
            } else {
                expectStatus(at + "a repeated last fragment", Tether.ERR_LINK_NOT_STARTED,
                        () -> phone.rx.push(air[1]));
            }
            air = device.tx.fragment(device.session.sealDatagrams(batch)[0]);
            byte[] last = air[air.length - 1];
            last[last.length - 1] ^= 0x20;
            byte[] forged = receive(phone, -1, mtu);
            check(at + "a fragment altered on the air still makes a unit", forged != null);
            expectStatus(at + "which fails authentication", Tether.ERR_AUTHENTICATION,
                    () -> phone.session.open(forged));
            o = deliver(device, phone, vitals, mtu);
            check(at + "the next record opens", o.isData() && Arrays.equals(vitals, o.data));
            if (mtu == 23) {
                try (Tether.Fragmenter wide = new Tether.Fragmenter(185)) {
                    byte[][] f = wide.fragment(device.session.sealDatagrams(vitals)[0]);
                    expectStatus(at + "a fragment longer than the ATT_MTU allows",
                            Tether.ERR_LINK_TOO_LONG, () -> phone.rx.push(f[0]));
                }
            }

            // The phone answers over its own link.
            byte[] r = send(phone, device, phone.session.sealDatagrams(utf8("ack"))[0], mtu);
            checkEquals(at + "the device reads the phone's record", "ack",
                    text(device.session.open(r).data));

            // The device closes.
            byte[] close = send(device, phone, device.session.closeOutbound(), mtu);
            check(at + "the device's close arrives", phone.session.open(close).isClose());
        }
    }

    // ---- Pairing by a short code, then the relay.

    private static Tether.HandshakeConfig pairingConfig(byte[] secret, String id, String model) {
        return new Tether.HandshakeConfig().channel(Tether.CHANNEL_DEVICE_PHONE)
                .framing(Tether.FRAMING_DATAGRAM).staticSecret(secret)
                .identity(utf8(id), model, "1.0").maxPlaintext(Tether.DELIVERY_MAX_FRAME);
    }

    /** The code with its last digit moved by one: a typing mistake. */
    private static String typo(String code) {
        char last = (char) ('0' + (code.charAt(5) - '0' + 1) % 10);
        return code.substring(0, 5) + last;
    }

    /** The code exchange over the link: the phone's code message 0 to the device, its answer
     * back to the phone. */
    private static void codeExchange(End phone, End device, Tether.CodePairing ph,
            Tether.CodePairing dev, Tether.AttemptLimiter limiter, long now, int mtu)
            throws TetherException {
        byte[] m0 = send(phone, device, ph.start(), mtu);
        checkEquals("ATT_MTU " + mtu + ": code message 0 crosses as " + air.length
                + " fragment(s)", 33, m0.length);
        byte[] m1 = send(device, phone, dev.respond(limiter, now, m0), mtu);
        ph.finish(m1);
    }

    /** The device's limiter: three free failures, then a wait; its count survives a restart. */
    private static void attemptLimiter() throws Exception {
        Tether.AttemptLimiter limiter = new Tether.AttemptLimiter();
        byte[] m0;
        try (Tether.CodePairing attacker = Tether.CodePairing.phone("000000",
                Tether.FRAMING_DATAGRAM)) {
            m0 = attacker.start();
        }
        for (int i = 1; i <= 3; i++) {
            try (Tether.CodePairing dev = Tether.CodePairing.device(
                    Tether.CodePairing.generateCode(), Tether.FRAMING_DATAGRAM)) {
                dev.respond(limiter, 5000, m0);
            }
        }
        checkEquals("limiter: three failed attempts counted", 3L, limiter.failures());
        checkEquals("limiter: the next waits 30 s", 35000L, limiter.nextAllowedMs());
        try (Tether.CodePairing dev = Tether.CodePairing.device("123456",
                Tether.FRAMING_DATAGRAM)) {
            TetherException e = expectStatus("limiter: the fourth attempt at once",
                    Tether.ERR_RATE_LIMITED, () -> dev.respond(limiter, 6000, m0));
            checkEquals("limiter: retry in 29 s", 29000L, e == null ? -1L : e.retryInMs());
            checkEquals("limiter: nothing counted", 3L, limiter.failures());
            // A restart: the count from storage, the clock from 0, the full wait again.
            Tether.AttemptLimiter restored = Tether.AttemptLimiter.restore(limiter.failures(), 0);
            e = expectStatus("limiter: after a restart", Tether.ERR_RATE_LIMITED,
                    () -> dev.respond(restored, 10, m0));
            checkEquals("limiter: retry in 29.99 s", 29990L, e == null ? -1L : e.retryInMs());
            check("limiter: the code was kept: answered once the wait is over",
                    dev.respond(restored, 30000, m0).length == 33);
            checkEquals("limiter: four failures", 4L, restored.failures());
            checkEquals("limiter: the next waits 60 s", 90000L, restored.nextAllowedMs());
            expectStatus("limiter: a spent code answers no second attempt", Tether.ERR_BAD_STATE,
                    () -> dev.respond(restored, 90000, m0));
            restored.succeeded();
            checkEquals("limiter: success resets the count", 0L, restored.failures());
        }
        expectStatus("a code of five digits", Tether.ERR_PAIRING_CODE,
                () -> Tether.CodePairing.phone("12345", Tether.FRAMING_DATAGRAM).close());
        expectStatus("a code with a letter", Tether.ERR_PAIRING_CODE,
                () -> Tether.CodePairing.device("12345a", Tether.FRAMING_DATAGRAM).close());
        expectThrows("restore(-1)", IllegalArgumentException.class,
                () -> Tether.AttemptLimiter.restore(-1, 0));
        Tether.CodePairing closed = Tether.CodePairing.phone("123456", Tether.FRAMING_DATAGRAM);
        closed.close();
        closed.close();
        expectThrows("start after close", IllegalStateException.class, closed::start);
        expectThrows("shim: code pairing handle 0", IllegalStateException.class,
                () -> rethrow(() -> callNative("nCodePairingStart", 0L)));
        expectThrows("shim: respond without a limiter", NullPointerException.class,
                () -> rethrow(() -> callNative("nCodePairingRespond", 1L, null, 0L, m0)));
    }

    private static void pairAndRelay(int mtu) throws Exception {
        String at = "ATT_MTU " + mtu + ": ";
        Tether.AttemptLimiter limiter = new Tether.AttemptLimiter(); // the device's flash
        byte[] learntDeviceKey;
        byte[] learntPhoneKey;
        try (End device = new End(mtu); End phone = new End(mtu)) {
            // A mistyped code: the exchange goes through, the device refuses the handshake.
            String shown = Tether.CodePairing.generateCode();
            check(at + "the device shows six digits: " + shown.replaceAll(".", "*"),
                    shown.matches("[0-9]{6}"));
            try (Tether.CodePairing dev = Tether.CodePairing.device(shown,
                    Tether.FRAMING_DATAGRAM);
                    Tether.CodePairing ph = Tether.CodePairing.phone(typo(shown),
                            Tether.FRAMING_DATAGRAM)) {
                codeExchange(phone, device, ph, dev, limiter, 1000, mtu);
                checkEquals(at + "the attempt counts at once", 1L, limiter.failures());
                phone.hs = Tether.Handshake.codeInitiator(pairingConfig(PHONE_SECRET,
                        "phone-app", "Companion Android"), ph);
                device.hs = Tether.Handshake.codeResponder(pairingConfig(DEVICE_SECRET,
                        "SN-0002", "PulseOximeter P3"), dev);
                byte[] h0 = send(phone, device, phone.hs.write(), mtu);
                expectStatus(at + "wrong code: the device refuses handshake message 0",
                        Tether.ERR_AUTHENTICATION, () -> device.hs.read(h0));
                checkEquals(at + "and keeps waiting", Tether.ACTION_READ, device.hs.next());
                checkEquals(at + "the phone hears nothing", Tether.ACTION_READ, phone.hs.next());
                expectStatus(at + "the spent pairing makes no second handshake",
                        Tether.ERR_BAD_STATE, () -> Tether.Handshake.codeInitiator(
                                pairingConfig(PHONE_SECRET, "phone-app", "x"), ph).close());
                phone.hs.close();
                device.hs.close();
            }
            // The right code: paired.
            shown = Tether.CodePairing.generateCode();
            try (Tether.CodePairing dev = Tether.CodePairing.device(shown,
                    Tether.FRAMING_DATAGRAM);
                    Tether.CodePairing ph = Tether.CodePairing.phone(shown,
                            Tether.FRAMING_DATAGRAM)) {
                codeExchange(phone, device, ph, dev, limiter, 2000, mtu);
                checkEquals(at + "two attempts counted", 2L, limiter.failures());
                phone.hs = Tether.Handshake.codeInitiator(pairingConfig(PHONE_SECRET,
                        "phone-app", "Companion Android"), ph);
                device.hs = Tether.Handshake.codeResponder(pairingConfig(DEVICE_SECRET,
                        "SN-0002", "PulseOximeter P3"), dev);
            }
            for (int i = 0; i < 3; i++) {
                End from = i % 2 == 0 ? phone : device;
                End to = i % 2 == 0 ? device : phone;
                byte[] message = from.hs.write();
                byte[] got = send(from, to, message, mtu);
                check(at + "pairing message " + i + " (" + message.length + " bytes, "
                        + air.length + " fragments) reassembled", Arrays.equals(message, got));
                to.hs.read(got);
            }
            check(at + "both finished", phone.hs.isFinished() && device.hs.isFinished());
            device.session = device.hs.finish();
            limiter.succeeded();
            phone.session = phone.hs.finish();
            checkEquals(at + "the device resets its count", 0L, limiter.failures());
            // The phone counts the device as paired once a record of it opens.
            Tether.Opened o = deliver(device, phone, utf8("paired"), mtu);
            check(at + "the device's first record opens: paired",
                    o.isData() && text(o.data).equals("paired"));
            checkEquals(at + "the phone's peer", "SN-0002", text(phone.session.peer().id()));
            learntDeviceKey = phone.session.peer().staticKey();
            learntPhoneKey = device.session.peer().staticKey();
            check(at + "the phone learnt the device's key",
                    Arrays.equals(learntDeviceKey, Tether.publicKey(DEVICE_SECRET)));
            check(at + "the device learnt the phone's key",
                    Arrays.equals(learntPhoneKey, Tether.publicKey(PHONE_SECRET)));
            byte[] r = send(phone, device, phone.session.sealDatagrams(utf8("hello"))[0], mtu);
            checkEquals(at + "the phone's record opens at the device", "hello",
                    text(device.session.open(r).data));
        }

        // Later: the device comes back and reconnects (KK) with the keys learnt; the phone
        // answers. Then the device's session with the cloud crosses the phone, relayed.
        try (End device = new End(mtu); End phone = new End(mtu);
                Tether.RelayTable table = new Tether.RelayTable(8);
                Tether.Handshake cloudHs = Tether.Handshake.responder(
                        new Tether.HandshakeConfig().pattern(Tether.PATTERN_PROVISIONED)
                                .channel(Tether.CHANNEL_RELAYED).framing(Tether.FRAMING_DATAGRAM)
                                .staticSecret(CLOUD_SECRET).identity(utf8("cloud"), "", "")
                                .peerStaticKey(Tether.publicKey(DEVICE_SECRET))
                                .maxPlaintext(Tether.DELIVERY_MAX_FRAME
                                        - Tether.RELAY_HEADER_LEN))) {
            phone.hs = Tether.Handshake.responder(bleConfig(PHONE_SECRET, "phone-app",
                    "Companion Android", learntDeviceKey));
            device.hs = Tether.Handshake.initiator(bleConfig(DEVICE_SECRET, "SN-0002",
                    "PulseOximeter P3", learntPhoneKey));
            phone.hs.read(send(device, phone, device.hs.write(), mtu));
            device.hs.read(send(phone, device, phone.hs.write(), mtu));
            phone.session = phone.hs.finish();
            device.session = device.hs.finish();
            check(at + "reconnected (KK) with the device paired by code",
                    Arrays.equals(phone.session.peer().staticKey(), learntDeviceKey));
            Tether.Opened o = deliver(device, phone, utf8("back in range"), mtu);
            checkEquals(at + "its record opens", "back in range", text(o.data));

            // Another device relays first: this one's uplink index is 1.
            checkEquals(at + "another device's route", 0,
                    table.up(DEVICE_LINK + 1, Tether.RelayTable.wrap(0, new byte[] {0x50})));
            Tether.Handshake e2e = Tether.Handshake.initiator(new Tether.HandshakeConfig()
                    .pattern(Tether.PATTERN_PROVISIONED).channel(Tether.CHANNEL_RELAYED)
                    .framing(Tether.FRAMING_DATAGRAM).staticSecret(DEVICE_SECRET)
                    .identity(utf8("SN-0002"), "PulseOximeter P3", "1.0")
                    .peerStaticKey(Tether.publicKey(CLOUD_SECRET))
                    .maxPlaintext(Tether.DELIVERY_MAX_FRAME - Tether.RELAY_HEADER_LEN));
            Tether.Session deviceE2e = null;
            Tether.Session cloud = null;
            try {
                // Up: device -> (BLE, wrapped, index 0) -> phone -> (uplink, index 1) -> cloud.
                byte[] uplink = relayUp(device, phone, table, e2e.write(), mtu, at);
                Tether.Relayed in = Tether.RelayTable.parse(Tether.FRAMING_DATAGRAM, uplink);
                checkEquals(at + "the cloud sees index 1", 1, in.index);
                cloudHs.read(in.unit());
                // Down: cloud -> (index 1) -> phone -> (BLE, index 0) -> device.
                e2e.read(relayDown(device, phone, table, Tether.RelayTable.wrap(in.index,
                        cloudHs.write()), mtu, at));
                deviceE2e = e2e.finish();
                cloud = cloudHs.finish();
                checkEquals(at + "the cloud's peer is the device", "SN-0002",
                        text(cloud.peer().id()));
                check(at + "the relayed session is not the phone's", !Arrays.equals(
                        cloud.handshakeHash(), phone.session.handshakeHash()));
                // Vital signs, end to end; the phone moves them and cannot open them.
                byte[] vitals = unhex(TetherTest.VITALS_SPO2_AND_TEMPERATURE);
                for (int i = 0; i < 2; i++) {
                    byte[] record = deviceE2e.sealDatagrams(vitals)[0];
                    byte[] up = relayUp(device, phone, table, record, mtu, at);
                    Tether.Relayed got = Tether.RelayTable.parse(Tether.FRAMING_DATAGRAM, up);
                    Tether.Opened c = cloud.open(got.unit());
                    checkEquals(at + "the cloud decodes the device's vitals (" + i + ")", 5,
                            Tether.decodeVitals(c.data).size());
                    TetherException e = expectAnyStatus(at + "the phone's session cannot open "
                            + "the relayed record", () -> phone.session.open(got.unit()));
                    check(at + "refused as a forgery would be", e != null && (e.code()
                            == Tether.ERR_AUTHENTICATION || e.code() == Tether.ERR_REPLAYED
                            || e.code() == Tether.ERR_TOO_OLD || e.code() == Tether.ERR_EPOCH));
                    expectStatus(at + "nor the relayed unit itself", Tether.ERR_UNKNOWN_TYPE,
                            () -> phone.session.open(up));
                }
                // The cloud answers; the phone routes it back to the device's link.
                byte[] down = relayDown(device, phone, table, Tether.RelayTable.wrap(1,
                        cloud.sealDatagrams(utf8("set-interval 60"))[0]), mtu, at);
                checkEquals(at + "the device opens the cloud's record", "set-interval 60",
                        text(deviceE2e.open(down).data));
                // The device's own session with the phone goes on beside it, unwrapped.
                o = deliver(device, phone, utf8("battery 80 %"), mtu);
                checkEquals(at + "the phone's own session still works", "battery 80 %",
                        text(o.data));
                // Misuse of the relay, and an index nobody routes.
                byte[] stray = Tether.RelayTable.wrap(5, new byte[] {0x10});
                byte[] before = stray.clone();
                expectStatus(at + "a unit for an index with no route",
                        Tether.ERR_UNEXPECTED_MESSAGE, () -> table.down(stray));
                check(at + "left unchanged", Arrays.equals(stray, before));
                expectStatus(at + "a unit that is not relayed", Tether.ERR_UNKNOWN_TYPE,
                        () -> table.up(DEVICE_LINK, new byte[] {0x10, 0, 0}));
                checkEquals(at + "the route of index 1", "link 7, index 0",
                        String.valueOf(table.route(1)));
                check(at + "no route at index 2", table.route(2) == null);
                checkEquals(at + "unpairing the device removes its route", 1,
                        table.removeLink(DEVICE_LINK));
                expectStatus(at + "then its units go nowhere", Tether.ERR_UNEXPECTED_MESSAGE,
                        () -> table.down(Tether.RelayTable.wrap(1, new byte[] {0x10})));
            } finally {
                e2e.close();
                if (deviceE2e != null) {
                    deviceE2e.close();
                }
                if (cloud != null) {
                    cloud.close();
                }
            }
        }
    }

    /** Runs {@code body}, expecting any TetherException; returns it (or null, a failure). */
    private static TetherException expectAnyStatus(String what, Body body) {
        try {
            body.run();
            check(what + ": expected a TetherException, nothing thrown", false);
        } catch (TetherException e) {
            check(what + " -> " + e.getMessage(), true);
            return e;
        } catch (Exception e) {
            check(what + ": expected a TetherException, got " + e, false);
        }
        return null;
    }

    /**
     * A unit of the device's relayed session going up: wrapped (index 0), across BLE as
     * fragments, then through the phone's table; returns what the phone sends on its uplink.
     */
    private static byte[] relayUp(End device, End phone, Tether.RelayTable table, byte[] unit,
            int mtu, String at) throws TetherException {
        byte[] wrapped = Tether.RelayTable.wrap(0, unit);
        byte[] got = send(device, phone, wrapped, mtu);
        if (got == null || (got[0] & 0xc0) != 0x80) {
            throw new AssertionError(at + "no relayed unit crossed the link");
        }
        int up = table.up(DEVICE_LINK, got);
        if (up != 1 || (got[1] & 0xff) != 1) {
            throw new AssertionError(at + "uplink index " + up);
        }
        return got;
    }

    /** A relayed unit from the cloud going down: through the table, then across BLE. */
    private static byte[] relayDown(End device, End phone, Tether.RelayTable table,
            byte[] fromCloud, int mtu, String at) throws TetherException {
        Tether.Route route = table.down(fromCloud);
        if (route.link != DEVICE_LINK || route.deviceIndex != 0) {
            throw new AssertionError(at + "routed to " + route);
        }
        byte[] got = send(phone, device, fromCloud, mtu);
        Tether.Relayed r = Tether.RelayTable.parse(Tether.FRAMING_DATAGRAM, got);
        if (r.index != 0) {
            throw new AssertionError(at + "the device got index " + r.index);
        }
        return r.unit();
    }

    private static void closedObjects() throws Exception {
        byte[] devicePublic = Tether.publicKey(DEVICE_SECRET);
        Tether.Handshake hs = Tether.Handshake.responder(bleConfig(PHONE_SECRET, "phone-app",
                "Companion Android", devicePublic));
        hs.close();
        hs.close();
        expectThrows("responder: read after close", IllegalStateException.class,
                () -> hs.read(new byte[10]));
        expectStatus("responder: write before any message", Tether.ERR_BAD_STATE, () -> {
            try (Tether.Handshake h = Tether.Handshake.responder(bleConfig(PHONE_SECRET,
                    "phone-app", "Companion Android", devicePublic))) {
                h.write();
            }
        });
        expectStatus("responder: a unit that is no handshake message", Tether.ERR_UNKNOWN_TYPE,
                () -> {
                    try (Tether.Handshake h = Tether.Handshake.responder(bleConfig(PHONE_SECRET,
                            "phone-app", "Companion Android", devicePublic))) {
                        h.read(new byte[] {(byte) 0xff, 0, 0, 0});
                    }
                });
        expectThrows("config without a secret", NullPointerException.class,
                () -> Tether.Handshake.responder(new Tether.HandshakeConfig()
                        .identity(utf8("x"), "", "")).close());
        expectThrows("config with a 31-byte peer key", IllegalArgumentException.class,
                () -> new Tether.HandshakeConfig().peerStaticKey(new byte[31]));
        expectStatus("config: an empty id", Tether.ERR_BAD_CONFIG,
                () -> Tether.Handshake.responder(bleConfig(PHONE_SECRET, "", "m",
                        devicePublic)).close());
    }

    public static void main(String[] args) {
        if (args.length != 0) {
            System.err.println("usage: PhoneTest (no arguments)");
            System.exit(2);
        }
        runAll(PhoneTest::linkVectors, PhoneTest::linkRules, () -> phoneSession(23),
            () -> phoneSession(185), () -> phoneSession(517), PhoneTest::closedObjects,
            PhoneTest::attemptLimiter, () -> pairAndRelay(23), () -> pairAndRelay(185));
    }
}
