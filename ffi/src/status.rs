//! Status codes: 0 is success, every error is non-zero, numbers are never reused.

use tether::link::LinkError;
use tether::policy::Rejection;
use tether::{CommandRejection, Error, Local, Malformed, PeerError, UpdateRejection};

/// The result of every fallible call. `TETHER_OK` (0) is the only success; every other value is
/// an error with its own number, never reused for anything else. Retired numbers stay listed
/// here as comments. `tether_strerror` describes each one.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tether_status {
    /// Success.
    TETHER_OK = 0,
    // Local: misuse and limits on this side (1..=19).
    /// A required pointer was NULL.
    TETHER_ERR_NULL = 1,
    /// The output buffer is too small; nothing was written and the size needed was stored.
    TETHER_ERR_BUFFER_TOO_SMALL = 2,
    /// The call does not fit the object's state: not initialized, wiped, wrong turn or order.
    TETHER_ERR_BAD_STATE = 3,
    /// A configuration value is out of range.
    TETHER_ERR_BAD_CONFIG = 4,
    /// The suite or pattern is not enabled in this build or not allowed by the configuration.
    TETHER_ERR_NOT_ALLOWED = 5,
    /// The platform's entropy callback failed or is missing.
    TETHER_ERR_ENTROPY = 6,
    /// A usage limit (record counter, key epochs) is reached: start a new handshake.
    TETHER_ERR_LIMIT_REACHED = 7,
    /// The plaintext is larger than the session's maximum.
    TETHER_ERR_PLAINTEXT_TOO_LARGE = 8,
    /// A key of the wrong form.
    TETHER_ERR_BAD_KEY = 9,
    /// The handle was copied or moved after it was set up (with `memcpy` or by assignment): use
    /// the storage that was initialized. Nothing changed; wiping the copy zeroes it without
    /// touching the original.
    TETHER_ERR_COPIED = 10,
    /// The handle's storage is not aligned to its `TETHER_*_ALIGN`.
    TETHER_ERR_MISALIGNED = 11,
    /// An output overlaps an input, another output or the handle's own storage.
    TETHER_ERR_OVERLAP = 12,
    /// The handle is already in a call: a platform callback called back into it, or two threads
    /// use it at once. Nothing changed.
    TETHER_ERR_BUSY = 13,
    /// A length above `PTRDIFF_MAX`, or one that runs past the end of the address space.
    TETHER_ERR_BAD_LENGTH = 14,
    // 15 stays unused (test_tether.c checks it as a non-status).
    /// The caller's image read callback failed (`tether_image_check`): read the image again
    /// later; nothing about the update changed.
    TETHER_ERR_IO = 16,
    /// Too many short-code pairing attempts failed in a row (spec/PROTOCOL.md 4.7.2): the device
    /// refuses the next one until its wait is over (`tether_code_pairing_respond` stores how long
    /// in `*retry_in_ms`). Nothing changed: no attempt counted, the code kept, nothing sent.
    TETHER_ERR_RATE_LIMITED = 17,
    /// A relay table has a route for every uplink index it holds: the unit is not relayed and
    /// nothing changed. Remove the routes of a device that is gone
    /// (`tether_relay_table_remove_link`), or make the table larger.
    TETHER_ERR_RELAY_FULL = 18,
    // Malformed input (20..=39).
    /// Input shorter than its format requires.
    TETHER_ERR_TRUNCATED = 20,
    /// Input longer than allowed.
    TETHER_ERR_OVERSIZED = 21,
    /// Unknown protocol version.
    TETHER_ERR_VERSION = 22,
    /// Unknown message kind, record type, suite or pattern, or reserved bits set.
    TETHER_ERR_UNKNOWN_TYPE = 23,
    /// A length field disagrees with the data.
    TETHER_ERR_LENGTH = 24,
    /// Invalid CBOR identity payload.
    TETHER_ERR_CBOR = 25,
    /// Invalid pairing code text.
    TETHER_ERR_PAIRING_CODE = 26,
    // 27 stays unused (test_tether.c checks it as a non-status).
    /// A malformed application message (spec/MESSAGES.md): not the strict CBOR its kind
    /// requires, an unknown kind or a value out of range. For a command the acknowledgement
    /// reason is `TETHER_COMMAND_REASON_MALFORMED`.
    TETHER_ERR_MESSAGE = 28,
    // Peer misbehaviour (40..=59).
    /// Authentication failed (tampered, forged, or a different key).
    TETHER_ERR_AUTHENTICATION = 40,
    /// A replayed record.
    TETHER_ERR_REPLAYED = 41,
    /// A record older than the replay window or its key.
    TETHER_ERR_TOO_OLD = 42,
    /// A record from an unexpected key epoch.
    TETHER_ERR_EPOCH = 43,
    /// A record out of order on a stream.
    TETHER_ERR_OUT_OF_ORDER = 44,
    /// A record after the peer's close.
    TETHER_ERR_AFTER_CLOSE = 45,
    /// The peer's record counter is exhausted.
    TETHER_ERR_COUNTER_EXHAUSTED = 46,
    /// A valid message that does not belong at this point, or an authentic record that breaks
    /// the protocol (a key-update or close record that carries bytes).
    TETHER_ERR_UNEXPECTED_MESSAGE = 47,
    /// A copy of the handshake message that started this responder's handshake (a datagram
    /// carrier retransmitted it). Nothing changed: resend the reply already sent, if any.
    TETHER_ERR_DUPLICATE = 48,
    // Trust policy rejections (60..=79).
    /// The peer is not known.
    TETHER_ERR_UNKNOWN_PEER = 60,
    /// The peer is revoked.
    TETHER_ERR_REVOKED = 61,
    /// The peer's static key does not match.
    TETHER_ERR_KEY_MISMATCH = 62,
    /// A credential is required but absent.
    TETHER_ERR_MISSING_CREDENTIAL = 63,
    /// The credential is invalid.
    TETHER_ERR_BAD_CREDENTIAL = 64,
    /// The credential is not valid yet.
    TETHER_ERR_NOT_YET_VALID = 65,
    /// The credential has expired.
    TETHER_ERR_EXPIRED = 66,
    /// The peer may not use this pattern or channel.
    TETHER_ERR_REJECTED = 67,
    // Internal (90..=99).
    /// A panic was caught at the boundary; the object involved is unusable and must be wiped.
    TETHER_ERR_PANIC = 90,
    /// An unexpected internal error.
    TETHER_ERR_INTERNAL = 91,
    // Command rejections (101..=119): 100 + the reason code the acknowledgement carries.
    /// Command refused: the signature does not verify under the named authority's key.
    TETHER_ERR_COMMAND_BAD_SIGNATURE = 101,
    /// Command refused: signed by a key that is not one of the device's command authorities.
    TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY = 102,
    /// Command refused: addressed to another device.
    TETHER_ERR_COMMAND_WRONG_DEVICE = 103,
    /// Command refused: past its expiry time.
    TETHER_ERR_COMMAND_EXPIRED = 104,
    /// Command refused: issued in the future (beyond the clock skew) or expiring before issue.
    TETHER_ERR_COMMAND_NOT_YET_VALID = 105,
    /// Command refused: the authority may not order this operation.
    TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED = 106,
    /// Command refused: a parameter outside its granted range, not granted, or a required one
    /// missing.
    TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE = 107,
    /// Command refused: its id is not above the last accepted one (a replay or reordering).
    TETHER_ERR_COMMAND_REPLAYED = 108,
    /// Command refused: the signed payload is not a valid command.
    TETHER_ERR_COMMAND_MALFORMED = 109,
    // Update rejections (121..=139): 120 + the reason code the update status carries.
    /// Manifest refused: the signature does not verify under the named authority's key.
    TETHER_ERR_UPDATE_BAD_SIGNATURE = 121,
    /// Manifest refused: signed by a key that is not one of the device's update authorities.
    TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY = 122,
    /// Manifest refused: for another vendor or device class.
    TETHER_ERR_UPDATE_WRONG_CLASS = 123,
    /// Manifest refused: its sequence number is not above the installed one (a rollback).
    TETHER_ERR_UPDATE_ROLLBACK = 124,
    /// Manifest refused: the image is larger than the device accepts.
    TETHER_ERR_UPDATE_TOO_LARGE = 125,
    /// The stored image's SHA-256 differs from the manifest's: start the transfer again.
    TETHER_ERR_UPDATE_DIGEST_MISMATCH = 126,
    /// The image's size differs from the manifest's.
    TETHER_ERR_UPDATE_SIZE_MISMATCH = 127,
    /// A chunk at an unexpected offset or of another transfer.
    TETHER_ERR_UPDATE_BAD_OFFSET = 128,
    /// Manifest refused: the signed payload is not a valid manifest.
    TETHER_ERR_UPDATE_MALFORMED = 129,
    // Delivery and the sealed outbox (140..=159).
    /// A storage callback of the outbox returned non-zero. The sender refuses every call with
    /// this status until it is opened again (a write may be half done; opening reads the truth);
    /// nothing pushed before is lost.
    TETHER_ERR_STORAGE_IO = 140,
    /// Every outbox slot holds an unacknowledged message: wait for acknowledgements.
    TETHER_ERR_OUTBOX_FULL = 141,
    /// The outbox's storage holds bytes it did not write (altered, or sealed under another key).
    /// A security event: log it, then `tether_sender_reset_storage`.
    TETHER_ERR_STORAGE_TAMPERED = 142,
    /// An outbox entry the index names is missing or cut short, or both indexes are gone from
    /// used storage. A security event: log it, then `tether_sender_reset_storage`.
    TETHER_ERR_STORAGE_TRUNCATED = 143,
    /// The outbox's storage is older than its monotonic counter allows (a restored flash image).
    /// A security event: log it, then `tether_sender_reset_storage`.
    TETHER_ERR_STORAGE_ROLLED_BACK = 144,
    /// An authentic outbox entry sits in the wrong slot (entries moved or swapped). A security
    /// event: log it, then `tether_sender_reset_storage`.
    TETHER_ERR_STORAGE_REORDERED = 145,
    /// A delivery frame that does not decode (spec/MESSAGES.md 6.2.1): drop it.
    TETHER_ERR_BAD_FRAME = 146,
    /// A `tether_receiver_state` whose bytes no receiver writes (corrupted persisted state, or
    /// flags set by hand). Nothing changed.
    TETHER_ERR_BAD_RECEIVER_STATE = 147,
    // The BLE link layer (160..=179), spec/LINK.md section 6: a fragment a reassembler refused.
    // The fragment was dropped and the reassembler is idle (the unit in progress, if any, is
    // lost; the delivery layer resends what it carried): carry on with the next fragment. Not
    // security events: this is what loss looks like on a BLE link, and a forged unit that
    // passes these checks fails authentication above.
    /// A fragment longer than the link's ATT_MTU allows (`min(ATT_MTU - 3, 512)` bytes).
    TETHER_ERR_LINK_TOO_LONG = 160,
    /// A fragment shorter than its header (2 bytes, 4 for a START fragment).
    TETHER_ERR_LINK_TRUNCATED = 161,
    /// A START fragment whose index is not 0.
    TETHER_ERR_LINK_START_INDEX = 162,
    /// A START fragment declaring a unit length of 0, above the reassembler's `max_unit`, or
    /// above what 256 fragments carry at its ATT_MTU.
    TETHER_ERR_LINK_OVERSIZED = 163,
    /// A fragment that is not a START fragment while no unit is in progress: its unit's START
    /// fragment was lost, or the unit was abandoned.
    TETHER_ERR_LINK_NOT_STARTED = 164,
    /// A fragment numbered for another unit than the one in progress.
    TETHER_ERR_LINK_WRONG_UNIT = 165,
    /// A fragment whose index is beyond the next one expected: a fragment was lost.
    TETHER_ERR_LINK_GAP = 166,
    /// A fragment whose index is below the next one expected: a duplicate or a late fragment.
    TETHER_ERR_LINK_DUPLICATE = 167,
    /// Fragments carrying more bytes than the unit's declared length.
    TETHER_ERR_LINK_OVERRUN = 168,
    /// The unit ends short: an END fragment before the declared length, or a fragment of index
    /// 255 without END.
    TETHER_ERR_LINK_INCOMPLETE = 169,
}

