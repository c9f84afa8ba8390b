//! Device to cloud over loopback TCP with the delivery layer on both sides: an IK handshake, five
//! vitals batches that each stay sealed in the device's outbox until the cloud says it has stored
//! them, an automatic key update, a therapy-style command signed by a clinic's authority key that
//! the device verifies and acknowledges, and a clean close.
//!
//! ```text
//! cargo run --example demo                                      # cloud and device, one process
//! cargo run --example demo -- server ADDR                       # only the cloud (127.0.0.1:7878)
//! cargo run --example demo -- device ADDR [GATEWAY_PUBLIC_KEY]  # only the device
//! ```
//!
//! The device (`SN-DEMO-0001`, a pulse oximeter) pushes each reading into its outbox, sends what
//! the outbox holds, and frees a message only when the cloud acknowledges it. The cloud decodes and
//! "stores" each message before acknowledging it, and after the second reading queues a command
//! (set the reporting interval to 60 s) in its own outbox toward the device. The device checks the
//! command against its command policy (the clinic's key, its own id, validity on the wall clock,
//! the operation and its range, the command id's order), acknowledges the delivery, and answers
//! with a command acknowledgement (executed, or rejected and why) as a message of its own.
//!
//! In `device` mode the cloud's public key is `GATEWAY_PUBLIC_KEY` (64 hex digits) if given, else
//! the key of this demo's fixed cloud secret; once everything it sent is acknowledged the device
//! waits 2 s more for commands, then closes. The demo cloud keeps nothing across connections
//! (each gets its own receiver state and outbox); the gateway keeps both in its database.
//!
//! # Run it against the gateway
//!
//! ```text
//! D=$(mktemp -d)
//! K=$(cargo run -q -p tether-gateway -- --data $D public-key)   # the gateway's key, created here
//! # The demo device's public key (X25519 of its fixed secret [0xD1; 32]; it prints it too):
//! cargo run -p tether-gateway -- --data $D register --id SN-DEMO-0001 \
//!     --key 7e698e6c04ff7ce65a05c6e5c1d0338782d223c6390db21ab9c72416c00eef6d
//! printf 'a7%.0s' $(seq 32) > $D/clinic.seed                    # the clinic's demo seed
//! cargo run -p tether-gateway -- --data $D queue-command --device SN-DEMO-0001 \
//!     --authority-seed $D/clinic.seed --operation 1 --param 1=60
//! cargo run -p tether-gateway -- --data $D serve --listen 127.0.0.1:7979 --no-metrics &
//! cargo run --example demo -- device 127.0.0.1:7979 $K
//! cargo run -p tether-gateway -- --data $D commands             # command 1: executed
//! cargo run -p tether-gateway -- --data $D export               # the readings, as CSV
//! cargo run -p tether-gateway -- --data $D verify-audit         # the audit chain is intact
//! ```
//!
//! Run the device again and the gateway sees a new message stream (this demo's outbox lives in
//! memory, so each run starts one) and stores and acknowledges its readings all the same.
//!
//! The keys below are fixed so that other demo devices can pin the cloud's public key and the
//! gateway can register this device's. The outbox storage keys are fixed too, and the outboxes
//! live in memory, so a message is kept only while the process runs: a real device keeps its
//! outbox on flash ([`tether::delivery::FileStorage`] on a hosted system) under a key from its key
//! store. Never ship fixed keys.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use tether::delivery::{
    Endpoint, Incoming, MemStorage, Outbox, OutboxConfig, OutboxStorage, ReceiverState, Sender,
    SenderConfig, StorageKey, MAX_FRAME,
};
use tether::handshake::Established;
use tether::message::command::{
    rejection_of, AckStatus, Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier,
    Grant, ParamRule, Params,
};
use tether::message::cose::Signer;
use tether::message::decimal::{Decimal, Value};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::message::{Kind, Message};
use tether::policy::{AllowList, PinnedKey};
use tether::*;

