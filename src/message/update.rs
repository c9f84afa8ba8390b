//! Signed firmware updates (SUIT-like, RFC 9124), chunked image transfer, and companion-app
//! update notices (spec/MESSAGES.md section 5, "Updates").
//!
//! A device installs only an image that its update authority signed for exactly this vendor and
//! device class, with a sequence number above the installed one (no rollback), no larger than
//! it can hold, and whose SHA-256 digest matches the manifest. The image arrives in chunks over
//! whatever link there is, possibly across reboots, and is written to the application's
//! [`ImageStore`]. Before declaring it installable, [`Receiving::finish`] reads the whole image
//! back from the store and hashes what is stored: the image that gets installed is the one that
//! was checked, not the bytes that streamed past (the MyCareLink lesson: a race let an unsigned
//! image replace a checked one).
//!
//! The transfer is a typestate: [`Update::start`] gives [`Receiving`], whose
//! [`Receiving::finish`] gives [`Installable`]; only a verified manifest starts one and only a
//! digest match ends one. A rejected manifest or chunk changes nothing.

use sha2::{Digest as _, Sha256};

use crate::cbor::{encode_into, Enc, EncResult, Reader};
use crate::error::{Error, Local, Problem, ProblemKind, StorageError, UpdateRejection};
use crate::message::cose::{authenticate, open_signed, AuthFailure, AuthorityKey, Signer};
use crate::message::envelope::{encode_message, open_message, Kind};

/// COSE algorithm identifier of SHA-256 (RFC 9054), the only image digest.
pub const SHA_256: i64 = -16;

/// Length of vendor and class identifiers (RFC 9124 uses 16-byte UUIDs).
pub const ID_LEN: usize = 16;

/// Longest version text (for display; the sequence number is what orders versions).
pub const MAX_VERSION: usize = 32;

/// Longest URI text, where the image may be fetched from (advice only: the digest decides).
pub const MAX_URI: usize = 128;

/// Longest companion-app id.
pub const MAX_APP_ID: usize = 64;

/// Largest chunk of image data one message carries: fits a record comfortably and bounds what a
/// device buffers.
pub const MAX_CHUNK: usize = 1024;

/// Most entries a manifest, notice, chunk or status map may have, unknown optional keys
/// included.
pub const MAX_MAP_ENTRIES: usize = 16;

/// Size of the blocks [`Receiving::finish`] reads the stored image back in (stack buffer).
pub const READ_BACK_BLOCK: usize = 256;

fn problem(field: &'static str, kind: ProblemKind) -> Problem {
    Problem::new(field, kind)
}

fn write_digest(e: &mut Enc<'_>, digest: &[u8; 32]) -> EncResult {
    e.array(2)?.i64(SHA_256)?.bytes(digest)?;
    Ok(())
}

fn read_digest(
    r: &mut Reader<'_>,
    field: &'static str,
    alg: &'static str,
    value: &'static str,
) -> Result<[u8; 32], Problem> {
    r.array_exact(field, 2)?;
    if r.int(alg)? != SHA_256 {
        return Err(problem(alg, ProblemKind::OutOfRange));
    }
    r.bytes_exact::<32>(value)
}

/// A firmware manifest's signed content: which image, for which devices, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareManifest<'a> {
    /// The vendor (a UUID): a device accepts only its own vendor's images.
    pub vendor_id: [u8; ID_LEN],
    /// The device class (a UUID): an image for another model would brick this one.
    pub class_id: [u8; ID_LEN],
    /// Human-readable version (at most 32 bytes of UTF-8).
    pub version: &'a str,
    /// Monotonic sequence number: the device installs only numbers above the installed one.
    pub sequence: u64,
    /// Exact image length in bytes, 1..=2^32-1.
    pub image_size: u32,
    /// SHA-256 of the image.
    pub digest: [u8; 32],
    /// Where to fetch the image (at most 128 bytes), if the device fetches it itself.
    pub uri: Option<&'a str>,
}

impl<'a> FirmwareManifest<'a> {
    fn check(&self) -> Result<(), Error> {
        if self.image_size == 0
            || self.version.len() > MAX_VERSION
            || self.uri.is_some_and(|u| u.len() > MAX_URI)
        {
            return Err(Local::Config.into());
        }
        Ok(())
    }

    fn write_payload(&self, e: &mut Enc<'_>) -> EncResult {
        e.map(if self.uri.is_some() { 7 } else { 6 })?
            .u8(1)?
            .bytes(&self.vendor_id)?
            .u8(2)?
            .bytes(&self.class_id)?
            .u8(3)?
            .str(self.version)?
            .u8(4)?
            .u64(self.sequence)?
            .u8(5)?
            .u32(self.image_size)?
            .u8(6)?;
        write_digest(e, &self.digest)?;
        if let Some(uri) = self.uri {
            e.u8(7)?.str(uri)?;
        }
        Ok(())
    }

    /// Writes the payload map (the bytes that get signed); fails with [`Local::Config`] for an
    /// empty image or an over-long version or URI.
    pub fn encode_payload(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        encode_into(out, |e| self.write_payload(e))
    }

    /// Signs the manifest and writes the whole message `[32, COSE_Sign1]`.
    pub fn encode(&self, signer: &Signer, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        signer.sign_encoded(Kind::FirmwareManifest, out, |e| self.write_payload(e))
    }

    /// Decodes a payload map strictly (form only; for diagnostics, never to install).
    pub fn decode_payload(bytes: &'a [u8]) -> Result<Self, Error> {
        Ok(Self::decode_problem(bytes)?)
    }

    fn decode_problem(bytes: &'a [u8]) -> Result<Self, Problem> {
        let mut r = Reader::new(bytes);
        let mut m = r.map("manifest", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "manifest.vendor_id")?;
        let vendor_id = r.bytes_exact::<ID_LEN>("manifest.vendor_id")?;
        m.require(&mut r, 2, "manifest.class_id")?;
        let class_id = r.bytes_exact::<ID_LEN>("manifest.class_id")?;
        m.require(&mut r, 3, "manifest.version")?;
        let version = r.text("manifest.version", MAX_VERSION)?;
        m.require(&mut r, 4, "manifest.sequence")?;
        let sequence = r.uint("manifest.sequence")?;
        m.require(&mut r, 5, "manifest.image_size")?;
        let image_size = r.uint_in("manifest.image_size", 1, u64::from(u32::MAX))? as u32;
        m.require(&mut r, 6, "manifest.digest")?;
        let digest = read_digest(
            &mut r,
            "manifest.digest",
            "manifest.digest.alg",
            "manifest.digest.value",
        )?;
        let uri = if m.key(&mut r, 7)? {
            Some(r.text("manifest.uri", MAX_URI)?)
        } else {
            None
        };
        m.finish(&mut r)?;
        r.finish("manifest")?;
        Ok(FirmwareManifest {
            vendor_id,
            class_id,
            version,
            sequence,
            image_size,
            digest,
            uri,
        })
    }

