//! The C ABI (`tether-ffi`) called as a C program calls it, on one set of handles, with the
//! misuse the header promises to answer with a status: handles placed at any offset of four raw
//! storage slots (so sometimes misaligned) and passed as the wrong kind, slots copied onto each
//! other with memcpy, output pointers into the handle or over an input, NULL pointers, huge
//! lengths, calls in any order, failing entropy, and platform callbacks that call back into
//! handles (their own included) or that refuse the peer.
//!
//! Checked: every call returns a status `tether_strerror` describes, never `TETHER_ERR_PANIC` or
//! `TETHER_ERR_INTERNAL`; a huge length or a copied handle never succeeds; an output buffer is
//! untouched when a seal or control record fails; a buffer of `tether_session_seal_capacity`
//! always suffices; a session opens only records its peer sealed, and the peer's records
//! delivered in order open to what was sealed; at the end of the input, the two sessions of a
//! handshake that nobody wiped, replaced or closed still talk both ways. Every slot is wiped at
//! the end of each input, so AddressSanitizer and LeakSanitizer check that no call corrupts,
//! double-frees or leaks memory (a copy must be zeroed without freeing the original's memory).
//!
//! What the harness itself must not do (the header's contract, not the library's promise): hand
//! out a buffer whose length runs past memory it owns (other than the huge lengths the header
//! promises to refuse), place two objects in one slot at once, write to a live object's storage
//! except through the library, or copy a handle back onto the address it was set up at. Set
//! `FFI_CALLS_TRACE=1` to print the decoded operations.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_void, CStr};
use std::mem::{size_of, MaybeUninit};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tether_ffi::tether_status::{self, *};
use tether_ffi::*;
use tether_fuzz::{
    credential_signature, fixtures, input_seed, manufacturer, splitmix64, Bytes,
    CREDENTIAL_VALIDITY, INIT_SECRET, ISSUER, NOW, RESP_SECRET,
};

/// Four slots, each large enough for a session at any offset up to `MAX_OFF`, each its own heap
/// block (so that AddressSanitizer's redzones surround it).
const SLOTS: usize = 4;
const MAX_OFF: usize = 32;
const SLOT: usize = TETHER_SESSION_SIZE + MAX_OFF;
/// The smallest length the header promises to refuse (above PTRDIFF_MAX) before touching a byte.
const HUGE: usize = usize::MAX / 2 + 1;
/// Enough for any sealed record with its key update, and any handshake message.
const WIRE: usize = TETHER_MAX_PLAINTEXT + 2 * TETHER_DATAGRAM_OVERHEAD + 64;
const CANARY: u8 = 0xa5;

#[repr(C, align(16))]
struct Slot([u8; SLOT]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Handshake,
    Session,
    Decoder,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::Handshake => TETHER_HANDSHAKE_SIZE,
            Kind::Session => TETHER_SESSION_SIZE,
            Kind::Decoder => TETHER_DECODER_SIZE,
        }
    }
}

/// Checks the properties every status has, and returns it.
fn check(st: tether_status) -> tether_status {
    let raw = st as i32;
    // SAFETY: tether_strerror returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(tether_strerror(raw)) };
    assert_ne!(
        text.to_bytes(),
        b"unknown status",
        "status {raw} is undescribed"
    );
    assert!(
        st != TETHER_ERR_PANIC && st != TETHER_ERR_INTERNAL,
        "{st:?}: {text:?}"
    );
    st
}

fn trace_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FFI_CALLS_TRACE").is_some())
}

macro_rules! trace {
    ($($t:tt)*) => { if trace_on() { eprintln!($($t)*) } };
}

fn overhead(framing: u8) -> usize {
    if framing == 2 {
        TETHER_DATAGRAM_OVERHEAD
    } else {
        TETHER_STREAM_OVERHEAD
    }
}

const EVENT_DATA: i32 = tether_event::TETHER_EVENT_DATA as i32;
const EVENT_KEY_UPDATE: i32 = tether_event::TETHER_EVENT_KEY_UPDATE as i32;
const EVENT_CLOSE: i32 = tether_event::TETHER_EVENT_CLOSE as i32;
const ACTION_WRITE: i32 = tether_action::TETHER_ACTION_WRITE as i32;

// ---------------------------------------------------------------------------------------------
// What the harness knows.

/// A handshake the harness set up in a slot.
#[derive(Clone, Copy, Debug)]
struct HsInfo {
    initiator: bool,
    framing: u8,
    max_plaintext: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct SlotState {
    /// Where this slot's object (live or a copy) is, if `used`.
    off: usize,
    /// The slot may hold an object at `off`: any other 8-aligned offset would overlap it.
    used: bool,
    /// Slots whose handle headers may have been copied into this one (bit per slot): copying
    /// one back onto its home address would resurrect it, which no library can detect.
    origins: u8,
    /// The live handshake the harness set up here.
    hs: Option<HsInfo>,
    /// The record of the last session a handshake finished into this slot.
    session: Option<usize>,
    /// That session has not been touched since by a wipe, an init, a memcpy or a finish.
    intact: bool,
    /// The slot holds a memcpy of another slot's object: no call on it may succeed.
    copy: bool,
}

/// A unit a session sealed, and what opening it must give.
#[derive(Clone, Debug)]
struct Unit {
    bytes: Vec<u8>,
    event: i32,
    data: Vec<u8>,
}

/// A session created by `tether_handshake_finish`.
#[derive(Debug)]
struct Record {
    slot: usize,
    /// The handshake hash; None if the finish was not asked for it (the record is then only
    /// a placeholder).
    hash: Option<[u8; 32]>,
    initiator: bool,
    framing: u8,
    max_plaintext: u32,
    /// Units sealed and not yet opened by the peer, in order.
    outbox: VecDeque<Unit>,
    closed: bool,
    /// On datagrams: the peer opened one of this session's units out of order.
    disordered: bool,
}

#[derive(Default)]
struct Model {
    slots: [SlotState; SLOTS],
    records: Vec<Record>,
    /// Handshake messages each slot wrote, the latest last.
    msgs: [Vec<Vec<u8>>; SLOTS],
}

impl Model {
    /// The record of the session the other side of `r`'s handshake finished, if known.
    fn peer_of(&self, r: usize) -> Option<usize> {
        let rec = &self.records[r];
        let hash = rec.hash?;
        self.records
            .iter()
            .position(|p| p.hash == Some(hash) && p.initiator != rec.initiator)
    }

    /// Anything but the normal calls happened to the slot: its session no longer counts as
    /// intact and a copy there may be gone.
    fn touched(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        s.intact = false;
        s.copy = false;
    }
}

/// Shared with the platform callbacks through `user`: only cells, never borrowed across a call.
struct Ctx {
    /// The slots' storage, reached only through these pointers.
    slots: [*mut u8; SLOTS],
    rng: Cell<u64>,
    clock: Cell<u64>,
    unix: Cell<u64>,
    /// This many next fill_random calls fail.
    fail_entropy: Cell<u32>,
    /// What check_peer returns.
    verdict: Cell<i32>,
    /// What check_peer does with tether_peer_verify_credential.
    verify: Cell<u8>,
    /// Calls the next callbacks make into handles: (what, slot).
    armed: RefCell<VecDeque<(u8, usize)>>,
    depth: Cell<u8>,
    /// A slot no callback may touch: a decoder whose unit the running call reads.
    protect: Cell<Option<usize>>,
    /// The slot of the handle placed last (the one the running call is on, mostly).
    current: Cell<usize>,
    model: RefCell<Model>,
}

impl Ctx {
    fn base(&self, slot: usize) -> *mut u8 {
        self.slots[slot]
    }

    /// The address of slot `slot`'s object.
    fn tracked(&self, slot: usize) -> (*mut u8, usize) {
        let off = self.model.borrow().slots[slot].off;
        // SAFETY: off <= MAX_OFF.
        (unsafe { self.base(slot).add(off) }, off)
    }

    /// An offset in the slot for a handle: mostly where its object is (0 in a free slot), else
    /// any offset in a free slot; in a slot that may hold an object, that object's offset or a
    /// misaligned one (refused before anything is read).
    fn place(&self, slot: usize, want: u8) -> (*mut u8, usize) {
        let s = self.model.borrow().slots[slot];
        let mut off = match want & 3 {
            0 => usize::from(want >> 2) % (MAX_OFF + 1),
            _ if s.used => s.off,
            _ => 0,
        };
        if s.used && off % 8 == 0 {
            off = s.off;
        }
        self.current.set(slot);
        // SAFETY: off <= MAX_OFF.
        (unsafe { self.base(slot).add(off) }, off)
    }

    fn platform(&self, bits: u8) -> tether_platform {
        tether_platform {
            user: (self as *const Ctx).cast_mut().cast(),
            fill_random: if bits & 0x28 == 0x28 {
                None
            } else {
                Some(fill_random)
            },
            monotonic_ms: if bits & 1 != 0 {
                None
            } else {
                Some(monotonic_ms)
            },
            unix_time: if bits & 2 != 0 { None } else { Some(unix_time) },
            check_peer: if bits & 4 != 0 {
                None
            } else {
                Some(check_peer)
            },
        }
    }

