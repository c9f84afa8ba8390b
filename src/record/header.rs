//! The first byte of every unit on the wire, and the record header in both framings.
//!
//! First byte: bits 7..6 kind (00 record, 01 handshake), bits 5..4 protocol version (01), then
//! for a record bits 3..2 record type and bits 1..0 the sending epoch mod 4, and for a handshake
//! message bits 3..2 its index and bits 1..0 zero.
//!
//! Records: datagram `flags(1) | counter(8, BE) | ciphertext | tag(16)`; stream
//! `length(2, BE) | flags(1) | counter low 16 bits(2, BE) | ciphertext | tag(16)`. The AEAD always
//! authenticates `flags || full 64-bit counter`, so one ciphertext is valid in either framing.

use crate::error::{Error, Malformed};
use crate::record::framing::Framing;

/// Bytes of an AEAD tag (both suites).
pub(crate) const TAG_LEN: usize = 16;
/// Bytes of the stream framing's length prefix.
pub(crate) const LENGTH_PREFIX: usize = 2;
/// Bytes of the associated data: flags || 64-bit counter.
pub(crate) const AD_LEN: usize = 9;

/// Version bits (5..4) of protocol version 1, in place.
const VERSION_BITS: u8 = (crate::PROTOCOL_VERSION & 0b11) << 4;
const KIND_RECORD: u8 = 0b00;
const KIND_HANDSHAKE: u8 = 0b01;
const KIND_RELAYED: u8 = 0b10;

/// What a record carries. Its two bits sit in the record's first byte and are authenticated, so
/// an attacker cannot turn data into a key update or a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Application bytes.
    Data = 0,
    /// The first record under a sender's new key: tells the receiver to move to the next epoch.
    /// Its plaintext is empty.
    KeyUpdate = 1,
    /// The sender will send nothing more. Its plaintext is empty.
    Close = 2,
}

impl RecordType {
    fn from_bits(bits: u8) -> Result<RecordType, Error> {
        match bits {
            0 => Ok(RecordType::Data),
            1 => Ok(RecordType::KeyUpdate),
            2 => Ok(RecordType::Close),
            _ => Err(Malformed::UnknownType.into()),
        }
    }
}

/// What a unit is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// A record of an established session.
    Record,
    /// A handshake message.
    Handshake,
    /// A unit inside a relay envelope.
    Relayed,
}

/// Checks the kind and version bits of a unit's first byte.
pub(crate) fn unit_kind(first: u8) -> Result<UnitKind, Error> {
    let kind = match first >> 6 {
        KIND_RECORD => UnitKind::Record,
        KIND_HANDSHAKE => UnitKind::Handshake,
        KIND_RELAYED => UnitKind::Relayed,
        _ => return Err(Malformed::UnknownType.into()),
    };
    if first & 0b0011_0000 != VERSION_BITS {
        return Err(Malformed::Version.into());
    }
    Ok(kind)
}

/// What a unit on the wire is, read from its framing and first byte alone (no key needed).
///
/// A carrier that mixes handshake messages and records on one channel (a BLE characteristic, a
/// UDP port, a responder waiting on one socket) uses this to dispatch a unit: a message 0 starts
/// a handshake, any other handshake message continues one, a record goes to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitType {
    /// Handshake message 0, 1 or 2.
    Handshake(u8),
    /// Short-code pairing message 0 (the phone's) or 1 (the device's), which come before the
    /// pairing handshake (spec/PROTOCOL.md 4.7.2).
    CodePairing(u8),
    /// A record of the given type (its epoch bits are not interpreted here).
    Record(RecordType),
    /// A unit inside a relay envelope (spec/PROTOCOL.md 3.4), for the session with this index on
    /// this hop; `link::Relayed::parse` gives the unit inside.
    Relayed(RelayIndex),
}

