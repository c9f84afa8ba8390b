//! The static-static DH cache changes nothing on the wire or in the keys: a handshake with a
//! cached peer writes the same bytes and derives the same session as one without; only
//! authenticated, accepted peers enter the cache; `forget` takes a peer out.

mod common;

use common::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tether::policy::PeerInfo;
use tether::*;

/// Runs one handshake of `pattern` (device -> cloud) with the given caches on each side and the
/// same entropy every time; returns the transcript, the handshake hashes and one record sealed
/// by the initiator.
fn run(
    pattern: Pattern,
    suite: Suite,
    init_cache: Option<&DhCache>,
    resp_cache: Option<&DhCache>,
    resp_policy: &mut dyn TrustPolicy,
) -> Result<(Transcript, [u8; 32], Vec<u8>), Error> {
    let (dev, cl) = (device(), cloud());
    let mut icfg = config(&dev, suite, Framing::Datagram, ChannelKind::DeviceCloud);
    icfg.dh_cache = init_cache;
    let mut rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    rcfg.dh_cache = resp_cache;
    rcfg.known_initiator = Some(dev.key.public());
    let hs = initiator_for(
        pattern,
        &icfg,
        &cl.key.public(),
        None,
        &mut ChaCha20Rng::seed_from_u64(7),
    )?;
    let (mut i, r, transcript) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        resp_policy,
        &mut ChaCha20Rng::seed_from_u64(8),
    )?;
    assert_eq!(i.handshake_hash, r.handshake_hash);
    let mut wire = vec![0u8; 128];
    let sealed = i.session.seal(T0, b"reading", &mut wire)?;
    wire.truncate(sealed.total());
    Ok((transcript, i.handshake_hash, wire))
}

#[test]
fn cached_handshakes_are_byte_identical() {
    for &suite in Suite::ENABLED {
        for pattern in Pattern::ALL {
            if pattern == Pattern::Pairing {
                continue;
            }
            let plain = run(pattern, suite, None, None, &mut accept_all).unwrap();
            let (ci, cr) = (DhCache::new(16), DhCache::new(16));
            // First contact fills the caches (IK and KK have a static-static DH; XX has none).
            let first = run(pattern, suite, Some(&ci), Some(&cr), &mut accept_all).unwrap();
            let expect = usize::from(pattern != Pattern::Enrollment);
            assert_eq!((ci.len(), cr.len()), (expect, expect), "{pattern:?}");
            // The repeat uses them.
            let again = run(pattern, suite, Some(&ci), Some(&cr), &mut accept_all).unwrap();
            assert_eq!(plain, first, "{suite:?} {pattern:?}");
            assert_eq!(plain, again, "{suite:?} {pattern:?}");
            // One side cached, the other not: still the same.
            let mixed = run(pattern, suite, Some(&ci), None, &mut accept_all).unwrap();
            assert_eq!(plain, mixed);
        }
    }
}

#[test]
fn one_cache_serves_several_keys() {
    // Entries are per (local key, peer key): another device's handshake adds its own.
    let cr = DhCache::new(16);
    let ci = DhCache::new(16);
    run(
        Pattern::Provisioned,
        Suite::ChaChaPolyBlake2s,
        Some(&ci),
        Some(&cr),
        &mut accept_all,
    )
    .unwrap();
    assert_eq!(cr.len(), 1);
    // The same caches serve a handshake between other keys without confusion.
    let other = party(77, "sn-other", "m");
    let cl = cloud();
    let mut icfg = config(
        &other,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    icfg.dh_cache = Some(&ci);
    let mut rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    rcfg.dh_cache = Some(&cr);
    let hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut ChaCha20Rng::seed_from_u64(1))
        .unwrap();
    drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    assert_eq!((ci.len(), cr.len()), (2, 2));
}

#[test]
fn refused_peers_are_not_cached_and_forget_works() {
    let cr = DhCache::new(16);
    let mut refuse = |_: &PeerInfo<'_>| Err(Rejection::UnknownPeer);
    let refused = run(
        Pattern::Provisioned,
        Suite::ChaChaPolyBlake2s,
        None,
        Some(&cr),
        &mut refuse,
    );
    assert!(refused.is_err());
    assert!(cr.is_empty(), "a refused peer entered the cache");
    run(
        Pattern::Reconnect,
        Suite::ChaChaPolyBlake2s,
        None,
        Some(&cr),
        &mut accept_all,
    )
    .unwrap();
    assert_eq!(cr.len(), 1);
    cr.forget(&device().key.public());
    assert!(cr.is_empty());
}