const CLOUD_SECRET: [u8; 32] = [0xC1; 32];
const DEVICE_SECRET: [u8; 32] = [0xD1; 32];
/// The clinic's command-authority seed. In a real deployment it stays in the clinic's HSM: the
/// cloud only relays commands signed there. The demo cloud signs with it to keep to one process.
const CLINIC_SEED: [u8; 32] = [0xA7; 32];
/// The key id the device knows the clinic's authority key by.
const CLINIC_KID: &[u8] = b"clinic";
const DEVICE_ID: &[u8] = b"SN-DEMO-0001";
/// The outboxes' storage keys (fixed for the demo; see the module documentation).
const DEVICE_STORAGE_KEY: [u8; 32] = [0x0D; 32];
const CLOUD_STORAGE_KEY: [u8; 32] = [0x0C; 32];
/// The one operation the clinic may order: set the reporting interval, parameter 1 in seconds.
const SET_INTERVAL: u16 = 1;
const PARAM_SECONDS: u8 = 1;
/// How long a side waits for its peer's next bytes, or for it to take ours, before giving up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a standalone device waits for commands once everything it sent is acknowledged.
const LINGER: Duration = Duration::from_secs(2);
/// The readings, one vitals batch each: SpO2 in %, pulse rate in /min.
const READINGS: [(i64, i64); 5] = [(97, 72), (96, 75), (97, 74), (98, 73), (97, 71)];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key from 64 hex digits.
fn parse_key(text: &str) -> Res<PublicKey> {
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() != 64 || !text.is_ascii() {
        return Err(format!("{text:?}: expected a public key of 64 hex digits").into());
    }
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|e| format!("{text:?}: {e}"))?;
    }
    Ok(PublicKey(key))
}

/// Milliseconds since the Unix epoch: reading times, and command validity.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch, for the handshake's credential checks.
fn wall_clock() -> UnixTime {
    UnixTime(wall_ms() / 1000)
}

/// Sealing and resending run on a monotonic clock, never on the wall clock.
fn now(start: std::time::Instant) -> Instant {
    Instant(start.elapsed().as_millis() as u64)
}

/// Both sides send whatever the endpoint has due at once and never resend within a session: on
/// TCP nothing is lost until the connection breaks, and a new session resends everything that
/// was not acknowledged.
fn sender_config() -> SenderConfig {
    SenderConfig {
        window: 8,
        resend_after_ms: 0,
    }
}

/// An endpoint over a new outbox in memory, with a new message stream.
fn endpoint(storage_key: [u8; 32]) -> Res<Endpoint<MemStorage>> {
    let outbox = Outbox::open(
        MemStorage::new(16, 1100),
        &StorageKey::new(storage_key),
        OutboxConfig::default(),
        &mut OsEntropy,
    )
    .map_err(|refused| refused.error())?;
    let mut ep = Endpoint::new(Sender::new(outbox, sender_config())?, ReceiverState::NEW);
    ep.on_reconnect();
    Ok(ep)
}

