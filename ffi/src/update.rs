//! Firmware updates on the device (spec/messages/signed.md, "Updates"): verify a signed
//! manifest, take image chunks apart, and check the stored image against the manifest.

use core::ffi::{c_char, c_void};

use tether::message::cose::{AuthorityKey, Sign1, MAX_KID};
use tether::message::update::{
    check_image, FirmwareManifest, ImageChunk, ImageStore, UpdatePolicy,
};
use tether::message::{Kind, Message};
use tether::StorageError;

use crate::boundary::{boundary, bytes, disjoint, lengths, read, set, Region};
use crate::message::{array_bytes, element, id_bytes};
use crate::status::tether_status::{self, *};

/// Length of a manifest's vendor and class ids.
pub const TETHER_UPDATE_ID_LEN: usize = 16;
/// Longest firmware version text in a manifest, in bytes (`tether_manifest.version` has room
/// for it and a NUL).
pub const TETHER_VERSION_MAX_LEN: usize = 32;
/// Size of `tether_manifest.version`: the longest version text and its NUL.
pub const TETHER_VERSION_SIZE: usize = 33;
/// Largest image chunk, in bytes.
pub const TETHER_IMAGE_CHUNK_MAX: usize = 1024;
/// Block size `tether_image_check` reads the stored image in.
pub const TETHER_IMAGE_READ_BLOCK: usize = 256;
const _: () = assert!(
    TETHER_UPDATE_ID_LEN == tether::message::update::ID_LEN
        && TETHER_VERSION_MAX_LEN == tether::message::update::MAX_VERSION
        && TETHER_IMAGE_CHUNK_MAX == tether::message::update::MAX_CHUNK
        && TETHER_IMAGE_READ_BLOCK == tether::message::update::READ_BACK_BLOCK
        && TETHER_VERSION_SIZE == TETHER_VERSION_MAX_LEN + 1
);

/// One key that may sign firmware for this device.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_update_authority {
    /// Its key id, 1..=`TETHER_KID_MAX_LEN` bytes (the first authority with a manifest's kid is
    /// the one used).
    pub kid: *const u8,
    /// Bytes in `kid`.
    pub kid_len: usize,
    /// Its Ed25519 public key.
    pub public_key: [u8; 32],
}

/// What a device accepts updates against: provisioned ids, and the installed sequence number
/// from its own persistent storage (the anti-rollback floor).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_update_policy {
    /// This device's vendor id.
    pub vendor_id: [u8; TETHER_UPDATE_ID_LEN],
    /// This device's class id.
    pub class_id: [u8; TETHER_UPDATE_ID_LEN],
    /// The installed firmware's sequence number: only higher ones are accepted.
    pub installed_sequence: u64,
    /// The largest image the device can store.
    pub max_image_size: u32,
    /// Who may sign firmware (NULL only with `n_authorities` 0).
    pub authorities: *const tether_update_authority,
    /// How many authorities.
    pub n_authorities: usize,
}

/// A manifest that verified: what to receive and how to check it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_manifest {
    /// The manifest's sequence number: persist it as installed once the image is installed.
    pub sequence: u64,
    /// The image's size in bytes.
    pub image_size: u32,
    /// The image's SHA-256 digest.
    pub digest: [u8; 32],
    /// The vendor id it is for.
    pub vendor_id: [u8; TETHER_UPDATE_ID_LEN],
    /// The class id it is for.
    pub class_id: [u8; TETHER_UPDATE_ID_LEN],
    /// The firmware version text (UTF-8), NUL-terminated.
    pub version: [c_char; TETHER_VERSION_SIZE],
}

/// Checks the authorities' shape (pointers, kid lengths, keys), so that a bad policy is refused
/// the same way whatever manifest arrives.
///
/// # Safety
/// The policy's pointers valid for their counts.
unsafe fn check_policy(p: &tether_update_policy) -> Result<(), tether_status> {
    array_bytes(p.authorities, p.n_authorities)?;
    for i in 0..p.n_authorities {
        // SAFETY: i < n_authorities, checked.
        let a = unsafe { element(p.authorities, i) };
        // SAFETY: forwarded.
        let kid = unsafe { id_bytes(a.kid, a.kid_len, MAX_KID) }?;
        AuthorityKey::from_bytes(kid, &a.public_key).map_err(|_| TETHER_ERR_BAD_KEY)?;
    }
    Ok(())
}

