//! The device role alone, for the flash figure: the same tether calls as the example
//! (`src/main.rs`), on the same vectors, with the same allocator, but without its checks and
//! progress lines (strings and comparison code that a product would not carry): the session
//! replay, then the message layer (a vitals batch encoded, a signed command verified and
//! acknowledged, a signed manifest verified and its image received and checked).
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

use tether::message::command::{
    AckStatus, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant, ParamRule,
};
use tether::message::cose::AuthorityKey;
use tether::message::decimal::{Decimal, Value};
use tether::message::update::{ImageStore, Update, UpdatePolicy};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::StorageError;
use vector::{Kind, Sender};

// Shared with the example, which checks more of them.
#[allow(dead_code)]
mod vectors {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

const T0: Instant = Instant(0);

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
            max_plaintext: 128,
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

    let mut wire = [0u8; 128 + 2 * 25];
    let mut plain = [0u8; 128];
    let mut readings = vector::DEVICE_READINGS.iter();
    for rec in &vector::RECORDS {
        match (rec.from, rec.kind) {
            (Sender::Device, Kind::Data) => {
                let reading = readings.next().copied().unwrap_or_default();
                session.seal(T0, reading, &mut wire)?;
            }
            (Sender::Device, Kind::KeyUpdate) => {
                session.update_key(T0, &mut wire)?;
            }
            (Sender::Device, Kind::Close) => {
                session.close(&mut wire)?;
            }
            (Sender::Cloud, _) => {
                session.open(T0, rec.unit, &mut plain)?;
            }
        }
    }
    messages()
}

/// The message layer, as a product would call it; one comparison per part so a wrong build
/// cannot pass.
#[inline(never)]
fn messages() -> Result<(), Error> {
    let wrong = || Error::Local(Local::Config);
    // A vitals batch.
    let mut channels = [Channel::Known {
        code: VitalCode::SpO2,
        exponent: 0,
    }; 2];
    for (slot, &(table, exponent)) in channels.iter_mut().zip(vectors::VITALS_CHANNELS) {
        let code = VitalCode::from_table_code(table).ok_or_else(wrong)?;
        *slot = Channel::Known { code, exponent };
    }
    let mut out = [0u8; 256];
    let n = VitalsBatch::encode(
        vectors::VITALS_BASE,
        vectors::VITALS_TICK,
        &channels,
        &vectors::VITALS_READINGS,
        &mut out,
    )?;
    if out.get(..n) != Some(vectors::VITALS) {
        return Err(wrong());
    }
    // A signed command, and its acknowledgement.
    let authorities = [CommandAuthority {
        key: AuthorityKey::from_bytes(vectors::CLINIC_KID, &vectors::CLINIC_PUBLIC)?,
        grants: &vectors::GRANTS,
    }];
    let policy = CommandPolicy {
        device_id: vectors::DEVICE_ID,
        authorities: &authorities,
        max_clock_skew_ms: vectors::MAX_CLOCK_SKEW_MS,
    };
    let mut verifier = CommandVerifier::new(vectors::COMMAND_LAST_ACCEPTED);
    let command_id = verifier
        .verify(&policy, vectors::COMMAND, vectors::COMMAND_NOW_MS)?
        .command()
        .command_id;
    let ack = CommandAck {
        command_id,
        status: AckStatus::Accepted,
        time_ms: vectors::ACK_TIME_MS,
    };
    let n = ack.encode(&mut out)?;
    if out.get(..n) != Some(vectors::ACK) {
        return Err(wrong());
    }
    // A signed manifest, its image in chunks, read back and checked.
    let keys = [AuthorityKey::from_bytes(
        vectors::VENDOR_KID,
        &vectors::VENDOR_PUBLIC,
    )?];
    let policy = UpdatePolicy {
        vendor_id: vectors::VENDOR_ID,
        class_id: vectors::CLASS_ID,
        installed_sequence: vectors::INSTALLED_SEQUENCE,
        max_image_size: vectors::MAX_IMAGE_SIZE,
        authorities: &keys,
    };
    let mut rx = Update::start(&policy, vectors::MANIFEST)?;
    let mut slot = Slot([0u8; vectors::IMAGE.len()]);
    for chunk in vectors::CHUNKS {
        rx.chunk(chunk, &mut slot)?;
    }
    rx.finish(&mut slot)?;
    Ok(())
}

/// The update slot, in RAM here (flash in a product).
struct Slot([u8; vectors::IMAGE.len()]);

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
