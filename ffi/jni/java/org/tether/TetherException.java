package org.tether;

import java.io.IOException;

/**
 * A non-zero tether status. Like {@code javax.net.ssl.SSLException} it is an {@link IOException}:
 * it usually means the channel (or one unit of it) cannot be trusted.
 *
 * <p>{@link #code()} is the {@code tether_status} number (see the {@code Tether.ERR_*} constants),
 * {@link #description()} its {@code tether_strerror} text. The message combines both. A device
 * that refuses a pairing attempt because too many failed ({@code Tether.ERR_RATE_LIMITED}) also
 * says when the next one is allowed: {@link #retryInMs()}.
 */
public class TetherException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String description;
    private final long retryInMs;

    /** Thrown by the JNI shim with the status it got (the shim calls this constructor). */
    public TetherException(int code) {
        this(code, Tether.strerror(code), -1);
    }

    /**
     * Thrown by the JNI shim for {@code Tether.ERR_RATE_LIMITED}, with the milliseconds until the
     * next attempt is allowed.
     */
    public TetherException(int code, long retryInMs) {
        this(code, Tether.strerror(code), retryInMs);
    }

    private TetherException(int code, String description, long retryInMs) {
        super(description + " (tether status " + code + ")"
                + (retryInMs >= 0 ? ", retry in " + retryInMs + " ms" : ""));
        this.code = code;
        this.description = description;
        this.retryInMs = retryInMs;
    }

    /** The tether_status number. */
    public int code() {
        return code;
    }

    /** The tether_strerror text for {@link #code()}. */
    public String description() {
        return description;
    }

    /**
     * For {@code Tether.ERR_RATE_LIMITED}: milliseconds until the device allows the next pairing
     * attempt; -1 for every other status.
     */
    public long retryInMs() {
        return retryInMs;
    }
}
