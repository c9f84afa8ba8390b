//! The BLE link layer through the C ABI (spec/LINK.md): fragments written by the fragmenter and
//! reassembled by the reassembler, every link status, and the handle misuse of the other tests
//! (wrong kind, copies, use after wipe, NULL, impossible lengths, overlaps). Small units and
//! buffers: these run under Miri in CI.

use core::mem::size_of;
use core::ptr::{null, null_mut};

use super::*;

/// A fragmenter at `att_mtu`, in heap storage.
fn fragmenter(att_mtu: u16) -> Box<tether_fragmenter> {
    let mut f = zeroed::<tether_fragmenter>();
    assert_eq!(
        unsafe { tether_fragmenter_init(&mut *f, att_mtu) },
        TETHER_OK
    );
    f
}

/// A reassembler for units of up to `max_unit` bytes at `att_mtu`, in heap storage.
fn reassembler(max_unit: u32, att_mtu: u16) -> Box<tether_reassembler> {
    let mut r = zeroed::<tether_reassembler>();
    unsafe {
        assert_eq!(tether_reassembler_init(&mut *r, max_unit), TETHER_OK);
        assert_eq!(tether_reassembler_set_mtu(&mut *r, att_mtu), TETHER_OK);
    }
    r
}

/// Every fragment of `unit`, through `tether_fragmenter_start` and `tether_fragmenter_next`.
fn fragments(f: *mut tether_fragmenter, unit: &[u8]) -> Vec<Vec<u8>> {
    let mut count = 0;
    let mut out = [0u8; TETHER_LINK_MAX_FRAGMENT];
    let mut all = Vec::new();
    unsafe {
        assert_eq!(
            tether_fragmenter_start(f, unit.as_ptr(), unit.len(), &mut count),
            TETHER_OK
        );
        for _ in 0..count {
            let mut n = 0;
            assert_eq!(
                tether_fragmenter_next(f, unit.as_ptr(), unit.len(), out.as_mut_ptr(), 512, &mut n),
                TETHER_OK
            );
            all.push(out[..n].to_vec());
        }
    }
    all
}

/// What one push did: its status, the unit (copied), whether it was lent from `fragment`, and
/// the interruption flag.
struct Pushed {
    status: tether_status,
    unit: Option<Vec<u8>>,
    from_fragment: bool,
    interrupted: bool,
}

fn push(r: *mut tether_reassembler, fragment: &[u8]) -> Pushed {
    // Outputs start as garbage: every status but misuse writes all three.
    let (mut unit, mut len, mut interrupted) = (fragment.as_ptr(), 7usize, true);
    let status = unsafe {
        tether_reassembler_push(
            r,
            fragment.as_ptr(),
            fragment.len(),
            &mut unit,
            &mut len,
            &mut interrupted,
        )
    };
    let range = fragment.as_ptr_range();
    Pushed {
        status,
        unit: (!unit.is_null()).then(|| unsafe { core::slice::from_raw_parts(unit, len) }.to_vec()),
        from_fragment: range.contains(&unit),
        interrupted,
    }
}