/// Reads until the decoder yields one unit. `Ok(None)`: nothing arrived within the socket's read
/// timeout (bytes of a partial unit stay in `pending`). A hang-up is the error `hung_up`.
fn next_unit(
    sock: &mut TcpStream,
    dec: &mut StreamDecoder,
    pending: &mut Vec<u8>,
    hung_up: &'static str,
) -> Res<Option<Vec<u8>>> {
    loop {
        let mut input = &pending[..];
        let unit = dec.next(&mut input)?.map(<[u8]>::to_vec);
        let used = pending.len() - input.len();
        pending.drain(..used);
        if unit.is_some() {
            return Ok(unit);
        }
        let mut chunk = [0u8; 4096];
        let n = match sock.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(hung_up.into());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// What one record from the peer carried.
enum Got {
    /// A delivery frame (the record's plaintext).
    Frame(Vec<u8>),
    /// The peer's sending keys moved to this epoch.
    KeyUpdate(u32),
    /// The peer closed the session.
    Close,
}

/// One session over a TCP stream.
struct Link {
    /// "cloud" or "device", for the log.
    who: &'static str,
    sock: TcpStream,
    session: Session,
    dec: StreamDecoder,
    pending: Vec<u8>,
    start: std::time::Instant,
}

impl Link {
    /// Seals one frame as a record (after a key update record when one is due) and sends it.
    fn send(&mut self, frame: &[u8]) -> Res<()> {
        let mut wire = vec![0u8; self.session.seal_capacity(frame.len())];
        let sealed = self.session.seal(now(self.start), frame, &mut wire)?;
        if sealed.key_update > 0 {
            println!(
                "[{}] -> key update record ({} bytes), now epoch {}",
                self.who,
                sealed.key_update,
                self.session.send_epoch()
            );
        }
        self.sock.write_all(&wire[..sealed.total()])?;
        Ok(())
    }

    /// Sends everything the endpoint has due: acknowledgements, the hello, messages.
    fn flush<S: OutboxStorage>(&mut self, ep: &mut Endpoint<S>) -> Res<()> {
        let mut frame = vec![0u8; MAX_FRAME];
        while let Some(n) = ep.poll(now(self.start).0, &mut frame)? {
            self.send(&frame[..n])?;
        }
        Ok(())
    }

    /// The next record from the peer, opened; `Ok(None)` if nothing came within `wait`. Any
    /// record tether rejects is an error: on a stream, nothing after it can be trusted.
    fn recv(&mut self, wait: Duration) -> Res<Option<Got>> {
        self.sock
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let unit = next_unit(
            &mut self.sock,
            &mut self.dec,
            &mut self.pending,
            "peer hung up without close",
        )?;
        let Some(unit) = unit else {
            return Ok(None);
        };
        let mut plain = vec![0u8; unit.len()];
        Ok(Some(
            match self.session.open(now(self.start), &unit, &mut plain)? {
                Event::Data(d) => Got::Frame(d.to_vec()),
                Event::KeyUpdate { epoch } => Got::KeyUpdate(epoch),
                Event::Close => Got::Close,
            },
        ))
    }
}

// ---------------------------------------------------------------- cloud

/// Accepts `connections` connections (`usize::MAX`: forever), each served on its own thread.
/// A bad peer costs only its own connection; `serve` returns once every connection has ended.
fn serve(listener: TcpListener, connections: usize) -> Res<()> {
    let key = StaticKeypair::from_secret(CLOUD_SECRET);
    let identity = Identity::new(b"cloud.demo", "tether-demo-gateway", "0.1.0", b"k1")?;
    let device_key = StaticKeypair::from_secret(DEVICE_SECRET).public();
    let registry = [(DEVICE_ID, device_key)];
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

/// The cloud's side of one connection. Any error ends it, and dropping the socket closes it.
fn connection(
    mut sock: TcpStream,
    config: &ResponderConfig,
    registry: &[(&[u8], PublicKey)],
    start: std::time::Instant,
) -> Res<()> {
    sock.set_read_timeout(Some(IDLE_TIMEOUT))?;
    sock.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut dec = StreamDecoder::for_session_config(&config.session);
    let mut pending = Vec::new();
    let msg1 = next_unit(
        &mut sock,
        &mut dec,
        &mut pending,
        "peer hung up during the handshake",
    )?
    .ok_or("no data within the read timeout")?;
    println!("[cloud] <- handshake message 1 ({} bytes)", msg1.len());
    let mut policy = AllowList::new(registry);
    let mut hs = Responder::accept(config, &msg1, &mut policy, wall_clock(), &mut OsEntropy)
        .map_err(|e| format!("handshake refused: {e}"))?;
    let mut buf = vec![0u8; 2048];
    let n = hs.write_message(&mut buf)?;
    println!("[cloud] -> handshake message 2 ({n} bytes)");
    sock.write_all(&buf[..n])?;
    let Established { session, peer, .. } = hs.finish(now(start))?;
    println!(
        "[cloud] session up with {} ({} {}), suite {:?}",
        String::from_utf8_lossy(peer.identity.id()),
        peer.identity.model(),
        peer.identity.version(),
        session.suite()
    );
    let mut link = Link {
        who: "cloud",
        sock,
        session,
        dec,
        pending,
        start,
    };
    // The cloud's own messages to the device (commands) wait in its outbox until acknowledged.
    let mut ep = endpoint(CLOUD_STORAGE_KEY)?;
    link.flush(&mut ep)?;
    let mut frame = vec![0u8; MAX_FRAME];
    let mut readings = 0;
    let mut command_sent = false;
    let mut acked = 0;
    loop {
        let got = link
            .recv(IDLE_TIMEOUT)?
            .ok_or("no data within the read timeout")?;
        let data = match got {
            Got::Frame(data) => data,
            Got::KeyUpdate(epoch) => {
                println!("[cloud] <- key update: device now sends in epoch {epoch}");
                continue;
            }
            Got::Close => {
                println!("[cloud] <- close; session done after {readings} readings");
                let n = link.session.close(&mut buf)?;
                link.sock.write_all(&buf[..n])?;
                return Ok(());
            }
        };
        match ep.handle(&data)? {
            Incoming::Message { seq, bytes, then } => {
                if describe(seq, bytes) {
                    readings += 1;
                }
                // A real cloud writes the message and `then` in one transaction, and only then
                // acknowledges: a resent copy is recognised as a duplicate after any crash.
                println!(
                    "[cloud]    stored message {seq} (with the receiver state: next expected {})",
                    then.next
                );
                let n = ep.delivered(seq, &mut frame)?;
                link.send(&frame[..n])?;
                println!("[cloud] -> stored up to message {seq}");
                if readings == 2 && !command_sent {
                    command_sent = true;
                    let signer = Signer::from_seed(&CLINIC_SEED, CLINIC_KID)?;
                    let issued_ms = wall_ms();
                    let command = Command {
                        device_id: DEVICE_ID,
                        command_id: 1,
                        issued_ms,
                        expires_ms: issued_ms + 5 * 60 * 1000,
                        operation: SET_INTERVAL,
                        params: Params::new(&[(PARAM_SECONDS, 60)])?,
                    };
                    let n = command.encode(&signer, &mut frame)?;
                    let seq = ep.push(&frame[..n])?;
                    println!("[cloud] -> command 1: set interval 60 s (signed by the clinic)");
                    println!("[cloud]    {n} bytes, message {seq} of the cloud's stream");
                }
            }
            Incoming::Ack(seq) => {
                if seq > acked {
                    acked = seq;
                    println!("[cloud] <- the device has our messages up to {seq}");
                }
            }
            Incoming::NewStream {
                stream, first_seq, ..
            } => println!(
                "[cloud] <- hello: message stream {} from the device, starting at {first_seq}",
                hex(&stream.0)
            ),
            Incoming::Resumed { ack } => {
                println!("[cloud] <- hello: the device resumes after message {ack}")
            }
            Incoming::Duplicate { ack } => {
                println!("[cloud] <- a copy of a stored message: dropped, stored up to {ack}")
            }
            Incoming::Gap { expected, got } => {
                println!("[cloud] <- message {got} while expecting {expected}: dropped")
            }
            Incoming::Skipped {
                expected,
                first_seq,
            } => println!(
                "[cloud] <- the device no longer holds messages {expected}..{first_seq}: lost"
            ),
        }
        link.flush(&mut ep)?;
    }
}

/// Prints a message from the device; true for a vitals batch.
fn describe(seq: u64, bytes: &[u8]) -> bool {
    match Message::parse(bytes).map(|m| m.kind) {
        Ok(Kind::Vitals) => match VitalsBatch::decode(bytes) {
            Ok(batch) => {
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
                println!(
                    "[cloud] <- message {seq}: vitals batch, {} readings in {} bytes: {}",
                    batch.len(),
                    bytes.len(),
                    shown.join(", ")
                );
                true
            }
            Err(e) => {
                println!("[cloud] <- message {seq}: a vitals batch that does not decode: {e}");
                false
            }
        },
        Ok(Kind::CommandAck) => {
            match CommandAck::decode(bytes) {
                Ok(ack) => println!(
                    "[cloud] <- command {} acknowledged: {:?}",
                    ack.command_id, ack.status
                ),
                Err(e) => println!(
                    "[cloud] <- message {seq}: an acknowledgement that does not decode: {e}"
                ),
            }
            false
        }
        Ok(kind) => {
            println!("[cloud] <- message {seq}: {kind:?}, {} bytes", bytes.len());
            false
        }
        Err(e) => {
            println!("[cloud] <- message {seq}: not a tether message: {e}");
            false
        }
    }
}

// ---------------------------------------------------------------- device

/// How the device ends its session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Once everything is acknowledged and one command was handled (the in-process demo, whose
    /// cloud always sends one).
    AfterCommand,
    /// Once everything is acknowledged and no command came for [`LINGER`] (a standalone device:
    /// a gateway sends commands only when some are queued).
    AfterLinger,
}

/// One vitals batch: an SpO2 reading and a pulse rate, both taken at `time_ms`.
fn vitals(time_ms: u64, spo2: i64, pulse: i64, out: &mut [u8]) -> Res<usize> {
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::PulseRate,
            exponent: 0,
        },
    ];
    let readings = [
        Reading {
            time_ms,
            channel: 0,
            value: Value::Number(Decimal::new(spo2, 0)),
        },
        Reading {
            time_ms,
            channel: 1,
            value: Value::Number(Decimal::new(pulse, 0)),
        },
    ];
    Ok(VitalsBatch::encode(
        time_ms, 1000, &channels, &readings, out,
    )?)
}