    /// Verifies an enveloped manifest against `policy`, in this order: structure (envelope and
    /// COSE: [`Error::Malformed`]), then as [`Error::Update`]: the kid names an update authority
    /// (`UnknownAuthority`), the signature (`BadSignature`), the payload (`Malformed`), vendor
    /// and class (`WrongClass`), sequence above the installed one (`Rollback`), image size
    /// within `max_image_size` (`TooLarge`).
    pub fn verify(policy: &UpdatePolicy<'_>, bytes: &'a [u8]) -> Result<Self, Error> {
        use UpdateRejection as R;
        let sign1 = open_signed(bytes, Kind::FirmwareManifest)?;
        authenticate(&sign1, policy.authorities).map_err(auth_rejection)?;
        let m = Self::decode_problem(sign1.payload).map_err(|_| R::Malformed)?;
        if m.vendor_id != policy.vendor_id || m.class_id != policy.class_id {
            return Err(R::WrongClass.into());
        }
        if m.sequence <= policy.installed_sequence {
            return Err(R::Rollback.into());
        }
        if m.image_size > policy.max_image_size {
            return Err(R::TooLarge.into());
        }
        Ok(m)
    }
}

fn auth_rejection(f: AuthFailure) -> UpdateRejection {
    match f {
        AuthFailure::UnknownAuthority => UpdateRejection::UnknownAuthority,
        AuthFailure::BadSignature => UpdateRejection::BadSignature,
    }
}

/// What a device accepts updates against, provisioned with it (the installed sequence from its
/// own persistent storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdatePolicy<'a> {
    /// This device's vendor id.
    pub vendor_id: [u8; ID_LEN],
    /// This device's class id.
    pub class_id: [u8; ID_LEN],
    /// The sequence number of the installed firmware: only higher ones are accepted.
    pub installed_sequence: u64,
    /// The largest image the device can store.
    pub max_image_size: u32,
    /// Who may sign firmware for this device.
    pub authorities: &'a [AuthorityKey],
}

/// Where a device keeps the image while it arrives (a flash slot, a file). Offsets are from the
/// image's start. Implementations report failures as [`StorageError::Io`].
pub trait ImageStore {
    /// Writes `data` at `offset` (overwriting whatever is there).
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError>;
    /// Fills `buf` from `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError>;
}

/// The read-back rule (spec/MESSAGES.md 5.3.4): reads the first `image_size` bytes of the stored
/// image back from `store` and checks that their SHA-256 is `digest`, the value of a verified
/// manifest. [`Receiving::finish`] calls it; a device that stores chunks itself (or checks an
/// image again at boot, before jumping to it) calls it directly. Fails with
/// `UpdateRejection::DigestMismatch`, or the store's error.
pub fn check_image(
    store: &mut impl ImageStore,
    image_size: u32,
    digest: &[u8; 32],
) -> Result<(), Error> {
    let mut hasher = Sha256::new();
    let mut block = [0u8; READ_BACK_BLOCK];
    let mut offset = 0u32;
    while offset < image_size {
        let n = (image_size - offset).min(READ_BACK_BLOCK as u32);
        let buf = block.get_mut(..n as usize).ok_or(Local::Config)?;
        store.read(offset, buf)?;
        hasher.update(&*buf);
        offset += n;
    }
    let got: [u8; 32] = hasher.finalize().into();
    if &got != digest {
        return Err(UpdateRejection::DigestMismatch.into());
    }
    Ok(())
}

/// The entry point of the update typestate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update;

impl Update {
    /// Verifies a manifest (see [`FirmwareManifest::verify`]) and starts receiving its image
    /// at offset 0.
    pub fn start(policy: &UpdatePolicy<'_>, manifest: &[u8]) -> Result<Receiving, Error> {
        Receiving::resume(manifest, policy, 0)
    }
}

/// An update whose manifest verified, receiving its image chunk by chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiving {
    sequence: u64,
    image_size: u32,
    digest: [u8; 32],
    next: u32,
}

/// How far a transfer is after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More to come, from this offset.
    Receiving {
        /// The offset the next chunk must have.
        next_offset: u32,
    },
    /// Every byte has arrived: call [`Receiving::finish`].
    Complete,
}

impl Receiving {
    /// Continues a transfer after a reboot or a lost link: verifies the manifest again (in full,
    /// against the current policy) and expects the next chunk at `offset`, the value the
    /// application persisted from [`Receiving::next_offset`]. An offset beyond the image is
    /// [`UpdateRejection::SizeMismatch`].
    pub fn resume(manifest: &[u8], policy: &UpdatePolicy<'_>, offset: u32) -> Result<Self, Error> {
        let m = FirmwareManifest::verify(policy, manifest)?;
        if offset > m.image_size {
            return Err(UpdateRejection::SizeMismatch.into());
        }
        Ok(Receiving {
            sequence: m.sequence,
            image_size: m.image_size,
            digest: m.digest,
            next: offset,
        })
    }

    /// The manifest's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The image's size from the manifest.
    pub fn image_size(&self) -> u32 {
        self.image_size
    }

    /// Where the next chunk must start: persist it to resume after a reboot.
    pub fn next_offset(&self) -> u32 {
        self.next
    }

    /// Takes one enveloped [`ImageChunk`] and writes its data to `store`. Checks, in order: the
    /// message decodes ([`Error::Malformed`]); its sequence is the manifest's and its offset the
    /// next expected one ([`UpdateRejection::BadOffset`]); it ends within the image
    /// ([`UpdateRejection::SizeMismatch`]); the store accepts it ([`Error::Storage`]). Only when
    /// all pass does the next offset advance.
    pub fn chunk(&mut self, chunk: &[u8], store: &mut impl ImageStore) -> Result<Progress, Error> {
        let c = ImageChunk::decode(chunk)?;
        if c.sequence != self.sequence || c.offset != self.next {
            return Err(UpdateRejection::BadOffset.into());
        }
        let end = u32::try_from(c.data.len())
            .ok()
            .and_then(|len| c.offset.checked_add(len))
            .filter(|&end| end <= self.image_size)
            .ok_or(UpdateRejection::SizeMismatch)?;
        store.write(c.offset, c.data)?;
        self.next = end;
        Ok(self.progress())
    }

    fn progress(&self) -> Progress {
        if self.next == self.image_size {
            Progress::Complete
        } else {
            Progress::Receiving {
                next_offset: self.next,
            }
        }
    }

