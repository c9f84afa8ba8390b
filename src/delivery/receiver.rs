//! The receiving half: in-order, exactly-once delivery with O(1) state
//! (spec/MESSAGES.md 6.3).
//!
//! The whole state is a stream id and the next expected sequence number ([`ReceiverState`]).
//! A data frame with exactly that number is handed to the application; a lower one is a
//! duplicate (acknowledged again, not delivered); a higher one is a gap and is dropped, because
//! the sender resends everything from its oldest unacknowledged message. Keeping out-of-order
//! messages would need a buffer and a bitmap per stream that the application would have to
//! persist atomically too; dropping them keeps the persisted state at 16 bytes.

use crate::delivery::frame::Frame;
use crate::delivery::{StreamId, MAX_SEQ, STREAM_ID_LEN};
use crate::error::{Error, Local, PeerError, Problem, ProblemKind};

/// What a receiver must remember between sessions and across reboots: whose stream it follows
/// and the next sequence number it expects.
///
/// The application stores this **in the same atomic write as the effect of the message it was
/// advanced for** (for example in the same database transaction as a reading). That is what
/// makes delivery exactly once across a reboot: either the effect and the new state are both
/// kept, and the resent message is a duplicate, or neither is, and it is delivered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverState {
    /// The stream being followed; `None` until the first hello.
    pub stream: Option<StreamId>,
    /// The next sequence number to deliver (1..=MAX_SEQ + 1); every lower one was delivered.
    pub next: u64,
}

impl Default for ReceiverState {
    fn default() -> Self {
        Self::NEW
    }
}

/// Length of [`ReceiverState::to_bytes`].
pub const RECEIVER_STATE_LEN: usize = STREAM_ID_LEN + 8;

impl ReceiverState {
    /// A receiver that has never heard from its peer.
    pub const NEW: ReceiverState = ReceiverState {
        stream: None,
        next: 1,
    };

    /// A fixed 16-byte form for firmware that persists the state in a flash record: stream id
    /// then `next` (u64 big-endian); 16 zero bytes for a receiver with no stream yet.
    pub fn to_bytes(&self) -> [u8; RECEIVER_STATE_LEN] {
        let mut out = [0u8; RECEIVER_STATE_LEN];
        if let Some(stream) = self.stream {
            let (s, n) = out.split_at_mut(STREAM_ID_LEN);
            s.copy_from_slice(&stream.0);
            n.copy_from_slice(&self.next.to_be_bytes());
        }
        out
    }

    /// Reads [`ReceiverState::to_bytes`] back, refusing a `next` out of range, so corrupted
    /// storage is reported rather than followed.
    pub fn from_bytes(bytes: &[u8; RECEIVER_STATE_LEN]) -> Result<Self, Error> {
        let (s, n) = bytes.split_at(STREAM_ID_LEN);
        let mut next = [0u8; 8];
        next.copy_from_slice(n);
        let next = u64::from_be_bytes(next);
        let mut stream = [0u8; STREAM_ID_LEN];
        stream.copy_from_slice(s);
        if next == 0 {
            if stream != [0u8; STREAM_ID_LEN] {
                return Err(Problem::new("receiver_state.next", ProblemKind::OutOfRange).into());
            }
            return Ok(Self::NEW);
        }
        if next > MAX_SEQ + 1 {
            return Err(Problem::new("receiver_state.next", ProblemKind::OutOfRange).into());
        }
        Ok(ReceiverState {
            stream: Some(StreamId(stream)),
            next,
        })
    }
}

