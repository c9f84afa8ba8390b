//! Every pattern x suite x framing completes and carries records both ways; every rejection the
//! protocol promises (untrusted device, wrong pinned key, wrong pairing code, downgrade, crossed
//! channel) happens before any application data is accepted.

mod common;

use common::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tether::pairing::PairingCode;
use tether::policy::{AllowList, ManufacturerCredential, PinnedKey, Rejection};
use tether::*;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Who initiates and who responds for each pattern, and on which channel.
fn roles(pattern: Pattern) -> (Party, Party, ChannelKind) {
    match pattern {
        Pattern::Pairing => (phone(), device(), ChannelKind::DevicePhone),
        _ => (device(), cloud(), ChannelKind::DeviceCloud),
    }
}

fn exchange(a: &mut Session, b: &mut Session, msg: &[u8]) -> Vec<u8> {
    let mut wire = vec![0u8; a.seal_capacity(msg.len())];
    let sealed = a.seal(T0, msg, &mut wire).unwrap();
    let mut input = &wire[..sealed.total()];
    let mut out = vec![0u8; msg.len() + 64];
    let mut got = Vec::new();
    match b.framing() {
        Framing::Stream => {
            let mut dec = StreamDecoder::for_session_config(b.config());
            while let Some(unit) = dec.next(&mut input).unwrap() {
                if let Event::Data(d) = b.open(T0, unit, &mut out).unwrap() {
                    got = d.to_vec();
                }
            }
        }
        Framing::Datagram => {
            for dgram in sealed.units(&wire) {
                if let Event::Data(d) = b.open(T0, dgram, &mut out).unwrap() {
                    got = d.to_vec();
                }
            }
        }
    }
    got
}

fn update_and_close(a: &mut Session, b: &mut Session) {
    let mut wire = vec![0u8; 128];
    let mut out = vec![0u8; 128];
    let n = a.update_key(T0, &mut wire).unwrap();
    match b.open(T0, &wire[..n], &mut out).unwrap() {
        Event::KeyUpdate { epoch } => assert_eq!(epoch, 1),
        other => panic!("expected a key update, got {other:?}"),
    }
    assert_eq!(exchange(a, b, b"after update"), b"after update");
    let n = a.close(&mut wire).unwrap();
    assert!(matches!(
        b.open(T0, &wire[..n], &mut out).unwrap(),
        Event::Close
    ));
    assert!(a.seal(T0, b"late", &mut wire).is_err());
}

#[test]
fn every_pattern_suite_and_framing_completes_and_carries_records() {
    let mut count = 0usize;
    for &suite in Suite::ENABLED {
        for pattern in Pattern::ALL {
            for framing in [Framing::Stream, Framing::Datagram] {
                let (ini, res, channel) = roles(pattern);
                let code = PairingCode::from_secret([7; 16], &res.key.public());
                let mut rcfg = responder_config(&res, framing, channel);
                rcfg.known_initiator = Some(ini.key.public());
                rcfg.pairing = Some(&code);
                // One responder configuration for every pattern of the matrix.
                rcfg.allow_without_code = true;
                let icfg = config(&ini, suite, framing, channel);
                let mut r = rng(count as u64);
                let hs =
                    initiator_for(pattern, &icfg, &res.key.public(), Some(&code), &mut r).unwrap();
                let (mut i, mut s, _) =
                    drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut rng(99)).unwrap();
                assert_eq!(i.peer.static_key, res.key.public(), "{pattern:?}");
                assert_eq!(s.peer.static_key, ini.key.public(), "{pattern:?}");
                assert_eq!(i.peer.identity, res.identity);
                assert_eq!(s.peer.identity, ini.identity);
                assert_eq!(i.handshake_hash, s.handshake_hash);
                assert_eq!(i.session.suite(), suite);
                assert_eq!(
                    exchange(&mut i.session, &mut s.session, b"reading 1"),
                    b"reading 1"
                );
                assert_eq!(
                    exchange(&mut s.session, &mut i.session, b"command 1"),
                    b"command 1"
                );
                update_and_close(&mut i.session, &mut s.session);
                update_and_close(&mut s.session, &mut i.session);
                count += 1;
            }
        }
    }
    assert_eq!(count, Suite::ENABLED.len() * 4 * 2);
}

