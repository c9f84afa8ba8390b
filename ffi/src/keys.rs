//! Key and pairing-code helpers for provisioning.

use tether::pairing::{PairingCode, PAIRING_TEXT_LEN};
use tether::{PublicKey, StaticKeypair};
use zeroize::Zeroize;

use crate::boundary::{boundary, bytes_mut, key32, set};
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Length of a pairing code's text (`TETHER1:` and 52 base32 characters), without a NUL.
pub const TETHER_PAIRING_CODE_LEN: usize = 60;
const _: () = assert!(TETHER_PAIRING_CODE_LEN == PAIRING_TEXT_LEN);

/// Generates a static key pair from the platform's entropy: the 32-byte secret (store it in
/// secure storage) and the 32-byte public key.
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
        // SAFETY: the caller's pointers.
        let (Some(p), Some(s), Some(pk)) = (
            unsafe { platform.as_ref() },
            unsafe { bytes_mut(secret_out, 32) },
            unsafe { bytes_mut(public_out, 32) },
        ) else {
            return TETHER_ERR_NULL;
        };
        if secret_out.is_null() || public_out.is_null() {
            return TETHER_ERR_NULL;
        }
        let mut secret = [0u8; 32];
        if rand_core::RngCore::try_fill_bytes(&mut p.entropy(), &mut secret).is_err() {
            return TETHER_ERR_ENTROPY;
        }
        let pair = StaticKeypair::from_secret(secret);
        s.copy_from_slice(&secret);
        secret.zeroize();
        pk.copy_from_slice(pair.public().as_bytes());
        TETHER_OK
    })
}

/// Computes the public key of a 32-byte static secret.
///
/// # Safety
/// `secret` readable for 32 bytes; `public_out` writable for 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_public_key(
    secret: *const u8,
    public_out: *mut u8,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's pointers.
        let (Some(mut s), Some(pk)) = (unsafe { key32(secret) }, unsafe {
            bytes_mut(public_out, 32)
        }) else {
            return TETHER_ERR_NULL;
        };
        if public_out.is_null() {
            return TETHER_ERR_NULL;
        }
        pk.copy_from_slice(StaticKeypair::from_secret(s).public().as_bytes());
        s.zeroize();
        TETHER_OK
    })
}

/// Generates a fresh pairing code for the device whose static public key is `device_public`, and
/// writes its text (`TETHER_PAIRING_CODE_LEN` bytes, no NUL) to `text_out`, for a QR code. Both
/// the device and the phone pass this text as `pairing_code` in their configuration.
/// `TETHER_ERR_BUFFER_TOO_SMALL` with the size in `*written` if `text_len` is too small.
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
        // SAFETY: the caller's pointers.
        let (Some(p), Some(key), Some(out)) = (
            unsafe { platform.as_ref() },
            unsafe { key32(device_public) },
            unsafe { bytes_mut(text_out, text_len) },
        ) else {
            return TETHER_ERR_NULL;
        };
        if written.is_null() {
            return TETHER_ERR_NULL;
        }
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
