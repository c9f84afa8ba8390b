//! Short-code pairing through the C ABI (spec/PROTOCOL.md 4.7.2): the code exchange, the pairing
//! handshake keyed by it, the attempt limiter, the spec's vectors, and the handles' misuse. Run
//! under Miri in CI, so the exchanges are few.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{null, null_mut};

use tether::short_code::AttemptLimiter;
use tether::Instant;

use super::*;

const PHONE_SECRET: [u8; 32] = [3; 32];
const DATAGRAM: u8 = 2;
const STREAM: u8 = 1;

/// A code pairing in heap storage, wiped when the test lets go of it.
struct Cp(Box<tether_code_pairing>);

impl Cp {
    fn ptr(&mut self) -> *mut tether_code_pairing {
        &mut *self.0
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        unsafe { tether_code_pairing_wipe(&mut *self.0) }
    }
}

fn phone(p: &tether_platform, framing: u8, code: &[u8]) -> Cp {
    let mut cp = Cp(zeroed());
    let rc =
        unsafe { tether_code_pairing_init_phone(cp.ptr(), p, framing, code.as_ptr(), code.len()) };
    assert_eq!(rc, TETHER_OK);
    cp
}

fn device(p: &tether_platform, framing: u8, code: &[u8]) -> Cp {
    let mut cp = Cp(zeroed());
    let rc =
        unsafe { tether_code_pairing_init_device(cp.ptr(), p, framing, code.as_ptr(), code.len()) };
    assert_eq!(rc, TETHER_OK);
    cp
}