    /// Ends the transfer: reads the whole image back from `store` in blocks of
    /// [`READ_BACK_BLOCK`] bytes, hashes it with SHA-256 and compares with the manifest. Fails
    /// with [`UpdateRejection::SizeMismatch`] before the last byte arrived,
    /// [`UpdateRejection::DigestMismatch`] if the stored image is not the signed one (start again
    /// from offset 0), or a storage error (resume from the persisted offset).
    pub fn finish(self, store: &mut impl ImageStore) -> Result<Installable, Error> {
        if self.next != self.image_size {
            return Err(UpdateRejection::SizeMismatch.into());
        }
        check_image(store, self.image_size, &self.digest)?;
        Ok(Installable {
            sequence: self.sequence,
            image_size: self.image_size,
            digest: self.digest,
        })
    }

    /// The status message for this transfer: receiving, with the next offset.
    pub fn status(&self) -> UpdateStatus {
        UpdateStatus {
            sequence: self.sequence,
            state: UpdateState::Receiving,
            next_offset: self.next,
        }
    }
}

/// An image read back from the store and found to match its signed manifest. Install what is in
/// the store now, and keep anything else from writing to it until then; after installing,
/// persist [`Installable::sequence`] as the installed sequence (the anti-rollback floor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installable {
    sequence: u64,
    image_size: u32,
    digest: [u8; 32],
}

impl Installable {
    /// The sequence number to persist as installed.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The image's size.
    pub fn image_size(&self) -> u32 {
        self.image_size
    }

    /// The image's SHA-256 digest (for the audit trail).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The status message: installable.
    pub fn status(&self) -> UpdateStatus {
        UpdateStatus {
            sequence: self.sequence,
            state: UpdateState::Installable,
            next_offset: self.image_size,
        }
    }
}

/// One piece of a firmware image (envelope kind 33). Not signed: the manifest's digest, checked
/// on the stored image, covers every byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageChunk<'a> {
    /// The manifest's sequence number, so chunks of different transfers never mix.
    pub sequence: u64,
    /// Where the data goes in the image.
    pub offset: u32,
    /// 1..=1024 bytes of image.
    pub data: &'a [u8],
}

impl<'a> ImageChunk<'a> {
    /// Writes the message `[33, chunk]`; data outside 1..=1024 bytes is [`Local::Config`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        if self.data.is_empty() || self.data.len() > MAX_CHUNK {
            return Err(Local::Config.into());
        }
        encode_message(Kind::ImageChunk, out, |e| {
            e.map(3)?
                .u8(1)?
                .u64(self.sequence)?
                .u8(2)?
                .u32(self.offset)?
                .u8(3)?
                .bytes(self.data)?;
            Ok(())
        })
    }

    /// Decodes a message `[33, chunk]` strictly, borrowing the data.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = open_message(bytes, Kind::ImageChunk)?;
        let mut m = r.map("chunk", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "chunk.sequence")?;
        let sequence = r.uint("chunk.sequence")?;
        m.require(&mut r, 2, "chunk.offset")?;
        let offset = r.uint_in("chunk.offset", 0, u64::from(u32::MAX))? as u32;
        m.require(&mut r, 3, "chunk.data")?;
        let data = r.bytes("chunk.data", MAX_CHUNK)?;
        if data.is_empty() {
            return Err(problem("chunk.data", ProblemKind::OutOfRange).into());
        }
        m.finish(&mut r)?;
        r.finish("chunk")?;
        Ok(ImageChunk {
            sequence,
            offset,
            data,
        })
    }
}

/// Where an update stands, as the device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateState {
    /// Receiving chunks (1).
    Receiving,
    /// The stored image matched its manifest (2).
    Installable,
    /// The update was refused, and why (3, with the reason code).
    Rejected(UpdateRejection),
}

/// A device's report on an update (envelope kind 34), so the sender knows where to continue or
/// that it must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateStatus {
    /// The manifest's sequence number (0 when a manifest was refused before it could be read).
    pub sequence: u64,
    /// The state.
    pub state: UpdateState,
    /// The offset of the next chunk the device expects.
    pub next_offset: u32,
}

fn update_rejection_from_code(code: u64) -> Option<UpdateRejection> {
    use UpdateRejection as R;
    [
        R::BadSignature,
        R::UnknownAuthority,
        R::WrongClass,
        R::Rollback,
        R::TooLarge,
        R::DigestMismatch,
        R::SizeMismatch,
        R::BadOffset,
        R::Malformed,
    ]
    .into_iter()
    .find(|r| *r as u64 == code)
}

/// The reason code for any error [`Update::start`], [`Receiving::resume`] or
/// [`FirmwareManifest::verify`] returned: the rejection itself, or
/// [`UpdateRejection::Malformed`] for a message that did not parse.
pub fn rejection_of(err: &Error) -> UpdateRejection {
    match err {
        Error::Update(r) => *r,
        _ => UpdateRejection::Malformed,
    }
}

impl UpdateStatus {
    /// A refusal: `sequence` from the manifest if it could be read (else 0) and the offset the
    /// device would continue from (0 when the transfer cannot continue).
    pub fn rejected(sequence: u64, next_offset: u32, reason: UpdateRejection) -> Self {
        UpdateStatus {
            sequence,
            state: UpdateState::Rejected(reason),
            next_offset,
        }
    }

    /// The status for a manifest that [`Update::start`] or [`Receiving::resume`] refused: the
    /// sequence number is taken from the (unverified) payload when it decodes, else 0, so the
    /// sender can match the answer to its manifest; nothing else in it is used.
    pub fn manifest_rejected(manifest: &[u8], reason: UpdateRejection) -> Self {
        let sequence = open_signed(manifest, Kind::FirmwareManifest)
            .ok()
            .and_then(|s| FirmwareManifest::decode_problem(s.payload).ok())
            .map_or(0, |m| m.sequence);
        Self::rejected(sequence, 0, reason)
    }

    /// Writes the message `[34, status]`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let (code, reason) = match self.state {
            UpdateState::Receiving => (1u8, None),
            UpdateState::Installable => (2, None),
            UpdateState::Rejected(r) => (3, Some(r as u8)),
        };
        encode_message(Kind::UpdateStatus, out, |e| {
            e.map(if reason.is_some() { 4 } else { 3 })?
                .u8(1)?
                .u64(self.sequence)?
                .u8(2)?
                .u8(code)?
                .u8(3)?
                .u32(self.next_offset)?;
            if let Some(reason) = reason {
                e.u8(4)?.u8(reason)?;
            }
            Ok(())
        })
    }

    /// Decodes a message `[34, status]` strictly: a reason is present exactly when the state is
    /// rejected, and is a known [`UpdateRejection`] code.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = open_message(bytes, Kind::UpdateStatus)?;
        let mut m = r.map("status", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "status.sequence")?;
        let sequence = r.uint("status.sequence")?;
        m.require(&mut r, 2, "status.state")?;
        let code = r.uint_in("status.state", 1, 3)?;
        m.require(&mut r, 3, "status.next_offset")?;
        let next_offset = r.uint_in("status.next_offset", 0, u64::from(u32::MAX))? as u32;
        let reason = if m.key(&mut r, 4)? {
            Some(r.uint("status.reason")?)
        } else {
            None
        };
        let state = match (code, reason) {
            (1, None) => UpdateState::Receiving,
            (2, None) => UpdateState::Installable,
            (3, Some(c)) => UpdateState::Rejected(
                update_rejection_from_code(c)
                    .ok_or(problem("status.reason", ProblemKind::OutOfRange))?,
            ),
            (3, None) => return Err(problem("status.reason", ProblemKind::Missing).into()),
            _ => return Err(problem("status.reason", ProblemKind::OutOfRange).into()),
        };
        m.finish(&mut r)?;
        r.finish("status")?;
        Ok(UpdateStatus {
            sequence,
            state,
            next_offset,
        })
    }
}

