//! Real handshake messages around fuzzer-chosen identity payloads: plain snow, with the fixtures'
//! keys and the prologue and framing of the spec, writes message 0 of IK/KK or message 2 of
//! XX/XXpsk0 for tether's responder, or message 1 for tether's initiator, so that identity
//! decoding and the trust policy run on arbitrary authenticated payloads. The outcome must be what
//! `Identity::decode` and the policy say on their own: a valid identity the policy accepts
//! finishes the handshake with exactly that peer (and snow's handshake hash); anything else fails
//! with the same error, and for good once the message authenticated. Never a panic. The policy is
//! either "accept all" or "a valid manufacturer credential"; for the latter to pass, the payload
//! can also be the sender's identity with a genuine credential, mutated by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::identity::MAX_IDENTITY_LEN;
use tether::policy::PeerInfo;
use tether::*;
use tether_fuzz::{credential_policy, credentialed, fixtures, mutate, Counter, NOW};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let pattern = Pattern::ALL[usize::from(mode & 3)];
    let suite = Suite::ENABLED[usize::from(mode >> 2 & 1) % Suite::ENABLED.len()];
    let framing = if mode & 8 == 0 {
        Framing::Datagram
    } else {
        Framing::Stream
    };
    let tether_initiates = mode & 16 != 0;
    let strict = mode & 32 != 0;
    let p = fixtures();
    let sender = if tether_initiates {
        p.resp_key.public()
    } else {
        p.init_key.public()
    };
    let payload = if mode & 64 == 0 {
        payload.to_vec()
    } else {
        mutate(credentialed(!tether_initiates), payload)
    };
    // Longer than an identity is refused before any cryptography; a little longer is enough.
    let payload = &payload[..payload.len().min(MAX_IDENTITY_LEN + 8)];
    let mut policy = |peer: &PeerInfo<'_>| {
        if strict {
            credential_policy(peer)
        } else {
            Ok(())
        }
    };
    let expected = Identity::decode(payload).and_then(|identity| {
        policy(&PeerInfo {
            identity: &identity,
            static_key: &sender,
            pattern,
            channel: ChannelKind::DeviceCloud,
            now: NOW,
        })?;
        Ok(identity)
    });

    let mut snow = p.snow_peer(pattern, suite, framing, !tether_initiates);
    let rcfg = p.responder_config(framing);
    let mut buf = [0u8; 2048];
    let (result, hs) = if tether_initiates {
        let mut i = p.initiator(pattern, suite, framing);
        let n = i.write_message(&mut buf).unwrap();
        snow.read(&buf[..n]);
        (
            i.read_message(&snow.write(payload), &mut policy, NOW),
            Some(i),
        )
    } else if pattern.identity_message(true) == 0 {
        let unit = snow.write(payload);
        match Responder::accept(&rcfg, &unit, &mut policy, NOW, &mut Counter(1)) {
            Ok(r) => (Ok(()), Some(r)),
            Err(e) => (Err(e), None),
        }
    } else {
        let unit = snow.write(&[]);
        let mut r = Responder::accept(&rcfg, &unit, &mut policy, NOW, &mut Counter(1)).unwrap();
        let n = r.write_message(&mut buf).unwrap();
        snow.read(&buf[..n]);
        (
            r.read_message(&snow.write(payload), &mut policy, NOW),
            Some(r),
        )
    };

    match (expected, result) {
        (Ok(identity), Ok(())) => {
            let mut hs = hs.unwrap();
            let peer = hs.peer().expect("peer known after its identity message");
            assert_eq!((&peer.identity, peer.static_key), (&identity, sender));
            while !hs.is_finished() {
                let n = hs.write_message(&mut buf).unwrap();
                snow.read(&buf[..n]);
            }
            assert!(snow.noise.is_handshake_finished());
            let done = hs.finish(Instant(0)).unwrap();
            assert_eq!(done.peer.identity, identity);
            assert_eq!(done.handshake_hash[..], *snow.noise.get_handshake_hash());
        }
        (Err(want), Err(got)) => {
            assert_eq!(got, want);
            if let Some(hs) = hs {
                // Oversized messages are refused before decryption and change nothing.
                assert_eq!(hs.is_failed(), payload.len() <= MAX_IDENTITY_LEN);
                assert!(hs.peer().is_none());
            }
        }
        (want, got) => panic!("payload {payload:02x?}: expected {want:?}, got {got:?}"),
    }
});
