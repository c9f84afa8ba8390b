//! The application layer: what the device says and what it understands.
//!
//! This is the only module that knows what the bytes inside records mean. The session code
//! (`device.rs`) moves opaque plaintexts: it asks [`App::next_message`] for the next message to
//! seal and hands every data record from the cloud to [`App::receive`].
//!
//! The device speaks tether's messages (spec/MESSAGES.md): it sends a batch of vital signs,
//! receives a therapy command signed by the clinic's command authority, checks it (signature,
//! authority, its own id, validity, granted operation and range, order) and acknowledges it, then
//! receives a firmware manifest signed by the vendor and checks it. What the "sensor" measured and
//! what the authorities signed come from the message vectors (`messages.rs`); the session replay
//! checks that every message it seals is the vector's byte for byte.

use tether::message::command::{
    AckStatus, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier,
};
use tether::message::cose::AuthorityKey;
use tether::message::update::{FirmwareManifest, UpdatePolicy};
use tether::message::vitals::{Channel, VitalCode, VitalsBatch};
use tether::message::{Kind, Message};
use tether::Error;

use crate::messages::vectors::*;
use crate::say;

/// What the cloud sent, once checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A therapy command that passed every check: act on it, then acknowledge it.
    Command { id: u64, operation: u16 },
    /// A firmware manifest that passed every check: its image may now be fetched.
    Manifest { sequence: u64, image_size: u32 },
}

/// Why the application refused to produce or accept a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppError {
    /// Nothing more to send.
    NoReading,
    /// The message does not fit the buffer.
    TooLarge,
    /// A message tether refused (its error says why).
    Refused(Error),
    /// A message of a kind this device does not accept from the cloud.
    Unexpected,
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Refused(e)
    }
}

