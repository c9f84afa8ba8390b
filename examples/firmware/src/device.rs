//! The device role, end to end, replaying the known-answer vector.
//!
//! The device runs `Provisioned` (Noise IK) to the cloud key it pins, over datagram framing, with
//! the ChaChaPoly/BLAKE2s suite. Every byte it produces is compared with the vector; every byte
//! it receives comes from the vector. Record payloads are opaque here: the application layer
//! (`app.rs`) produces messages and checks the ones the cloud sends.

use tether::policy::{PinnedKey, Rejection};
use tether::{
    ChannelKind, Error, Event, Framing, Handshake, HandshakeConfig, Identity, Initiator, Instant,
    Local, Malformed, PeerError, PublicKey, Session, SessionConfig, StaticKeypair, Suite, UnixTime,
};

use crate::app::{App, AppError};
use crate::entropy::VectorEntropy;
use crate::heap::{Usage, HEAP};
use crate::out::{Line, Show};
use crate::say;
use crate::vector::{self, Kind, Sender};

/// The wall clock the device passes to the trust policy (a device without a real-time clock
/// passes its firmware's build time). `PinnedKey` does not look at it.
const NOW: UnixTime = UnixTime(1_790_000_000);
/// The monotonic clock, in milliseconds: the vector's records were all sealed at time 0, and no
/// time-based key update is due.
const T0: Instant = Instant(0);

/// Largest record plaintext this device sends or accepts. It bounds the buffers below; both
/// sides must agree on it (the largest of the vector's records, the firmware manifest, is 206
/// bytes).
const MAX_PLAINTEXT: usize = 256;
/// Datagram overhead per record (flags, 64-bit counter, tag): spec/PROTOCOL.md section 5.2.
const DATAGRAM_OVERHEAD: usize = 25;
/// Room for a data record and an automatic key update record before it.
const WIRE: usize = MAX_PLAINTEXT + 2 * DATAGRAM_OVERHEAD;
/// Handshake message 0 of IK: 3 + 96 + identity (at most 256 bytes).
const HANDSHAKE_BUF: usize = 3 + 96 + 256;

/// What went wrong, and where.
pub struct Failure {
    pub step: &'static str,
    pub cause: Cause,
}

pub enum Cause {
    /// tether returned an error.
    Tether(Error),
    /// The application refused a reading or a command.
    App(AppError),
    /// A result differs from the vector.
    Mismatch,
}

impl Show for Failure {
    fn show(&self, line: &mut Line) {
        line.push(self.step.as_bytes());
        line.push(b": ");
        let what = match &self.cause {
            Cause::Tether(e) => describe(e),
            Cause::App(AppError::NoReading) => "application: nothing left to send",
            Cause::App(AppError::TooLarge) => "application: message too large",
            Cause::App(AppError::Refused(e)) => describe(e),
            Cause::App(AppError::Unexpected) => "application: unexpected message",
            Cause::Mismatch => "differs from the vector",
        };
        line.push(what.as_bytes());
    }
}

/// tether's error, in words (its `Display` would bring in `core::fmt`, see `out.rs`).
fn describe(e: &Error) -> &'static str {
    match e {
        Error::Malformed(m) => match m {
            Malformed::Truncated => "malformed: truncated",
            Malformed::Oversized => "malformed: oversized",
            Malformed::Version => "malformed: unsupported version",
            Malformed::UnknownType => "malformed: unknown type or reserved bits",
            Malformed::Length => "malformed: inconsistent length",
            Malformed::Cbor => "malformed: invalid CBOR",
            _ => "malformed input",
        },
        Error::Peer(p) => match p {
            PeerError::Authentication => "peer: authentication failed",
            PeerError::Replayed => "peer: replayed record",
            PeerError::TooOld => "peer: record too old",
            PeerError::Epoch => "peer: unexpected epoch",
            PeerError::AfterClose => "peer: record after close",
            PeerError::UnexpectedMessage => "peer: unexpected handshake message",
            _ => "peer misbehaved",
        },
        Error::Local(l) => match l {
            Local::BufferTooSmall { .. } => "local: buffer too small",
            Local::WrongState => "local: wrong state",
            Local::PlaintextTooLarge => "local: plaintext too large",
            Local::LimitReached => "local: limit reached",
            Local::Config => "local: configuration out of range",
            Local::NotAllowed => "local: not allowed",
            Local::Entropy => "local: entropy failed",
            Local::BadKey => "local: bad key",
            Local::Noise => "local: Noise error",
            _ => "local error",
        },
        Error::Policy(Rejection::KeyMismatch) => "policy: static key mismatch",
        Error::Policy(_) => "policy: peer rejected",
        _ => "error",
    }
}

