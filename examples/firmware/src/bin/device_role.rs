//! The device role alone, for the flash figure: the same tether calls as the example
//! (`src/main.rs`), on the same vector, with the same allocator, but without its checks and
//! progress lines (about 12 KB of strings and comparison code that a product would not carry).
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

use vector::{Kind, Sender};

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
    Ok(())
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