fn start(cp: &mut Cp) -> Vec<u8> {
    let mut out = [0u8; TETHER_CODE_MESSAGE_MAX];
    let mut n = 0;
    let rc = unsafe { tether_code_pairing_start(cp.ptr(), out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(rc, TETHER_OK);
    out[..n].to_vec()
}

/// What one `tether_code_pairing_respond` did: its status, code message 1 (if any), `*written`
/// and `*retry_in_ms` (which start as 0xEE.. and 77).
struct Responded {
    status: tether_status,
    message: Vec<u8>,
    written: usize,
    retry: u64,
}

fn respond(cp: &mut Cp, limiter: &mut tether_attempt_limiter, now: u64, unit: &[u8]) -> Responded {
    let mut out = [0xEEu8; TETHER_CODE_MESSAGE_MAX];
    let (mut written, mut retry) = (0xEEEEusize, 77u64);
    let status = unsafe {
        tether_code_pairing_respond(
            cp.ptr(),
            limiter,
            now,
            unit.as_ptr(),
            unit.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut written,
            &mut retry,
        )
    };
    if status != TETHER_OK {
        assert!(out.iter().all(|b| *b == 0xEE), "{status:?} wrote a message");
    }
    Responded {
        status,
        message: if status == TETHER_OK {
            out[..written].to_vec()
        } else {
            vec![]
        },
        written,
        retry,
    }
}

fn finish(cp: &mut Cp, unit: &[u8]) -> tether_status {
    unsafe { tether_code_pairing_finish(cp.ptr(), unit.as_ptr(), unit.len()) }
}

/// The configuration of a pairing handshake over BLE (device-phone channel, datagrams).
fn ble_config(secret: &'static [u8; 32], id: &'static [u8]) -> tether_config {
    let mut c = config(secret, id, None, DATAGRAM);
    c.channel = 2;
    c
}

/// Drives two handshakes until neither writes; returns the status of the first read that failed
/// (OK if none did).
fn drive(a: *mut tether_handshake, b: *mut tether_handshake) -> tether_status {
    let mut buf = [0u8; 512];
    let mut action = tether_action::TETHER_ACTION_FAILED;
    for _ in 0..3 {
        for (me, other) in [(a, b), (b, a)] {
            unsafe {
                assert_eq!(tether_handshake_next(me, &mut action), TETHER_OK);
                if action == tether_action::TETHER_ACTION_WRITE {
                    let mut n = 0;
                    assert_eq!(
                        tether_handshake_write(me, buf.as_mut_ptr(), buf.len(), &mut n),
                        TETHER_OK
                    );
                    let rc = tether_handshake_read(other, buf.as_ptr(), n);
                    if rc != TETHER_OK {
                        return rc;
                    }
                }
            }
        }
    }
    TETHER_OK
}

fn next(hs: *mut tether_handshake) -> tether_action {
    let mut action = tether_action::TETHER_ACTION_FAILED;
    assert_eq!(unsafe { tether_handshake_next(hs, &mut action) }, TETHER_OK);
    action
}

/// Finishes a handshake into a session; returns it with the peer's id and static key.
fn session(hs: *mut tether_handshake) -> (OwnedSession, Vec<u8>, [u8; 32]) {
    let mut s = zeroed::<tether_session>();
    let mut peer = unsafe { core::mem::zeroed::<tether_peer>() };
    assert_eq!(
        unsafe { tether_handshake_finish(hs, &mut *s, &mut peer, null_mut()) },
        TETHER_OK
    );
    (
        OwnedSession(s),
        peer.id[..peer.id_len].to_vec(),
        peer.static_key,
    )
}

#[test]
fn code_pairing_then_the_pairing_handshake_then_records() {
    let (mut r1, mut r2) = (1u8, 2u8);
    let (pp, pd) = (platform(&mut r1), platform(&mut r2));
    // The device draws and shows a code; the user types it into the phone.
    let mut code = [0u8; TETHER_SHORT_CODE_LEN + 2];
    unsafe {
        assert_eq!(
            tether_short_code_generate(&pd, code.as_mut_ptr()),
            TETHER_OK
        );
    }
    let code = &code[..TETHER_SHORT_CODE_LEN];
    assert!(code.iter().all(u8::is_ascii_digit));
    let mut dev = device(&pd, DATAGRAM, code);
    let mut ph = phone(&pp, DATAGRAM, code);
    let mut limiter = tether_attempt_limiter {
        failures: 0,
        next_allowed_ms: 0,
    };

    let m0 = start(&mut ph);
    assert_eq!((m0.len(), m0[0]), (33, 0x51));
    let r = respond(&mut dev, &mut limiter, 1000, &m0);
    assert_eq!((r.status, r.written, r.message[0]), (TETHER_OK, 33, 0x55));
    // The attempt counts as failed until the handshake finishes.
    assert_eq!(
        limiter,
        tether_attempt_limiter {
            failures: 1,
            next_allowed_ms: 1000
        }
    );
    assert_eq!(finish(&mut ph, &r.message), TETHER_OK);
    // A spent code, a finished exchange: a second answer or finish is a state error.
    assert_eq!(
        respond(&mut dev, &mut limiter, 1000, &m0).status,
        TETHER_ERR_BAD_STATE
    );
    assert_eq!(finish(&mut ph, &r.message), TETHER_ERR_BAD_STATE);
    assert_eq!(limiter.failures, 1);

    // The pairing handshake, keyed by the exchange.
    let pcfg = ble_config(&PHONE_SECRET, b"phone-app");
    let dcfg = ble_config(&DEVICE_SECRET, b"SN-1");
    let mut phs = zeroed::<tether_handshake>();
    let mut dhs = zeroed::<tether_handshake>();
    let (phs, dhs): (*mut tether_handshake, *mut tether_handshake) = (&mut *phs, &mut *dhs);
    unsafe {
        // Each side's key for its own role only.
        assert_eq!(
            tether_handshake_init_code_responder(phs, &pcfg, &pp, ph.ptr()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_handshake_init_code_initiator(dhs, &dcfg, &pd, dev.ptr()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_handshake_init_code_initiator(phs, &pcfg, &pp, ph.ptr()),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_init_code_responder(dhs, &dcfg, &pd, dev.ptr()),
            TETHER_OK
        );
        // Single use: the keys moved into the handshakes.
        let mut other = zeroed::<tether_handshake>();
        assert_eq!(
            tether_handshake_init_code_initiator(&mut *other, &pcfg, &pp, ph.ptr()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_handshake_init_code_responder(&mut *other, &dcfg, &pd, dev.ptr()),
            TETHER_ERR_BAD_STATE
        );
        assert!(other._opaque.iter().all(|w| *w == 0), "left as it was");
    }
    assert_eq!(next(dhs), tether_action::TETHER_ACTION_READ);
    assert_eq!(drive(phs, dhs), TETHER_OK);
    assert_eq!(next(phs), tether_action::TETHER_ACTION_FINISH);
    assert_eq!(next(dhs), tether_action::TETHER_ACTION_FINISH);
    let (mut ps, device_id, device_key) = session(phs);
    let (mut ds, phone_id, phone_key) = session(dhs);
    assert_eq!(
        (&device_id[..], device_key),
        (&b"SN-1"[..], public(&DEVICE_SECRET))
    );
    assert_eq!(
        (&phone_id[..], phone_key),
        (&b"phone-app"[..], public(&PHONE_SECRET))
    );
    unsafe {
        assert_eq!(tether_attempt_limiter_succeeded(&mut limiter), TETHER_OK);
    }
    assert_eq!(
        limiter,
        tether_attempt_limiter {
            failures: 0,
            next_allowed_ms: 0
        }
    );
    // Records both ways: the phone is paired once the device's record opens.
    let rec = seal(&mut ds, b"paired");
    assert_eq!(
        open(&mut ps, &rec),
        (
            TETHER_OK,
            tether_event::TETHER_EVENT_DATA,
            b"paired".to_vec()
        )
    );
    let rec = seal(&mut ps, b"hello device");
    assert_eq!(open(&mut ds, &rec).2, b"hello device");
}

#[test]
fn code_pairing_with_a_wrong_code_fails_at_the_device() {
    let (mut r1, mut r2) = (3u8, 4u8);
    let (pp, pd) = (platform(&mut r1), platform(&mut r2));
    let mut dev = device(&pd, STREAM, b"123456");
    let mut ph = phone(&pp, STREAM, b"123465");
    let mut limiter = tether_attempt_limiter {
        failures: 2,
        next_allowed_ms: 0,
    };
    let m0 = start(&mut ph);
    assert_eq!(m0[..3], [0, 33, 0x51]);
    let r = respond(&mut dev, &mut limiter, 5, &m0);
    assert_eq!((r.status, r.message.len()), (TETHER_OK, 35));
    // Three failures from now on: the next attempt waits 30 s.
    assert_eq!((limiter.failures, limiter.next_allowed_ms), (3, 30_005));
    // Nothing tells the phone yet: the keys differ.
    assert_eq!(finish(&mut ph, &r.message), TETHER_OK);
    let mut pcfg = ble_config(&PHONE_SECRET, b"phone-app");
    let mut dcfg = ble_config(&DEVICE_SECRET, b"SN-1");
    pcfg.framing = STREAM;
    dcfg.framing = STREAM;
    let mut phs = zeroed::<tether_handshake>();
    let mut dhs = zeroed::<tether_handshake>();
    let (phs, dhs): (*mut tether_handshake, *mut tether_handshake) = (&mut *phs, &mut *dhs);
    unsafe {
        assert_eq!(
            tether_handshake_init_code_initiator(phs, &pcfg, &pp, ph.ptr()),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_init_code_responder(dhs, &dcfg, &pd, dev.ptr()),
            TETHER_OK
        );
    }
    // The device refuses message 0 and keeps waiting; the phone hears nothing.
    assert_eq!(drive(phs, dhs), TETHER_ERR_AUTHENTICATION);
    assert_eq!(next(dhs), tether_action::TETHER_ACTION_READ);
    assert_eq!(next(phs), tether_action::TETHER_ACTION_READ);
    // An ordinary handshake message 0 (QR pairing, enrollment) is not what it waits for either.
    let mut qr = zeroed::<tether_handshake>();
    let mut ecfg = pcfg;
    ecfg.pattern = 2;
    let mut buf = [0u8; 256];
    let mut n = 0;
    unsafe {
        assert_eq!(
            tether_handshake_init_initiator(&mut *qr, &ecfg, &pp),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_write(&mut *qr, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_read(dhs, buf.as_ptr(), n),
            TETHER_ERR_UNEXPECTED_MESSAGE
        );
        tether_handshake_wipe(&mut *qr);
        tether_handshake_wipe(phs);
        tether_handshake_wipe(dhs);
    }
    assert_eq!(limiter.failures, 3, "the attempt stays counted");
}

/// A platform whose entropy is `queue`, then 1, 2, 3, ... (as the core's vector generator).
struct Queue {
    bytes: Vec<u8>,
    at: usize,
    next: u8,
}

unsafe extern "C" fn from_queue(user: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    let q = unsafe { &mut *user.cast::<Queue>() };
    for i in 0..len {
        let b = match q.bytes.get(q.at) {
            Some(b) => {
                q.at += 1;
                *b
            }
            None => {
                q.next = q.next.wrapping_add(1);
                q.next
            }
        };
        unsafe { *buf.add(i) = b };
    }
    0
}

fn queued(q: &mut Queue) -> tether_platform {
    tether_platform {
        user: (q as *mut Queue).cast(),
        fill_random: Some(from_queue),
        monotonic_ms: None,
        unix_time: None,
        check_peer: Some(accept),
    }
}

// spec/vectors/code_XXpsk0_25519_ChaChaPoly_BLAKE2s_datagram.json
const V_CODE: &[u8] = b"306119";
const V_MESSAGE_0: &str = "5136012d9832d1db9d821838a81936e5ab227165756115d592ecec44547e3fde0c";
const V_MESSAGE_1: &str = "55d411437cc90aab1257f0f69dbeb6520461b49dadd31d05a1bd36173091020c03";
const V_HANDSHAKE: [&str; 3] = [
    "5001034c2817a9d668ed844d2f95b93b69ecb8485095783a015a424164b0d09702894fe9c2539685832e80d45\
     8a044e9be78d2",
    "5419d80204bf85f3e1118e1b23410c88f0d0eeced5156f4c5bdf347b14ed7ec63f4cc97bb04fa9e0fec24457a\
     0c55e041257326958fe06de9506b0556fd97fc9832eecf86da0355d63480effb14482638ab9a3c26819fd1c3d\
     78f1c45b2f83561c42d9d8c85bd897ed23d9236e2d9c34fc898be3460c09dc0dcf7457f27cfafc6d780d3421\
     78865f",
    "5868e1428ff319d38091e7b8b2785625b7f0d149323dbcdcdc917a6d61adfea2c01ed3ee053879da0036f32a5\
     f7b399baeae9a6db1fd9bd477909a8ab4cae7ca91e71d9caaa338fac3c55d4ebc1f183eda341fb9f15a6cfa2b\
     76565c30da88fa50e7770a383ce4",
];
const V_HASH: &str = "59fc50584c0b1f3e47741994aa643d737e31451863e28e708ab222fcc35f46a4";

fn vector_config(
    secret: &'static [u8; 32],
    id: &'static [u8],
    model: &'static [u8],
    key_id: &'static [u8],
) -> tether_config {
    let mut c = ble_config(secret, id);
    c.identity.model = model.as_ptr();
    c.identity.model_len = model.len();
    c.identity.version = b"1.0.0".as_ptr();
    c.identity.version_len = 5;
    c.identity.key_id = key_id.as_ptr();
    c.identity.key_id_len = key_id.len();
    c
}

#[test]
fn code_pairing_matches_the_spec_vector() {
    let mut phone_q = Queue {
        bytes: [(0..64).collect::<Vec<u8>>(), vec![0xE1; 32]].concat(),
        at: 0,
        next: 0,
    };
    let mut device_q = Queue {
        bytes: [(0x80..0xC0).collect::<Vec<u8>>(), vec![0xE2; 32]].concat(),
        at: 0,
        next: 0,
    };
    let (pp, pd) = (queued(&mut phone_q), queued(&mut device_q));
    let mut ph = phone(&pp, DATAGRAM, V_CODE);
    let mut dev = device(&pd, DATAGRAM, V_CODE);
    let mut limiter = tether_attempt_limiter {
        failures: 0,
        next_allowed_ms: 0,
    };
    let m0 = start(&mut ph);
    assert_eq!(m0, unhex(V_MESSAGE_0));
    let r = respond(&mut dev, &mut limiter, 0, &m0);
    assert_eq!((r.status, &r.message), (TETHER_OK, &unhex(V_MESSAGE_1)));
    assert_eq!(finish(&mut ph, &r.message), TETHER_OK);

    // The handshake keyed by it, with the vector's keys, identities and ephemerals.
    static PHONE_STATIC: [u8; 32] = [3; 32];
    static DEVICE_STATIC: [u8; 32] = [1; 32];
    let pcfg = vector_config(&PHONE_STATIC, b"phone-app-7", b"CompanionApp", &[3]);
    let dcfg = vector_config(&DEVICE_STATIC, b"SN-0001", b"GlucoseMonitor G1", &[1]);
    let mut phs = zeroed::<tether_handshake>();
    let mut dhs = zeroed::<tether_handshake>();
    let (phs, dhs): (*mut tether_handshake, *mut tether_handshake) = (&mut *phs, &mut *dhs);
    let mut buf = [0u8; 512];
    unsafe {
        assert_eq!(
            tether_handshake_init_code_initiator(phs, &pcfg, &pp, ph.ptr()),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_init_code_responder(dhs, &dcfg, &pd, dev.ptr()),
            TETHER_OK
        );
        for (i, want) in V_HANDSHAKE.iter().enumerate() {
            let (from, to) = if i % 2 == 0 { (phs, dhs) } else { (dhs, phs) };
            let mut n = 0;
            assert_eq!(
                tether_handshake_write(from, buf.as_mut_ptr(), buf.len(), &mut n),
                TETHER_OK
            );
            assert_eq!(buf[..n], unhex(want)[..], "handshake message {i}");
            assert_eq!(tether_handshake_read(to, buf.as_ptr(), n), TETHER_OK);
        }
        let (mut ps, mut ds) = (zeroed::<tether_session>(), zeroed::<tether_session>());
        let (mut h1, mut h2) = ([0u8; 32], [0u8; 32]);
        assert_eq!(
            tether_handshake_finish(phs, &mut *ps, null_mut(), h1.as_mut_ptr()),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_finish(dhs, &mut *ds, null_mut(), h2.as_mut_ptr()),
            TETHER_OK
        );
        assert_eq!((h1.to_vec(), h2.to_vec()), (unhex(V_HASH), unhex(V_HASH)));
        tether_session_wipe(&mut *ps);
        tether_session_wipe(&mut *ds);
    }
}

#[test]
fn code_pairing_rate_limits_and_restores_after_a_reboot() {
    let (mut r1, mut r2) = (5u8, 6u8);
    let (pp, pd) = (platform(&mut r1), platform(&mut r2));
    let mut ph = phone(&pp, DATAGRAM, b"000001");
    // One code message 0 serves every attempt here: each attempt is a fresh device code.
    let m0 = start(&mut ph);
    let mut limiter = tether_attempt_limiter {
        failures: 0,
        next_allowed_ms: 0,
    };
    for i in 0..3u32 {
        let mut dev = device(&pd, DATAGRAM, b"999999");
        assert_eq!(respond(&mut dev, &mut limiter, 100, &m0).status, TETHER_OK);
        assert_eq!(limiter.failures, i + 1);
    }
    assert_eq!(limiter.next_allowed_ms, 100 + 30_000);
    // The fourth waits: refused with the time left, nothing changed, the code kept.
    let mut dev = device(&pd, DATAGRAM, b"999999");
    let saved = limiter;
    let r = respond(&mut dev, &mut limiter, 10_100, &m0);
    assert_eq!(
        (r.status, r.retry, r.written, limiter),
        (TETHER_ERR_RATE_LIMITED, 20_000, 0xEEEE, saved)
    );
    let text = unsafe { std::ffi::CStr::from_ptr(tether_strerror(TETHER_ERR_RATE_LIMITED as i32)) };
    assert!(text
        .to_bytes()
        .starts_with(b"too many failed pairing attempts"));
    // A reboot: the count comes back from flash, the clock restarts at 0, the full wait again.
    unsafe {
        assert_eq!(
            tether_attempt_limiter_restore(&mut limiter, saved.failures, 0),
            TETHER_OK
        );
    }
    assert_eq!((limiter.failures, limiter.next_allowed_ms), (3, 30_000));
    let r = respond(&mut dev, &mut limiter, 29_999, &m0);
    assert_eq!((r.status, r.retry), (TETHER_ERR_RATE_LIMITED, 1));
    let r = respond(&mut dev, &mut limiter, 30_000, &m0);
    assert_eq!(r.status, TETHER_OK);
    assert_eq!((limiter.failures, limiter.next_allowed_ms), (4, 90_000));
    // Restored with more failures: 60 s, 120 s, ... up to an hour.
    for (failures, wait) in [
        (4, 60_000),
        (5, 120_000),
        (10, 3_600_000),
        (u32::MAX, 3_600_000),
    ] {
        unsafe { tether_attempt_limiter_restore(&mut limiter, failures, 7) };
        assert_eq!(limiter.next_allowed_ms, 7 + wait);
        // The struct rebuilds the core's limiter exactly.
        assert_eq!(
            AttemptLimiter::from(&limiter),
            AttemptLimiter::restore(failures, Instant(7))
        );
        assert_eq!(
            tether_attempt_limiter::from(&AttemptLimiter::from(&limiter)),
            limiter
        );
    }
    // The struct is the limiter's state as it is (after a reboot, restore it instead).
    let odd = tether_attempt_limiter {
        failures: 5,
        next_allowed_ms: 10,
    };
    assert_eq!(
        AttemptLimiter::from(&odd),
        AttemptLimiter::from_parts(5, Instant(10))
    );
    unsafe {
        assert_eq!(
            tether_attempt_limiter_restore(null_mut(), 1, 0),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_attempt_limiter_succeeded(null_mut()),
            TETHER_ERR_NULL
        );
    }
}

/// The phone's checks before the core consumes its exchange agree with the core's own checks
/// (the device's, for the other index), for every first byte and around every length bound.
#[test]
fn code_pairing_refused_messages_change_nothing() {
    let (mut r1, mut r2) = (7u8, 8u8);
    let (pp, pd) = (platform(&mut r1), platform(&mut r2));
    let mut ph = phone(&pp, DATAGRAM, b"424242");
    let mut dev = device(&pd, DATAGRAM, b"424242");
    let mut limiter = tether_attempt_limiter {
        failures: 1,
        next_allowed_ms: 500,
    };
    let m0 = start(&mut ph);
    // Order in start: a second start is refused (the exchange is running).
    let mut out = [0u8; 40];
    let mut n = 0;
    unsafe {
        assert_eq!(
            tether_code_pairing_start(ph.ptr(), out.as_mut_ptr(), out.len(), &mut n),
            TETHER_ERR_BAD_STATE
        );
    }
    let with_point = |p: [u8; 32]| [&[0x51u8][..], &p].concat();
    let mut not_canonical = [0xFFu8; 32];
    not_canonical[31] = 0x7F; // y = 2^255 - 1 >= p
    let mut identity = [0u8; 32];
    identity[0] = 1; // the neutral element: small order
    let cases: Vec<(Vec<u8>, tether_status)> = vec![
        (vec![], TETHER_ERR_TRUNCATED),
        (m0[..32].to_vec(), TETHER_ERR_LENGTH),
        ([&m0[..], &[0]].concat(), TETHER_ERR_LENGTH),
        (
            [&[0x55u8][..], &m0[1..]].concat(),
            TETHER_ERR_UNEXPECTED_MESSAGE,
        ),
        ([&[0x50u8][..], &m0[1..]].concat(), TETHER_ERR_UNKNOWN_TYPE),
        ([&[0x61u8][..], &m0[1..]].concat(), TETHER_ERR_VERSION),
        (vec![0x51; 1100], TETHER_ERR_OVERSIZED),
        (with_point(not_canonical), TETHER_ERR_AUTHENTICATION),
        (with_point(identity), TETHER_ERR_AUTHENTICATION),
        (with_point([0; 32]), TETHER_ERR_AUTHENTICATION),
    ];
    for (unit, want) in &cases {
        let before = limiter;
        let r = respond(&mut dev, &mut limiter, 600, unit);
        assert_eq!(
            (r.status, r.written, r.retry),
            (*want, 0xEEEE, 77),
            "{unit:02x?}"
        );
        assert_eq!(limiter, before);
    }
    // A buffer too small: the size, and nothing else.
    let mut small = [0xAAu8; 32];
    let mut retry = 0;
    unsafe {
        assert_eq!(
            tether_code_pairing_respond(
                dev.ptr(),
                &mut limiter,
                600,
                m0.as_ptr(),
                m0.len(),
                small.as_mut_ptr(),
                small.len(),
                &mut n,
                &mut retry
            ),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
    }
    assert_eq!((n, small, limiter.failures), (33, [0xAA; 32], 1));
    // Broken entropy: refused before the attempt counts.
    let mut broken = pd;
    broken.fill_random = Some(broken_random);
    let mut dev2 = device(&broken, DATAGRAM, b"424242");
    assert_eq!(
        respond(&mut dev2, &mut limiter, 600, &m0).status,
        TETHER_ERR_ENTROPY
    );
    assert_eq!(limiter.failures, 1);
    // The genuine message is still answered.
    let r = respond(&mut dev, &mut limiter, 600, &m0);
    assert_eq!((r.status, limiter.failures), (TETHER_OK, 2));

    // The phone refuses anything but a code message 1 and keeps waiting...
    let m1 = r.message;
    for (unit, want) in [
        (m0.clone(), TETHER_ERR_UNEXPECTED_MESSAGE),
        (m1[..20].to_vec(), TETHER_ERR_LENGTH),
        (vec![0x10; 40], TETHER_ERR_UNKNOWN_TYPE),
        (vec![0x90, 0, 0x55], TETHER_ERR_UNKNOWN_TYPE),
        (vec![], TETHER_ERR_TRUNCATED),
    ] {
        assert_eq!(finish(&mut ph, &unit), want, "{unit:02x?}");
    }
    // ...and a forged point too (spec 4.7.2: a refused message changes nothing)...
    let mut forged = m1.clone();
    forged[1..].copy_from_slice(&identity);
    assert_eq!(finish(&mut ph, &forged), TETHER_ERR_AUTHENTICATION);
    // ...then takes the genuine answer, once.
    assert_eq!(finish(&mut ph, &m1), TETHER_OK);
    assert_eq!(finish(&mut ph, &m1), TETHER_ERR_BAD_STATE);
    // Its key is for the handshake: an initiator takes it, a second one finds it gone.
    let mut hs0 = zeroed::<tether_handshake>();
    let cfg0 = ble_config(&PHONE_SECRET, b"phone-app");
    unsafe {
        assert_eq!(
            tether_handshake_init_code_initiator(&mut *hs0, &cfg0, &pp, ph.ptr()),
            TETHER_OK
        );
        tether_handshake_wipe(&mut *hs0);
    }
    let mut hs = zeroed::<tether_handshake>();
    let cfg = ble_config(&PHONE_SECRET, b"phone-app");
    unsafe {
        assert_eq!(
            tether_handshake_init_code_initiator(&mut *hs, &cfg, &pp, ph.ptr()),
            TETHER_ERR_BAD_STATE
        );
    }
    // A fresh phone pairing with the same code takes the genuine answer... of another exchange:
    // it finishes (the keys differ, which the handshake would show).
    let mut ph2 = phone(&pp, DATAGRAM, b"424242");
    let _ = start(&mut ph2);
    assert_eq!(finish(&mut ph2, &m1), TETHER_OK);
}

#[test]
fn code_pairing_handles_refuse_misuse() {
    let mut r = 9u8;
    let p = platform(&mut r);
    let mut storage = zeroed::<tether_code_pairing>();
    let cp: *mut tether_code_pairing = &mut *storage;
    let code = b"123456";
    let mut out = [0u8; 40];
    let mut n = 0usize;
    let mut limiter = tether_attempt_limiter {
        failures: 0,
        next_allowed_ms: 0,
    };
    unsafe {
        // Bad codes, framings and pointers leave the storage as it was.
        for bad in [
            &b"12345"[..],
            b"1234567",
            b"12345a",
            b"",
            b"\xd9\xa3\xd9\xa3\xd9\xa3",
        ] {
            assert_eq!(
                tether_code_pairing_init_phone(cp, &p, DATAGRAM, bad.as_ptr(), bad.len()),
                TETHER_ERR_PAIRING_CODE
            );
        }
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 3, code.as_ptr(), 6),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 0, code.as_ptr(), 6),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(
            tether_code_pairing_init_device(cp, null(), 2, code.as_ptr(), 6),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 2, null(), 6),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_code_pairing_init_device(null_mut(), &p, 2, code.as_ptr(), 6),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 2, code.as_ptr(), usize::MAX),
            TETHER_ERR_BAD_LENGTH
        );
        assert!(storage._opaque.iter().all(|w| *w == 0));
        // Empty storage holds nothing.
        assert_eq!(
            tether_code_pairing_start(cp, out.as_mut_ptr(), 40, &mut n),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_code_pairing_finish(cp, out.as_ptr(), 33),
            TETHER_ERR_BAD_STATE
        );

        // A device's handle refuses the phone's calls, and the reverse.
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 2, code.as_ptr(), 6),
            TETHER_OK
        );
        assert_eq!(
            tether_code_pairing_start(cp, out.as_mut_ptr(), 40, &mut n),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_code_pairing_finish(cp, out.as_ptr(), 33),
            TETHER_ERR_BAD_STATE
        );
        let mut ph = phone(&p, DATAGRAM, code);
        let m0 = start(&mut ph);
        let mut retry = 0u64;
        assert_eq!(
            tether_code_pairing_respond(
                ph.ptr(),
                &mut limiter,
                0,
                m0.as_ptr(),
                33,
                out.as_mut_ptr(),
                40,
                &mut n,
                &mut retry
            ),
            TETHER_ERR_BAD_STATE
        );
        // Init again replaces the device's pairing (a new code on display).
        assert_eq!(
            tether_code_pairing_init_device(cp, &p, 2, b"654321".as_ptr(), 6),
            TETHER_OK
        );
        // NULL, impossible lengths, overlaps: refused before anything changes.
        let respond_with = |limiter: *mut tether_attempt_limiter,
                            unit: *const u8,
                            unit_len: usize,
                            out: *mut u8,
                            out_len: usize,
                            written: *mut usize,
                            retry: *mut u64| {
            tether_code_pairing_respond(
                cp, limiter, 0, unit, unit_len, out, out_len, written, retry,
            )
        };
        let (o, w, rt) = (
            out.as_mut_ptr(),
            &mut n as *mut usize,
            &mut retry as *mut u64,
        );
        let l: *mut tether_attempt_limiter = &mut limiter;
        assert_eq!(
            respond_with(null_mut(), m0.as_ptr(), 33, o, 40, w, rt),
            TETHER_ERR_NULL
        );
        assert_eq!(respond_with(l, null(), 33, o, 40, w, rt), TETHER_ERR_NULL);
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, null_mut(), 40, w, rt),
            TETHER_ERR_NULL
        );
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, o, 40, null_mut(), rt),
            TETHER_ERR_NULL
        );
        assert_eq!(
            respond_with(l, m0.as_ptr(), usize::MAX, o, 40, w, rt),
            TETHER_ERR_BAD_LENGTH
        );
        // The message 0 inside the output, the limiter inside the output, the output inside
        // the handle, the unit inside the handle, the written count inside the limiter.
        let mut both = [0u8; 80];
        both[..33].copy_from_slice(&m0);
        let b = both.as_mut_ptr();
        assert_eq!(
            respond_with(l, b, 33, b.add(10), 40, w, rt),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            respond_with(b.add(40).cast(), m0.as_ptr(), 33, b, 64, w, rt),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, cp.cast::<u8>().add(8), 40, w, rt),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            respond_with(l, cp.cast::<u8>(), 33, o, 40, w, rt),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, o, 40, l.cast(), rt),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, o, 40, w, l.cast::<u8>().add(4).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(limiter.failures, 0, "nothing counted");
        // A code inside the storage it sets up.
        assert_eq!(
            tether_code_pairing_init_phone(cp, &p, 2, cp.cast::<u8>().add(100), 6),
            TETHER_ERR_OVERLAP
        );
        // Still the device's, still waiting: the genuine message is answered.
        assert_eq!(
            respond_with(l, m0.as_ptr(), 33, o, 40, w, null_mut()),
            TETHER_OK
        );
        assert_eq!((n, limiter.failures), (33, 1));

        // Another kind of handle, a copy, misaligned storage, use after wipe.
        let as_hs = cp.cast::<tether_handshake>();
        let mut action = tether_action::TETHER_ACTION_FAILED;
        assert_eq!(
            tether_handshake_next(as_hs, &mut action),
            TETHER_ERR_BAD_STATE
        );
        tether_handshake_wipe(as_hs);
        tether_relay_table_wipe(cp.cast());
        let mut hs = zeroed::<tether_handshake>();
        let cfg = ble_config(&DEVICE_SECRET, b"SN-1");
        // The same storage for both: it holds no code pairing. Overlapping storage: refused.
        assert_eq!(
            tether_handshake_init_code_responder(
                &mut *hs,
                &cfg,
                &p,
                (&mut *hs as *mut tether_handshake).cast()
            ),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_handshake_init_code_responder(cp.cast::<u8>().add(64).cast(), &cfg, &p, cp),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_handshake_init_code_responder(&mut *hs, &cfg, &p, null_mut()),
            TETHER_ERR_NULL
        );
        let mut copy = zeroed::<tether_code_pairing>();
        core::ptr::copy_nonoverlapping(
            cp.cast::<u8>(),
            (&mut *copy as *mut tether_code_pairing).cast::<u8>(),
            size_of::<tether_code_pairing>(),
        );
        assert_eq!(
            tether_handshake_init_code_responder(&mut *hs, &cfg, &p, &mut *copy),
            TETHER_ERR_COPIED
        );
        assert_eq!(
            tether_code_pairing_finish(&mut *copy, m0.as_ptr(), 33),
            TETHER_ERR_COPIED
        );
        tether_code_pairing_wipe(&mut *copy);
        assert!(copy._opaque.iter().all(|w| *w == 0));
        // The original still holds its key.
        assert_eq!(
            tether_handshake_init_code_responder(&mut *hs, &cfg, &p, cp),
            TETHER_OK
        );
        tether_handshake_wipe(&mut *hs);

        #[repr(C, align(16))]
        struct Arena([u8; TETHER_CODE_PAIRING_SIZE + 16]);
        let mut arena = Box::new(Arena([0; TETHER_CODE_PAIRING_SIZE + 16]));
        let odd = arena.0.as_mut_ptr().add(4).cast::<tether_code_pairing>();
        assert_eq!(
            tether_code_pairing_init_phone(odd, &p, 2, code.as_ptr(), 6),
            TETHER_ERR_MISALIGNED
        );
        assert!(arena.0.iter().all(|b| *b == 0));

        tether_code_pairing_wipe(cp);
        assert!(storage._opaque.iter().all(|w| *w == 0));
        assert_eq!(
            tether_code_pairing_start(cp, out.as_mut_ptr(), 40, &mut n),
            TETHER_ERR_BAD_STATE
        );
        tether_code_pairing_wipe(cp);
        tether_code_pairing_wipe(null_mut());

        // Short codes: six digits, from the platform.
        let mut digits = [0u8; 6];
        assert_eq!(
            tether_short_code_generate(null(), digits.as_mut_ptr()),
            TETHER_ERR_NULL
        );
        assert_eq!(tether_short_code_generate(&p, null_mut()), TETHER_ERR_NULL);
        let mut broken = p;
        broken.fill_random = Some(broken_random);
        assert_eq!(
            tether_short_code_generate(&broken, digits.as_mut_ptr()),
            TETHER_ERR_ENTROPY
        );
        assert_eq!(digits, [0; 6]);
        // The phone's start keeps its code when entropy fails, and a small buffer.
        let mut ph = Cp(zeroed());
        assert_eq!(
            tether_code_pairing_init_phone(ph.ptr(), &broken, 1, code.as_ptr(), 6),
            TETHER_OK
        );
        assert_eq!(
            tether_code_pairing_start(ph.ptr(), out.as_mut_ptr(), 34, &mut n),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 35);
        assert_eq!(
            tether_code_pairing_start(ph.ptr(), out.as_mut_ptr(), 40, &mut n),
            TETHER_ERR_ENTROPY
        );
        let inside = ph.ptr().cast::<u8>().add(16);
        assert_eq!(
            tether_code_pairing_start(ph.ptr(), inside, 40, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_code_pairing_start(ph.ptr(), out.as_mut_ptr(), 40, inside.cast()),
            TETHER_ERR_OVERLAP
        );
    }
}
