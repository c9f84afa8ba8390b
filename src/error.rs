//! One error type for the whole crate, grouped by cause.
//!
//! The groups tell the caller what to do: [`Error::Malformed`] and [`Error::Peer`] come from the
//! network and mean "drop this input (or this connection)"; [`Error::Local`] is a bug or a resource
//! limit on this side; [`Error::Policy`] is a deliberate refusal of the peer.
//!
//! Peer-facing behaviour stays coarse: tether sends nothing to the peer when it rejects input, and
//! authentication failures are one variant whatever their cause (wrong key, tampered byte, forged
//! record), so the peer learns nothing from an error. The local variants are precise.

use core::fmt;

use crate::policy::Rejection;

/// Everything that can go wrong in tether.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that does not parse: truncated, oversized, unknown version or type, bad CBOR.
    #[error("malformed input: {0}")]
    Malformed(Malformed),
    /// Input that parses but that the peer must not have sent: failed authentication, replay,
    /// out-of-order record on a stream, data after close.
    #[error("peer misbehaved: {0}")]
    Peer(PeerError),
    /// Misuse or resource limits on this side: a small buffer, a call in the wrong state, a
    /// usage limit reached, a failing entropy source.
    #[error("local error: {0}")]
    Local(Local),
    /// The trust policy refused the peer.
    #[error("rejected by trust policy: {0}")]
    Policy(Rejection),
}

macro_rules! from_group {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}
from_group!(
    Malformed(Malformed),
    Peer(PeerError),
    Local(Local),
    Policy(Rejection)
);

/// Input that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Fewer bytes than the format requires.
    Truncated,
    /// A length beyond the configured or protocol maximum.
    Oversized,
    /// An unknown protocol version.
    Version,
    /// An unknown message kind, record type, suite or pattern identifier, or a reserved bit set.
    UnknownType,
    /// A length field that disagrees with the data that follows it.
    Length,
    /// A handshake payload that is not the expected canonical CBOR.
    Cbor,
    /// A pairing code that does not decode.
    PairingCode,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::Truncated => "truncated",
            Malformed::Oversized => "oversized",
            Malformed::Version => "unsupported protocol version",
            Malformed::UnknownType => "unknown type or reserved bits set",
            Malformed::Length => "inconsistent length",
            Malformed::Cbor => "invalid CBOR payload",
            Malformed::PairingCode => "invalid pairing code",
        })
    }
}

/// Input that parses but breaks the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// A handshake message or record failed authentication (tampered, forged, or keyed
    /// differently). Deliberately one variant whatever the cause.
    Authentication,
    /// A record whose counter was already accepted.
    Replayed,
    /// A record older than the replay window, or from an epoch whose key is gone.
    TooOld,
    /// A record from an epoch too far ahead to derive, or a key update that skips epochs on a
    /// stream.
    Epoch,
    /// On a stream, a record whose counter is not the next one: a record was lost, reordered or
    /// injected.
    OutOfOrder,
    /// A record after the peer closed the session.
    AfterClose,
    /// The peer's records passed the protocol's hard counter limit.
    CounterExhausted,
    /// A handshake message that is valid Noise but not what this step expects (for example an
    /// identity payload where none belongs).
    UnexpectedMessage,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerError::Authentication => "authentication failed",
            PeerError::Replayed => "replayed record",
            PeerError::TooOld => "record older than the replay window",
            PeerError::Epoch => "record from an unexpected key epoch",
            PeerError::OutOfOrder => "record out of order on a stream",
            PeerError::AfterClose => "record after close",
            PeerError::CounterExhausted => "record counter exhausted",
            PeerError::UnexpectedMessage => "unexpected handshake message",
        })
    }
}

/// Misuse or resource limits on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Local {
    /// The output buffer is too small; nothing was written. `needed` is the size that suffices.
    BufferTooSmall {
        /// Bytes the output buffer must hold.
        needed: usize,
    },
    /// The call does not fit the current state (for example writing when it is the peer's turn,
    /// or sealing after close).
    WrongState,
    /// The plaintext is larger than the session's `max_plaintext`.
    PlaintextTooLarge,
    /// The sending counter or epoch reached its hard limit: the session must be replaced by a new
    /// handshake. tether refuses to send rather than reuse a nonce.
    LimitReached,
    /// A configuration value is out of range.
    Config,
    /// The pattern or suite is not enabled in this build or not allowed by the configuration.
    NotAllowed,
    /// The caller's entropy source failed.
    Entropy,
    /// A key of the wrong form (for example an all-zero or low-order public key).
    BadKey,
    /// An error inside the Noise implementation that is not attributable to the peer.
    Noise,
}

impl fmt::Display for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Local::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Local::WrongState => f.write_str("call not valid in the current state"),
            Local::PlaintextTooLarge => f.write_str("plaintext larger than max_plaintext"),
            Local::LimitReached => f.write_str("usage limit reached: start a new handshake"),
            Local::Config => f.write_str("configuration value out of range"),
            Local::NotAllowed => f.write_str("pattern or suite not enabled or not allowed"),
            Local::Entropy => f.write_str("entropy source failed"),
            Local::BadKey => f.write_str("invalid key"),
            Local::Noise => f.write_str("internal Noise error"),
        }
    }
}
