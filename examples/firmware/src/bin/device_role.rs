//! The device role alone, for the flash figure: the same tether calls as the example
//! (`src/main.rs`), on the same vectors, with the same allocator, but without its checks and
//! progress lines (strings and comparison code that a product would not carry): the session
//! replay, in which the application sends a vitals batch, checks and acknowledges a signed command
//! and checks a signed manifest, then receives that manifest's image and checks it as read back.
//! It prints nothing; it exits 0 when the whole sequence succeeded and message 0 matched the
//! vector, 1 otherwise. `run.sh` measures its `.text + .rodata` and runs it under QEMU.
#![no_std]
#![no_main]

extern crate alloc;

// Shared with the example; parts of them (the heap's counters, the vector's plaintexts) are not
// used here.
#[allow(dead_code)]
#[path = "../entropy.rs"]
mod entropy;
#[allow(dead_code)]
#[path = "../heap.rs"]
mod heap;
#[path = "../slot.rs"]
mod slot;
#[allow(dead_code)]
#[path = "../vector.rs"]
mod vector;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use tether::policy::PinnedKey;
use tether::{
    ChannelKind, Error, Framing, HandshakeConfig, Identity, Initiator, Instant, Local, PublicKey,
    SessionConfig, StaticKeypair, Suite, UnixTime,
};

use slot::Slot;
use tether::message::command::{
    AckStatus, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier,
};
use tether::message::cose::AuthorityKey;
use tether::message::update::{
    check_image, FirmwareManifest, ImageChunk, ImageStore, UpdatePolicy,
};
use tether::message::vitals::{Channel, VitalCode, VitalsBatch};
use tether::message::{Kind as MessageKind, Message};
use tether::Event;
use vector::{Kind, Sender};

// Shared with the example, which checks more of them.
#[allow(dead_code)]
mod vectors {
    use tether::message::command::{Grant, ParamRule};
    use tether::message::decimal::{Decimal, Value};
    use tether::message::vitals::Reading;
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

const T0: Instant = Instant(0);
/// The largest record plaintext: the firmware manifest, 206 bytes, is the largest message.
const MAX_PLAINTEXT: usize = 256;

fn run() -> Result<(), Error> {
    let identity = Identity::new(
        vector::DEVICE_ID,
        vector::DEVICE_MODEL,
        vector::DEVICE_VERSION,
        vector::DEVICE_KEY_ID,
    )?;
    let key = StaticKeypair::from_secret(vector::DEVICE_STATIC_SECRET);
    let cloud_key = PublicKey(vector::CLOUD_STATIC_PUBLIC);
    let config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Datagram,
        context: b"",
        identity: &identity,
        static_key: &key,
        session: SessionConfig {
            max_plaintext: MAX_PLAINTEXT,
            ..SessionConfig::default()
        },
    };
    let mut entropy = entropy::VectorEntropy::new(vector::DEVICE_EPHEMERAL);
    let mut hs = Initiator::provisioned(&config, &cloud_key, &mut entropy)?;
    let mut buf = [0u8; 3 + 96 + 256];
    let n = hs.write_message(&mut buf)?;
    // One comparison, so that a wrong build cannot pass: the rest follows from it.
    if buf.get(..n) != Some(vector::HANDSHAKE[0].bytes) {
        return Err(Local::Noise.into());
    }
    let [_, reply] = &vector::HANDSHAKE;
    hs.read_message(reply.bytes, &mut PinnedKey(cloud_key), UnixTime(0))?;
    let mut session = hs.finish(T0)?.session;

    let mut wire = [0u8; MAX_PLAINTEXT + 2 * 25];
    let mut plain = [0u8; MAX_PLAINTEXT];
    let mut app = Device::new()?;
    let mut sent = 0;
    for &(from, kind, unit) in &vector::RECORD_UNITS {
        match (from, kind) {
            (Sender::Device, Kind::Data) => {
                let n = app.next_message(sent, &mut plain)?;
                sent += 1;
                session.seal(T0, plain.get(..n).unwrap_or(&[]), &mut wire)?;
            }
            (Sender::Device, Kind::KeyUpdate) => {
                session.update_key(T0, &mut wire)?;
            }
            (Sender::Device, Kind::Close) => {
                session.close(&mut wire)?;
            }
            (Sender::Cloud, _) => {
                if let Event::Data(message) = session.open(T0, unit, &mut plain)? {
                    app.receive(message)?;
                }
            }
        }
    }
    app.update()
}