/// A signed notice that a new companion-app version exists (envelope kind 35), so the phone app
/// (or the device showing a prompt) trusts the update's origin and digest, not the store page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppUpdateNotice<'a> {
    /// Which app (for example its bundle id), at most 64 bytes.
    pub app_id: &'a str,
    /// Human-readable version, at most 32 bytes.
    pub version: &'a str,
    /// Monotonic sequence number (anti-rollback for the app).
    pub sequence: u64,
    /// SHA-256 of the app package.
    pub digest: [u8; 32],
    /// Where to get it, at most 128 bytes.
    pub uri: Option<&'a str>,
    /// The lowest device firmware sequence this app version works with.
    pub min_firmware_sequence: Option<u64>,
}

impl<'a> AppUpdateNotice<'a> {
    fn check(&self) -> Result<(), Error> {
        if self.app_id.len() > MAX_APP_ID
            || self.version.len() > MAX_VERSION
            || self.uri.is_some_and(|u| u.len() > MAX_URI)
        {
            return Err(Local::Config.into());
        }
        Ok(())
    }

    fn write_payload(&self, e: &mut Enc<'_>) -> EncResult {
        let n = 4 + u64::from(self.uri.is_some()) + u64::from(self.min_firmware_sequence.is_some());
        e.map(n)?
            .u8(1)?
            .str(self.app_id)?
            .u8(2)?
            .str(self.version)?
            .u8(3)?
            .u64(self.sequence)?
            .u8(4)?;
        write_digest(e, &self.digest)?;
        if let Some(uri) = self.uri {
            e.u8(5)?.str(uri)?;
        }
        if let Some(min) = self.min_firmware_sequence {
            e.u8(6)?.u64(min)?;
        }
        Ok(())
    }

    /// Writes the payload map (the bytes that get signed); over-long text is [`Local::Config`].
    pub fn encode_payload(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        encode_into(out, |e| self.write_payload(e))
    }

    /// Signs the notice and writes the whole message `[35, COSE_Sign1]`.
    pub fn encode(&self, signer: &Signer, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        signer.sign_encoded(Kind::AppUpdateNotice, out, |e| self.write_payload(e))
    }

    /// Decodes a payload map strictly (form only).
    pub fn decode_payload(bytes: &'a [u8]) -> Result<Self, Error> {
        Ok(Self::decode_problem(bytes)?)
    }

    fn decode_problem(bytes: &'a [u8]) -> Result<Self, Problem> {
        let mut r = Reader::new(bytes);
        let mut m = r.map("app_notice", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "app_notice.app_id")?;
        let app_id = r.text("app_notice.app_id", MAX_APP_ID)?;
        m.require(&mut r, 2, "app_notice.version")?;
        let version = r.text("app_notice.version", MAX_VERSION)?;
        m.require(&mut r, 3, "app_notice.sequence")?;
        let sequence = r.uint("app_notice.sequence")?;
        m.require(&mut r, 4, "app_notice.digest")?;
        let digest = read_digest(
            &mut r,
            "app_notice.digest",
            "app_notice.digest.alg",
            "app_notice.digest.value",
        )?;
        let uri = if m.key(&mut r, 5)? {
            Some(r.text("app_notice.uri", MAX_URI)?)
        } else {
            None
        };
        let min_firmware_sequence = if m.key(&mut r, 6)? {
            Some(r.uint("app_notice.min_firmware_sequence")?)
        } else {
            None
        };
        m.finish(&mut r)?;
        r.finish("app_notice")?;
        Ok(AppUpdateNotice {
            app_id,
            version,
            sequence,
            digest,
            uri,
            min_firmware_sequence,
        })
    }

