package org.tether;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The test harness of {@link TetherTest} and {@link PhoneTest}: each check prints {@code ok} or
 * {@code FAIL} with what it checked, {@link #finish} prints {@code N passed, M failed} and exits
 * non-zero on any failure.
 */
final class Checks {
    static int passed;
    static int failed;

    private Checks() {}

    /** A step that may throw anything. */
    interface Body {
        void run() throws Exception;
    }

    /** A Body that may throw any Throwable, for {@link #expectThrows}. */
    interface AnyBody {
        void run() throws Throwable;
    }

    static void check(String what, boolean ok) {
        if (ok) {
            passed++;
            System.out.println("ok   " + what);
        } else {
            failed++;
            System.out.println("FAIL " + what);
        }
    }

    static void checkEquals(String what, Object expected, Object actual) {
        boolean ok = expected == null ? actual == null : expected.equals(actual);
        check(what + (ok ? "" : ": expected <" + expected + ">, got <" + actual + ">"), ok);
    }

    /** Runs {@code body} and checks it throws a TetherException with {@code code}. */
    static TetherException expectStatus(String what, int code, Body body) {
        try {
            body.run();
            check(what + ": expected TetherException " + code + ", nothing thrown", false);
        } catch (TetherException e) {
            boolean ok = e.code() == code && e.description().equals(Tether.strerror(code));
            check(what + " -> " + e.getMessage()
                    + (ok ? "" : " (expected status " + code + ")"), ok);
            return e;
        } catch (Exception e) {
            check(what + ": expected TetherException " + code + ", got " + e, false);
        }
        return null;
    }

    /** Runs {@code body} and checks it throws {@code type}. */
    static void expectThrows(String what, Class<? extends Throwable> type, Body body) {
        try {
            body.run();
            check(what + ": expected " + type.getSimpleName() + ", nothing thrown", false);
        } catch (Throwable e) {
            check(what + " -> " + e.getClass().getSimpleName() + ": " + e.getMessage()
                    + (type.isInstance(e) ? "" : " (expected " + type.getSimpleName() + ")"),
                    type.isInstance(e));
        }
    }

    static void rethrow(AnyBody body) throws Exception {
        try {
            body.run();
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new RuntimeException(t);
        }
    }

    /** Calls a private native of Tether directly, as a buggy binding might. */
    static Object callNative(String name, Object... args) throws Throwable {
        for (Method m : Tether.class.getDeclaredMethods()) {
            if (m.getName().equals(name)) {
                m.setAccessible(true);
                try {
                    return m.invoke(null, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            }
        }
        throw new NoSuchMethodException(name);
    }

    /** The native handle inside one of Tether's objects. */
    static long handleOf(Object o) throws Exception {
        Field f = o.getClass().getDeclaredField("handle");
        f.setAccessible(true);
        return f.getLong(o);
    }

    /** Runs every part (a part that throws counts as one failure), then {@link #finish}. */
    static void runAll(Body... parts) {
        for (Body part : parts) {
            try {
                part.run();
            } catch (Throwable t) {
                failed++;
                System.out.println("FAIL unexpected " + t);
                t.printStackTrace(System.out);
            }
        }
        finish();
    }

    /** Prints the summary line and exits: 0 only if nothing failed. */
    static void finish() {
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    static byte[] filled(int value) {
        byte[] b = new byte[32];
        Arrays.fill(b, (byte) value);
        return b;
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] all = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }
}
