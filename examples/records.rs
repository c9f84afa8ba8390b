//! The record layer by itself, device to cloud over loopback TCP: an IK handshake, plain-text
//! readings sealed as raw records, an automatic key update, a plain-text command from the cloud,
//! and a clean close. No delivery layer: nothing is numbered, stored or acknowledged (for that,
//! and for signed commands, see `examples/demo.rs`).
//!
//! ```text
//! cargo run --example records                  # server and device in one process
//! cargo run --example records -- server ADDR   # only the cloud side, e.g. 127.0.0.1:7878
//! cargo run --example records -- device ADDR   # only the device side
//! ```
//!
//! Its server is what the JNI binding's Java test (`ffi/jni/run.sh`) runs against.
//!
//! The server survives bad peers: it serves each connection on its own thread, and a connection
//! whose peer sends anything tether rejects (a refused handshake, a tampered, replayed or
//! out-of-order record, a broken length prefix), hangs up, or stays silent for 10 s is closed and
//! logged with the reason, while the other connections carry on.
//!
//! The keys below are fixed so that other demo devices (such as the C one) can pin the cloud's
//! public key. Never ship fixed keys.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use tether::handshake::Established;
use tether::policy::{AllowList, PinnedKey};
use tether::*;

const CLOUD_SECRET: [u8; 32] = [0xC1; 32];
const DEVICE_SECRET: [u8; 32] = [0xD1; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds on a monotonic clock, as tether expects it.
fn now(start: std::time::Instant) -> Instant {
    Instant(start.elapsed().as_millis() as u64)
}

fn wall_clock() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UnixTime(secs)
}