#[test]
fn handshake_sizes_match_the_spec() {
    // Datagram units with the fixtures' identities; spec/PROTOCOL.md lists the formula.
    let (ini, res, channel) = roles(Pattern::Provisioned);
    let icfg = config(&ini, Suite::ChaChaPolyBlake2s, Framing::Datagram, channel);
    let rcfg = responder_config(&res, Framing::Datagram, channel);
    let hs = Initiator::provisioned(&icfg, &res.key.public(), &mut rng(1)).unwrap();
    let (_, _, t) = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut rng(2)).unwrap();
    let mut id = [0u8; 256];
    let ini_id = ini.identity.encode(&mut id).unwrap();
    let res_id = res.identity.encode(&mut id).unwrap();
    assert_eq!(t[0].1.len(), 3 + 96 + ini_id);
    assert_eq!(t[1].1.len(), 1 + 48 + res_id);
}

#[test]
fn untrusted_device_is_rejected_by_the_cloud() {
    let (dev, cl) = (device(), cloud());
    let other = party(9, "SN-9999", "Other");
    let listed = [(&b"SN-9999"[..], other.key.public())];
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Stream,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Stream, ChannelKind::DeviceCloud);
    let mut hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    let err = Responder::accept(
        &rcfg,
        &buf[..n],
        &mut AllowList::new(&listed),
        NOW,
        &mut rng(2),
    )
    .unwrap_err();
    assert_eq!(err, Error::Policy(Rejection::UnknownPeer));

    // Listed id, but another key: a cloned identity.
    let cloned = [(&b"SN-0001"[..], other.key.public())];
    let err = Responder::accept(
        &rcfg,
        &buf[..n],
        &mut AllowList::new(&cloned),
        NOW,
        &mut rng(2),
    )
    .unwrap_err();
    assert_eq!(err, Error::Policy(Rejection::KeyMismatch));

    // Listed correctly: accepted.
    let good = [(&b"SN-0001"[..], dev.key.public())];
    assert!(Responder::accept(
        &rcfg,
        &buf[..n],
        &mut AllowList::new(&good),
        NOW,
        &mut rng(2)
    )
    .is_ok());
}

#[test]
fn manufacturer_credentials_admit_enrolling_devices_and_revocation_refuses_them() {
    use ed25519_dalek::SigningKey;
    let mfr = SigningKey::from_bytes(&[77; 32]);
    let issuers = [(&b"acme-2026"[..], mfr.verifying_key())];
    let dev_key = StaticKeypair::from_secret([1; 32]);
    let cred = tether::credential::Credential::issue(
        &mfr,
        b"acme-2026",
        b"SN-0001",
        &dev_key.public(),
        UnixTime(NOW.0 - 10),
        UnixTime(NOW.0 + 10),
    )
    .unwrap();
    let dev = Party {
        key: dev_key,
        identity: Identity::new(b"SN-0001", "G1", "1.0.0", &[1])
            .unwrap()
            .with_credential(cred),
    };
    let bare = device();
    let cl = cloud();
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let run = |p: &Party, revoked: bool| {
        let icfg = config(
            p,
            Suite::ChaChaPolyBlake2s,
            Framing::Datagram,
            ChannelKind::DeviceCloud,
        );
        let hs = Initiator::enrollment(&icfg, &mut rng(3)).unwrap();
        let mut policy =
            ManufacturerCredential::new(&issuers, |_: &Identity, _: &PublicKey| revoked);
        drive(
            hs,
            &rcfg,
            &mut PinnedKey(cl.key.public()),
            &mut policy,
            &mut rng(4),
        )
        .map(|_| ())
    };
    assert_eq!(run(&dev, false), Ok(()));
    assert_eq!(run(&dev, true), Err(Error::Policy(Rejection::Revoked)));
    assert_eq!(
        run(&bare, false),
        Err(Error::Policy(Rejection::MissingCredential))
    );
}

