//! Key and pairing-code helpers for provisioning.

use tether::pairing::{PairingCode, PAIRING_TEXT_LEN};
use tether::{PublicKey, StaticKeypair};
use zeroize::Zeroizing;

use crate::boundary::{boundary, bytes_mut, disjoint, key, lengths, read, set, Region};
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Length of a pairing code's text (`TETHER1:` and 52 base32 characters), without a NUL.
pub const TETHER_PAIRING_CODE_LEN: usize = 60;
const _: () = assert!(TETHER_PAIRING_CODE_LEN == PAIRING_TEXT_LEN);

/// Generates a static key pair from the platform's entropy: the 32-byte secret (store it in
/// secure storage) and the 32-byte public key.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_ENTROPY` (nothing written),
/// `TETHER_ERR_OVERLAP` (the two outputs overlap).
///
/// # Safety
/// `platform` valid; `secret_out` and `public_out` writable for 32 bytes each.
#[no_mangle]
pub unsafe extern "C" fn tether_keypair_generate(
    platform: *const tether_platform,
    secret_out: *mut u8,
    public_out: *mut u8,
) -> tether_status {
    boundary(|| {
        if secret_out.is_null() || public_out.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's pointer; copied out.
        let Ok(p) = (unsafe { read(platform) }) else {
            return TETHER_ERR_NULL;
        };
        let outputs = [Region::of(secret_out, 32), Region::of(public_out, 32)];
        if let Err(e) = disjoint(&outputs, &[]) {
            return e;
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        if rand_core::RngCore::try_fill_bytes(&mut p.entropy(), secret.as_mut_slice()).is_err() {
            return TETHER_ERR_ENTROPY;
        }
        let pair = StaticKeypair::from_secret(*secret);
        // SAFETY: checked non-NULL, 32 writable bytes each by contract, not overlapping.
        unsafe {
            set(secret_out.cast::<[u8; 32]>(), *secret);
            set(public_out.cast::<[u8; 32]>(), *pair.public().as_bytes());
        }
        TETHER_OK
    })
}

/// Computes the public key of a 32-byte static secret. `secret` and `public_out` may overlap
/// (the secret is read first).
///
/// Returns `TETHER_OK` or `TETHER_ERR_NULL`.
///
/// # Safety
/// `secret` readable for 32 bytes; `public_out` writable for 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_public_key(
    secret: *const u8,
    public_out: *mut u8,
) -> tether_status {
    boundary(|| {
        if public_out.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's pointer; copied out before anything is written.
        let Ok(s) = (unsafe { key::<32>(secret) }) else {
            return TETHER_ERR_NULL;
        };
        let s = Zeroizing::new(s);
        let public = *StaticKeypair::from_secret(*s).public().as_bytes();
        // SAFETY: checked non-NULL; 32 writable bytes by contract.
        unsafe { set(public_out.cast::<[u8; 32]>(), public) };
        TETHER_OK
    })
}

/// Generates a fresh pairing code for the device whose static public key is `device_public`, and
/// writes its text (`TETHER_PAIRING_CODE_LEN` bytes, no NUL) to `text_out`, for a QR code. Both
/// the device and the phone pass this text as `pairing_code` in their configuration.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BUFFER_TOO_SMALL` (the size in `*written`, nothing else
/// written), `TETHER_ERR_NULL`, `TETHER_ERR_ENTROPY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (`text_out` and `written` overlap each other or `device_public`).
///
/// # Safety
/// `platform` valid; `device_public` readable for 32 bytes; `text_out` writable for `text_len`
/// bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_pairing_code_generate(
    platform: *const tether_platform,
    device_public: *const u8,
    text_out: *mut u8,
    text_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() || (text_out.is_null() && text_len != 0) {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's pointers; copied out.
        let (Ok(p), Ok(key)) = (unsafe { read(platform) }, unsafe {
            key::<32>(device_public)
        }) else {
            return TETHER_ERR_NULL;
        };
        if let Err(e) = lengths(&[(text_out, text_len)]) {
            return e;
        }
        let outputs = [Region::of(text_out, text_len), Region::out(written)];
        if let Err(e) = disjoint(&outputs, &[Region::of(device_public, 32)]) {
            return e;
        }
        // SAFETY: valid by contract, not overlapping.
        let out = match unsafe { bytes_mut(text_out, text_len) } {
            Ok(o) => o,
            Err(e) => return e,
        };
        if out.len() < PAIRING_TEXT_LEN {
            // SAFETY: checked non-NULL.
            unsafe { set(written, PAIRING_TEXT_LEN) };
            return TETHER_ERR_BUFFER_TOO_SMALL;
        }
        let code = match PairingCode::generate(&mut p.entropy(), &PublicKey(key)) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let text = code.to_text();
        if let Some(dst) = out.get_mut(..PAIRING_TEXT_LEN) {
            dst.copy_from_slice(&text[..]);
        }
        // SAFETY: checked non-NULL.
        unsafe { set(written, PAIRING_TEXT_LEN) };
        TETHER_OK
    })
}
