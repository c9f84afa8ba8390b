//! What the message layer must refuse, and the rest of a firmware update, after the session
//! replay (in which the application sent a vitals batch, accepted and acknowledged a signed
//! command and accepted a signed manifest, `app.rs`): a forged command and the replayed command
//! are refused, a forged manifest is refused, the vitals batch decodes back to its readings, and
//! the manifest's image arrives in chunks and is checked by reading it back from storage.
//!
//! Runs on the same stack and heap as the replay, so the footprint figures cover both. Nothing
//! here allocates. The constants come from `spec/vectors/messages_*.json` (`build.rs`).

use tether::message::command::{CommandAck, CommandPolicy, CommandVerifier};
use tether::message::update::{FirmwareManifest, Progress, Receiving, Update, UpdatePolicy};
use tether::message::vitals::VitalsBatch;
use tether::{CommandRejection, Error, UpdateRejection};

use crate::app::{update_policy, App};
use crate::device::{check, expect_err, At, Failure};
use crate::say;
use crate::slot::Slot;

/// The message vectors, as constants.
pub mod vectors {
    use tether::message::command::{Grant, ParamRule};
    use tether::message::decimal::{Decimal, Value};
    use tether::message::vitals::Reading;
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}
use vectors::*;

/// Room for any message this device builds or checks here.
const MESSAGE: usize = 256;

pub fn run(app: &App) -> Result<(), Failure> {
    check(
        app.received() == 2 && app.sent() == 3,
        "the replay's messages",
    )?;
    vitals()?;
    command(app)?;
    update(app)?;
    Ok(())
}

/// The vitals batch the device sent decodes back to the readings it was made from.
#[inline(never)]
fn vitals() -> Result<(), Failure> {
    let batch = VitalsBatch::decode(VITALS).at("decode the vitals batch")?;
    check(
        batch.readings().eq(VITALS_READINGS.iter().copied()),
        "vitals batch round trip",
    )?;
    say!("[device] the vitals batch decodes back to its readings");
    Ok(())
}

/// After the replay the application has accepted command `COMMAND_ID`: a forged copy and the
/// genuine command again are refused, and neither changes the verifier.
#[inline(never)]
fn command(app: &App) -> Result<(), Failure> {
    check(
        app.last_command() == COMMAND_ID,
        "command accepted in the session",
    )?;
    let policy = CommandPolicy {
        device_id: DEVICE_ID,
        authorities: app.authorities(),
        max_clock_skew_ms: MAX_CLOCK_SKEW_MS,
    };
    let mut verifier = CommandVerifier::new(app.last_command());

    // Forged: one bit of the signature (the last byte of the message) flipped.
    let mut forged = [0u8; COMMAND.len()];
    forged.copy_from_slice(COMMAND);
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    expect_err(
        verifier.verify(&policy, &forged, COMMAND_NOW_MS),
        Error::Command(CommandRejection::BadSignature),
        "a forged command is refused",
    )?;
    expect_err(
        verifier.verify(&policy, COMMAND, COMMAND_NOW_MS),
        Error::Command(CommandRejection::Replayed),
        "a replayed command is refused",
    )?;
    check(
        verifier.last_accepted() == COMMAND_ID,
        "refused commands change nothing",
    )?;
    refusal()?;
    say!("[device] a forged and a replayed copy of the command were refused");
    Ok(())
}

/// The acknowledgement a refusal gets (reason 8, replayed) names the command.
#[inline(never)]
fn refusal() -> Result<(), Failure> {
    let ack = CommandAck::rejected(COMMAND, CommandRejection::Replayed, ACK_TIME_MS);
    let mut out = [0u8; MESSAGE];
    let n = ack.encode(&mut out).at("encode the refusal")?;
    check(
        CommandAck::decode(out.get(..n).unwrap_or(&[])).map(|a| a.command_id) == Ok(COMMAND_ID),
        "the refusal names the command",
    )
}

/// The rest of the update the manifest announced: a forged manifest is refused; the image
/// arrives in chunks and is checked as read back.
#[inline(never)]
fn update(app: &App) -> Result<(), Failure> {
    let policy = update_policy(app.vendor_keys());
    forged_manifest(&policy)?;
    let rx = Update::start(&policy, MANIFEST).at("verify the manifest")?;
    check(
        app.manifest() == Some((rx.sequence(), rx.image_size())),
        "the manifest the session delivered",
    )?;
    image(rx)
}

/// A manifest with a byte in the middle of its signed payload changed is refused.
#[inline(never)]
fn forged_manifest(policy: &UpdatePolicy<'_>) -> Result<(), Failure> {
    let mut forged = [0u8; MANIFEST.len()];
    forged.copy_from_slice(MANIFEST);
    if let Some(b) = forged.get_mut(MANIFEST.len() / 2) {
        *b ^= 0x01;
    }
    match FirmwareManifest::verify(policy, &forged) {
        Err(Error::Update(UpdateRejection::BadSignature)) | Err(Error::Malformed(_)) => Ok(()),
        other => other
            .map(|_| ())
            .at("a forged manifest is refused")
            .and(check(false, "a forged manifest is refused")),
    }
}

/// The image arrives in chunks, is written to the slot, and is checked as read back.
#[inline(never)]
fn image(mut rx: Receiving) -> Result<(), Failure> {
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
        "[device] firmware ",
        sequence as u32,
        ": ",
        IMAGE.len(),
        " image bytes received and read back, installable; a forged manifest was refused"
    );
    Ok(())
}