use tether_status::*;

/// Every status, for tests and for `tether_strerror`.
pub(crate) const ALL: [tether_status; 63] = [
    TETHER_OK,
    TETHER_ERR_NULL,
    TETHER_ERR_BUFFER_TOO_SMALL,
    TETHER_ERR_BAD_STATE,
    TETHER_ERR_BAD_CONFIG,
    TETHER_ERR_NOT_ALLOWED,
    TETHER_ERR_ENTROPY,
    TETHER_ERR_LIMIT_REACHED,
    TETHER_ERR_PLAINTEXT_TOO_LARGE,
    TETHER_ERR_BAD_KEY,
    TETHER_ERR_COPIED,
    TETHER_ERR_MISALIGNED,
    TETHER_ERR_OVERLAP,
    TETHER_ERR_BUSY,
    TETHER_ERR_BAD_LENGTH,
    TETHER_ERR_IO,
    TETHER_ERR_RATE_LIMITED,
    TETHER_ERR_RELAY_FULL,
    TETHER_ERR_TRUNCATED,
    TETHER_ERR_OVERSIZED,
    TETHER_ERR_VERSION,
    TETHER_ERR_UNKNOWN_TYPE,
    TETHER_ERR_LENGTH,
    TETHER_ERR_CBOR,
    TETHER_ERR_PAIRING_CODE,
    TETHER_ERR_MESSAGE,
    TETHER_ERR_AUTHENTICATION,
    TETHER_ERR_REPLAYED,
    TETHER_ERR_TOO_OLD,
    TETHER_ERR_EPOCH,
    TETHER_ERR_OUT_OF_ORDER,
    TETHER_ERR_AFTER_CLOSE,
    TETHER_ERR_COUNTER_EXHAUSTED,
    TETHER_ERR_UNEXPECTED_MESSAGE,
    TETHER_ERR_DUPLICATE,
    TETHER_ERR_UNKNOWN_PEER,
    TETHER_ERR_REVOKED,
    TETHER_ERR_KEY_MISMATCH,
    TETHER_ERR_MISSING_CREDENTIAL,
    TETHER_ERR_BAD_CREDENTIAL,
    TETHER_ERR_NOT_YET_VALID,
    TETHER_ERR_EXPIRED,
    TETHER_ERR_REJECTED,
    TETHER_ERR_PANIC,
    TETHER_ERR_INTERNAL,
    TETHER_ERR_COMMAND_BAD_SIGNATURE,
    TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY,
    TETHER_ERR_COMMAND_WRONG_DEVICE,
    TETHER_ERR_COMMAND_EXPIRED,
    TETHER_ERR_COMMAND_NOT_YET_VALID,
    TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED,
    TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE,
    TETHER_ERR_COMMAND_REPLAYED,
    TETHER_ERR_COMMAND_MALFORMED,
    TETHER_ERR_UPDATE_BAD_SIGNATURE,
    TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY,
    TETHER_ERR_UPDATE_WRONG_CLASS,
    TETHER_ERR_UPDATE_ROLLBACK,
    TETHER_ERR_UPDATE_TOO_LARGE,
    TETHER_ERR_UPDATE_DIGEST_MISMATCH,
    TETHER_ERR_UPDATE_SIZE_MISMATCH,
    TETHER_ERR_UPDATE_BAD_OFFSET,
    TETHER_ERR_UPDATE_MALFORMED,
];

