//! Relayed units through the C ABI (spec/PROTOCOL.md 3.4): wrap and parse against
//! spec/vectors/relay.json, the relay table's routes, a session relayed through it, and misuse.
//! Small: these run under Miri in CI.

use core::mem::size_of;
use core::ptr::{null, null_mut};

use super::*;

const DATAGRAM: u8 = 2;
const STREAM: u8 = 1;

// spec/vectors/relay.json: (index, relayed, unit).
const VALID: [(u16, &str, &str); 5] = [
    (0, "900050", "50"),
    (1, "90011300000000000000000102", "1300000000000000000102"),
    (2748, "9abc51aa", "51aa"),
    (256, "910058ffee", "58ffee"),
    (4095, "9fff18", "18"),
];
// spec/vectors/relay.json: (relayed, error).
const INVALID: [(&str, tether_status); 7] = [
    ("", TETHER_ERR_TRUNCATED),
    ("90", TETHER_ERR_TRUNCATED),
    ("9000", TETHER_ERR_TRUNCATED),
    ("900090000013", TETHER_ERR_UNKNOWN_TYPE),
    ("9000a00013", TETHER_ERR_UNKNOWN_TYPE),
    ("a00013", TETHER_ERR_VERSION),
    ("d00013", TETHER_ERR_UNKNOWN_TYPE),
];

/// `tether_relay_parse`: the status, and on success the index and the unit inside.
fn parse(framing: u8, bytes: &[u8]) -> (tether_status, u16, Vec<u8>) {
    let (mut index, mut offset, mut len) = (7777u16, 7777usize, 7777usize);
    let rc = unsafe {
        tether_relay_parse(
            framing,
            bytes.as_ptr(),
            bytes.len(),
            &mut index,
            &mut offset,
            &mut len,
        )
    };
    if rc != TETHER_OK {
        assert_eq!((index, offset, len), (7777, 7777, 7777), "written on error");
        return (rc, 0, vec![]);
    }
    (rc, index, bytes[offset..offset + len].to_vec())
}

fn wrap(index: u16, unit: &[u8]) -> (tether_status, Vec<u8>) {
    let mut out = [0u8; 64];
    let mut n = 0;
    let rc = unsafe {
        tether_relay_wrap(
            index,
            unit.as_ptr(),
            unit.len(),
            out.as_mut_ptr(),
            64,
            &mut n,
        )
    };
    (rc, out[..if rc == TETHER_OK { n } else { 0 }].to_vec())
}

fn framed(body: &[u8]) -> Vec<u8> {
    [&(body.len() as u16).to_be_bytes()[..], body].concat()
}

