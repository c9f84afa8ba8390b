//! Handshake handles in caller-provided storage.

use tether::short_code::CodeKey;
use tether::{Handshake, Initiator, Pattern, Responder, UnitType};

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, lengths, read, set, Entered, Region,
    Storage, KIND_HANDSHAKE,
};
use crate::code_pairing::tether_code_pairing;
use crate::config::{tether_config, OwnedConfig};
use crate::peer::tether_peer;
use crate::platform::{tether_platform, PlatformPolicy};
use crate::session::{tether_session, FfiSession};
use crate::status::tether_status::{self, *};

/// Bytes of storage a handshake needs (`sizeof(tether_handshake)`).
pub const TETHER_HANDSHAKE_SIZE: usize = 2048;
/// Alignment of that storage.
pub const TETHER_HANDSHAKE_ALIGN: usize = 8;

/// Storage for one handshake. Declare it anywhere (stack, static, inside your own struct), set it
/// up with `tether_handshake_init_initiator` or `tether_handshake_init_responder`, and clear it
/// with `tether_handshake_wipe`. Never copy or move it while it is initialized (a copy is
/// refused with `TETHER_ERR_COPIED`).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_handshake {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 256],
}

/// What the caller should do next with a handshake.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tether_action {
    /// Call `tether_handshake_write` and send the bytes.
    TETHER_ACTION_WRITE = 1,
    /// Wait for the peer's next unit and pass it to `tether_handshake_read`.
    TETHER_ACTION_READ = 2,
    /// Call `tether_handshake_finish` to get the session.
    TETHER_ACTION_FINISH = 3,
    /// Initiator only: the handshake failed (the responder was refused or broke the protocol):
    /// wipe it, or initialize it again. A responder never fails: it goes back to waiting.
    TETHER_ACTION_FAILED = 4,
}

/// Kept inline (not boxed) so that a handshake lives entirely in the caller's storage.
#[allow(clippy::large_enum_variant)]
enum State {
    /// A responder waiting for an initiator's message 0.
    AwaitFirst,
    Running(Handshake),
    /// An initiator whose responder was refused or broke the protocol.
    Failed,
}

/// The longest message 0 on the wire: stream prefix, 3 header bytes, `IK`'s 96 bytes of Noise
/// overhead and the largest identity.
const FIRST_MAX: usize = 2 + 3 + 96 + 256;

/// A responder's copy of the message 0 that started its handshake, to recognise retransmissions.
struct FirstMessage {
    bytes: [u8; FIRST_MAX],
    len: usize,
}

impl FirstMessage {
    const NONE: FirstMessage = FirstMessage {
        bytes: [0; FIRST_MAX],
        len: 0,
    };

    fn of(unit: &[u8]) -> FirstMessage {
        let mut first = FirstMessage::NONE;
        if let Some(dst) = first.bytes.get_mut(..unit.len()) {
            dst.copy_from_slice(unit);
            first.len = unit.len();
        }
        first
    }

    fn is(&self, unit: &[u8]) -> bool {
        self.len > 0 && self.bytes.get(..self.len) == Some(unit)
    }
}

pub(crate) struct FfiHandshake {
    platform: tether_platform,
    config: OwnedConfig,
    initiator: bool,
    state: State,
    first: FirstMessage,
    /// A responder set up from a short-code exchange: the key its initiator's message 0 must be
    /// keyed by (only the pairing handshake keyed by it is accepted). Kept, like the responder,
    /// until the handshake finishes: a refused message 0 leaves it waiting for the genuine one.
    code_key: Option<CodeKey>,
}

impl Storage for tether_handshake {
    type Value = FfiHandshake;
    const KIND: u64 = KIND_HANDSHAKE;
}

