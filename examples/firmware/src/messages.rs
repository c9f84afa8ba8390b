//! The message layer on the device, against the spec's message vectors: a vitals batch encoded
//! byte for byte as `spec/vectors/messages_telemetry.json` has it, a signed therapy command
//! verified (and a forged and a replayed copy refused) with its acknowledgement, and a signed
//! firmware manifest verified (a forged one refused), its image received in chunks and checked
//! by reading it back from storage.
//!
//! Runs after the session replay, on the same stack and heap, so the footprint figures cover both.
//! Nothing here allocates.

use tether::message::command::{
    AckStatus, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant, ParamRule,
};
use tether::message::cose::AuthorityKey;
use tether::message::decimal::{Decimal, Value};
use tether::message::update::{FirmwareManifest, ImageStore, Progress, Update, UpdatePolicy};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::{CommandRejection, Error, StorageError, UpdateRejection};

use crate::device::{check, expect_err, At, Failure};
use crate::say;

mod vectors {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}
use vectors::*;

/// Room for any message this device builds or checks here.
const MESSAGE: usize = 256;

pub fn run() -> Result<(), Failure> {
    vitals()?;
    command()?;
    update()?;
    Ok(())
}

/// A vitals batch, encoded from readings as a sensor task would hand them over.
#[inline(never)]
fn vitals() -> Result<(), Failure> {
    let mut channels = [Channel::Known {
        code: VitalCode::SpO2,
        exponent: 0,
    }; 2];
    check(VITALS_CHANNELS.len() == channels.len(), "vitals channels")?;
    for (slot, &(table, exponent)) in channels.iter_mut().zip(VITALS_CHANNELS) {
        let code = VitalCode::from_table_code(table);
        let Some(code) = code else {
            return check(false, "vitals table code");
        };
        *slot = Channel::Known { code, exponent };
    }
    let mut out = [0u8; MESSAGE];
    let n = VitalsBatch::encode(
        VITALS_BASE,
        VITALS_TICK,
        &channels,
        &VITALS_READINGS,
        &mut out,
    )
    .at("encode a vitals batch")?;
    check(out.get(..n) == Some(VITALS), "vitals batch bytes")?;
    let batch = VitalsBatch::decode(VITALS).at("decode the vitals batch")?;
    check(
        batch.readings().eq(VITALS_READINGS.iter().copied()),
        "vitals batch round trip",
    )?;
    say!(
        "[device] vitals batch: ",
        VITALS_READINGS.len(),
        " readings in ",
        n,
        " bytes: matches the vector"
    );
    Ok(())
}

/// A therapy command from the clinic's authority: accepted once, acknowledged; forged and
/// replayed copies refused without changing the verifier.
#[inline(never)]
fn command() -> Result<(), Failure> {
    let key = AuthorityKey::from_bytes(CLINIC_KID, &CLINIC_PUBLIC).at("clinic key")?;
    let authorities = [CommandAuthority {
        key,
        grants: &GRANTS,
    }];
    let policy = CommandPolicy {
        device_id: DEVICE_ID,
        authorities: &authorities,
        max_clock_skew_ms: MAX_CLOCK_SKEW_MS,
    };
    let mut verifier = CommandVerifier::new(COMMAND_LAST_ACCEPTED);

    // Forged: one bit of the signature (the last byte of the message) flipped.
    let mut forged = [0u8; MESSAGE];
    let forged = forged
        .get_mut(..COMMAND.len())
        .ok_or(fail("command buffer"))?;
    forged.copy_from_slice(COMMAND);
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    expect_err(
        verifier.verify(&policy, forged, COMMAND_NOW_MS),
        Error::Command(CommandRejection::BadSignature),
        "a forged command is refused",
    )?;
    check(
        verifier.last_accepted() == COMMAND_LAST_ACCEPTED,
        "a forged command changes nothing",
    )?;

    let verified = verifier
        .verify(&policy, COMMAND, COMMAND_NOW_MS)
        .at("verify the command")?;
    let id = verified.command().command_id;
    check(id == COMMAND_ID, "command id")?;
    check(
        verifier.last_accepted() == COMMAND_ID,
        "command id recorded",
    )?;
    let ack = CommandAck {
        command_id: id,
        status: AckStatus::Accepted,
        time_ms: ACK_TIME_MS,
    };
    let mut out = [0u8; MESSAGE];
    let n = ack.encode(&mut out).at("encode the acknowledgement")?;
    check(out.get(..n) == Some(ACK), "acknowledgement bytes")?;

    expect_err(
        verifier.verify(&policy, COMMAND, COMMAND_NOW_MS),
        Error::Command(CommandRejection::Replayed),
        "a replayed command is refused",
    )?;
    say!(
        "[device] command ",
        id as u32,
        ": verified and acknowledged; a forged and a replayed copy were refused"
    );
    Ok(())
}