impl tether_status {
    /// A static, NUL-terminated description.
    pub const fn describe(self) -> &'static str {
        match self {
            TETHER_OK => "success\0",
            TETHER_ERR_NULL => "a required pointer was NULL\0",
            TETHER_ERR_BUFFER_TOO_SMALL => "output buffer too small\0",
            TETHER_ERR_BAD_STATE => "call not valid in the object's current state\0",
            TETHER_ERR_BAD_CONFIG => "configuration value out of range\0",
            TETHER_ERR_NOT_ALLOWED => "suite or pattern not enabled or not allowed\0",
            TETHER_ERR_ENTROPY => "entropy source failed or missing\0",
            TETHER_ERR_LIMIT_REACHED => "usage limit reached: start a new handshake\0",
            TETHER_ERR_PLAINTEXT_TOO_LARGE => "plaintext larger than the session maximum\0",
            TETHER_ERR_BAD_KEY => "invalid key\0",
            TETHER_ERR_COPIED => "handle was copied or moved after init\0",
            TETHER_ERR_MISALIGNED => "handle storage is misaligned\0",
            TETHER_ERR_OVERLAP => "buffers overlap each other or the handle\0",
            TETHER_ERR_BUSY => "handle is already in a call (re-entry or two threads)\0",
            TETHER_ERR_BAD_LENGTH => "length above PTRDIFF_MAX or past the address space\0",
            TETHER_ERR_IO => "image read callback failed\0",
            TETHER_ERR_RATE_LIMITED => "too many failed pairing attempts: wait before the next\0",
            TETHER_ERR_RELAY_FULL => "relay table full: remove a gone device's routes\0",
            TETHER_ERR_TRUNCATED => "input truncated\0",
            TETHER_ERR_OVERSIZED => "input oversized\0",
            TETHER_ERR_VERSION => "unsupported protocol version\0",
            TETHER_ERR_UNKNOWN_TYPE => "unknown type or reserved bits set\0",
            TETHER_ERR_LENGTH => "inconsistent length\0",
            TETHER_ERR_CBOR => "invalid identity payload\0",
            TETHER_ERR_PAIRING_CODE => "invalid pairing code\0",
            TETHER_ERR_MESSAGE => "malformed application message\0",
            TETHER_ERR_AUTHENTICATION => "authentication failed\0",
            TETHER_ERR_REPLAYED => "replayed record\0",
            TETHER_ERR_TOO_OLD => "record older than the replay window\0",
            TETHER_ERR_EPOCH => "record from an unexpected key epoch\0",
            TETHER_ERR_OUT_OF_ORDER => "record out of order on a stream\0",
            TETHER_ERR_AFTER_CLOSE => "record after close\0",
            TETHER_ERR_COUNTER_EXHAUSTED => "peer record counter exhausted\0",
            TETHER_ERR_UNEXPECTED_MESSAGE => "unexpected message\0",
            TETHER_ERR_DUPLICATE => "duplicate handshake message\0",
            TETHER_ERR_UNKNOWN_PEER => "peer rejected: unknown\0",
            TETHER_ERR_REVOKED => "peer rejected: revoked\0",
            TETHER_ERR_KEY_MISMATCH => "peer rejected: static key mismatch\0",
            TETHER_ERR_MISSING_CREDENTIAL => "peer rejected: credential missing\0",
            TETHER_ERR_BAD_CREDENTIAL => "peer rejected: credential invalid\0",
            TETHER_ERR_NOT_YET_VALID => "peer rejected: credential not yet valid\0",
            TETHER_ERR_EXPIRED => "peer rejected: credential expired\0",
            TETHER_ERR_REJECTED => "peer rejected by policy\0",
            TETHER_ERR_PANIC => "internal panic caught; wipe the object\0",
            TETHER_ERR_INTERNAL => "internal error\0",
            TETHER_ERR_COMMAND_BAD_SIGNATURE => "command rejected: signature does not verify\0",
            TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY => "command rejected: unknown authority\0",
            TETHER_ERR_COMMAND_WRONG_DEVICE => "command rejected: addressed to another device\0",
            TETHER_ERR_COMMAND_EXPIRED => "command rejected: expired\0",
            TETHER_ERR_COMMAND_NOT_YET_VALID => "command rejected: not yet valid\0",
            TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED => {
                "command rejected: operation not allowed for this authority\0"
            }
            TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE => {
                "command rejected: parameter out of range\0"
            }
            TETHER_ERR_COMMAND_REPLAYED => "command rejected: id not above the last accepted\0",
            TETHER_ERR_COMMAND_MALFORMED => "command rejected: malformed payload\0",
            TETHER_ERR_UPDATE_BAD_SIGNATURE => "update rejected: signature does not verify\0",
            TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY => "update rejected: unknown authority\0",
            TETHER_ERR_UPDATE_WRONG_CLASS => "update rejected: another vendor or class\0",
            TETHER_ERR_UPDATE_ROLLBACK => "update rejected: sequence not above the installed\0",
            TETHER_ERR_UPDATE_TOO_LARGE => "update rejected: image too large\0",
            TETHER_ERR_UPDATE_DIGEST_MISMATCH => "update rejected: image digest mismatch\0",
            TETHER_ERR_UPDATE_SIZE_MISMATCH => "update rejected: image size mismatch\0",
            TETHER_ERR_UPDATE_BAD_OFFSET => "update rejected: chunk at an unexpected offset\0",
            TETHER_ERR_UPDATE_MALFORMED => "update rejected: malformed manifest\0",
            TETHER_ERR_STORAGE_IO => "outbox storage callback failed; open the sender again\0",
            TETHER_ERR_OUTBOX_FULL => "outbox full: wait for acknowledgements\0",
            TETHER_ERR_STORAGE_TAMPERED => "outbox storage tampered: log, then reset it\0",
            TETHER_ERR_STORAGE_TRUNCATED => {
                "outbox storage truncated or entry missing: log, then reset it\0"
            }
            TETHER_ERR_STORAGE_ROLLED_BACK => "outbox storage rolled back: log, then reset it\0",
            TETHER_ERR_STORAGE_REORDERED => "outbox storage reordered: log, then reset it\0",
            TETHER_ERR_BAD_FRAME => "malformed delivery frame\0",
            TETHER_ERR_BAD_RECEIVER_STATE => "invalid receiver state\0",
            TETHER_ERR_LINK_TOO_LONG => "link: fragment longer than the ATT_MTU allows\0",
            TETHER_ERR_LINK_TRUNCATED => "link: fragment shorter than its header\0",
            TETHER_ERR_LINK_START_INDEX => "link: START fragment with a non-zero index\0",
            TETHER_ERR_LINK_OVERSIZED => "link: declared unit length zero or above the limit\0",
            TETHER_ERR_LINK_NOT_STARTED => "link: fragment of no unit in progress\0",
            TETHER_ERR_LINK_WRONG_UNIT => "link: fragment of another unit\0",
            TETHER_ERR_LINK_GAP => "link: fragment index beyond the next (one was lost)\0",
            TETHER_ERR_LINK_DUPLICATE => {
                "link: fragment index below the next (duplicate or late)\0"
            }
            TETHER_ERR_LINK_OVERRUN => "link: fragments longer than the declared unit length\0",
            TETHER_ERR_LINK_INCOMPLETE => "link: unit ends before its declared length\0",
        }
    }

    /// The status for a raw number, if it is one.
    pub fn from_raw(raw: i32) -> Option<tether_status> {
        ALL.into_iter()
            .chain(DELIVERY)
            .chain(LINK)
            .find(|s| *s as i32 == raw)
    }
}