/// What one incoming frame means for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// The next message in order. Apply it, store `then` in the same atomic write, and only then
    /// call [`Receiver::delivered`] (which writes the acknowledgement to send).
    Message {
        /// Its sequence number.
        seq: u64,
        /// The encoded application message, borrowed from the frame.
        bytes: &'a [u8],
        /// The receiver state to persist together with the message's effect.
        then: ReceiverState,
    },
    /// A message already delivered (its acknowledgement was lost). Not for the application; an
    /// acknowledgement is due ([`Receiver::poll_ack`]).
    Duplicate {
        /// The acknowledgement that is due.
        ack: u64,
    },
    /// A message beyond the next expected one (an earlier one was lost or reordered). Dropped:
    /// the sender resends from its oldest unacknowledged message.
    Gap {
        /// The sequence number expected.
        expected: u64,
        /// The one that arrived.
        got: u64,
    },
    /// The peer acknowledged our messages up to this number: pass it to the local sender
    /// ([`crate::delivery::Sender::on_ack`]; an [`crate::delivery::Endpoint`] does it for you).
    Ack(u64),
    /// The peer's hello names a stream this receiver has not followed: a first contact, or a
    /// peer whose outbox was created again (factory reset, or reset after an attack). Record it
    /// as an audit event. The receiver now expects `first_seq`; an acknowledgement is due.
    NewStream {
        /// The new stream.
        stream: StreamId,
        /// Where it starts.
        first_seq: u64,
        /// The stream followed until now, if any.
        previous: Option<StreamId>,
    },
    /// The peer's hello continues the stream this receiver follows; an acknowledgement (the
    /// resume point) is due.
    Resumed {
        /// The acknowledgement that is due: the last sequence number delivered.
        ack: u64,
    },
    /// The peer's hello continues the known stream but no longer holds messages this receiver
    /// has not delivered: the peer saw an acknowledgement it should not have, or this
    /// receiver's state was restored from an old backup. Messages `expected..first_seq` cannot
    /// be delivered; record it as an audit event. The receiver now expects `first_seq`.
    Skipped {
        /// The sequence number that was expected.
        expected: u64,
        /// The oldest one the sender still holds, now expected.
        first_seq: u64,
    },
}

/// How far the current session has come (see [`Receiver::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionProgress {
    /// The peer's hello arrived on this session.
    pub hello: bool,
    /// An acknowledgement of the last delivered message should be sent.
    pub ack_owed: bool,
}

/// The receiving half of delivery over one session at a time.
#[derive(Debug, Clone)]
pub struct Receiver {
    state: ReceiverState,
    /// The peer's hello arrived on this session.
    hello: bool,
    /// An acknowledgement of `state.next - 1` should be sent.
    ack_owed: bool,
}

impl Receiver {
    /// Starts from the state the application persisted ([`ReceiverState::NEW`] the first time),
    /// at the start of a session.
    pub fn new(state: ReceiverState) -> Self {
        Receiver {
            state,
            hello: false,
            ack_owed: false,
        }
    }

    /// The current state (what the application last persisted, moved on by hellos).
    pub fn state(&self) -> ReceiverState {
        self.state
    }

    /// Where this session stands: whether the peer's hello arrived, and whether an
    /// acknowledgement is owed. Never persisted (a new session starts from nothing); a binding
    /// that keeps the receiver in its caller's memory between calls (the C ABI) saves it here and
    /// restores it with [`Receiver::resume`].
    pub fn progress(&self) -> SessionProgress {
        SessionProgress {
            hello: self.hello,
            ack_owed: self.ack_owed,
        }
    }

    /// A receiver in the middle of a session, from its persisted state and the progress
    /// [`Receiver::progress`] reported. Progress that no session can reach (an acknowledgement
    /// owed before the peer's hello, or a hello without a stream) is [`Local::WrongState`].
    pub fn resume(state: ReceiverState, progress: SessionProgress) -> Result<Self, Error> {
        if (progress.ack_owed && !progress.hello) || (progress.hello && state.stream.is_none()) {
            return Err(Local::WrongState.into());
        }
        Ok(Receiver {
            state,
            hello: progress.hello,
            ack_owed: progress.ack_owed,
        })
    }

    /// A new session: the peer must send its hello again before any data is accepted (its
    /// stream may have changed while it was away).
    pub fn on_reconnect(&mut self) {
        self.hello = false;
        self.ack_owed = false;
    }

