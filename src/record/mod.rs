//! The record layer: sessions that protect application data once a handshake has agreed on keys
//! (spec/PROTOCOL.md sections 3 and 5).
//!
//! It owns record headers, explicit counters and the anti-replay window, key epochs and key
//! updates, usage limits, and the two framings of the same records (stream and datagram). It
//! knows nothing of what the bytes inside a record mean (the message layer) or of handshakes
//! beyond the keys a finished one hands over.

pub(crate) mod aead;
pub(crate) mod chacha;
pub mod config;
pub mod framing;
pub(crate) mod header;
pub(crate) mod replay;
pub(crate) mod session;
