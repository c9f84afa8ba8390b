//! The receiving half of delivery through the C ABI, without a handle: its whole state is a
//! small plain struct the application keeps and persists with each message's effect
//! (spec/MESSAGES.md 6.3).

use tether::delivery::{Incoming, Receiver, ReceiverState, SessionProgress};
use tether::Error;

use crate::boundary::{boundary, bytes, bytes_mut, disjoint, lengths, read, set, Region};
use crate::status::tether_status::{self, *};

/// Bytes of the persisted receiver state (`tether_receiver_state.bytes`).
pub const TETHER_RECEIVER_STATE_LEN: usize = 16;

/// `session` flag: the peer's hello arrived on this session.
const HELLO_SEEN: u32 = 1;
/// `session` flag: an acknowledgement is due.
const ACK_DUE: u32 = 2;

/// A receiver's state, kept by the application (no handle, no allocation). All zero is a
/// receiver that never heard from its peer.
///
/// `bytes` is what the application persists: the stream followed (8 bytes) then the next
/// sequence number to deliver (u64 big-endian), or 16 zero bytes before the first hello. It MUST
/// be persisted in the same atomic write as the effect of each delivered message (store the
/// `then` of `TETHER_INCOMING_MESSAGE`): that is what makes delivery exactly once across a reboot.
/// `session` is this session's progress (whether the peer's hello arrived, whether an
/// acknowledgement is due); it is not persisted: after a reboot, load `bytes` and set `session`
/// to 0, and at the start of every session call `tether_receiver_reconnect`. tether refuses a
/// state whose bytes no receiver writes with `TETHER_ERR_BAD_RECEIVER_STATE`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tether_receiver_state {
    /// The persisted form (see above).
    pub bytes: [u8; 16],
    /// This session's progress; set by tether only (0 at the start of a session).
    pub session: u32,
}

/// What one incoming frame meant.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tether_incoming_kind {
    /// The next message in order, at `message[0 .. message_len]` (inside the frame): apply it,
    /// persist `then` in the same atomic write, and only then call `tether_receiver_delivered`
    /// with `seq` and send the acknowledgement it writes.
    TETHER_INCOMING_MESSAGE = 1,
    /// A message already delivered (its acknowledgement was lost): not for the application. An
    /// acknowledgement of `seq` is due (`tether_receiver_poll_ack`).
    TETHER_INCOMING_DUPLICATE = 2,
    /// Message `seq` arrived while `expected` was next (one was lost): dropped; the sender
    /// resends from its oldest unacknowledged message.
    TETHER_INCOMING_GAP = 3,
    /// The peer acknowledged this side's messages up to `seq`: pass it to
    /// `tether_sender_on_ack`.
    TETHER_INCOMING_ACK = 4,
    /// The peer's hello names a stream this receiver does not follow (`stream`; the one
    /// followed until now in `previous` if `has_previous`): a first contact, a factory-reset
    /// peer, or a peer whose outbox was reset after an attack. Record an audit event. The
    /// receiver now expects `seq`; an acknowledgement is due.
    TETHER_INCOMING_NEW_STREAM = 5,
    /// The peer's hello continues the stream followed; an acknowledgement of `seq` (the last
    /// delivered) is due.
    TETHER_INCOMING_RESUMED = 6,
    /// The peer's hello continues the stream but no longer holds messages `expected .. seq - 1`,
    /// which can never be delivered (state restored from an old backup, or a misbehaving peer).
    /// Record an audit event. The receiver now expects `seq`; an acknowledgement is due.
    TETHER_INCOMING_SKIPPED = 7,
}

/// One frame's meaning, written by `tether_receiver_handle`. Fields a kind does not use are 0
/// (`message` NULL).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_incoming {
    /// What the frame meant.
    pub kind: tether_incoming_kind,
    /// MESSAGE: its sequence number; DUPLICATE, RESUMED: the acknowledgement due; GAP: the
    /// number that arrived; ACK: the number acknowledged; NEW_STREAM, SKIPPED: the number now
    /// expected.
    pub seq: u64,
    /// GAP, SKIPPED: the number that was expected.
    pub expected: u64,
    /// MESSAGE: the encoded application message, inside the frame passed in (valid as long as
    /// it is); else NULL.
    pub message: *const u8,
    /// MESSAGE: its length.
    pub message_len: usize,
    /// NEW_STREAM: the new stream's id.
    pub stream: [u8; 8],
    /// NEW_STREAM: the stream followed until now, if `has_previous`.
    pub previous: [u8; 8],
    /// NEW_STREAM: whether a stream was followed before.
    pub has_previous: bool,
    /// The persisted bytes to store with this frame's effect: for MESSAGE the state after it is
    /// delivered; for every other kind the state after this call (equal to `state->bytes`;
    /// storing it is optional, since the next message's `then` carries it).
    pub then: [u8; 16],
}

