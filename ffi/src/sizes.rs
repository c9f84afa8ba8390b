//! Sizes a C caller needs at compile time, to declare buffers without asking first (as
//! libsodium's secretstream allows). A test checks each against the core.

/// Bytes a record adds to its plaintext on a stream (2 length + 1 flags + 2 counter + 16 tag).
pub const TETHER_STREAM_OVERHEAD: usize = 21;
/// Bytes a record adds to its plaintext as a datagram (1 flags + 8 counter + 16 tag).
pub const TETHER_DATAGRAM_OVERHEAD: usize = 25;
/// Where the plaintext goes in a `tether_session_seal_in_place` buffer, in both framings: room
/// before it for a key-update record and the data record's header (datagrams: 25 + 9; a
/// stream's 21 + 5 fit too, and its units start later in the buffer).
pub const TETHER_SEAL_HEADROOM: usize = 34;
/// The largest plaintext one record can carry (`max_plaintext` is at most this).
pub const TETHER_MAX_PLAINTEXT: usize = 16384;
/// The largest handshake message a receiver accepts, in either framing (a stream unit's prefix
/// included): message 0 of Provisioned (IK) carrying the 256 bytes the size check allows for an
/// identity. (The longest identity tether can encode is shorter, so every message this side
/// writes fits too.)
pub const TETHER_HANDSHAKE_MAX_LEN: usize = 357;
/// Bytes of a handshake hash.
pub const TETHER_HANDSHAKE_HASH_LEN: usize = 32;
/// Bytes of an X25519 key, public or secret.
pub const TETHER_KEY_LEN: usize = 32;
/// The largest BLE fragment at any ATT_MTU (the largest attribute value): a buffer of this size
/// holds every fragment `tether_fragmenter_next` writes. At a known ATT_MTU a fragment is at most
/// `min(ATT_MTU - 3, 512)` bytes.
pub const TETHER_LINK_MAX_FRAGMENT: usize = 512;
/// The smallest ATT_MTU, and every BLE connection's until the ATT MTU exchange: fragments of at
/// most 20 bytes.
pub const TETHER_LINK_MIN_ATT_MTU: u16 = 23;
/// The `max_unit` that suits a reassembler of a session carrying the delivery layer: a datagram
/// record of the largest delivery frame (`TETHER_DELIVERY_MAX_FRAME` + 25 bytes), which also
/// holds any handshake message.
pub const TETHER_LINK_DEFAULT_MAX_UNIT: u32 = 1063;
/// The largest unit the link layer carries (its length travels in two bytes), and the largest
/// `max_unit`. A session over BLE whose records may exceed a reassembler's `max_unit` needs a
/// smaller `max_plaintext` (a record is `max_plaintext` + 25 bytes at most).
pub const TETHER_LINK_MAX_UNIT: u32 = 65535;

#[cfg(test)]
mod tests {
    use super::*;
    use tether::identity::MAX_IDENTITY_LEN;

    #[test]
    fn sizes_match_the_core() {
        use tether::config::MAX_PLAINTEXT;
        assert_eq!(TETHER_MAX_PLAINTEXT, MAX_PLAINTEXT);
        // Spec 4.3: IK message 0 is 3 + 96 + I, the longest message of any pattern; a stream
        // adds its 2-byte prefix.
        assert_eq!(TETHER_HANDSHAKE_MAX_LEN, 2 + 3 + 96 + MAX_IDENTITY_LEN);
        // A key-update record, then the data record's header (the record minus its plaintext
        // and 16-byte tag), of the larger framing; the core's own constant.
        assert_eq!(
            TETHER_SEAL_HEADROOM,
            TETHER_DATAGRAM_OVERHEAD + TETHER_DATAGRAM_OVERHEAD - 16
        );
        assert_eq!(TETHER_SEAL_HEADROOM, tether::Session::SEAL_HEADROOM);
    }

    #[test]
    fn link_sizes_match_the_core() {
        use tether::link::{Mtu, DEFAULT_MAX_UNIT, MAX_ATTRIBUTE_VALUE, MAX_UNIT};
        assert_eq!(TETHER_LINK_MAX_FRAGMENT, MAX_ATTRIBUTE_VALUE);
        assert_eq!(TETHER_LINK_MAX_FRAGMENT, Mtu::LARGEST.max_fragment());
        assert_eq!(TETHER_LINK_MIN_ATT_MTU, Mtu::DEFAULT.att_mtu());
        assert_eq!(TETHER_LINK_DEFAULT_MAX_UNIT as usize, DEFAULT_MAX_UNIT);
        assert_eq!(
            TETHER_LINK_DEFAULT_MAX_UNIT as usize,
            crate::TETHER_DELIVERY_MAX_FRAME + TETHER_DATAGRAM_OVERHEAD
        );
        assert_eq!(TETHER_LINK_MAX_UNIT as usize, MAX_UNIT);
    }
}