/// Attaches the step to an error.
pub trait At<T> {
    fn at(self, step: &'static str) -> Result<T, Failure>;
}

impl<T> At<T> for Result<T, Error> {
    fn at(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            step,
            cause: Cause::Tether(e),
        })
    }
}

impl<T> At<T> for Result<T, AppError> {
    fn at(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            step,
            cause: Cause::App(e),
        })
    }
}

/// Fails with a mismatch at `step` unless `ok`.
pub fn check(ok: bool, step: &'static str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure {
            step,
            cause: Cause::Mismatch,
        })
    }
}

/// Expects `result` to be exactly the error `want`.
pub fn expect_err<T>(
    result: Result<T, Error>,
    want: Error,
    step: &'static str,
) -> Result<(), Failure> {
    match result {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(Failure {
            step,
            cause: Cause::Tether(e),
        }),
        Ok(_) => check(false, step),
    }
}

/// The footprint figures the run measured.
pub struct Figures {
    /// Heap during the handshake, from `Initiator::provisioned` to `finish`.
    pub handshake_heap: Usage,
    /// `size_of::<Session>()`.
    pub session_size: usize,
    /// Heap bytes the live session holds (in use after `finish` minus before the handshake).
    pub session_heap: usize,
    /// Heap still in use once the session is dropped, relative to before the handshake.
    pub heap_leaked: usize,
}

/// Runs the device role against the vector.
pub fn run(app: &mut App) -> Result<Figures, Failure> {
    // The established session lives in a static, as firmware would keep it: not on the stack,
    // under the application's checks of the messages it delivers (an Ed25519 verification, the
    // deepest chain after the handshake). `singleton!` hands out the one `&'static mut` to it.
    let session = cortex_m::singleton!(: Option<Session> = None).ok_or(Failure {
        step: "session slot",
        cause: Cause::Mismatch,
    })?;
    let before = HEAP.mark();
    let handshake_heap = handshake(session)?;
    let Some(established) = session.as_mut() else {
        return Err(Failure {
            step: "handshake result",
            cause: Cause::Mismatch,
        });
    };
    // The session holds its keys inline and its replay window on the heap.
    let session_heap = HEAP.usage(before).in_use;
    let replay = records(established, app);
    // The session ends here: its keys are zeroized, its window freed (and wiped by the
    // allocator).
    *session = None;
    replay?;
    Ok(Figures {
        handshake_heap,
        session_size: core::mem::size_of::<Session>(),
        session_heap,
        heap_leaked: HEAP.usage(before).in_use,
    })
}

/// The encoded identity is the vector's, byte for byte. Not inlined: its buffer stays out of the
/// handshake's stack frame.
#[inline(never)]
fn check_identity(identity: &Identity) -> Result<(), Failure> {
    let mut cbor = [0u8; 256];
    let n = identity.encode(&mut cbor).at("encode the identity")?;
    check(
        cbor.get(..n) == Some(vector::DEVICE_IDENTITY_CBOR),
        "identity CBOR",
    )
}

/// IK as the initiator: message 0 out (checked against the vector), message 1 in (from the
/// vector), trust decision by the pinned key, then `finish`. The session goes to `out`; the heap
/// the handshake used is returned.
///
/// The handshake (400 bytes on Cortex-M) is returned by `Initiator::provisioned` straight into
/// this frame and never moved on the stack again: `exchange` and `finish` (not inlined) take it
/// by reference, and only `finish` moves it out, in its own frame, after the deepest point
/// (snow's build, under `Initiator::provisioned`) has passed.
#[inline(never)]
fn handshake(out: &mut Option<Session>) -> Result<Usage, Failure> {
    say!(
        "[device] ",
        vector::NOISE_PROTOCOL,
        " over datagrams to the pinned cloud key, prologue ",
        vector::PROLOGUE.len(),
        " bytes"
    );
    // The heap is measured from `Initiator::provisioned` to `finish`.
    let mark = HEAP.mark();
    // Returned straight into this frame, and never moved on the stack until `finish`.
    let mut hs = start();
    if let Err(failure) = hs {
        return Err(failure);
    }
    let cloud_key = PublicKey(vector::CLOUD_STATIC_PUBLIC);
    exchange(&mut hs, &cloud_key)?;
    finish(&mut hs, &cloud_key, out)?;
    Ok(HEAP.usage(mark))
}

