//! The C ABI called as C would call it (and run under Miri in CI, which checks the pointer and
//! storage handling for undefined behaviour).

use core::ffi::c_void;
use core::ptr::{null, null_mut};

use super::*;
use crate::status::tether_status::*;

/// Deterministic entropy for tests: a counter behind `user`.
unsafe extern "C" fn fill_random(user: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    let counter = unsafe { &mut *user.cast::<u8>() };
    for i in 0..len {
        *counter = counter.wrapping_mul(29).wrapping_add(11);
        unsafe { *buf.add(i) = *counter };
    }
    0
}

unsafe extern "C" fn broken_random(_: *mut c_void, _: *mut u8, _: usize) -> i32 {
    -1
}

unsafe extern "C" fn accept(_: *mut c_void, info: *const tether_peer_info) -> i32 {
    let peer = unsafe { &*(*info).peer };
    assert!(peer.id_len > 0);
    0
}

unsafe extern "C" fn refuse_revoked(_: *mut c_void, _: *const tether_peer_info) -> i32 {
    TETHER_ERR_REVOKED as i32
}

fn platform(counter: &mut u8) -> tether_platform {
    tether_platform {
        user: (counter as *mut u8).cast(),
        fill_random: Some(fill_random),
        monotonic_ms: None,
        unix_time: None,
        check_peer: Some(accept),
    }
}

const DEVICE_SECRET: [u8; 32] = [1; 32];
const CLOUD_SECRET: [u8; 32] = [2; 32];

fn public(secret: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    assert_eq!(
        unsafe { tether_public_key(secret.as_ptr(), out.as_mut_ptr()) },
        TETHER_OK
    );
    out
}

fn config(
    secret: &'static [u8; 32],
    id: &'static [u8],
    peer: Option<&[u8; 32]>,
    framing: u8,
) -> tether_config {
    let mut c = core::mem::MaybeUninit::<tether_config>::uninit();
    assert_eq!(unsafe { tether_config_init(c.as_mut_ptr()) }, TETHER_OK);
    let mut c = unsafe { c.assume_init() };
    c.static_secret = secret.as_ptr();
    c.identity.id = id.as_ptr();
    c.identity.id_len = id.len();
    c.identity.model = b"model".as_ptr();
    c.identity.model_len = 5;
    c.framing = framing;
    c.peer_static_key = peer.map_or(null(), |p| p.as_ptr());
    c
}

fn zeroed<T>() -> Box<T> {
    // SAFETY: the storage types are plain arrays of integers, valid when zeroed.
    unsafe { Box::new(core::mem::zeroed()) }
}

/// A session in heap storage that is wiped when the test lets go of it (Miri checks that nothing
/// leaks).
struct OwnedSession(Box<tether_session>);

impl core::ops::Deref for OwnedSession {
    type Target = tether_session;
    fn deref(&self) -> &tether_session {
        &self.0
    }
}

impl core::ops::DerefMut for OwnedSession {
    fn deref_mut(&mut self) -> &mut tether_session {
        &mut self.0
    }
}

impl Drop for OwnedSession {
    fn drop(&mut self) {
        unsafe { tether_session_wipe(&mut *self.0) }
    }
}

/// A completed IK handshake through the C API: (device session, cloud session). Deterministic:
/// two calls with the same framing give sessions with the same keys.
fn established(framing: u8) -> (OwnedSession, OwnedSession) {
    established_with(framing, |_| {})
}

/// [`established`], with `tweak` applied to both sides' configurations.
fn established_with(
    framing: u8,
    tweak: impl Fn(&mut tether_config),
) -> (OwnedSession, OwnedSession) {
    established_seeded(framing, (1, 2), tweak)
}

/// [`established_with`], the two sides' entropy counters starting at `seeds`.
fn established_seeded(
    framing: u8,
    seeds: (u8, u8),
    tweak: impl Fn(&mut tether_config),
) -> (OwnedSession, OwnedSession) {
    let cloud_pub = public(&CLOUD_SECRET);
    let device_pub = public(&DEVICE_SECRET);
    let (mut r1, mut r2) = seeds;
    let (p1, p2) = (platform(&mut r1), platform(&mut r2));
    let mut dcfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), framing);
    let mut ccfg = config(&CLOUD_SECRET, b"cloud", Some(&device_pub), framing);
    tweak(&mut dcfg);
    tweak(&mut ccfg);
    let mut dev = zeroed::<tether_handshake>();
    let mut cloud = zeroed::<tether_handshake>();
    unsafe {
        assert_eq!(
            tether_handshake_init_initiator(&mut *dev, &dcfg, &p1),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_init_responder(&mut *cloud, &ccfg, &p2),
            TETHER_OK
        );
        let mut action = tether_action::TETHER_ACTION_FAILED;
        let mut buf = [0u8; 1024];
        let mut n = 0;
        // Drive both until each says FINISH.
        let (d, c): (*mut tether_handshake, *mut tether_handshake) = (&mut *dev, &mut *cloud);
        for _ in 0..4 {
            for (me, other) in [(d, c), (c, d)] {
                assert_eq!(tether_handshake_next(me, &mut action), TETHER_OK);
                if action == tether_action::TETHER_ACTION_WRITE {
                    assert_eq!(
                        tether_handshake_write(me, buf.as_mut_ptr(), buf.len(), &mut n),
                        TETHER_OK
                    );
                    assert_eq!(tether_handshake_read(other, buf.as_ptr(), n), TETHER_OK);
                }
            }
        }
        for hs in [&mut *dev, &mut *cloud] {
            assert_eq!(tether_handshake_next(hs, &mut action), TETHER_OK);
            assert_eq!(action, tether_action::TETHER_ACTION_FINISH);
        }
        let mut ds = zeroed::<tether_session>();
        let mut cs = zeroed::<tether_session>();
        let mut peer = core::mem::zeroed::<tether_peer>();
        let (mut h1, mut h2) = ([0u8; 32], [1u8; 32]);
        assert_eq!(
            tether_handshake_finish(&mut *dev, &mut *ds, &mut peer, h1.as_mut_ptr()),
            TETHER_OK
        );
        assert_eq!(&peer.id[..peer.id_len], b"cloud");
        assert_eq!(peer.static_key, cloud_pub);
        assert_eq!(
            tether_handshake_finish(&mut *cloud, &mut *cs, &mut peer, h2.as_mut_ptr()),
            TETHER_OK
        );
        assert_eq!(&peer.id[..peer.id_len], b"SN-1");
        assert_eq!(h1, h2);
        // Finished handshakes are wiped: using them again is a state error.
        assert_eq!(
            tether_handshake_next(&mut *dev, &mut action),
            TETHER_ERR_BAD_STATE
        );
        (OwnedSession(ds), OwnedSession(cs))
    }
}

