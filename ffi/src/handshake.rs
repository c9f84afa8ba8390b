//! Handshake handles in caller-provided storage.

use tether::{Handshake, Initiator, Pattern, Responder};

use crate::boundary::{boundary, bytes, bytes_mut, set, Storage};
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
/// with `tether_handshake_wipe`. Never copy or move it while it is initialized: it holds internal
/// pointers.
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
    /// The handshake failed (the peer was refused or broke the protocol): wipe it.
    TETHER_ACTION_FAILED = 4,
}

/// Kept inline (not boxed) so that a handshake lives entirely in the caller's storage.
#[allow(clippy::large_enum_variant)]
enum State {
    /// A responder before the initiator's first message.
    AwaitFirst,
    Running(Handshake),
    Failed,
}

pub(crate) struct FfiHandshake {
    platform: tether_platform,
    config: OwnedConfig,
    state: State,
}

impl Storage for tether_handshake {
    type Value = FfiHandshake;
}

/// # Safety
/// `hs`, `config`, `platform` as documented on the init functions.
unsafe fn init(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
    initiator: bool,
) -> tether_status {
    // SAFETY: the caller guarantees validity of non-NULL pointers.
    let (Some(c), Some(p)) = (unsafe { config.as_ref() }, unsafe { platform.as_ref() }) else {
        return TETHER_ERR_NULL;
    };
    if hs.is_null() {
        return TETHER_ERR_NULL;
    }
    // SAFETY: forwarded.
    let config = match unsafe { OwnedConfig::from_c(c) } {
        Ok(c) => c,
        Err(s) => return s,
    };
    let state = if initiator {
        let cfg = config.initiator();
        let rng = &mut p.entropy();
        let started = match config.pattern {
            Pattern::Provisioned | Pattern::Reconnect => {
                let Some(peer) = config.peer.as_ref() else {
                    return TETHER_ERR_BAD_CONFIG;
                };
                if config.pattern == Pattern::Provisioned {
                    Initiator::provisioned(&cfg, peer, rng)
                } else {
                    Initiator::reconnect(&cfg, peer, rng)
                }
            }
            Pattern::Enrollment => Initiator::enrollment(&cfg, rng),
            Pattern::Pairing => {
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
    // SAFETY: `hs` is non-NULL and the caller's storage.
    unsafe {
        tether_handshake::put(
            hs,
            FfiHandshake {
                platform: *p,
                config,
                state,
            },
        )
    };
    TETHER_OK
}

/// Sets up `hs` as the initiator of `config->pattern`, drawing its ephemeral key from the
/// platform. Replaces (and wipes) whatever `hs` held. Errors: `TETHER_ERR_NULL`,
/// `TETHER_ERR_BAD_CONFIG` (including a missing `peer_static_key` for Provisioned or Reconnect,
/// or a missing pairing code for Pairing), `TETHER_ERR_NOT_ALLOWED`, `TETHER_ERR_ENTROPY`,
/// `TETHER_ERR_PAIRING_CODE`; on error `hs` is left as it was.
///
/// # Safety
/// `hs` must point to storage you own (or be NULL); `config` and `platform` must be valid, and
/// every pointer inside `config` valid for its length, during the call.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_init_initiator(
    hs: *mut tether_handshake,
    config: *const tether_config,
    platform: *const tether_platform,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(hs, config, platform, true) })
}

/// Sets up `hs` as a responder waiting for the initiator's first message. The initiator chooses
/// suite and pattern among `config->allowed_suites` and `config->allowed_patterns`. Errors as
/// for `tether_handshake_init_initiator`.
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
    boundary(|| unsafe { init(hs, config, platform, false) })
}

/// Stores in `*action` what to do next. `TETHER_ERR_NULL`, or `TETHER_ERR_BAD_STATE` if `hs` is
/// not initialized.
///
/// # Safety
/// `hs` must be NULL or storage passed to an init function (or zeroed); `action` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_next(
    hs: *mut tether_handshake,
    action: *mut tether_action,
) -> tether_status {
    boundary(|| {
        if hs.is_null() || action.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let Some(h) = (unsafe { tether_handshake::get(hs) }) else {
            return TETHER_ERR_BAD_STATE;
        };
        let next = match &h.state {
            State::AwaitFirst => tether_action::TETHER_ACTION_READ,
            State::Failed => tether_action::TETHER_ACTION_FAILED,
            State::Running(r) if r.is_finished() => tether_action::TETHER_ACTION_FINISH,
            State::Running(r) if r.is_my_turn() => tether_action::TETHER_ACTION_WRITE,
            State::Running(r) if r.is_failed() => tether_action::TETHER_ACTION_FAILED,
            State::Running(_) => tether_action::TETHER_ACTION_READ,
        };
        // SAFETY: checked non-NULL.
        unsafe { set(action, next) };
        TETHER_OK
    })
}

