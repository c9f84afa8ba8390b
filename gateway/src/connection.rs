//! One device connection, from accept to close.
//!
//! ```text
//! accept ─ first handshake message (deadline) ─ handshake slot ─ Responder::accept (registry
//!   policy) ─ reply ─ first record authenticates (deadline) ─ take over the device ─ serve
//! ```
//!
//! Serving: records are opened as they arrive; each message the device delivers becomes a job
//! for the committer and is acknowledged only when its commit is durable. Jobs are pipelined
//! (the receiver moves on at once, the acknowledgement waits) and complete in order, so
//! acknowledgements leave in order. Whatever way the connection ends, it first waits for its
//! commits and records their states in the device's live state, so the next session of the
//! device starts exactly where the database is.

use std::collections::VecDeque;
use std::sync::Arc;

use tether::delivery::{Frame, Incoming, Receiver, ReceiverState, StreamId, MAX_FRAME};
use tether::handshake::Established;
use tether::link::{RelayIndex, RELAY_HEADER_LEN};
use tether::{
    ChannelKind, Event, Framing, OsEntropy, Pattern, Responder, ResponderConfig, Session,
    StreamDecoder, Suite, UnixTime,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify, OwnedMutexGuard};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use crate::app::Decoded;
use crate::metrics::Metrics;
use crate::registry::{DeviceEntry, Live, RegistryPolicy};
use crate::shared::Shared;
use crate::store::{Change, Row};

/// Largest read from the socket at once.
const CHUNK: usize = 4096;

/// What a queued job does to the live state once it is durable.
#[derive(Debug)]
enum Pending {
    /// Message `seq` is stored; the receiver state is `then`. It arrived at `at`.
    Message {
        seq: u64,
        then: ReceiverState,
        at: std::time::Instant,
    },
    /// The receiver state is `state` (a new or skipped stream).
    State(ReceiverState),
    /// The device acknowledged commands up to this number.
    Delivered(u64),
    /// Nothing to apply (an audit row).
    Nothing,
}

type Done = oneshot::Receiver<Result<(), String>>;

/// Why a connection ended (a metrics label and a log field).
pub type Reason = &'static str;

/// Serves a device's own connection (stream framing) whose handshake message 0 has been read.
pub(crate) async fn serve_direct(
    shared: &Arc<Shared>,
    sock: TcpStream,
    conn_id: u64,
    msg0: Vec<u8>,
    carry: Vec<u8>,
    deadline: Instant,
) -> Reason {
    // Units are bounded by the session's records from here on.
    let dec = StreamDecoder::for_session_config(&shared.session_config);
    let pipe = Pipe::Tcp { sock, dec, carry };
    run(shared, pipe, conn_id, msg0, deadline).await
}

/// Serves one session of a relay connection (one index), from its handshake message 0.
pub(crate) async fn serve_slot(shared: Arc<Shared>, slot: Slot, id: u64, msg0: Vec<u8>) {
    let deadline = Instant::now() + shared.config.limits.handshake_deadline();
    let reason = run(&shared, Pipe::Slot(slot), id, msg0, deadline).await;
    Metrics::count(&shared.metrics.closed, reason);
    tracing::debug!(slot = id, reason, "relayed session ended");
}

/// One session's end of a phone's relay connection (`relay.rs`): datagram units in, framed
/// relayed units out to the connection's writer.
pub struct Slot {
    /// The session's index on the relay connection.
    pub(crate) index: RelayIndex,
    /// Units for this session, from the demultiplexer.
    pub(crate) rx: mpsc::Receiver<Vec<u8>>,
    /// Framed bytes to the writer.
    pub(crate) tx: mpsc::Sender<Vec<u8>>,
}

impl Slot {
    /// Appends `unit` in its envelope, with the stream length prefix, to `out`.
    fn frame(&self, unit: &[u8], out: &mut Vec<u8>) {
        let len = unit.len() + RELAY_HEADER_LEN;
        // Sealed units are far below 64 KiB (the relay's largest unit): no truncation.
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&tether::link::relay::header(self.index));
        out.extend_from_slice(unit);
    }

    /// Hands framed bytes to the writer.
    async fn send(&self, bytes: Vec<u8>) -> Result<(), Reason> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx.send(bytes).await.map_err(|_| "relay_closed")
    }
}