/// Rebuilds the core's receiver from the C state.
fn restore(st: &tether_receiver_state) -> Result<(Receiver, bool), tether_status> {
    let persisted =
        ReceiverState::from_bytes(&st.bytes).map_err(|_| TETHER_ERR_BAD_RECEIVER_STATE)?;
    if st.session & !(HELLO_SEEN | ACK_DUE) != 0 {
        return Err(TETHER_ERR_BAD_RECEIVER_STATE);
    }
    let progress = SessionProgress {
        hello: st.session & HELLO_SEEN != 0,
        ack_owed: st.session & ACK_DUE != 0,
    };
    let r = Receiver::resume(persisted, progress).map_err(|_| TETHER_ERR_BAD_RECEIVER_STATE)?;
    Ok((r, progress.hello))
}

/// The C state of a receiver.
fn save(r: &Receiver, hello: bool) -> tether_receiver_state {
    let mut session = 0;
    if hello {
        session |= HELLO_SEEN;
    }
    if r.ack_due() {
        session |= ACK_DUE;
    }
    tether_receiver_state {
        bytes: r.state().to_bytes(),
        session,
    }
}

/// A delivery frame that does not decode has its own status; everything else maps as usual.
fn rx_status(e: Error) -> tether_status {
    match e {
        Error::Malformed(_) => TETHER_ERR_BAD_FRAME,
        e => e.into(),
    }
}

/// Handles one frame from the peer (the plaintext of one opened record): decodes it, classifies
/// it against `*state` and writes what it meant to `*out`. Data never changes `*state` (only
/// `tether_receiver_delivered` does); a hello may (NEW_STREAM, SKIPPED) and marks the session as
/// started; a duplicate makes an acknowledgement due. `out->message` points into `frame`.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BAD_FRAME` (not a delivery frame: drop it),
/// `TETHER_ERR_UNEXPECTED_MESSAGE` (data before the peer's hello on this session),
/// `TETHER_ERR_BAD_RECEIVER_STATE`, `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (`out`, `state` and `frame` must not overlap). On error neither `*state`
/// nor `*out` is written.
///
/// # Safety
/// `state` NULL or a readable and writable `tether_receiver_state`; `frame` readable for
/// `frame_len` bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_receiver_handle(
    state: *mut tether_receiver_state,
    frame: *const u8,
    frame_len: usize,
    out: *mut tether_incoming,
) -> tether_status {
    boundary(|| {
        if state.is_null() || out.is_null() || (frame.is_null() && frame_len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(frame, frame_len)]) {
            return e;
        }
        let outputs = [Region::out(out), Region::out(state)];
        if let Err(e) = disjoint(&outputs, &[Region::of(frame, frame_len)]) {
            return e;
        }
        // SAFETY: checked non-NULL; copied out.
        let st = match unsafe { read(state) } {
            Ok(st) => st,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap the outputs.
        let frame = match unsafe { bytes(frame, frame_len) } {
            Ok(f) => f,
            Err(e) => return e,
        };
        let (mut r, hello) = match restore(&st) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let incoming = match r.handle(frame) {
            Ok(i) => i,
            Err(e) => return rx_status(e),
        };
        let after = save(
            &r,
            hello
                || matches!(
                    incoming,
                    Incoming::NewStream { .. }
                        | Incoming::Resumed { .. }
                        | Incoming::Skipped { .. }
                ),
        );
        let mut res = tether_incoming {
            kind: tether_incoming_kind::TETHER_INCOMING_ACK,
            seq: 0,
            expected: 0,
            message: core::ptr::null(),
            message_len: 0,
            stream: [0; 8],
            previous: [0; 8],
            has_previous: false,
            then: after.bytes,
        };
        use tether_incoming_kind::*;
        match incoming {
            Incoming::Message { seq, bytes, then } => {
                res.kind = TETHER_INCOMING_MESSAGE;
                res.seq = seq;
                res.message = bytes.as_ptr();
                res.message_len = bytes.len();
                res.then = then.to_bytes();
            }
            Incoming::Duplicate { ack } => {
                res.kind = TETHER_INCOMING_DUPLICATE;
                res.seq = ack;
            }
            Incoming::Gap { expected, got } => {
                res.kind = TETHER_INCOMING_GAP;
                res.seq = got;
                res.expected = expected;
            }
            Incoming::Ack(seq) => {
                res.kind = TETHER_INCOMING_ACK;
                res.seq = seq;
            }
            Incoming::NewStream {
                stream,
                first_seq,
                previous,
            } => {
                res.kind = TETHER_INCOMING_NEW_STREAM;
                res.seq = first_seq;
                res.stream = stream.0;
                if let Some(p) = previous {
                    res.previous = p.0;
                    res.has_previous = true;
                }
            }
            Incoming::Resumed { ack } => {
                res.kind = TETHER_INCOMING_RESUMED;
                res.seq = ack;
            }
            Incoming::Skipped {
                expected,
                first_seq,
            } => {
                res.kind = TETHER_INCOMING_SKIPPED;
                res.seq = first_seq;
                res.expected = expected;
            }
        }
        // SAFETY: checked non-NULL and not overlapping.
        unsafe {
            set(out, res);
            set(state, after);
        }
        TETHER_OK
    })
}