/// Writes the next handshake message into `out` (framed for the channel) and stores its length
/// in `*written`. If `out_len` is too small: `TETHER_ERR_BUFFER_TOO_SMALL`, nothing written, and
/// the size needed in `*written`. `TETHER_ERR_BAD_STATE` when it is not this side's turn.
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
        if hs.is_null() || written.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's buffers and storage.
        let (Some(out), Some(h)) = (unsafe { bytes_mut(out, out_len) }, unsafe {
            tether_handshake::get(hs)
        }) else {
            // A NULL buffer is fine with length 0 (asking for the size needed).
            return if out.is_null() && out_len != 0 {
                TETHER_ERR_NULL
            } else {
                TETHER_ERR_BAD_STATE
            };
        };
        let State::Running(r) = &mut h.state else {
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

/// Reads the peer's next handshake unit (as framed on the wire). A unit that does not parse or
/// authenticate returns its error and changes nothing: keep waiting for the genuine one. A peer
/// refused by the trust policy returns the rejection status and the handshake is failed.
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
        // SAFETY: the caller's buffers and storage.
        let Some(unit) = (unsafe { bytes(unit, unit_len) }) else {
            return TETHER_ERR_NULL;
        };
        if hs.is_null() {
            return TETHER_ERR_NULL;
        }
        let Some(h) = (unsafe { tether_handshake::get(hs) }) else {
            return TETHER_ERR_BAD_STATE;
        };
        let platform = h.platform;
        let mut policy = PlatformPolicy {
            platform: &platform,
            pinned: h.config.peer,
        };
        let now = platform.wall_clock();
        let result = match &mut h.state {
            State::AwaitFirst => {
                let cfg = h.config.responder();
                match Responder::accept(&cfg, unit, &mut policy, now, &mut platform.entropy()) {
                    Ok(r) => {
                        h.state = State::Running(r);
                        Ok(())
                    }
                    // A refused peer ends this responder; anything else leaves it waiting.
                    Err(e @ tether::Error::Policy(_)) => {
                        h.state = State::Failed;
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
            State::Running(r) => {
                let res = r.read_message(unit, &mut policy, now);
                if r.is_failed() {
                    h.state = State::Failed;
                }
                res
            }
            State::Failed => return TETHER_ERR_BAD_STATE,
        };
        match result {
            Ok(()) => TETHER_OK,
            Err(e) => e.into(),
        }
    })
}

/// Turns the finished handshake into a session placed in `session` (caller storage, replaced and
/// wiped first if it held one), copies the authenticated peer into `*peer` and the 32-byte
/// handshake hash into `handshake_hash` (both optional: NULL to skip). `hs` is wiped on success.
/// `TETHER_ERR_BAD_STATE` if the handshake is not finished (nothing changes).
///
/// # Safety
/// `hs` as for `tether_handshake_next`; `session` storage you own; `peer` NULL or writable;
/// `handshake_hash` NULL or valid for writes of 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_finish(
    hs: *mut tether_handshake,
    session: *mut tether_session,
    peer: *mut tether_peer,
    handshake_hash: *mut u8,
) -> tether_status {
    boundary(|| {
        if hs.is_null() || session.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let Some(h) = (unsafe { tether_handshake::get(hs) }) else {
            return TETHER_ERR_BAD_STATE;
        };
        if !matches!(&h.state, State::Running(r) if r.is_finished()) {
            return TETHER_ERR_BAD_STATE;
        }
        // SAFETY: checked live above.
        let Some(FfiHandshake {
            platform, state, ..
        }) = (unsafe { tether_handshake::take(hs) })
        else {
            return TETHER_ERR_BAD_STATE;
        };
        let State::Running(r) = state else {
            return TETHER_ERR_BAD_STATE;
        };
        let done = match r.finish(platform.now()) {
            Ok(d) => d,
            Err(e) => return e.into(),
        };
        // SAFETY: optional out-pointers, checked inside `set`.
        unsafe {
            set(
                peer,
                tether_peer::describe(&done.peer.identity, &done.peer.static_key),
            );
            if let Some(out) = bytes_mut(handshake_hash, 32) {
                if !handshake_hash.is_null() {
                    out.copy_from_slice(&done.handshake_hash);
                }
            }
            tether_session::put(
                session,
                FfiSession {
                    platform,
                    session: done.session,
                },
            );
        }
        TETHER_OK
    })
}

/// Drops the handshake, zeroizing its keys, and zeroes the storage. Safe on NULL, zeroed or
/// already wiped storage.
///
/// # Safety
/// `hs` must be NULL or storage passed to an init function (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn tether_handshake_wipe(hs: *mut tether_handshake) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_handshake::wipe(hs) })
}

use crate::boundary::boundary_or;