/// Starts IK with the vector's ephemeral entropy. Not inlined: the identity, key pair and
/// configuration the handshake was built from are gone from the stack when it goes on.
#[inline(never)]
fn start() -> Result<Handshake, Failure> {
    // Provisioned at manufacture: the device's key, identity and the cloud key it pins.
    let identity = Identity::new(
        vector::DEVICE_ID,
        vector::DEVICE_MODEL,
        vector::DEVICE_VERSION,
        vector::DEVICE_KEY_ID,
    )
    .at("device identity")?;
    check_identity(&identity)?;
    let key = StaticKeypair::from_secret(vector::DEVICE_STATIC_SECRET);
    check(
        key.public().as_bytes() == &vector::DEVICE_STATIC_PUBLIC,
        "device static public key",
    )?;
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
    let mut entropy = VectorEntropy::new(vector::DEVICE_EPHEMERAL);
    let hs = Initiator::provisioned(
        &config,
        &PublicKey(vector::CLOUD_STATIC_PUBLIC),
        &mut entropy,
    )
    .at("start IK");
    if hs.is_ok() {
        check(entropy.is_spent(), "the ephemeral key was drawn")?;
    }
    hs
}

/// Writes message 0 (it must be the vector's, byte for byte) and reads the cloud's message 1
/// from the vector, pinning the cloud's key.
#[inline(never)]
fn exchange(hs: &mut Result<Handshake, Failure>, cloud_key: &PublicKey) -> Result<(), Failure> {
    let Ok(hs) = hs.as_mut() else {
        return check(false, "handshake started");
    };
    let [msg0, msg1] = &vector::HANDSHAKE;
    check(
        msg0.from == Sender::Device && msg1.from == Sender::Cloud,
        "handshake senders",
    )?;
    check(
        hs.next_message_len() == msg0.bytes.len(),
        "handshake message 0 length",
    )?;
    let mut buf = [0u8; HANDSHAKE_BUF];
    let n = hs.write_message(&mut buf).at("write handshake message 0")?;
    check(buf.get(..n) == Some(msg0.bytes), "handshake message 0")?;
    say!(
        "[device] -> handshake message 0 (",
        n,
        " bytes): matches the vector"
    );
    // A real device sends buf[..n] and waits for the reply; here the reply is the vector's.
    hs.read_message(msg1.bytes, &mut PinnedKey(*cloud_key), NOW)
        .at("read handshake message 1")?;
    check(hs.is_finished(), "handshake finished after message 1")?;
    say!(
        "[device] <- handshake message 1 (",
        msg1.bytes.len(),
        " bytes): authenticated, pinned key accepted"
    );
    Ok(())
}

/// Turns the finished handshake into the session, into `out`, after checking the handshake hash
/// and the cloud's identity.
#[inline(never)]
fn finish(
    hs: &mut Result<Handshake, Failure>,
    cloud_key: &PublicKey,
    out: &mut Option<Session>,
) -> Result<(), Failure> {
    let gone = Err(Failure {
        step: "handshake finished twice",
        cause: Cause::Mismatch,
    });
    let hs = core::mem::replace(hs, gone)?;
    let established = hs.finish(T0).at("finish")?;
    check(
        established.handshake_hash == vector::HANDSHAKE_HASH,
        "handshake hash",
    )?;
    let peer = &established.peer;
    check(
        peer.static_key == *cloud_key
            && peer.identity.id() == vector::CLOUD_ID
            && peer.identity.model() == vector::CLOUD_MODEL
            && peer.identity.version() == vector::CLOUD_VERSION
            && peer.identity.key_id() == vector::CLOUD_KEY_ID
            && peer.identity.credential().is_none(),
        "cloud identity",
    )?;
    say!(
        "[device] session up with ",
        core::str::from_utf8(peer.identity.id()).unwrap_or("?"),
        " (",
        peer.identity.model(),
        " ",
        peer.identity.version(),
        "), handshake hash matches the vector"
    );
    *out = Some(established.session);
    Ok(())
}