impl UnitType {
    /// Classifies `unit` as framed on the wire (a stream unit with its length prefix, as
    /// [`crate::StreamDecoder`] returns it, or a datagram). Checks the framing, the kind and
    /// version bits and the type or index, nothing more: a unit that classifies can still fail
    /// to open or to authenticate.
    pub fn of(framing: Framing, unit: &[u8]) -> Result<UnitType, Error> {
        let body = unit_body(framing, unit)?;
        let first = *body.first().ok_or(Malformed::Truncated)?;
        Ok(match unit_kind(first)? {
            UnitKind::Handshake if first & 0b11 == CODE_PAIRING_BITS => {
                UnitType::CodePairing(parse_code_pairing_byte(first)?)
            }
            UnitKind::Handshake => UnitType::Handshake(parse_handshake_byte(first)?),
            UnitKind::Record => UnitType::Record(parse_record_flags(first)?.0),
            UnitKind::Relayed => UnitType::Relayed(parse_relayed(body)?.0),
        })
    }
}

/// First byte of handshake message `index` (0, 1 or 2): 0x50, 0x54, 0x58. Only the low two bits
/// of `index` are used; the handshake never asks for more than 2.
pub(crate) fn handshake_byte(index: u8) -> u8 {
    (KIND_HANDSHAKE << 6) | VERSION_BITS | ((index & 0b11) << 2)
}

/// Parses a handshake message's first byte into its index (0, 1 or 2).
pub(crate) fn parse_handshake_byte(b: u8) -> Result<u8, Error> {
    if unit_kind(b)? != UnitKind::Handshake {
        return Err(Malformed::UnknownType.into());
    }
    let index = (b >> 2) & 0b11;
    if index == 3 || b & 0b11 != 0 {
        return Err(Malformed::UnknownType.into());
    }
    Ok(index)
}

/// Bits 1..0 of a short-code pairing message's first byte (00 in a handshake message).
const CODE_PAIRING_BITS: u8 = 0b01;

/// First byte of short-code pairing message `index` (0 or 1): 0x51, 0x55.
pub(crate) fn code_pairing_byte(index: u8) -> u8 {
    (KIND_HANDSHAKE << 6) | VERSION_BITS | ((index & 0b1) << 2) | CODE_PAIRING_BITS
}

/// Parses a short-code pairing message's first byte into its index (0 or 1).
pub(crate) fn parse_code_pairing_byte(b: u8) -> Result<u8, Error> {
    if unit_kind(b)? != UnitKind::Handshake || b & 0b11 != CODE_PAIRING_BITS {
        return Err(Malformed::UnknownType.into());
    }
    match (b >> 2) & 0b11 {
        index @ (0 | 1) => Ok(index),
        _ => Err(Malformed::UnknownType.into()),
    }
}

/// Which session a relayed unit belongs to on one hop (0 to 4095): the index of the relay
/// envelope (spec/PROTOCOL.md 3.4), re-exported as `link::RelayIndex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RelayIndex(u16);

impl RelayIndex {
    /// Index 0: what a device uses for its one end-to-end session.
    pub const ZERO: RelayIndex = RelayIndex(0);
    /// The largest index.
    pub const MAX: RelayIndex = RelayIndex(0x0FFF);

    /// An index; [`Local::Config`] beyond [`RelayIndex::MAX`].
    pub const fn new(value: u16) -> Result<RelayIndex, Error> {
        if value > RelayIndex::MAX.0 {
            return Err(Error::Local(crate::error::Local::Config));
        }
        Ok(RelayIndex(value))
    }

    /// The index as a number.
    pub const fn get(self) -> u16 {
        self.0
    }

    pub(crate) const fn from_bits(value: u16) -> RelayIndex {
        RelayIndex(value & RelayIndex::MAX.0)
    }
}

/// The relay envelope of `index`: kind `10`, the version, the index's high 4 bits, then its low
/// 8 bits.
pub(crate) fn relay_header(index: RelayIndex) -> [u8; 2] {
    let [high, low] = index.get().to_be_bytes();
    [(KIND_RELAYED << 6) | VERSION_BITS | (high & 0x0F), low]
}

/// Parses a relay envelope into its index.
pub(crate) fn parse_relay_header(header: [u8; 2]) -> Result<RelayIndex, Error> {
    let [first, low] = header;
    if unit_kind(first)? != UnitKind::Relayed {
        return Err(Malformed::UnknownType.into());
    }
    Ok(RelayIndex::from_bits(u16::from_be_bytes([
        first & 0x0F,
        low,
    ])))
}

