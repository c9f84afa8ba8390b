//! Delivery frames: the plaintext of one application record (spec/MESSAGES.md 6.2).
//!
//! Three small CBOR arrays whose first element says what they are: data (a numbered message),
//! ack (a cumulative acknowledgement) and hello (the sender's stream and resume point). Decoding
//! is strict (the message layer's reader): preferred heads only, exact element counts, bounded
//! values checked before anything is read; it borrows the message from the input.

use crate::cbor::{encode_into, Reader};
use crate::delivery::{StreamId, MAX_MESSAGE, MAX_SEQ, STREAM_ID_LEN};
use crate::error::{Error, Local, Problem, ProblemKind};

/// Frame type numbers on the wire.
const DATA: u64 = 0;
const ACK: u64 = 1;
const HELLO: u64 = 2;

/// One delivery frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `[0, seq, message]`: one application message with its sequence number (1..=MAX_SEQ).
    Data {
        /// The message's number in its sender's stream.
        seq: u64,
        /// The encoded application message (at most [`MAX_MESSAGE`] bytes), opaque here.
        message: &'a [u8],
    },
    /// `[1, seq]`: every message numbered `seq` or lower has been delivered to the receiving
    /// application (0: none yet). Cumulative, so a lost ack is repaired by any later one.
    Ack {
        /// The highest sequence number delivered.
        seq: u64,
    },
    /// `[2, stream, first_seq]`: the first frame a sender sends on each session. Names its
    /// sequence space and the oldest message it still holds, so the receiver can tell a
    /// resumed stream from a new one.
    Hello {
        /// The sender's stream id.
        stream: StreamId,
        /// The oldest unacknowledged sequence number (or the next one to be assigned if none is
        /// unacknowledged); 1..=MAX_SEQ + 1.
        first_seq: u64,
    },
}

fn problem(field: &'static str, kind: ProblemKind) -> Error {
    Problem::new(field, kind).into()
}

impl<'a> Frame<'a> {
    /// Decodes one frame, borrowing a data frame's message from `bytes`. Anything that is not
    /// exactly one well-formed frame is an error naming the field, and nothing else happens.
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, Error> {
        let mut r = Reader::new(bytes);
        let count = r.array_len("frame", 3)?;
        if count == 0 {
            return Err(problem("frame.type", ProblemKind::Missing));
        }
        let kind = r.uint("frame.type")?;
        let frame = match kind {
            DATA => {
                need(count, 3, &["frame.seq", "frame.message"])?;
                let seq = r.uint_in("frame.seq", 1, MAX_SEQ)?;
                let message = r.bytes("frame.message", MAX_MESSAGE)?;
                Frame::Data { seq, message }
            }
            ACK => {
                need(count, 2, &["frame.seq"])?;
                let seq = r.uint_in("frame.seq", 0, MAX_SEQ)?;
                Frame::Ack { seq }
            }
            HELLO => {
                need(count, 3, &["frame.stream", "frame.first_seq"])?;
                let stream = StreamId(r.bytes_exact::<STREAM_ID_LEN>("frame.stream")?);
                let first_seq = r.uint_in("frame.first_seq", 1, MAX_SEQ + 1)?;
                Frame::Hello { stream, first_seq }
            }
            _ => return Err(problem("frame.type", ProblemKind::OutOfRange)),
        };
        r.finish("frame")?;
        Ok(frame)
    }