fn seal(s: &mut tether_session, msg: &[u8]) -> Vec<u8> {
    seal_units(s, msg).0
}

fn open(s: &mut tether_session, unit: &[u8]) -> (tether_status, tether_event, Vec<u8>) {
    let mut out = [0u8; 256];
    let mut ev = tether_event::TETHER_EVENT_CLOSE;
    let mut n = 0;
    let rc = unsafe {
        tether_session_open(
            s,
            unit.as_ptr(),
            unit.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut ev,
            &mut n,
        )
    };
    (rc, ev, out[..n.min(256)].to_vec())
}

#[test]
fn ok_is_zero_every_error_is_nonzero_unique_and_described() {
    assert_eq!(TETHER_OK as i32, 0);
    let mut seen = std::collections::HashSet::new();
    for s in crate::status::ALL {
        assert!(seen.insert(s as i32), "{s:?} reuses a number");
        assert_eq!(s == TETHER_OK, s as i32 == 0);
        let text = unsafe { std::ffi::CStr::from_ptr(tether_strerror(s as i32)) };
        assert!(!text.to_bytes().is_empty());
        assert_eq!(tether_status::from_raw(s as i32), Some(s));
    }
    let unknown = unsafe { std::ffi::CStr::from_ptr(tether_strerror(12345)) };
    assert_eq!(unknown.to_bytes(), b"unknown status");
    // Every core error maps to a non-zero status.
    for e in [
        tether::Error::Local(tether::Local::WrongState),
        tether::Error::Peer(tether::PeerError::Replayed),
        tether::Error::Malformed(tether::Malformed::Truncated),
        tether::Error::Policy(tether::Rejection::Revoked),
    ] {
        assert_ne!(tether_status::from(e) as i32, 0);
    }
}

#[test]
fn version_matches_cargo_toml() {
    let parse = |s: &str| s.parse::<u32>().unwrap();
    assert_eq!(TETHER_VERSION_MAJOR, parse(env!("CARGO_PKG_VERSION_MAJOR")));
    assert_eq!(TETHER_VERSION_MINOR, parse(env!("CARGO_PKG_VERSION_MINOR")));
    assert_eq!(TETHER_VERSION_PATCH, parse(env!("CARGO_PKG_VERSION_PATCH")));
    assert_eq!(
        tether_version(),
        (TETHER_VERSION_MAJOR << 16) | (TETHER_VERSION_MINOR << 8) | TETHER_VERSION_PATCH
    );
}

#[test]
fn every_exported_function_is_inside_the_panic_boundary() {
    let sources = [
        include_str!("lib.rs"),
        include_str!("config.rs"),
        include_str!("decoder.rs"),
        include_str!("handshake.rs"),
        include_str!("keys.rs"),
        include_str!("link.rs"),
        include_str!("code_pairing.rs"),
        include_str!("relay.rs"),
        include_str!("peer.rs"),
        include_str!("session.rs"),
        include_str!("message.rs"),
        include_str!("vitals.rs"),
        include_str!("command.rs"),
        include_str!("update.rs"),
    ];
    let mut exported = 0;
    for src in sources {
        let mut rest = src;
        while let Some(at) = rest.find("#[no_mangle]") {
            rest = &rest[at + 12..];
            let body = &rest[rest.find('{').unwrap() + 1..];
            let first = body.trim_start();
            let first = first
                .strip_prefix("// SAFETY: forwarded.")
                .unwrap_or(first)
                .trim_start();
            assert!(
                first.starts_with("boundary(") || first.starts_with("boundary_or("),
                "exported function not wrapped: {}",
                &rest[..rest.find('(').unwrap()]
            );
            exported += 1;
        }
    }
    // Every `#[no_mangle]` in the crate was seen (no file forgotten in the list above).
    assert!(exported >= 20, "only {exported} exported functions found");
}

#[test]
fn storage_is_large_enough_and_aligned() {
    assert_eq!(
        core::mem::size_of::<tether_handshake>(),
        TETHER_HANDSHAKE_SIZE
    );
    assert_eq!(
        core::mem::align_of::<tether_handshake>(),
        TETHER_HANDSHAKE_ALIGN
    );
    assert_eq!(core::mem::size_of::<tether_session>(), TETHER_SESSION_SIZE);
    assert_eq!(
        core::mem::align_of::<tether_session>(),
        TETHER_SESSION_ALIGN
    );
    assert_eq!(core::mem::size_of::<tether_decoder>(), TETHER_DECODER_SIZE);
    assert_eq!(
        core::mem::align_of::<tether_decoder>(),
        TETHER_DECODER_ALIGN
    );
    assert_eq!(
        core::mem::size_of::<tether_fragmenter>(),
        TETHER_FRAGMENTER_SIZE
    );
    assert_eq!(
        core::mem::align_of::<tether_fragmenter>(),
        TETHER_FRAGMENTER_ALIGN
    );
    assert_eq!(
        core::mem::size_of::<tether_reassembler>(),
        TETHER_REASSEMBLER_SIZE
    );
    assert_eq!(
        core::mem::align_of::<tether_reassembler>(),
        TETHER_REASSEMBLER_ALIGN
    );
    assert_eq!(
        core::mem::size_of::<tether_code_pairing>(),
        TETHER_CODE_PAIRING_SIZE
    );
    assert_eq!(
        core::mem::align_of::<tether_code_pairing>(),
        TETHER_CODE_PAIRING_ALIGN
    );
    assert_eq!(
        core::mem::size_of::<tether_relay_table>(),
        TETHER_RELAY_TABLE_SIZE
    );
    assert_eq!(
        core::mem::align_of::<tether_relay_table>(),
        TETHER_RELAY_TABLE_ALIGN
    );
}