/// Reads from the socket until the decoder yields one unit, and hands it to `f`.
fn read_unit<T>(
    sock: &mut TcpStream,
    dec: &mut StreamDecoder,
    pending: &mut Vec<u8>,
    mut f: impl FnMut(&[u8]) -> Result<T, Error>,
) -> Result<Option<T>, Box<dyn std::error::Error>> {
    loop {
        let mut input = &pending[..];
        let result = match dec.next(&mut input)? {
            Some(unit) => Some(f(unit)?),
            None => None,
        };
        let used = pending.len() - input.len();
        pending.drain(..used);
        if let Some(r) = result {
            return Ok(Some(r));
        }
        let mut chunk = [0u8; 4096];
        let n = match sock.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err("no data within the read timeout".into())
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// How long the cloud waits for a peer's next bytes, or for it to take ours, before dropping it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts `connections` connections (`usize::MAX`: forever), each served on its own thread.
/// A bad peer costs only its own connection; `serve` returns once every connection has ended.
fn serve(listener: TcpListener, connections: usize) -> Result<(), Box<dyn std::error::Error>> {
    let key = StaticKeypair::from_secret(CLOUD_SECRET);
    let identity = Identity::new(b"cloud.demo", "tether-demo-gateway", "0.1.0", b"k1")?;
    let device_key = StaticKeypair::from_secret(DEVICE_SECRET).public();
    let registry = [(&b"SN-DEMO-0001"[..], device_key)];
    let config = ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &[Pattern::Provisioned],
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &identity,
        static_key: &key,
        session: SessionConfig::default(),
        known_initiator: None,
        pairing: None,
        allow_without_code: false,
        dh_cache: None,
    };
    let start = std::time::Instant::now();
    println!(
        "[cloud] listening on {}, static key {}",
        listener.local_addr()?,
        hex(key.public().as_bytes())
    );
    let (config, registry) = (&config, &registry);
    thread::scope(|scope| {
        let mut accepted = 0;
        while accepted < connections {
            let (sock, peer) = match listener.accept() {
                Ok(conn) => conn,
                // A connection aborted before it was accepted, or no file descriptor left for
                // now: the listener itself is fine, so wait a little and carry on.
                Err(e) => {
                    println!("[cloud] accept failed: {e}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            accepted += 1;
            let spawned = thread::Builder::new().spawn_scoped(scope, move || {
                if let Err(e) = connection(sock, config, registry, start) {
                    println!("[cloud] {peer}: connection closed: {e}");
                }
            });
            if let Err(e) = spawned {
                println!("[cloud] {peer}: connection closed: no thread for it: {e}");
            }
        }
    });
    Ok(())
}

/// The cloud's side of one connection. Any error ends it, and dropping the socket closes it: on a
/// stream, a unit that tether rejects means the bytes after it cannot be trusted (spec section 6).
fn connection(
    mut sock: TcpStream,
    config: &ResponderConfig,
    registry: &[(&[u8], PublicKey)],
    start: std::time::Instant,
) -> Result<(), Box<dyn std::error::Error>> {
    sock.set_read_timeout(Some(IDLE_TIMEOUT))?;
    sock.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut dec = StreamDecoder::for_session_config(&config.session);
    let mut pending = Vec::new();
    let mut policy = AllowList::new(registry);
    let mut hs = read_unit(&mut sock, &mut dec, &mut pending, |unit| {
        println!("[cloud] <- handshake message 1 ({} bytes)", unit.len());
        Responder::accept(config, unit, &mut policy, wall_clock(), &mut OsEntropy)
    })
    .map_err(|e| format!("handshake refused: {e}"))?
    .ok_or("peer hung up during the handshake")?;
    let mut buf = vec![0u8; 2048];
    let n = hs.write_message(&mut buf)?;
    println!("[cloud] -> handshake message 2 ({n} bytes)");
    sock.write_all(&buf[..n])?;
    let Established {
        mut session, peer, ..
    } = hs.finish(now(start))?;
    println!(
        "[cloud] session up with {} ({} {}), suite {:?}",
        String::from_utf8_lossy(peer.identity.id()),
        peer.identity.model(),
        peer.identity.version(),
        session.suite()
    );
    let mut out = vec![0u8; 16384];
    let mut readings = 0;
    loop {
        let event = read_unit(&mut sock, &mut dec, &mut pending, |unit| {
            let wire_len = unit.len();
            session.open(now(start), unit, &mut out).map(|ev| match ev {
                Event::Data(d) => (wire_len, Some(d.to_vec()), None, false),
                Event::KeyUpdate { epoch } => (wire_len, None, Some(epoch), false),
                Event::Close => (wire_len, None, None, true),
            })
        })?;
        let (wire_len, data, epoch, closed) = event.ok_or("peer hung up without close")?;
        if let Some(d) = data {
            readings += 1;
            println!(
                "[cloud] <- record ({wire_len} bytes on the wire): {}",
                describe(&d)
            );
            if readings == 2 {
                let cmd = b"command: set-interval 60s";
                let mut wire = vec![0u8; session.seal_capacity(cmd.len())];
                let sealed = session.seal(now(start), cmd, &mut wire)?;
                sock.write_all(&wire[..sealed.total()])?;
                println!("[cloud] -> {}", String::from_utf8_lossy(cmd));
            }
        }
        if let Some(e) = epoch {
            println!("[cloud] <- key update: device now sends in epoch {e}");
        }
        if closed {
            println!("[cloud] <- close; session done after {readings} readings");
            let n = session.close(&mut buf)?;
            sock.write_all(&buf[..n])?;
            return Ok(());
        }
    }
}

/// A record's plaintext for the log: a vitals batch (spec/MESSAGES.md 4.3) decoded, anything
/// else as text (the demo devices send plain text readings too).
fn describe(plaintext: &[u8]) -> String {
    use tether::message::decimal::Value;
    use tether::message::vitals::{Channel, VitalsBatch};
    let Ok(batch) = VitalsBatch::decode(plaintext) else {
        return String::from_utf8_lossy(plaintext).into_owned();
    };
    let shown: Vec<String> = batch
        .readings()
        .map(|r| {
            let unit = match batch.channels().get(usize::from(r.channel)) {
                Some(Channel::Known { code, .. }) => code.ucum(),
                _ => "",
            };
            match r.value {
                Value::Number(d) => format!("{d} {unit}"),
                other => format!("{other:?}"),
            }
        })
        .collect();
    format!(
        "vitals batch, {} readings in {} bytes: {}",
        batch.len(),
        plaintext.len(),
        shown.join(", ")
    )
}

fn device(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let key = StaticKeypair::from_secret(DEVICE_SECRET);
    let cloud_key = StaticKeypair::from_secret(CLOUD_SECRET).public();
    let identity = Identity::new(b"SN-DEMO-0001", "PulseOximeter P3", "2.4.1", b"k1")?;
    // Key update every 3 records so the demo shows one; the default is 2^20 records or an hour.
    let mut session_config = SessionConfig::default();
    session_config.key_update.records = 3;
    let config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &identity,
        static_key: &key,
        session: session_config,
        dh_cache: None,
    };
    let start = std::time::Instant::now();
    let mut sock = TcpStream::connect(addr)?;
    let mut hs = Initiator::provisioned(&config, &cloud_key, &mut OsEntropy)?;
    let mut buf = vec![0u8; 2048];
    let n = hs.write_message(&mut buf)?;
    println!(
        "[device] -> handshake message 1 ({n} bytes, Noise IK, {:?})",
        hs.suite()
    );
    sock.write_all(&buf[..n])?;
    let mut dec = StreamDecoder::for_session_config(&session_config);
    let mut pending = Vec::new();
    let mut policy = PinnedKey(cloud_key);
    read_unit(&mut sock, &mut dec, &mut pending, |unit| {
        println!("[device] <- handshake message 2 ({} bytes)", unit.len());
        hs.read_message(unit, &mut policy, wall_clock())
    })?
    .ok_or("cloud hung up during the handshake")?;
    let Established {
        mut session,
        peer,
        handshake_hash,
    } = hs.finish(now(start))?;
    println!(
        "[device] session up with {} (handshake hash {}…)",
        String::from_utf8_lossy(peer.identity.id()),
        hex(&handshake_hash[..8])
    );
    let mut out = vec![0u8; 16384];
    for (i, reading) in [
        "SpO2 97 %",
        "pulse 72 /min",
        "SpO2 96 %",
        "pulse 75 /min",
        "SpO2 97 %",
    ]
    .iter()
    .enumerate()
    {
        let mut wire = vec![0u8; session.seal_capacity(reading.len())];
        let sealed = session.seal(now(start), reading.as_bytes(), &mut wire)?;
        if sealed.key_update > 0 {
            println!(
                "[device] -> key update record ({} bytes), now epoch {}",
                sealed.key_update,
                session.send_epoch()
            );
        }
        println!(
            "[device] -> reading {} ({} bytes on the wire): {reading}",
            i + 1,
            sealed.record
        );
        sock.write_all(&wire[..sealed.total()])?;
        if i == 1 {
            read_unit(&mut sock, &mut dec, &mut pending, |unit| {
                if let Event::Data(d) = session.open(now(start), unit, &mut out)? {
                    println!("[device] <- {}", String::from_utf8_lossy(d));
                }
                Ok(())
            })?;
        }
    }
    let n = session.close(&mut buf)?;
    println!("[device] -> close");
    sock.write_all(&buf[..n])?;
    read_unit(&mut sock, &mut dec, &mut pending, |unit| {
        session
            .open(now(start), unit, &mut out)
            .map(|e| matches!(e, Event::Close))
    })?;
    println!("[device] <- close; done");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
            serve(TcpListener::bind(addr)?, usize::MAX)
        }
        Some("device") => device(args.get(1).map_or("127.0.0.1:7878", String::as_str)),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            let server = thread::spawn(move || serve(listener, 1).map_err(|e| e.to_string()));
            device(&addr)?;
            server.join().map_err(|_| "server thread panicked")??;
            Ok(())
        }
        Some(other) => Err(format!("unknown mode {other:?}: use server or device").into()),
    }
}