    /// Runs the next armed call, from inside a callback.
    fn reenter(&self) {
        if self.depth.get() >= 2 {
            return;
        }
        let Some((what, slot)) = self.armed.borrow_mut().pop_front() else {
            return;
        };
        let slot = if slot < SLOTS {
            slot
        } else {
            self.current.get()
        };
        if self.protect.get() == Some(slot) {
            return;
        }
        self.depth.set(self.depth.get() + 1);
        // SAFETY: the callback's context; calls on the slots at tracked offsets.
        unsafe { reentry(self, what, slot) };
        self.depth.set(self.depth.get() - 1);
    }

    /// A session in `slot` sealed `units` (key update and data, or a control record).
    fn sealed(&self, slot: usize, units: Vec<Unit>) {
        let mut m = self.model.borrow_mut();
        if let Some(r) = m.slots[slot].session {
            m.records[r].outbox.extend(units);
        }
    }

    /// The session in `slot` opened `unit` to (event, data): it must be a unit its peer sealed
    /// and not yet opened, and open to what was sealed.
    fn opened(&self, slot: usize, unit: &[u8], event: i32, data: &[u8]) {
        let mut m = self.model.borrow_mut();
        let Some(r) = m.slots[slot].session else {
            return;
        };
        let Some(p) = m.peer_of(r) else {
            return;
        };
        let peer = &mut m.records[p];
        let Some(k) = peer.outbox.iter().position(|u| u.bytes == unit) else {
            panic!(
                "slot {slot} opened a unit its peer never sealed or that was opened already \
                 (event {event}, {} bytes): {unit:02x?}",
                data.len()
            );
        };
        let u = peer.outbox.remove(k).unwrap();
        assert_eq!(
            (event, data),
            (u.event, &u.data[..]),
            "opened to something else"
        );
        if k > 0 {
            assert_eq!(peer.framing, 2, "a stream opened a unit out of order");
            peer.disordered = true;
        }
    }

    /// After `tether_handshake_finish` of the handshake in slot `a` (set up as `info`) into
    /// slot `b` at `soff`, which returned `st` and, on success, `peer` and `hash` if asked.
    fn finished(
        &self,
        st: tether_status,
        (a, info): (usize, Option<HsInfo>),
        (b, soff): (usize, usize),
        peer: Option<tether_peer>,
        hash: Option<[u8; 32]>,
    ) {
        let mut m = self.model.borrow_mut();
        m.touched(b);
        if st != TETHER_OK {
            return;
        }
        m.slots[a].hs = None;
        let info =
            info.expect("a handshake the harness never set up (or set up elsewhere) finished");
        if let Some(peer) = peer {
            let f = fixed();
            let expected = if info.initiator {
                f.resp_public
            } else {
                f.init_public
            };
            assert_eq!(peer.static_key, expected);
            assert!((1..=32).contains(&peer.id_len));
        }
        if let Some(h) = hash {
            let twins = m.records.iter().filter(|r| r.hash == Some(h)).count();
            assert!(twins <= 1, "three sessions share a handshake hash");
        }
        let r = m.records.len();
        m.records.push(Record {
            slot: b,
            hash,
            initiator: info.initiator,
            framing: info.framing,
            max_plaintext: info.max_plaintext,
            outbox: VecDeque::new(),
            closed: false,
            disordered: false,
        });
        let origins = m.slots[a].origins;
        let s = &mut m.slots[b];
        s.used = true;
        s.off = soff;
        s.origins |= origins | 1 << b;
        s.hs = None;
        s.session = Some(r);
        s.intact = true;
        s.copy = false;
    }

    /// The front unit of the peer's outbox, if the session in `slot` must open it: its session
    /// is intact and the peer's units have been opened in order.
    fn must_open(&self, slot: usize, off: usize, unit: &[u8]) -> Option<Unit> {
        let m = self.model.borrow();
        let s = m.slots[slot];
        if s.off != off {
            return None;
        }
        let r = s.session?;
        let p = m.peer_of(r)?;
        let (rec, peer) = (&m.records[r], &m.records[p]);
        let front = peer.outbox.front()?;
        (s.intact
            && !peer.disordered
            && front.bytes == unit
            && front.data.len() <= rec.max_plaintext as usize)
            .then(|| front.clone())
    }
}

/// An input that points into the handle's own storage (`size` bytes at `h`), `offset` bytes in
/// (modulo the size), and the bytes left from there: what a confused caller passes.
fn inside(h: *mut u8, offset: usize, size: usize) -> (*const u8, usize) {
    let at = offset % size;
    // SAFETY: `at` is within the handle's storage, which is at least `size` bytes.
    (unsafe { h.add(at) }.cast_const(), size - at)
}

// ---------------------------------------------------------------------------------------------
// Platform callbacks.

fn ctx<'a>(user: *mut c_void) -> &'a Ctx {
    // SAFETY: every platform's user is the input's Ctx, alive while any handle lives.
    unsafe { &*user.cast::<Ctx>() }
}

unsafe extern "C" fn fill_random(user: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    let c = ctx(user);
    c.reenter();
    if c.fail_entropy.get() > 0 {
        c.fail_entropy.set(c.fail_entropy.get() - 1);
        return -1;
    }
    let mut state = c.rng.get();
    let mut word = [0u8; 8];
    for i in 0..len {
        if i % 8 == 0 {
            word = splitmix64(&mut state).to_le_bytes();
        }
        // SAFETY: tether passes a buffer of len writable bytes.
        unsafe { *buf.add(i) = word[i % 8] };
    }
    c.rng.set(state);
    0
}

unsafe extern "C" fn monotonic_ms(user: *mut c_void) -> u64 {
    let c = ctx(user);
    c.reenter();
    c.clock.get()
}

unsafe extern "C" fn unix_time(user: *mut c_void) -> u64 {
    ctx(user).unix.get()
}

unsafe extern "C" fn check_peer(user: *mut c_void, info: *const tether_peer_info) -> i32 {
    let c = ctx(user);
    assert!(!info.is_null());
    // SAFETY: valid during the callback, as the header says.
    let i = unsafe { &*info };
    let peer = unsafe { &*i.peer };
    assert!((1..=32).contains(&peer.id_len), "{}", peer.id_len);
    assert!(peer.model_len <= 32 && peer.version_len <= 16 && peer.key_id_len <= 16);
    assert!((1..=4).contains(&i.pattern) && (1..=4).contains(&i.channel));
    let p = fixtures();
    let known = [p.init_key.public().0, p.resp_key.public().0];
    assert!(
        known.contains(&peer.static_key),
        "a peer with a key nobody has"
    );
    let mfr = manufacturer().1.to_bytes();
    match c.verify.get() % 6 {
        1 => {
            // SAFETY: the running callback's info, a 32-byte key.
            let st = check(unsafe { tether_peer_verify_credential(info, mfr.as_ptr()) });
            assert!(
                matches!(
                    st,
                    TETHER_OK
                        | TETHER_ERR_MISSING_CREDENTIAL
                        | TETHER_ERR_BAD_CREDENTIAL
                        | TETHER_ERR_NOT_YET_VALID
                        | TETHER_ERR_EXPIRED
                ),
                "{st:?}"
            );
        }
        2 => {
            // A copy made during the callback: the header promises TETHER_ERR_BAD_STATE.
            // SAFETY: a bitwise copy of plain data.
            let copy: tether_peer_info = unsafe { std::ptr::read(info) };
            let st = check(unsafe { tether_peer_verify_credential(&copy, mfr.as_ptr()) });
            assert_eq!(st, TETHER_ERR_BAD_STATE);
        }
        3 => {
            let st = check(unsafe { tether_peer_verify_credential(info, null()) });
            assert_eq!(st, TETHER_ERR_NULL);
            let st = check(unsafe { tether_peer_verify_credential(null(), mfr.as_ptr()) });
            assert_eq!(st, TETHER_ERR_NULL);
        }
        4 => {
            // Not a point on the curve.
            let bad = [0xffu8; 32];
            check(unsafe { tether_peer_verify_credential(info, bad.as_ptr()) });
        }
        _ => {}
    }
    c.reenter();
    c.verdict.get()
}

/// A call made from inside a callback, on a slot's object at its tracked offset (possibly the
/// very handle whose call is running).
unsafe fn reentry(c: &Ctx, what: u8, slot: usize) {
    let (h, off) = c.tracked(slot);
    let before = c.model.borrow().slots[slot];
    trace!("    re-entry {} on slot {slot}", what % 11);
    match what % 11 {
        0 => {
            let mut action = 0i32;
            check(unsafe { tether_handshake_next(h.cast(), (&raw mut action).cast()) });
        }
        1 => {
            let mut out = vec![0u8; TETHER_HANDSHAKE_MAX_LEN];
            let mut n = 0usize;
            let st = check(unsafe {
                tether_handshake_write(h.cast(), out.as_mut_ptr(), out.len(), &mut n)
            });
            if st == TETHER_OK {
                out.truncate(n);
                c.model.borrow_mut().msgs[slot].push(out);
            }
        }
        2 => {
            let pt = b"re-entered";
            let mut out = vec![0u8; WIRE];
            let (mut n, mut ku) = (0usize, 0usize);
            let st = check(unsafe {
                tether_session_seal(
                    h.cast(),
                    pt.as_ptr(),
                    pt.len(),
                    out.as_mut_ptr(),
                    out.len(),
                    &mut n,
                    &mut ku,
                )
            });
            if st == TETHER_OK {
                c.sealed(slot, split_sealed(&out[..n], ku, pt));
            }
        }
        3 => {
            let mut erased = false;
            check(unsafe { tether_session_poll(h.cast(), &mut erased) });
        }
        4 => {
            let mut out = [0u8; 64];
            let mut n = 0usize;
            let st = check(unsafe {
                tether_session_update_key(h.cast(), out.as_mut_ptr(), out.len(), &mut n)
            });
            if st == TETHER_OK {
                c.sealed(slot, vec![control_unit(&out[..n], false)]);
            }
        }
        5 => {
            unsafe { tether_handshake_wipe(h.cast()) };
            let mut m = c.model.borrow_mut();
            m.slots[slot].hs = None;
            m.touched(slot);
        }
        6 => {
            unsafe { tether_session_wipe(h.cast()) };
            c.model.borrow_mut().touched(slot);
        }
        7 => {
            unsafe { tether_decoder_wipe(h.cast()) };
            c.model.borrow_mut().touched(slot);
        }
        // Objects are created only where the slot's object is known to be: a call running on
        // the slot may be placing one at another offset of a free slot.
        _ if !before.used => {}
        8 => {
            let cfg = responder_config();
            let platform = c.platform(0);
            let st = check(unsafe { tether_handshake_init_responder(h.cast(), &cfg, &platform) });
            trace!("    init responder -> {st:?}");
            let mut m = c.model.borrow_mut();
            m.touched(slot);
            if st == TETHER_OK {
                m.slots[slot].hs = Some(HsInfo {
                    initiator: false,
                    framing: cfg.framing,
                    max_plaintext: cfg.max_plaintext,
                });
                m.slots[slot].session = None;
            }
        }
        9 => {
            let info = before.hs;
            let mut hash = [0u8; 32];
            let st = check(unsafe {
                tether_handshake_finish(h.cast(), h.cast(), null_mut(), hash.as_mut_ptr())
            });
            trace!("    finish into itself -> {st:?}");
            c.finished(st, (slot, info), (slot, off), None, Some(hash));
        }
        _ => {
            let st = check(unsafe { tether_decoder_init(h.cast(), 64) });
            let mut m = c.model.borrow_mut();
            m.touched(slot);
            if st == TETHER_OK {
                m.slots[slot].hs = None;
                m.slots[slot].session = None;
            }
        }
    }
}

/// The responder a callback sets up: every pattern, the pairing code, the known initiator.
fn responder_config() -> tether_config {
    let f = fixed();
    let mut cfg = MaybeUninit::<tether_config>::uninit();
    // SAFETY: writable config.
    assert_eq!(
        check(unsafe { tether_config_init(cfg.as_mut_ptr()) }),
        TETHER_OK
    );
    // SAFETY: initialised just above.
    let mut cfg = unsafe { cfg.assume_init() };
    cfg.static_secret = RESP_SECRET.as_ptr();
    cfg.identity.id = b"cloud".as_ptr();
    cfg.identity.id_len = 5;
    cfg.peer_static_key = f.init_public.as_ptr();
    cfg.pairing_code = f.code.as_ptr();
    cfg.pairing_code_len = f.code.len();
    cfg.allowed_patterns = 0x1e;
    cfg.allow_without_code = true;
    cfg
}

/// The units of a successful seal: the key-update record (the first `ku` bytes) if any, then
/// the data record.
fn split_sealed(out: &[u8], ku: usize, pt: &[u8]) -> Vec<Unit> {
    let mut units = Vec::new();
    if ku > 0 {
        units.push(control_unit(&out[..ku], false));
    }
    units.push(Unit {
        bytes: out[ku..].to_vec(),
        event: EVENT_DATA,
        data: pt.to_vec(),
    });
    units
}

fn control_unit(bytes: &[u8], close: bool) -> Unit {
    Unit {
        bytes: bytes.to_vec(),
        event: if close { EVENT_CLOSE } else { EVENT_KEY_UPDATE },
        data: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed configuration material.

struct Fixed {
    init_public: [u8; 32],
    resp_public: [u8; 32],
    code: [u8; TETHER_PAIRING_CODE_LEN],
    signatures: [[u8; 64]; 2],
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let p = fixtures();
        let mut code = [0u8; TETHER_PAIRING_CODE_LEN];
        code.copy_from_slice(&p.code.to_text()[..]);
        Fixed {
            init_public: p.init_key.public().0,
            resp_public: p.resp_key.public().0,
            code,
            signatures: [credential_signature(false), credential_signature(true)],
        }
    })
}

const CONTEXT: &[u8; 80] = &[7; 80];

// ---------------------------------------------------------------------------------------------
// The operations.

/// Small outputs (action, written, event, ...) live in 16-byte cells of this buffer.
#[repr(C, align(16))]
struct Cells([u8; 128]);

impl Cells {
    /// Whether the outputs are in distinct cells of this buffer (so a call may write them all).
    fn distinct(&self, ptrs: &[*mut u8]) -> bool {
        let base = self.0.as_ptr() as usize;
        let mut seen = 0u8;
        ptrs.iter().all(|p| {
            let a = *p as usize;
            let bit = 1u8 << (a.wrapping_sub(base) / 16).min(7);
            let fresh = (base..base + 128).contains(&a) && seen & bit == 0;
            seen |= bit;
            fresh
        })
    }
}

struct Harness<'a> {
    input: Bytes<'a>,
    c: &'a Ctx,
    wire: Vec<u8>,
    plain: Vec<u8>,
    out: Vec<u8>,
}