#[test]
fn full_exchange_over_a_stream_with_the_decoder() {
    let (mut dev, mut cloud) = established(1);
    let mut dec = zeroed::<tether_decoder>();
    unsafe {
        assert_eq!(tether_decoder_init(&mut *dec, 16384), TETHER_OK);
        let mut wire = seal(&mut dev, b"reading 1");
        let mut n = 0;
        let mut ku = vec![0u8; 64];
        assert_eq!(
            tether_session_update_key(&mut *dev, ku.as_mut_ptr(), ku.len(), &mut n),
            TETHER_OK
        );
        wire.extend_from_slice(&ku[..n]);
        wire.extend(seal(&mut dev, b"reading 2"));
        assert_eq!(
            tether_session_close(&mut *dev, ku.as_mut_ptr(), ku.len(), &mut n),
            TETHER_OK
        );
        wire.extend_from_slice(&ku[..n]);
        // Feed the stream three bytes at a time.
        let mut events = Vec::new();
        for chunk in wire.chunks(3) {
            let mut input = chunk;
            loop {
                let (mut used, mut unit, mut len) = (0usize, null::<u8>(), 0usize);
                assert_eq!(
                    tether_decoder_next(
                        &mut *dec,
                        input.as_ptr(),
                        input.len(),
                        &mut used,
                        &mut unit,
                        &mut len
                    ),
                    TETHER_OK
                );
                input = &input[used..];
                if unit.is_null() {
                    break;
                }
                let u = core::slice::from_raw_parts(unit, len).to_vec();
                events.push(open(&mut cloud, &u));
            }
        }
        let kinds: Vec<_> = events
            .iter()
            .map(|(rc, ev, d)| (*rc, *ev, d.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    TETHER_OK,
                    tether_event::TETHER_EVENT_DATA,
                    b"reading 1".to_vec()
                ),
                (TETHER_OK, tether_event::TETHER_EVENT_KEY_UPDATE, vec![]),
                (
                    TETHER_OK,
                    tether_event::TETHER_EVENT_DATA,
                    b"reading 2".to_vec()
                ),
                (TETHER_OK, tether_event::TETHER_EVENT_CLOSE, vec![]),
            ]
        );
        // After close, sealing is a state error.
        let mut out = [0u8; 64];
        let mut w = 0;
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                b"x".as_ptr(),
                1,
                out.as_mut_ptr(),
                out.len(),
                &mut w,
                null_mut()
            ),
            TETHER_ERR_BAD_STATE
        );
        tether_decoder_wipe(&mut *dec);
        tether_session_wipe(&mut *dev);
        tether_session_wipe(&mut *cloud);
        // Wiped storage is all zeros and refuses use.
        assert!(dev._bytes().iter().all(|b| *b == 0));
        assert_eq!(tether_session_seal_capacity(&mut *dev, 1), 0);
    }
}

#[test]
fn error_paths_change_nothing() {
    let (mut dev, mut cloud) = established(2);
    unsafe {
        let rec = seal(&mut dev, b"dose log");
        // Too small: the needed size is reported and nothing is written.
        let mut small = [0xAAu8; 10];
        let mut n = 0;
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                b"dose log".as_ptr(),
                8,
                small.as_mut_ptr(),
                small.len(),
                &mut n,
                null_mut()
            ),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 8 + 25);
        assert!(small.iter().all(|b| *b == 0xAA));
        // NULLs.
        assert_eq!(
            tether_session_seal(
                null_mut(),
                b"x".as_ptr(),
                1,
                small.as_mut_ptr(),
                10,
                &mut n,
                null_mut()
            ),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                null(),
                1,
                small.as_mut_ptr(),
                10,
                &mut n,
                null_mut()
            ),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                b"x".as_ptr(),
                1,
                null_mut(),
                10,
                &mut n,
                null_mut()
            ),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                b"x".as_ptr(),
                1,
                small.as_mut_ptr(),
                10,
                null_mut(),
                null_mut()
            ),
            TETHER_ERR_NULL
        );
        let mut ev = tether_event::TETHER_EVENT_CLOSE;
        assert_eq!(
            tether_session_open(
                &mut *cloud,
                rec.as_ptr(),
                rec.len(),
                small.as_mut_ptr(),
                10,
                null_mut(),
                &mut n
            ),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_open(
                &mut *cloud,
                rec.as_ptr(),
                rec.len(),
                small.as_mut_ptr(),
                10,
                &mut ev,
                null_mut()
            ),
            TETHER_ERR_NULL
        );
        // Tampered: refused, and the genuine record still opens once; its replay is refused.
        let mut bad = rec.clone();
        bad[12] ^= 1;
        assert_eq!(open(&mut cloud, &bad).0, TETHER_ERR_AUTHENTICATION);
        // Output too small to open: the needed size is reported.
        assert_eq!(
            tether_session_open(
                &mut *cloud,
                rec.as_ptr(),
                rec.len(),
                small.as_mut_ptr(),
                2,
                &mut ev,
                &mut n
            ),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 8);
        let (rc, ev, data) = open(&mut cloud, &rec);
        assert_eq!(
            (rc, ev, data.as_slice()),
            (TETHER_OK, tether_event::TETHER_EVENT_DATA, &b"dose log"[..])
        );
        assert_eq!(open(&mut cloud, &rec).0, TETHER_ERR_REPLAYED);
        // Uninitialized (zeroed) storage is a state error, not a crash.
        let mut blank = zeroed::<tether_session>();
        assert_eq!(open(&mut blank, &rec).0, TETHER_ERR_BAD_STATE);
        tether_session_wipe(&mut *dev);
        tether_session_wipe(&mut *cloud);
        tether_session_wipe(null_mut());
    }
}

/// Seals `msg` by copy: (everything written, the key-update record's length).
fn seal_units(s: &mut tether_session, msg: &[u8]) -> (Vec<u8>, usize) {
    let mut out = vec![0u8; unsafe { tether_session_seal_capacity(s, msg.len()) }];
    let (mut n, mut ku) = (0, usize::MAX);
    let rc = unsafe {
        tether_session_seal(
            s,
            msg.as_ptr(),
            msg.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            &mut ku,
        )
    };
    assert_eq!(rc, TETHER_OK);
    out.truncate(n);
    (out, ku)
}

