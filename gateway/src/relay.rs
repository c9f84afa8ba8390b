//! A phone's relay connection (spec/PROTOCOL.md 3.4): one TCP connection carrying the
//! end-to-end sessions of every device that relays through that phone, each unit in a relay
//! envelope whose index names its session on this connection.
//!
//! ```text
//! phone ── len || 0x9i ii || datagram unit ──▶ demultiplexer ─ index ─▶ slot (one session,
//!       ◀── len || 0x9i ii || datagram unit ── writer ◀── every slot    connection.rs `run`)
//! ```
//!
//! Each index gets a slot: the same serving code as a device's own connection (handshake,
//! takeover, acknowledgements after commit, commands), fed datagram units through a channel.
//! The phone is not trusted: it can drop, delay, duplicate, reorder, replay or re-address units,
//! and a unit that does not open in the session it reaches is dropped there; it cannot make a
//! session accept anything the device did not send. A message 0 different from the one a slot
//! started with starts a new slot beside it (a device's new session, or a replay); units of that
//! index go to both until one ends, and the device moves to the new session only once a record
//! authenticates under it (spec 4.10).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tether::link::{RelayIndex, Relayed, RELAY_HEADER_LEN};
use tether::{Framing, StreamDecoder, UnitType};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::connection::{read_into, serve_slot, Reason, Slot};
use crate::shared::Shared;

/// The largest relayed unit body: the envelope and the largest datagram unit (a record of the
/// largest plaintext tether's sessions allow, or a handshake message).
pub const MAX_UNIT: usize = RELAY_HEADER_LEN + 16_384 + 64;

/// Units waiting for one slot; beyond it new ones are dropped (a datagram carrier loses units,
/// and the delivery layer resends), so one busy device never stalls the others.
const SLOT_QUEUE: usize = 64;
/// Framed bytes waiting for the socket, from every slot.
const WRITE_QUEUE: usize = 1024;
/// Sessions one index may hold at once: the established one and one new handshake.
const PER_INDEX: usize = 2;
/// Sessions one relay connection may hold at once (a phone relays a handful of devices); a new
/// handshake beyond it is dropped.
const MAX_SLOTS: usize = 256;

/// Connection ids of slots, apart from the accept loop's (which count up from 1).
static NEXT_SLOT: AtomicU64 = AtomicU64::new(1 << 48);

/// A live slot as the demultiplexer sees it.
struct Route {
    id: u64,
    msg0: Vec<u8>,
    tx: mpsc::Sender<Vec<u8>>,
}

/// Serves a relay connection whose first unit (`first`) has been read.
pub async fn serve(
    shared: &Arc<Shared>,
    sock: TcpStream,
    mut dec: StreamDecoder,
    first: Vec<u8>,
    mut carry: Vec<u8>,
) -> Reason {
    let (read, write) = sock.into_split();
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let writer = tokio::spawn(writer(shared.clone(), write, out_rx));
    let mut shutdown = shared.shutdown.clone();
    let mut relay = Demux {
        shared: shared.clone(),
        routes: HashMap::new(),
        slots: JoinSet::new(),
        out_tx,
    };
    relay.unit(first);
    let reason = 'read: loop {
        // Every whole unit already read.
        loop {
            let mut input = &carry[..];
            let got = match dec.next(&mut input) {
                Ok(u) => u.map(<[u8]>::to_vec),
                Err(_) => break 'read "bad_framing",
            };
            let used = carry.len() - input.len();
            carry.drain(..used);
            match got {
                Some(unit) => relay.unit(unit),
                None => break,
            }
        }
        tokio::select! {
            r = read.readable() => {
                if r.is_err() {
                    break "io_error";
                }
                if let Err(r) = read_into(|b| read.try_read(b), &mut carry) {
                    break r;
                }
            }
            Some(done) = relay.slots.join_next() => {
                if let Ok((index, id)) = done {
                    relay.ended(index, id);
                }
            }
            _ = shutdown.changed() => break "shutdown",
        }
    };
    // On shutdown the slots close their sessions themselves once their commits are done;
    // otherwise the phone is gone and their input ends here. Then the writer sends what they
    // left and stops.
    if reason != "shutdown" {
        relay.routes.clear();
    }
    while relay.slots.join_next().await.is_some() {}
    drop(relay);
    let _ = writer.await;
    reason
}

/// The demultiplexer's state: the live slots of each index.
struct Demux {
    shared: Arc<Shared>,
    routes: HashMap<RelayIndex, Vec<Route>>,
    slots: JoinSet<(RelayIndex, u64)>,
    out_tx: mpsc::Sender<Vec<u8>>,
}

impl Demux {
    /// Routes one relayed unit (as the stream decoder yields it, with its length prefix).
    fn unit(&mut self, framed: Vec<u8>) {
        let Ok(relayed) = Relayed::parse_framed(Framing::Stream, &framed) else {
            self.shared.metrics.dropped_units.inc();
            return;
        };
        let index = relayed.index;
        let inner = relayed.unit;
        let is_msg0 = UnitType::of(Framing::Datagram, inner) == Ok(UnitType::Handshake(0));
        let live: usize = self.routes.values().map(Vec::len).sum();
        let routes = self.routes.entry(index).or_default();
        if is_msg0 && !routes.iter().any(|r| r.msg0 == inner) {
            // A new handshake on this index: beside the established session, replacing any
            // other handshake still waiting for its first record.
            if routes.len() >= PER_INDEX {
                routes.truncate(PER_INDEX - 1);
            } else if live >= MAX_SLOTS {
                self.shared.metrics.dropped_units.inc();
                return;
            }
            let (tx, rx) = mpsc::channel(SLOT_QUEUE);
            let id = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
            routes.push(Route {
                id,
                msg0: inner.to_vec(),
                tx,
            });
            let slot = Slot {
                index,
                rx,
                tx: self.out_tx.clone(),
            };
            let shared = self.shared.clone();
            let msg0 = inner.to_vec();
            self.slots.spawn(async move {
                serve_slot(shared, slot, id, msg0).await;
                (index, id)
            });
            return;
        }
        if routes.is_empty() {
            self.shared.metrics.dropped_units.inc();
        }
        for route in routes.iter() {
            // A full queue drops the unit for that session only.
            if route.tx.try_send(inner.to_vec()).is_err() {
                self.shared.metrics.dropped_units.inc();
            }
        }
    }

    fn ended(&mut self, index: RelayIndex, id: u64) {
        if let Some(routes) = self.routes.get_mut(&index) {
            routes.retain(|r| r.id != id);
            if routes.is_empty() {
                self.routes.remove(&index);
            }
        }
    }
}

/// Writes what the slots send, in order, until every slot has gone.
async fn writer(shared: Arc<Shared>, mut sock: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        let limit = shared.config.limits.write_timeout();
        if !matches!(timeout(limit, sock.write_all(&bytes)).await, Ok(Ok(()))) {
            // The phone stopped reading: its slots' sends fail from now on and they end.
            rx.close();
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = sock.shutdown().await;
}