    /// Verifies an enveloped notice, in the manifest's order: structure
    /// ([`Error::Malformed`]), then as [`Error::Update`]: kid (`UnknownAuthority`), signature
    /// (`BadSignature`), payload (`Malformed`), app id equal to `app_id` (`WrongClass`),
    /// sequence above `installed_sequence` (`Rollback`).
    pub fn verify(
        bytes: &'a [u8],
        authorities: &[AuthorityKey],
        app_id: &str,
        installed_sequence: u64,
    ) -> Result<Self, Error> {
        use UpdateRejection as R;
        let sign1 = open_signed(bytes, Kind::AppUpdateNotice)?;
        authenticate(&sign1, authorities).map_err(auth_rejection)?;
        let n = Self::decode_problem(sign1.payload).map_err(|_| R::Malformed)?;
        if n.app_id != app_id {
            return Err(R::WrongClass.into());
        }
        if n.sequence <= installed_sequence {
            return Err(R::Rollback.into());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Malformed;
    use crate::message::cose::test_keys::{SEED1, SEED2};
    use crate::message::cose::MAX_SIGN1_LEN;
    use crate::message::cose::MAX_SIGNED_PAYLOAD;
    use proptest::prelude::*;
    use std::vec::Vec;

    const VENDOR: [u8; 16] = *b"tether-vendor-01";
    const CLASS: [u8; 16] = *b"insulin-pump-p2a";
    const INSTALLED: u64 = 41;

    fn vendor_key() -> Signer {
        Signer::from_seed(&SEED2, b"fw-1").unwrap()
    }

    fn image(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    fn manifest_for(img: &[u8]) -> FirmwareManifest<'static> {
        FirmwareManifest {
            vendor_id: VENDOR,
            class_id: CLASS,
            version: "2.5.0",
            sequence: 42,
            image_size: img.len() as u32,
            digest: Sha256::digest(img).into(),
            uri: None,
        }
    }

    fn enc(m: &FirmwareManifest<'_>, s: &Signer) -> Vec<u8> {
        let mut out = [0u8; MAX_SIGN1_LEN + 4];
        let n = m.encode(s, &mut out).unwrap();
        out[..n].to_vec()
    }

    fn with_policy<R>(f: impl FnOnce(&UpdatePolicy<'_>) -> R) -> R {
        let keys = [
            Signer::from_seed(&SEED1, b"other").unwrap().authority_key(),
            vendor_key().authority_key(),
        ];
        f(&UpdatePolicy {
            vendor_id: VENDOR,
            class_id: CLASS,
            installed_sequence: INSTALLED,
            max_image_size: 4096,
            authorities: &keys,
        })
    }

    fn start(manifest: &[u8]) -> Result<Receiving, Error> {
        with_policy(|p| Update::start(p, manifest))
    }

    fn rejected<T>(r: UpdateRejection) -> Result<T, Error> {
        Err(Error::Update(r))
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct MemStore {
        bytes: Vec<u8>,
        fail_write: bool,
        fail_read: bool,
    }

    impl MemStore {
        fn new(size: usize) -> Self {
            MemStore {
                bytes: std::vec![0xee; size],
                fail_write: false,
                fail_read: false,
            }
        }
    }

    impl ImageStore for MemStore {
        fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
            if self.fail_write {
                return Err(StorageError::Io);
            }
            let o = offset as usize;
            self.bytes
                .get_mut(o..o + data.len())
                .ok_or(StorageError::Io)?
                .copy_from_slice(data);
            Ok(())
        }
        fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
            if self.fail_read {
                return Err(StorageError::Io);
            }
            let o = offset as usize;
            buf.copy_from_slice(self.bytes.get(o..o + buf.len()).ok_or(StorageError::Io)?);
            Ok(())
        }
    }

    fn chunk_msg(sequence: u64, offset: u32, data: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_CHUNK + 32];
        let n = ImageChunk {
            sequence,
            offset,
            data,
        }
        .encode(&mut out)
        .unwrap();
        out[..n].to_vec()
    }

    /// Sends `img[from..]` in chunks of `size`.
    fn send(rx: &mut Receiving, store: &mut MemStore, img: &[u8], from: usize, size: usize) {
        let mut off = from;
        while off < img.len() {
            let end = (off + size).min(img.len());
            let p = rx
                .chunk(&chunk_msg(42, off as u32, &img[off..end]), store)
                .unwrap();
            off = end;
            if off == rx.image_size() as usize {
                assert_eq!(p, Progress::Complete);
            } else {
                assert_eq!(
                    p,
                    Progress::Receiving {
                        next_offset: off as u32
                    }
                );
            }
        }
    }

    #[test]
    fn full_transfer_reads_back_and_is_installable() {
        let img = image(1000);
        let m = enc(&manifest_for(&img), &vendor_key());
        let mut rx = start(&m).unwrap();
        assert_eq!(
            (rx.sequence(), rx.image_size(), rx.next_offset()),
            (42, 1000, 0)
        );
        let mut store = MemStore::new(1000);
        send(&mut rx, &mut store, &img, 0, 300);
        assert_eq!(rx.status().next_offset, 1000);
        let done = rx.finish(&mut store).unwrap();
        assert_eq!(done.sequence(), 42);
        assert_eq!(done.image_size(), 1000);
        assert_eq!(done.digest(), &manifest_for(&img).digest);
        assert_eq!(
            done.status(),
            UpdateStatus {
                sequence: 42,
                state: UpdateState::Installable,
                next_offset: 1000
            }
        );
    }

    #[test]
    fn store_altered_after_streaming_is_a_digest_mismatch() {
        let img = image(700);
        let m = enc(&manifest_for(&img), &vendor_key());
        for at in [0, 255, 256, 699] {
            let mut rx = start(&m).unwrap();
            let mut store = MemStore::new(700);
            send(&mut rx, &mut store, &img, 0, 1024);
            // Every chunk streamed past was right; the stored copy is what counts.
            store.bytes[at] ^= 0x20;
            assert_eq!(
                rx.finish(&mut store),
                rejected(UpdateRejection::DigestMismatch)
            );
        }
    }

    #[test]
    fn image_not_matching_its_manifest_is_a_digest_mismatch() {
        let img = image(100);
        let mut man = manifest_for(&img);
        man.digest[0] ^= 1;
        let mut rx = start(&enc(&man, &vendor_key())).unwrap();
        let mut store = MemStore::new(100);
        send(&mut rx, &mut store, &img, 0, 64);
        assert_eq!(
            rx.finish(&mut store),
            rejected(UpdateRejection::DigestMismatch)
        );
    }

    #[test]
    fn resumed_transfer_completes() {
        let img = image(2500);
        let m = enc(&manifest_for(&img), &vendor_key());
        let mut store = MemStore::new(2500);
        let saved = {
            let mut rx = start(&m).unwrap();
            send(&mut rx, &mut store, &img[..1024], 0, 512);
            rx.next_offset()
        }; // reboot: the Receiving is gone, the offset was persisted
        assert_eq!(saved, 1024);
        let mut rx = with_policy(|p| Receiving::resume(&m, p, saved)).unwrap();
        assert_eq!(rx.next_offset(), 1024);
        // A chunk from before the reboot is out of place now.
        assert_eq!(
            rx.chunk(&chunk_msg(42, 512, &img[512..1024]), &mut store),
            rejected(UpdateRejection::BadOffset)
        );
        send(&mut rx, &mut store, &img, 1024, 1024);
        assert_eq!(rx.finish(&mut store).unwrap().sequence(), 42);
        // Resuming past the end of the image is refused.
        assert_eq!(
            with_policy(|p| Receiving::resume(&m, p, 2501)),
            rejected(UpdateRejection::SizeMismatch)
        );
        // Resuming at the end goes straight to finish.
        let rx = with_policy(|p| Receiving::resume(&m, p, 2500)).unwrap();
        assert!(rx.finish(&mut store).is_ok());
    }

    /// Offers `chunk` to a transfer at offset 100 of a 300-byte image; checks that a
    /// rejection changes neither the transfer nor the store.
    fn offer(chunk: &[u8]) -> Result<Progress, Error> {
        let img = image(300);
        let m = enc(&manifest_for(&img), &vendor_key());
        let mut rx = start(&m).unwrap();
        let mut store = MemStore::new(300);
        send(&mut rx, &mut store, &img[..100], 0, 100);
        let (rx_before, store_before) = (rx.clone(), store.clone());
        let r = rx.chunk(chunk, &mut store);
        if r.is_err() {
            assert_eq!(rx, rx_before);
            assert_eq!(store, store_before);
        }
        r
    }

    #[test]
    fn chunk_at_the_wrong_offset() {
        let d = [1u8; 10];
        for off in [0, 99, 101, 290] {
            assert_eq!(
                offer(&chunk_msg(42, off, &d)),
                rejected(UpdateRejection::BadOffset),
                "{off}"
            );
        }
        assert_eq!(
            offer(&chunk_msg(42, 100, &d)),
            Ok(Progress::Receiving { next_offset: 110 })
        );
    }

    #[test]
    fn chunk_of_another_transfer_is_a_bad_offset() {
        for seq in [41, 43, 0] {
            assert_eq!(
                offer(&chunk_msg(seq, 100, &[1; 10])),
                rejected(UpdateRejection::BadOffset)
            );
        }
    }

    #[test]
    fn chunk_beyond_the_image_is_a_size_mismatch() {
        assert_eq!(
            offer(&chunk_msg(42, 100, &[1; 201])),
            rejected(UpdateRejection::SizeMismatch)
        );
        assert_eq!(
            offer(&chunk_msg(42, 100, &[1; 200])),
            Ok(Progress::Complete)
        );
        // Nothing is accepted after the last byte.
        let img = image(10);
        let mut rx = start(&enc(&manifest_for(&img), &vendor_key())).unwrap();
        let mut store = MemStore::new(10);
        send(&mut rx, &mut store, &img, 0, 10);
        assert_eq!(
            rx.chunk(&chunk_msg(42, 10, &[0]), &mut store),
            rejected(UpdateRejection::SizeMismatch)
        );
        assert!(rx.finish(&mut store).is_ok());
    }

    #[test]
    fn finish_before_the_last_byte_is_a_size_mismatch() {
        let img = image(300);
        let mut rx = start(&enc(&manifest_for(&img), &vendor_key())).unwrap();
        let mut store = MemStore::new(300);
        send(&mut rx, &mut store, &img[..299], 0, 100);
        assert_eq!(
            rx.finish(&mut store),
            rejected(UpdateRejection::SizeMismatch)
        );
    }

    #[test]
    fn malformed_chunk_and_storage_failures_change_nothing() {
        assert!(matches!(
            offer(&[0x82, 0x18, 0x21, 0xa0]),
            Err(Error::Malformed(Malformed::Message(_)))
        ));
        let mut ack = chunk_msg(42, 100, &[1; 10]);
        ack[2] = 0x22; // kind UpdateStatus
        assert!(matches!(offer(&ack), Err(Error::Malformed(_))));
        // A failing write leaves the offset where it was.
        let img = image(300);
        let mut rx = start(&enc(&manifest_for(&img), &vendor_key())).unwrap();
        let mut store = MemStore::new(300);
        store.fail_write = true;
        assert_eq!(
            rx.chunk(&chunk_msg(42, 0, &img[..100]), &mut store),
            Err(Error::Storage(StorageError::Io))
        );
        assert_eq!(rx.next_offset(), 0);
        store.fail_write = false;
        send(&mut rx, &mut store, &img, 0, 100);
        store.fail_read = true;
        assert_eq!(rx.finish(&mut store), Err(Error::Storage(StorageError::Io)));
    }

    fn good_manifest() -> FirmwareManifest<'static> {
        manifest_for(&image(100))
    }