impl From<Error> for tether_status {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(s) => storage_status(s),
            Error::Local(l) => match l {
                Local::BufferTooSmall { .. } => TETHER_ERR_BUFFER_TOO_SMALL,
                Local::WrongState => TETHER_ERR_BAD_STATE,
                Local::PlaintextTooLarge => TETHER_ERR_PLAINTEXT_TOO_LARGE,
                Local::LimitReached => TETHER_ERR_LIMIT_REACHED,
                Local::Config => TETHER_ERR_BAD_CONFIG,
                Local::NotAllowed => TETHER_ERR_NOT_ALLOWED,
                Local::Entropy => TETHER_ERR_ENTROPY,
                Local::BadKey => TETHER_ERR_BAD_KEY,
                Local::RateLimited { .. } => TETHER_ERR_RATE_LIMITED,
                _ => TETHER_ERR_INTERNAL,
            },
            Error::Malformed(m) => match m {
                Malformed::Truncated => TETHER_ERR_TRUNCATED,
                Malformed::Oversized => TETHER_ERR_OVERSIZED,
                Malformed::Version => TETHER_ERR_VERSION,
                Malformed::UnknownType => TETHER_ERR_UNKNOWN_TYPE,
                Malformed::Length => TETHER_ERR_LENGTH,
                Malformed::Cbor => TETHER_ERR_CBOR,
                Malformed::PairingCode => TETHER_ERR_PAIRING_CODE,
                Malformed::Message(_) => TETHER_ERR_MESSAGE,
                _ => TETHER_ERR_INTERNAL,
            },
            Error::Peer(p) => match p {
                PeerError::Authentication => TETHER_ERR_AUTHENTICATION,
                PeerError::Replayed => TETHER_ERR_REPLAYED,
                PeerError::TooOld => TETHER_ERR_TOO_OLD,
                PeerError::Epoch => TETHER_ERR_EPOCH,
                PeerError::OutOfOrder => TETHER_ERR_OUT_OF_ORDER,
                PeerError::AfterClose => TETHER_ERR_AFTER_CLOSE,
                PeerError::CounterExhausted => TETHER_ERR_COUNTER_EXHAUSTED,
                PeerError::UnexpectedMessage => TETHER_ERR_UNEXPECTED_MESSAGE,
                _ => TETHER_ERR_INTERNAL,
            },
            Error::Policy(r) => rejection_status(r),
            Error::Command(r) => command_status(r),
            Error::Update(r) => update_status(r),
            Error::Link(l) => link_status(l),
            _ => TETHER_ERR_INTERNAL,
        }
    }
}

