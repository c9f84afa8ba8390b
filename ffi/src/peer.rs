//! What C learns about a peer: fixed-size copies (no pointers to manage) and, during the trust
//! callback, the credential to check.

use tether::identity::Identity;
use tether::policy::PeerInfo;
use tether::PublicKey;

use crate::boundary::{boundary, key, read};
use crate::status::{rejection_status, tether_status};

/// An authenticated peer, copied out of the handshake. Byte fields are not NUL-terminated; use
/// the lengths.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tether_peer {
    /// Entity id (1 to 32 bytes).
    pub id: [u8; 32],
    /// Bytes used in `id`.
    pub id_len: usize,
    /// Model name (UTF-8).
    pub model: [u8; 32],
    /// Bytes used in `model`.
    pub model_len: usize,
    /// Firmware or software version (UTF-8).
    pub version: [u8; 16],
    /// Bytes used in `version`.
    pub version_len: usize,
    /// Key id.
    pub key_id: [u8; 16],
    /// Bytes used in `key_id`.
    pub key_id_len: usize,
    /// The peer's static X25519 public key, authenticated by the handshake.
    pub static_key: [u8; 32],
    /// Whether the peer presented a manufacturer credential.
    pub has_credential: bool,
}

fn copy<const N: usize>(src: &[u8]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let n = src.len().min(N);
    if let (Some(d), Some(s)) = (out.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    (out, n)
}

impl tether_peer {
    pub(crate) fn describe(identity: &Identity, key: &PublicKey) -> Self {
        let (id, id_len) = copy(identity.id());
        let (model, model_len) = copy(identity.model().as_bytes());
        let (version, version_len) = copy(identity.version().as_bytes());
        let (key_id, key_id_len) = copy(identity.key_id());
        Self {
            id,
            id_len,
            model,
            model_len,
            version,
            version_len,
            key_id,
            key_id_len,
            static_key: key.0,
            has_credential: identity.credential().is_some(),
        }
    }
}

/// What the trust callback sees. Valid only during the callback.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct tether_peer_info {
    /// The peer.
    pub peer: *const tether_peer,
    /// The handshake pattern (1 Provisioned/IK, 2 Enrollment/XX, 3 Pairing/XXpsk0,
    /// 4 Reconnect/KK).
    pub pattern: u8,
    /// The channel kind (1 device-cloud, 2 device-phone, 3 relayed, 4 phone-cloud).
    pub channel: u8,
    /// The wall-clock time used for credential checks.
    pub unix_time: u64,
    /// For `tether_peer_verify_credential`; opaque.
    internal: *const core::ffi::c_void,
}

impl tether_peer_info {
    fn new(peer: &tether_peer, info: &PeerInfo<'_>) -> Self {
        Self {
            peer,
            pattern: info.pattern.id(),
            channel: info.channel.id(),
            unix_time: info.now.0,
            internal: core::ptr::null(),
        }
    }
}

/// Marks a live callback scope; cleared when the callback returns.
const SCOPE_LIVE: u64 = 0x7465_7468_6572_4331; // "tetherC1"

/// What `internal` points to while a trust callback runs: lets
/// `tether_peer_verify_credential` check that it was given the info of the running callback,
/// not a copy, a made-up struct or one kept from an earlier callback.
#[repr(C)]
struct CallbackScope<'a> {
    live: u64,
    info: *const tether_peer_info,
    peer: &'a PeerInfo<'a>,
}

/// Calls `f` with the info of `peer` as a trust callback sees it, and returns its status.
///
/// # Safety
/// `f` must be a valid trust callback for `user`.
pub(crate) unsafe fn call_with_info(
    f: unsafe extern "C" fn(*mut core::ffi::c_void, *const tether_peer_info) -> i32,
    user: *mut core::ffi::c_void,
    peer: &PeerInfo<'_>,
) -> i32 {
    let described = tether_peer::describe(peer.identity, peer.static_key);
    let mut info = tether_peer_info::new(&described, peer);
    let mut scope = CallbackScope {
        live: SCOPE_LIVE,
        info: core::ptr::addr_of!(info),
        peer,
    };
    info.internal = core::ptr::addr_of!(scope).cast();
    // SAFETY: `info`, `described` and `scope` outlive the call; the callback's contract.
    let rc = unsafe { f(user, &info) };
    // A copy of `info` kept past the callback finds the scope closed (while its stack lives).
    // SAFETY: a plain local.
    unsafe { core::ptr::addr_of_mut!(scope.live).write_volatile(0) };
    rc
}

/// Inside a trust callback: checks the peer's manufacturer credential against the Ed25519 public
/// key `manufacturer_key` (32 bytes) and the wall-clock time: the signature over the peer's id and
/// static key, and the validity period. Returns `TETHER_OK`, `TETHER_ERR_MISSING_CREDENTIAL`,
/// `TETHER_ERR_BAD_CREDENTIAL`, `TETHER_ERR_NOT_YET_VALID`, `TETHER_ERR_EXPIRED`,
/// `TETHER_ERR_BAD_KEY` (not a valid Ed25519 key), `TETHER_ERR_NULL`, or `TETHER_ERR_BAD_STATE`
/// when `info` is not the pointer the running callback received (a copy, or one kept after the
/// callback returned: tether recognises those while the callback's stack has not been reused).
/// The issuer name is not compared: pick `manufacturer_key` by it if you trust several.
///
/// # Safety
/// `info` must be the pointer passed to the running callback; `manufacturer_key` must point to
/// 32 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_peer_verify_credential(
    info: *const tether_peer_info,
    manufacturer_key: *const u8,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller passes the callback's info pointer, whose `internal` points to the
        // live PeerInfo for the duration of the callback.
        let Ok(copy) = (unsafe { read(info) }) else {
            return tether_status::TETHER_ERR_NULL;
        };
        // SAFETY: `internal` is NULL or points to the scope of a callback that is running (or,
        // misused, ran on this stack); only its fields are read, then compared.
        let Some(scope) = (unsafe { copy.internal.cast::<CallbackScope<'_>>().as_ref() }) else {
            return tether_status::TETHER_ERR_BAD_STATE;
        };
        // SAFETY: as above; volatile, since the callback's caller clears it.
        let live = unsafe { core::ptr::addr_of!(scope.live).read_volatile() };
        if live != SCOPE_LIVE || scope.info != info {
            return tether_status::TETHER_ERR_BAD_STATE;
        }
        let peer = scope.peer;
        // SAFETY: the caller guarantees 32 readable bytes.
        let Ok(key) = (unsafe { key::<32>(manufacturer_key) }) else {
            return tether_status::TETHER_ERR_NULL;
        };
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
            return tether_status::TETHER_ERR_BAD_KEY;
        };
        let Some(cred) = peer.identity.credential() else {
            return tether_status::TETHER_ERR_MISSING_CREDENTIAL;
        };
        match cred.verify(&vk, peer.identity.id(), peer.static_key, peer.now) {
            Ok(()) => tether_status::TETHER_OK,
            Err(r) => rejection_status(r),
        }
    })
}