/// Seals `msg` in place, in a buffer of exactly `tether_session_seal_in_place_len` bytes:
/// (the units, `*start`, `*key_update_len`). Checks that nothing outside the units was written.
fn seal_in_place(s: &mut tether_session, msg: &[u8]) -> (Vec<u8>, usize, usize) {
    let head = unsafe { tether_session_seal_headroom(s) };
    let len = unsafe { tether_session_seal_in_place_len(s, msg.len()) };
    assert_eq!(head, TETHER_SEAL_HEADROOM);
    assert_eq!(len, head + msg.len() + 16, "TETHER_SEAL_IN_PLACE_LEN");
    let mut buf = vec![0xA5u8; len];
    buf[head..head + msg.len()].copy_from_slice(msg);
    let (mut start, mut n, mut ku) = (usize::MAX, usize::MAX, usize::MAX);
    let rc = unsafe {
        tether_session_seal_in_place(
            s,
            buf.as_mut_ptr(),
            buf.len(),
            msg.len(),
            &mut start,
            &mut n,
            &mut ku,
        )
    };
    assert_eq!(rc, TETHER_OK);
    assert!(
        ku < n && start + n == len,
        "the units end where the tag does"
    );
    assert!(
        buf[..start].iter().all(|b| *b == 0xA5),
        "nothing before the units"
    );
    (buf[start..start + n].to_vec(), start, ku)
}

/// Opens `unit` in place: (status, event, `*data_offset`, `*data_len`), sentinels if not written.
fn open_in_place(s: &mut tether_session, unit: &mut [u8]) -> (tether_status, u32, usize, usize) {
    let mut ev = 0xEEEE_EEEEu32;
    let (mut at, mut n) = (usize::MAX, usize::MAX);
    let rc = unsafe {
        tether_session_open_in_place(
            s,
            unit.as_mut_ptr(),
            unit.len(),
            (&mut ev as *mut u32).cast::<tether_event>(),
            &mut at,
            &mut n,
        )
    };
    (rc, ev, at, n)
}

const DATA: u32 = tether_event::TETHER_EVENT_DATA as u32;
const KEY_UPDATE: u32 = tether_event::TETHER_EVENT_KEY_UPDATE as u32;

/// Two identical pairs of sessions (the handshakes are deterministic): one seals and opens by
/// copy, the other in place. The units are the same bytes, an automatic key update included;
/// each opens in place to the same event and plaintext, which lies in the unit after the header.
/// A tampered copy of each unit is refused in place, left exactly as it was, and changes nothing.
/// (One test per framing: under Miri each takes two handshakes' time, and nextest runs them side
/// by side.)
fn in_place_matches_copying(framing: u8) {
    let (overhead, header) = match framing {
        1 => (TETHER_STREAM_OVERHEAD, 5),
        _ => (TETHER_DATAGRAM_OVERHEAD, 9),
    };
    let headroom = TETHER_SEAL_HEADROOM;
    {
        // A key update before every third data record.
        let every_two = |c: &mut tether_config| c.key_update_records = 2;
        let (mut dev, mut cloud) = established_with(framing, every_two);
        let (mut dev2, mut cloud2) = established_with(framing, every_two);
        assert_eq!(
            unsafe { tether_session_seal_headroom(&mut *dev2) },
            headroom
        );
        let msgs: [&[u8]; 4] = [b"SpO2 97 %", b"", b"pulse 72 /min", b"SpO2 96 %"];
        for (i, msg) in msgs.into_iter().enumerate() {
            let (copied, ku) = seal_units(&mut dev, msg);
            let (units, start, ku2) = seal_in_place(&mut dev2, msg);
            assert_eq!(units, copied, "framing {framing}, record {i}");
            assert_eq!(ku2, ku);
            assert_eq!(ku, if i == 2 { overhead } else { 0 }, "record {i}");
            // The data record's header ends where the plaintext lies; the key-update record,
            // when there is one, comes just before it.
            assert_eq!(start, headroom - header - ku);
            let parts = if ku > 0 {
                vec![&units[..ku], &units[ku..]]
            } else {
                vec![&units[..]]
            };
            for part in parts {
                let mut bad = part.to_vec();
                let last = bad.len() - 1;
                bad[last] ^= 0x40;
                let tampered = bad.clone();
                assert_eq!(
                    open_in_place(&mut cloud2, &mut bad),
                    (
                        TETHER_ERR_AUTHENTICATION,
                        0xEEEE_EEEE,
                        usize::MAX,
                        usize::MAX
                    )
                );
                assert_eq!(bad, tampered, "a refused unit is left as it was");
                let (rc, ev, data) = open(&mut cloud, part);
                let mut unit = part.to_vec();
                let (rc2, ev2, at, n) = open_in_place(&mut cloud2, &mut unit);
                assert_eq!((rc2, ev2), (rc, ev as u32));
                assert_eq!(rc, TETHER_OK);
                if ev2 == DATA {
                    assert_eq!((at, n), (header, msg.len()));
                    assert_eq!(&unit[at..at + n], msg);
                    assert_eq!(data, msg);
                } else {
                    assert_eq!((ev2, at, n), (KEY_UPDATE, 0, 0));
                }
            }
        }
        // Both pairs are in step: the in-place pair goes on with the copying calls (the next
        // key update is due).
        let (rec, ku) = seal_units(&mut dev2, b"in step");
        assert_eq!(seal_units(&mut dev, b"in step"), (rec.clone(), overhead));
        assert_eq!(
            open(&mut cloud2, &rec[..ku]).1,
            tether_event::TETHER_EVENT_KEY_UPDATE
        );
        assert_eq!(open(&mut cloud2, &rec[ku..]).2, b"in step");
    }
}

#[test]
fn sealing_and_opening_in_place_match_the_copying_calls_on_a_stream() {
    in_place_matches_copying(1);
}