/// The status for a command rejection: 100 + its reason code.
pub fn command_status(r: CommandRejection) -> tether_status {
    match r {
        CommandRejection::BadSignature => TETHER_ERR_COMMAND_BAD_SIGNATURE,
        CommandRejection::UnknownAuthority => TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY,
        CommandRejection::WrongDevice => TETHER_ERR_COMMAND_WRONG_DEVICE,
        CommandRejection::Expired => TETHER_ERR_COMMAND_EXPIRED,
        CommandRejection::NotYetValid => TETHER_ERR_COMMAND_NOT_YET_VALID,
        CommandRejection::OperationNotAllowed => TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED,
        CommandRejection::ParameterOutOfRange => TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE,
        CommandRejection::Replayed => TETHER_ERR_COMMAND_REPLAYED,
        CommandRejection::Malformed => TETHER_ERR_COMMAND_MALFORMED,
        _ => TETHER_ERR_INTERNAL,
    }
}

/// The status for an update rejection: 120 + its reason code.
pub fn update_status(r: UpdateRejection) -> tether_status {
    match r {
        UpdateRejection::BadSignature => TETHER_ERR_UPDATE_BAD_SIGNATURE,
        UpdateRejection::UnknownAuthority => TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY,
        UpdateRejection::WrongClass => TETHER_ERR_UPDATE_WRONG_CLASS,
        UpdateRejection::Rollback => TETHER_ERR_UPDATE_ROLLBACK,
        UpdateRejection::TooLarge => TETHER_ERR_UPDATE_TOO_LARGE,
        UpdateRejection::DigestMismatch => TETHER_ERR_UPDATE_DIGEST_MISMATCH,
        UpdateRejection::SizeMismatch => TETHER_ERR_UPDATE_SIZE_MISMATCH,
        UpdateRejection::BadOffset => TETHER_ERR_UPDATE_BAD_OFFSET,
        UpdateRejection::Malformed => TETHER_ERR_UPDATE_MALFORMED,
        _ => TETHER_ERR_INTERNAL,
    }
}