/// Where a session's units come from and go: a device's own TCP connection (stream framing,
/// where a unit that does not authenticate ends the connection), or one index of a phone's relay
/// connection (datagram units, where such a unit is dropped and the session goes on).
pub(crate) enum Pipe {
    /// A device's own connection.
    Tcp {
        /// The socket.
        sock: TcpStream,
        /// Splits the byte stream into units.
        dec: StreamDecoder,
        /// Bytes read past the last unit.
        carry: Vec<u8>,
    },
    /// One index of a relay connection.
    Slot(Slot),
}

impl Pipe {
    fn framing(&self) -> Framing {
        match self {
            Pipe::Tcp { .. } => Framing::Stream,
            Pipe::Slot(_) => Framing::Datagram,
        }
    }

    fn channel(&self) -> ChannelKind {
        match self {
            Pipe::Tcp { .. } => ChannelKind::DeviceCloud,
            Pipe::Slot(_) => ChannelKind::Relayed,
        }
    }

    fn is_datagram(&self) -> bool {
        matches!(self, Pipe::Slot(_))
    }

    /// The next whole unit.
    async fn next_unit(&mut self) -> Result<Vec<u8>, Reason> {
        match self {
            Pipe::Tcp { sock, dec, carry } => next_unit(sock, dec, carry).await,
            Pipe::Slot(slot) => slot.rx.recv().await.ok_or("relay_closed"),
        }
    }

    /// Waits for input: `None` when the socket is readable (then read it with
    /// `Conn::read_and_handle`), or a unit from the relay.
    async fn ready(&mut self) -> Result<Option<Vec<u8>>, Reason> {
        match self {
            Pipe::Tcp { sock, .. } => sock.readable().await.map(|()| None).map_err(|_| "io_error"),
            Pipe::Slot(slot) => slot.rx.recv().await.map(Some).ok_or("relay_closed"),
        }
    }

    /// Appends sealed units to `out` as this pipe sends them: as they are on TCP (each with its
    /// length prefix already), each in a relay envelope with a length prefix on a relay.
    /// `datagrams` are the units' lengths.
    fn frame(&self, units: &[u8], datagrams: &[usize], out: &mut Vec<u8>) {
        match self {
            Pipe::Tcp { .. } => out.extend_from_slice(units),
            Pipe::Slot(slot) => {
                let mut rest = units;
                for len in datagrams {
                    let (unit, tail) = rest.split_at(usize::min(*len, rest.len()));
                    slot.frame(unit, out);
                    rest = tail;
                }
            }
        }
    }

    /// Writes bytes already framed for this pipe.
    async fn send(&mut self, shared: &Shared, bytes: &[u8]) -> Result<(), Reason> {
        match self {
            Pipe::Tcp { sock, .. } => write(shared, sock, bytes).await,
            Pipe::Slot(slot) => slot.send(bytes.to_vec()).await,
        }
    }
}

fn now_unix() -> UnixTime {
    UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// A metrics label for a handshake failure.
pub fn cause(e: &tether::Error) -> &'static str {
    use tether::{Error, PeerError};
    match e {
        Error::Policy(r) => match r {
            tether::Rejection::UnknownPeer => "unknown_peer",
            tether::Rejection::Revoked => "revoked",
            tether::Rejection::KeyMismatch => "key_mismatch",
            tether::Rejection::MissingCredential => "credential_missing",
            tether::Rejection::BadCredential => "credential_invalid",
            tether::Rejection::NotYetValid | tether::Rejection::Expired => "credential_time",
            _ => "not_allowed",
        },
        Error::Peer(PeerError::Authentication) => "authentication",
        Error::Peer(PeerError::Replayed) => "replayed",
        Error::Peer(_) => "protocol",
        Error::Malformed(_) => "malformed",
        Error::Local(_) => "local",
        _ => "other",
    }
}