/// The image in RAM, standing in for the firmware's update slot in flash.
struct Slot([u8; IMAGE.len()]);

impl ImageStore for Slot {
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let start = offset as usize;
        let to = self
            .0
            .get_mut(start..start + data.len())
            .ok_or(StorageError::Io)?;
        to.copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let start = offset as usize;
        let from = self
            .0
            .get(start..start + buf.len())
            .ok_or(StorageError::Io)?;
        buf.copy_from_slice(from);
        Ok(())
    }
}

/// A firmware update: the manifest verified (a forged one refused), the image received and
/// checked as stored.
#[inline(never)]
fn update() -> Result<(), Failure> {
    let keys = [AuthorityKey::from_bytes(VENDOR_KID, &VENDOR_PUBLIC).at("vendor key")?];
    let policy = UpdatePolicy {
        vendor_id: VENDOR_ID,
        class_id: CLASS_ID,
        installed_sequence: INSTALLED_SEQUENCE,
        max_image_size: MAX_IMAGE_SIZE,
        authorities: &keys,
    };
    // Forged: the image size inside the signed payload changed (a byte in the middle).
    let mut forged = [0u8; MESSAGE];
    let forged = forged
        .get_mut(..MANIFEST.len())
        .ok_or(fail("manifest buffer"))?;
    forged.copy_from_slice(MANIFEST);
    if let Some(b) = forged.get_mut(MANIFEST.len() / 2) {
        *b ^= 0x01;
    }
    match FirmwareManifest::verify(&policy, forged) {
        Err(Error::Update(UpdateRejection::BadSignature)) | Err(Error::Malformed(_)) => {}
        other => {
            return other
                .map(|_| ())
                .at("a forged manifest is refused")
                .and(check(false, "a forged manifest is refused"))
        }
    }

    let mut rx = Update::start(&policy, MANIFEST).at("verify the manifest")?;
    let mut slot = Slot([0u8; IMAGE.len()]);
    let mut complete = false;
    for chunk in CHUNKS {
        complete = matches!(
            rx.chunk(chunk, &mut slot).at("receive a chunk")?,
            Progress::Complete
        );
    }
    check(complete, "every chunk received")?;
    let sequence = rx.sequence();
    let done = rx.finish(&mut slot).at("check the stored image")?;
    check(done.sequence() == sequence, "installable sequence")?;
    let mut out = [0u8; MESSAGE];
    let n = done.status().encode(&mut out).at("encode the status")?;
    check(
        out.get(..n) == Some(STATUS_INSTALLABLE),
        "update status bytes",
    )?;
    say!(
        "[device] firmware manifest ",
        sequence as u32,
        ": verified, ",
        IMAGE.len(),
        " image bytes received and read back; a forged manifest was refused"
    );
    Ok(())
}

fn fail(step: &'static str) -> Failure {
    Failure {
        step,
        cause: crate::device::Cause::Mismatch,
    }
}
