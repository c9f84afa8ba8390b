//! Known-answer vectors of the relay envelope (spec/PROTOCOL.md 3.4): spec/vectors/relay.json,
//! regenerated here and compared with the checked-in file; after a deliberate change,
//! `TETHER_BLESS=1 cargo test --test relay_vectors` rewrites it (update the spec in the same
//! commit). `python3 spec/vectors/check_records.py` checks the file again from the spec alone.
//!
//! The expected bytes and errors are written here by hand from the spec and checked against the
//! implementation before they go into the file.

mod common;

use serde_json::{json, Value};
use tether::link::relay::{header, rewrite_index, wrap};
use tether::link::{RelayIndex, Relayed};
use tether::{Error, Framing, Malformed, UnitType};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn vectors() -> Value {
    // (index, inner unit, the relayed unit as the spec's formula gives it)
    let valid: [(u16, &str, &str); 5] = [
        (0, "50", "900050"),
        (1, "1300000000000000000102", "90011300000000000000000102"),
        (0x0ABC, "51aa", "9abc51aa"),
        (0x0100, "58ffee", "910058ffee"),
        (4095, "18", "9fff18"),
    ];
    let valid: Vec<Value> = valid
        .iter()
        .map(|&(index, unit, relayed)| {
            let index = RelayIndex::new(index).unwrap();
            let mut out = [0u8; 64];
            let n = wrap(index, &unhex(unit), &mut out).unwrap();
            assert_eq!(hex::encode(&out[..n]), relayed, "wrap {index:?}");
            assert_eq!(hex::encode(header(index)), relayed[..4]);
            let parsed = Relayed::parse(&out[..n]).unwrap();
            assert_eq!((parsed.index, parsed.unit), (index, &unhex(unit)[..]));
            // On a stream hop the length prefix counts the whole relayed unit.
            let mut framed = (n as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&out[..n]);
            assert_eq!(Relayed::parse_framed(Framing::Stream, &framed), Ok(parsed));
            framed[1] ^= 1;
            assert!(Relayed::parse_framed(Framing::Stream, &framed).is_err());
            assert_eq!(
                UnitType::of(Framing::Datagram, &out[..n]),
                Ok(UnitType::Relayed(index))
            );
            json!({ "index": index.get(), "unit": unit, "relayed": relayed })
        })
        .collect();
    // (relayed unit, the error 3.4 names)
    let invalid: [(&str, &str, Error); 7] = [
        ("", "empty", Malformed::Truncated.into()),
        ("90", "header only, cut", Malformed::Truncated.into()),
        ("9000", "no unit inside", Malformed::Truncated.into()),
        (
            "900090000013",
            "a relayed unit inside",
            Malformed::UnknownType.into(),
        ),
        (
            "9000a00013",
            "a kind-10 unit of another version inside",
            Malformed::UnknownType.into(),
        ),
        ("a00013", "version 2", Malformed::Version.into()),
        ("d00013", "reserved kind 11", Malformed::UnknownType.into()),
    ];
    let invalid: Vec<Value> = invalid
        .iter()
        .map(|(relayed, why, error)| {
            let bytes = unhex(relayed);
            assert_eq!(Relayed::parse(&bytes).err(), Some(*error), "{why}");
            let mut copy = bytes.clone();
            assert!(rewrite_index(&mut copy, RelayIndex::MAX).is_err());
            assert_eq!(copy, bytes, "a refused unit is left as it was");
            let name = match error {
                Error::Malformed(Malformed::Truncated) => "truncated",
                Error::Malformed(Malformed::Version) => "version",
                _ => "unknown_type",
            };
            json!({ "relayed": relayed, "why": why, "error": name })
        })
        .collect();
    json!({
        "description": "tether protocol v1: the relay envelope (section 3.4). `valid`: the relayed unit for an index and an inner unit (datagram framing), both ways; `invalid`: units a receiver refuses, with the error.",
        "valid": valid,
        "invalid": invalid,
    })
}

#[test]
fn vectors_match_the_checked_in_file() {
    common::match_or_bless(
        "relay.json",
        &vectors(),
        "relay_vectors",
        "spec/PROTOCOL.md",
    );
}

#[test]
fn indexes_beyond_twelve_bits_are_refused() {
    assert!(RelayIndex::new(4095).is_ok());
    assert_eq!(
        RelayIndex::new(4096).err(),
        Some(Error::Local(tether::Local::Config))
    );
}