/// Parses a relayed unit's body into its index and the unit inside, which must be non-empty and
/// not itself relayed (spec/PROTOCOL.md 3.4).
pub(crate) fn parse_relayed(bytes: &[u8]) -> Result<(RelayIndex, &[u8]), Error> {
    let (header, unit) = bytes.split_first_chunk::<2>().ok_or(Malformed::Truncated)?;
    let index = parse_relay_header(*header)?;
    let first = *unit.first().ok_or(Malformed::Truncated)?;
    // No envelope in an envelope, whatever its version bits.
    if first >> 6 == KIND_RELAYED {
        return Err(Malformed::UnknownType.into());
    }
    Ok((index, unit))
}

/// First byte of a record of type `ty` sent in `epoch`.
pub(crate) fn record_flags(ty: RecordType, epoch: u32) -> u8 {
    // Truncation intended: only the epoch's two low bits travel.
    VERSION_BITS | ((ty as u8) << 2) | (epoch & 0b11) as u8
}

/// Parses a record's first byte into its type and epoch bits.
pub(crate) fn parse_record_flags(b: u8) -> Result<(RecordType, u8), Error> {
    if unit_kind(b)? != UnitKind::Record {
        return Err(Malformed::UnknownType.into());
    }
    let ty = RecordType::from_bits((b >> 2) & 0b11)?;
    Ok((ty, b & 0b11))
}

/// Associated data of a record: flags || full counter, the same in both framings.
pub(crate) fn associated_data(flags: u8, counter: u64) -> [u8; AD_LEN] {
    let mut ad = [0u8; AD_LEN];
    let (f, c) = ad.split_at_mut(1);
    f.copy_from_slice(&[flags]);
    c.copy_from_slice(&counter.to_be_bytes());
    ad
}

/// Bytes before the ciphertext of a record (a stream's length prefix included).
pub(crate) const fn header_len(framing: Framing) -> usize {
    match framing {
        Framing::Stream => LENGTH_PREFIX + 1 + 2,
        Framing::Datagram => 1 + 8,
    }
}

/// Bytes a record adds to its plaintext on the wire: header and tag.
pub(crate) const fn overhead(framing: Framing) -> usize {
    header_len(framing) + TAG_LEN
}

/// Writes a record's header into `out[..header_len(framing)]` for a ciphertext of `ct_len`
/// bytes. The caller has checked that `out` is large enough and that the stream body fits in
/// 16 bits (it does: `MAX_PLAINTEXT` is far below).
pub(crate) fn write_header(
    framing: Framing,
    flags: u8,
    counter: u64,
    ct_len: usize,
    out: &mut [u8],
) -> Result<(), Error> {
    let too_small = Error::Local(crate::error::Local::BufferTooSmall {
        needed: header_len(framing) + ct_len + TAG_LEN,
    });
    match framing {
        Framing::Datagram => {
            let (f, rest) = out.split_first_mut().ok_or(too_small)?;
            *f = flags;
            let c = rest.first_chunk_mut::<8>().ok_or(too_small)?;
            *c = counter.to_be_bytes();
        }
        Framing::Stream => {
            let body = 1 + 2 + ct_len + TAG_LEN;
            let len = u16::try_from(body)
                .map_err(|_| Error::Local(crate::error::Local::PlaintextTooLarge))?;
            let h = out.first_chunk_mut::<5>().ok_or(too_small)?;
            let [l0, l1] = len.to_be_bytes();
            // Truncation intended: a stream record carries the counter's low 16 bits.
            let [c0, c1] = (counter as u16).to_be_bytes();
            *h = [l0, l1, flags, c0, c1];
        }
    }
    Ok(())
}

/// The counter as it travels: full on a datagram, its low 16 bits on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireCounter {
    /// The full 64-bit counter (datagram).
    Full(u64),
    /// The counter's low 16 bits (stream).
    Low16(u16),
}

/// A record split into its parts; nothing is authenticated yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    /// The first byte, as authenticated.
    pub flags: u8,
    /// The record type from `flags`.
    pub ty: RecordType,
    /// The sending epoch mod 4 from `flags`.
    pub epoch_bits: u8,
    /// The counter as sent.
    pub counter: WireCounter,
    /// The ciphertext without its tag.
    pub ciphertext: &'a [u8],
    /// The AEAD tag.
    pub tag: &'a [u8; TAG_LEN],
}