    /// Writes the frame into `out` and returns its length. Values the decoder would refuse are
    /// refused here too ([`Local::Config`] for a sequence number out of range,
    /// [`Local::PlaintextTooLarge`] for a message over [`MAX_MESSAGE`]), so a peer never
    /// receives a frame it must drop.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        match *self {
            Frame::Data { seq, message } => {
                if !(1..=MAX_SEQ).contains(&seq) {
                    return Err(Local::Config.into());
                }
                if message.len() > MAX_MESSAGE {
                    return Err(Local::PlaintextTooLarge.into());
                }
                encode_into(out, |e| {
                    e.array(3)?.u64(DATA)?.u64(seq)?.bytes(message)?;
                    Ok(())
                })
            }
            Frame::Ack { seq } => {
                if seq > MAX_SEQ {
                    return Err(Local::Config.into());
                }
                encode_into(out, |e| {
                    e.array(2)?.u64(ACK)?.u64(seq)?;
                    Ok(())
                })
            }
            Frame::Hello { stream, first_seq } => {
                if !(1..=MAX_SEQ + 1).contains(&first_seq) {
                    return Err(Local::Config.into());
                }
                encode_into(out, |e| {
                    e.array(3)?.u64(HELLO)?.bytes(&stream.0)?.u64(first_seq)?;
                    Ok(())
                })
            }
        }
    }
}

