//! Handshake patterns, one per real situation, and the kinds of channel they run on.

use crate::error::{Error, Malformed};

/// Which handshake to run. Each name says when to use it; the Noise pattern is in its doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Pattern {
    /// Noise `IK`: a provisioned device (initiator) calling a cloud service whose static key it
    /// pins. One round trip.
    Provisioned = 1,
    /// Noise `XX`: first contact or enrollment; the initiator does not know the responder's static
    /// key yet. Both identities are checked by the trust policy (typically a manufacturer
    /// credential).
    Enrollment = 2,
    /// Noise `XXpsk0`: a phone (initiator) pairing with a device (responder) using a high-entropy
    /// QR code ([`crate::handshake::pairing::PairingCode`]) that carries a 128-bit secret and a fingerprint of
    /// the device's static key.
    Pairing = 3,
    /// Noise `KK`: reconnect between peers that already know each other's static keys. One round
    /// trip.
    Reconnect = 4,
}

impl Pattern {
    /// Every pattern.
    pub const ALL: [Pattern; 4] = [
        Pattern::Provisioned,
        Pattern::Enrollment,
        Pattern::Pairing,
        Pattern::Reconnect,
    ];

    /// The identifier on the wire and in the prologue.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// Parses a wire identifier.
    pub fn from_id(id: u8) -> Result<Pattern, Error> {
        Pattern::ALL
            .into_iter()
            .find(|p| p.id() == id)
            .ok_or(Malformed::UnknownType.into())
    }

    /// The Noise handshake pattern name.
    pub const fn noise_name(self) -> &'static str {
        match self {
            Pattern::Provisioned => "IK",
            Pattern::Enrollment => "XX",
            Pattern::Pairing => "XXpsk0",
            Pattern::Reconnect => "KK",
        }
    }

    /// Number of handshake messages.
    pub const fn message_count(self) -> usize {
        match self {
            Pattern::Provisioned | Pattern::Reconnect => 2,
            Pattern::Enrollment | Pattern::Pairing => 3,
        }
    }

    /// Whether the initiator must know the responder's static key beforehand.
    pub const fn initiator_knows_responder(self) -> bool {
        matches!(self, Pattern::Provisioned | Pattern::Reconnect)
    }

    /// Whether the responder must know the initiator's static key beforehand.
    pub const fn responder_knows_initiator(self) -> bool {
        matches!(self, Pattern::Reconnect)
    }

    /// The index of the handshake message that carries the identity of the initiator (`true`) or
    /// the responder (`false`): the first message in which that side's payload is encrypted and
    /// after which its static key is authenticated to the reader.
    pub const fn identity_message(self, initiator: bool) -> usize {
        match (self, initiator) {
            (Pattern::Provisioned | Pattern::Reconnect, true) => 0,
            (Pattern::Provisioned | Pattern::Reconnect, false) => 1,
            (Pattern::Enrollment | Pattern::Pairing, true) => 2,
            (Pattern::Enrollment | Pattern::Pairing, false) => 1,
        }
    }
}

/// Which link a session runs on. Bound into the prologue, so a handshake message captured on one
/// kind of channel fails on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChannelKind {
    /// Device and cloud, directly over an IP network.
    DeviceCloud = 1,
    /// Device and phone, over BLE or USB.
    DevicePhone = 2,
    /// Device and cloud, with a phone relaying the records without reading them.
    Relayed = 3,
    /// Phone and cloud.
    PhoneCloud = 4,
}

impl ChannelKind {
    /// The identifier in the prologue.
    pub const fn id(self) -> u8 {
        self as u8
    }
}