/// The status for a policy rejection.
pub fn rejection_status(r: Rejection) -> tether_status {
    match r {
        Rejection::UnknownPeer => TETHER_ERR_UNKNOWN_PEER,
        Rejection::Revoked => TETHER_ERR_REVOKED,
        Rejection::KeyMismatch => TETHER_ERR_KEY_MISMATCH,
        Rejection::MissingCredential => TETHER_ERR_MISSING_CREDENTIAL,
        Rejection::BadCredential => TETHER_ERR_BAD_CREDENTIAL,
        Rejection::NotYetValid => TETHER_ERR_NOT_YET_VALID,
        Rejection::Expired => TETHER_ERR_EXPIRED,
        _ => TETHER_ERR_REJECTED,
    }
}

/// The rejection a policy callback's status stands for; any status that is not a rejection code
/// (including unknown numbers) counts as a plain rejection.
pub fn status_rejection(raw: i32) -> Rejection {
    match tether_status::from_raw(raw) {
        Some(TETHER_ERR_UNKNOWN_PEER) => Rejection::UnknownPeer,
        Some(TETHER_ERR_REVOKED) => Rejection::Revoked,
        Some(TETHER_ERR_KEY_MISMATCH) => Rejection::KeyMismatch,
        Some(TETHER_ERR_MISSING_CREDENTIAL) => Rejection::MissingCredential,
        Some(TETHER_ERR_BAD_CREDENTIAL) => Rejection::BadCredential,
        Some(TETHER_ERR_NOT_YET_VALID) => Rejection::NotYetValid,
        Some(TETHER_ERR_EXPIRED) => Rejection::Expired,
        _ => Rejection::NotAllowed,
    }
}