#[test]
fn sealing_and_opening_in_place_match_the_copying_calls_on_datagrams() {
    in_place_matches_copying(2);
}

/// The in-place calls' error paths: sizes, NULLs, closed and empty sessions, replays. Each
/// writes nothing it should not and leaves the session as it was (on a stream, a consumed
/// counter would make the next record OUT_OF_ORDER).
#[test]
fn in_place_error_paths_change_nothing() {
    let (mut dev, mut cloud) = established(1);
    let s: *mut tether_session = &mut *dev;
    unsafe {
        let need = tether_session_seal_in_place_len(s, 8);
        assert_eq!(need, TETHER_SEAL_HEADROOM + 8 + 16);
        assert_eq!(tether_session_seal_in_place_len(s, usize::MAX), usize::MAX);
        // Too small: the size needed in *written, nothing else written.
        let mut buf = vec![7u8; need - 1];
        let (mut start, mut n, mut ku) = (99usize, 99usize, 99usize);
        let b = buf.as_mut_ptr();
        assert_eq!(
            tether_session_seal_in_place(s, b, need - 1, 8, &mut start, &mut n, &mut ku),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!((start, n, ku), (99, need, 99));
        assert!(buf.iter().all(|x| *x == 7));
        // NULL with length 0 asks for the size.
        n = 99;
        assert_eq!(
            tether_session_seal_in_place(s, null_mut(), 0, 8, &mut start, &mut n, &mut ku),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, need);
        // Above max_plaintext, whatever the buffer.
        assert_eq!(
            tether_session_seal_in_place(s, b, need - 1, 16385, &mut start, &mut n, &mut ku),
            TETHER_ERR_PLAINTEXT_TOO_LARGE
        );
        // NULLs.
        assert_eq!(
            tether_session_seal_in_place(null_mut(), b, need - 1, 8, &mut start, &mut n, &mut ku),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need - 1, 8, null_mut(), &mut n, &mut ku),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need - 1, 8, &mut start, null_mut(), &mut ku),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_seal_in_place(s, null_mut(), 10, 8, &mut start, &mut n, &mut ku),
            TETHER_ERR_NULL
        );
        assert_eq!((start, ku), (99, 99));
        assert!(buf.iter().all(|x| *x == 7));

        // Opening: NULLs, then a record that opens once; its replay is refused and left as it
        // was.
        let rec = seal(&mut *s, b"dose log");
        let mut unit = rec.clone();
        let u = unit.as_mut_ptr();
        let len = unit.len();
        let mut ev = tether_event::TETHER_EVENT_CLOSE;
        let (mut at, mut dl) = (99usize, 99usize);
        assert_eq!(
            tether_session_open_in_place(null_mut(), u, len, &mut ev, &mut at, &mut dl),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_open_in_place(&mut *cloud, null_mut(), len, &mut ev, &mut at, &mut dl),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_open_in_place(&mut *cloud, u, len, null_mut(), &mut at, &mut dl),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_open_in_place(&mut *cloud, u, len, &mut ev, null_mut(), &mut dl),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_session_open_in_place(&mut *cloud, u, len, &mut ev, &mut at, null_mut()),
            TETHER_ERR_NULL
        );
        // An empty unit is malformed.
        assert_eq!(
            tether_session_open_in_place(&mut *cloud, null_mut(), 0, &mut ev, &mut at, &mut dl),
            TETHER_ERR_TRUNCATED
        );
        assert_eq!(
            (ev, at, dl, &unit),
            (tether_event::TETHER_EVENT_CLOSE, 99, 99, &rec)
        );
        assert_eq!(
            open_in_place(&mut cloud, &mut unit),
            (TETHER_OK, DATA, 5, 8)
        );
        assert_eq!(&unit[5..13], b"dose log");
        let mut again = rec.clone();
        assert_eq!(
            open_in_place(&mut cloud, &mut again).0,
            TETHER_ERR_OUT_OF_ORDER
        );
        assert_eq!(again, rec);

        // Nothing above consumed a counter: the next record seals in place and opens as the next
        // one.
        let (units, at0, ku0) = seal_in_place(&mut *s, b"next");
        // No key update: the stream record's 5-byte header ends at the headroom.
        assert_eq!((at0, ku0), (TETHER_SEAL_HEADROOM - 5, 0));
        assert_eq!(open(&mut cloud, &units).2, b"next");

        // After close, sealing in place is a state error; an empty session refuses everything.
        let mut out = [0u8; 64];
        assert_eq!(
            tether_session_close(s, out.as_mut_ptr(), out.len(), &mut n),
            TETHER_OK
        );
        let mut buf = vec![0u8; need];
        let b = buf.as_mut_ptr();
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 8, &mut start, &mut n, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            open_in_place(&mut cloud, &mut out[..n]),
            (TETHER_OK, tether_event::TETHER_EVENT_CLOSE as u32, 0, 0)
        );
        let mut blank = zeroed::<tether_session>();
        assert_eq!(tether_session_seal_headroom(&mut *blank), 0);
        assert_eq!(tether_session_seal_in_place_len(&mut *blank, 8), 0);
        assert_eq!(tether_session_seal_headroom(null_mut()), 0);
        assert_eq!(
            tether_session_seal_in_place(&mut *blank, b, need, 8, &mut start, &mut n, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        let mut unit = rec.clone();
        assert_eq!(open_in_place(&mut blank, &mut unit).0, TETHER_ERR_BAD_STATE);
        assert_eq!(unit, rec);
    }
}

