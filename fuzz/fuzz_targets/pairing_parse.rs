//! `PairingCode::parse` on arbitrary text, and on the prefix `TETHER1:` followed by arbitrary text
//! (so that the base32 body is reached at once): never a panic; accepted text is exactly what
//! `to_text` gives back; refused text is `Malformed::PairingCode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::pairing::{PairingCode, PAIRING_PREFIX};
use tether::*;

fuzz_target!(|data: &[u8]| {
    for text in [data.to_vec(), [PAIRING_PREFIX.as_bytes(), data].concat()] {
        match PairingCode::parse(&text) {
            Ok(code) => {
                assert_eq!(&code.to_text()[..], &text[..]);
                assert_eq!(PairingCode::parse(&code.to_text()[..]), Ok(code));
            }
            Err(e) => assert_eq!(e, Malformed::PairingCode.into()),
        }
    }
});
