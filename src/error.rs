//! One error type for the whole crate, grouped by cause.
//!
//! The groups tell the caller what to do: [`Error::Malformed`] and [`Error::Peer`] come from the
//! network and mean "drop this input (or this connection)"; [`Error::Link`] too, from the BLE link
//! layer below any authentication: drop the fragment; [`Error::Local`] is a bug or a resource
//! limit on this side; [`Error::Policy`] is a deliberate refusal of the peer.
//!
//! Peer-facing behaviour stays coarse: tether sends nothing to the peer when it rejects input, and
//! authentication failures are one variant whatever their cause (wrong key, tampered byte, forged
//! record), so the peer learns nothing from an error. The local variants are precise.

use core::fmt;

use crate::handshake::policy::Rejection;

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
    /// A therapy command that decoded but that this device must not act on.
    #[error("command rejected: {0}")]
    Command(CommandRejection),
    /// A firmware or companion-app update that decoded but must not be installed.
    #[error("update rejected: {0}")]
    Update(UpdateRejection),
    /// The outbox's storage failed, or holds something it did not write.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// A BLE fragment that does not fit the unit being reassembled (spec/LINK.md): drop it; the
    /// unit in progress is abandoned.
    #[error("link: {0}")]
    Link(LinkError),
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
    Policy(Rejection),
    Command(CommandRejection),
    Update(UpdateRejection),
    Storage(StorageError),
    Link(LinkError)
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
    /// An application message (spec/MESSAGES.md) that breaks the strict decoding rules; says
    /// which field and what was wrong with it.
    Message(Problem),
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
            Malformed::Message(p) => return write!(f, "message: {p}"),
        })
    }
}

/// What a strict message decoder found wrong, and where (spec/MESSAGES.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a dotted path of the names MESSAGES.md uses (for example
    /// `"vitals.readings"`).
    pub field: &'static str,
    /// What was wrong with it.
    pub kind: ProblemKind,
}

impl Problem {
    /// A problem of `kind` at `field`.
    pub const fn new(field: &'static str, kind: ProblemKind) -> Self {
        Problem { field, kind }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind)
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Malformed(Malformed::Message(p))
    }
}

/// The kinds of strict-decoding failure (spec/MESSAGES.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The input ended inside this field.
    Truncated,
    /// A CBOR major type or tag other than the one the field requires.
    WrongType,
    /// Not the preferred (shortest) encoding, or an indefinite length.
    NotCanonical,
    /// A byte or text string longer than the field's bound.
    TooLong,
    /// An array or map with more entries than the field's bound.
    TooMany,
    /// A value outside the field's range (or an unknown code where only known codes are allowed).
    OutOfRange,
    /// A required field is absent.
    Missing,
    /// A map key that appears twice, or keys out of ascending order.
    Order,
    /// An unknown critical (negative) map key.
    UnknownCritical,
    /// Bytes after the end of the message.
    TrailingBytes,
    /// Text that is not valid UTF-8.
    Utf8,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Truncated => "truncated",
            ProblemKind::WrongType => "wrong CBOR type",
            ProblemKind::NotCanonical => "not the preferred encoding",
            ProblemKind::TooLong => "too long",
            ProblemKind::TooMany => "too many entries",
            ProblemKind::OutOfRange => "out of range",
            ProblemKind::Missing => "missing",
            ProblemKind::Order => "duplicate or out-of-order key",
            ProblemKind::UnknownCritical => "unknown critical field",
            ProblemKind::TrailingBytes => "trailing bytes",
            ProblemKind::Utf8 => "invalid UTF-8",
        })
    }
}

/// Why a device refuses a therapy command (spec/MESSAGES.md, commands). The numbers are the
/// reason codes its acknowledgement carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum CommandRejection {
    /// The COSE_Sign1 signature does not verify under the named authority's key.
    BadSignature = 1,
    /// The signing key is not one of this device's command authorities.
    UnknownAuthority = 2,
    /// Addressed to another device.
    WrongDevice = 3,
    /// Past its expiry time.
    Expired = 4,
    /// Issued in the future (beyond the allowed clock skew), or expiry before issue.
    NotYetValid = 5,
    /// The authority may not order this operation.
    OperationNotAllowed = 6,
    /// A parameter outside the range the authority may set, missing, or unknown.
    ParameterOutOfRange = 7,
    /// A command id not above the last one accepted: a replay or a reordered command.
    Replayed = 8,
    /// A signed payload that is not a valid command.
    Malformed = 9,
}

impl fmt::Display for CommandRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandRejection::BadSignature => "signature does not verify",
            CommandRejection::UnknownAuthority => "unknown command authority",
            CommandRejection::WrongDevice => "addressed to another device",
            CommandRejection::Expired => "expired",
            CommandRejection::NotYetValid => "not yet valid",
            CommandRejection::OperationNotAllowed => "operation not allowed for this authority",
            CommandRejection::ParameterOutOfRange => "parameter out of range",
            CommandRejection::Replayed => "command id not above the last accepted",
            CommandRejection::Malformed => "malformed command",
        })
    }
}