/// Shared body of the calls that may write one ack frame and update the state.
///
/// # Safety
/// As for `tether_receiver_delivered`.
unsafe fn ack_call(
    state: *mut tether_receiver_state,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    f: impl FnOnce(&mut Receiver, &mut [u8]) -> Result<Option<usize>, Error>,
) -> tether_status {
    if state.is_null() || written.is_null() || (out.is_null() && out_len != 0) {
        return TETHER_ERR_NULL;
    }
    if let Err(e) = lengths(&[(out, out_len)]) {
        return e;
    }
    let outputs = [
        Region::of(out, out_len),
        Region::out(written),
        Region::out(state),
    ];
    if let Err(e) = disjoint(&outputs, &[]) {
        return e;
    }
    // SAFETY: checked non-NULL; copied out.
    let st = match unsafe { read(state) } {
        Ok(st) => st,
        Err(e) => return e,
    };
    let (mut r, hello) = match restore(&st) {
        Ok(x) => x,
        Err(e) => return e,
    };
    // SAFETY: valid by contract; checked not to overlap.
    let out = match unsafe { bytes_mut(out, out_len) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    match f(&mut r, out) {
        Ok(n) => {
            // SAFETY: checked non-NULL and not overlapping.
            unsafe {
                set(written, n.unwrap_or(0));
                set(state, save(&r, hello));
            }
            TETHER_OK
        }
        Err(e @ Error::Local(tether::Local::BufferTooSmall { needed })) => {
            // SAFETY: checked non-NULL.
            unsafe { set(written, needed) };
            e.into()
        }
        Err(e) => rx_status(e),
    }
}

/// The application has applied message `seq` and durably stored the `then` bytes with its
/// effect: moves `*state` on to the next message and writes the acknowledgement to send into
/// `out` (`TETHER_DELIVERY_CONTROL_MAX` bytes always suffice).
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BAD_STATE` (`seq` is not the next expected number, or no
/// hello on this session; a second call for the same message lands here, which makes a double
/// application visible), `TETHER_ERR_BUFFER_TOO_SMALL` (the size needed in `*written`),
/// `TETHER_ERR_BAD_RECEIVER_STATE`, `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP`. On error `*state` is not written.
///
/// # Safety
/// `state` NULL or a readable and writable `tether_receiver_state`; `out` writable for `out_len`
/// bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_receiver_delivered(
    state: *mut tether_receiver_state,
    seq: u64,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe {
            ack_call(state, out, out_len, written, |r, out| {
                r.delivered(seq, out).map(Some)
            })
        }
    })
}

/// Writes the acknowledgement that is due (after a hello or a duplicate) into `out`, or stores 0
/// in `*written` when none is. Call it after each handled frame, or whenever idle, and send what
/// it writes.
///
/// Returns `TETHER_OK`, or the statuses of `tether_receiver_delivered` except
/// `TETHER_ERR_BAD_STATE`. On error `*state` is not written.
///
/// # Safety
/// As for `tether_receiver_delivered`.
#[no_mangle]
pub unsafe extern "C" fn tether_receiver_poll_ack(
    state: *mut tether_receiver_state,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe { ack_call(state, out, out_len, written, |r, out| r.poll_ack(out)) }
    })
}

/// A new session started: the peer must send its hello again before its data is accepted (its
/// stream may have changed meanwhile); no acknowledgement is due.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_BAD_RECEIVER_STATE` (`*state` is then
/// not written).
///
/// # Safety
/// `state` NULL or a readable and writable `tether_receiver_state`.
#[no_mangle]
pub unsafe extern "C" fn tether_receiver_reconnect(
    state: *mut tether_receiver_state,
) -> tether_status {
    boundary(|| {
        // SAFETY: checked non-NULL inside; copied out.
        let st = match unsafe { read(state) } {
            Ok(st) => st,
            Err(e) => return e,
        };
        let (mut r, _) = match restore(&st) {
            Ok(x) => x,
            Err(e) => return e,
        };
        r.on_reconnect();
        // SAFETY: checked non-NULL by `read`.
        unsafe { set(state, save(&r, false)) };
        TETHER_OK
    })
}
