//! Misuse from C, as an outside review tried it: handles of the wrong kind, copied handles,
//! misaligned storage, impossible lengths, overlapping buffers, re-entry from callbacks, and a
//! single waiting responder under attack. Each gets a status and leaves memory intact; these
//! tests run under Miri in CI, which would report any undefined behaviour on the way.

use core::ffi::c_void;
use core::mem::{align_of, size_of};
use core::ptr::{null, null_mut};

use super::*;

/// Storage for any handle, with room to place one at an offset (for misalignment).
#[repr(C, align(16))]
struct Arena([u8; TETHER_SESSION_SIZE + 32]);

fn arena() -> Box<Arena> {
    Box::new(Arena([0; TETHER_SESSION_SIZE + 32]))
}

fn action(hs: *mut tether_handshake) -> Result<tether_action, tether_status> {
    let mut a = tether_action::TETHER_ACTION_FAILED;
    match unsafe { tether_handshake_next(hs, &mut a) } {
        TETHER_OK => Ok(a),
        e => Err(e),
    }
}

fn seal_status(s: *mut tether_session, msg: &[u8]) -> tether_status {
    let mut out = [0u8; 256];
    let mut n = 0;
    unsafe {
        tether_session_seal(
            s,
            msg.as_ptr(),
            msg.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            null_mut(),
        )
    }
}

/// A copy of `src`'s bytes into `dst`, as `memcpy` would make it.
fn copy_bytes<T>(src: *const T, dst: *mut T) {
    unsafe { core::ptr::copy_nonoverlapping(src.cast::<u8>(), dst.cast::<u8>(), size_of::<T>()) }
}

