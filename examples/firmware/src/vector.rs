//! The known-answer vector `spec/vectors/IK_25519_ChaChaPoly_BLAKE2s_datagram.json`, turned into
//! constants by `build.rs` (format: spec/PROTOCOL.md section 8). Nothing is parsed at run time.
//!
//! The device is the initiator. It holds its own static secret, the ephemeral bytes it draws, its
//! identity, and the cloud's static public key (pinned); everything else is what crossed the wire.

/// Who sent a unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sender {
    /// The device (the Noise initiator).
    Device,
    /// The cloud service (the responder).
    Cloud,
}

/// A handshake unit as sent, framing included.
pub struct Unit {
    pub from: Sender,
    pub bytes: &'static [u8],
}

/// What a record is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Data,
    KeyUpdate,
    Close,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::KeyUpdate => "key update",
            Kind::Close => "close",
        }
    }
}

/// A record as sent, with what it carried.
pub struct Record {
    pub from: Sender,
    pub kind: Kind,
    /// The sender's epoch after sending it.
    pub epoch: u32,
    pub plaintext: &'static [u8],
    pub unit: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/vector.rs"));
