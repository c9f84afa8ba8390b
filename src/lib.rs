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
//! ## The two layers
//! 1. A **handshake** ([`handshake`]) built on the Noise protocol framework (through `snow`), one
//!    pattern per real situation ([`Pattern`]): a provisioned device calling the cloud (`IK`), first
//!    contact and enrollment (`XX`), pairing with a phone through a QR code (`XXpsk0`), and reconnect
//!    between peers that know each other (`KK`). Each side proves a compact CBOR [`Identity`], and a
//!    [`TrustPolicy`] decides whether the peer is accepted before any application data flows.
//! 2. A **record layer** ([`Session`]) of tether's own: explicit 64-bit record counters, a sliding
//!    anti-replay window, key updates with epochs, hard usage limits, and two framings of the same
//!    records: [`Framing::Stream`] for TCP or serial links and [`Framing::Datagram`] for BLE, UDP and
//!    relays.
//!
//! The normative wire format is `spec/PROTOCOL.md` in the repository; every constant here is
//! defined there too.
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

mod aead;
pub mod config;
pub mod credential;
mod entropy;
mod error;
pub mod framing;
pub mod handshake;
mod header;
pub mod identity;
mod keys;
mod noise_crypto;
pub mod pairing;
mod pattern;
pub mod policy;
mod prologue;
mod replay;
mod session;
mod suite;
mod time;

pub use config::{KeyUpdatePolicy, SessionConfig};
pub use entropy::Entropy;
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use error::{Error, Local, Malformed, PeerError};
pub use framing::{Framing, StreamDecoder};
pub use handshake::{Handshake, HandshakeConfig, Initiator, Responder, ResponderConfig};
pub use header::RecordType;
pub use identity::Identity;
pub use keys::{PublicKey, StaticKeypair};
pub use pattern::{ChannelKind, Pattern};
pub use policy::{Rejection, TrustPolicy};
pub use session::{Event, Sealed, Session};
pub use suite::Suite;
pub use time::{Instant, UnixTime};

/// Version of the wire protocol this crate speaks (bound into every handshake prologue and written
/// in every record header).
pub const PROTOCOL_VERSION: u8 = 1;