/// Where an output buffer went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Buf {
    /// A scratch buffer of the harness.
    Scratch,
    /// NULL, over an input, or inside a handle: the call must not write it.
    Elsewhere,
    /// A length above PTRDIFF_MAX: the call must fail.
    Huge,
}

impl Harness<'_> {
    fn byte(&mut self) -> u8 {
        self.input.byte()
    }

    fn slot(&mut self) -> usize {
        usize::from(self.byte()) % SLOTS
    }

    /// A handle pointer into a slot: the slot and an offset from the input.
    fn handle(&mut self) -> (usize, *mut u8, usize) {
        let slot = self.slot();
        let want = self.byte();
        let (h, off) = self.c.place(slot, want);
        (slot, h, off)
    }

    /// A pointer for one small output (`i` is its cell): its own cell, an unaligned spot in it,
    /// NULL, the cell of output 0 (so two outputs overlap), or inside the handle's storage.
    fn cell(&mut self, cells: &mut Cells, i: usize, handle: *mut u8, kind: Kind) -> *mut u8 {
        let c = self.byte();
        let base = cells.0.as_mut_ptr();
        // SAFETY: all inside `cells` (i < 8, offsets < 16) or inside the handle's storage.
        unsafe {
            match c % 16 {
                11 => base.add(i * 16 + 1 + usize::from(c >> 4) % 7),
                12 => null_mut(),
                13 => base,
                14 => handle.add(usize::from(c >> 4) * 8 % (kind.size() - 8)),
                _ => base.add(i * 16),
            }
        }
    }

    /// An output buffer (pointer, length) in `scratch`: all of it, `want` bytes, one byte short,
    /// a size query (NULL, 0), NULL with a length, a huge length, inside the handle's storage,
    /// or over `input` (`input.1` bytes at `input.0`, so that the two overlap).
    fn buffer(
        &mut self,
        scratch: *mut u8,
        cap: usize,
        want: usize,
        handle: *mut u8,
        kind: Kind,
        input: (*mut u8, usize),
    ) -> (*mut u8, usize, Buf) {
        let c = self.byte();
        let k = usize::from(self.byte());
        match c % 16 {
            1 => (scratch, want.min(cap), Buf::Scratch),
            2 => (scratch, want.saturating_sub(1).min(cap), Buf::Scratch),
            3 => (null_mut(), 0, Buf::Elsewhere),
            4 => (null_mut(), 1 + k, Buf::Elsewhere),
            5 => (scratch, HUGE + k, Buf::Huge),
            6 => (scratch, k.min(cap), Buf::Scratch),
            7 => {
                let at = k * 16 % kind.size();
                // SAFETY: inside the handle's storage, which the slot holds.
                (unsafe { handle.add(at) }, kind.size() - at, Buf::Elsewhere)
            }
            8 if input.1 > 0 => {
                let at = k % input.1;
                // SAFETY: inside the input's buffer.
                (unsafe { input.0.add(at) }, input.1 - at, Buf::Elsewhere)
            }
            _ => (scratch, cap, Buf::Scratch),
        }
    }

    fn run(&mut self) {
        while !self.input.is_empty() {
            let op = self.byte();
            match op % 21 {
                0 => self.init(false),
                1 => self.init(true),
                2 => self.pump(),
                3 => self.next(),
                4 => self.write(),
                5 => self.read(),
                6 => self.finish(),
                7 => self.seal(),
                8 => self.open(),
                9 => self.control(),
                10 => self.poll(),
                11 => self.decoder_init(),
                12 => self.decode(),
                13 => self.wipe(),
                14 => self.memcpy(),
                15 => self.time(),
                16 => self.policy(),
                17 => self.arm(),
                18 => {
                    let n = u32::from(self.byte() % 4);
                    trace!("fail the next {n} fill_random calls");
                    self.c.fail_entropy.set(n);
                }
                19 => self.helpers(),
                _ => self.establish(),
            }
        }
    }

    /// The model after a call on a slot that holds a copy: nothing may succeed on it.
    fn not_on_copy(&self, slot: usize, off: usize, st: tether_status) {
        let s = self.c.model.borrow().slots[slot];
        if s.copy && s.off == off {
            assert_ne!(st, TETHER_OK, "a call succeeded on a copied handle");
        }
    }

    fn init(&mut self, responder: bool) {
        let (slot, want) = (self.slot(), self.byte());
        let (a, b, x) = (self.byte(), self.byte(), self.byte());
        self.init_with(responder, slot, want, a, b, x);
    }

    /// A handshake set up in `slot`: `a` picks pattern, framing, suite and platform, `b` a
    /// broken or unusual configuration, `x` the options (the same `x` on both sides makes a
    /// pair that can complete).
    fn init_with(&mut self, responder: bool, slot: usize, want: u8, a: u8, b: u8, x: u8) {
        let (h, off) = self.c.place(slot, want);
        let f = fixed();
        let mut cfg = MaybeUninit::<tether_config>::uninit();
        // SAFETY: writable config.
        assert_eq!(
            check(unsafe { tether_config_init(cfg.as_mut_ptr()) }),
            TETHER_OK
        );
        // SAFETY: initialised just above.
        let mut cfg = unsafe { cfg.assume_init() };
        cfg.pattern = 1 + (a & 3);
        cfg.framing = 1 + (a >> 2 & 1);
        cfg.suite = 1 + (a >> 3 & 1);
        let platform = self.c.platform(a >> 4 | (b & 0x20));
        let initiator = !responder;
        let id: &[u8] = if initiator { b"SN-1" } else { b"cloud" };
        cfg.static_secret = if initiator {
            INIT_SECRET.as_ptr()
        } else {
            RESP_SECRET.as_ptr()
        };
        cfg.identity.id = id.as_ptr();
        cfg.identity.id_len = id.len();
        cfg.identity.model = b"fuzz".as_ptr();
        cfg.identity.model_len = 4;
        cfg.identity.version = b"1".as_ptr();
        cfg.identity.version_len = 1;
        cfg.identity.key_id = b"k".as_ptr();
        cfg.identity.key_id_len = 1;
        if x & 1 != 0 {
            cfg.identity.has_credential = true;
            cfg.identity.credential_not_before = CREDENTIAL_VALIDITY.0;
            cfg.identity.credential_not_after = CREDENTIAL_VALIDITY.1;
            cfg.identity.credential_issuer = ISSUER.as_ptr();
            cfg.identity.credential_issuer_len = ISSUER.len();
            cfg.identity.credential_signature = f.signatures[usize::from(initiator)].as_ptr();
        }
        // The peer's key: the responder's for initiators, and (the known initiator) for most
        // responders.
        if initiator || x & 2 == 0 {
            cfg.peer_static_key = if initiator {
                f.resp_public.as_ptr()
            } else {
                f.init_public.as_ptr()
            };
        }
        let variant = b >> 3 & 0x1f;
        let mut code = f.code;
        if variant == 22 {
            code[9] ^= 0x20;
        }
        if cfg.pattern == 3 || (responder && x & 4 != 0) {
            cfg.pairing_code = code.as_ptr();
            cfg.pairing_code_len = code.len();
        }
        if responder {
            cfg.allowed_patterns = if x & 8 != 0 { u32::from(b) & 0x1e } else { 0 };
            cfg.allow_without_code = x & 0x10 != 0;
        }
        cfg.max_plaintext = [TETHER_MAX_PLAINTEXT as u32, 1, 64, 1000][usize::from(x >> 5 & 3)];
        if x & 0x80 != 0 {
            cfg.context = CONTEXT.as_ptr();
            cfg.context_len = 3;
        }
        if b & 4 != 0 {
            // Key updates after every few records or bytes, or every 100 ms.
            cfg.key_update_records = u64::from(b >> 6) + 1;
            cfg.key_update_bytes = 100;
            cfg.key_update_interval_ms = 100;
            cfg.previous_key_ms = 10;
        }
        let (mut cfgp, mut platp, mut hp) = (&raw const cfg, &raw const platform, h);
        let mut huge = false;
        match variant {
            16 => cfg.suite = [0, 3, 255][usize::from(b) % 3],
            17 => cfg.pattern = [0, 5][usize::from(b) % 2],
            18 => cfg.channel = 2,
            19 => cfg.framing = [0, 3][usize::from(b) % 2],
            20 => cfg.static_secret = null(),
            21 => cfg.peer_static_key = null(),
            23 => {
                cfg.context = CONTEXT.as_ptr();
                cfg.context_len = HUGE;
                huge = true;
            }
            24 => {
                cfg.context = CONTEXT.as_ptr();
                cfg.context_len = 65;
            }
            25 => {
                cfg.identity.id_len = HUGE;
                huge = true;
            }
            26 => cfg.identity.id = null(),
            27 => {
                cfg.pairing_code = code.as_ptr();
                cfg.pairing_code_len = HUGE;
                huge = true;
            }
            28 => {
                [cfg.max_plaintext, cfg.replay_window] =
                    [[0, 1024], [16385, 1024], [64, 0]][usize::from(b) % 3]
            }
            29 => cfgp = null(),
            30 => platp = null(),
            31 => hp = null_mut(),
            _ => {}
        }
        let framing = cfg.framing;
        let max_plaintext = cfg.max_plaintext;
        // SAFETY: storage a slot owns (or NULL); config and platform valid or NULL.
        let st = check(unsafe {
            if responder {
                tether_handshake_init_responder(hp.cast(), cfgp, platp)
            } else {
                tether_handshake_init_initiator(hp.cast(), cfgp, platp)
            }
        });
        trace!(
            "init {} slot {slot}+{off}: pattern {} framing {framing} suite {} platform {:#x} \
             variant {} x {x:#x} -> {st:?}",
            if responder { "responder" } else { "initiator" },
            cfg.pattern,
            cfg.suite,
            a >> 4 | (b & 0x20),
            variant
        );
        if huge {
            assert_ne!(st, TETHER_OK, "a huge length was accepted");
        }
        let mut m = self.c.model.borrow_mut();
        m.touched(slot);
        if st == TETHER_OK {
            let s = &mut m.slots[slot];
            s.used = true;
            s.off = off;
            s.origins |= 1 << slot;
            s.session = None;
            s.hs = Some(HsInfo {
                initiator,
                framing,
                max_plaintext,
            });
        }
    }

    /// A whole handshake: an initiator and a responder set up with the same options, driven
    /// to the end, and both finished into sessions (each in its own slot, or one elsewhere).
    fn establish(&mut self) {
        let i = self.slot();
        let r = (i + 1 + self.slot() % (SLOTS - 1)) % SLOTS;
        let (a, b, x, t) = (self.byte(), self.byte() & 0x7f, self.byte(), self.byte());
        trace!("establish slots {i} and {r}");
        self.init_with(false, i, 1, a, b, x);
        self.init_with(true, r, 1, a, b, x);
        self.pump_slots(i, r, 3);
        let (ti, tr) = match t % 4 {
            3 => (usize::from(t >> 2) % SLOTS, usize::from(t >> 4) % SLOTS),
            _ => (i, r),
        };
        self.finish_with(i, 1, ti, 1, 0, 0);
        self.finish_with(r, 1, tr, 1, 0, 0);
    }

    /// Drives two handshakes towards each other with valid calls.
    fn pump(&mut self) {
        let (a, b) = (self.slot(), self.slot());
        let rounds = 1 + self.byte() % 4;
        self.pump_slots(a, b, rounds);
    }

    fn pump_slots(&mut self, a: usize, b: usize, rounds: u8) {
        trace!("pump slots {a} and {b}, {rounds} rounds");
        for _ in 0..rounds {
            for (me, other) in [(a, b), (b, a)] {
                let (hm, _) = self.c.tracked(me);
                let (ho, _) = self.c.tracked(other);
                let mut action = 0i32;
                // SAFETY: handles at their tracked offsets, scratch outputs.
                let st =
                    check(unsafe { tether_handshake_next(hm.cast(), (&raw mut action).cast()) });
                if st != TETHER_OK || action != ACTION_WRITE {
                    continue;
                }
                let mut n = 0usize;
                let st = check(unsafe {
                    tether_handshake_write(hm.cast(), self.wire.as_mut_ptr(), WIRE, &mut n)
                });
                trace!("  slot {me} writes -> {st:?} ({n} bytes)");
                if st != TETHER_OK {
                    continue;
                }
                assert!(n <= TETHER_HANDSHAKE_MAX_LEN, "{n}-byte handshake message");
                let msg = self.wire[..n].to_vec();
                self.c.model.borrow_mut().msgs[me].push(msg.clone());
                let st = check(unsafe { tether_handshake_read(ho.cast(), msg.as_ptr(), n) });
                trace!("  slot {other} reads it -> {st:?}");
            }
        }
    }

    fn next(&mut self) {
        let (slot, h, off) = self.handle();
        let mut cells = Cells([0; 128]);
        let action = self.cell(&mut cells, 0, h, Kind::Handshake);
        // SAFETY: storage a slot owns; action NULL, a cell or inside the handle.
        let st = check(unsafe { tether_handshake_next(h.cast(), action.cast()) });
        trace!("next slot {slot}+{off} -> {st:?}");
        self.not_on_copy(slot, off, st);
        if st == TETHER_OK {
            // SAFETY: written on success, to a cell (inside the handle is refused).
            let a = unsafe { action.cast::<i32>().read_unaligned() };
            assert!((1..=4).contains(&a), "action {a}");
        }
    }

    fn write(&mut self) {
        let (slot, h, off) = self.handle();
        let wire = self.wire.as_mut_ptr();
        let (out, len, buf) = self.buffer(
            wire,
            WIRE,
            TETHER_HANDSHAKE_MAX_LEN,
            h,
            Kind::Handshake,
            (null_mut(), 0),
        );
        let mut cells = Cells([0; 128]);
        let written = self.cell(&mut cells, 1, h, Kind::Handshake);
        // SAFETY: `out` is valid for `len` bytes unless huge; `written` a cell, NULL or inside.
        let st = check(unsafe { tether_handshake_write(h.cast(), out, len, written.cast()) });
        trace!("write slot {slot}+{off} out {buf:?} {len} -> {st:?}");
        self.not_on_copy(slot, off, st);
        if buf == Buf::Huge {
            assert_ne!(st, TETHER_OK);
        }
        if st == TETHER_OK || st == TETHER_ERR_BUFFER_TOO_SMALL {
            // SAFETY: written on these two statuses, to a cell.
            let n = unsafe { written.cast::<usize>().read_unaligned() };
            assert!(n <= TETHER_HANDSHAKE_MAX_LEN, "{n}-byte handshake message");
            if st == TETHER_OK {
                assert!(n <= len);
                // SAFETY: n bytes written to `out`.
                let msg = unsafe { std::slice::from_raw_parts(out, n) }.to_vec();
                self.c.model.borrow_mut().msgs[slot].push(msg);
            }
        }
    }

    /// Bytes to feed a handshake or a session: a handshake message a slot wrote, a unit a
    /// session sealed (`front`: the next one the session in `slot` should open), a mutated
    /// copy, or fuzzer bytes.
    fn unit_bytes(&mut self, slot: usize, choice: u8) -> Vec<u8> {
        let k = usize::from(self.byte());
        let m = self.c.model.borrow();
        let front = m.slots[slot]
            .session
            .and_then(|r| m.peer_of(r))
            .and_then(|p| m.records[p].outbox.front().map(|u| u.bytes.clone()));
        let msgs = &m.msgs[k % SLOTS];
        let msg = msgs
            .get(msgs.len().saturating_sub(1 + k / SLOTS % 4))
            .cloned();
        let any: Vec<&Unit> = m.records.iter().flat_map(|r| r.outbox.iter()).collect();
        let anyone = (!any.is_empty()).then(|| any[k % any.len()].bytes.clone());
        drop(m);
        let base = match choice % 8 {
            0..=2 => front.or(msg),
            3 => msg,
            4 => anyone,
            _ => front.or(anyone).or(msg),
        };
        let mut bytes = base.unwrap_or_default();
        match choice % 8 {
            5 if !bytes.is_empty() => {
                let bit = usize::from(self.input.u16()) % (bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            6 => bytes.truncate(usize::from(self.byte()) % (bytes.len() + 1)),
            7 => {
                let n = usize::from(self.byte());
                bytes = self.input.take(n).to_vec();
            }
            _ => {}
        }
        bytes
    }

    fn read(&mut self) {
        let (slot, h, off) = self.handle();
        let choice = self.byte();
        let bytes = self.unit_bytes(slot, choice);
        let k = usize::from(self.byte());
        let (ptr, len, huge) = match self.byte() % 16 {
            12 => (null(), bytes.len() + 1, false),
            13 => (bytes.as_ptr(), HUGE + k, true),
            14 => {
                let (p, n) = inside(h, k * 8, TETHER_HANDSHAKE_SIZE);
                (p, n, false)
            }
            _ => (bytes.as_ptr(), bytes.len(), false),
        };
        // SAFETY: the unit is valid for `len` bytes unless huge or NULL.
        let st = check(unsafe { tether_handshake_read(h.cast(), ptr, len) });
        trace!("read slot {slot}+{off} {len} bytes (choice {choice}) -> {st:?}");
        self.not_on_copy(slot, off, st);
        if huge {
            assert_ne!(st, TETHER_OK);
        }
    }

    fn finish(&mut self) {
        let (a, hw, b, sw) = (self.slot(), self.byte(), self.slot(), self.byte());
        let (pc, hc) = (self.byte(), self.byte());
        self.finish_with(a, hw, b, sw, pc, hc);
    }

    /// tether_handshake_finish of the handshake in slot `a` into slot `b`; `pc` and `hc` pick
    /// where the peer and the hash go.
    fn finish_with(&mut self, a: usize, hw: u8, b: usize, sw: u8, pc: u8, hc: u8) {
        let (h, hoff) = self.c.place(a, hw);
        // Into the handshake's own slot: at its offset (a union) or any other (a shifted one).
        let (s, soff) = if b == a {
            let off = match sw & 3 {
                0 => usize::from(sw >> 2) % (MAX_OFF + 1),
                _ => hoff,
            };
            // SAFETY: off <= MAX_OFF.
            (unsafe { self.c.base(a).add(off) }, off)
        } else {
            self.c.place(b, sw)
        };
        let mut peer = MaybeUninit::<tether_peer>::zeroed();
        let mut hash = [0u8; 40];
        let pp = peer.as_mut_ptr().cast::<u8>();
        // SAFETY: pointers inside the peer, the hash, the handshake or the session storage.
        let (peer_out, hash_out) = unsafe {
            (
                match pc % 16 {
                    12 => null_mut(),
                    13 => h.add(usize::from(pc) * 8 % TETHER_HANDSHAKE_SIZE),
                    14 => s.add(
                        usize::from(pc) * 8 % (TETHER_SESSION_SIZE - size_of::<tether_peer>()),
                    ),
                    _ => pp,
                },
                match hc % 16 {
                    11 => pp.add(usize::from(hc >> 4) * 8 % (size_of::<tether_peer>() - 32)),
                    12 => null_mut(),
                    13 => h.add(usize::from(hc) * 8 % (TETHER_HANDSHAKE_SIZE - 32)),
                    14 => s.add(usize::from(hc) * 8 % (TETHER_SESSION_SIZE - 32)),
                    15 => hash.as_mut_ptr().add(1),
                    _ => hash.as_mut_ptr(),
                },
            )
        };
        // What the harness set up there (a callback may wipe it during the call).
        let before = self.c.model.borrow().slots[a];
        let info = before.hs.filter(|_| before.off == hoff);
        // SAFETY: storage a slot owns; outputs valid or NULL.
        let st = check(unsafe {
            tether_handshake_finish(h.cast(), s.cast(), peer_out.cast(), hash_out)
        });
        trace!("finish slot {a}+{hoff} into slot {b}+{soff} (peer {pc}, hash {hc}) -> {st:?}");
        self.not_on_copy(a, hoff, st);
        // SAFETY: written on success (only then read).
        let peer = (peer_out == pp).then(|| unsafe { peer.assume_init() });
        // SAFETY: 32 bytes written on success (only then read).
        let hash =
            (!hash_out.is_null()).then(|| unsafe { hash_out.cast::<[u8; 32]>().read_unaligned() });
        self.c.finished(st, (a, info), (b, soff), peer, hash);
    }

    fn seal(&mut self) {
        let (slot, h, off) = self.handle();
        let l = self.byte();
        let len = match l % 8 {
            0..=3 => usize::from(l >> 3),
            4 => usize::from(l) << 4,
            5 => 1000,
            6 => TETHER_MAX_PLAINTEXT,
            _ => TETHER_MAX_PLAINTEXT + 1,
        };
        let fill = self.byte();
        for (i, b) in self.plain[..len].iter_mut().enumerate() {
            *b = fill.wrapping_add(i as u8);
        }
        let k = usize::from(self.byte());
        let pc = self.byte();
        let (pt, pt_len, mut huge) = match pc % 16 {
            12 => (null(), len, false),
            13 => (self.plain.as_ptr(), HUGE + k, true),
            14 => {
                let (p, n) = inside(h, k * 8, TETHER_SESSION_SIZE);
                (p, len.min(n), false)
            }
            _ => (self.plain.as_ptr(), len, false),
        };
        let wire = self.wire.as_mut_ptr();
        let plain = (
            pt.cast_mut(),
            if pt == self.plain.as_ptr() { pt_len } else { 0 },
        );
        let sized = self.byte() & 3 == 0;
        let (mut out, mut out_len, mut buf) = self.buffer(
            wire,
            WIRE,
            len + 2 * TETHER_DATAGRAM_OVERHEAD,
            h,
            Kind::Session,
            plain,
        );
        if sized {
            // The size the library says always suffices.
            // SAFETY: storage a slot owns.
            let cap = unsafe { tether_session_seal_capacity(h.cast(), len) };
            (out, out_len, buf) = (wire, cap.min(WIRE), Buf::Scratch);
        }
        huge |= buf == Buf::Huge;
        let mut cells = Cells([0; 128]);
        let written = self.cell(&mut cells, 1, h, Kind::Session);
        let ku = self.cell(&mut cells, 2, h, Kind::Session);
        if buf == Buf::Scratch {
            self.wire[..out_len].fill(CANARY);
        }
        // SAFETY: buffers valid for their lengths unless huge or NULL; cells, NULL or inside.
        let st = check(unsafe {
            tether_session_seal(
                h.cast(),
                pt,
                pt_len,
                out,
                out_len,
                written.cast(),
                ku.cast(),
            )
        });
        trace!(
            "seal slot {slot}+{off} {pt_len} bytes (pt {pc}) out {buf:?} {out_len} \
             (sized {sized}) -> {st:?}"
        );
        self.not_on_copy(slot, off, st);
        if huge {
            assert_ne!(st, TETHER_OK);
        }
        if st != TETHER_OK && buf == Buf::Scratch {
            assert!(
                self.wire[..out_len].iter().all(|b| *b == CANARY),
                "a failed seal ({st:?}) wrote its output"
            );
        }
        if sized && out_len > 0 && out_len < WIRE {
            assert_ne!(
                st, TETHER_ERR_BUFFER_TOO_SMALL,
                "seal_capacity did not suffice"
            );
        }
        if st != TETHER_OK {
            return;
        }
        // SAFETY: written on success, to cells.
        let n = unsafe { written.cast::<usize>().read_unaligned() };
        assert!(n <= out_len);
        let framing = self.framing_of(slot);
        let data_len = pt_len + overhead(framing);
        let ku_len = n
            .checked_sub(data_len)
            .expect("a sealed record shorter than its plaintext");
        assert!(
            ku_len == 0 || ku_len == overhead(framing),
            "{n} bytes sealed for {pt_len}"
        );
        if !ku.is_null() && ku != written {
            // SAFETY: written on success.
            assert_eq!(unsafe { ku.cast::<usize>().read_unaligned() }, ku_len);
        }
        let data = if pt_len == 0 {
            Vec::new()
        } else {
            self.plain[..pt_len].to_vec()
        };
        // SAFETY: n bytes written to `out`.
        let sealed = unsafe { std::slice::from_raw_parts(out, n) };
        let units = split_sealed(sealed, ku_len, &data);
        self.c.sealed(slot, units.clone());
        self.deliver_units(slot, &units);
    }

    /// Mostly, the units just sealed in `slot` are opened at once by the peer's session.
    fn deliver_units(&mut self, slot: usize, units: &[Unit]) {
        if self.byte() % 4 == 3 {
            return;
        }
        let peer_slot = {
            let m = self.c.model.borrow();
            let p = m.slots[slot].session.and_then(|r| m.peer_of(r));
            p.map(|p| m.records[p].slot)
        };
        let Some(to) = peer_slot else {
            return;
        };
        let (th, _) = self.c.tracked(to);
        for u in units {
            trace!("  deliver to slot {to}");
            let b = &u.bytes;
            let input = (b.as_ptr().cast_mut(), b.len());
            self.open_call(to, th, (b.as_ptr(), b.len(), false, true), b, input);
        }
    }

    fn framing_of(&self, slot: usize) -> u8 {
        let m = self.c.model.borrow();
        m.slots[slot].session.map_or(1, |r| m.records[r].framing)
    }

    fn open(&mut self) {
        let (slot, h, off) = self.handle();
        let choice = self.byte();
        let bytes = self.unit_bytes(slot, choice);
        let k = usize::from(self.byte());
        let special = self.byte() % 16;
        let (ptr, len, huge) = match special {
            12 => (null(), bytes.len() + 1, false),
            13 => (bytes.as_ptr(), HUGE + k, true),
            14 => {
                let (p, n) = inside(h, k * 8, TETHER_SESSION_SIZE);
                (p, n, false)
            }
            _ => (bytes.as_ptr(), bytes.len(), false),
        };
        let input = (bytes.as_ptr().cast_mut(), bytes.len());
        let genuine = !(12..=14).contains(&special);
        trace!("open slot {slot}+{off} {len} bytes (choice {choice}, special {special})");
        self.open_call(slot, h, (ptr, len, huge, genuine), &bytes, input);
    }

    /// tether_session_open of a unit (`len` bytes at `ptr`, `huge` or not; `genuine` if
    /// `bytes` holds those bytes), with outputs chosen by the input, and what must come of it.
    fn open_call(
        &mut self,
        slot: usize,
        h: *mut u8,
        (ptr, len, mut huge, genuine): (*const u8, usize, bool, bool),
        bytes: &[u8],
        input: (*mut u8, usize),
    ) {
        let off = h as usize - self.c.base(slot) as usize;
        let must = genuine
            .then(|| self.c.must_open(slot, off, bytes))
            .flatten();
        let out_scratch = self.out.as_mut_ptr();
        let cap = self.out.len();
        let want = must.as_ref().map_or(len, |u| u.data.len());
        let (out, out_len, buf) = self.buffer(out_scratch, cap, want, h, Kind::Session, input);
        huge |= buf == Buf::Huge;
        let mut cells = Cells([0; 128]);
        let event = self.cell(&mut cells, 1, h, Kind::Session);
        let data_len = self.cell(&mut cells, 2, h, Kind::Session);
        // SAFETY: buffers valid for their lengths unless huge or NULL; cells, NULL or inside.
        let st = check(unsafe {
            tether_session_open(
                h.cast(),
                ptr,
                len,
                out,
                out_len,
                event.cast(),
                data_len.cast(),
            )
        });
        trace!(
            "  open slot {slot}+{off} out {buf:?} {out_len} -> {st:?} (must open: {})",
            must.is_some()
        );
        self.not_on_copy(slot, off, st);
        if huge {
            assert_ne!(st, TETHER_OK);
        }
        let cells_fine = cells.distinct(&[event, data_len]);
        if let Some(u) = &must {
            if buf == Buf::Scratch && out_len >= u.data.len() && cells_fine {
                assert_eq!(st, TETHER_OK, "the peer's next unit did not open");
            }
        }
        if st == TETHER_ERR_BUFFER_TOO_SMALL && cells_fine {
            // SAFETY: the size needed, written to a cell.
            let n = unsafe { data_len.cast::<usize>().read_unaligned() };
            assert!(
                n <= TETHER_MAX_PLAINTEXT && n > out_len,
                "{n} needed, {out_len} given"
            );
        }
        if st != TETHER_OK {
            return;
        }
        // SAFETY: both written on success, to cells that do not overlap.
        let (ev, n) = unsafe {
            (
                event.cast::<i32>().read_unaligned(),
                data_len.cast::<usize>().read_unaligned(),
            )
        };
        assert!((1..=3).contains(&ev), "event {ev}");
        assert!(n <= out_len && (ev == EVENT_DATA || n == 0));
        // SAFETY: n bytes of plaintext written to `out`.
        let data = if n == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(out, n) }
        };
        if genuine {
            self.c.opened(slot, bytes, ev, data);
        }
    }

    fn control(&mut self) {
        let (slot, h, off) = self.handle();
        let close = self.byte() & 1 != 0;
        let wire = self.wire.as_mut_ptr();
        let (out, len, buf) = self.buffer(
            wire,
            WIRE,
            TETHER_DATAGRAM_OVERHEAD,
            h,
            Kind::Session,
            (null_mut(), 0),
        );
        let mut cells = Cells([0; 128]);
        let written = self.cell(&mut cells, 1, h, Kind::Session);
        if buf == Buf::Scratch {
            self.wire[..len].fill(CANARY);
        }
        // SAFETY: buffers valid for their lengths unless huge or NULL; cells, NULL or inside.
        let st = check(unsafe {
            if close {
                tether_session_close(h.cast(), out, len, written.cast())
            } else {
                tether_session_update_key(h.cast(), out, len, written.cast())
            }
        });
        trace!(
            "{} slot {slot}+{off} out {buf:?} {len} -> {st:?}",
            if close { "close" } else { "update_key" }
        );
        self.not_on_copy(slot, off, st);
        if buf == Buf::Huge {
            assert_ne!(st, TETHER_OK);
        }
        if st != TETHER_OK && buf == Buf::Scratch {
            assert!(
                self.wire[..len].iter().all(|b| *b == CANARY),
                "a failed control record ({st:?}) wrote its output"
            );
        }
        if st != TETHER_OK {
            return;
        }
        // SAFETY: written on success.
        let n = unsafe { written.cast::<usize>().read_unaligned() };
        assert_eq!(n, overhead(self.framing_of(slot)));
        let unit = control_unit(&self.wire[..n], close);
        self.c.sealed(slot, vec![unit.clone()]);
        self.deliver_units(slot, &[unit]);
        if close {
            let mut m = self.c.model.borrow_mut();
            if let Some(r) = m.slots[slot].session {
                m.records[r].closed = true;
            }
        }
    }

    fn poll(&mut self) {
        let (slot, h, off) = self.handle();
        let c = self.byte();
        if c & 1 != 0 {
            let len = [0, 1, 1000, TETHER_MAX_PLAINTEXT, usize::MAX][usize::from(c >> 1) % 5];
            // SAFETY: storage a slot owns.
            let cap = unsafe { tether_session_seal_capacity(h.cast(), len) };
            trace!("seal_capacity slot {slot}+{off} {len} -> {cap}");
            let s = self.c.model.borrow().slots[slot];
            if s.copy && s.off == off {
                assert_eq!(cap, 0, "seal_capacity on a copy");
            }
            if cap != 0 {
                assert!(cap >= len.saturating_add(TETHER_STREAM_OVERHEAD));
            }
            return;
        }
        let mut cells = Cells([0; 128]);
        let erased = self.cell(&mut cells, 1, h, Kind::Session);
        // SAFETY: storage a slot owns; a cell, NULL or inside.
        let st = check(unsafe { tether_session_poll(h.cast(), erased.cast()) });
        trace!("poll slot {slot}+{off} -> {st:?}");
        self.not_on_copy(slot, off, st);
        if st == TETHER_OK && !erased.is_null() {
            // SAFETY: written on success.
            let e = unsafe { erased.read_unaligned() };
            assert!(e <= 1);
        }
    }

    fn decoder_init(&mut self) {
        let (slot, h, off) = self.handle();
        let max = [16384, 0, 1, 64, 16385, 1000, u32::MAX, 357][usize::from(self.byte()) % 8];
        // SAFETY: storage a slot owns.
        let st = check(unsafe { tether_decoder_init(h.cast(), max) });
        trace!("decoder_init slot {slot}+{off} max {max} -> {st:?}");
        let mut m = self.c.model.borrow_mut();
        m.touched(slot);
        if st == TETHER_OK {
            let s = &mut m.slots[slot];
            s.used = true;
            s.off = off;
            s.origins |= 1 << slot;
            s.hs = None;
            s.session = None;
        }
    }

    /// tether_decoder_next on a chunk of a byte stream, then perhaps the unit it returns passed
    /// to a session, a handshake or the decoder itself.
    fn decode(&mut self) {
        let (slot, h, off) = self.handle();
        let (src, k, start, chunk) = (self.byte(), self.byte(), self.byte(), self.byte());
        let m = self.c.model.borrow();
        // The slot of the session that should open the units of a session's stream.
        let mut receiver = None;
        let stream: Vec<u8> = match src % 4 {
            0 | 1 if !m.records.is_empty() => {
                let i = usize::from(k) % m.records.len();
                receiver = m.peer_of(i).map(|p| m.records[p].slot);
                let r = &m.records[i];
                r.outbox
                    .iter()
                    .flat_map(|u| u.bytes.iter().copied())
                    .collect()
            }
            2 => m.msgs[usize::from(k) % SLOTS].concat(),
            _ => Vec::new(),
        };
        drop(m);
        let stream = if src % 4 == 3 {
            self.input.take(usize::from(k)).to_vec()
        } else {
            stream
        };
        let start = usize::from(start) * 4 % (stream.len() + 1);
        let chunk = if chunk == 0 {
            stream.len()
        } else {
            usize::from(chunk) * 2
        };
        let mut input = stream[start..(start + chunk).min(stream.len())].to_vec();
        input.reserve(16);
        let special = self.byte() % 16;
        let (ptr, len, huge) = match special {
            12 => (null(), input.len() + 1, false),
            13 => (input.as_ptr(), HUGE, true),
            14 => {
                let (p, n) = inside(h, usize::from(k), TETHER_DECODER_SIZE);
                (p, n, false)
            }
            _ => (input.as_ptr(), input.len(), false),
        };
        let mut cells = Cells([0; 128]);
        let consumed = self.cell(&mut cells, 1, h, Kind::Decoder);
        let unit = self.cell(&mut cells, 2, h, Kind::Decoder);
        let unit_len = self.cell(&mut cells, 3, h, Kind::Decoder);
        // SAFETY: the input valid for its length unless huge or NULL; cells, NULL or inside.
        let st = check(unsafe {
            tether_decoder_next(
                h.cast(),
                ptr,
                len,
                consumed.cast(),
                unit.cast(),
                unit_len.cast(),
            )
        });
        trace!(
            "decoder_next slot {slot}+{off} {len} of {} bytes (special {special}) -> {st:?}",
            stream.len()
        );
        self.not_on_copy(slot, off, st);
        if huge {
            assert_ne!(st, TETHER_OK);
        }
        if !cells.distinct(&[consumed, unit, unit_len])
            || !matches!(st, TETHER_OK | TETHER_ERR_OVERSIZED | TETHER_ERR_TRUNCATED)
        {
            return;
        }
        // SAFETY: all three written once the pointers are checked, to distinct cells.
        let (n, u, ul) = unsafe {
            (
                consumed.cast::<usize>().read_unaligned(),
                unit.cast::<*const u8>().read_unaligned(),
                unit_len.cast::<usize>().read_unaligned(),
            )
        };
        if st != TETHER_OK {
            assert_eq!(
                (n, u, ul),
                (0, null(), 0),
                "outputs of a failed decoder_next"
            );
            return;
        }
        assert!(
            n <= len && u.is_null() == (ul == 0),
            "consumed {n} of {len}, unit {u:?}+{ul}"
        );
        if u.is_null() {
            return;
        }
        // The unit is valid until the next call on the decoder: no callback may touch it.
        // SAFETY: returned by the decoder, valid for `ul` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(u, ul) }.to_vec();
        let in_input = (ptr as usize..ptr as usize + len).contains(&(u as usize));
        let use_it = self.byte();
        let target = match (self.byte(), receiver) {
            (t, Some(r)) if t < 0x80 => r,
            (t, _) => usize::from(t) % SLOTS,
        };
        let (th, _) = self.c.tracked(target);
        self.c.protect.set(Some(slot));
        match use_it % 4 {
            1 => {
                trace!("  the unit opened at slot {target}");
                self.open_call(target, th, (u, ul, false, true), &bytes, (null_mut(), 0));
            }
            2 => {
                // SAFETY: the unit, valid until the next call on the decoder.
                let st = check(unsafe { tether_handshake_read(th.cast(), u, ul) });
                trace!("  the unit read at slot {target} -> {st:?}");
            }
            3 => {
                let (mut n2, mut u2, mut l2) = (0usize, null::<u8>(), 0usize);
                // SAFETY: the unit as input: refused if it is the decoder's own buffer.
                let st = check(unsafe {
                    tether_decoder_next(h.cast(), u, ul, &mut n2, &mut u2, &mut l2)
                });
                trace!("  the unit fed back to the decoder -> {st:?}");
                if !in_input {
                    assert_eq!(
                        st, TETHER_ERR_OVERLAP,
                        "the decoder took its own buffer as input"
                    );
                }
            }
            _ => {}
        }
        self.c.protect.set(None);
    }

    fn wipe(&mut self) {
        let (slot, h, off) = self.handle();
        let kind = self.byte();
        // SAFETY: storage a slot owns, or NULL.
        unsafe {
            match kind % 8 {
                0 | 1 => tether_handshake_wipe(h.cast()),
                2 | 3 => tether_session_wipe(h.cast()),
                4 => tether_decoder_wipe(h.cast()),
                5 => {
                    tether_handshake_wipe(null_mut());
                    tether_session_wipe(null_mut());
                    tether_decoder_wipe(null_mut());
                }
                _ => {
                    trace!("wipe all of slot {slot}");
                    self.wipe_all(slot);
                    return;
                }
            }
        }
        trace!("wipe {} slot {slot}+{off}", kind % 8);
        let mut m = self.c.model.borrow_mut();
        if kind % 8 < 2 && m.slots[slot].off == off {
            m.slots[slot].hs = None;
        }
        m.touched(slot);
    }

    /// Wipes whatever the slot holds; afterwards it holds nothing.
    fn wipe_all(&mut self, slot: usize) {
        let (h, _) = self.c.tracked(slot);
        // SAFETY: the object's storage, at its offset.
        unsafe {
            tether_handshake_wipe(h.cast());
            tether_session_wipe(h.cast());
            tether_decoder_wipe(h.cast());
        }
        let mut m = self.c.model.borrow_mut();
        m.touched(slot);
        let s = &mut m.slots[slot];
        s.used = false;
        s.hs = None;
        s.session = None;
    }

    /// Copies one slot onto another, as C would with memcpy.
    fn memcpy(&mut self) {
        let (from, to) = (self.slot(), self.slot());
        let src = self.c.model.borrow().slots[from];
        if from == to || src.origins & 1 << to != 0 {
            // A copy back onto its home address would be the original again.
            return;
        }
        trace!("memcpy slot {from} onto slot {to}");
        self.wipe_all(to);
        // SAFETY: two distinct slots; the destination holds nothing.
        unsafe { std::ptr::copy_nonoverlapping(self.c.base(from), self.c.base(to), SLOT) };
        let mut m = self.c.model.borrow_mut();
        m.slots[to] = SlotState {
            off: src.off,
            used: src.used,
            origins: src.origins | 1 << from | 1 << to,
            hs: None,
            session: None,
            intact: false,
            copy: src.used,
        };
    }

    fn time(&mut self) {
        let t = self.byte();
        let step = match t % 8 {
            0..=2 => u64::from(t),
            3 => 11,
            4 => 101,
            5 => 60_001,
            6 => 3_600_001,
            _ => u64::from(self.input.u16()) << 16,
        };
        self.c.clock.set(self.c.clock.get().saturating_add(step));
        let unix = match t >> 5 {
            0..=4 => NOW.0,
            5 => CREDENTIAL_VALIDITY.0 - 1,
            6 => CREDENTIAL_VALIDITY.1 + 1,
            _ => 0,
        };
        self.c.unix.set(unix);
        trace!("clock +{step} = {}, unix {unix}", self.c.clock.get());
    }

    fn policy(&mut self) {
        let v = self.byte();
        let verdict = match v % 8 {
            0..=3 => 0,
            4 => TETHER_ERR_UNKNOWN_PEER as i32,
            5 => TETHER_ERR_EXPIRED as i32,
            6 => TETHER_ERR_PANIC as i32,
            _ => i32::from(v) << 20,
        };
        self.c.verdict.set(verdict);
        self.c.verify.set(v >> 3);
        trace!("check_peer returns {verdict}, verify mode {}", (v >> 3) % 6);
    }

    fn arm(&mut self) {
        let n = 1 + self.byte() % 3;
        let mut armed = self.c.armed.borrow_mut();
        armed.clear();
        for _ in 0..n {
            let what = self.input.byte();
            // SLOTS stands for the slot of the call that runs the callback.
            let slot = usize::from(self.input.byte()) % (SLOTS + 1);
            armed.push_back((what, slot));
        }
        trace!("armed {:?}", *armed);
    }

    /// The key helpers, tether_strerror, tether_version and NULL arguments.
    fn helpers(&mut self) {
        let c = self.byte();
        let k = usize::from(self.byte());
        let platform = self.c.platform(c & 0x2c);
        let mut buf = [0u8; 160];
        let p = buf.as_mut_ptr();
        // SAFETY: every pointer is inside `buf` (at most 64 + 32 + 64 bytes used) or NULL.
        unsafe {
            match c % 6 {
                0 => {
                    let (secret, public) = match k % 4 {
                        0 => (p, p.add(32)),
                        1 => (p, p.add(16)),
                        2 => (p, null_mut()),
                        _ => (p, p),
                    };
                    let st = check(tether_keypair_generate(&platform, secret, public));
                    trace!("keypair_generate ({}) -> {st:?}", k % 4);
                    if k % 4 == 1 || k % 4 == 3 {
                        assert_ne!(st, TETHER_OK, "overlapping key outputs");
                    }
                }
                1 => {
                    p.copy_from(INIT_SECRET.as_ptr(), 32);
                    let st = check(tether_public_key(p, p.add(k % 33)));
                    assert_eq!(st, TETHER_OK);
                    if k % 33 == 0 {
                        assert_eq!(buf[..32], fixed().init_public);
                    }
                }
                2 => {
                    p.copy_from(fixed().resp_public.as_ptr(), 32);
                    let text = p.add(32);
                    let (len, huge) = match k % 5 {
                        0 => (64, false),
                        1 => (TETHER_PAIRING_CODE_LEN - 1, false),
                        2 => (HUGE, true),
                        3 => (0, false),
                        _ => (TETHER_PAIRING_CODE_LEN, false),
                    };
                    let written: *mut usize = match k / 5 % 4 {
                        0 => p.add(120).cast(),
                        1 => text.add(8).cast(),
                        2 => p.add(8).cast(),
                        _ => null_mut(),
                    };
                    let text = if len == 0 { null_mut() } else { text };
                    let st = check(tether_pairing_code_generate(
                        &platform, p, text, len, written,
                    ));
                    trace!(
                        "pairing_code_generate len {len} written {} -> {st:?}",
                        k / 5 % 4
                    );
                    if huge {
                        assert_ne!(st, TETHER_OK);
                    }
                    if st == TETHER_OK {
                        assert_eq!(written.read_unaligned(), TETHER_PAIRING_CODE_LEN);
                    }
                }
                3 => {
                    let raw = i32::from_le_bytes([c, k as u8, self.byte(), self.byte()]);
                    assert!(!tether_strerror(raw).is_null());
                    assert_eq!(tether_version(), 1 << 8);
                }
                4 => {
                    assert_eq!(check(tether_config_init(null_mut())), TETHER_ERR_NULL);
                    let st = check(tether_keypair_generate(null(), p, p.add(32)));
                    assert_eq!(st, TETHER_ERR_NULL);
                }
                _ => {
                    let st = check(tether_decoder_init(null_mut(), 64));
                    assert_eq!(st, TETHER_ERR_NULL);
                    let st = check(tether_handshake_finish(
                        null_mut(),
                        null_mut(),
                        null_mut(),
                        null_mut(),
                    ));
                    assert_eq!(st, TETHER_ERR_NULL);
                }
            }
        }
    }

    /// Two sessions of one handshake, both intact and open, still talk both ways: the backlog
    /// opens in order, then a fresh record each way.
    fn still_talking(&mut self) {
        let pairs: Vec<(usize, usize)> = {
            let m = self.c.model.borrow();
            let alive = |r: usize| {
                let rec = &m.records[r];
                let s = m.slots[rec.slot];
                s.session == Some(r) && s.intact && !rec.closed
            };
            (0..m.records.len())
                .filter(|&r| m.records[r].initiator && alive(r))
                .filter_map(|r| m.peer_of(r).filter(|&p| alive(p)).map(|p| (r, p)))
                .collect()
        };
        for (a, b) in pairs {
            trace!("check records {a} and {b} still talk");
            self.talk(a, b);
            self.talk(b, a);
        }
    }

    /// Delivers `from`'s backlog to `to`, then seals a fresh record at `from` that must open at
    /// `to`.
    fn talk(&mut self, from: usize, to: usize) {
        let (fslot, tslot, strict, max, fresh, backlog) = {
            let m = self.c.model.borrow();
            let (f, t) = (&m.records[from], &m.records[to]);
            let backlog: Vec<Unit> = f.outbox.iter().cloned().collect();
            let max = t.max_plaintext as usize;
            let fresh = max.min(f.max_plaintext as usize).min(3);
            (f.slot, t.slot, !f.disordered, max, fresh, backlog)
        };
        if f_too_large(&backlog, max) && self.framing_of(fslot) == 1 {
            // A stream stuck on a record above the receiver's max_plaintext (a configuration
            // mismatch the handshake does not catch).
            return;
        }
        let (fh, _) = self.c.tracked(fslot);
        let (th, _) = self.c.tracked(tslot);
        for u in backlog {
            let st = self.deliver(th, &u.bytes);
            if strict && u.data.len() <= max {
                assert_eq!(st.0, TETHER_OK, "backlog unit did not open");
                assert_eq!((st.1, &st.2[..]), (u.event, &u.data[..]));
            }
        }
        let pt = &[0x42u8; 3][..fresh];
        let (mut n, mut ku) = (0usize, 0usize);
        // SAFETY: the session at its offset, scratch buffers.
        let st = check(unsafe {
            tether_session_seal(
                fh.cast(),
                pt.as_ptr(),
                pt.len(),
                self.wire.as_mut_ptr(),
                WIRE,
                &mut n,
                &mut ku,
            )
        });
        assert_eq!(st, TETHER_OK, "an intact session could not seal");
        let units = split_sealed(&self.wire[..n], ku, pt);
        for u in units {
            let (st, ev, data) = self.deliver(th, &u.bytes);
            assert_eq!(st, TETHER_OK, "a fresh record did not open at the peer");
            assert_eq!((ev, &data[..]), (u.event, &u.data[..]));
        }
    }

    fn deliver(&mut self, th: *mut u8, unit: &[u8]) -> (tether_status, i32, Vec<u8>) {
        let (mut ev, mut n) = (0i32, 0usize);
        // SAFETY: the session at its offset, scratch buffers.
        let st = check(unsafe {
            tether_session_open(
                th.cast(),
                unit.as_ptr(),
                unit.len(),
                self.out.as_mut_ptr(),
                self.out.len(),
                (&raw mut ev).cast(),
                &mut n,
            )
        });
        let data = if st == TETHER_OK && ev == EVENT_DATA {
            self.out[..n].to_vec()
        } else {
            Vec::new()
        };
        (st, ev, data)
    }
}