fn device(addr: &str, cloud_key: PublicKey, finish: Finish) -> Res<()> {
    let key = StaticKeypair::from_secret(DEVICE_SECRET);
    let identity = Identity::new(DEVICE_ID, "PulseOximeter P3", "2.4.1", b"k1")?;
    println!(
        "[device] {} ({}), static key {}",
        String::from_utf8_lossy(DEVICE_ID),
        identity.model(),
        hex(key.public().as_bytes())
    );
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
    sock.set_read_timeout(Some(IDLE_TIMEOUT))?;
    sock.set_write_timeout(Some(IDLE_TIMEOUT))?;
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
    let msg2 = next_unit(
        &mut sock,
        &mut dec,
        &mut pending,
        "cloud hung up during the handshake",
    )?
    .ok_or("no handshake answer from the cloud within 10 s")?;
    println!("[device] <- handshake message 2 ({} bytes)", msg2.len());
    hs.read_message(&msg2, &mut PinnedKey(cloud_key), wall_clock())?;
    let Established {
        session,
        peer,
        handshake_hash,
    } = hs.finish(now(start))?;
    println!(
        "[device] session up with {} (handshake hash {}…)",
        String::from_utf8_lossy(peer.identity.id()),
        hex(&handshake_hash[..8])
    );
    let mut link = Link {
        who: "device",
        sock,
        session,
        dec,
        pending,
        start,
    };

    // Each reading goes into the outbox first (sealed, and on flash on a real device), then out.
    let mut ep = endpoint(DEVICE_STORAGE_KEY)?;
    let mut msg = vec![0u8; MAX_FRAME];
    for (spo2, pulse) in READINGS {
        let n = vitals(wall_ms(), spo2, pulse, &mut msg)?;
        let seq = ep.push(&msg[..n])?;
        link.flush(&mut ep)?;
        println!(
            "[device] -> message {seq}: vitals batch, SpO2 {spo2} %, pulse {pulse} /min ({n} bytes, kept in the outbox until stored)"
        );
    }

    // What the device accepts commands from, and what it lets them do.
    let rules = [ParamRule {
        id: PARAM_SECONDS,
        min: 1,
        max: 3600,
        required: true,
    }];
    let grants = [Grant {
        operation: SET_INTERVAL,
        params: &rules,
    }];
    let authorities = [CommandAuthority {
        key: Signer::from_seed(&CLINIC_SEED, CLINIC_KID)?.authority_key(),
        grants: &grants,
    }];
    let policy = CommandPolicy {
        device_id: DEVICE_ID,
        authorities: &authorities,
        max_clock_skew_ms: 60_000,
    };
    let mut verifier = CommandVerifier::new(0);
    let mut interval_s = 1;
    let mut commands = 0;
    let mut acked = 0;
    let mut linger_until = None;
    let mut frame = vec![0u8; MAX_FRAME];
    loop {
        let mut wait = IDLE_TIMEOUT;
        if ep.sender().unacknowledged() == 0 {
            match finish {
                Finish::AfterCommand if commands > 0 => break,
                Finish::AfterCommand => {}
                Finish::AfterLinger => {
                    let until = *linger_until.get_or_insert_with(|| {
                        println!(
                            "[device] everything acknowledged; waiting {} s for commands",
                            LINGER.as_secs()
                        );
                        std::time::Instant::now() + LINGER
                    });
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    wait = left;
                }
            }
        }
        let data = match link.recv(wait)? {
            Some(Got::Frame(data)) => data,
            Some(Got::KeyUpdate(epoch)) => {
                println!("[device] <- key update: the cloud now sends in epoch {epoch}");
                continue;
            }
            Some(Got::Close) => return Err("the cloud closed the session early".into()),
            None if wait < IDLE_TIMEOUT => continue,
            None => return Err("no answer from the cloud within 10 s".into()),
        };
        match ep.handle(&data)? {
            Incoming::Ack(seq) => {
                if seq > acked {
                    acked = seq;
                    println!("[device] <- stored up to message {seq}");
                }
            }
            Incoming::Message { seq, bytes, .. } => {
                commands += 1;
                let now_ms = wall_ms();
                let (command_id, status) = match verifier.verify(&policy, bytes, now_ms) {
                    Ok(verified) => {
                        let c = verified.command();
                        let seconds = c.params.get(PARAM_SECONDS).unwrap_or(interval_s);
                        println!(
                            "[device] <- command {}: set interval {seconds} s, signed by {:?}: signature, authority, device id, validity, range and order check out",
                            c.command_id,
                            String::from_utf8_lossy(verified.authority().kid())
                        );
                        println!("[device]    reporting interval {interval_s} s -> {seconds} s");
                        interval_s = seconds;
                        (c.command_id, AckStatus::Executed)
                    }
                    Err(e) => {
                        println!("[device] <- command refused: {e}");
                        let reason = rejection_of(&e);
                        (
                            CommandAck::rejected(bytes, reason, now_ms).command_id,
                            AckStatus::Rejected(reason),
                        )
                    }
                };
                // The command is handled (a real device persists `verifier.last_accepted()`
                // and the receiver state first): acknowledge its delivery, then answer it.
                let n = ep.delivered(seq, &mut frame)?;
                link.send(&frame[..n])?;
                let ack = CommandAck {
                    command_id,
                    status,
                    time_ms: now_ms,
                };
                let n = ack.encode(&mut msg)?;
                let s = ep.push(&msg[..n])?;
                println!("[device] -> message {s}: command {command_id} acknowledged: {status:?}");
            }
            Incoming::NewStream { first_seq, .. } => println!(
                "[device] <- hello: the cloud's command stream, starting at message {first_seq}"
            ),
            Incoming::Resumed { ack } => {
                println!("[device] <- hello: the cloud resumes after message {ack}")
            }
            Incoming::Duplicate { ack } => {
                println!("[device] <- a copy of a command already handled (up to {ack}): dropped")
            }
            Incoming::Gap { expected, got } => {
                println!("[device] <- message {got} while expecting {expected}: dropped")
            }
            Incoming::Skipped {
                expected,
                first_seq,
            } => println!(
                "[device] <- the cloud no longer holds messages {expected}..{first_seq}: lost"
            ),
        }
        link.flush(&mut ep)?;
    }

    let n = link.session.close(&mut buf)?;
    println!("[device] -> close");
    link.sock.write_all(&buf[..n])?;
    // Whatever else arrives before the cloud's close is left for the next session.
    loop {
        match link.recv(IDLE_TIMEOUT)? {
            Some(Got::Close) => break,
            Some(_) => {}
            None => return Err("no close from the cloud within 10 s".into()),
        }
    }
    println!("[device] <- close; done");
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo_cloud_key = StaticKeypair::from_secret(CLOUD_SECRET).public();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
            serve(TcpListener::bind(addr)?, usize::MAX)
        }
        Some("device") => {
            let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
            let cloud_key = match args.get(2) {
                Some(text) => parse_key(text)?,
                None => demo_cloud_key,
            };
            device(addr, cloud_key, Finish::AfterLinger)
        }
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            let server = thread::spawn(move || serve(listener, 1).map_err(|e| e.to_string()));
            device(&addr, demo_cloud_key, Finish::AfterCommand)?;
            server.join().map_err(|_| "server thread panicked")??;
            Ok(())
        }
        Some(other) => Err(format!("unknown mode {other:?}: use server or device").into()),
    }
}