    /// Decodes and classifies one frame. A frame that does not decode, or data before the
    /// peer's hello on this session ([`PeerError::UnexpectedMessage`]), is an error and changes
    /// nothing. Data never changes the state: only [`Receiver::delivered`] does.
    pub fn handle<'a>(&mut self, frame: &'a [u8]) -> Result<Incoming<'a>, Error> {
        match Frame::decode(frame)? {
            Frame::Data { seq, message } => {
                if !self.hello {
                    return Err(PeerError::UnexpectedMessage.into());
                }
                let next = self.state.next;
                if seq < next {
                    self.ack_owed = true;
                    Ok(Incoming::Duplicate { ack: next - 1 })
                } else if seq > next {
                    Ok(Incoming::Gap {
                        expected: next,
                        got: seq,
                    })
                } else {
                    Ok(Incoming::Message {
                        seq,
                        bytes: message,
                        then: ReceiverState {
                            stream: self.state.stream,
                            next: seq + 1,
                        },
                    })
                }
            }
            Frame::Ack { seq } => Ok(Incoming::Ack(seq)),
            Frame::Hello { stream, first_seq } => {
                self.hello = true;
                self.ack_owed = true;
                let previous = self.state.stream;
                if previous != Some(stream) {
                    self.state = ReceiverState {
                        stream: Some(stream),
                        next: first_seq,
                    };
                    Ok(Incoming::NewStream {
                        stream,
                        first_seq,
                        previous,
                    })
                } else if first_seq > self.state.next {
                    let expected = self.state.next;
                    self.state.next = first_seq;
                    Ok(Incoming::Skipped {
                        expected,
                        first_seq,
                    })
                } else {
                    Ok(Incoming::Resumed {
                        ack: self.state.next - 1,
                    })
                }
            }
        }
    }

    /// The application has durably applied message `seq` (and stored the `then` state with it):
    /// moves on and writes the acknowledgement to send into `out`. Anything but the next
    /// expected number on a session with a hello is [`Local::WrongState`] and changes nothing;
    /// so is a second call for the same message, which makes a double application visible.
    pub fn delivered(&mut self, seq: u64, out: &mut [u8]) -> Result<usize, Error> {
        if !self.hello || seq != self.state.next || seq > MAX_SEQ {
            return Err(Local::WrongState.into());
        }
        let len = Frame::Ack { seq }.encode(out)?;
        self.state.next = seq + 1;
        self.ack_owed = false;
        Ok(len)
    }

    /// Whether an acknowledgement is due (after a hello or a duplicate).
    pub fn ack_due(&self) -> bool {
        self.ack_owed
    }

    /// Writes the acknowledgement that is due, if one is: `[1, next - 1]`.
    pub fn poll_ack(&mut self, out: &mut [u8]) -> Result<Option<usize>, Error> {
        if !self.ack_owed {
            return Ok(None);
        }
        let len = Frame::Ack {
            seq: self.state.next.saturating_sub(1),
        }
        .encode(out)?;
        self.ack_owed = false;
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const S1: StreamId = StreamId([1; 8]);
    const S2: StreamId = StreamId([2; 8]);

    fn f(frame: Frame<'_>) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = frame.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    }
    fn data(seq: u64, m: &[u8]) -> Vec<u8> {
        f(Frame::Data { seq, message: m })
    }
    fn hello(stream: StreamId, first_seq: u64) -> Vec<u8> {
        f(Frame::Hello { stream, first_seq })
    }

    #[test]
    fn progress_survives_a_save_and_resume() {
        let mut r = Receiver::new(ReceiverState::NEW);
        assert_eq!(r.progress(), SessionProgress::default());
        r.handle(&hello(S1, 1)).unwrap();
        let p = r.progress();
        assert_eq!(
            p,
            SessionProgress {
                hello: true,
                ack_owed: true
            }
        );
        // Resumed from its parts, the receiver behaves as the original: data is accepted and
        // the owed acknowledgement is still due.
        let mut again = Receiver::resume(r.state(), p).unwrap();
        assert!(matches!(
            again.handle(&data(1, b"a")),
            Ok(Incoming::Message { seq: 1, .. })
        ));
        let mut out = [0u8; 16];
        assert_eq!(again.poll_ack(&mut out), Ok(Some(3)));
        // Without the hello, the same data is refused; impossible progress is refused.
        let mut fresh = Receiver::resume(r.state(), SessionProgress::default()).unwrap();
        assert_eq!(
            fresh.handle(&data(1, b"a")),
            Err(PeerError::UnexpectedMessage.into())
        );
        let owed_without_hello = SessionProgress {
            hello: false,
            ack_owed: true,
        };
        assert!(Receiver::resume(r.state(), owed_without_hello).is_err());
        let hello_without_stream = SessionProgress {
            hello: true,
            ack_owed: false,
        };
        assert!(Receiver::resume(ReceiverState::NEW, hello_without_stream).is_err());
    }

    #[test]
    fn in_order_duplicate_gap() {
        let mut r = Receiver::new(ReceiverState::NEW);
        // Data before hello is refused and changes nothing.
        assert_eq!(
            r.handle(&data(1, b"a")),
            Err(PeerError::UnexpectedMessage.into())
        );
        assert_eq!(
            r.handle(&hello(S1, 1)),
            Ok(Incoming::NewStream {
                stream: S1,
                first_seq: 1,
                previous: None
            })
        );
        let mut out = [0u8; 16];
        assert_eq!(r.poll_ack(&mut out), Ok(Some(3)));
        assert_eq!(&out[..3], &[0x82, 0x01, 0x00]);
        assert_eq!(r.poll_ack(&mut out), Ok(None));

        let d1 = data(1, b"a");
        let then = ReceiverState {
            stream: Some(S1),
            next: 2,
        };
        assert_eq!(
            r.handle(&d1),
            Ok(Incoming::Message {
                seq: 1,
                bytes: b"a",
                then
            })
        );
        // Not yet delivered: a second copy is the same message again (the app's atomic write of
        // `then` is what refuses the double effect; delivered() refuses the second call).
        assert!(matches!(
            r.handle(&d1),
            Ok(Incoming::Message { seq: 1, .. })
        ));
        assert_eq!(
            r.handle(&data(3, b"c")),
            Ok(Incoming::Gap {
                expected: 1,
                got: 3
            })
        );
        assert_eq!(r.delivered(1, &mut out), Ok(3));
        assert_eq!(&out[..3], &[0x82, 0x01, 0x01]);
        assert_eq!(r.state(), then);
        assert_eq!(r.delivered(1, &mut out), Err(Local::WrongState.into()));
        assert_eq!(r.delivered(3, &mut out), Err(Local::WrongState.into()));
        assert_eq!(r.handle(&d1), Ok(Incoming::Duplicate { ack: 1 }));
        assert!(r.ack_due());
        assert_eq!(r.handle(&f(Frame::Ack { seq: 9 })), Ok(Incoming::Ack(9)));
        // Garbage changes nothing.
        assert!(r.handle(&[0x83, 0x00]).is_err());
        assert_eq!(r.state(), then);
    }

    #[test]
    fn delivered_with_small_buffer_changes_nothing() {
        let mut r = Receiver::new(ReceiverState::NEW);
        r.handle(&hello(S1, 1)).unwrap();
        let mut tiny = [0u8; 1];
        assert!(r.delivered(1, &mut tiny).is_err());
        assert_eq!(r.state().next, 1);
    }

    #[test]
    fn hellos_resume_skip_or_start_a_stream() {
        let st = ReceiverState {
            stream: Some(S1),
            next: 5,
        };
        let mut r = Receiver::new(st);
        assert_eq!(r.handle(&hello(S1, 3)), Ok(Incoming::Resumed { ack: 4 }));
        assert_eq!(r.state(), st);
        r.on_reconnect();
        assert_eq!(
            r.handle(&data(5, b"x")),
            Err(PeerError::UnexpectedMessage.into())
        );
        assert_eq!(r.handle(&hello(S1, 5)), Ok(Incoming::Resumed { ack: 4 }));
        assert_eq!(
            r.handle(&hello(S1, 8)),
            Ok(Incoming::Skipped {
                expected: 5,
                first_seq: 8
            })
        );
        assert_eq!(r.state().next, 8);
        assert_eq!(
            r.handle(&hello(S2, 1)),
            Ok(Incoming::NewStream {
                stream: S2,
                first_seq: 1,
                previous: Some(S1)
            })
        );
        assert_eq!(
            r.state(),
            ReceiverState {
                stream: Some(S2),
                next: 1
            }
        );
        // Message 5 of the old stream is not a duplicate of anything in the new one.
        assert_eq!(
            r.handle(&data(5, b"x")),
            Ok(Incoming::Gap {
                expected: 1,
                got: 5
            })
        );
    }

    #[test]
    fn state_bytes_round_trip_and_refuse_garbage() {
        for st in [
            ReceiverState::NEW,
            ReceiverState {
                stream: Some(S1),
                next: 1,
            },
            ReceiverState {
                stream: Some(S2),
                next: MAX_SEQ + 1,
            },
        ] {
            assert_eq!(ReceiverState::from_bytes(&st.to_bytes()), Ok(st));
        }
        assert_eq!(ReceiverState::NEW.to_bytes(), [0u8; 16]);
        let mut bad = [0u8; 16];
        bad[0] = 1;
        assert!(ReceiverState::from_bytes(&bad).is_err());
        let mut bad = [0xffu8; 16];
        bad[8] = 0x80;
        assert!(ReceiverState::from_bytes(&bad).is_err());
    }
}