fn f_too_large(backlog: &[Unit], max: usize) -> bool {
    backlog.iter().any(|u| u.data.len() > max)
}

fuzz_target!(|data: &[u8]| {
    // SAFETY: plain bytes, valid when zeroed.
    let slots =
        [(); SLOTS].map(|()| Box::into_raw(unsafe { Box::<Slot>::new_zeroed().assume_init() }));
    let c = Ctx {
        // SAFETY: the Box's bytes, reached only through this pointer until it is freed.
        slots: slots.map(|s| unsafe { (&raw mut (*s).0).cast() }),
        // Seeded by the whole input: with one seed for every input, a record sealed while
        // running one input would be genuine in the next, and libFuzzer learns such records
        // from the comparisons it watches.
        rng: Cell::new(input_seed(data)),
        clock: Cell::new(1_000),
        unix: Cell::new(NOW.0),
        fail_entropy: Cell::new(0),
        verdict: Cell::new(0),
        verify: Cell::new(0),
        armed: RefCell::new(VecDeque::new()),
        depth: Cell::new(0),
        protect: Cell::new(None),
        current: Cell::new(0),
        model: RefCell::new(Model::default()),
    };
    let mut h = Harness {
        input: Bytes(data),
        c: &c,
        wire: vec![0; WIRE],
        plain: vec![0; WIRE],
        out: vec![0; TETHER_MAX_PLAINTEXT + 64],
    };
    h.run();
    c.armed.borrow_mut().clear();
    c.fail_entropy.set(0);
    h.still_talking();
    for slot in 0..SLOTS {
        h.wipe_all(slot);
    }
    // SAFETY: nothing refers to the slots any more: every one was wiped.
    for s in slots {
        // SAFETY: allocated above, freed once.
        drop(unsafe { Box::from_raw(s) });
    }
});