/// What a connection's end says about the device's session, if it is a security event: bytes
/// that do not authenticate (tampering on the path, or a broken device), or a device breaking
/// the delivery protocol.
fn session_error(reason: Reason) -> Option<&'static str> {
    match reason {
        "bad_record" => Some("a record failed authentication, or was replayed or out of order"),
        "bad_framing" => Some("the stream framing broke"),
        "bad_frame" => Some("a delivery frame did not decode, or came before the hello"),
        "bad_ack" => Some("the device acknowledged a command never sent"),
        _ => None,
    }
}

/// Reads until the decoder yields one unit; `carry` holds bytes read past it.
pub(crate) async fn next_unit(
    sock: &TcpStream,
    dec: &mut StreamDecoder,
    carry: &mut Vec<u8>,
) -> Result<Vec<u8>, Reason> {
    loop {
        if !carry.is_empty() {
            let mut input = &carry[..];
            let got = dec.next(&mut input).map_err(|_| "bad_framing")?;
            let unit = got.map(<[u8]>::to_vec);
            let used = carry.len() - input.len();
            carry.drain(..used);
            if let Some(unit) = unit {
                return Ok(unit);
            }
        }
        sock.readable().await.map_err(|_| "io_error")?;
        read_into(|b| sock.try_read(b), carry)?;
    }
}

/// Reads what a socket has (`try_read`: a `TcpStream`'s or a read half's) into `carry`. A plain
/// function, so that its buffer lives on the stack only while it runs and never in a
/// connection's future (which every idle connection keeps in memory).
pub(crate) fn read_into(
    try_read: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
    carry: &mut Vec<u8>,
) -> Result<(), Reason> {
    let mut chunk = [0u8; CHUNK];
    match try_read(&mut chunk) {
        Ok(0) => Err("eof"),
        Ok(n) => {
            carry.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(_) => Err("io_error"),
    }
}

async fn write(shared: &Shared, sock: &mut TcpStream, bytes: &[u8]) -> Result<(), Reason> {
    match timeout(shared.config.limits.write_timeout(), sock.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("io_error"),
        Err(_) => Err("write_timeout"),
    }
}

/// Serves one session, from its handshake message 0 until it ends.
async fn run(
    shared: &Arc<Shared>,
    mut pipe: Pipe,
    conn_id: u64,
    msg0: Vec<u8>,
    deadline: Instant,
) -> Reason {
    let mut shutdown = shared.shutdown.clone();
    // A slot to compute the handshake in.
    let permit = tokio::select! {
        p = timeout_at(deadline, shared.handshakes.clone().acquire_owned()) => match p {
            Ok(Ok(p)) => p,
            _ => return "handshake_busy",
        },
        _ = shutdown.changed() => return "shutdown",
    };
    shared.metrics.handshakes_in_progress.inc();
    let established = handshake(shared, &mut pipe, &msg0).await;
    shared.metrics.handshakes_in_progress.dec();
    drop(permit);
    let (session, entry, reply) = match established {
        Ok(x) => x,
        Err(r) => return r,
    };

    // Spec 4.10: the device is switched to this session only once a record authenticates
    // under it; a replayed handshake message never gets this far.
    let mut conn = Box::new(Conn::new(shared.clone(), conn_id, session, entry, pipe));
    let first_plain = loop {
        let first = match timeout_at(deadline, conn.pipe.next_unit()).await {
            Ok(Ok(u)) => u,
            Ok(Err(r)) => return r,
            Err(_) => return "handshake_timeout",
        };
        if !conn.pipe.is_datagram() {
            match conn.open_owned(&first) {
                Ok(p) => break p,
                Err(r) => {
                    conn.not_confirmed().await;
                    return r;
                }
            }
        }
        // On a relay, a copy of message 0 gets the same reply again (spec 4.10), and a unit
        // that does not open is dropped while the genuine one can still come.
        if first == msg0 {
            if let Err(r) = conn.pipe.send(shared, &reply).await {
                return r;
            }
            continue;
        }
        match conn.open_owned(&first) {
            Ok(p) => break p,
            Err(_) => {
                shared.metrics.dropped_units.inc();
            }
        }
    };
    let stop = Arc::new(Notify::new());
    conn.entry.claim(conn_id, stop.clone());
    let guard = tokio::select! {
        g = conn.entry.live.clone().lock_owned() => g,
        _ = stop.notified() => { conn.entry.release(conn_id); return "replaced" }
        _ = sleep_until(deadline) => { conn.entry.release(conn_id); return "handshake_timeout" }
    };
    if conn.entry.is_revoked() {
        conn.entry.release(conn_id);
        return "revoked";
    }
    shared.metrics.sessions.inc();
    let reason = conn.serve(guard, first_plain, stop).await;
    shared.metrics.sessions.dec();
    if let Some(what) = session_error(reason) {
        shared
            .security_event(
                &conn.entry.id,
                "security.session_error",
                format!("the session was closed: {what}"),
            )
            .await;
    }
    conn.entry.release(conn_id);
    reason
}

/// Answers message 0; returns the session, the device, and the reply as framed for the pipe
/// (to send again if a relay delivers a copy of message 0).
async fn handshake(
    shared: &Shared,
    pipe: &mut Pipe,
    msg0: &[u8],
) -> Result<(Box<Session>, Arc<DeviceEntry>, Vec<u8>), Reason> {
    let config = ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &[Pattern::Provisioned],
        channel: pipe.channel(),
        framing: pipe.framing(),
        context: b"",
        identity: &shared.identity,
        static_key: &shared.keys.static_key,
        session: shared.session_config,
        known_initiator: None,
        pairing: None,
        allow_without_code: false,
        dh_cache: Some(&shared.dh_cache),
    };
    let mut policy = RegistryPolicy {
        registry: &shared.registry,
        issuers: &shared.issuers,
        accepted: None,
        refused: None,
    };
    let refused = |e: tether::Error| {
        let c = cause(&e);
        Metrics::count(&shared.metrics.handshakes, c);
        "handshake_refused"
    };
    let accepted = Responder::accept(&config, msg0, &mut policy, now_unix(), &mut OsEntropy);
    if let Some((id, why)) = policy.refused.take() {
        shared
            .security_event(
                &id,
                "security.handshake_refused",
                format!("a handshake as this device was refused: {why}"),
            )
            .await;
    }
    let mut hs = accepted.map_err(refused)?;
    let entry = policy.accepted.take().ok_or("handshake_refused")?;
    let mut reply = vec![0u8; hs.next_message_len()];
    let n = hs.write_message(&mut reply).map_err(refused)?;
    reply.truncate(n);
    // Boxed at once: a session is 3 KiB, and whatever a future holds across an await every idle
    // connection pays for.
    let session = match hs.finish(shared.now()) {
        Ok(Established { session, .. }) => Box::new(session),
        Err(e) => return Err(refused(e)),
    };
    let mut framed = Vec::with_capacity(reply.len() + 4);
    pipe.frame(&reply, &[reply.len()], &mut framed);
    pipe.send(shared, &framed).await?;
    Metrics::count(&shared.metrics.handshakes, "ok");
    Ok((session, entry, framed))
}