#[test]
fn handles_of_the_wrong_kind_are_refused_and_left_intact() {
    let (mut dev, mut cloud) = established(2);
    let s: *mut tether_session = &mut *dev;
    let as_hs = s.cast::<tether_handshake>();
    let as_dec = s.cast::<tether_decoder>();
    let mut buf = [0u8; 64];
    let mut n = 0;
    unsafe {
        // A session passed to handshake and decoder functions.
        assert_eq!(action(as_hs), Err(TETHER_ERR_BAD_STATE));
        assert_eq!(
            tether_handshake_write(as_hs, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(
            tether_handshake_read(as_hs, buf.as_ptr(), 10),
            TETHER_ERR_BAD_STATE
        );
        let (mut used, mut unit, mut len) = (0usize, null::<u8>(), 0usize);
        assert_eq!(
            tether_decoder_next(as_dec, buf.as_ptr(), 4, &mut used, &mut unit, &mut len),
            TETHER_ERR_BAD_STATE
        );
        // Init of another kind over a live session is refused; wipes of another kind leave it.
        let mut r = 9u8;
        let p = platform(&mut r);
        let cloud_pub = public(&CLOUD_SECRET);
        let cfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
        assert_eq!(
            tether_handshake_init_initiator(as_hs, &cfg, &p),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(tether_decoder_init(as_dec, 1024), TETHER_ERR_BAD_STATE);
        tether_handshake_wipe(as_hs);
        tether_decoder_wipe(as_dec);
        // The session still works.
        let rec = seal(&mut dev, b"still here");
        assert_eq!(open(&mut cloud, &rec).2, b"still here");

        // A decoder passed to session functions (in 16-byte aligned storage, so that the
        // kind, not the alignment, is what they refuse).
        let mut a = arena();
        let d = a.0.as_mut_ptr().cast::<tether_decoder>();
        assert_eq!(tether_decoder_init(d, 1024), TETHER_OK);
        let as_s = d.cast::<tether_session>();
        assert_eq!(
            tether_session_update_key(as_s, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(tether_session_seal_capacity(as_s, 10), 0);
        tether_session_wipe(as_s);
        let mut wire = [0u8; 8];
        wire[1] = 3;
        assert_eq!(
            tether_decoder_next(d, wire.as_ptr(), 2, &mut used, &mut unit, &mut len),
            TETHER_OK
        );
        tether_decoder_wipe(d);
    }
}

/// Firmware short of RAM keeps a handshake and a session in one union: the handshake finishes
/// into its own storage, and the storage is initialized as a handshake again only after the
/// session is wiped.
#[test]
fn a_handshake_and_a_session_can_share_storage() {
    let cloud_pub = public(&CLOUD_SECRET);
    let device_pub = public(&DEVICE_SECRET);
    let (mut r1, mut r2) = (1u8, 2u8);
    let (p1, p2) = (platform(&mut r1), platform(&mut r2));
    let dcfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
    let ccfg = config(&CLOUD_SECRET, b"cloud", Some(&device_pub), 2);
    let mut shared = arena();
    let mut cloud = zeroed::<tether_handshake>();
    let hs = shared.0.as_mut_ptr().cast::<tether_handshake>();
    let s = hs.cast::<tether_session>();
    let mut buf = [0u8; 512];
    let mut n = 0;
    unsafe {
        assert_eq!(tether_handshake_init_initiator(hs, &dcfg, &p1), TETHER_OK);
        assert_eq!(
            tether_handshake_init_responder(&mut *cloud, &ccfg, &p2),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_write(hs, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_read(&mut *cloud, buf.as_ptr(), n),
            TETHER_OK
        );
        assert_eq!(
            tether_handshake_write(&mut *cloud, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_OK
        );
        assert_eq!(tether_handshake_read(hs, buf.as_ptr(), n), TETHER_OK);
        // Finish into the handshake's own storage.
        assert_eq!(
            tether_handshake_finish(hs, s, null_mut(), null_mut()),
            TETHER_OK
        );
        let mut cs = zeroed::<tether_session>();
        assert_eq!(
            tether_handshake_finish(&mut *cloud, &mut *cs, null_mut(), null_mut()),
            TETHER_OK
        );
        let rec = seal(&mut *s, b"from the union");
        assert_eq!(open(&mut cs, &rec).2, b"from the union");
        // Re-initializing as a handshake while the session lives is refused, not a crash.
        assert_eq!(
            tether_handshake_init_initiator(hs, &dcfg, &p1),
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(action(hs), Err(TETHER_ERR_BAD_STATE));
        tether_session_wipe(s);
        assert_eq!(tether_handshake_init_initiator(hs, &dcfg, &p1), TETHER_OK);
        assert_eq!(action(hs), Ok(tether_action::TETHER_ACTION_WRITE));
        tether_handshake_wipe(hs);
        assert!(shared.0.iter().all(|b| *b == 0), "wipe zeroes the storage");
        tether_session_wipe(&mut *cs);
    }
}

#[test]
fn copied_handles_are_refused_and_never_freed_twice() {
    let (mut dev, mut cloud) = established(2);
    let mut copy = zeroed::<tether_session>();
    copy_bytes(&*dev, &mut *copy);
    unsafe {
        // Two senders with one key and one counter would reuse nonces: the copy is refused.
        assert_eq!(seal_status(&mut *copy, b"x"), TETHER_ERR_COPIED);
        assert_eq!(tether_session_seal_capacity(&mut *copy, 1), 0);
        assert_eq!(tether_session_seal_headroom(&mut *copy), 0);
        assert_eq!(tether_session_seal_in_place_len(&mut *copy, 1), 0);
        let (mut start, mut n, mut ip) = (0usize, 0usize, [0u8; 64]);
        assert_eq!(
            tether_session_seal_in_place(
                &mut *copy,
                ip.as_mut_ptr(),
                64,
                1,
                &mut start,
                &mut n,
                null_mut()
            ),
            TETHER_ERR_COPIED
        );
        let mut ev = tether_event::TETHER_EVENT_CLOSE;
        assert_eq!(
            tether_session_open_in_place(
                &mut *copy,
                ip.as_mut_ptr(),
                64,
                &mut ev,
                &mut start,
                &mut n
            ),
            TETHER_ERR_COPIED
        );
        let mut buf = [0u8; 64];
        assert_eq!(
            tether_session_close(&mut *copy, buf.as_mut_ptr(), buf.len(), &mut n),
            TETHER_ERR_COPIED
        );
        // Wiping the copy zeroes it and leaves the original working.
        tether_session_wipe(&mut *copy);
        assert!(copy._opaque.iter().all(|w| *w == 0));
        let rec = seal(&mut dev, b"original");
        assert_eq!(open(&mut cloud, &rec).2, b"original");
        tether_session_wipe(&mut *dev);
        tether_session_wipe(&mut *cloud);

        // A copied handshake: using it is refused; wiping both frees once (Miri and the
        // allocator would catch a double free).
        let mut r = 3u8;
        let p = platform(&mut r);
        let cloud_pub = public(&CLOUD_SECRET);
        let cfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
        let mut hs = zeroed::<tether_handshake>();
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &cfg, &p),
            TETHER_OK
        );
        let mut hcopy = zeroed::<tether_handshake>();
        copy_bytes(&*hs, &mut *hcopy);
        assert_eq!(action(&mut *hcopy), Err(TETHER_ERR_COPIED));
        // Initializing over a copy is fine: the copy owns nothing.
        assert_eq!(
            tether_handshake_init_initiator(&mut *hcopy, &cfg, &p),
            TETHER_OK
        );
        tether_handshake_wipe(&mut *hcopy);
        let mut hcopy2 = zeroed::<tether_handshake>();
        copy_bytes(&*hs, &mut *hcopy2);
        tether_handshake_wipe(&mut *hcopy2);
        assert_eq!(action(&mut *hs), Ok(tether_action::TETHER_ACTION_WRITE));
        tether_handshake_wipe(&mut *hs);

        // A copied decoder.
        let mut dec = zeroed::<tether_decoder>();
        assert_eq!(tether_decoder_init(&mut *dec, 512), TETHER_OK);
        let mut dcopy = zeroed::<tether_decoder>();
        copy_bytes(&*dec, &mut *dcopy);
        let (mut used, mut unit, mut len) = (0usize, null::<u8>(), 0usize);
        assert_eq!(
            tether_decoder_next(&mut *dcopy, buf.as_ptr(), 1, &mut used, &mut unit, &mut len),
            TETHER_ERR_COPIED
        );
        tether_decoder_wipe(&mut *dcopy);
        tether_decoder_wipe(&mut *dec);
    }
}

#[test]
fn misaligned_storage_is_refused() {
    let mut r = 3u8;
    let p = platform(&mut r);
    let cloud_pub = public(&CLOUD_SECRET);
    let cfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
    let mut a = arena();
    unsafe {
        for offset in [1usize, 4, 8] {
            let base = a.0.as_mut_ptr().add(offset);
            let hs = base.cast::<tether_handshake>();
            let s = base.cast::<tether_session>();
            let dec = base.cast::<tether_decoder>();
            if offset % align_of::<tether_handshake>() != 0 {
                assert_eq!(
                    tether_handshake_init_initiator(hs, &cfg, &p),
                    TETHER_ERR_MISALIGNED
                );
                assert_eq!(action(hs), Err(TETHER_ERR_MISALIGNED));
                assert_eq!(tether_decoder_init(dec, 512), TETHER_ERR_MISALIGNED);
                tether_handshake_wipe(hs);
                tether_decoder_wipe(dec);
            }
            assert_eq!(seal_status(s, b"x"), TETHER_ERR_MISALIGNED);
            assert_eq!(tether_session_seal_capacity(s, 1), 0);
            assert_eq!(tether_session_seal_headroom(s), 0);
            assert_eq!(tether_session_seal_in_place_len(s, 1), 0);
            tether_session_wipe(s);
        }
        // Nothing was written.
        assert!(a.0.iter().all(|b| *b == 0));
        // Scalar out-pointers need no alignment.
        let mut bytes = [0u8; 16];
        let action_at = bytes.as_mut_ptr().add(1).cast::<tether_action>();
        let mut hs = zeroed::<tether_handshake>();
        assert_eq!(
            tether_handshake_init_initiator(&mut *hs, &cfg, &p),
            TETHER_OK
        );
        assert_eq!(tether_handshake_next(&mut *hs, action_at), TETHER_OK);
        assert_eq!(
            action_at.read_unaligned(),
            tether_action::TETHER_ACTION_WRITE
        );
        let written_at = bytes.as_mut_ptr().add(3).cast::<usize>();
        let mut out = [0u8; 512];
        assert_eq!(
            tether_handshake_write(&mut *hs, out.as_mut_ptr(), out.len(), written_at),
            TETHER_OK
        );
        assert!(written_at.read_unaligned() > 0);
        tether_handshake_wipe(&mut *hs);
    }
}

#[test]
fn impossible_lengths_are_refused_before_any_slice_is_made() {
    let (mut dev, mut cloud) = established(2);
    let huge = usize::MAX / 2 + 1; // above PTRDIFF_MAX
    let mut out = [0u8; 64];
    let mut n = 0;
    let mut ev = tether_event::TETHER_EVENT_CLOSE;
    unsafe {
        let pt = b"x".as_ptr();
        assert_eq!(
            tether_session_seal(
                &mut *dev,
                pt,
                huge,
                out.as_mut_ptr(),
                64,
                &mut n,
                null_mut()
            ),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!(
            tether_session_seal(&mut *dev, pt, 1, out.as_mut_ptr(), huge, &mut n, null_mut()),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!(
            tether_session_open(&mut *cloud, pt, huge, out.as_mut_ptr(), 64, &mut ev, &mut n),
            TETHER_ERR_BAD_LENGTH
        );
        // A length that would run past the end of the address space.
        let high = usize::MAX - 8;
        assert_eq!(
            tether_session_open(&mut *cloud, pt, high, out.as_mut_ptr(), 64, &mut ev, &mut n),
            TETHER_ERR_BAD_LENGTH
        );
        let rec = seal(&mut dev, b"fine");
        assert_eq!(open(&mut cloud, &rec).2, b"fine");
    }
}

#[test]
fn overlapping_buffers_are_refused_and_write_nothing() {
    let (mut dev, mut cloud) = established(2);
    let s: *mut tether_session = &mut *dev;
    let mut buf = [7u8; 256];
    let mut n = 0usize;
    let mut ku = 0usize;
    unsafe {
        let b = buf.as_mut_ptr();
        // Output over the plaintext (sealing in place is not supported).
        assert_eq!(
            tether_session_seal(s, b, 16, b.add(8), 100, &mut n, null_mut()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal(s, b.add(64), 16, b, 100, &mut n, null_mut()),
            TETHER_ERR_OVERLAP
        );
        // Out-pointers inside the output buffer or the plaintext.
        assert_eq!(
            tether_session_seal(s, b, 16, b.add(100), 100, b.add(120).cast(), null_mut()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal(s, b, 16, b.add(100), 100, &mut n, b.add(4).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal(s, b, 16, b.add(100), 100, &mut n, &mut n),
            TETHER_ERR_OVERLAP
        );
        // Output inside the session's own storage.
        let inside = s.cast::<u8>().add(64);
        assert_eq!(
            tether_session_seal(s, b, 16, inside, 100, &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        assert!(buf.iter().all(|x| *x == 7), "nothing written");
        // The session is unchanged: its next record opens as the first.
        let rec = seal(&mut dev, b"first");
        assert_eq!(open(&mut cloud, &rec).2, b"first");

        // Opening into the unit's own bytes.
        let rec = seal(&mut dev, b"second");
        let mut wire = rec.clone();
        let mut ev = tether_event::TETHER_EVENT_CLOSE;
        let w = wire.as_mut_ptr();
        assert_eq!(
            tether_session_open(&mut *cloud, w, wire.len(), w.add(9), 64, &mut ev, &mut n),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(wire, rec);
        assert_eq!(open(&mut cloud, &rec).2, b"second");
    }
}

/// In place, the one buffer is input and output, but it must still overlap neither the session's
/// storage nor the out-pointers, and out-pointers not each other: OVERLAP, nothing written,
/// nothing changed (on a stream a consumed counter would make the next record OUT_OF_ORDER).
#[test]
fn in_place_buffers_overlapping_the_session_or_out_pointers_are_refused() {
    let (mut dev, mut cloud) = established(1);
    let s: *mut tether_session = &mut *dev;
    let c: *mut tether_session = &mut *cloud;
    let mut buf = [7u8; 256];
    let (mut start, mut n, mut ku) = (99usize, 99usize, 99usize);
    unsafe {
        let b = buf.as_mut_ptr();
        let need = tether_session_seal_in_place_len(s, 16);
        // The buffer inside the session's storage, or running into it.
        let inside = s.cast::<u8>().add(64);
        assert_eq!(
            tether_session_seal_in_place(s, inside, need, 16, &mut start, &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        let tail = s.cast::<u8>().add(TETHER_SESSION_SIZE - 8);
        assert_eq!(
            tether_session_seal_in_place(s, tail, need, 16, &mut start, &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        // Out-pointers inside the buffer, inside the session, or on each other.
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, b.add(8).cast(), &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal_in_place(
                s,
                b,
                need,
                16,
                &mut start,
                b.add(need - 1).cast(),
                &mut ku
            ),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, &mut start, &mut n, b.add(30).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, &mut n, &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, &mut start, &mut n, &mut n),
            TETHER_ERR_OVERLAP
        );
        let in_session = s.cast::<u8>().add(512).cast::<usize>();
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, in_session, &mut n, &mut ku),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, &mut start, &mut n, in_session),
            TETHER_ERR_OVERLAP
        );
        // A length past PTRDIFF_MAX.
        assert_eq!(
            tether_session_seal_in_place(s, b, usize::MAX / 2 + 1, 16, &mut start, &mut n, &mut ku),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!((start, n, ku), (99, 99, 99));
        assert!(buf.iter().all(|x| *x == 7), "nothing written");

        // An out-pointer right after the buffer merely touches it: fine, and the record is the
        // session's first.
        let b = buf.as_mut_ptr();
        let after = b.add(need).cast::<usize>();
        assert_eq!(
            tether_session_seal_in_place(s, b, need, 16, &mut start, after, &mut ku),
            TETHER_OK
        );
        let written = after.read_unaligned();
        let rec = buf[start..start + written].to_vec();
        assert_eq!(open(&mut *c, &rec).2, [7u8; 16]);

        // Opening: the unit inside the session, out-pointers inside the unit, the session or on
        // each other.
        let rec = seal(&mut *s, b"open me where I lie");
        let mut unit = rec.clone();
        let u = unit.as_mut_ptr();
        let len = unit.len();
        let mut ev = tether_event::TETHER_EVENT_CLOSE;
        let (mut at, mut dl) = (99usize, 99usize);
        let inside = c.cast::<u8>().add(100);
        assert_eq!(
            tether_session_open_in_place(c, inside, len, &mut ev, &mut at, &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, len, u.add(4).cast(), &mut at, &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, len, &mut ev, u.add(8).cast(), &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, len, &mut ev, &mut at, u.add(len - 2).cast()),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, len, &mut ev, &mut dl, &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(
                c,
                u,
                len,
                (&mut at as *mut usize).cast(),
                &mut at,
                &mut dl
            ),
            TETHER_ERR_OVERLAP
        );
        let in_session = c.cast::<u8>().add(4000).cast::<usize>();
        assert_eq!(
            tether_session_open_in_place(c, u, len, &mut ev, in_session, &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, len, in_session.cast(), &mut at, &mut dl),
            TETHER_ERR_OVERLAP
        );
        assert_eq!(
            tether_session_open_in_place(c, u, usize::MAX / 2 + 1, &mut ev, &mut at, &mut dl),
            TETHER_ERR_BAD_LENGTH
        );
        assert_eq!((ev, at, dl), (tether_event::TETHER_EVENT_CLOSE, 99, 99));
        assert_eq!(unit, rec, "the unit untouched");
        // The record was not consumed: it opens in place now.
        assert_eq!(
            tether_session_open_in_place(c, u, len, &mut ev, &mut at, &mut dl),
            TETHER_OK
        );
        assert_eq!((ev, at, dl), (tether_event::TETHER_EVENT_DATA, 5, 19));
        assert_eq!(&unit[5..24], b"open me where I lie");
    }
}

#[test]
fn decoder_input_inside_its_own_buffer_is_refused() {
    let mut dec = zeroed::<tether_decoder>();
    unsafe {
        assert_eq!(tether_decoder_init(&mut *dec, 512), TETHER_OK);
        // A unit split over two chunks is assembled in the decoder's buffer.
        let chunk1 = [0u8, 4, 0x10];
        let chunk2 = [1u8, 2, 3];
        let (mut used, mut unit, mut len) = (0usize, null::<u8>(), 0usize);
        assert_eq!(
            tether_decoder_next(
                &mut *dec,
                chunk1.as_ptr(),
                3,
                &mut used,
                &mut unit,
                &mut len
            ),
            TETHER_OK
        );
        assert!(unit.is_null());
        assert_eq!(
            tether_decoder_next(
                &mut *dec,
                chunk2.as_ptr(),
                3,
                &mut used,
                &mut unit,
                &mut len
            ),
            TETHER_OK
        );
        assert_eq!((used, len), (3, 6));
        // Feeding that unit back as input points into the decoder's own buffer.
        let again = unit;
        assert_eq!(
            tether_decoder_next(&mut *dec, again, len, &mut used, &mut unit, &mut len),
            TETHER_ERR_OVERLAP
        );
        // Out-pointers inside the input.
        let mut input = [0u8; 32];
        let ip = input.as_mut_ptr();
        assert_eq!(
            tether_decoder_next(&mut *dec, ip, 32, ip.add(8).cast(), &mut unit, &mut len),
            TETHER_ERR_OVERLAP
        );
        tether_decoder_wipe(&mut *dec);
    }
}

#[test]
fn oversized_prefix_writes_every_output() {
    let mut dec = zeroed::<tether_decoder>();
    unsafe {
        assert_eq!(tether_decoder_init(&mut *dec, 512), TETHER_OK);
        let input = [0xFFu8, 0xFF, 1, 2];
        let dummy = 1u8;
        let (mut used, mut unit, mut len) = (99usize, &dummy as *const u8, 99usize);
        assert_eq!(
            tether_decoder_next(&mut *dec, input.as_ptr(), 4, &mut used, &mut unit, &mut len),
            TETHER_ERR_OVERSIZED
        );
        assert_eq!((used, unit, len), (0, null(), 0));
        tether_decoder_wipe(&mut *dec);
    }
}

/// What a re-entrant callback saw, through `user`.
struct Reentry {
    counter: u8,
    hs: *mut tether_handshake,
    seen_next: Option<tether_status>,
    seen_init: Option<tether_status>,
    wipe: bool,
    config: *const tether_config,
    platform: *const tether_platform,
}

unsafe extern "C" fn reentry_random(user: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    let r = unsafe { &mut *user.cast::<Reentry>() };
    unsafe { fill_random((&mut r.counter as *mut u8).cast(), buf, len) }
}

unsafe extern "C" fn reentry_check(user: *mut c_void, _: *const tether_peer_info) -> i32 {
    let r = unsafe { &mut *user.cast::<Reentry>() };
    let mut a = tether_action::TETHER_ACTION_FAILED;
    r.seen_next = Some(unsafe { tether_handshake_next(r.hs, &mut a) });
    r.seen_init = Some(unsafe { tether_handshake_init_responder(r.hs, r.config, r.platform) });
    if r.wipe {
        unsafe { tether_handshake_wipe(r.hs) };
    }
    0
}

#[test]
fn callbacks_that_call_back_into_their_handle() {
    for wipe in [false, true] {
        let cloud_pub = public(&CLOUD_SECRET);
        let device_pub = public(&DEVICE_SECRET);
        let mut r1 = 1u8;
        let p1 = platform(&mut r1);
        let dcfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
        let ccfg = config(&CLOUD_SECRET, b"cloud", Some(&device_pub), 2);
        // Raw pointers only, as C holds them: the callback reaches the same storage.
        let cloud = Box::into_raw(zeroed::<tether_handshake>());
        let re = Box::into_raw(Box::new(Reentry {
            counter: 2,
            hs: cloud,
            seen_next: None,
            seen_init: None,
            wipe,
            config: &ccfg,
            platform: null(),
        }));
        let p2 = tether_platform {
            user: re.cast(),
            fill_random: Some(reentry_random),
            monotonic_ms: None,
            unix_time: None,
            check_peer: Some(reentry_check),
        };
        let mut dev = zeroed::<tether_handshake>();
        let mut buf = [0u8; 512];
        let mut n = 0;
        unsafe {
            (*re).platform = &p2;
            assert_eq!(
                tether_handshake_init_initiator(&mut *dev, &dcfg, &p1),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_init_responder(cloud, &ccfg, &p2),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_write(&mut *dev, buf.as_mut_ptr(), buf.len(), &mut n),
                TETHER_OK
            );
            // IK: the responder's policy runs while it reads message 0.
            assert_eq!(tether_handshake_read(cloud, buf.as_ptr(), n), TETHER_OK);
            assert_eq!((*re).seen_next, Some(TETHER_ERR_BUSY));
            assert_eq!((*re).seen_init, Some(TETHER_ERR_BUSY));
            if wipe {
                // The wipe asked for inside the callback happened as the read returned.
                assert_eq!(action(cloud), Err(TETHER_ERR_BAD_STATE));
                assert!((*cloud)._opaque.iter().all(|w| *w == 0));
            } else {
                assert_eq!(action(cloud), Ok(tether_action::TETHER_ACTION_WRITE));
            }
            tether_handshake_wipe(cloud);
            tether_handshake_wipe(&mut *dev);
            drop(Box::from_raw(cloud));
            drop(Box::from_raw(re));
        }
    }
}

/// One waiting responder, one attacker: a stranger's message 0 (XX, which authenticates
/// nobody) or an IK message 0 under an unknown key must not keep the genuine peer out.
#[test]
#[cfg_attr(
    miri,
    ignore = "a dozen handshakes take most of an hour under Miri; the pointer handling is the \
              same as in the other tests, and this logic runs natively and in the C tests"
)]
fn a_waiting_responder_stays_available_to_the_genuine_peer() {
    let cloud_pub = public(&CLOUD_SECRET);
    let device_pub = public(&DEVICE_SECRET);
    static ATTACKER_SECRET: [u8; 32] = [9; 32];
    for pattern in [2u8 /* XX */, 1 /* IK */] {
        let (mut r1, mut r2, mut r3) = (1u8, 2u8, 3u8);
        let (p1, p3) = (platform(&mut r1), platform(&mut r3));
        // The cloud knows only the genuine device (no check_peer: pinned key only).
        let mut p2 = platform(&mut r2);
        p2.check_peer = None;
        let mut ccfg = config(&CLOUD_SECRET, b"cloud", Some(&device_pub), 2);
        ccfg.pattern = pattern;
        let mut dcfg = config(&DEVICE_SECRET, b"SN-1", Some(&cloud_pub), 2);
        dcfg.pattern = pattern;
        let mut acfg = config(&ATTACKER_SECRET, b"SN-EVIL", Some(&cloud_pub), 2);
        acfg.pattern = pattern;
        let (mut cloud, mut dev, mut evil) = (
            zeroed::<tether_handshake>(),
            zeroed::<tether_handshake>(),
            zeroed::<tether_handshake>(),
        );
        let mut buf = [0u8; 512];
        let mut good = [0u8; 512];
        let (mut n, mut g) = (0, 0);
        unsafe {
            assert_eq!(
                tether_handshake_init_responder(&mut *cloud, &ccfg, &p2),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_init_initiator(&mut *dev, &dcfg, &p1),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_init_initiator(&mut *evil, &acfg, &p3),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_write(&mut *evil, buf.as_mut_ptr(), buf.len(), &mut n),
                TETHER_OK
            );
            let attacked = tether_handshake_read(&mut *cloud, buf.as_ptr(), n);
            if pattern == 1 {
                // IK authenticates the stranger at once, and the pinned key refuses it.
                assert_eq!(attacked, TETHER_ERR_KEY_MISMATCH);
                assert_eq!(action(&mut *cloud), Ok(tether_action::TETHER_ACTION_READ));
            } else {
                // XX message 0 proves nothing: the responder answers it...
                assert_eq!(attacked, TETHER_OK);
                assert_eq!(action(&mut *cloud), Ok(tether_action::TETHER_ACTION_WRITE));
            }
            // ...and the genuine device's message 0 still gets through.
            assert_eq!(
                tether_handshake_write(&mut *dev, good.as_mut_ptr(), good.len(), &mut g),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_read(&mut *cloud, good.as_ptr(), g),
                TETHER_OK
            );
            // A retransmitted copy of it changes nothing.
            assert_eq!(
                tether_handshake_read(&mut *cloud, good.as_ptr(), g),
                TETHER_ERR_DUPLICATE
            );
            // Complete the genuine handshake.
            loop {
                let (me, other) = match action(&mut *cloud).unwrap() {
                    tether_action::TETHER_ACTION_WRITE => (&mut *cloud, &mut *dev),
                    _ => match action(&mut *dev).unwrap() {
                        tether_action::TETHER_ACTION_WRITE => (&mut *dev, &mut *cloud),
                        _ => break,
                    },
                };
                assert_eq!(
                    tether_handshake_write(me, buf.as_mut_ptr(), buf.len(), &mut n),
                    TETHER_OK
                );
                assert_eq!(tether_handshake_read(other, buf.as_ptr(), n), TETHER_OK);
            }
            assert_eq!(action(&mut *cloud), Ok(tether_action::TETHER_ACTION_FINISH));
            assert_eq!(action(&mut *dev), Ok(tether_action::TETHER_ACTION_FINISH));
            let (mut cs, mut ds) = (zeroed::<tether_session>(), zeroed::<tether_session>());
            let mut peer = core::mem::zeroed::<tether_peer>();
            assert_eq!(
                tether_handshake_finish(&mut *cloud, &mut *cs, &mut peer, null_mut()),
                TETHER_OK
            );
            assert_eq!(&peer.id[..peer.id_len], b"SN-1");
            assert_eq!(
                tether_handshake_finish(&mut *dev, &mut *ds, null_mut(), null_mut()),
                TETHER_OK
            );
            let rec = seal(&mut ds, b"genuine");
            assert_eq!(open(&mut cs, &rec).2, b"genuine");
            tether_handshake_wipe(&mut *evil);
            tether_session_wipe(&mut *cs);
            tether_session_wipe(&mut *ds);
        }
    }
}

/// A device configured for QR-code pairing answers nothing else by default: one XX message 0
/// from anyone would otherwise get back its identity and, with an accept-all policy, a bond.
#[test]
#[cfg_attr(
    miri,
    ignore = "six handshakes: too slow under Miri; the logic runs natively and in the C tests"
)]
fn pairing_responders_answer_only_pairing_by_default() {
    static PHONE_SECRET: [u8; 32] = [3; 32];
    let device_pub = public(&DEVICE_SECRET);
    let mut code = [0u8; TETHER_PAIRING_CODE_LEN];
    let (mut r1, mut r2) = (1u8, 2u8);
    let (p1, p2) = (platform(&mut r1), platform(&mut r2));
    let mut n = 0;
    unsafe {
        assert_eq!(
            tether_pairing_code_generate(
                &p2,
                device_pub.as_ptr(),
                code.as_mut_ptr(),
                code.len(),
                &mut n
            ),
            TETHER_OK
        );
        let mut dcfg = config(&DEVICE_SECRET, b"SN-1", None, 2);
        dcfg.pattern = 3;
        dcfg.channel = 2;
        dcfg.pairing_code = code.as_ptr();
        dcfg.pairing_code_len = code.len();
        let mut buf = [0u8; 512];
        for (pattern, expect) in [
            (2u8, TETHER_ERR_NOT_ALLOWED),
            (1, TETHER_ERR_NOT_ALLOWED),
            (3, TETHER_OK),
        ] {
            let mut device = zeroed::<tether_handshake>();
            assert_eq!(
                tether_handshake_init_responder(&mut *device, &dcfg, &p2),
                TETHER_OK
            );
            let mut pcfg = config(&PHONE_SECRET, b"phone", Some(&device_pub), 2);
            pcfg.pattern = pattern;
            pcfg.channel = 2;
            pcfg.pairing_code = code.as_ptr();
            pcfg.pairing_code_len = code.len();
            let mut phone = zeroed::<tether_handshake>();
            assert_eq!(
                tether_handshake_init_initiator(&mut *phone, &pcfg, &p1),
                TETHER_OK
            );
            assert_eq!(
                tether_handshake_write(&mut *phone, buf.as_mut_ptr(), buf.len(), &mut n),
                TETHER_OK
            );
            assert_eq!(tether_handshake_read(&mut *device, buf.as_ptr(), n), expect);
            if expect != TETHER_OK {
                assert_eq!(action(&mut *device), Ok(tether_action::TETHER_ACTION_READ));
                // Every pattern allowed, but a code is set: still refused...
                let mut all_cfg = dcfg;
                all_cfg.allowed_patterns = 0b11110;
                assert_eq!(
                    tether_handshake_init_responder(&mut *device, &all_cfg, &p2),
                    TETHER_OK
                );
                assert_eq!(
                    tether_handshake_read(&mut *device, buf.as_ptr(), n),
                    TETHER_ERR_NOT_ALLOWED
                );
                // ...until answering without the code is allowed explicitly.
                let mut open_cfg = dcfg;
                open_cfg.allowed_patterns = 0b11110;
                open_cfg.allow_without_code = true;
                assert_eq!(
                    tether_handshake_init_responder(&mut *device, &open_cfg, &p2),
                    TETHER_OK
                );
                assert_eq!(
                    tether_handshake_read(&mut *device, buf.as_ptr(), n),
                    TETHER_OK
                );
            }
            tether_handshake_wipe(&mut *device);
            tether_handshake_wipe(&mut *phone);
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "two handshakes for arithmetic; runs natively and in the C tests"
)]
fn record_sizes_match_the_macros() {
    for (framing, overhead) in [(1u8, TETHER_STREAM_OVERHEAD), (2, TETHER_DATAGRAM_OVERHEAD)] {
        let (mut dev, _) = established(framing);
        assert_eq!(seal(&mut dev, b"").len(), overhead);
        assert_eq!(seal(&mut dev, b"12345").len(), 5 + overhead);
        let cap = unsafe { tether_session_seal_capacity(&mut *dev, 100) };
        assert!(cap <= 100 + 2 * TETHER_DATAGRAM_OVERHEAD);
        assert_eq!(cap, 100 + 2 * overhead);
        // In place: headroom (room for a key-update record and a header), plaintext, tag; the
        // same headroom in both framings.
        let head = unsafe { tether_session_seal_headroom(&mut *dev) };
        let header = overhead - 16;
        assert!(head >= overhead + header);
        assert_eq!(head, TETHER_SEAL_HEADROOM);
        let len = unsafe { tether_session_seal_in_place_len(&mut *dev, 100) };
        assert_eq!(
            len,
            100 + TETHER_SEAL_HEADROOM + 16,
            "TETHER_SEAL_IN_PLACE_LEN(100)"
        );
    }
    assert_eq!(TETHER_SEAL_HEADROOM, 25 + 9);
}
