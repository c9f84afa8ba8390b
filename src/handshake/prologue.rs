//! The Noise prologue: what both sides must agree on byte for byte.
//!
//! Binding the protocol version, suite, pattern, channel kind and framing here means that an
//! attacker who rewrites the cleartext suite or pattern byte of the first message, or replays a
//! handshake message on another kind of channel, makes the handshake fail instead of silently
//! downgrading or crossing channels.

use crate::error::{Error, Local};
use crate::handshake::pattern::{ChannelKind, Pattern};
use crate::record::framing::Framing;
use crate::suite::Suite;
use crate::PROTOCOL_VERSION;

/// Fixed start of every prologue.
pub(crate) const PROLOGUE_LABEL: &[u8; 6] = b"tether";
/// Largest application context bound into the prologue.
pub const MAX_CONTEXT: usize = 64;
const FIXED: usize = PROLOGUE_LABEL.len() + 6;

/// The prologue bytes: `"tether" || version || suite || pattern || channel || framing ||
/// len(context) || context`.
#[derive(Clone)]
pub(crate) struct Prologue {
    bytes: [u8; FIXED + MAX_CONTEXT],
    len: usize,
}

impl Prologue {
    pub(crate) fn new(
        suite: Suite,
        pattern: Pattern,
        channel: ChannelKind,
        framing: Framing,
        context: &[u8],
    ) -> Result<Self, Error> {
        let ctx_len = u8::try_from(context.len())
            .ok()
            .filter(|l| usize::from(*l) <= MAX_CONTEXT)
            .ok_or(Local::Config)?;
        let mut bytes = [0u8; FIXED + MAX_CONTEXT];
        let head = [
            PROTOCOL_VERSION,
            suite.id(),
            pattern.id(),
            channel.id(),
            framing as u8,
            ctx_len,
        ];
        let len = FIXED + context.len();
        let parts: [&[u8]; 3] = [PROLOGUE_LABEL, &head, context];
        let mut at = 0;
        for part in parts {
            let end = at + part.len();
            bytes
                .get_mut(at..end)
                .ok_or(Local::Config)?
                .copy_from_slice(part);
            at = end;
        }
        Ok(Self { bytes, len })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let p = Prologue::new(
            Suite::ChaChaPolyBlake2s,
            Pattern::Provisioned,
            ChannelKind::DeviceCloud,
            Framing::Stream,
            b"gw",
        )
        .unwrap();
        assert_eq!(p.as_bytes(), b"tether\x01\x01\x01\x01\x01\x02gw");
        assert!(Prologue::new(
            Suite::ChaChaPolyBlake2s,
            Pattern::Provisioned,
            ChannelKind::DeviceCloud,
            Framing::Stream,
            &[0; MAX_CONTEXT + 1],
        )
        .is_err());
    }
}