/// A connection whose handshake is done.
struct Conn {
    shared: Arc<Shared>,
    id: u64,
    session: Box<Session>,
    entry: Arc<DeviceEntry>,
    pipe: Pipe,
    receiver: Receiver,
    /// The receiver state the database will hold once every queued job is durable.
    queued_state: ReceiverState,
    /// The highest command acknowledgement queued for commit.
    queued_acked: u64,
    /// The highest command number sent on this session.
    out_sent: u64,
    /// Jobs queued and not yet durable, oldest first.
    pending: VecDeque<(Pending, Done)>,
    /// Jobs made while handling input, to queue.
    jobs: Vec<(Vec<Change>, Pending)>,
    /// Sealed records to write.
    out: Vec<u8>,
    /// The device closed the session.
    peer_closed: bool,
}

impl Conn {
    fn new(
        shared: Arc<Shared>,
        id: u64,
        session: Box<Session>,
        entry: Arc<DeviceEntry>,
        pipe: Pipe,
    ) -> Conn {
        Conn {
            shared,
            id,
            session,
            entry,
            pipe,
            receiver: Receiver::new(ReceiverState::NEW),
            queued_state: ReceiverState::NEW,
            queued_acked: 0,
            out_sent: 0,
            pending: VecDeque::new(),
            jobs: Vec::new(),
            out: Vec::new(),
            peer_closed: false,
        }
    }

