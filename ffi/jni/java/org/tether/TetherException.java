package org.tether;

import java.io.IOException;

/**
 * A non-zero tether status. Like {@code javax.net.ssl.SSLException} it is an {@link IOException}:
 * it usually means the channel (or one unit of it) cannot be trusted.
 *
 * <p>{@link #code()} is the {@code tether_status} number (see the {@code Tether.ERR_*} constants),
 * {@link #description()} its {@code tether_strerror} text. The message combines both.
 */
public class TetherException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String description;

    /** Thrown by the JNI shim with the status it got (the shim calls this constructor). */
    public TetherException(int code) {
        this(code, Tether.strerror(code));
    }

    private TetherException(int code, String description) {
        super(description + " (tether status " + code + ")");
        this.code = code;
        this.description = description;
    }

    /** The tether_status number. */
    public int code() {
        return code;
    }

    /** The tether_strerror text for {@link #code()}. */
    public String description() {
        return description;
    }
}
