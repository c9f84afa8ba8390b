//! The credential decoder, reached as the key-5 value behind a valid identity prefix, on arbitrary
//! bytes or on a genuine credential mutated by the input (first byte, bit 0): never a panic; an
//! accepted credential encodes back to exactly its bytes, and `verify` against the fixed
//! manufacturer key accepts only the genuine signature. With bit 1, the decoded fields are also
//! signed for real: that credential verifies or not by its validity period alone, is bound to the
//! device key, and round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::credential::Credential;
use tether::*;
use tether_fuzz::{check_identity, credentialed, fixtures, manufacturer, mutate, NOW};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let p = fixtures();
    // The fixture's identity (a 4-entry map) made a 5-entry map, up to key 5; the fixture with a
    // genuine credential starts the same way.
    let mut prefix = [0u8; 256];
    let n = p.init_id.encode(&mut prefix).unwrap();
    prefix[0] = 0xa5;
    prefix[n] = 5;
    let base = credentialed(true);
    assert_eq!(base[..=n], prefix[..=n]);
    let cbor = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        mutate(&base[n + 1..], rest)
    };
    let bytes = [&prefix[..=n], &cbor].concat();
    let Ok(identity) = Identity::decode(&bytes) else {
        return;
    };
    check_identity(&identity, &bytes);
    let c = identity.credential().expect("key 5 is a credential");
    let (key, vk) = manufacturer();
    let device = p.init_key.public();
    let (nb, na) = (c.not_before(), c.not_after());
    let in_period = if NOW < nb {
        Err(Rejection::NotYetValid)
    } else if NOW > na {
        Err(Rejection::Expired)
    } else {
        Ok(())
    };
    let verdict = c.verify(vk, identity.id(), &device, NOW);
    if verdict != Err(Rejection::BadCredential) {
        let genuine = Identity::decode(base).unwrap();
        assert_eq!(
            Some(c),
            genuine.credential(),
            "a forged credential verified"
        );
        assert_eq!(verdict, in_period);
    }
    if mode & 2 != 0 {
        let signed = Credential::issue(key, c.issuer(), identity.id(), &device, nb, na).unwrap();
        assert_eq!(signed.verify(vk, identity.id(), &device, NOW), in_period);
        let other = p.resp_key.public();
        let wrong_key = signed.verify(vk, identity.id(), &other, NOW);
        assert_eq!(wrong_key, Err(Rejection::BadCredential));
        let signed = identity.clone().with_credential(signed);
        let mut again = [0u8; 256];
        let n = signed.encode(&mut again).unwrap();
        assert_eq!(Identity::decode(&again[..n]), Ok(signed));
    }
});