#[test]
fn handshake_errors_wrong_order_refusal_and_bad_entropy() {
    let cloud_pub = public(&CLOUD_SECRET);
    let device_pub = public(&DEVICE_SECRET);
    let mut r = 5u8;
    let mut p = platform(&mut r);
    let dcfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
    let ccfg = config(&CLOUD_SECRET, b"cloud", Some(&device_pub), 2);
    let mut hs = zeroed::<tether_handshake>();
    let mut buf = [0u8; 1024];
    let mut n = 0;
    unsafe {
        // NULLs and uninitialized storage.
        assert_eq!(
            tether_handshake_init_initiator(null_mut(), &dcfg, &p),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, null(), &p),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &dcfg, null()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_handshake_write(&mut *hs, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_ERR_BAD_STATE
        );
        // Asking for the size (NULL, 0) on uninitialized storage is a state error too.
        assert_eq!(
            tether_handshake_write(&mut *hs, null_mut(), 0, &mut n),
            TETHER_ERR_BAD_STATE
        );
        // Broken entropy is reported.
        let mut broken = p;
        broken.fill_random = Some(broken_random);
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &dcfg, &broken),
            TETHER_ERR_ENTROPY
        );
        // Missing required key for IK.
        let mut no_peer = dcfg;
        no_peer.peer_static_key = null();
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &no_peer, &p),
            TETHER_ERR_BAD_CONFIG
        );
        // Bad config values.
        let mut bad = dcfg;
        bad.max_plaintext = 0;
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &bad, &p),
            TETHER_ERR_BAD_CONFIG
        );
        bad = dcfg;
        bad.suite = 9;
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &bad, &p),
            TETHER_ERR_BAD_CONFIG
        );
        // A NULL buffer with a length is a NULL error, not "no pairing code".
        bad = dcfg;
        bad.pairing_code_len = 5;
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &bad, &p),
            TETHER_ERR_NULL
        );

        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &dcfg, &p),
            TETHER_OK
        );
        // Reading before writing is the wrong order.
        assert_eq!(
            tether_handshake_read(&mut *hs, buf.as_ptr(), 10),
            TETHER_ERR_BAD_STATE
        );
        // Too small a buffer reports the size.
        assert_eq!(
            tether_handshake_write(&mut *hs, buf.as_mut_ptr(), 4, &mut n),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        let needed = n;
        assert_eq!(
            tether_handshake_write(&mut *hs, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_OK
        );
        assert_eq!(n, needed);
        // A responder whose policy refuses the device.
        p.check_peer = Some(refuse_revoked);
        let mut cloud = zeroed::<tether_handshake>();
        assert_eq!(
            tether_handshake_init_responder(&mut *cloud, &ccfg, &p),
            TETHER_OK
        );
        // A tampered first message changes nothing...
        let mut tampered = buf;
        tampered[n - 1] ^= 1;
        assert_eq!(
            tether_handshake_read(&mut *cloud, tampered.as_ptr(), n),
            TETHER_ERR_AUTHENTICATION
        );
        let mut action = tether_action::TETHER_ACTION_WRITE;
        assert_eq!(tether_handshake_next(&mut *cloud, &mut action), TETHER_OK);
        assert_eq!(action, tether_action::TETHER_ACTION_READ);
        // ...the genuine one is refused by the policy; the responder goes back to waiting for
        // the next initiator instead of locking up.
        assert_eq!(
            tether_handshake_read(&mut *cloud, buf.as_ptr(), n),
            TETHER_ERR_REVOKED
        );
        assert_eq!(tether_handshake_next(&mut *cloud, &mut action), TETHER_OK);
        assert_eq!(action, tether_action::TETHER_ACTION_READ);
        let mut s = zeroed::<tether_session>();
        assert_eq!(
            tether_handshake_finish(&mut *cloud, &mut *s, null_mut(), null_mut()),
            TETHER_ERR_BAD_STATE
        );
        tether_handshake_wipe(&mut *cloud);
        tether_handshake_wipe(&mut *hs);
        tether_handshake_wipe(null_mut());
    }
}

#[test]
fn keys_and_pairing_codes() {
    let mut r = 9u8;
    let p = platform(&mut r);
    let (mut s, mut pk) = ([0u8; 32], [0u8; 32]);
    unsafe {
        assert_eq!(
            tether_keypair_generate(&p, s.as_mut_ptr(), pk.as_mut_ptr()),
            TETHER_OK
        );
        assert_eq!(public(&s), pk);
        assert_eq!(
            tether_keypair_generate(&p, null_mut(), pk.as_mut_ptr()),
            TETHER_ERR_NULL
        );
        let mut text = [0u8; 80];
        let mut n = 0;
        assert_eq!(
            tether_pairing_code_generate(&p, pk.as_ptr(), text.as_mut_ptr(), 10, &mut n),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, TETHER_PAIRING_CODE_LEN);
        assert_eq!(
            tether_pairing_code_generate(&p, pk.as_ptr(), text.as_mut_ptr(), text.len(), &mut n),
            TETHER_OK
        );
        assert!(text[..n].starts_with(b"TETHER1:"));
    }
}

