//! # tether
//!
//! A secure channel for medical-device telemetry and commands, between a device, the cloud and the
//! patient's phone. One small core serves firmware (Cortex-M, `no_std` + `alloc`), servers and phone
//! apps (through the C ABI in `ffi/`).
//!
//! The core is *sans-I/O*: you move the bytes, and you pass time and entropy in. tether never opens a
//! socket, reads a clock or calls an operating-system random number generator itself (the `std`
//! feature adds [`OsEntropy`] as a convenience).
//!
//! ## The layers, bottom to top
//! 1. A **handshake** ([`handshake`]) built on the Noise protocol framework (through `snow`), one
//!    pattern per real situation ([`Pattern`]): a provisioned device calling the cloud (`IK`), first
//!    contact and enrollment (`XX`), pairing with a phone through a QR code (`XXpsk0`) or a
//!    six-digit code ([`short_code`]: SPAKE2, whose result keys `XXpsk0`), and reconnect between
//!    peers that know each other (`KK`). Each side proves a compact CBOR [`Identity`], and a
//!    [`TrustPolicy`] decides whether the peer is accepted before any application data flows.
//! 2. A **record layer** ([`Session`]) of tether's own: explicit 64-bit record counters, a sliding
//!    anti-replay window, key updates with epochs, hard usage limits, and two framings of the same
//!    records: [`Framing::Stream`] for TCP or serial links and [`Framing::Datagram`] for BLE, UDP and
//!    relays.
//! 3. A **message layer** ([`message`]): what the bytes inside a record mean. Vital signs with IEEE
//!    11073 codes and the device's own precision, device usage, diagnostics, security events for
//!    the audit trail, and therapy commands and firmware manifests signed end to end (COSE_Sign1,
//!    Ed25519) by authorities the device was provisioned with, which the device checks itself.
//! 4. A **delivery layer** ([`delivery`]): every message numbered, acknowledged once the receiver
//!    has stored it, resent after a reconnect and deduplicated, so each is applied exactly once;
//!    on a device, unacknowledged messages wait in an outbox sealed with AES-256-GCM.
//!
//! Beside them, the **link layer** ([`link`]) carries units over BLE GATT (fragments of any
//! ATT_MTU, `spec/LINK.md`) and through a phone that relays a device's session with the cloud
//! without reading it (relay envelopes, `spec/PROTOCOL.md` 3.4).
//!
//! The normative formats are `spec/PROTOCOL.md` (handshake and records) and `spec/MESSAGES.md`
//! (messages and delivery) in the repository; every constant here is defined there too.
//!
//! ## Example: a device and its cloud service, in memory
//!
//! ```
//! # #[cfg(feature = "std")] fn main() -> Result<(), tether::Error> {
//! use tether::policy::{AllowList, PinnedKey};
//! use tether::*;
//!
//! let mut rng = OsEntropy;
//! // Long-term keys: the device's from its secure storage, the cloud's pinned in the device.
//! let device_key = StaticKeypair::generate(&mut rng)?;
//! let cloud_key = StaticKeypair::generate(&mut rng)?;
//! let device_id = Identity::new(b"SN-0001", "PulseOximeter P3", "2.4.1", b"k1")?;
//! let cloud_id = Identity::new(b"ingest.example", "gateway", "1.0", b"k1")?;
//! let now = UnixTime(1_790_000_000); // wall clock, for credential validity
//! let t = Instant(0); // monotonic milliseconds, for key updates
//!
//! // Device: IK to the pinned cloud key.
//! let device_cfg = HandshakeConfig {
//!     suite: Suite::ChaChaPolyBlake2s,
//!     channel: ChannelKind::DeviceCloud,
//!     framing: Framing::Datagram,
//!     context: b"",
//!     identity: &device_id,
//!     static_key: &device_key,
//!     session: SessionConfig::default(),
//!     dh_cache: None,
//! };
//! let mut device = Initiator::provisioned(&device_cfg, &cloud_key.public(), &mut rng)?;
//! let mut msg = [0u8; 1024];
//! let n = device.write_message(&mut msg)?;
//!
//! // Cloud: accepts only registered devices.
//! let registry = [(&b"SN-0001"[..], device_key.public())];
//! let cloud_cfg = ResponderConfig {
//!     suites: Suite::ENABLED,
//!     patterns: &[Pattern::Provisioned],
//!     channel: ChannelKind::DeviceCloud,
//!     framing: Framing::Datagram,
//!     context: b"",
//!     identity: &cloud_id,
//!     static_key: &cloud_key,
//!     session: SessionConfig::default(),
//!     known_initiator: None,
//!     pairing: None,
//!     allow_without_code: false,
//!     dh_cache: None,
//! };
//! let mut cloud =
//!     Responder::accept(&cloud_cfg, &msg[..n], &mut AllowList::new(&registry), now, &mut rng)?;
//! let n = cloud.write_message(&mut msg)?;
//! let mut cloud = cloud.finish(t)?.session;
//!
//! device.read_message(&msg[..n], &mut PinnedKey(cloud_key.public()), now)?;
//! let mut device = device.finish(t)?.session;
//!
//! // Records: a reading up, a command down.
//! let mut wire = [0u8; 128];
//! let mut plain = [0u8; 64];
//! let sealed = device.seal(t, b"SpO2 97 %", &mut wire)?;
//! assert_eq!(sealed.total(), 9 + 25); // 25 bytes of datagram overhead
//! assert_eq!(cloud.open(t, &wire[..sealed.total()], &mut plain)?, Event::Data(b"SpO2 97 %"));
//! // A replayed record is refused and changes nothing.
//! assert_eq!(
//!     cloud.open(t, &wire[..sealed.total()], &mut plain),
//!     Err(Error::Peer(PeerError::Replayed))
//! );
//! let sealed = cloud.seal(t, b"set-interval 60", &mut wire)?;
//! assert_eq!(device.open(t, &wire[..sealed.total()], &mut plain)?, Event::Data(b"set-interval 60"));
//! # Ok(()) }
//! # #[cfg(not(feature = "std"))] fn main() {}
//! ```
//!
//! ## Errors
//! Every fallible call returns [`Error`], grouped by cause. Bad input never panics and never changes
//! state: a record that fails authentication or the replay check leaves the session exactly as it
//! was.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

