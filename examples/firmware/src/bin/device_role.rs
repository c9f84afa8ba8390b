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
    ChannelKind, Error, Framing, Handshake, HandshakeConfig, Identity, Initiator, Instant, Local,
    PublicKey, Session, SessionConfig, StaticKeypair, Suite, UnixTime,
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

/// The order of a firmware's main loop, each step in a function of its own (not inlined), so that
/// no step's locals are on the stack under another's deepest point: snow's build (in `start`),
/// the handshake messages (`exchange`), the signature checks (`App::receive_*`). The
/// application and the established session live in statics, as firmware keeps them.
fn run() -> Result<(), Error> {
    let Device { app, session } = Device::provisioned().ok_or(Local::Config)?;
    let established = handshake(session)?;
    records(established, app)?;
    *session = None;
    app.update()
}

/// IK to the pinned cloud key; the session goes to `out`.
#[inline(never)]
fn handshake(out: &mut Option<Session>) -> Result<&mut Session, Error> {
    let mut hs = start()?;
    exchange(&mut hs)?;
    finish(hs, out)
}

/// The session out of the finished handshake. Not inlined: `Session::new` and the key schedule
/// are not on the stack under the handshake's deeper steps.
#[inline(never)]
fn finish(hs: Handshake, out: &mut Option<Session>) -> Result<&mut Session, Error> {
    Ok(out.insert(hs.finish(T0)?.session))
}

/// The device's identity, key pair and configuration, only while the handshake is built.
#[inline(never)]
fn start() -> Result<Handshake, Error> {
    let identity = Identity::new(
        vector::DEVICE_ID,
        vector::DEVICE_MODEL,
        vector::DEVICE_VERSION,
        vector::DEVICE_KEY_ID,
    )?;
    let key = StaticKeypair::from_secret(vector::DEVICE_STATIC_SECRET);
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
        dh_cache: None,
    };
    let mut entropy = entropy::VectorEntropy::new(vector::DEVICE_EPHEMERAL);
    Initiator::provisioned(
        &config,
        &PublicKey(vector::CLOUD_STATIC_PUBLIC),
        &mut entropy,
    )
}

/// Message 0 out, message 1 in, each in a function of its own (not inlined): the buffer message 0
/// is written into is not on the stack while message 1 is read.
fn exchange(hs: &mut Handshake) -> Result<(), Error> {
    write_first(hs)?;
    read_reply(hs)
}

#[inline(never)]
fn write_first(hs: &mut Handshake) -> Result<(), Error> {
    let mut buf = [0u8; 3 + 96 + 256];
    let n = hs.write_message(&mut buf)?;
    // One comparison, so that a wrong build cannot pass: the rest follows from it.
    if buf.get(..n) != Some(vector::HANDSHAKE[0].bytes) {
        return Err(Local::Noise.into());
    }
    Ok(())
}

#[inline(never)]
fn read_reply(hs: &mut Handshake) -> Result<(), Error> {
    let [_, reply] = &vector::HANDSHAKE;
    let cloud_key = PublicKey(vector::CLOUD_STATIC_PUBLIC);
    hs.read_message(reply.bytes, &mut PinnedKey(cloud_key), UnixTime(0))
}

/// The session replay: the device's records sealed, the cloud's opened and handed to the
/// application.
#[inline(never)]
fn records(session: &mut Session, app: &mut App) -> Result<(), Error> {
    let mut plain = [0u8; MAX_PLAINTEXT];
    let mut sent = 0;
    for &(from, kind, unit) in &vector::RECORD_UNITS {
        if from == Sender::Device {
            send(session, app, kind, sent, &mut plain)?;
            if kind == Kind::Data {
                sent += 1;
            }
        } else if let Event::Data(message) = session.open(T0, unit, &mut plain)? {
            app.receive(message)?;
        }
    }
    Ok(())
}

/// One record of the device's, sealed.
#[inline(never)]
fn send(
    session: &mut Session,
    app: &mut App,
    kind: Kind,
    sent: usize,
    plain: &mut [u8],
) -> Result<(), Error> {
    let mut wire = [0u8; MAX_PLAINTEXT + 2 * 25];
    match kind {
        Kind::Data => {
            let n = app.next_message(sent, plain)?;
            session.seal(T0, plain.get(..n).unwrap_or(&[]), &mut wire)?;
        }
        Kind::KeyUpdate => {
            session.update_key(T0, &mut wire)?;
        }
        Kind::Close => {
            session.close(&mut wire)?;
        }
    }
    Ok(())
}

/// What the device keeps in a static, as firmware does: its application and its session.
struct Device {
    app: App,
    session: Option<Session>,
}

impl Device {
    /// The one `Device`, in a static. Not inlined: built in this frame, not the caller's.
    #[inline(never)]
    fn provisioned() -> Option<&'static mut Device> {
        let app = App::new().ok()?;
        cortex_m::singleton!(: Device = Device { app, session: None })
    }
}

/// The device's application, as a product would write it: a vitals batch up, a signed command
/// checked and acknowledged, a signed manifest checked and its image received and read back.
struct App {
    verifier: CommandVerifier,
    to_acknowledge: u64,
    manifest: Option<(u64, u32, [u8; 32])>,
    /// Provisioned: who may command the device, and who signs its firmware.
    authorities: [CommandAuthority<'static>; 1],
    vendor: [AuthorityKey; 1],
}

impl App {
    fn new() -> Result<Self, Error> {
        Ok(App {
            verifier: CommandVerifier::new(vectors::COMMAND_LAST_ACCEPTED),
            to_acknowledge: 0,
            manifest: None,
            authorities: [CommandAuthority {
                key: AuthorityKey::from_bytes(vectors::CLINIC_KID, &vectors::CLINIC_PUBLIC)?,
                grants: &vectors::GRANTS,
            }],
            vendor: [AuthorityKey::from_bytes(
                vectors::VENDOR_KID,
                &vectors::VENDOR_PUBLIC,
            )?],
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
            MessageKind::Command => self.receive_command(message),
            MessageKind::FirmwareManifest => self.receive_manifest(message),
            _ => Err(Local::Config.into()),
        }
    }

    #[inline(never)]
    fn receive_command(&mut self, message: &[u8]) -> Result<(), Error> {
        let policy = CommandPolicy {
            device_id: vectors::DEVICE_ID,
            authorities: &self.authorities,
            max_clock_skew_ms: vectors::MAX_CLOCK_SKEW_MS,
        };
        self.to_acknowledge = self
            .verifier
            .verify(&policy, message, vectors::COMMAND_NOW_MS)?
            .command()
            .command_id;
        Ok(())
    }

    #[inline(never)]
    fn receive_manifest(&mut self, message: &[u8]) -> Result<(), Error> {
        let m = FirmwareManifest::verify(&update_policy(&self.vendor), message)?;
        self.manifest = Some((m.sequence, m.image_size, m.digest));
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