#[test]
fn wrong_pinned_cloud_key_fails() {
    let (dev, cl) = (device(), cloud());
    let impostor = party(8, "evil", "Impostor");
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );

    // IK: the device encrypts to the pinned key; an impostor cannot read the first message.
    let mut hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    let rcfg = responder_config(&impostor, Framing::Datagram, ChannelKind::DeviceCloud);
    let err = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap_err();
    assert_eq!(err, Error::Peer(PeerError::Authentication));

    // XX with a pinning policy: the device refuses a responder with another key.
    let hs = Initiator::enrollment(&icfg, &mut rng(1)).unwrap();
    let err = drive(
        hs,
        &rcfg,
        &mut PinnedKey(cl.key.public()),
        &mut accept_all,
        &mut rng(2),
    )
    .unwrap_err();
    assert_eq!(err, Error::Policy(Rejection::KeyMismatch));
}

#[test]
fn wrong_pairing_code_and_substitute_device_fail() {
    let (ph, dev) = (phone(), device());
    let icfg = config(
        &ph,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DevicePhone,
    );
    let shown = PairingCode::from_secret([7; 16], &dev.key.public());

    // The phone scanned another code: the device cannot authenticate the first message.
    let wrong = PairingCode::from_secret([6; 16], &dev.key.public());
    let mut rcfg = responder_config(&dev, Framing::Datagram, ChannelKind::DevicePhone);
    rcfg.pairing = Some(&shown);
    let mut hs = Initiator::pairing(&icfg, &wrong, &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    assert_eq!(
        Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
        Error::Peer(PeerError::Authentication)
    );

    // A substitute device that read the label (same secret and fingerprint) but has another key:
    // the phone refuses it because the key does not match the fingerprint.
    let evil = party(8, "SN-0001", "GlucoseMonitor G1");
    let copied = PairingCode::parse(&shown.to_text()[..]).unwrap();
    let mut rcfg = responder_config(&evil, Framing::Datagram, ChannelKind::DevicePhone);
    rcfg.pairing = Some(&copied);
    let hs = Initiator::pairing(&icfg, &shown, &mut rng(1)).unwrap();
    let err = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut rng(2)).unwrap_err();
    assert_eq!(err, Error::Policy(Rejection::KeyMismatch));
}

#[cfg(feature = "aes-gcm")]
#[test]
fn rewritten_suite_byte_fails_instead_of_downgrading() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::AesGcmSha256,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let mut hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    assert_eq!(buf[1], Suite::AesGcmSha256.id());
    buf[1] = Suite::ChaChaPolyBlake2s.id();
    let err = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap_err();
    assert_eq!(err, Error::Peer(PeerError::Authentication));
}