/// Replays the record sequence: seals the device's records (byte for byte as in the vector) and
/// opens the cloud's.
///
/// Its frame holds only the plaintext buffer: the application's checks of a cloud message (an
/// Ed25519 verification, the deepest chain after the handshake) run from here, so the buffer for
/// sealed records lives in `send` and `closed` instead.
#[inline(never)]
fn records(session: &mut Session, app: &mut App) -> Result<(), Failure> {
    let mut plain = [0u8; MAX_PLAINTEXT];
    let mut forgeries_checked = false;
    for (i, rec) in vector::RECORDS.iter().enumerate() {
        if rec.from == Sender::Device {
            send(session, app, rec, i, &mut plain)?;
            continue;
        }
        let event = session
            .open(T0, rec.unit, &mut plain)
            .at("open a cloud record")?;
        say!(
            "[device] <- record ",
            i,
            ": ",
            rec.kind.name(),
            ", epoch ",
            rec.epoch,
            ", ",
            rec.unit.len(),
            " bytes: opened"
        );
        match (rec.kind, event) {
            (Kind::Data, Event::Data(p)) => {
                check(p == rec.plaintext, "command plaintext")?;
                app.receive(p).at("receive a message")?;
            }
            (Kind::KeyUpdate, Event::KeyUpdate { epoch }) => {
                check(epoch == rec.epoch, "key update epoch")?;
            }
            (Kind::Close, Event::Close) => {
                check(session.peer_closed(), "peer closed")?;
            }
            _ => return check(false, "event of a cloud record"),
        }
        check(session.recv_epoch() == rec.epoch, "receive epoch")?;
        if !forgeries_checked {
            forgeries_checked = true;
            rejects_forgeries(session, rec.unit, &mut plain)?;
        }
    }
    closed(session)?;
    let commands = vector::RECORDS
        .iter()
        .filter(|r| r.from == Sender::Cloud && r.kind == Kind::Data)
        .count();
    check(
        app.sent() == vector::DEVICE_READINGS.len() && app.received() == commands,
        "messages sent and received",
    )?;
    Ok(())
}

/// Seals the device's record `rec` (record `i` of the sequence), which must be the vector's byte
/// for byte.
#[inline(never)]
fn send(
    session: &mut Session,
    app: &mut App,
    rec: &vector::Record,
    i: usize,
    plain: &mut [u8],
) -> Result<(), Failure> {
    let mut wire = [0u8; WIRE];
    let len = match rec.kind {
        Kind::Data => {
            let reading = app.next_message(plain).at("produce a message")?;
            check(reading == rec.plaintext, "message plaintext")?;
            let sealed = session.seal(T0, reading, &mut wire).at("seal a reading")?;
            // No automatic key update is due: the vector's key updates are explicit.
            check(sealed.key_update == 0, "no automatic key update")?;
            sealed.total()
        }
        Kind::KeyUpdate => session.update_key(T0, &mut wire).at("update the key")?,
        Kind::Close => session.close(&mut wire).at("close")?,
    };
    check(wire.get(..len) == Some(rec.unit), "sealed record")?;
    check(session.send_epoch() == rec.epoch, "send epoch")?;
    say!(
        "[device] -> record ",
        i,
        ": ",
        rec.kind.name(),
        ", epoch ",
        rec.epoch,
        ", ",
        len,
        " bytes: matches the vector"
    );
    Ok(())
}

/// After our close, nothing more may be sealed; both sides have closed.
#[inline(never)]
fn closed(session: &mut Session) -> Result<(), Failure> {
    let mut wire = [0u8; WIRE];
    expect_err(
        session.seal(T0, b"late", &mut wire),
        Error::Local(Local::WrongState),
        "seal after close",
    )?;
    check(
        session.is_closed() && session.peer_closed(),
        "both sides closed",
    )
}

/// A replayed and a tampered copy of a record the session just accepted are refused; the rest
/// of the replay (which must still match the vector byte for byte) shows they changed nothing.
#[inline(never)]
fn rejects_forgeries(session: &mut Session, unit: &[u8], plain: &mut [u8]) -> Result<(), Failure> {
    expect_err(
        session.open(T0, unit, plain),
        Error::Peer(PeerError::Replayed),
        "a replayed record is refused",
    )?;
    let mut forged = [0u8; WIRE];
    let forged = forged.get_mut(..unit.len()).ok_or(Failure {
        step: "forged record buffer",
        cause: Cause::Mismatch,
    })?;
    forged.copy_from_slice(unit);
    // Byte 8 is the low byte of the 64-bit counter: the next counter, not seen yet, so that only
    // authentication can refuse it.
    if let Some(low) = forged.get_mut(8) {
        *low = low.wrapping_add(1);
    }
    expect_err(
        session.open(T0, forged, plain),
        Error::Peer(PeerError::Authentication),
        "a forged record is refused",
    )?;
    say!("[device] a replayed and a forged copy of it were refused");
    Ok(())
}