/// The device's application state.
pub struct App {
    sent: usize,
    received: usize,
    verifier: CommandVerifier,
    /// The command to acknowledge next.
    to_acknowledge: Option<u64>,
    /// The newest manifest that passed its checks.
    manifest: Option<(u64, u32)>,
    /// Provisioned with the device: who may command it (the clinic's authority)...
    authorities: [CommandAuthority<'static>; 1],
    /// ...and who signs its firmware (the vendor).
    vendor: [AuthorityKey; 1],
}

impl App {
    /// The application as provisioned: its authorities' keys are checked (decompressed) once,
    /// here, not for every message.
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            sent: 0,
            received: 0,
            verifier: CommandVerifier::new(COMMAND_LAST_ACCEPTED),
            to_acknowledge: None,
            manifest: None,
            authorities: [CommandAuthority {
                key: AuthorityKey::from_bytes(CLINIC_KID, &CLINIC_PUBLIC)?,
                grants: &GRANTS,
            }],
            vendor: [AuthorityKey::from_bytes(VENDOR_KID, &VENDOR_PUBLIC)?],
        })
    }

    /// The application, in a static as firmware keeps it (about 500 bytes with its authorities'
    /// keys): not on the stack under the signature checks, the deepest chain after the
    /// handshake. `None` if it was already taken, or its keys were refused. Not inlined: the
    /// value is built in this frame, not in the caller's.
    #[inline(never)]
    pub fn provisioned() -> Option<&'static mut App> {
        let app = App::new().ok()?;
        cortex_m::singleton!(: App = app)
    }

    /// Writes the next message into `out` and returns it: the vitals batch, then an empty record
    /// (a keep-alive: the session alone proves the device is there), then the acknowledgement of
    /// the command received meanwhile.
    pub fn next_message<'o>(&mut self, out: &'o mut [u8]) -> Result<&'o [u8], AppError> {
        let n = match self.sent {
            0 => vitals(out)?,
            1 => 0,
            2 => {
                let id = self.to_acknowledge.take().ok_or(AppError::NoReading)?;
                let ack = CommandAck {
                    command_id: id,
                    status: AckStatus::Accepted,
                    time_ms: ACK_TIME_MS,
                };
                ack.encode(out)?
            }
            _ => return Err(AppError::NoReading),
        };
        self.sent += 1;
        out.get(..n).ok_or(AppError::TooLarge)
    }

    /// Checks a message from the cloud and says what it was. A message that fails any check is
    /// refused and changes nothing.
    ///
    /// Each kind is checked in its own function (not inlined), so that one kind's policy and
    /// verified result are not on the stack while the other kind's signature is verified.
    pub fn receive(&mut self, plaintext: &[u8]) -> Result<Received, AppError> {
        let received = match Message::parse(plaintext)?.kind {
            Kind::Command => self.receive_command(plaintext)?,
            Kind::FirmwareManifest => self.receive_manifest(plaintext)?,
            _ => return Err(AppError::Unexpected),
        };
        self.received += 1;
        Ok(received)
    }

    /// A therapy command: signature, authority, device id, validity, range and order.
    #[inline(never)]
    fn receive_command(&mut self, plaintext: &[u8]) -> Result<Received, AppError> {
        let policy = CommandPolicy {
            device_id: DEVICE_ID,
            authorities: &self.authorities,
            max_clock_skew_ms: MAX_CLOCK_SKEW_MS,
        };
        let verified = self.verifier.verify(&policy, plaintext, COMMAND_NOW_MS)?;
        let c = verified.command();
        self.to_acknowledge = Some(c.command_id);
        say!(
            "[app] therapy command ",
            c.command_id as u32,
            " (operation ",
            u32::from(c.operation),
            "): signature, authority, device id, validity, range and order check out"
        );
        Ok(Received::Command {
            id: c.command_id,
            operation: c.operation,
        })
    }

    /// A firmware manifest: vendor signature, class and anti-rollback.
    #[inline(never)]
    fn receive_manifest(&mut self, plaintext: &[u8]) -> Result<Received, AppError> {
        let m = FirmwareManifest::verify(&update_policy(&self.vendor), plaintext)?;
        self.manifest = Some((m.sequence, m.image_size));
        say!(
            "[app] firmware manifest ",
            m.sequence as u32,
            " (",
            m.image_size,
            " bytes): vendor signature, class and anti-rollback check out"
        );
        Ok(Received::Manifest {
            sequence: m.sequence,
            image_size: m.image_size,
        })
    }

    pub fn sent(&self) -> usize {
        self.sent
    }

    pub fn received(&self) -> usize {
        self.received
    }

    /// The last command id accepted (what a product persists across reboots).
    pub fn last_command(&self) -> u64 {
        self.verifier.last_accepted()
    }

    /// Who may command this device.
    pub fn authorities(&self) -> &[CommandAuthority<'static>] {
        &self.authorities
    }

    /// Who signs this device's firmware.
    pub fn vendor_keys(&self) -> &[AuthorityKey] {
        &self.vendor
    }

    /// The newest verified manifest's sequence and image size.
    pub fn manifest(&self) -> Option<(u64, u32)> {
        self.manifest
    }
}

/// The update policy this device was provisioned with.
pub fn update_policy(keys: &[AuthorityKey]) -> UpdatePolicy<'_> {
    UpdatePolicy {
        vendor_id: VENDOR_ID,
        class_id: CLASS_ID,
        installed_sequence: INSTALLED_SEQUENCE,
        max_image_size: MAX_IMAGE_SIZE,
        authorities: keys,
    }
}

/// The vitals batch, encoded from readings as a sensor task hands them over.
#[inline(never)]
fn vitals(out: &mut [u8]) -> Result<usize, AppError> {
    let mut channels = [Channel::Known {
        code: VitalCode::SpO2,
        exponent: 0,
    }; 2];
    for (slot, &(table, exponent)) in channels.iter_mut().zip(VITALS_CHANNELS) {
        let code = VitalCode::from_table_code(table).ok_or(AppError::Unexpected)?;
        *slot = Channel::Known { code, exponent };
    }
    let n = VitalsBatch::encode(VITALS_BASE, VITALS_TICK, &channels, &VITALS_READINGS, out)?;
    say!(
        "[app] vitals batch: ",
        VITALS_READINGS.len(),
        " readings in ",
        n,
        " bytes"
    );
    Ok(n)
}