#[test]
fn rewritten_pattern_byte_and_crossed_channels_fail() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let mut hs = Initiator::reconnect(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    let unit = buf[..n].to_vec();

    let mut rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    rcfg.known_initiator = Some(dev.key.public());
    // Genuine: accepted.
    assert!(Responder::accept(&rcfg, &unit, &mut accept_all, NOW, &mut rng(2)).is_ok());
    // Pattern byte rewritten to IK: same length, different prologue and protocol name.
    let mut p = unit.clone();
    p[2] = Pattern::Provisioned.id();
    assert!(Responder::accept(&rcfg, &p, &mut accept_all, NOW, &mut rng(2)).is_err());
    // Replayed on a relayed channel, or with another application context.
    let mut relayed = rcfg;
    relayed.channel = ChannelKind::Relayed;
    assert_eq!(
        Responder::accept(&relayed, &unit, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
        Error::Peer(PeerError::Authentication)
    );
    let mut ctx = rcfg;
    ctx.context = b"other gateway";
    assert_eq!(
        Responder::accept(&ctx, &unit, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
        Error::Peer(PeerError::Authentication)
    );
    // A responder that does not allow the pattern refuses it locally.
    let mut narrow = rcfg;
    narrow.patterns = &[Pattern::Provisioned];
    assert_eq!(
        Responder::accept(&narrow, &unit, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
        Error::Local(Local::NotAllowed)
    );
}

#[test]
fn tampered_handshake_message_changes_nothing_and_the_genuine_one_still_works() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let mut ini = Initiator::enrollment(&icfg, &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = ini.write_message(&mut buf).unwrap();
    let mut resp = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap();
    let n = resp.write_message(&mut buf).unwrap();
    let genuine = buf[..n].to_vec();
    for i in 0..n {
        let mut bad = genuine.clone();
        bad[i] ^= 0x01;
        assert!(
            ini.read_message(&bad, &mut accept_all, NOW).is_err(),
            "byte {i}"
        );
        assert!(!ini.is_failed());
    }
    for cut in 0..n {
        assert!(ini
            .read_message(&genuine[..cut], &mut accept_all, NOW)
            .is_err());
    }
    ini.read_message(&genuine, &mut accept_all, NOW).unwrap();
    let n = ini.write_message(&mut buf).unwrap();
    resp.read_message(&buf[..n], &mut accept_all, NOW).unwrap();
    assert!(ini.finish(T0).is_ok() && resp.finish(T0).is_ok());
}

#[test]
fn calls_out_of_order_are_refused() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Stream,
        ChannelKind::DeviceCloud,
    );
    let mut ini = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut small = [0u8; 10];
    let needed = ini.next_message_len();
    assert_eq!(
        ini.write_message(&mut small),
        Err(Error::Local(Local::BufferTooSmall { needed }))
    );
    assert!(ini
        .read_message(&[0, 1, 0x54], &mut accept_all, NOW)
        .is_err());
    let mut buf = [0u8; 1024];
    ini.write_message(&mut buf).unwrap();
    assert_eq!(
        ini.write_message(&mut buf),
        Err(Error::Local(Local::WrongState))
    );
    assert!(ini.finish(T0).is_err());
}

#[test]
fn no_early_data_the_responder_refuses_application_bytes_in_handshake_payloads() {
    // The API offers no way to put data in a handshake message; a peer that does anyway (here, a
    // record sent as if it were a handshake message) is refused.
    let (dev, cl) = (device(), cloud());
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let err =
        Responder::accept(&rcfg, &[0x10, 0, 0, 0], &mut accept_all, NOW, &mut rng(2)).unwrap_err();
    assert!(matches!(err, Error::Malformed(_) | Error::Peer(_)));
    let _ = dev;
}

/// An entropy source that always fails, like a broken hardware TRNG.
struct BrokenEntropy;
impl rand_core::RngCore for BrokenEntropy {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, _: &mut [u8]) {}
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
        Err(rand_core::Error::from(
            core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START).unwrap(),
        ))
    }
}
impl rand_core::CryptoRng for BrokenEntropy {}

#[test]
fn a_failing_entropy_source_is_reported_not_papered_over() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    assert_eq!(
        Initiator::provisioned(&icfg, &cl.key.public(), &mut BrokenEntropy).unwrap_err(),
        Error::Local(Local::Entropy)
    );
    assert_eq!(
        StaticKeypair::generate(&mut BrokenEntropy).unwrap_err(),
        Error::Local(Local::Entropy)
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let key = StaticKeypair::from_secret([0xAB; 32]);
    let text = format!("{key:?}");
    assert!(text.contains("redacted"));
    assert!(!text.to_lowercase().contains("abab"), "{text}");
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let hs_text = format!("{hs:?}");
    let (i, _, _) = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut rng(2)).unwrap();
    let session_text = format!("{:?}", i.session);
    // The device's static secret is [1; 32]: no run of it may appear.
    for t in [&hs_text, &session_text] {
        assert!(!t.contains("0101010101"), "{t}");
        assert!(!t.contains("1, 1, 1, 1"), "{t}");
    }
}