/// # Safety
/// `hs`, `config`, `platform` and `pairing` as documented on the init functions.
unsafe fn init(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
    initiator: bool,
    pairing: Option<*mut tether_code_pairing>,
) -> tether_status {
    // SAFETY: the caller guarantees validity of non-NULL pointers; both are copied out.
    let (c, p) = match unsafe { (read(config), read(platform)) } {
        (Ok(c), Ok(p)) => (c, p),
        _ => return TETHER_ERR_NULL,
    };
    // The short-code pairing whose key keys this handshake: entered first (a callback that calls
    // into it is refused as busy), its key taken only once the handshake is placed.
    let mut code: Option<Entered<'_, tether_code_pairing>> = match pairing {
        None => None,
        Some(cp) => {
            // SAFETY: the caller's storage.
            let mut g = match unsafe { tether_code_pairing::enter(cp) } {
                Ok(g) => g,
                Err(e) => return e,
            };
            if let Err(e) = disjoint(&[tether_handshake::region(hs)], &[g.region()]) {
                return e;
            }
            if let Err(e) = g.value().key(initiator) {
                return e;
            }
            Some(g)
        }
    };
    // SAFETY: the caller's storage. Marked busy while the handshake is built: the entropy
    // callback runs meanwhile, and a call it makes on `hs` is refused like any re-entry.
    let slot = match unsafe { tether_handshake::begin_init(hs) } {
        Ok(s) => s,
        Err(e) => return e,
    };
    // SAFETY: forwarded.
    let config = match unsafe { OwnedConfig::from_c(&c) } {
        Ok(c) => c,
        Err(s) => return s,
    };
    let state = if initiator {
        let cfg = config.initiator();
        let rng = &mut p.entropy();
        let started = match (&mut code, config.pattern) {
            (Some(g), _) => match g.value().key(true) {
                Ok(key) => Initiator::code_pairing(&cfg, key, rng),
                Err(e) => return e,
            },
            (None, Pattern::Provisioned | Pattern::Reconnect) => {
                let Some(peer) = config.peer.as_ref() else {
                    return TETHER_ERR_BAD_CONFIG;
                };
                if config.pattern == Pattern::Provisioned {
                    Initiator::provisioned(&cfg, peer, rng)
                } else {
                    Initiator::reconnect(&cfg, peer, rng)
                }
            }
            (None, Pattern::Enrollment) => Initiator::enrollment(&cfg, rng),
            (None, Pattern::Pairing) => {
                let Some(code) = config.pairing.as_ref() else {
                    return TETHER_ERR_BAD_CONFIG;
                };
                Initiator::pairing(&cfg, code, rng)
            }
        };
        match started {
            Ok(h) => State::Running(h),
            Err(e) => return e.into(),
        }
    } else {
        State::AwaitFirst
    };
    // Nothing fails from here on: the key moves (a responder) or is forgotten (an initiator,
    // whose handshake holds what it needs of it).
    let code_key = match &mut code {
        Some(g) if !initiator => match g.value().take_key(false) {
            Ok(key) => Some(key),
            Err(e) => return e,
        },
        Some(g) => {
            g.value().spend();
            None
        }
        None => None,
    };
    let value = FfiHandshake {
        platform: p,
        config,
        initiator,
        state,
        first: FirstMessage::NONE,
        code_key,
    };
    slot.place(value);
    TETHER_OK
}