/// The device's application, as a product would write it: a vitals batch up, a signed command
/// checked and acknowledged, a signed manifest checked and its image received and read back.
struct Device {
    verifier: CommandVerifier,
    to_acknowledge: u64,
    manifest: Option<(u64, u32, [u8; 32])>,
}

impl Device {
    fn new() -> Result<Self, Error> {
        Ok(Device {
            verifier: CommandVerifier::new(vectors::COMMAND_LAST_ACCEPTED),
            to_acknowledge: 0,
            manifest: None,
        })
    }

    /// The `i`-th message up: the vitals batch, a keep-alive, the acknowledgement.
    fn next_message(&mut self, i: usize, out: &mut [u8]) -> Result<usize, Error> {
        match i {
            0 => {
                let mut channels = [Channel::Known {
                    code: VitalCode::SpO2,
                    exponent: 0,
                }; 2];
                for (slot, &(table, exponent)) in channels.iter_mut().zip(vectors::VITALS_CHANNELS)
                {
                    let code = VitalCode::from_table_code(table).ok_or(Local::Config)?;
                    *slot = Channel::Known { code, exponent };
                }
                VitalsBatch::encode(
                    vectors::VITALS_BASE,
                    vectors::VITALS_TICK,
                    &channels,
                    &vectors::VITALS_READINGS,
                    out,
                )
            }
            1 => Ok(0),
            _ => CommandAck {
                command_id: self.to_acknowledge,
                status: AckStatus::Accepted,
                time_ms: vectors::ACK_TIME_MS,
            }
            .encode(out),
        }
    }

    /// A message down: a command or a manifest, checked.
    fn receive(&mut self, message: &[u8]) -> Result<(), Error> {
        match Message::parse(message)?.kind {
            MessageKind::Command => {
                let authorities = [CommandAuthority {
                    key: AuthorityKey::from_bytes(vectors::CLINIC_KID, &vectors::CLINIC_PUBLIC)?,
                    grants: &vectors::GRANTS,
                }];
                let policy = CommandPolicy {
                    device_id: vectors::DEVICE_ID,
                    authorities: &authorities,
                    max_clock_skew_ms: vectors::MAX_CLOCK_SKEW_MS,
                };
                self.to_acknowledge = self
                    .verifier
                    .verify(&policy, message, vectors::COMMAND_NOW_MS)?
                    .command()
                    .command_id;
            }
            MessageKind::FirmwareManifest => {
                let keys = [AuthorityKey::from_bytes(
                    vectors::VENDOR_KID,
                    &vectors::VENDOR_PUBLIC,
                )?];
                let m = FirmwareManifest::verify(&update_policy(&keys), message)?;
                self.manifest = Some((m.sequence, m.image_size, m.digest));
            }
            _ => return Err(Local::Config.into()),
        }
        Ok(())
    }

    /// The image of the manifest the session delivered: received in chunks, read back, checked.
    #[inline(never)]
    fn update(&self) -> Result<(), Error> {
        let (_, size, digest) = self.manifest.ok_or(Local::Config)?;
        let mut slot = Slot([0u8; vectors::IMAGE.len()]);
        let mut offset = 0u32;
        for chunk in vectors::CHUNKS {
            let c = ImageChunk::decode(chunk)?;
            if c.offset != offset {
                return Err(Local::Config.into());
            }
            slot.write(c.offset, c.data)?;
            offset += c.data.len() as u32;
        }
        if offset != size {
            return Err(Local::Config.into());
        }
        check_image(&mut slot, size, &digest)
    }
}

fn update_policy(keys: &[AuthorityKey]) -> UpdatePolicy<'_> {
    UpdatePolicy {
        vendor_id: vectors::VENDOR_ID,
        class_id: vectors::CLASS_ID,
        installed_sequence: vectors::INSTALLED_SEQUENCE,
        max_image_size: vectors::MAX_IMAGE_SIZE,
        authorities: keys,
    }
}

#[entry]
fn main() -> ! {
    heap::HEAP.init();
    debug::exit(if run().is_ok() {
        EXIT_SUCCESS
    } else {
        EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    debug::exit(EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