    #[test]
    fn manifest_accepted() {
        assert!(start(&enc(&good_manifest(), &vendor_key())).is_ok());
        let m = FirmwareManifest {
            image_size: 4096,
            sequence: INSTALLED + 1,
            ..good_manifest()
        };
        assert!(start(&enc(&m, &vendor_key())).is_ok());
    }

    #[test]
    fn manifest_unknown_authority() {
        let stranger = Signer::from_seed(&[9; 32], b"fw-9").unwrap();
        assert_eq!(
            start(&enc(&good_manifest(), &stranger)),
            rejected(UpdateRejection::UnknownAuthority)
        );
    }

    #[test]
    fn manifest_bad_signature() {
        let impostor = Signer::from_seed(&[9; 32], b"fw-1").unwrap();
        assert_eq!(
            start(&enc(&good_manifest(), &impostor)),
            rejected(UpdateRejection::BadSignature)
        );
    }

    #[test]
    fn manifest_malformed_payload() {
        let mut out = [0u8; 128];
        for payload in [&b"\xa1\x01\x41\x00"[..], b"\xa0", b"", b"\x00"] {
            let n = vendor_key()
                .sign_message(Kind::FirmwareManifest, payload, &mut out)
                .unwrap();
            assert_eq!(start(&out[..n]), rejected(UpdateRejection::Malformed));
        }
    }

    #[test]
    fn manifest_wrong_class() {
        let mut m = good_manifest();
        m.vendor_id[15] ^= 1;
        assert_eq!(
            start(&enc(&m, &vendor_key())),
            rejected(UpdateRejection::WrongClass)
        );
        let mut m = good_manifest();
        m.class_id[0] ^= 1;
        assert_eq!(
            start(&enc(&m, &vendor_key())),
            rejected(UpdateRejection::WrongClass)
        );
    }

    #[test]
    fn manifest_rollback() {
        for seq in [0, 40, INSTALLED] {
            let m = FirmwareManifest {
                sequence: seq,
                ..good_manifest()
            };
            assert_eq!(
                start(&enc(&m, &vendor_key())),
                rejected(UpdateRejection::Rollback)
            );
        }
    }

    #[test]
    fn manifest_too_large() {
        let m = FirmwareManifest {
            image_size: 4097,
            ..good_manifest()
        };
        assert_eq!(
            start(&enc(&m, &vendor_key())),
            rejected(UpdateRejection::TooLarge)
        );
    }

    #[test]
    fn manifest_checks_run_in_order() {
        let img = image(100);
        let good = manifest_for(&img);
        // Wrong class and rollback and too large: class first.
        let m = FirmwareManifest {
            class_id: [0; 16],
            sequence: 1,
            image_size: 9999,
            ..good
        };
        assert_eq!(
            start(&enc(&m, &vendor_key())),
            rejected(UpdateRejection::WrongClass)
        );
        // Rollback and too large: rollback first.
        let m = FirmwareManifest {
            sequence: 1,
            image_size: 9999,
            ..good
        };
        assert_eq!(
            start(&enc(&m, &vendor_key())),
            rejected(UpdateRejection::Rollback)
        );
        // Bad signature on a manifest for another class: signature first.
        let impostor = Signer::from_seed(&[9; 32], b"fw-1").unwrap();
        let m = FirmwareManifest {
            class_id: [0; 16],
            ..good
        };
        assert_eq!(
            start(&enc(&m, &impostor)),
            rejected(UpdateRejection::BadSignature)
        );
    }

    #[test]
    fn tampered_manifest_and_other_algorithm() {
        let img = image(100);
        let good = enc(&manifest_for(&img), &vendor_key());
        // [0x82, 0x18, 0x20, 0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27, ...]
        assert_eq!(
            &good[..9],
            &[0x82, 0x18, 0x20, 0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27]
        );
        let mut b = good.clone();
        b[8] = 0x26;
        assert_eq!(
            start(&b),
            Err(Problem::new("cose.protected", ProblemKind::OutOfRange).into())
        );
        let n = good.len();
        let mut b = good.clone();
        b[n - 1] ^= 1;
        assert_eq!(start(&b), rejected(UpdateRejection::BadSignature));
        // A digest byte inside the payload (right before the signature's 2-byte head).
        let mut b = good.clone();
        b[n - 67] ^= 1;
        assert_eq!(start(&b), rejected(UpdateRejection::BadSignature));
    }

