//! The device-side checks of signed messages on arbitrary bytes and on genuine messages mutated by
//! the input: command verification, manifest verification, app update notices, and a firmware
//! transfer fed fuzzer-chosen chunks. Never a panic; a refusal is a command or update rejection
//! or a malformed message, and changes nothing (the verifier's last id, the transfer's offset);
//! anything accepted from mutated bytes is the genuine message itself (nothing can be altered
//! under an Ed25519 signature); a transfer finishes only with the genuine image in the store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::message::command::{
    Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant, ParamRule, Params,
};
use tether::message::cose::{AuthorityKey, Signer};
use tether::message::update::{
    AppUpdateNotice, FirmwareManifest, ImageChunk, ImageStore, Progress, Update, UpdatePolicy,
    UpdateStatus,
};
use tether::*;
use tether_fuzz::mutate;

const NOW: u64 = 1_790_000_000_000;
const DEVICE: &[u8] = b"SN-0001";
const VENDOR: [u8; 16] = *b"tether-vendor-01";
const CLASS: [u8; 16] = *b"insulin-pump-p2a";
const IMAGE_LEN: usize = 300;

fn signer() -> Signer {
    Signer::from_seed(&[0x42; 32], b"clinic").unwrap()
}

fn image() -> Vec<u8> {
    (0..IMAGE_LEN).map(|i| (i * 7 + 3) as u8).collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn refused(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Command(_) | Error::Update(_) | Error::Malformed(Malformed::Message(_))
        ),
        "{e:?}"
    );
}

struct Store(Vec<u8>);

impl ImageStore for Store {
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let end = offset as usize + data.len();
        self.0.get_mut(offset as usize..end).ok_or(StorageError::Io)?.copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let end = offset as usize + buf.len();
        buf.copy_from_slice(self.0.get(offset as usize..end).ok_or(StorageError::Io)?);
        Ok(())
    }
}

fn command_bytes() -> Vec<u8> {
    let cmd = Command {
        device_id: DEVICE,
        command_id: 7,
        issued_ms: NOW - 1_000,
        expires_ms: NOW + 60_000,
        operation: 1,
        params: Params::new(&[(1, 1250)]).unwrap(),
    };
    let mut out = vec![0u8; 1024];
    let n = cmd.encode(&signer(), &mut out).unwrap();
    out.truncate(n);
    out
}

fn manifest_bytes() -> Vec<u8> {
    let m = FirmwareManifest {
        vendor_id: VENDOR,
        class_id: CLASS,
        version: "3.1.0",
        sequence: 42,
        image_size: IMAGE_LEN as u32,
        digest: sha256(&image()),
        uri: None,
    };
    let mut out = vec![0u8; 1024];
    let n = m.encode(&signer(), &mut out).unwrap();
    out.truncate(n);
    out
}

fn commands(bytes: &[u8], genuine: &[u8], key: AuthorityKey) {
    let rules = [ParamRule { id: 1, min: 0, max: 5000, required: true }];
    let grants = [Grant { operation: 1, params: &rules }];
    let authorities = [CommandAuthority { key, grants: &grants }];
    let policy = CommandPolicy { device_id: DEVICE, authorities: &authorities, max_clock_skew_ms: 60_000 };
    let mut v = CommandVerifier::new(5);
    match v.verify(&policy, bytes, NOW) {
        Ok(c) => {
            assert_eq!(bytes, genuine, "an altered command was accepted");
            assert_eq!(c.command().command_id, 7);
            assert_eq!(v.last_accepted(), 7);
        }
        Err(e) => {
            refused(&e);
            assert_eq!(v.last_accepted(), 5, "a refused command changed the verifier");
            // An acknowledgement can always be built for it, and round-trips.
            let ack = CommandAck::rejected(bytes, tether::message::command::rejection_of(&e), NOW);
            let mut out = [0u8; 64];
            let n = ack.encode(&mut out).unwrap();
            assert_eq!(CommandAck::decode(&out[..n]).unwrap(), ack);
        }
    }
}

fn updates(bytes: &[u8], genuine: &[u8], keys: &[AuthorityKey], chunks: &[u8]) {
    let policy = UpdatePolicy {
        vendor_id: VENDOR,
        class_id: CLASS,
        installed_sequence: 41,
        max_image_size: 4096,
        authorities: keys,
    };
    match FirmwareManifest::verify(&policy, bytes) {
        Ok(m) => {
            assert_eq!(bytes, genuine, "an altered manifest was accepted");
            assert_eq!(m.sequence, 42);
        }
        Err(e) => refused(&e),
    }
    if let Err(e) = AppUpdateNotice::verify(bytes, keys, "com.example.pump", 1) {
        refused(&e);
    }
    // A transfer under the genuine manifest, fed chunks cut from the input: each chunk either
    // moves the offset by exactly its length or is refused and moves nothing.
    let Ok(mut rx) = Update::start(&policy, genuine) else {
        panic!("the genuine manifest is refused");
    };
    let mut store = Store(vec![0u8; IMAGE_LEN]);
    let img = image();
    for piece in chunks.chunks(5) {
        let &[mode, a, b, len, flip] = piece else { break };
        let offset = if mode & 1 == 0 { rx.next_offset() } else { u32::from(a) * 3 + u32::from(b) };
        let start = (offset as usize).min(IMAGE_LEN);
        let end = (start + usize::from(len) + 1).min(IMAGE_LEN + 8);
        let mut data: Vec<u8> = (start..end).map(|i| img.get(i).copied().unwrap_or(0)).collect();
        if mode & 2 != 0 {
            if let Some(d) = data.first_mut() {
                *d ^= flip;
            }
        }
        let seq = if mode & 4 != 0 { 43 } else { 42 };
        let mut msg = [0u8; 1200];
        let Ok(n) = (ImageChunk { sequence: seq, offset, data: &data }).encode(&mut msg) else {
            continue;
        };
        let before = rx.next_offset();
        match rx.chunk(&msg[..n], &mut store) {
            Ok(p) => {
                assert_eq!(rx.next_offset(), before + data.len() as u32);
                if matches!(p, Progress::Complete) {
                    break;
                }
            }
            Err(e) => {
                refused(&e);
                assert_eq!(rx.next_offset(), before, "a refused chunk moved the offset");
            }
        }
        let mut st = [0u8; 64];
        let n = rx.status().encode(&mut st).unwrap();
        assert_eq!(UpdateStatus::decode(&st[..n]).unwrap(), rx.status());
    }
    if rx.next_offset() as usize == IMAGE_LEN {
        match rx.finish(&mut store) {
            Ok(done) => {
                assert_eq!(store.0, img, "an image other than the manifest's was accepted");
                assert_eq!(done.sequence(), 42);
            }
            Err(e) => {
                refused(&e);
                assert_ne!(store.0, img, "the genuine image was refused");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = signer().authority_key();
    let cmd = command_bytes();
    let manifest = manifest_bytes();
    let (input, chunks) = rest.split_at(rest.len() / 2);
    let bytes = match mode % 3 {
        0 => input.to_vec(),
        1 => mutate(&cmd, input),
        _ => mutate(&manifest, input),
    };
    commands(&bytes, &cmd, key);
    updates(&bytes, &manifest, &[key], chunks);
});
