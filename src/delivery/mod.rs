//! The delivery layer: each application message exactly once and in order, across lost,
//! duplicated and reordered records, disconnects and reboots of either side
//! (spec/MESSAGES.md section 6).
//!
//! **What it owns.** Sequence numbers, cumulative acknowledgements, resending and duplicate
//! suppression ([`frame`], [`Sender`], [`Receiver`], [`Endpoint`]); the sealed outbox that keeps
//! every unacknowledged message on the device's flash under AES-256-GCM ([`Outbox`]), the storage
//! trait firmware implements for it ([`OutboxStorage`]) and the nonce reservation that keeps a
//! storage nonce from ever being used twice across power cuts.
//!
//! **What it refuses to know.** What a message means: it carries the message layer's encoded
//! bytes as opaque byte strings and never decodes them (so a message the application cannot use
//! is still delivered once, and the application decides what to log). Sessions and keys of the
//! record layer: each frame is the plaintext of one record, sealed and opened by the caller. I/O
//! and time: the caller moves frames, persists the receiver state and passes milliseconds in.
//!
//! **Exactly once needs the application's help.** The receiver's state ([`ReceiverState`], 16
//! bytes) must be stored in the same atomic write as the effect of the message it was advanced
//! for (the gateway keeps it in the same SQLite transaction as the reading). Then a reboot at any
//! point either keeps both or neither, and a resent message is recognised as a duplicate.

pub mod frame;
mod receiver;

#[cfg(feature = "outbox")]
mod endpoint;
#[cfg(all(feature = "outbox", feature = "std"))]
mod file_storage;
#[cfg(feature = "outbox")]
mod outbox;
#[cfg(feature = "outbox")]
mod sender;
#[cfg(feature = "outbox")]
mod storage;

pub use frame::Frame;
pub use receiver::{Incoming, Receiver, ReceiverState, SessionProgress, RECEIVER_STATE_LEN};

#[cfg(feature = "outbox")]
pub use endpoint::Endpoint;
#[cfg(all(feature = "outbox", feature = "std"))]
pub use file_storage::FileStorage;
#[cfg(feature = "outbox")]
pub use outbox::{
    Outbox, OutboxConfig, Refused, StorageKey, DEFAULT_BLOCK, ENTRY_OVERHEAD, INDEX_LEN, MAX_BLOCK,
    MAX_ENTRY, MIN_BLOCK,
};
#[cfg(feature = "outbox")]
pub use sender::{Sender, SenderConfig};
#[cfg(feature = "outbox")]
pub use storage::{IndexSlot, MemStorage, OutboxStorage};

/// Largest application message a data frame carries, in bytes. Bounds the receiver's buffers
/// and the outbox's slots; larger payloads (firmware images) are chunked by the message layer.
pub const MAX_MESSAGE: usize = 1024;

/// Largest frame in bytes (a data frame with the largest sequence number and message), so a
/// caller can size the plaintext buffer it seals frames from.
pub const MAX_FRAME: usize = 1 + 1 + 9 + 3 + MAX_MESSAGE;

/// The largest sequence number a message can have: 2^63 - 2, so that the next expected number
/// (at most 2^63 - 1) still fits a signed 64-bit integer, the type SQLite and most databases
/// store.
pub const MAX_SEQ: u64 = (1 << 63) - 2;

/// Length of a stream id in bytes.
pub const STREAM_ID_LEN: usize = 8;

/// Names one sender's sequence space: 8 random bytes drawn when its outbox is created. A device
/// that is factory-reset (or whose outbox is reset after an attack) starts a new stream, so a
/// receiver never mistakes its new message 1 for a duplicate of the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub [u8; STREAM_ID_LEN]);