    #[test]
    fn payload_bytes_and_strictness() {
        let m = FirmwareManifest {
            vendor_id: [1; 16],
            class_id: [2; 16],
            version: "1",
            sequence: 3,
            image_size: 4,
            digest: [5; 32],
            uri: Some("u"),
        };
        let mut out = [0u8; 256];
        let n = m.encode_payload(&mut out).unwrap();
        let mut want = std::vec![0xa7, 1, 0x50];
        want.extend_from_slice(&[1; 16]);
        want.extend_from_slice(&[2, 0x50]);
        want.extend_from_slice(&[2; 16]);
        want.extend_from_slice(&[3, 0x61, b'1', 4, 3, 5, 4, 6, 0x82, 0x2f, 0x58, 0x20]);
        want.extend_from_slice(&[5; 32]);
        want.extend_from_slice(&[7, 0x61, b'u']);
        assert_eq!(&out[..n], &want[..]);
        assert_eq!(FirmwareManifest::decode_payload(&want), Ok(m));
        let bad = |b: &[u8]| match FirmwareManifest::decode_payload(b) {
            Err(Error::Malformed(Malformed::Message(p))) => p,
            other => panic!("{other:?}"),
        };
        // Another digest algorithm (-44, SHA-512).
        let mut b = want.clone();
        let i = 3 + 16 + 2 + 16 + 8 + 1;
        assert_eq!(b[i], 0x2f);
        b[i] = 0x38;
        b.insert(i + 1, 43);
        assert_eq!(
            bad(&b),
            Problem::new("manifest.digest.alg", ProblemKind::OutOfRange)
        );
        // Image size 0.
        let mut b = want.clone();
        b[i - 3] = 0;
        assert_eq!(
            bad(&b),
            Problem::new("manifest.image_size", ProblemKind::OutOfRange)
        );
        // A 15-byte vendor id.
        let mut b = std::vec![0xa6, 1, 0x4f];
        b.extend_from_slice(&[1; 15]);
        assert_eq!(
            bad(&b),
            Problem::new("manifest.vendor_id", ProblemKind::OutOfRange)
        );
        // Version too long.
        let long = FirmwareManifest {
            version: "123456789012345678901234567890123",
            ..m
        };
        assert_eq!(long.encode_payload(&mut out), Err(Local::Config.into()));
        let zero = FirmwareManifest { image_size: 0, ..m };
        assert_eq!(zero.encode_payload(&mut out), Err(Local::Config.into()));
    }

    #[test]
    fn chunk_and_status_bytes() {
        let mut out = [0u8; 64];
        let n = ImageChunk {
            sequence: 42,
            offset: 256,
            data: &[0xaa, 0xbb],
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            &out[..n],
            &[0x82, 0x18, 0x21, 0xa3, 1, 0x18, 42, 2, 0x19, 1, 0, 3, 0x42, 0xaa, 0xbb]
        );
        let empty = ImageChunk {
            sequence: 1,
            offset: 0,
            data: &[],
        };
        assert_eq!(empty.encode(&mut out), Err(Local::Config.into()));
        assert_eq!(
            ImageChunk::decode(&[0x82, 0x18, 0x21, 0xa3, 1, 1, 2, 0, 3, 0x40]),
            Err(Problem::new("chunk.data", ProblemKind::OutOfRange).into())
        );
        let s = UpdateStatus::rejected(42, 0, UpdateRejection::DigestMismatch);
        let n = s.encode(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            &[0x82, 0x18, 0x22, 0xa4, 1, 0x18, 42, 2, 3, 3, 0, 4, 6]
        );
        assert_eq!(UpdateStatus::decode(&out[..n]), Ok(s));
        // Reason with a non-rejected state, rejected without reason, unknown reason.
        for (b, p) in [
            (
                &[0x82, 0x18, 0x22, 0xa4, 1, 1, 2, 1, 3, 0, 4, 6][..],
                Problem::new("status.reason", ProblemKind::OutOfRange),
            ),
            (
                &[0x82, 0x18, 0x22, 0xa3, 1, 1, 2, 3, 3, 0][..],
                Problem::new("status.reason", ProblemKind::Missing),
            ),
            (
                &[0x82, 0x18, 0x22, 0xa4, 1, 1, 2, 3, 3, 0, 4, 10][..],
                Problem::new("status.reason", ProblemKind::OutOfRange),
            ),
            (
                &[0x82, 0x18, 0x22, 0xa3, 1, 1, 2, 4, 3, 0][..],
                Problem::new("status.state", ProblemKind::OutOfRange),
            ),
        ] {
            assert_eq!(UpdateStatus::decode(b), Err(p.into()));
        }
    }