/// Sets up `hs` as the initiator of `config->pattern`, drawing its ephemeral key from the
/// platform.
///
/// `hs` must be zeroed storage (see the storage rules at the top), storage a wipe or a finish
/// left, a copy of a handshake (overwritten: a copy owns nothing), or hold a handshake set up at
/// this address, which is wiped and replaced. Storage that holds a live session or decoder (or a
/// copy of one) is refused with `TETHER_ERR_BAD_STATE`: wipe it with its own wipe function
/// first. While the handshake is built, `hs` counts as busy: a call on it from the entropy
/// callback gets `TETHER_ERR_BUSY`, and a wipe from there leaves it wiped when init returns.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_NULL` (`hs`, `config`, `platform` or a required pointer
/// inside `config` is NULL), `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (storage holds
/// another kind of object), `TETHER_ERR_BUSY` (called from a callback of the handshake `hs`
/// holds or is becoming), `TETHER_ERR_BAD_LENGTH` (a length inside `config` above
/// `PTRDIFF_MAX`), `TETHER_ERR_BAD_CONFIG` (a value out of range, a missing `peer_static_key` for
/// Provisioned or Reconnect, a missing pairing code for Pairing), `TETHER_ERR_NOT_ALLOWED` (suite
/// not built in), `TETHER_ERR_PAIRING_CODE`, `TETHER_ERR_ENTROPY`. On error `hs` is left as it
/// was, byte for byte.
///
/// # Safety
/// `hs` must be NULL or point to `TETHER_HANDSHAKE_SIZE` bytes of storage you own; `config` and
/// `platform` must be NULL or valid, and every pointer inside `config` valid for its length, during
/// the call.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_init_initiator(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(hs, config, platform, true, None) })
}

/// Sets up `hs` as a responder waiting for an initiator's message 0. The initiator chooses the
/// suite among `config->allowed_suites` and the pattern among `config->allowed_patterns` (by
/// default only `config->pattern`). Storage rules and errors as for
/// `tether_handshake_init_initiator`.
///
/// A responder stays available: until `tether_handshake_finish`, a new message 0 that is accepted
/// replaces the handshake in progress, and a refused or failed initiator sends it back to waiting
/// for the next message 0. One stranger cannot lock the genuine peer out.
///
/// # Safety
/// As for `tether_handshake_init_initiator`.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_init_responder(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(hs, config, platform, false, None) })
}

/// Sets up `hs` as the phone's pairing handshake after a short-code exchange: the initiator of
/// Pairing (Noise `XXpsk0`) keyed by the key `pairing` holds (a phone's code pairing that
/// `tether_code_pairing_finish` completed). The key moves into the handshake: `pairing` is spent
/// from then on (a second use is `TETHER_ERR_BAD_STATE`; wipe it). `config->pattern`,
/// `pairing_code` and `allowed_patterns` do not change the handshake (they are still checked like
/// any configuration's); the channel is usually 2 (device-phone) and the framing that of the
/// exchange. The device is authenticated by the code, but the platform's `check_peer` still
/// decides on it (with none, only a configured `peer_static_key` is accepted): accept pattern 3
/// there, and keep the device's key from `tether_handshake_finish` for the Reconnect handshakes
/// that follow. A phone stores the device as paired only once a record of the new session opens
/// (spec/PROTOCOL.md 4.7.2).
///
/// Returns what `tether_handshake_init_initiator` returns, or also `TETHER_ERR_BAD_STATE`
/// (`pairing` holds no finished phone's exchange: not finished, spent, a device's, or no code
/// pairing at all), `TETHER_ERR_COPIED` or `TETHER_ERR_BUSY` (for `pairing`),
/// `TETHER_ERR_OVERLAP` (`hs` and `pairing` overlap). On error `hs` and `pairing` are left as
/// they were.
///
/// # Safety
/// As for `tether_handshake_init_initiator`; `pairing` NULL or storage of
/// `TETHER_CODE_PAIRING_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_init_code_initiator(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
    pairing: *mut tether_code_pairing,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(hs, config, platform, true, Some(pairing)) })
}