#[test]
fn relay_wrap_and_parse_match_the_spec_vectors() {
    for (index, relayed, unit) in VALID {
        let (relayed, unit) = (unhex(relayed), unhex(unit));
        assert_eq!(wrap(index, &unit), (TETHER_OK, relayed.clone()));
        assert_eq!(parse(DATAGRAM, &relayed), (TETHER_OK, index, unit.clone()));
        // On a stream hop, behind the length prefix of the whole relayed unit.
        assert_eq!(parse(STREAM, &framed(&relayed)), (TETHER_OK, index, unit));
        let mut header = [0u8; 3];
        assert_eq!(
            unsafe { tether_relay_header(index, header.as_mut_ptr()) },
            TETHER_OK
        );
        assert_eq!((&header[..2], header[2]), (&relayed[..2], 0));
    }
    for (relayed, error) in INVALID {
        let relayed = unhex(relayed);
        assert_eq!(parse(DATAGRAM, &relayed).0, error, "{relayed:02x?}");
        if !relayed.is_empty() {
            assert_eq!(parse(STREAM, &framed(&relayed)).0, error, "{relayed:02x?}");
        }
    }
    // A stream prefix that disagrees; an unknown framing.
    let mut bad = framed(&unhex("900050"));
    bad[1] = 4;
    assert_eq!(parse(STREAM, &bad).0, TETHER_ERR_LENGTH);
    assert_eq!(parse(3, &unhex("900050")).0, TETHER_ERR_BAD_CONFIG);

    // Wrap's refusals: an index beyond 4095, an empty unit, a buffer too small.
    assert_eq!(wrap(4096, b"\x50").0, TETHER_ERR_BAD_CONFIG);
    assert_eq!(wrap(0, b"").0, TETHER_ERR_TRUNCATED);
    let mut small = [0xAAu8; 3];
    let mut n = 0;
    unsafe {
        assert_eq!(
            tether_relay_wrap(1, b"\x50\x51".as_ptr(), 2, small.as_mut_ptr(), 3, &mut n),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!((n, small), (4, [0xAA; 3]));
        assert_eq!(
            tether_relay_header(4096, small.as_mut_ptr()),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(small, [0xAA; 3]);
        // NULLs, impossible lengths, overlaps.
        assert_eq!(tether_relay_header(1, null_mut()), TETHER_ERR_NULL);
        assert_eq!(
            tether_relay_wrap(1, null(), 2, small.as_mut_ptr(), 3, &mut n),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_wrap(1, b"\x50".as_ptr(), 1, small.as_mut_ptr(), 3, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_wrap(
                1,
                b"\x50".as_ptr(),
                usize::MAX,
                small.as_mut_ptr(),
                3,
                &mut n
            ),
            TETHER_ERR_BAD_LENGTH
        );
        let mut buf = [0x50u8; 16];
        let b = buf.as_mut_ptr();
        assert_eq!(
            tether_relay_wrap(1, b, 4, b.add(2), 8, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_wrap(1, b, 4, b.add(4), 8, b.add(8).cast()),
            TETHER_ERR_OVERLAP
        );
        let relayed = unhex("900050");
        let (mut i, mut o) = (0u16, 0usize);
        assert_eq!(
            tether_relay_parse(2, relayed.as_ptr(), 3, null_mut(), &mut o, &mut n),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_parse(2, null(), 3, &mut i, &mut o, &mut n),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_parse(
                2,
                relayed.as_ptr(),
                3,
                &mut i,
                &mut o,
                (&mut o as *mut usize).cast()
            ),
            TETHER_ERR_OVERLAP
        );
        buf[..3].copy_from_slice(&relayed);
        assert_eq!(
            tether_relay_parse(2, b, 3, b.add(2).cast(), &mut o, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_parse(2, b, isize::MAX as usize + 1, &mut i, &mut o, &mut n),
            TETHER_ERR_BAD_LENGTH
        );
    }
}

struct Table(Box<tether_relay_table>);

impl Table {
    fn new(capacity: u32) -> Table {
        let mut t = Table(zeroed());
        assert_eq!(
            unsafe { tether_relay_table_init(t.ptr(), capacity) },
            TETHER_OK
        );
        t
    }

    fn ptr(&mut self) -> *mut tether_relay_table {
        &mut *self.0
    }

    /// `up` on a copy of `unit`: the status, the uplink index, the bytes afterwards.
    fn up(&mut self, link: u32, unit: &[u8]) -> (tether_status, u16, Vec<u8>) {
        let mut bytes = unit.to_vec();
        let mut index = 9999u16;
        let rc = unsafe {
            tether_relay_table_up(
                self.ptr(),
                link,
                bytes.as_mut_ptr(),
                bytes.len(),
                &mut index,
            )
        };
        if rc != TETHER_OK {
            assert_eq!((index, &bytes[..]), (9999, unit), "changed on error");
        }
        (rc, index, bytes)
    }

    /// `down` on a copy of `unit`: the status, the link, the device index, the bytes.
    fn down(&mut self, unit: &[u8]) -> (tether_status, u32, u16, Vec<u8>) {
        let mut bytes = unit.to_vec();
        let (mut link, mut index) = (9999u32, 9999u16);
        let rc = unsafe {
            tether_relay_table_down(
                self.ptr(),
                bytes.as_mut_ptr(),
                bytes.len(),
                &mut link,
                &mut index,
            )
        };
        if rc != TETHER_OK {
            assert_eq!(
                (link, index, &bytes[..]),
                (9999, 9999, unit),
                "changed on error"
            );
        }
        (rc, link, index, bytes)
    }

    fn route(&mut self, uplink: u16) -> Option<(u32, u16)> {
        let (mut link, mut index, mut found) = (0u32, 0u16, true);
        let rc = unsafe {
            tether_relay_table_route(self.ptr(), uplink, &mut link, &mut index, &mut found)
        };
        assert_eq!(rc, TETHER_OK);
        found.then_some((link, index))
    }

    fn remove(&mut self, link: u32) -> usize {
        let mut n = 0;
        assert_eq!(
            unsafe { tether_relay_table_remove_link(self.ptr(), link, &mut n) },
            TETHER_OK
        );
        n
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        unsafe { tether_relay_table_wipe(&mut *self.0) }
    }
}

fn relayed(index: u16, unit: &[u8]) -> Vec<u8> {
    let (rc, r) = wrap(index, unit);
    assert_eq!(rc, TETHER_OK);
    r
}

#[test]
fn relay_table_routes_up_and_down() {
    let mut t = Table::new(3);
    let unit = [0x10u8, 0, 0, 0, 0, 0, 0, 0, 1, 0xAB];
    // Devices 7 and 9 each use index 0 on their own links; device 7 also index 5.
    let (rc, up, bytes) = t.up(7, &relayed(0, &unit));
    assert_eq!((rc, up, bytes), (TETHER_OK, 0, relayed(0, &unit)));
    assert_eq!(t.up(9, &relayed(0, &unit)).1, 1);
    assert_eq!(t.up(7, &relayed(5, &unit)).1, 2);
    // A route keeps its index.
    assert_eq!(
        t.up(9, &relayed(0, &unit)),
        (TETHER_OK, 1, relayed(1, &unit))
    );
    // Full: a new route is refused and nothing changes.
    assert_eq!(t.up(11, &relayed(0, &unit)).0, TETHER_ERR_RELAY_FULL);
    let text = unsafe { std::ffi::CStr::from_ptr(tether_strerror(TETHER_ERR_RELAY_FULL as i32)) };
    assert!(text.to_bytes().starts_with(b"relay table full"));
    // Down: back to the device's link and index.
    assert_eq!(
        t.down(&relayed(2, &unit)),
        (TETHER_OK, 7, 5, relayed(5, &unit))
    );
    assert_eq!(
        t.down(&relayed(1, &unit)),
        (TETHER_OK, 9, 0, relayed(0, &unit))
    );
    // No route for that index (well formed, nothing expects it); not relayed units at all.
    assert_eq!(t.down(&relayed(3, &unit)).0, TETHER_ERR_UNEXPECTED_MESSAGE);
    assert_eq!(
        t.down(&relayed(4095, &unit)).0,
        TETHER_ERR_UNEXPECTED_MESSAGE
    );
    for (bad, error) in INVALID {
        let bad = unhex(bad);
        assert_eq!(t.up(7, &bad).0, error);
        assert_eq!(t.down(&bad).0, error);
    }
    assert_eq!(
        t.up(7, &unit).0,
        TETHER_ERR_UNKNOWN_TYPE,
        "a record, not relayed"
    );
    assert_eq!(t.route(2), Some((7, 5)));
    assert_eq!(t.route(3), None);
    // Device 7 unpaired: its two routes go, their indexes are free for a new device.
    assert_eq!(t.remove(7), 2);
    assert_eq!(t.remove(7), 0);
    assert_eq!(t.route(0), None);
    assert_eq!(t.down(&relayed(0, &unit)).0, TETHER_ERR_UNEXPECTED_MESSAGE);
    assert_eq!(t.up(11, &relayed(0, &unit)).1, 0);
    assert_eq!(t.route(1), Some((9, 0)));
    let (mut l, mut i, mut f) = (0u32, 0u16, false);
    unsafe {
        assert_eq!(
            tether_relay_table_route(t.ptr(), 4096, &mut l, &mut i, &mut f),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(
            tether_relay_table_remove_link(t.ptr(), 11, null_mut()),
            TETHER_OK
        );
    }
    assert_eq!(t.route(0), None);
}

/// A device's session with the cloud relayed through the phone: the device wraps its units with
/// index 0, the phone's table moves them, and neither the phone's own session nor the wrong
/// index opens them.
#[test]
fn relay_carries_a_session_the_phone_cannot_open() {
    // The device's end-to-end session (channel 3, relayed) and the phone's session with the
    // device (channel 2), from other ephemeral keys. (With the same ones, the same static keys
    // would give the same session keys: Noise's split depends on the Diffie-Hellman results
    // only, not on the prologue that names the channel.)
    let (mut dev, mut cloud) = established_seeded(DATAGRAM, (11, 12), |c| c.channel = 3);
    let (mut dev_phone, mut phone) = established_seeded(DATAGRAM, (21, 22), |c| c.channel = 2);
    let mut t = Table::new(4);
    // Another device relays first, so this one's uplink index is 1.
    assert_eq!(t.up(40, &relayed(0, b"\x50")).1, 0);
    for (i, msg) in [&b"spo2 97"[..], b"spo2 96"].iter().enumerate() {
        let record = seal(&mut dev, msg);
        let (rc, up, uplink_unit) = t.up(41, &relayed(0, &record));
        assert_eq!((rc, up), (TETHER_OK, 1));
        // The cloud finds the session by index and opens the unit inside.
        let (rc, index, inner) = parse(DATAGRAM, &uplink_unit);
        assert_eq!((rc, index, &inner), (TETHER_OK, 1, &record));
        assert_eq!(open(&mut cloud, &inner).2, *msg);
        // The phone's own session cannot open it; nor can it be opened wrapped.
        let (rc, ..) = open(&mut phone, &inner);
        assert!(
            [
                TETHER_ERR_AUTHENTICATION,
                TETHER_ERR_REPLAYED,
                TETHER_ERR_TOO_OLD,
                TETHER_ERR_EPOCH
            ]
            .contains(&rc),
            "record {i}: {rc:?}"
        );
        assert_eq!(open(&mut cloud, &uplink_unit).0, TETHER_ERR_UNKNOWN_TYPE);
    }
    // The cloud answers on index 1; the phone sends it down the device's link as index 0.
    let answer = seal(&mut cloud, b"set-interval 60");
    let (rc, link, index, down) = t.down(&relayed(1, &answer));
    assert_eq!((rc, link, index), (TETHER_OK, 41, 0));
    let (_, _, inner) = parse(DATAGRAM, &down);
    assert_eq!(open(&mut dev, &inner).2, b"set-interval 60");
    // The device's own session with the phone travels unwrapped beside it.
    let own = seal(&mut dev_phone, b"battery 80");
    assert_eq!(open(&mut phone, &own).2, b"battery 80");
    // A relay that rewrites the index sends the unit to another session, which refuses it.
    let (_, _, _, misrouted) = t.down(&relayed(0, &seal(&mut cloud, b"x")));
    let (_, _, inner) = parse(DATAGRAM, &misrouted);
    assert_ne!(open(&mut phone, &inner).0, TETHER_OK);
}

#[test]
fn relay_table_refuses_misuse_and_stays_intact() {
    let mut storage = zeroed::<tether_relay_table>();
    let t: *mut tether_relay_table = &mut *storage;
    let mut unit = unhex("900050");
    let (mut up, mut link, mut n, mut found) = (0u16, 0u32, 0usize, false);
    unsafe {
        // Capacities: 1 to 4096.
        assert_eq!(tether_relay_table_init(t, 0), TETHER_ERR_BAD_CONFIG);
        assert_eq!(
            tether_relay_table_init(t, TETHER_RELAY_INDEXES + 1),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(tether_relay_table_init(null_mut(), 4), TETHER_ERR_NULL);
        assert!(storage._opaque.iter().all(|w| *w == 0));
        // Zeroed storage holds no table.
        assert_eq!(
            tether_relay_table_up(t, 1, unit.as_mut_ptr(), 3, &mut up),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_relay_table_remove_link(t, 1, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(tether_relay_table_init(t, TETHER_RELAY_INDEXES), TETHER_OK);
        assert_eq!(tether_relay_table_init(t, 2), TETHER_OK, "replaced");
        // NULLs and impossible lengths.
        assert_eq!(
            tether_relay_table_up(t, 1, unit.as_mut_ptr(), 3, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_table_up(t, 1, null_mut(), 3, &mut up),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_table_down(t, unit.as_mut_ptr(), 3, null_mut(), &mut up),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_table_down(t, unit.as_mut_ptr(), 3, &mut link, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_table_route(t, 0, &mut link, &mut up, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_relay_table_up(t, 1, unit.as_mut_ptr(), usize::MAX, &mut up),
            TETHER_ERR_BAD_LENGTH
        );
        // Overlaps: the index inside the unit, the unit inside the table, the outputs together.
        let u = unit.as_mut_ptr();
        assert_eq!(
            tether_relay_table_up(t, 1, u, 3, u.add(1).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_table_up(t, 1, t.cast::<u8>().add(8), 3, &mut up),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_table_down(t, u, 3, &mut link, (&mut link as *mut u32).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_table_route(t, 0, &mut link, &mut up, t.cast::<bool>().add(1)),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_relay_table_remove_link(t, 1, t.cast::<u8>().add(16).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(unit, unhex("900050"), "unchanged");
        // None of it added a route.
        assert_eq!(
            tether_relay_table_route(t, 0, &mut link, &mut up, &mut found),
            TETHER_OK
        );
        assert!(!found);

        // Another kind of handle: refused, and left alone.
        let mut action = tether_action::TETHER_ACTION_FAILED;
        assert_eq!(
            tether_handshake_next(t.cast(), &mut action),
            TETHER_ERR_BAD_STATE
        );
        tether_code_pairing_wipe(t.cast());
        tether_reassembler_wipe(t.cast());
        assert_eq!(tether_fragmenter_init(t.cast(), 23), TETHER_ERR_BAD_STATE);
        assert_eq!(
            tether_relay_table_up(t, 1, unit.as_mut_ptr(), 3, &mut up),
            TETHER_OK
        );
        assert_eq!(up, 0);

        // A copy: refused, and its wipe zeroes it without freeing the original's routes.
        let mut copy = zeroed::<tether_relay_table>();
        core::ptr::copy_nonoverlapping(
            t.cast::<u8>(),
            (&mut *copy as *mut tether_relay_table).cast::<u8>(),
            size_of::<tether_relay_table>(),
        );
        assert_eq!(
            tether_relay_table_down(&mut *copy, unit.as_mut_ptr(), 3, &mut link, &mut up),
            TETHER_ERR_COPIED
        );
        tether_relay_table_wipe(&mut *copy);
        assert!(copy._opaque.iter().all(|w| *w == 0));
        assert_eq!(
            tether_relay_table_down(t, unit.as_mut_ptr(), 3, &mut link, &mut up),
            TETHER_OK
        );
        assert_eq!((link, up), (1, 0));

        // Misaligned storage.
        #[repr(C, align(16))]
        struct Arena([u8; TETHER_RELAY_TABLE_SIZE + 16]);
        let mut arena = Box::new(Arena([0; TETHER_RELAY_TABLE_SIZE + 16]));
        let odd = arena.0.as_mut_ptr().add(4).cast::<tether_relay_table>();
        assert_eq!(tether_relay_table_init(odd, 4), TETHER_ERR_MISALIGNED);
        assert!(arena.0.iter().all(|b| *b == 0));

        // Use after wipe.
        tether_relay_table_wipe(t);
        assert!(storage._opaque.iter().all(|w| *w == 0));
        assert_eq!(
            tether_relay_table_remove_link(t, 1, &mut n),
            TETHER_ERR_BAD_STATE
        );
        tether_relay_table_wipe(t);
        tether_relay_table_wipe(null_mut());
    }
}