    fn notice() -> AppUpdateNotice<'static> {
        AppUpdateNotice {
            app_id: "com.example.pump",
            version: "3.1.0",
            sequence: 310,
            digest: [0x11; 32],
            uri: Some("https://apps.example/pump"),
            min_firmware_sequence: Some(42),
        }
    }

    fn enc_notice(n: &AppUpdateNotice<'_>, s: &Signer) -> Vec<u8> {
        let mut out = [0u8; MAX_SIGN1_LEN + 4];
        let k = n.encode(s, &mut out).unwrap();
        out[..k].to_vec()
    }

    #[test]
    fn app_notice_verification() {
        let keys = [vendor_key().authority_key()];
        let v = |b: &[u8]| -> Result<(), Error> {
            AppUpdateNotice::verify(b, &keys, "com.example.pump", 300).map(|_| ())
        };
        let good = enc_notice(&notice(), &vendor_key());
        assert_eq!(
            AppUpdateNotice::verify(&good, &keys, "com.example.pump", 300),
            Ok(notice())
        );
        let minimal = AppUpdateNotice {
            uri: None,
            min_firmware_sequence: None,
            ..notice()
        };
        assert_eq!(
            AppUpdateNotice::verify(
                &enc_notice(&minimal, &vendor_key()),
                &keys,
                "com.example.pump",
                0
            ),
            Ok(minimal)
        );
        let stranger = Signer::from_seed(&[9; 32], b"fw-9").unwrap();
        assert_eq!(
            v(&enc_notice(&notice(), &stranger)),
            rejected(UpdateRejection::UnknownAuthority)
        );
        let impostor = Signer::from_seed(&[9; 32], b"fw-1").unwrap();
        assert_eq!(
            v(&enc_notice(&notice(), &impostor)),
            rejected(UpdateRejection::BadSignature)
        );
        let mut out = [0u8; 128];
        let n = vendor_key()
            .sign_message(Kind::AppUpdateNotice, b"\xa0", &mut out)
            .unwrap();
        assert_eq!(v(&out[..n]), rejected(UpdateRejection::Malformed));
        let other = AppUpdateNotice {
            app_id: "com.example.other",
            ..notice()
        };
        assert_eq!(
            v(&enc_notice(&other, &vendor_key())),
            rejected(UpdateRejection::WrongClass)
        );
        let old = AppUpdateNotice {
            sequence: 300,
            ..notice()
        };
        assert_eq!(
            v(&enc_notice(&old, &vendor_key())),
            rejected(UpdateRejection::Rollback)
        );
        // A manifest is not a notice.
        let img = image(10);
        assert_eq!(
            v(&enc(&manifest_for(&img), &vendor_key())),
            Err(Problem::new("message.kind", ProblemKind::OutOfRange).into())
        );
    }

    #[test]
    fn status_for_a_rejected_manifest() {
        let img = image(10);
        let m = FirmwareManifest {
            sequence: 7,
            ..manifest_for(&img)
        };
        let b = enc(&m, &vendor_key());
        let err = start(&b).unwrap_err();
        assert_eq!(err, UpdateRejection::Rollback.into());
        assert_eq!(
            UpdateStatus::manifest_rejected(&b, rejection_of(&err)),
            UpdateStatus {
                sequence: 7,
                state: UpdateState::Rejected(UpdateRejection::Rollback),
                next_offset: 0
            }
        );
        let err = start(&b[..30]).unwrap_err();
        assert_eq!(
            UpdateStatus::manifest_rejected(&b[..30], rejection_of(&err)),
            UpdateStatus::rejected(0, 0, UpdateRejection::Malformed)
        );
    }

    #[test]
    fn rejection_codes() {
        assert_eq!(
            rejection_of(&UpdateRejection::Rollback.into()),
            UpdateRejection::Rollback
        );
        assert_eq!(
            rejection_of(&Problem::new("x", ProblemKind::Truncated).into()),
            UpdateRejection::Malformed
        );
        for c in 1..=9 {
            assert_eq!(update_rejection_from_code(c).map(|r| r as u64), Some(c));
        }
        assert_eq!(update_rejection_from_code(0), None);
        assert_eq!(update_rejection_from_code(10), None);
    }

    fn any_state() -> impl Strategy<Value = UpdateState> {
        prop_oneof![
            Just(UpdateState::Receiving),
            Just(UpdateState::Installable),
            (1u64..=9).prop_map(|c| UpdateState::Rejected(update_rejection_from_code(c).unwrap())),
        ]
    }

    proptest! {
        #[test]
        fn manifest_round_trip(
            vendor in any::<[u8; 16]>(),
            class in any::<[u8; 16]>(),
            version in "[ -~]{0,32}",
            sequence in any::<u64>(),
            size in 1u32..,
            digest in any::<[u8; 32]>(),
            uri in proptest::option::of("[a-z:/.]{0,128}"),
        ) {
            let m = FirmwareManifest {
                vendor_id: vendor,
                class_id: class,
                version: &version,
                sequence,
                image_size: size,
                digest,
                uri: uri.as_deref(),
            };
            let mut out = [0u8; MAX_SIGNED_PAYLOAD];
            let n = m.encode_payload(&mut out).unwrap();
            prop_assert_eq!(FirmwareManifest::decode_payload(&out[..n]), Ok(m));
            let signed = enc(&m, &vendor_key());
            let policy = UpdatePolicy {
                vendor_id: vendor,
                class_id: class,
                installed_sequence: sequence.saturating_sub(1),
                max_image_size: u32::MAX,
                authorities: &[vendor_key().authority_key()],
            };
            if sequence > 0 {
                prop_assert_eq!(FirmwareManifest::verify(&policy, &signed), Ok(m));
            }
        }

        #[test]
        fn chunk_round_trip(sequence in any::<u64>(), offset in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 1..=MAX_CHUNK)) {
            let c = ImageChunk { sequence, offset, data: &data };
            let mut out = [0u8; MAX_CHUNK + 32];
            let n = c.encode(&mut out).unwrap();
            prop_assert_eq!(ImageChunk::decode(&out[..n]), Ok(c));
            for k in 0..n {
                prop_assert!(ImageChunk::decode(&out[..k]).is_err());
            }
        }

        #[test]
        fn status_round_trip(sequence in any::<u64>(), state in any_state(), next in any::<u32>()) {
            let s = UpdateStatus { sequence, state, next_offset: next };
            let mut out = [0u8; 64];
            let n = s.encode(&mut out).unwrap();
            prop_assert_eq!(UpdateStatus::decode(&out[..n]), Ok(s));
            for k in 0..n {
                prop_assert!(UpdateStatus::decode(&out[..k]).is_err());
            }
        }

        #[test]
        fn notice_round_trip(app in "[a-z.]{0,64}", seq in any::<u64>(), min in proptest::option::of(any::<u64>())) {
            let n = AppUpdateNotice { app_id: &app, min_firmware_sequence: min, sequence: seq, ..notice() };
            let mut out = [0u8; MAX_SIGNED_PAYLOAD];
            let k = n.encode_payload(&mut out).unwrap();
            prop_assert_eq!(AppUpdateNotice::decode_payload(&out[..k]), Ok(n));
        }

        #[test]
        fn any_single_byte_change_of_a_manifest_is_rejected(at in any::<usize>(), x in 1u8..=255) {
            let img = image(100);
            let mut b = enc(&manifest_for(&img), &vendor_key());
            let i = at % b.len();
            b[i] ^= x;
            prop_assert!(start(&b).is_err());
        }

        #[test]
        fn truncated_manifest_is_rejected(uri in proptest::option::of("[a-z]{0,128}")) {
            let img = image(100);
            let m = FirmwareManifest { uri: uri.as_deref(), ..manifest_for(&img) };
            let b = enc(&m, &vendor_key());
            prop_assert!(start(&b).is_ok());
            for n in 0..b.len() {
                prop_assert!(start(&b[..n]).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = start(&b);
            let _ = ImageChunk::decode(&b);
            let _ = UpdateStatus::decode(&b);
            let _ = FirmwareManifest::decode_payload(&b);
            let _ = AppUpdateNotice::verify(&b, &[vendor_key().authority_key()], "a", 0);
            let img = image(300);
            let mut rx = start(&enc(&manifest_for(&img), &vendor_key())).unwrap();
            let before = rx.clone();
            let mut store = MemStore::new(300);
            if rx.chunk(&b, &mut store).is_err() {
                prop_assert_eq!(rx, before);
            }
        }
    }
}