/// A unit split by framing, before its first byte is interpreted.
pub(crate) fn unit_body(framing: Framing, unit: &[u8]) -> Result<&[u8], Error> {
    let body = match framing {
        Framing::Datagram => unit,
        Framing::Stream => {
            let (prefix, body) = unit
                .split_first_chunk::<LENGTH_PREFIX>()
                .ok_or(Malformed::Truncated)?;
            if usize::from(u16::from_be_bytes(*prefix)) != body.len() {
                return Err(Malformed::Length.into());
            }
            body
        }
    };
    if body.is_empty() {
        return Err(Malformed::Truncated.into());
    }
    Ok(body)
}

/// Parses a record unit (framing included) up to the size checks: kind, version and type, then
/// length. `max_plaintext` bounds the ciphertext. A handshake unit gives
/// `PeerError::UnexpectedMessage`.
pub(crate) fn parse_record(
    framing: Framing,
    unit: &[u8],
    max_plaintext: usize,
) -> Result<RecordView<'_>, Error> {
    let body = unit_body(framing, unit)?;
    let (&flags, rest) = body.split_first().ok_or(Malformed::Truncated)?;
    if unit_kind(flags)? == UnitKind::Handshake {
        return Err(crate::error::PeerError::UnexpectedMessage.into());
    }
    let (ty, epoch_bits) = parse_record_flags(flags)?;
    let counter_len = match framing {
        Framing::Datagram => 8,
        Framing::Stream => 2,
    };
    let min = counter_len + TAG_LEN;
    if rest.len() < min {
        return Err(Malformed::Truncated.into());
    }
    if rest.len() - min > max_plaintext {
        return Err(Malformed::Oversized.into());
    }
    let (counter, rest) = match framing {
        Framing::Datagram => {
            let (c, rest) = rest.split_first_chunk::<8>().ok_or(Malformed::Truncated)?;
            (WireCounter::Full(u64::from_be_bytes(*c)), rest)
        }
        Framing::Stream => {
            let (c, rest) = rest.split_first_chunk::<2>().ok_or(Malformed::Truncated)?;
            (WireCounter::Low16(u16::from_be_bytes(*c)), rest)
        }
    };
    let (ciphertext, tag) = rest
        .split_last_chunk::<TAG_LEN>()
        .ok_or(Malformed::Truncated)?;
    Ok(RecordView {
        flags,
        ty,
        epoch_bits,
        counter,
        ciphertext,
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PeerError;

    #[test]
    fn unit_types_from_the_first_byte() {
        use UnitType::*;
        let d = Framing::Datagram;
        assert_eq!(UnitType::of(d, &[0x50, 1, 2]), Ok(Handshake(0)));
        assert_eq!(UnitType::of(d, &[0x54]), Ok(Handshake(1)));
        assert_eq!(UnitType::of(d, &[0x58]), Ok(Handshake(2)));
        assert_eq!(UnitType::of(d, &[0x13]), Ok(Record(RecordType::Data)));
        assert_eq!(UnitType::of(d, &[0x16]), Ok(Record(RecordType::KeyUpdate)));
        assert_eq!(UnitType::of(d, &[0x18]), Ok(Record(RecordType::Close)));
        // Stream units carry their length prefix, which must match.
        let s = Framing::Stream;
        assert_eq!(UnitType::of(s, &[0, 1, 0x50]), Ok(Handshake(0)));
        assert_eq!(
            UnitType::of(s, &[0, 2, 0x50]),
            Err(Malformed::Length.into())
        );
        // Reserved index, type, kind and version; empty units.
        assert_eq!(UnitType::of(d, &[0x5C]), Err(Malformed::UnknownType.into()));
        assert_eq!(UnitType::of(d, &[0x51]), Ok(CodePairing(0)));
        assert_eq!(UnitType::of(d, &[0x55]), Ok(CodePairing(1)));
        assert_eq!(UnitType::of(d, &[0x59]), Err(Malformed::UnknownType.into()));
        assert_eq!(UnitType::of(d, &[0x52]), Err(Malformed::UnknownType.into()));
        assert_eq!(UnitType::of(d, &[0x1C]), Err(Malformed::UnknownType.into()));
        assert_eq!(UnitType::of(d, &[0xD0]), Err(Malformed::UnknownType.into()));
        // Relayed: the index in 12 bits, a unit inside that is neither empty nor relayed.
        assert_eq!(
            UnitType::of(d, &[0x9A, 0xBC, 0x13]),
            Ok(Relayed(RelayIndex::new(0xABC).unwrap()))
        );
        assert_eq!(
            UnitType::of(d, &[0x90, 0x00]),
            Err(Malformed::Truncated.into())
        );
        assert_eq!(
            UnitType::of(d, &[0x90, 0x00, 0x90, 0x00, 0x13]),
            Err(Malformed::UnknownType.into())
        );
        assert_eq!(
            UnitType::of(d, &[0xA0, 0x00, 0x13]),
            Err(Malformed::Version.into())
        );
        assert_eq!(UnitType::of(d, &[0x60]), Err(Malformed::Version.into()));
        assert_eq!(UnitType::of(d, &[]), Err(Malformed::Truncated.into()));
        assert_eq!(UnitType::of(s, &[0]), Err(Malformed::Truncated.into()));
    }

    #[test]
    fn handshake_bytes() {
        assert_eq!(handshake_byte(0), 0x50);
        assert_eq!(handshake_byte(1), 0x54);
        assert_eq!(handshake_byte(2), 0x58);
        for i in 0..3 {
            assert_eq!(parse_handshake_byte(handshake_byte(i)), Ok(i));
            assert_eq!(unit_kind(handshake_byte(i)), Ok(UnitKind::Handshake));
        }
    }

    #[test]
    fn record_flag_values() {
        assert_eq!(record_flags(RecordType::Data, 0), 0x10);
        assert_eq!(record_flags(RecordType::KeyUpdate, 1), 0x15);
        assert_eq!(record_flags(RecordType::Close, 7), 0x1b);
        for ty in [RecordType::Data, RecordType::KeyUpdate, RecordType::Close] {
            for e in 0..8u32 {
                let b = record_flags(ty, e);
                assert_eq!(parse_record_flags(b), Ok((ty, (e & 3) as u8)));
                assert_eq!(unit_kind(b), Ok(UnitKind::Record));
            }
        }
    }

    /// Every first byte classified: each reserved kind, version, type, index and bit is rejected
    /// with its own error, and every accepted byte is one that the encoders produce.
    #[test]
    fn every_first_byte() {
        for b in 0..=255u8 {
            let kind = b >> 6;
            let version = (b >> 4) & 3;
            let kind_res = unit_kind(b);
            let rec = parse_record_flags(b);
            let hs = parse_handshake_byte(b);
            let code = parse_code_pairing_byte(b);
            let relay = parse_relay_header([b, 0x34]);
            if kind == 3 {
                let e: Result<(), Error> = Err(Malformed::UnknownType.into());
                assert_eq!(kind_res.map(|_| ()), e, "{b:#04x}");
                assert_eq!(rec.map(|_| ()), e);
                assert_eq!(hs.map(|_| ()), e);
                assert_eq!(code.map(|_| ()), e);
                assert_eq!(relay.map(|_| ()), e);
                continue;
            }
            if version != 1 {
                let e: Result<(), Error> = Err(Malformed::Version.into());
                assert_eq!(kind_res.map(|_| ()), e, "{b:#04x}");
                assert_eq!(rec.map(|_| ()), e);
                assert_eq!(hs.map(|_| ()), e);
                continue;
            }
            if kind == 2 {
                assert_eq!(kind_res, Ok(UnitKind::Relayed));
                assert_eq!(rec, Err(Malformed::UnknownType.into()));
                assert_eq!(hs, Err(Malformed::UnknownType.into()));
                assert_eq!(code, Err(Malformed::UnknownType.into()));
                let index = relay.unwrap();
                assert_eq!(index.get(), (u16::from(b & 0x0F) << 8) | 0x34);
                assert_eq!(relay_header(index), [b, 0x34]);
                continue;
            }
            assert!(relay.is_err());
            if kind == 0 {
                assert_eq!(kind_res, Ok(UnitKind::Record));
                assert_eq!(hs, Err(Malformed::UnknownType.into()));
                if (b >> 2) & 3 == 3 {
                    assert_eq!(rec, Err(Malformed::UnknownType.into()), "{b:#04x}");
                } else {
                    let (ty, bits) = rec.unwrap();
                    assert_eq!(record_flags(ty, u32::from(bits)), b);
                }
            } else {
                assert_eq!(kind_res, Ok(UnitKind::Handshake));
                assert_eq!(rec, Err(Malformed::UnknownType.into()));
                if (b >> 2) & 3 == 3 || b & 3 != 0 {
                    assert_eq!(hs, Err(Malformed::UnknownType.into()), "{b:#04x}");
                } else {
                    assert_eq!(handshake_byte(hs.unwrap()), b);
                }
                if b & 3 == 1 && (b >> 2) & 3 < 2 {
                    assert_eq!(code_pairing_byte(code.unwrap()), b);
                } else {
                    assert_eq!(code, Err(Malformed::UnknownType.into()), "{b:#04x}");
                }
            }
        }
    }

    #[test]
    fn header_round_trip() {
        for framing in [Framing::Stream, Framing::Datagram] {
            let ct_len = 5;
            let mut out = [0u8; 64];
            let len = header_len(framing) + ct_len + TAG_LEN;
            let flags = record_flags(RecordType::Close, 2);
            write_header(framing, flags, 0x0102_0304_0506_0708, ct_len, &mut out).unwrap();
            let v = parse_record(framing, &out[..len], 100).unwrap();
            assert_eq!(v.flags, flags);
            assert_eq!(v.ty, RecordType::Close);
            assert_eq!(v.epoch_bits, 2);
            assert_eq!(v.ciphertext.len(), ct_len);
            match framing {
                Framing::Datagram => {
                    assert_eq!(v.counter, WireCounter::Full(0x0102_0304_0506_0708))
                }
                Framing::Stream => {
                    assert_eq!(v.counter, WireCounter::Low16(0x0708));
                    assert_eq!(&out[..2], &((len - 2) as u16).to_be_bytes());
                }
            }
            // Too small an output buffer is an error, not a panic.
            assert!(write_header(framing, flags, 0, 0, &mut out[..3]).is_err());
        }
    }

    #[test]
    fn parse_errors() {
        let d = Framing::Datagram;
        let s = Framing::Stream;
        let trunc = Err(Error::Malformed(Malformed::Truncated));
        assert_eq!(parse_record(d, &[], 10).map(|_| ()), trunc);
        assert_eq!(parse_record(s, &[], 10).map(|_| ()), trunc);
        assert_eq!(parse_record(s, &[0], 10).map(|_| ()), trunc);
        assert_eq!(parse_record(s, &[0, 0], 10).map(|_| ()), trunc);
        assert_eq!(
            parse_record(s, &[0, 2, 0x10], 10).map(|_| ()),
            Err(Malformed::Length.into())
        );
        assert_eq!(
            parse_record(s, &[0, 0, 0x10], 10).map(|_| ()),
            Err(Malformed::Length.into())
        );
        // Header + tag minus one byte.
        let mut rec = [0u8; 9 + 16 + 11];
        rec[0] = 0x10;
        assert_eq!(parse_record(d, &rec[..24], 10).map(|_| ()), trunc);
        assert!(parse_record(d, &rec[..25], 10).is_ok());
        assert!(parse_record(d, &rec[..35], 10).is_ok());
        assert_eq!(
            parse_record(d, &rec[..36], 10).map(|_| ()),
            Err(Malformed::Oversized.into())
        );
        // Kind and type checks come before the size checks.
        rec[0] = 0x1c;
        assert_eq!(
            parse_record(d, &rec[..1], 10).map(|_| ()),
            Err(Malformed::UnknownType.into())
        );
        rec[0] = 0x00;
        assert_eq!(
            parse_record(d, &rec[..1], 10).map(|_| ()),
            Err(Malformed::Version.into())
        );
        rec[0] = 0x50;
        assert_eq!(
            parse_record(d, &rec[..1], 10).map(|_| ()),
            Err(PeerError::UnexpectedMessage.into())
        );
    }

    #[test]
    fn associated_data_layout() {
        let ad = associated_data(0x15, 0x0102_0304_0506_0708);
        assert_eq!(ad, [0x15, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn overheads() {
        assert_eq!(overhead(Framing::Stream), 21);
        assert_eq!(overhead(Framing::Datagram), 25);
    }
}