/// The delivery statuses (140..=159), kept apart from [`ALL`] so that each range is listed where
/// it is defined.
pub(crate) const DELIVERY: [tether_status; 8] = [
    TETHER_ERR_STORAGE_IO,
    TETHER_ERR_OUTBOX_FULL,
    TETHER_ERR_STORAGE_TAMPERED,
    TETHER_ERR_STORAGE_TRUNCATED,
    TETHER_ERR_STORAGE_ROLLED_BACK,
    TETHER_ERR_STORAGE_REORDERED,
    TETHER_ERR_BAD_FRAME,
    TETHER_ERR_BAD_RECEIVER_STATE,
];

/// The status for an outbox storage error: each detection has its own, so the application's
/// security log says what was found.
pub fn storage_status(e: tether::StorageError) -> tether_status {
    use tether::StorageError;
    match e {
        StorageError::Io => TETHER_ERR_STORAGE_IO,
        StorageError::Full => TETHER_ERR_OUTBOX_FULL,
        StorageError::Tampered => TETHER_ERR_STORAGE_TAMPERED,
        StorageError::Truncated => TETHER_ERR_STORAGE_TRUNCATED,
        StorageError::RolledBack => TETHER_ERR_STORAGE_ROLLED_BACK,
        StorageError::Reordered => TETHER_ERR_STORAGE_REORDERED,
        _ => TETHER_ERR_INTERNAL,
    }
}