    /// The handshake named this device, but its first record does not authenticate: a replayed
    /// message 0 followed by garbage, or a broken device.
    async fn not_confirmed(&self) {
        self.shared
            .security_event(
                &self.entry.id,
                "security.session_not_confirmed",
                "a handshake as this device was answered, but its first record failed authentication".into(),
            )
            .await;
    }

    /// Opens one record: `Some(plaintext)` for data, `None` for a key update or close.
    fn open_owned(&mut self, unit: &[u8]) -> Result<Option<Vec<u8>>, Reason> {
        let mut plain = [0u8; MAX_FRAME + 64];
        let len = self.open(unit, &mut plain)?;
        Ok(len.map(|n| plain.get(..n).unwrap_or(&[]).to_vec()))
    }

    /// Opens one record into `plain`: the plaintext's length for data, `None` for a key update
    /// or a close (which sets `peer_closed`). A unit that does not open is `bad_record`: on a
    /// stream the bytes after it cannot be trusted (spec section 6) and the connection closes
    /// without a word; on a relay it is dropped.
    fn open(&mut self, unit: &[u8], plain: &mut [u8]) -> Result<Option<usize>, Reason> {
        match self.session.open(self.shared.now(), unit, plain) {
            Ok(Event::Data(d)) => {
                self.shared.metrics.records_in.inc();
                Ok(Some(d.len()))
            }
            Ok(Event::KeyUpdate { .. }) => Ok(None),
            Ok(Event::Close) => {
                self.peer_closed = true;
                Ok(None)
            }
            Err(_) => Err("bad_record"),
        }
    }

    async fn serve(
        &mut self,
        mut live: OwnedMutexGuard<Live>,
        first: Option<Vec<u8>>,
        stop: Arc<Notify>,
    ) -> Reason {
        self.entry.take_commands(&mut live);
        self.receiver = Receiver::new(live.receiver);
        self.receiver.on_reconnect();
        self.queued_state = live.receiver;
        self.queued_acked = live.out_acked;
        self.out_sent = live.out_acked;
        let reason = self.serve_inner(&mut live, first, stop).await;
        // Whatever happened, the live state must match the database before the next session
        // of this device takes it: wait for every queued job.
        self.finish_pending(&mut live).await;
        reason
    }

    async fn finish_pending(&mut self, live: &mut Live) {
        while let Some((p, done)) = self.pending.pop_front() {
            match done.await {
                Ok(Ok(())) => {
                    self.applied(live, p);
                }
                _ => {
                    // Later jobs of this connection fail their state check in storage.
                    for (_, d) in self.pending.drain(..) {
                        let _ = d.await;
                    }
                    break;
                }
            }
        }
    }

