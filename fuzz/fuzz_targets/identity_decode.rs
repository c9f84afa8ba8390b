//! `Identity::decode` on arbitrary bytes, and on a valid identity with a credential mutated by the
//! input (so that accepted inputs are frequent): never a panic; whatever it accepts is at most 256
//! bytes, has every field within its bound, and encodes back to exactly the input (canonical CBOR
//! only); whatever it refuses is malformed CBOR or oversized.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::*;
use tether_fuzz::{check_identity, credentialed, mutate};

fn check(bytes: &[u8]) {
    match Identity::decode(bytes) {
        Ok(identity) => check_identity(&identity, bytes),
        Err(e) => assert!(
            matches!(e, Error::Malformed(Malformed::Cbor | Malformed::Oversized)),
            "{e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&mutate(credentialed(true), data));
});