/// The key the core would pick for this manifest (the first with its kid), if any.
///
/// # Safety
/// As for [`check_policy`], which passed.
unsafe fn select(p: &tether_update_policy, msg: &[u8]) -> Option<AuthorityKey> {
    let sign1 = Message::parse(msg)
        .ok()
        .filter(|m| m.kind == Kind::FirmwareManifest)
        .and_then(|m| Sign1::parse(m.body).ok())?;
    (0..p.n_authorities).find_map(|i| {
        // SAFETY: i < n_authorities, checked.
        let a = unsafe { element(p.authorities, i) };
        // SAFETY: checked by `check_policy`.
        let kid = unsafe { id_bytes(a.kid, a.kid_len, MAX_KID) }.ok()?;
        if kid == sign1.kid {
            AuthorityKey::from_bytes(kid, &a.public_key).ok()
        } else {
            None
        }
    })
}

/// Verifies an enveloped signed firmware manifest (`[32, COSE_Sign1]`) against `policy`, in
/// order: structure, authority (by kid), signature, payload, vendor and class, sequence above
/// the installed one, image size. On success `*out` describes the image to receive; the image
/// itself is then checked with `tether_image_check` before installing.
///
/// Returns `TETHER_OK`, or a rejection (nothing written): `TETHER_ERR_MESSAGE` (not a
/// well-formed signed manifest message), `TETHER_ERR_UPDATE_UNKNOWN_AUTHORITY`,
/// `TETHER_ERR_UPDATE_BAD_SIGNATURE`, `TETHER_ERR_UPDATE_MALFORMED`,
/// `TETHER_ERR_UPDATE_WRONG_CLASS`, `TETHER_ERR_UPDATE_ROLLBACK`, `TETHER_ERR_UPDATE_TOO_LARGE`;
/// or misuse: `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` overlaps
/// `msg` or `*policy`), `TETHER_ERR_BAD_CONFIG` (a kid of 0 or more than `TETHER_KID_MAX_LEN`
/// bytes), `TETHER_ERR_BAD_KEY` (an authority's key is not a valid Ed25519 key).
///
/// # Safety
/// `policy` and its authorities readable; `msg` readable for `len` bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_manifest_verify(
    policy: *const tether_update_policy,
    msg: *const u8,
    len: usize,
    out: *mut tether_manifest,
) -> tether_status {
    boundary(|| {
        if policy.is_null() || out.is_null() || (msg.is_null() && len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(msg, len)]) {
            return e;
        }
        if let Err(e) = disjoint(
            &[Region::out(out)],
            &[Region::of(msg, len), Region::out(policy)],
        ) {
            return e;
        }
        // SAFETY: checked non-NULL; copied out.
        let p = match unsafe { read(policy) } {
            Ok(p) => p,
            Err(e) => return e,
        };
        // SAFETY: the policy's contract.
        if let Err(e) = unsafe { check_policy(&p) } {
            return e;
        }
        // SAFETY: valid by contract; `out` does not overlap it.
        let msg = match unsafe { bytes(msg, len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        // SAFETY: checked by `check_policy`.
        let key = unsafe { select(&p, msg) };
        let core_policy = UpdatePolicy {
            vendor_id: p.vendor_id,
            class_id: p.class_id,
            installed_sequence: p.installed_sequence,
            max_image_size: p.max_image_size,
            authorities: key.as_slice(),
        };
        match FirmwareManifest::verify(&core_policy, msg) {
            Ok(m) => {
                let mut version = [0 as c_char; TETHER_VERSION_SIZE];
                for (dst, src) in version.iter_mut().zip(m.version.as_bytes()) {
                    *dst = *src as c_char;
                }
                let result = tether_manifest {
                    sequence: m.sequence,
                    image_size: m.image_size,
                    digest: m.digest,
                    vendor_id: m.vendor_id,
                    class_id: m.class_id,
                    version,
                };
                // SAFETY: checked non-NULL and disjoint.
                unsafe { set(out, result) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// The caller's read callback as the core's image store (read-only).
struct CallbackStore {
    read: unsafe extern "C" fn(user: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32,
    user: *mut c_void,
}

impl ImageStore for CallbackStore {
    fn write(&mut self, _offset: u32, _data: &[u8]) -> Result<(), StorageError> {
        // Never called: the check only reads.
        Err(StorageError::Io)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        // SAFETY: the callback's contract: it fills at most `len` bytes of `buf`.
        let rc = unsafe { (self.read)(self.user, offset, buf.as_mut_ptr(), buf.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(StorageError::Io)
        }
    }
}

/// Checks the stored image against a verified manifest before installing it: reads it back
/// through `read` in blocks of `TETHER_IMAGE_READ_BLOCK` bytes from offset 0 to `image_size`,
/// and compares its SHA-256 with `manifest->digest`. Call it after the last chunk is stored,
/// and install only on `TETHER_OK`, keeping anything else from writing the stored image
/// meanwhile.
///
/// `read(user, offset, buf, len)` must fill `buf` with the `len` stored bytes at `offset` and
/// return 0, or return non-zero on failure. It is called only during this call, on this thread.
///
/// Returns `TETHER_OK`, `TETHER_ERR_UPDATE_DIGEST_MISMATCH` (the stored image is not the signed
/// one: receive it again from offset 0), `TETHER_ERR_IO` (`read` failed: check again later),
/// `TETHER_ERR_BAD_CONFIG` (a sequence number of 0, which no verified manifest has),
/// `TETHER_ERR_NULL` (`manifest` or `read` NULL).
///
/// # Safety
/// `manifest` readable (a `tether_manifest_verify` result); `read` a valid callback for `user`.
#[no_mangle]
pub unsafe extern "C" fn tether_image_check(
    manifest: *const tether_manifest,
    read: Option<
        unsafe extern "C" fn(user: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32,
    >,
    user: *mut c_void,
) -> tether_status {
    boundary(|| {
        let Some(read_fn) = read else {
            return TETHER_ERR_NULL;
        };
        // SAFETY: the caller's pointer; copied out.
        let m = match unsafe { crate::boundary::read(manifest) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        if m.sequence == 0 {
            return TETHER_ERR_BAD_CONFIG;
        }
        let mut store = CallbackStore {
            read: read_fn,
            user,
        };
        match check_image(&mut store, m.image_size, &m.digest) {
            Ok(()) => TETHER_OK,
            // The read callback failed (not the outbox's storage: its own status).
            Err(tether::Error::Storage(_)) => TETHER_ERR_IO,
            Err(e) => e.into(),
        }
    })
}

/// Takes an image chunk message (`[33, chunk]`) apart, for a device that stores chunks itself:
/// `*data` points into `msg` (valid while `msg` is) at `*data_len` (1..=1024) bytes that belong
/// at `*offset` of the image of the manifest with sequence number `*sequence`. Check the
/// sequence and offset against the transfer before writing the data.
///
/// Returns `TETHER_OK`, `TETHER_ERR_MESSAGE` (malformed, or not a chunk), `TETHER_ERR_NULL`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (outputs overlap each other or `msg`). On error
/// nothing is written.
///
/// # Safety
/// `msg` readable for `len` bytes; the four outputs writable.
#[no_mangle]
pub unsafe extern "C" fn tether_image_chunk_decode(
    msg: *const u8,
    len: usize,
    sequence: *mut u64,
    offset: *mut u32,
    data: *mut *const u8,
    data_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if sequence.is_null()
            || offset.is_null()
            || data.is_null()
            || data_len.is_null()
            || (msg.is_null() && len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(msg, len)]) {
            return e;
        }
        let outputs = [
            Region::out(sequence),
            Region::out(offset),
            Region::out(data),
            Region::out(data_len),
        ];
        if let Err(e) = disjoint(&outputs, &[Region::of(msg, len)]) {
            return e;
        }
        // SAFETY: valid by contract; no output overlaps it.
        let msg = match unsafe { bytes(msg, len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        match ImageChunk::decode(msg) {
            Ok(c) => {
                // SAFETY: checked non-NULL and disjoint.
                unsafe {
                    set(sequence, c.sequence);
                    set(offset, c.offset);
                    set(data, c.data.as_ptr());
                    set(data_len, c.data.len());
                }
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}