#[test]
fn oversized_handshake_messages_are_refused_before_any_cryptography() {
    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let mut hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut rng(1)).unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&mut buf).unwrap();
    // Message 0 of IK can hold at most a 256-byte identity: 3 + 96 + 256 bytes.
    let mut long = buf[..n].to_vec();
    long.resize(3 + 96 + 257, 0);
    assert_eq!(
        Responder::accept(&rcfg, &long, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
        Error::Malformed(Malformed::Oversized)
    );
    // And the reply, read by the initiator: 1 + 48 + 256 at most.
    let mut r = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap();
    let m = r.write_message(&mut buf).unwrap();
    let mut long = buf[..m].to_vec();
    long.resize(1 + 48 + 257, 0);
    assert_eq!(
        hs.read_message(&long, &mut accept_all, NOW).unwrap_err(),
        Error::Malformed(Malformed::Oversized)
    );
    hs.read_message(&buf[..m], &mut accept_all, NOW).unwrap();
}

/// Spec 4.3: message 0 of `XX` is exactly 32 bytes of Noise and of `XXpsk0` exactly 48. Anything
/// longer (or shorter) is refused before a Noise state is even built, in both framings; so is
/// padding on message 1 of `IK` beyond the largest identity, and any payload on a message that
/// must carry none.
#[test]
fn fixed_size_messages_are_refused_at_any_other_size() {
    for framing in [Framing::Stream, Framing::Datagram] {
        for (pattern, noise_len) in [(Pattern::Enrollment, 32), (Pattern::Pairing, 48)] {
            let (ini, res, channel) = roles(pattern);
            let code = PairingCode::from_secret([7; 16], &res.key.public());
            let mut rcfg = responder_config(&res, framing, channel);
            rcfg.pairing = Some(&code);
            rcfg.allow_without_code = true;
            let icfg = config(&ini, Suite::ChaChaPolyBlake2s, framing, channel);
            let mut hs =
                initiator_for(pattern, &icfg, &res.key.public(), Some(&code), &mut rng(1)).unwrap();
            let mut buf = [0u8; 1024];
            let n = hs.write_message(&mut buf).unwrap();
            let prefix = if framing == Framing::Stream { 2 } else { 0 };
            assert_eq!(n, prefix + 3 + noise_len);
            let genuine = buf[..n].to_vec();
            for extra in [1usize, 16, 256] {
                let mut long = genuine.clone();
                long.resize(n + extra, 0xAB);
                if framing == Framing::Stream {
                    let body = u16::try_from(long.len() - 2).unwrap();
                    long[..2].copy_from_slice(&body.to_be_bytes());
                }
                assert_eq!(
                    Responder::accept(&rcfg, &long, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
                    Error::Malformed(Malformed::Oversized),
                    "{pattern:?} {framing:?} +{extra}"
                );
            }
            let mut short = genuine[..n - 1].to_vec();
            if framing == Framing::Stream {
                let body = u16::try_from(short.len() - 2).unwrap();
                short[..2].copy_from_slice(&body.to_be_bytes());
            }
            assert_eq!(
                Responder::accept(&rcfg, &short, &mut accept_all, NOW, &mut rng(2)).unwrap_err(),
                Error::Malformed(Malformed::Truncated)
            );
            // The genuine message is still accepted, and so is the rest of the handshake.
            let mut r =
                Responder::accept(&rcfg, &genuine, &mut accept_all, NOW, &mut rng(2)).unwrap();
            let m = r.write_message(&mut buf).unwrap();
            hs.read_message(&buf[..m], &mut accept_all, NOW).unwrap();
        }
    }
}

/// A device showing a pairing code answers only the phone that scanned it: Enrollment (`XX`) and
/// Provisioned (`IK`) are refused unless the configuration allows them explicitly, even with a
/// trust policy that accepts anyone. Reconnect from the known peer still works.
#[test]
fn a_device_showing_a_pairing_code_refuses_patterns_that_do_not_prove_it() {
    let (phone, dev) = (phone(), device());
    let code = PairingCode::from_secret([7; 16], &dev.key.public());
    let mut rcfg = responder_config(&dev, Framing::Datagram, ChannelKind::DevicePhone);
    rcfg.pairing = Some(&code);
    rcfg.known_initiator = Some(phone.key.public());
    let icfg = config(
        &phone,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DevicePhone,
    );
    let mut buf = [0u8; 1024];
    for pattern in Pattern::ALL {
        let mut hs =
            initiator_for(pattern, &icfg, &dev.key.public(), Some(&code), &mut rng(3)).unwrap();
        let n = hs.write_message(&mut buf).unwrap();
        let got = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(4));
        match pattern {
            Pattern::Enrollment | Pattern::Provisioned => {
                assert_eq!(
                    got.unwrap_err(),
                    Error::Local(Local::NotAllowed),
                    "{pattern:?}"
                )
            }
            Pattern::Pairing | Pattern::Reconnect => assert!(got.is_ok(), "{pattern:?}"),
        }
        rcfg.allow_without_code = true;
        assert!(
            Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(4)).is_ok(),
            "{pattern:?} allowed explicitly"
        );
        rcfg.allow_without_code = false;
    }
}