/// The link statuses (160..=179), in the order of spec/LINK.md section 6.
pub(crate) const LINK: [tether_status; 10] = [
    TETHER_ERR_LINK_TOO_LONG,
    TETHER_ERR_LINK_TRUNCATED,
    TETHER_ERR_LINK_START_INDEX,
    TETHER_ERR_LINK_OVERSIZED,
    TETHER_ERR_LINK_NOT_STARTED,
    TETHER_ERR_LINK_WRONG_UNIT,
    TETHER_ERR_LINK_GAP,
    TETHER_ERR_LINK_DUPLICATE,
    TETHER_ERR_LINK_OVERRUN,
    TETHER_ERR_LINK_INCOMPLETE,
];

/// The status for a fragment the reassembler refused: each cause has its own.
pub fn link_status(e: LinkError) -> tether_status {
    match e {
        LinkError::TooLong => TETHER_ERR_LINK_TOO_LONG,
        LinkError::Truncated => TETHER_ERR_LINK_TRUNCATED,
        LinkError::StartIndex => TETHER_ERR_LINK_START_INDEX,
        LinkError::Oversized => TETHER_ERR_LINK_OVERSIZED,
        LinkError::NotStarted => TETHER_ERR_LINK_NOT_STARTED,
        LinkError::WrongUnit => TETHER_ERR_LINK_WRONG_UNIT,
        LinkError::Gap => TETHER_ERR_LINK_GAP,
        LinkError::Duplicate => TETHER_ERR_LINK_DUPLICATE,
        LinkError::Overrun => TETHER_ERR_LINK_OVERRUN,
        LinkError::Incomplete => TETHER_ERR_LINK_INCOMPLETE,
        _ => TETHER_ERR_INTERNAL,
    }
}