#[test]
fn units_cross_the_link_and_come_back_whole() {
    let mut f = fragmenter(23);
    let mut r = reassembler(100, 23);
    let (f, r): (*mut tether_fragmenter, *mut tether_reassembler) = (&mut *f, &mut *r);

    // Unit 0: 40 bytes in three fragments, 16 + 18 + 6 bytes, exactly as spec/LINK.md section 4
    // makes them.
    let a: Vec<u8> = (0..40).collect();
    let fa = fragments(f, &a);
    let mut first = vec![0x80, 0, 0, 40];
    first.extend(0..16);
    let mut second = vec![0x00, 1];
    second.extend(16..34);
    let mut third = vec![0x40, 2];
    third.extend(34..40);
    assert_eq!(fa, [first, second, third]);
    for (i, frag) in fa.iter().enumerate() {
        let p = push(r, frag);
        assert_eq!((p.status, p.interrupted), (TETHER_OK, false));
        if i < 2 {
            assert_eq!(p.unit, None);
        } else {
            // Lent from the reassembler's buffer.
            assert_eq!(p.unit.as_deref(), Some(&a[..]));
            assert!(!p.from_fragment);
        }
    }

    // Unit 1: one fragment, numbered 1, lent from the fragment itself.
    let b = [9u8, 8, 7, 6, 5];
    let fb = fragments(f, &b);
    assert_eq!(fb, [vec![0xC1, 0, 0, 5, 9, 8, 7, 6, 5]]);
    let p = push(r, &fb[0]);
    assert_eq!(p.unit.as_deref(), Some(&b[..]));
    assert!(p.from_fragment);

    // A START fragment in the middle of a unit abandons it and is kept: reported, not refused.
    let fa2 = fragments(f, &a);
    assert_eq!(fa2[0][0], 0x82, "unit 2");
    assert_eq!(push(r, &fa2[0]).status, TETHER_OK);
    let p = push(r, &fb[0]);
    assert_eq!((p.status, p.interrupted), (TETHER_OK, true));
    assert_eq!(p.unit.as_deref(), Some(&b[..]));

    // Reset abandons a unit in progress (and says so once).
    let mut abandoned = false;
    assert_eq!(push(r, &fa2[0]).status, TETHER_OK);
    unsafe {
        assert_eq!(tether_reassembler_reset(r, &mut abandoned), TETHER_OK);
        assert!(abandoned);
        assert_eq!(tether_reassembler_reset(r, &mut abandoned), TETHER_OK);
        assert!(!abandoned);
        assert_eq!(tether_reassembler_reset(r, null_mut()), TETHER_OK);
    }
    let p = push(r, &fa2[1]);
    assert_eq!(
        (p.status, p.unit, p.interrupted),
        (TETHER_ERR_LINK_NOT_STARTED, None, false)
    );

    unsafe {
        // A buffer too small writes nothing and changes nothing: the same fragment comes next.
        let c = [3u8; 30];
        let mut count = 0;
        assert_eq!(
            tether_fragmenter_start(f, c.as_ptr(), c.len(), &mut count),
            TETHER_OK
        );
        assert_eq!(count, 2);
        let mut small = [0xEEu8; 19];
        let mut n = 0;
        assert_eq!(
            tether_fragmenter_next(f, c.as_ptr(), 30, small.as_mut_ptr(), 19, &mut n),
            TETHER_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!((n, small), (20, [0xEE; 19]));
        let mut out = [0u8; 20];
        assert_eq!(
            tether_fragmenter_next(f, c.as_ptr(), 30, out.as_mut_ptr(), 20, &mut n),
            TETHER_OK
        );
        assert_eq!((n, &out[..4]), (20, &[0x83, 0, 0, 30][..]));
        // A new ATT_MTU applies from the next unit: this one keeps its 20-byte fragments.
        assert_eq!(tether_fragmenter_set_mtu(f, 185), TETHER_OK);
        // Another unit while this one is in progress, or another length, is refused.
        assert_eq!(
            tether_fragmenter_start(f, c.as_ptr(), 30, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_fragmenter_next(f, c.as_ptr(), 29, out.as_mut_ptr(), 20, &mut n),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_fragmenter_next(f, c.as_ptr(), 30, out.as_mut_ptr(), 20, &mut n),
            TETHER_OK
        );
        assert_eq!((n, &out[..2]), (16, &[0x43, 1][..]));
        // The unit is done: nothing is in progress.
        assert_eq!(
            tether_fragmenter_next(f, c.as_ptr(), 30, out.as_mut_ptr(), 20, &mut n),
            TETHER_ERR_BAD_STATE
        );
    }
    // Unit 4 goes out at ATT_MTU 185: one fragment. The reassembler refuses it until it is told.
    let fd = fragments(f, &a);
    assert_eq!((fd.len(), fd[0].len(), fd[0][0]), (1, 44, 0xC4));
    assert_eq!(push(r, &fd[0]).status, TETHER_ERR_LINK_TOO_LONG);
    assert_eq!(unsafe { tether_reassembler_set_mtu(r, 185) }, TETHER_OK);
    assert_eq!(push(r, &fd[0]).unit.as_deref(), Some(&a[..]));

    // Units the link cannot carry.
    let mut count = 99;
    unsafe {
        assert_eq!(
            tether_fragmenter_start(f, null(), 0, &mut count),
            TETHER_ERR_BAD_CONFIG
        );
        assert_eq!(tether_fragmenter_init(f, 23), TETHER_OK);
        let big = vec![0u8; 4607];
        assert_eq!(
            tether_fragmenter_start(f, big.as_ptr(), big.len(), &mut count),
            TETHER_ERR_PLAINTEXT_TOO_LARGE
        );
        assert_eq!(count, 99, "not written on error");
        // Init again numbers from 0.
        assert_eq!(fragments(f, &b)[0][0], 0xC0);
        tether_fragmenter_wipe(f);
        tether_reassembler_wipe(r);
    }
}

#[test]
fn every_link_error_has_its_own_status() {
    use tether::link::LinkError;
    let errors = [
        LinkError::TooLong,
        LinkError::Truncated,
        LinkError::StartIndex,
        LinkError::Oversized,
        LinkError::NotStarted,
        LinkError::WrongUnit,
        LinkError::Gap,
        LinkError::Duplicate,
        LinkError::Overrun,
        LinkError::Incomplete,
    ];
    let mut seen = std::collections::HashSet::new();
    for (e, s) in errors.into_iter().zip(crate::status::LINK) {
        assert_eq!(tether_status::from(tether::Error::Link(e)), s);
        assert!((160..=179).contains(&(s as i32)));
        assert_eq!(tether_status::from_raw(s as i32), Some(s));
        let text = unsafe { std::ffi::CStr::from_ptr(tether_strerror(s as i32)) };
        assert!(text.to_bytes().starts_with(b"link: "));
        assert!(
            seen.insert(text.to_bytes().to_vec()),
            "{s:?} shares its text"
        );
    }
    for s in crate::status::ALL
        .into_iter()
        .chain(crate::status::DELIVERY)
    {
        assert!(!crate::status::LINK.contains(&s));
    }

    // Each one from the reassembler (ATT_MTU 23, units of up to 100 bytes), with every output
    // written and the reassembler idle afterwards.
    let mut r = reassembler(100, 23);
    let r: *mut tether_reassembler = &mut *r;
    let start: &[u8] = &[0x80, 0, 0, 4, 1];
    let cases: [(&[&[u8]], tether_status); 11] = [
        (&[&[0x00; 21]], TETHER_ERR_LINK_TOO_LONG),
        (&[&[0x00]], TETHER_ERR_LINK_TRUNCATED),
        (&[&[0x80, 1, 0, 1, 0]], TETHER_ERR_LINK_START_INDEX),
        (&[&[0xC0, 0, 0, 0]], TETHER_ERR_LINK_OVERSIZED),
        (&[&[0xC0, 0, 0, 101]], TETHER_ERR_LINK_OVERSIZED),
        (&[&[0x40, 1, 9]], TETHER_ERR_LINK_NOT_STARTED),
        (&[start, &[0x41, 1, 2, 3, 4]], TETHER_ERR_LINK_WRONG_UNIT),
        (&[start, &[0x40, 2, 2, 3, 4]], TETHER_ERR_LINK_GAP),
        (
            &[start, &[0x00, 1, 2], &[0x00, 1, 2]],
            TETHER_ERR_LINK_DUPLICATE,
        ),
        (&[&[0xC0, 0, 0, 1, 1, 2]], TETHER_ERR_LINK_OVERRUN),
        (&[&[0xC0, 0, 0, 3, 1, 2]], TETHER_ERR_LINK_INCOMPLETE),
    ];
    for (steps, want) in cases {
        let (last, before) = steps.split_last().unwrap();
        for s in before {
            assert_eq!(push(r, s).status, TETHER_OK);
        }
        let p = push(r, last);
        assert_eq!((p.status, &p.unit, p.interrupted), (want, &None, false));
        // Idle: the abandoned unit's next fragment has no unit to join.
        let mut abandoned = true;
        assert_eq!(
            unsafe { tether_reassembler_reset(r, &mut abandoned) },
            TETHER_OK
        );
        assert!(!abandoned, "{want:?} left a unit in progress");
    }
    // Index 255 without END: no fragment can follow it.
    assert_eq!(push(r, &[0x80, 0, 0, 100]).status, TETHER_OK);
    for i in 1..255u8 {
        assert_eq!(push(r, &[0x00, i]).status, TETHER_OK);
    }
    assert_eq!(push(r, &[0x00, 255]).status, TETHER_ERR_LINK_INCOMPLETE);
    unsafe { tether_reassembler_wipe(r) };
}

/// A copy of `src`'s bytes into `dst`, as `memcpy` would make it.
fn copy_bytes<T>(src: *const T, dst: *mut T) {
    unsafe { core::ptr::copy_nonoverlapping(src.cast::<u8>(), dst.cast::<u8>(), size_of::<T>()) }
}

#[test]
fn link_handles_refuse_misuse_and_stay_intact() {
    let mut fs = zeroed::<tether_fragmenter>();
    let mut rs = zeroed::<tether_reassembler>();
    let (f, r): (*mut tether_fragmenter, *mut tether_reassembler) = (&mut *fs, &mut *rs);
    let unit = [5u8; 30];
    let mut out = [0u8; 32];
    let (mut n, mut p, mut len) = (0usize, null::<u8>(), 0usize);
    unsafe {
        // NULL handles and pointers; zeroed storage holds nothing.
        assert_eq!(tether_fragmenter_init(null_mut(), 23), TETHER_ERR_NULL);
        assert_eq!(tether_reassembler_init(null_mut(), 100), TETHER_ERR_NULL);
        assert_eq!(tether_fragmenter_set_mtu(null_mut(), 23), TETHER_ERR_NULL);
        assert_eq!(
            tether_reassembler_reset(null_mut(), null_mut()),
            TETHER_ERR_NULL
        );
        tether_fragmenter_wipe(null_mut());
        tether_reassembler_wipe(null_mut());
        assert_eq!(
            tether_fragmenter_start(f, unit.as_ptr(), 30, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_reassembler_push(r, unit.as_ptr(), 4, &mut p, &mut len, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        // Bad configurations leave the storage as it was.
        assert_eq!(tether_fragmenter_init(f, 22), TETHER_ERR_BAD_CONFIG);
        assert_eq!(tether_reassembler_init(r, 0), TETHER_ERR_BAD_CONFIG);
        assert_eq!(tether_reassembler_init(r, 65536), TETHER_ERR_BAD_CONFIG);
        assert!(fs._opaque.iter().chain(&rs._opaque).all(|w| *w == 0));

        assert_eq!(tether_fragmenter_init(f, 23), TETHER_OK);
        assert_eq!(tether_reassembler_init(r, 100), TETHER_OK);
        assert_eq!(tether_fragmenter_set_mtu(f, 22), TETHER_ERR_BAD_CONFIG);
        assert_eq!(tether_reassembler_set_mtu(r, 0), TETHER_ERR_BAD_CONFIG);
        assert_eq!(
            tether_fragmenter_start(f, null(), 30, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_fragmenter_start(f, unit.as_ptr(), 30, null_mut()),
            TETHER_OK
        );
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, out.as_mut_ptr(), 32, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, null_mut(), 32, &mut n),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_reassembler_push(r, unit.as_ptr(), 4, null_mut(), &mut len, null_mut()),
            TETHER_ERR_NULL
        );
        assert_eq!(
            tether_reassembler_push(r, null(), 4, &mut p, &mut len, null_mut()),
            TETHER_ERR_NULL
        );

        // Impossible lengths, before any slice is made.
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), usize::MAX, out.as_mut_ptr(), 32, &mut n),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, out.as_mut_ptr(), usize::MAX, &mut n),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!(
            tether_reassembler_push(
                r,
                unit.as_ptr(),
                isize::MAX as usize + 1,
                &mut p,
                &mut len,
                null_mut()
            ),
            TETHER_ERR_BAD_LENGTH
        );

        // Overlaps: output and unit, output and length, output inside the handle, a fragment
        // inside the handle, out-pointers inside the fragment.
        let mut both = [0u8; 64];
        let b = both.as_mut_ptr();
        assert_eq!(
            tether_fragmenter_next(f, b, 30, b.add(20), 32, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, b, 32, b.add(8).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, f.cast::<u8>().add(8), 32, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_reassembler_push(r, r.cast::<u8>(), 4, &mut p, &mut len, null_mut()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_reassembler_push(r, b, 40, &mut p, b.add(8).cast(), null_mut()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_reassembler_reset(r, r.cast::<u8>().add(3).cast()),
            TETHER_ERR_OVERLAP
        );
        // None of that changed anything: the unit's first fragment is still next.
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, out.as_mut_ptr(), 32, &mut n),
            TETHER_OK
        );
        assert_eq!((n, out[0]), (20, 0x80));
        let first = out[..20].to_vec();
        assert_eq!(push(r, &first).status, TETHER_OK);
        assert_eq!(
            tether_fragmenter_next(f, unit.as_ptr(), 30, out.as_mut_ptr(), 32, &mut n),
            TETHER_OK
        );
        let second = out[..n].to_vec();
        // The completed unit is lent from the reassembler's buffer: fed back as a fragment, or
        // with an out-pointer inside it, it is refused.
        assert_eq!(
            tether_reassembler_push(r, second.as_ptr(), n, &mut p, &mut len, null_mut()),
            TETHER_OK
        );
        assert_eq!(core::slice::from_raw_parts(p, len), unit);
        let lent = p;
        assert_eq!(
            tether_reassembler_push(r, lent, 4, &mut p, &mut len, null_mut()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_reassembler_push(
                r,
                first.as_ptr(),
                20,
                &mut p,
                &mut len,
                lent.add(2).cast_mut().cast()
            ),
            TETHER_ERR_OVERLAP
        );

        // Another kind of handle: refused, and left alone by the other kind's init and wipe.
        let as_f = r.cast::<tether_fragmenter>();
        assert_eq!(tether_fragmenter_set_mtu(as_f, 23), TETHER_ERR_BAD_STATE);
        assert_eq!(tether_fragmenter_init(as_f, 23), TETHER_ERR_BAD_STATE);
        tether_fragmenter_wipe(as_f);
        tether_session_wipe(r.cast());
        tether_decoder_wipe(r.cast());
        let mut action = tether_action::TETHER_ACTION_FAILED;
        assert_eq!(
            tether_handshake_next(r.cast(), &mut action),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            push(r, &first).status,
            TETHER_OK,
            "the reassembler still works"
        );
        assert_eq!(
            tether_reassembler_set_mtu(f.cast(), 23),
            TETHER_ERR_BAD_STATE
        );

        // A copied handle: refused, and its wipe zeroes it without freeing the original's
        // buffer (Miri would report a double free).
        let mut copy = zeroed::<tether_reassembler>();
        let c: *mut tether_reassembler = &mut *copy;
        copy_bytes(r, c);
        assert_eq!(
            tether_reassembler_push(c, first.as_ptr(), 20, &mut p, &mut len, null_mut()),
            TETHER_ERR_COPIED
        );
        assert_eq!(tether_reassembler_set_mtu(c, 185), TETHER_ERR_COPIED);
        tether_reassembler_wipe(c);
        assert!(copy._opaque.iter().all(|w| *w == 0));
        let mut fcopy = zeroed::<tether_fragmenter>();
        copy_bytes(f, &mut *fcopy);
        assert_eq!(
            tether_fragmenter_start(&mut *fcopy, unit.as_ptr(), 30, null_mut()),
            TETHER_ERR_COPIED
        );
        tether_fragmenter_wipe(&mut *fcopy);
        let p2 = push(r, &second);
        assert_eq!(
            p2.unit.as_deref(),
            Some(&unit[..]),
            "the original still works"
        );

        // Misaligned storage.
        #[repr(C, align(16))]
        struct Arena([u8; TETHER_REASSEMBLER_SIZE + 16]);
        let mut arena = Box::new(Arena([0; TETHER_REASSEMBLER_SIZE + 16]));
        let odd = arena.0.as_mut_ptr().add(4);
        assert_eq!(
            tether_reassembler_init(odd.cast(), 100),
            TETHER_ERR_MISALIGNED
        );
        assert_eq!(
            tether_fragmenter_init(odd.cast(), 23),
            TETHER_ERR_MISALIGNED
        );
        assert!(arena.0.iter().all(|b| *b == 0));

        // Use after wipe.
        tether_fragmenter_wipe(f);
        tether_reassembler_wipe(r);
        assert!(fs._opaque.iter().chain(&rs._opaque).all(|w| *w == 0));
        assert_eq!(
            tether_fragmenter_start(f, unit.as_ptr(), 30, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_reassembler_push(r, first.as_ptr(), 20, &mut p, &mut len, null_mut()),
            TETHER_ERR_BAD_STATE
        );
        tether_reassembler_wipe(r); // twice is fine
    }
}

#[test]
fn a_record_over_ble_fragments_opens_and_decodes() {
    let (mut dev, mut cloud) = established(2);
    let msg = unhex(VITALS_HEX);
    let record = seal(&mut dev, &msg);
    let mut f = fragmenter(23);
    let mut r = reassembler(TETHER_LINK_DEFAULT_MAX_UNIT, 23);
    let frags = fragments(&mut *f, &record);
    assert_eq!(frags.len(), 1 + (record.len() - 16).div_ceil(18));
    let mut got = None;
    for frag in &frags {
        assert!(frag.len() <= 20);
        let p = push(&mut *r, frag);
        assert_eq!(p.status, TETHER_OK);
        got = p.unit.or(got);
    }
    let (rc, ev, plain) = open(&mut cloud, &got.unwrap());
    assert_eq!((rc, ev), (TETHER_OK, tether_event::TETHER_EVENT_DATA));
    let (rc, base, _, _, readings, _, nr) = decode_vitals(&plain, 16, 16);
    assert_eq!((rc, nr, base), (TETHER_OK, 5, 1_768_465_800_000));
    assert_eq!(readings[0].value.mantissa, 97);
    unsafe {
        tether_fragmenter_wipe(&mut *f);
        tether_reassembler_wipe(&mut *r);
    }
}