// Foundations every layer uses.
mod cbor;
mod entropy;
mod error;
mod hygiene;
mod keys;
mod suite;
mod time;

// The layers, bottom to top (each folder's module doc says what it owns and what it refuses to
// know): the handshake and the record layer make a session; the message layer gives the bytes
// inside records their meaning; the delivery layer carries messages exactly once.
pub mod delivery;
pub mod handshake;
pub mod link;
pub mod message;
pub mod record;

// Module paths as users know them, whatever folder their layer keeps them in.
pub use handshake::{credential, identity, pairing, policy, prologue, short_code};
pub use record::{config, framing};

pub use config::{KeyUpdatePolicy, SessionConfig};
pub use entropy::Entropy;
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use error::{
    CommandRejection, Error, Local, Malformed, PeerError, Problem, ProblemKind, StorageError,
    UpdateRejection,
};
pub use framing::{Framing, StreamDecoder};
pub use handshake::dh_cache::DhCache;
pub use handshake::pattern::{ChannelKind, Pattern};
pub use handshake::{Handshake, HandshakeConfig, Initiator, Responder, ResponderConfig};
pub use identity::Identity;
pub use keys::{PublicKey, StaticKeypair};
pub use policy::{Rejection, TrustPolicy};
pub use record::header::{RecordType, UnitType};
pub use record::session::{Event, Sealed, Session};
pub use suite::Suite;
pub use time::{Instant, UnixTime};

/// Version of the wire protocol this crate speaks (bound into every handshake prologue and written
/// in every record header).
pub const PROTOCOL_VERSION: u8 = 1;