    async fn serve_inner(
        &mut self,
        live: &mut Live,
        first: Option<Vec<u8>>,
        stop: Arc<Notify>,
    ) -> Reason {
        let limits = self.shared.config.limits.clone();
        let mut shutdown = self.shared.shutdown.clone();
        // The gateway's own stream first: its hello and any commands waiting.
        if let Err(r) = self.hello(live) {
            return r;
        }
        if let Err(r) = self.send_commands(live) {
            return r;
        }
        if let Some(p) = first {
            if let Err(r) = self.on_frame(&p) {
                return r;
            }
        }
        // Bytes a device sent right behind its first record.
        let carry = match &mut self.pipe {
            Pipe::Tcp { carry, .. } => std::mem::take(carry),
            Pipe::Slot(_) => Vec::new(),
        };
        if let Err(r) = self.on_bytes(&carry) {
            return r;
        }
        drop(carry);
        let mut idle = Instant::now() + limits.idle_timeout();
        let mut stopping: Option<Reason> = None;
        loop {
            for (changes, p) in std::mem::take(&mut self.jobs) {
                match self.shared.committer.apply(changes).await {
                    Ok(done) => self.pending.push_back((p, done)),
                    Err(_) => return "shutdown",
                }
            }
            if self.pending.is_empty() && self.receiver.ack_due() {
                if let Err(r) = self.poll_ack() {
                    return r;
                }
            }
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                if let Err(r) = self.pipe.send(&self.shared, &out).await {
                    return r;
                }
            }
            if self.peer_closed && stopping.is_none() {
                stopping = Some("closed_by_device");
            }
            if let Some(reason) = stopping {
                if self.pending.is_empty() {
                    // Everything acknowledged that will be: say goodbye.
                    let close = self.close_record();
                    let _ = self.pipe.send(&self.shared, &close).await;
                    return reason;
                }
            }
            let can_read = stopping.is_none() && self.pending.len() < limits.max_in_flight;
            tokio::select! {
                r = self.pipe.ready(), if can_read => {
                    let handled = match r {
                        Ok(None) => self.read_and_handle(),
                        Ok(Some(unit)) => self.on_datagram(&unit),
                        Err(r) => Err(r),
                    };
                    match handled {
                        Ok(true) => idle = Instant::now() + limits.idle_timeout(),
                        Ok(false) => {}
                        Err(r) => return r,
                    }
                }
                (p, result) = next_done(&mut self.pending) => {
                    if result.is_err() {
                        return "storage_error";
                    }
                    let mut acked = self.applied(live, p);
                    // Take every other job already durable, and acknowledge once.
                    while let Some(Ok(Ok(()))) = self.pending.front_mut().map(|(_, d)| d.try_recv()) {
                        if let Some((p, _)) = self.pending.pop_front() {
                            acked = self.applied(live, p).or(acked);
                        }
                    }
                    if let Some(seq) = acked {
                        if let Err(r) = self.seal_frame(&Frame::Ack { seq }) {
                            return r;
                        }
                    }
                    if let Err(r) = self.send_commands(live) {
                        return r;
                    }
                }
                _ = self.entry.commands_ready.notified() => {
                    self.entry.take_commands(live);
                    if let Err(r) = self.send_commands(live) {
                        return r;
                    }
                }
                _ = stop.notified(), if stopping.is_none() => {
                    stopping = Some(if self.entry.is_revoked() { "revoked" } else { "replaced" });
                }
                _ = shutdown.changed(), if stopping.is_none() => {
                    stopping = Some("shutdown");
                }
                _ = sleep_until(idle), if stopping.is_none() => return "idle",
            }
        }
    }

    /// Applies a durable job to the live state; returns the message number to acknowledge.
    fn applied(&mut self, live: &mut Live, p: Pending) -> Option<u64> {
        match p {
            Pending::Message { seq, then, at } => {
                self.shared
                    .metrics
                    .ack_seconds
                    .observe(at.elapsed().as_secs_f64());
                live.receiver = then;
                Some(seq)
            }
            Pending::State(state) => {
                live.receiver = state;
                None
            }
            Pending::Delivered(n) => {
                live.out_acked = live.out_acked.max(n);
                live.commands.retain(|seq, _| *seq > n);
                None
            }
            Pending::Nothing => None,
        }
    }

    /// Reads what the socket has and handles it; `Ok(false)` when nothing was there. A plain
    /// function so its buffer is never part of the connection's future.
    fn read_and_handle(&mut self) -> Result<bool, Reason> {
        let mut chunk = [0u8; CHUNK];
        let Pipe::Tcp { sock, .. } = &self.pipe else {
            return Ok(false);
        };
        match sock.try_read(&mut chunk) {
            Ok(0) => Err("eof"),
            Ok(n) => self.on_bytes(chunk.get(..n).unwrap_or(&[])).map(|()| true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(_) => Err("io_error"),
        }
    }

    fn close_record(&mut self) -> Vec<u8> {
        let mut close = [0u8; 64];
        let mut out = Vec::new();
        if let Ok(n) = self.session.close(&mut close) {
            self.pipe
                .frame(close.get(..n).unwrap_or(&[]), &[n], &mut out);
        }
        out
    }

    /// One unit from a relay: a record that does not open is dropped (a datagram carrier, spec
    /// section 6) and the session goes on; `Ok(true)` when it authenticated. A frame that breaks
    /// the delivery protocol inside an authentic record is the device's own doing and ends the
    /// session, as on TCP.
    fn on_datagram(&mut self, unit: &[u8]) -> Result<bool, Reason> {
        let mut plain = [0u8; MAX_FRAME + 64];
        match self.open(unit, &mut plain) {
            Ok(Some(len)) => self
                .on_frame(plain.get(..len).unwrap_or(&[]))
                .map(|()| true),
            Ok(None) => Ok(true),
            Err(_) => {
                self.shared.metrics.dropped_units.inc();
                Ok(false)
            }
        }
    }

    fn on_bytes(&mut self, mut input: &[u8]) -> Result<(), Reason> {
        let Pipe::Tcp { dec, .. } = &mut self.pipe else {
            return Ok(());
        };
        // The decoder is taken out while its units are handled (handling needs `self`).
        let mut dec = std::mem::replace(dec, StreamDecoder::new(0));
        let result = self.on_units(&mut dec, &mut input);
        if let Pipe::Tcp { dec: slot, .. } = &mut self.pipe {
            *slot = dec;
        }
        result
    }

    fn on_units(&mut self, dec: &mut StreamDecoder, input: &mut &[u8]) -> Result<(), Reason> {
        let mut plain = [0u8; MAX_FRAME + 64];
        while !input.is_empty() {
            let unit = match dec.next(input) {
                Ok(Some(u)) => u,
                Ok(None) => break,
                Err(_) => return Err("bad_framing"),
            };
            let Some(len) = self.open(unit, &mut plain)? else {
                if self.peer_closed {
                    return Ok(());
                }
                continue;
            };
            self.on_frame(plain.get(..len).unwrap_or(&[]))?;
            if self.peer_closed {
                break;
            }
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: &[u8]) -> Result<(), Reason> {
        let incoming = self.receiver.handle(frame).map_err(|_| "bad_frame")?;
        match incoming {
            Incoming::Message { seq, bytes, then } => {
                let decoded = Decoded::decode(bytes);
                let mut rows: Vec<Row> = Vec::new();
                self.shared
                    .app
                    .rows(&self.entry.id, seq, &decoded, &mut rows);
                let kind = tether::message::Message::parse(bytes)
                    .ok()
                    .map(|m| m.kind as u64);
                let stream = then.stream.map_or([0; 8], |s| s.0);
                let mut ack = [0u8; 16];
                self.receiver
                    .delivered(seq, &mut ack)
                    .map_err(|_| "bad_frame")?;
                let change = Change::Message {
                    device: self.entry.row,
                    stream,
                    seq,
                    kind,
                    bytes: bytes.to_vec(),
                    prev: self.queued_state.to_bytes(),
                    then: then.to_bytes(),
                    rows,
                    received_ms: crate::wall_ms(),
                };
                self.queued_state = then;
                self.jobs.push((
                    vec![change],
                    Pending::Message {
                        seq,
                        then,
                        at: std::time::Instant::now(),
                    },
                ));
            }
            Incoming::Duplicate { .. } => {
                self.shared.metrics.duplicates.inc();
            }
            Incoming::Gap { .. } | Incoming::Resumed { .. } => {}
            Incoming::Ack(n) => {
                if n > self.out_sent {
                    return Err("bad_ack");
                }
                if n > self.queued_acked {
                    self.queued_acked = n;
                    self.jobs.push((
                        vec![Change::CommandsDelivered {
                            device: self.entry.row,
                            through: n,
                        }],
                        Pending::Delivered(n),
                    ));
                }
            }
            Incoming::NewStream {
                stream,
                first_seq,
                previous,
            } => {
                let state = self.receiver.state();
                let detail = match previous {
                    Some(p) => format!(
                        "the device started message stream {} at {first_seq}, replacing stream {} (outbox reset or factory reset)",
                        crate::audit::hex(&stream.0),
                        crate::audit::hex(&p.0)
                    ),
                    None => format!(
                        "first message stream {} from the device, starting at {first_seq}",
                        crate::audit::hex(&stream.0)
                    ),
                };
                self.state_change(state, "device.new_stream", detail);
            }
            Incoming::Skipped {
                expected,
                first_seq,
            } => {
                let state = self.receiver.state();
                let detail = format!(
                    "the device no longer holds messages {expected}..{first_seq} that were never stored"
                );
                self.state_change(state, "security.messages_skipped", detail);
            }
        }
        Ok(())
    }

    fn state_change(&mut self, state: ReceiverState, event: &str, detail: String) {
        let changes = vec![
            Change::StreamState {
                device: self.entry.row,
                prev: self.queued_state.to_bytes(),
                state: state.to_bytes(),
            },
            Change::Audit {
                event: event.to_owned(),
                device: Some(self.entry.id.clone()),
                detail,
            },
        ];
        self.queued_state = state;
        self.jobs.push((changes, Pending::State(state)));
    }

    fn poll_ack(&mut self) -> Result<(), Reason> {
        let mut frame = [0u8; 16];
        if let Ok(Some(n)) = self.receiver.poll_ack(&mut frame) {
            self.seal(frame.get(..n).unwrap_or(&[]))?;
        }
        Ok(())
    }

    fn hello(&mut self, live: &Live) -> Result<(), Reason> {
        self.seal_frame(&Frame::Hello {
            stream: StreamId(live.out_stream),
            first_seq: live.out_acked + 1,
        })
    }

    /// Sends commands not yet sent on this session, within the window.
    fn send_commands(&mut self, live: &Live) -> Result<(), Reason> {
        let window = self.shared.config.limits.command_window.max(1);
        let limit = live.out_acked.saturating_add(window);
        let due: Vec<(u64, u64, Vec<u8>)> = live
            .commands
            .range(self.out_sent + 1..=limit)
            .map(|(seq, c)| (*seq, c.command_id, c.bytes.clone()))
            .collect();
        for (seq, command_id, bytes) in due {
            if seq != self.out_sent + 1 {
                // A hole in the stream (a command row removed by hand): stop rather than
                // send out of order.
                tracing::error!(conn = self.id, seq, "command stream has a gap; not sending");
                break;
            }
            self.seal_frame(&Frame::Data {
                seq,
                message: &bytes,
            })?;
            self.out_sent = seq;
            self.shared.metrics.commands_sent.inc();
            self.jobs.push((
                vec![Change::Audit {
                    event: "command.sent".into(),
                    device: Some(self.entry.id.clone()),
                    detail: format!("command {command_id} (stream number {seq}) sent on a session"),
                }],
                Pending::Nothing,
            ));
        }
        Ok(())
    }

    fn seal_frame(&mut self, frame: &Frame<'_>) -> Result<(), Reason> {
        let mut buf = [0u8; MAX_FRAME];
        let n = frame.encode(&mut buf).map_err(|_| "local_error")?;
        self.seal(buf.get(..n).unwrap_or(&[]))
    }

    fn seal(&mut self, plaintext: &[u8]) -> Result<(), Reason> {
        let start = self.out.len();
        let cap = self.session.seal_capacity(plaintext.len());
        self.out.resize(start + cap, 0);
        let now = self.shared.now();
        let sealed = match self.out.get_mut(start..) {
            Some(buf) => self.session.seal(now, plaintext, buf),
            None => return Err("local_error"),
        };
        match sealed {
            Ok(s) => {
                self.out.truncate(start + s.total());
                self.shared.metrics.records_out.inc();
                if self.pipe.is_datagram() {
                    // One or two datagram units (a key update may go first): each in its
                    // envelope.
                    let sealed = self.out.split_off(start);
                    let lens: Vec<usize> = s.units(&sealed).map(<[u8]>::len).collect();
                    self.pipe.frame(&sealed, &lens, &mut self.out);
                }
                Ok(())
            }
            Err(_) => {
                self.out.truncate(start);
                Err("local_error")
            }
        }
    }
}

/// The oldest pending job's result, when it comes; never resolves when there is none.
async fn next_done(pending: &mut VecDeque<(Pending, Done)>) -> (Pending, Result<(), String>) {
    let result = match pending.front_mut() {
        Some((_, done)) => match done.await {
            Ok(r) => r,
            Err(_) => Err("the storage thread stopped".into()),
        },
        None => std::future::pending().await,
    };
    match pending.pop_front() {
        Some((p, _)) => (p, result),
        None => (Pending::Nothing, Err("no job".into())),
    }
}