/// Checks an array's element count against the frame type's: too few names the first missing
/// field, too many is [`ProblemKind::TooMany`] on the frame.
fn need(count: usize, want: usize, fields: &[&'static str]) -> Result<(), Error> {
    if count > want {
        return Err(problem("frame", ProblemKind::TooMany));
    }
    if count < want {
        // count >= 1 (the type); fields lists the elements after it.
        let missing = fields.get(count - 1).copied().unwrap_or("frame");
        return Err(problem(missing, ProblemKind::Missing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn enc(f: &Frame<'_>) -> Vec<u8> {
        let mut buf = [0u8; crate::delivery::MAX_FRAME];
        let n = f.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn err(bytes: &[u8]) -> Problem {
        match Frame::decode(bytes) {
            Err(Error::Malformed(crate::error::Malformed::Message(p))) => p,
            other => panic!("expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn exact_bytes() {
        assert_eq!(
            enc(&Frame::Data {
                seq: 1,
                message: &[0xaa, 0xbb]
            }),
            [0x83, 0x00, 0x01, 0x42, 0xaa, 0xbb]
        );
        assert_eq!(enc(&Frame::Ack { seq: 0 }), [0x82, 0x01, 0x00]);
        assert_eq!(
            enc(&Frame::Ack { seq: 500 }),
            [0x82, 0x01, 0x19, 0x01, 0xf4]
        );
        assert_eq!(
            enc(&Frame::Hello {
                stream: StreamId([1, 2, 3, 4, 5, 6, 7, 8]),
                first_seq: 24
            }),
            [0x83, 0x02, 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 0x18, 0x18]
        );
    }

    #[test]
    fn largest_frame_fits_max_frame() {
        let msg = [7u8; MAX_MESSAGE];
        let f = Frame::Data {
            seq: MAX_SEQ,
            message: &msg,
        };
        assert_eq!(enc(&f).len(), crate::delivery::MAX_FRAME);
        let mut small = [0u8; 10];
        assert_eq!(
            f.encode(&mut small),
            Err(Local::BufferTooSmall {
                needed: crate::delivery::MAX_FRAME
            }
            .into())
        );
    }

    #[test]
    fn strict_decoding_names_the_field() {
        use ProblemKind::*;
        let cases: &[(&[u8], &str, ProblemKind)] = &[
            (&[], "frame", Truncated),
            (&[0x80], "frame.type", Missing),
            (&[0x84, 0, 1, 0x40, 0], "frame", TooMany),
            (&[0x81, 0x00], "frame.seq", Missing),
            (&[0x82, 0x00, 0x01], "frame.message", Missing),
            (&[0x83, 0x03, 0x01, 0x40], "frame.type", OutOfRange),
            (&[0x83, 0x20, 0x01, 0x40], "frame.type", WrongType),
            (&[0x83, 0x00, 0x00, 0x40], "frame.seq", OutOfRange),
            (&[0x83, 0x00, 0x18, 0x01, 0x40], "frame.seq", NotCanonical),
            (&[0x83, 0x00, 0x01, 0x60], "frame.message", WrongType),
            (&[0x83, 0x00, 0x01, 0x42, 0xaa], "frame.message", Truncated),
            (
                &[0x83, 0x00, 0x01, 0x5f, 0xff],
                "frame.message",
                NotCanonical,
            ),
            (&[0x83, 0x00, 0x01, 0x40, 0x00], "frame", TrailingBytes),
            (&[0x9f, 0x01, 0x00, 0xff], "frame", NotCanonical),
            (&[0x83, 0x01, 0x00, 0x00], "frame", TooMany),
            (&[0x82, 0x01, 0x21], "frame.seq", WrongType),
            (
                &[0x83, 0x02, 0x47, 1, 2, 3, 4, 5, 6, 7, 1],
                "frame.stream",
                OutOfRange,
            ),
            (
                &[0x83, 0x02, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1],
                "frame.stream",
                TooLong,
            ),
            (
                &[0x83, 0x02, 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 0],
                "frame.first_seq",
                OutOfRange,
            ),
            (
                &[0x82, 0x02, 0x48, 1, 2, 3, 4, 5, 6, 7, 8],
                "frame.first_seq",
                Missing,
            ),
        ];
        for (bytes, field, kind) in cases {
            assert_eq!(err(bytes), Problem::new(field, *kind), "{bytes:02x?}");
        }
        // A message longer than MAX_MESSAGE is refused from its head, before its bytes.
        assert_eq!(
            err(&[0x83, 0x00, 0x01, 0x59, 0x04, 0x01]),
            Problem::new("frame.message", TooLong)
        );
        // Ack above MAX_SEQ, hello first_seq above MAX_SEQ + 1.
        let mut ack = std::vec![0x82, 0x01, 0x1b];
        ack.extend_from_slice(&(MAX_SEQ + 1).to_be_bytes());
        assert_eq!(err(&ack), Problem::new("frame.seq", OutOfRange));
        let mut hello = std::vec![0x83, 0x02, 0x48, 0, 0, 0, 0, 0, 0, 0, 0, 0x1b];
        hello.extend_from_slice(&(MAX_SEQ + 1).to_be_bytes());
        assert!(Frame::decode(&hello).is_ok());
        hello.truncate(12);
        hello.extend_from_slice(&(MAX_SEQ + 2).to_be_bytes());
        assert_eq!(err(&hello), Problem::new("frame.first_seq", OutOfRange));
    }

    #[test]
    fn encode_refuses_what_decode_refuses() {
        let mut buf = [0u8; 64];
        assert_eq!(
            Frame::Data {
                seq: 0,
                message: &[]
            }
            .encode(&mut buf),
            Err(Local::Config.into())
        );
        let big = [0u8; MAX_MESSAGE + 1];
        assert_eq!(
            Frame::Data {
                seq: 1,
                message: &big
            }
            .encode(&mut buf),
            Err(Local::PlaintextTooLarge.into())
        );
        assert_eq!(
            Frame::Ack { seq: MAX_SEQ + 1 }.encode(&mut buf),
            Err(Local::Config.into())
        );
        assert_eq!(
            Frame::Hello {
                stream: StreamId([0; 8]),
                first_seq: 0
            }
            .encode(&mut buf),
            Err(Local::Config.into())
        );
    }

    fn any_frame() -> impl Strategy<Value = (u8, u64, Vec<u8>, [u8; 8])> {
        (
            0u8..3,
            prop_oneof![0u64..30, 0u64..=MAX_SEQ + 1],
            proptest::collection::vec(any::<u8>(), 0..=MAX_MESSAGE),
            any::<[u8; 8]>(),
        )
    }

    proptest! {
        #[test]
        fn round_trip((t, seq, msg, stream) in any_frame()) {
            let f = match t {
                0 => Frame::Data { seq: seq.clamp(1, MAX_SEQ), message: &msg },
                1 => Frame::Ack { seq: seq.min(MAX_SEQ) },
                _ => Frame::Hello { stream: StreamId(stream), first_seq: seq.max(1) },
            };
            let bytes = enc(&f);
            prop_assert_eq!(Frame::decode(&bytes), Ok(f));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = Frame::decode(&bytes) {
                // Whatever decodes re-encodes to the same bytes (one encoding per frame).
                prop_assert_eq!(enc(&f), bytes);
            }
        }
    }
}