trait Bytes {
    fn _bytes(&self) -> &[u8];
}
impl Bytes for tether_session {
    fn _bytes(&self) -> &[u8] {
        unsafe {
            core::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The message layer through the C ABI, against the spec vectors (spec/vectors/*.json).

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// messages_telemetry.json "vitals/spo2-and-temperature".
const VITALS_HEX: &str = "8201a4001b0000019bc0c69b40011903e80282820100820720038f0000186101011901740000f97e000101c48221190e8800001860";
/// messages_signed.json "command_basal_rate".
const COMMAND_BASAL: &str = "8210d28443a10127a10446636c696e69635828a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e25840abc92a807e672d68f95033df6896688bf25f985195509ac33609c22fe5664fa8068cdaba8286f3ad568e697937d041e05830ce36b26f14708db2620416fe7506";
/// messages_signed.json "firmware_manifest".
const MANIFEST: &str = "821820d28443a10127a1044466772d31587aa701507465746865722d76656e646f722d30310250696e73756c696e2d70756d702d7032610365322e352e3004182a05183006822f582031cedec8e83dc0fb13e8ba27dfd62dd11aefa1923d78bfbade0eb4f33963614407782068747470733a2f2f66772e6578616d706c652f7032612f322e352e302e62696e5840a52a2c2ea663eacbbc0fd5e283796b5fcecdd17a1c83b227929ca7ab979d9e8e4e5cfebd430e2998562d4a595762ba00869c2ef88dadb3afe7add9f016c91203";
/// messages_signed.json "image_chunk_1".
const CHUNK_1: &str = "821821a301182a0218200350e3eaf1f8ff060d141b222930373e454c";
const NOW: u64 = 1_790_000_000_000;

fn decode_vitals(
    msg: &[u8],
    ccap: usize,
    rcap: usize,
) -> (
    tether_status,
    u64,
    u32,
    Vec<tether_vital_channel>,
    Vec<tether_vital_reading>,
    usize,
    usize,
) {
    let (mut base, mut tick, mut nc, mut nr) = (0u64, 0u32, 0usize, 0usize);
    let mut ch = vec![tether_vital_channel::default(); ccap];
    let mut rd = vec![tether_vital_reading::default(); rcap];
    let rc = unsafe {
        tether_vitals_decode(
            msg.as_ptr(),
            msg.len(),
            &mut base,
            &mut tick,
            ch.as_mut_ptr(),
            ccap,
            &mut nc,
            rd.as_mut_ptr(),
            rcap,
            &mut nr,
        )
    };
    (rc, base, tick, ch, rd, nc, nr)
}

#[test]
fn message_kind_and_vitals_round_trip_the_spec_vector() {
    let msg = unhex(VITALS_HEX);
    let mut kind = 0u32;
    assert_eq!(
        unsafe { tether_message_kind(msg.as_ptr(), msg.len(), &mut kind) },
        TETHER_OK
    );
    assert_eq!(kind, TETHER_KIND_VITALS);
    let bad = [0x82u8, 0x05, 0x07];
    kind = 99;
    assert_eq!(
        unsafe { tether_message_kind(bad.as_ptr(), bad.len(), &mut kind) },
        TETHER_ERR_MESSAGE
    );
    assert_eq!(kind, 99);

    let (rc, base, tick, ch, rd, nc, nr) = decode_vitals(&msg, 4, 8);
    assert_eq!(rc, TETHER_OK);
    assert_eq!((base, tick, nc, nr), (1_768_465_800_000, 1000, 2, 5));
    assert_eq!(
        ch[0],
        tether_vital_channel {
            code: 1,
            unit: 0,
            exponent: 0
        }
    );
    assert_eq!(
        ch[1],
        tether_vital_channel {
            code: 7,
            unit: 0,
            exponent: -1
        }
    );
    let num = |mantissa, exponent| tether_vital_value {
        mantissa,
        exponent,
        special: 0,
    };
    assert_eq!(
        rd[0],
        tether_vital_reading {
            time_ms: base,
            channel: 0,
            value: num(97, 0)
        }
    );
    assert_eq!(rd[1].value, num(372, -1));
    assert_eq!(rd[2].value.special, TETHER_VALUE_NAN);
    assert_eq!(
        rd[3],
        tether_vital_reading {
            time_ms: base + 2000,
            channel: 1,
            value: num(3720, -2)
        }
    );

    // Encoding what was decoded gives the vector's bytes back.
    let mut out = [0u8; 128];
    let mut n = 0usize;
    let enc = |out: &mut [u8], n: &mut usize| unsafe {
        tether_vitals_encode(
            base,
            tick,
            ch.as_ptr(),
            nc,
            rd.as_ptr(),
            nr,
            out.as_mut_ptr(),
            out.len(),
            n,
        )
    };
    assert_eq!(enc(&mut out, &mut n), TETHER_OK);
    assert_eq!(&out[..n], &msg[..]);
    let mut small = [0u8; 10];
    assert_eq!(enc(&mut small, &mut n), TETHER_ERR_BUFFER_TOO_SMALL);
    assert_eq!(n, msg.len());
    assert_eq!(small, [0u8; 10]);

    // Too-small caps report the counts needed and write nothing else.
    let (rc, base2, _, _, _, nc2, nr2) = decode_vitals(&msg, 1, 8);
    assert_eq!(
        (rc, base2, nc2, nr2),
        (TETHER_ERR_BUFFER_TOO_SMALL, 0, 2, 5)
    );
    // A corrupted vector is refused.
    let mut bad = msg.clone();
    bad.push(0x00);
    assert_eq!(decode_vitals(&bad, 4, 8).0, TETHER_ERR_MESSAGE);
    // Unknown special value and unknown table code are configuration errors.
    let mut rd2 = rd.clone();
    rd2[0].value.special = 9;
    let rc = unsafe {
        tether_vitals_encode(
            base,
            tick,
            ch.as_ptr(),
            nc,
            rd2.as_ptr(),
            nr,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(rc, TETHER_ERR_BAD_CONFIG);
    // Overlap of the output with an input.
    let p = rd2.as_mut_ptr();
    let rc =
        unsafe { tether_vitals_encode(base, tick, ch.as_ptr(), nc, p, nr, p.cast(), 64, &mut n) };
    assert_eq!(rc, TETHER_ERR_OVERLAP);
}

#[test]
fn sfloat_and_float_convert_exactly() {
    let mut v = tether_vital_value::default();
    assert_eq!(
        unsafe { tether_value_from_sfloat(0xF174, &mut v) },
        TETHER_OK
    );
    assert_eq!(
        v,
        tether_vital_value {
            mantissa: 372,
            exponent: -1,
            special: 0
        }
    );
    assert_eq!(
        unsafe { tether_value_from_sfloat(0x07FF, &mut v) },
        TETHER_OK
    );
    assert_eq!(v.special, TETHER_VALUE_NAN);
    assert_eq!(
        unsafe { tether_value_from_sfloat(0x0801, &mut v) },
        TETHER_ERR_MESSAGE
    );
    assert_eq!(v.special, TETHER_VALUE_NAN);
    assert_eq!(
        unsafe { tether_value_from_float(0xFE00_0E88, &mut v) },
        TETHER_OK
    );
    assert_eq!(
        v,
        tether_vital_value {
            mantissa: 3720,
            exponent: -2,
            special: 0
        }
    );
    assert_eq!(
        unsafe { tether_value_from_float(0x0080_0002, &mut v) },
        TETHER_OK
    );
    assert_eq!(v.special, TETHER_VALUE_NEG_INF);
    assert_eq!(
        unsafe { tether_value_from_float(0, null_mut()) },
        TETHER_ERR_NULL
    );
}

const CLINIC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

#[test]
fn command_verify_accepts_once_then_reports_the_replay() {
    let key: [u8; 32] = unhex(CLINIC_PUBLIC).try_into().unwrap();
    let basal = [tether_command_rule {
        id: 1,
        min: 0,
        max: 5000,
        required: 1,
    }];
    let grants = [tether_command_grant {
        operation: 1,
        rules: basal.as_ptr(),
        n_rules: 1,
    }];
    let auth = [tether_command_authority {
        kid: b"clinic".as_ptr(),
        kid_len: 6,
        public_key: key,
        grants: grants.as_ptr(),
        n_grants: 1,
    }];
    let policy = tether_command_policy {
        device_id: b"SN-0001".as_ptr(),
        device_id_len: 7,
        authorities: auth.as_ptr(),
        n_authorities: 1,
        max_clock_skew_ms: 60_000,
    };
    let msg = unhex(COMMAND_BASAL);
    let mut last = 5u64;
    let mut cmd = tether_command::default();
    let mut reason = 77u32;
    let verify = |last: &mut u64, cmd: &mut tether_command, reason: &mut u32| unsafe {
        tether_command_verify(&policy, last, msg.as_ptr(), msg.len(), NOW, cmd, reason)
    };
    assert_eq!(verify(&mut last, &mut cmd, &mut reason), TETHER_OK);
    assert_eq!(
        (last, reason, cmd.command_id, cmd.operation, cmd.n_params),
        (7, 0, 7, 1, 1)
    );
    assert_eq!(cmd.params[0], tether_command_param { id: 1, value: 1250 });
    assert_eq!(&cmd.authority_kid[..cmd.authority_kid_len], b"clinic");
    let before = cmd;
    assert_eq!(
        verify(&mut last, &mut cmd, &mut reason),
        TETHER_ERR_COMMAND_REPLAYED
    );
    assert_eq!((last, reason), (7, TETHER_COMMAND_REASON_REPLAYED));
    assert_eq!(cmd, before);

    let mut out = [0u8; 32];
    let mut n = 0usize;
    // messages_signed.json "ack_accepted".
    let rc = unsafe {
        tether_command_ack_encode(
            7,
            TETHER_ACK_ACCEPTED,
            0,
            1_790_000_000_020,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(rc, TETHER_OK);
    assert_eq!(&out[..n], &unhex("8211a301070201041b000001a0c4506c14")[..]);
    let rc = unsafe {
        tether_command_ack_encode(
            7,
            TETHER_ACK_ACCEPTED,
            3,
            1,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(rc, TETHER_ERR_BAD_CONFIG);
    // messages_signed.json "ack_rejected_expired": the id comes from the command.
    let rc = unsafe {
        tether_command_ack_rejected(
            msg.as_ptr(),
            msg.len(),
            TETHER_COMMAND_REASON_EXPIRED,
            1_790_000_000_020,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(rc, TETHER_OK);
    assert_eq!(
        &out[..n],
        &unhex("8211a4010702020304041b000001a0c4506c14")[..]
    );
    let rc = unsafe {
        tether_command_ack_rejected(
            msg.as_ptr(),
            msg.len(),
            10,
            1,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(rc, TETHER_ERR_BAD_CONFIG);
}

const VENDOR_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const IMAGE: &str = "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c";

unsafe extern "C" fn read_image(user: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32 {
    let image = unsafe { &*(user as *const Vec<u8>) };
    match image.get(offset as usize..offset as usize + len) {
        Some(src) => {
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), buf, len) };
            0
        }
        None => -1,
    }
}

#[test]
fn manifest_chunk_and_image_check() {
    let auth = [tether_update_authority {
        kid: b"fw-1".as_ptr(),
        kid_len: 4,
        public_key: unhex(VENDOR_PUBLIC).try_into().unwrap(),
    }];
    let mut policy = tether_update_policy {
        vendor_id: *b"tether-vendor-01",
        class_id: *b"insulin-pump-p2a",
        installed_sequence: 41,
        max_image_size: 4096,
        authorities: auth.as_ptr(),
        n_authorities: 1,
    };
    let msg = unhex(MANIFEST);
    let mut m: tether_manifest = unsafe { core::mem::zeroed() };
    assert_eq!(
        unsafe { tether_manifest_verify(&policy, msg.as_ptr(), msg.len(), &mut m) },
        TETHER_OK
    );
    assert_eq!((m.sequence, m.image_size), (42, 48));
    let version: Vec<u8> = m
        .version
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    assert_eq!(version, b"2.5.0");
    policy.installed_sequence = 42;
    let mut m2: tether_manifest = unsafe { core::mem::zeroed() };
    assert_eq!(
        unsafe { tether_manifest_verify(&policy, msg.as_ptr(), msg.len(), &mut m2) },
        TETHER_ERR_UPDATE_ROLLBACK
    );
    assert_eq!(m2.sequence, 0);

    let chunk = unhex(CHUNK_1);
    let (mut seq, mut off, mut data, mut dlen) = (0u64, 0u32, null::<u8>(), 0usize);
    let rc = unsafe {
        tether_image_chunk_decode(
            chunk.as_ptr(),
            chunk.len(),
            &mut seq,
            &mut off,
            &mut data,
            &mut dlen,
        )
    };
    assert_eq!((rc, seq, off, dlen), (TETHER_OK, 42, 32, 16));
    assert_eq!(data, unsafe { chunk.as_ptr().add(chunk.len() - 16) });

    let mut image = unhex(IMAGE);
    let user = (&mut image as *mut Vec<u8>).cast::<c_void>();
    assert_eq!(
        unsafe { tether_image_check(&m, Some(read_image), user) },
        TETHER_OK
    );
    image[47] ^= 1;
    let user = (&mut image as *mut Vec<u8>).cast::<c_void>();
    assert_eq!(
        unsafe { tether_image_check(&m, Some(read_image), user) },
        TETHER_ERR_UPDATE_DIGEST_MISMATCH
    );
    image.truncate(40);
    let user = (&mut image as *mut Vec<u8>).cast::<c_void>();
    assert_eq!(
        unsafe { tether_image_check(&m, Some(read_image), user) },
        TETHER_ERR_IO
    );
    assert_eq!(
        unsafe { tether_image_check(&m, None, user) },
        TETHER_ERR_NULL
    );
}

mod code_pairing;
mod link;
mod misuse;
mod relay;