/// Why a device refuses an update (spec/MESSAGES.md, updates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum UpdateRejection {
    /// The manifest's signature does not verify under a trusted update key.
    BadSignature = 1,
    /// The signing key is not a trusted update authority.
    UnknownAuthority = 2,
    /// For another vendor or device class.
    WrongClass = 3,
    /// A sequence number not above the installed one: a rollback.
    Rollback = 4,
    /// The image is larger than the device can hold.
    TooLarge = 5,
    /// The image's SHA-256 digest is not the manifest's.
    DigestMismatch = 6,
    /// The image's length is not the manifest's, or a chunk lies outside it.
    SizeMismatch = 7,
    /// A chunk at an offset other than the next expected one.
    BadOffset = 8,
    /// A signed payload that is not a valid manifest.
    Malformed = 9,
}

impl fmt::Display for UpdateRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpdateRejection::BadSignature => "signature does not verify",
            UpdateRejection::UnknownAuthority => "unknown update authority",
            UpdateRejection::WrongClass => "for another vendor or class",
            UpdateRejection::Rollback => "sequence number not above the installed one",
            UpdateRejection::TooLarge => "image too large",
            UpdateRejection::DigestMismatch => "image digest mismatch",
            UpdateRejection::SizeMismatch => "image size mismatch",
            UpdateRejection::BadOffset => "chunk at an unexpected offset",
            UpdateRejection::Malformed => "malformed manifest",
        })
    }
}

/// The outbox's storage failed, or holds what the outbox did not write (spec/MESSAGES.md,
/// outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage implementation reported a failure (flash error, I/O error).
    Io,
    /// Every slot holds an unacknowledged message.
    Full,
    /// An entry or index that fails authentication: altered bytes, or sealed under another key.
    Tampered,
    /// An entry the index says exists is missing or cut short.
    Truncated,
    /// The storage is older than the monotonic nonce reservation says it must be.
    RolledBack,
    /// An authentic entry in the wrong slot or with the wrong sequence number.
    Reordered,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageError::Io => "storage I/O failed",
            StorageError::Full => "outbox full",
            StorageError::Tampered => "stored data fails authentication",
            StorageError::Truncated => "stored entry missing or truncated",
            StorageError::RolledBack => "storage rolled back",
            StorageError::Reordered => "stored entry in the wrong position",
        })
    }
}

/// Why the BLE link layer's reassembler refused a fragment (spec/LINK.md sections 5 and 6). After
/// any of them the fragment is dropped and the reassembler is idle, so the unit in progress, if
/// any, is lost; the delivery layer resends what it carried. Only the first failing check is
/// reported, in the order of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// Longer than the connection's ATT_MTU allows (`min(ATT_MTU - 3, 512)` bytes).
    TooLong,
    /// Shorter than its header: 2 bytes, or 4 for a START fragment.
    Truncated,
    /// A START fragment whose index is not 0.
    StartIndex,
    /// A START fragment declaring a unit length of 0, or above what this receiver accepts
    /// (`max_unit`) or what 256 fragments carry at its MTU.
    Oversized,
    /// A fragment that is not a START fragment while no unit is in progress: its unit's start
    /// was lost, or the unit was abandoned.
    NotStarted,
    /// A fragment numbered for another unit than the one in progress.
    WrongUnit,
    /// A fragment whose index is beyond the next one expected: a fragment was lost.
    Gap,
    /// A fragment whose index is below the next one expected: a duplicate or a late fragment.
    Duplicate,
    /// More bytes than the unit's declared length.
    Overrun,
    /// The unit ends short: an END fragment before the declared length, or a fragment of index
    /// 255 without END (none can follow it).
    Incomplete,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::TooLong => "fragment longer than the MTU allows",
            LinkError::Truncated => "fragment shorter than its header",
            LinkError::StartIndex => "START fragment with a non-zero index",
            LinkError::Oversized => "declared unit length zero or above the limit",
            LinkError::NotStarted => "fragment of no unit in progress",
            LinkError::WrongUnit => "fragment of another unit",
            LinkError::Gap => "fragment index beyond the next expected",
            LinkError::Duplicate => "fragment index below the next expected",
            LinkError::Overrun => "fragments longer than the declared unit length",
            LinkError::Incomplete => "unit ends before its declared length",
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
    /// The plaintext is larger than the session's `max_plaintext` (or a message or unit is
    /// larger than its layer carries).
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
    /// Too many pairing attempts failed in a row: the next one is allowed in `retry_in_ms`.
    RateLimited {
        /// Milliseconds until the next attempt is allowed.
        retry_in_ms: u64,
    },
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
            Local::RateLimited { retry_in_ms } => {
                write!(
                    f,
                    "too many failed pairing attempts: retry in {retry_in_ms} ms"
                )
            }
        }
    }
}