/// At every handshake message a side reads, in every pattern: each single-byte change is refused,
/// leaves the handshake usable, and the genuine message then completes it. (snow restores only
/// part of its state after a failed read; tether rebuilds it, so this holds for XX message 2 too.)
#[test]
fn every_read_survives_any_tampered_copy_in_every_pattern() {
    for &suite in Suite::ENABLED {
        for pattern in Pattern::ALL {
            let (ini, res, channel) = roles(pattern);
            let code = PairingCode::from_secret([7; 16], &res.key.public());
            let mut rcfg = responder_config(&res, Framing::Datagram, channel);
            rcfg.known_initiator = Some(ini.key.public());
            rcfg.pairing = Some(&code);
            // One responder configuration for every pattern of the matrix.
            rcfg.allow_without_code = true;
            let icfg = config(&ini, suite, Framing::Datagram, channel);
            let mut i =
                initiator_for(pattern, &icfg, &res.key.public(), Some(&code), &mut rng(1)).unwrap();
            let mut buf = [0u8; 1024];
            let n = i.write_message(&mut buf).unwrap();
            let mut r =
                Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut rng(2)).unwrap();
            // Every byte for ChaChaPoly; every 7th for AES-GCM to bound the run time.
            let step = if suite == Suite::ChaChaPolyBlake2s {
                1
            } else {
                7
            };
            loop {
                let (writer, reader) = if r.is_my_turn() {
                    (&mut r, &mut i)
                } else if i.is_my_turn() {
                    (&mut i, &mut r)
                } else {
                    break;
                };
                let n = writer.write_message(&mut buf).unwrap();
                let genuine = buf[..n].to_vec();
                for at in (0..n).step_by(step) {
                    let mut bad = genuine.clone();
                    bad[at] ^= 0x80;
                    assert!(
                        reader.read_message(&bad, &mut accept_all, NOW).is_err(),
                        "{pattern:?} byte {at}"
                    );
                    assert!(!reader.is_failed(), "{pattern:?} failed after byte {at}");
                }
                reader
                    .read_message(&genuine, &mut accept_all, NOW)
                    .unwrap_or_else(|e| {
                        panic!("{pattern:?} {suite:?}: genuine refused after tampering: {e}")
                    });
            }
            let (mut a, mut b) = (i.finish(T0).unwrap(), r.finish(T0).unwrap());
            assert_eq!(exchange(&mut a.session, &mut b.session, b"after"), b"after");
        }
    }
}
