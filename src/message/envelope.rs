//! The envelope every application message travels in: `[kind, body]` (spec/MESSAGES.md 3).
//!
//! The kind comes first so a receiver can route a message (or refuse one it does not know)
//! before decoding its body; the body is the CBOR item defined for that kind.

use crate::cbor::{encode_into, Enc, EncResult, Reader};
use crate::error::{Error, Problem, ProblemKind};

/// What an application message is. The numbers are on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Kind {
    /// A batch of vital-sign observations ([`crate::message::vitals`]).
    Vitals = 1,
    /// Device usage events ([`crate::message::usage`]).
    Usage = 2,
    /// A diagnostics report ([`crate::message::diagnostics`]).
    Diagnostics = 3,
    /// Security events for the audit trail ([`crate::message::security_event`]).
    SecurityEvents = 4,
    /// A signed therapy command (COSE_Sign1, [`crate::message::command`]).
    Command = 16,
    /// A device's acknowledgement of a command.
    CommandAck = 17,
    /// A signed firmware manifest (COSE_Sign1, [`crate::message::update`]).
    FirmwareManifest = 32,
    /// One chunk of a firmware image.
    ImageChunk = 33,
    /// A device's report on an update in progress.
    UpdateStatus = 34,
    /// A signed companion-app update notice (COSE_Sign1).
    AppUpdateNotice = 35,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 10] = [
        Kind::Vitals,
        Kind::Usage,
        Kind::Diagnostics,
        Kind::SecurityEvents,
        Kind::Command,
        Kind::CommandAck,
        Kind::FirmwareManifest,
        Kind::ImageChunk,
        Kind::UpdateStatus,
        Kind::AppUpdateNotice,
    ];

    /// The kind with wire number `n`, if any.
    pub fn from_u64(n: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u64 == n)
    }
}

/// An application message split into its kind and its body's bytes (borrowed, not yet decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// What the body is.
    pub kind: Kind,
    /// The body's CBOR item: pass it to the kind's decoder.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Splits an encoded message. Fails on anything but a two-element array whose first element
    /// is a known kind; the body is checked by the kind's own decoder.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        r.array_exact("message", 2)?;
        let n = r.uint("message.kind")?;
        let kind =
            Kind::from_u64(n).ok_or(Problem::new("message.kind", ProblemKind::OutOfRange))?;
        let start = r.position();
        let body = bytes.get(start..).unwrap_or(&[]);
        if body.is_empty() {
            return Err(Problem::new("message.body", ProblemKind::Truncated).into());
        }
        Ok(Message { kind, body })
    }
}

/// Writes `[kind, body]` into `out` with `body` writing the body's single CBOR item.
pub(crate) fn encode_message<F>(kind: Kind, out: &mut [u8], body: F) -> Result<usize, Error>
where
    F: Fn(&mut Enc<'_>) -> EncResult,
{
    encode_into(out, |e| {
        e.array(2)?.u8(kind as u8)?;
        body(e)
    })
}

/// Checks that `bytes` is a message of `kind` and returns a reader over its body.
pub(crate) fn open_message(bytes: &[u8], kind: Kind) -> Result<Reader<'_>, Error> {
    let m = Message::parse(bytes)?;
    if m.kind != kind {
        return Err(Problem::new("message.kind", ProblemKind::OutOfRange).into());
    }
    Ok(Reader::new(m.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_is_refused() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_u64(k as u64), Some(k));
        }
        assert_eq!(Kind::from_u64(0), None);
        let mut buf = [0u8; 8];
        let n = encode_message(Kind::Usage, &mut buf, |e| e.u8(7).map(|_| ())).unwrap();
        assert_eq!(&buf[..n], &[0x82, 0x02, 0x07]);
        let m = Message::parse(&buf[..n]).unwrap();
        assert_eq!((m.kind, m.body), (Kind::Usage, &[0x07][..]));
        assert_eq!(
            Message::parse(&[0x82, 0x05, 0x07]),
            Err(Problem::new("message.kind", ProblemKind::OutOfRange).into())
        );
        assert!(Message::parse(&[0x82, 0x02]).is_err());
        assert!(open_message(&buf[..n], Kind::Vitals).is_err());
    }
}