/// Sets up `hs` as the device's pairing handshake after a short-code exchange: a responder that
/// accepts only message 0 of Pairing (Noise `XXpsk0`) keyed by the key `pairing` holds (a
/// device's code pairing that `tether_code_pairing_respond` answered). The key moves into the
/// handshake: `pairing` is spent (a second use is `TETHER_ERR_BAD_STATE`; wipe it).
/// `config->allowed_patterns`, `pairing_code` and `allow_without_code` do not change what it
/// accepts (they are still checked like any configuration's). The phone
/// is authenticated by the code; the platform's `check_peer` still decides on it (accept pattern
/// 3 there).
///
/// Like every responder it stays available: a message 0 that does not authenticate (a wrong
/// code: `TETHER_ERR_AUTHENTICATION`, the attempt stays counted as failed) or anything else
/// leaves it waiting. When `tether_handshake_finish` succeeds, call
/// `tether_attempt_limiter_succeeded`.
///
/// Returns what `tether_handshake_init_responder` returns, or also `TETHER_ERR_BAD_STATE`
/// (`pairing` holds no answered device's exchange), `TETHER_ERR_COPIED` or `TETHER_ERR_BUSY`
/// (for `pairing`), `TETHER_ERR_OVERLAP` (`hs` and `pairing` overlap). On error `hs` and
/// `pairing` are left as they were.
///
/// # Safety
/// As for `tether_handshake_init_code_initiator`.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_init_code_responder(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
    pairing: *mut tether_code_pairing,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(hs, config, platform, false, Some(pairing)) })
}

/// Stores in `*action` what to do next.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`
/// (`hs` holds no handshake), `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP`
/// (`action` inside `hs`); `*action` is written only on success.
///
/// # Safety
/// `hs` must be NULL or storage of `TETHER_HANDSHAKE_SIZE` bytes you own; `action` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_next(
    hs: *mut tether_handshake,
    action: *mut tether_action,
) -> tether_status {
    boundary(|| {
        if action.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let mut g = match unsafe { tether_handshake::enter(hs) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        if let Err(e) = disjoint(&[Region::out(action)], &[g.region()]) {
            return e;
        }
        let h = g.value();
        let next = match &h.state {
            State::AwaitFirst => tether_action::TETHER_ACTION_READ,
            State::Failed => tether_action::TETHER_ACTION_FAILED,
            State::Running(r) if r.is_finished() => tether_action::TETHER_ACTION_FINISH,
            State::Running(r) if r.is_my_turn() => tether_action::TETHER_ACTION_WRITE,
            State::Running(r) if r.is_failed() => tether_action::TETHER_ACTION_FAILED,
            State::Running(_) => tether_action::TETHER_ACTION_READ,
        };
        // SAFETY: checked non-NULL and outside the handle.
        unsafe { set(action, next) };
        TETHER_OK
    })
}

/// Writes the next handshake message into `out` (framed for the channel) and stores its length
/// in `*written`. `out` may be NULL with `out_len` 0 to ask for the size.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (nothing written to `out`; the size
/// needed is stored in `*written`), `TETHER_ERR_BAD_STATE` (not this side's turn, or `hs` holds
/// no handshake), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` or `written` overlap
/// each other or `hs`). On other errors `*written` is not written.
///
/// # Safety
/// `hs` as for `tether_handshake_next`; `out` valid for writes of `out_len` bytes (NULL only if
/// `out_len` is 0); `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_write(
    hs: *mut tether_handshake,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() || (out.is_null() && out_len != 0) {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let mut g = match unsafe { tether_handshake::enter(hs) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        if let Err(e) = lengths(&[(out, out_len)]) {
            return e;
        }
        let outputs = [Region::of(out, out_len), Region::out(written)];
        if let Err(e) = disjoint(&outputs, &[g.region()]) {
            return e;
        }
        // SAFETY: checked: valid by contract, not overlapping anything else in this call.
        let out = match unsafe { bytes_mut(out, out_len) } {
            Ok(o) => o,
            Err(e) => return e,
        };
        let State::Running(r) = &mut g.value().state else {
            return TETHER_ERR_BAD_STATE;
        };
        if !r.is_my_turn() {
            return TETHER_ERR_BAD_STATE;
        }
        let needed = r.next_message_len();
        if out.len() < needed {
            // SAFETY: checked non-NULL.
            unsafe { set(written, needed) };
            return TETHER_ERR_BUFFER_TOO_SMALL;
        }
        match r.write_message(out) {
            Ok(n) => {
                // SAFETY: checked non-NULL.
                unsafe { set(written, n) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Reads the peer's next handshake unit (as framed on the wire).
///
/// A unit that does not parse or authenticate returns its error and changes nothing: keep waiting
/// for the genuine one. An initiator whose responder is refused by the trust policy (or sends an
/// invalid identity) returns that status and is failed (`TETHER_ACTION_FAILED`). A responder never
/// fails: a refused initiator sends it back to waiting for a message 0; a new message 0 that is
/// accepted restarts it; a copy of the message 0 it is answering is `TETHER_ERR_DUPLICATE` and
/// changes nothing (on datagrams, resend your reply).
///
/// Returns `TETHER_OK`, a malformed-input status (20..39), a peer status (40..59: a forged or
/// tampered message is `TETHER_ERR_AUTHENTICATION`, whatever the pattern), a policy status
/// (60..79), `TETHER_ERR_DUPLICATE`, `TETHER_ERR_NOT_ALLOWED` (a suite or pattern this responder
/// does not accept, `Reconnect` without a known initiator, `Pairing` without a code, or
/// `Enrollment`/`Provisioned` while a pairing code is set and `allow_without_code` is false), or:
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (`hs` holds no handshake,
/// is failed, or must write now and the unit is not a responder's new message 0),
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`unit`
/// inside `hs`). A wipe asked for from a callback during the read takes effect as the read
/// returns: the read still returns its own status.
///
/// # Safety
/// `hs` as for `tether_handshake_next`; `unit` valid for reads of `unit_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_read(
    hs: *mut tether_handshake,
    unit: *const u8,
    unit_len: usize,
) -> tether_status {
    boundary(|| {
        if unit.is_null() && unit_len != 0 {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let mut g = match unsafe { tether_handshake::enter(hs) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        if let Err(e) = lengths(&[(unit, unit_len)]) {
            return e;
        }
        // The handle's storage is written during the call: the unit must lie outside it.
        if let Err(e) = disjoint(&[g.region()], &[Region::of(unit, unit_len)]) {
            return e;
        }
        // SAFETY: checked: valid by contract, outside the handle.
        let unit = match unsafe { bytes(unit, unit_len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        let h = g.value();
        let result = if h.initiator {
            read_as_initiator(h, unit)
        } else {
            read_as_responder(h, unit)
        };
        match result {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

fn read_as_initiator(h: &mut FfiHandshake, unit: &[u8]) -> Result<(), tether_status> {
    let platform = h.platform;
    let mut policy = PlatformPolicy {
        platform: &platform,
        pinned: h.config.peer,
    };
    let State::Running(r) = &mut h.state else {
        return Err(TETHER_ERR_BAD_STATE);
    };
    let res = r.read_message(unit, &mut policy, platform.wall_clock());
    if r.is_failed() {
        h.state = State::Failed;
    }
    res.map_err(tether_status::from)
}

fn read_as_responder(h: &mut FfiHandshake, unit: &[u8]) -> Result<(), tether_status> {
    let platform = h.platform;
    let mut policy = PlatformPolicy {
        platform: &platform,
        pinned: h.config.peer,
    };
    let now = platform.wall_clock();
    let first = UnitType::of(h.config.framing, unit) == Ok(UnitType::Handshake(0));
    let running = matches!(h.state, State::Running(_));
    if first && running && h.first.is(unit) {
        return Err(TETHER_ERR_DUPLICATE);
    }
    match &mut h.state {
        // A message 0 (re)starts the handshake, but only once it is accepted: a stranger's
        // message cannot take the place of the genuine peer's. While waiting, anything else
        // gets the precise error from the same path.
        _ if first || !running => {
            let cfg = h.config.responder();
            let rng = &mut platform.entropy();
            let accepted = match &h.code_key {
                Some(key) => Responder::accept_code_pairing(&cfg, key, unit, &mut policy, now, rng),
                None => Responder::accept(&cfg, unit, &mut policy, now, rng),
            }
            .map_err(tether_status::from)?;
            h.state = State::Running(accepted);
            h.first = FirstMessage::of(unit);
            Ok(())
        }
        State::Running(r) => {
            let res = r.read_message(unit, &mut policy, now);
            if r.is_failed() {
                // Refused or broken: wait for the next initiator.
                h.state = State::AwaitFirst;
                h.first = FirstMessage::NONE;
            }
            res.map_err(tether_status::from)
        }
        State::AwaitFirst | State::Failed => Err(TETHER_ERR_BAD_STATE),
    }
}

/// Turns the finished handshake into a session placed in `session`, copies the authenticated
/// peer into `*peer` and the 32-byte handshake hash into `handshake_hash` (both optional: NULL to
/// skip). `hs` is wiped on success.
///
/// `session` may be fresh storage, hold a session set up at that address (wiped and replaced),
/// or be the same storage as `hs` (a union of the two, for firmware short of RAM): the handshake
/// is moved out before the session is placed. Storage that holds a live decoder is refused.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BAD_STATE` (the handshake is not finished, or `session`
/// holds another kind of object), `TETHER_ERR_NULL` (`hs` or `session`), `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP` (`peer` or `handshake_hash`
/// overlap each other, `hs` or `session`). On error nothing changes and no output is written.
///
/// # Safety
/// `hs` as for `tether_handshake_next`; `session` storage of `TETHER_SESSION_SIZE` bytes you own;
/// `peer` NULL or writable; `handshake_hash` NULL or valid for writes of 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_finish(
    hs: *mut tether_handshake,
    session: *mut tether_session,
    peer: *mut tether_peer,
    handshake_hash: *mut u8,
) -> tether_status {
    boundary(|| {
        if let Err(e) = tether_session::check_address(session) {
            return e;
        }
        // SAFETY: the caller's storage.
        let mut g = match unsafe { tether_handshake::enter(hs) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let session_region = tether_session::region(session);
        let outputs = [Region::out(peer), Region::of(handshake_hash, 32)];
        if let Err(e) = disjoint(&outputs, &[g.region(), session_region]) {
            return e;
        }
        if !matches!(&g.value().state, State::Running(r) if r.is_finished()) {
            return TETHER_ERR_BAD_STATE;
        }
        // Storage shared with the handshake is free once the handshake is moved out.
        let shared = disjoint(&[session_region], &[g.region()]).is_err();
        if !shared {
            // SAFETY: the caller's storage; checked addressable above.
            if let Err(e) = unsafe { tether_session::check_init(session) } {
                return e;
            }
        }
        // The clock callback runs while the handshake is still busy (a re-entrant call is
        // refused); nothing after this point calls back into the application.
        let now = g.value().platform.now();
        let FfiHandshake {
            platform, state, ..
        } = g.take();
        let State::Running(r) = state else {
            return TETHER_ERR_BAD_STATE;
        };
        let done = match r.finish(now) {
            Ok(d) => d,
            Err(e) => return e.into(),
        };
        // SAFETY: optional out-pointers, checked not to overlap anything.
        unsafe {
            set(
                peer,
                tether_peer::describe(&done.peer.identity, &done.peer.static_key),
            );
            set(handshake_hash.cast::<[u8; 32]>(), done.handshake_hash);
        }
        let value = FfiSession {
            platform,
            session: done.session,
        };
        // SAFETY: the caller's storage, checked above (or freed by the move).
        match unsafe { tether_session::init(session, value) } {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

/// Drops the handshake, zeroizing its keys, and zeroes the storage. Safe on NULL, fresh, zeroed
/// or already wiped storage. Storage that holds a live session or decoder is left alone (use
/// their own wipe); a copy of a handshake is zeroed without touching the original. Called from
/// one of this handshake's own callbacks, the wipe happens when the running call returns.
///
/// # Safety
/// `hs` must be NULL or storage of `TETHER_HANDSHAKE_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_wipe(hs: *mut tether_handshake) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_handshake::wipe(hs) })
}
