//! Prometheus metrics: sessions, handshakes and their failures by cause, records, messages and
//! readings stored, storage latency; served as text on `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::store::{Change, Row};

/// A label naming a cause or result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Cause {
    /// The cause.
    pub cause: String,
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// TCP connections open.
    pub connections: Gauge,
    /// Sessions established and serving a device.
    pub sessions: Gauge,
    /// Handshakes being computed or awaited.
    pub handshakes_in_progress: Gauge,
    /// Handshakes by result: `ok` or the cause of failure.
    pub handshakes: Family<Cause, Counter>,
    /// Connections ended, by reason.
    pub closed: Family<Cause, Counter>,
    /// Records opened.
    pub records_in: Counter,
    /// Records sealed and sent.
    pub records_out: Counter,
    /// Messages committed.
    pub messages_stored: Counter,
    /// Readings committed.
    pub readings_stored: Counter,
    /// Copies of already-stored messages dropped (the acknowledgement was lost).
    pub duplicates: Counter,
    /// Commands sent to devices (each transmission).
    pub commands_sent: Counter,
    /// Seconds from a message's record arriving to its acknowledgement being written.
    pub ack_seconds: Histogram,
    /// Seconds per group commit.
    pub commit_seconds: Histogram,
    /// Changes per group commit.
    pub commit_changes: Histogram,
    /// Commits that failed.
    pub storage_errors: Counter,
    /// Relayed units dropped: not a relay envelope, no session at their index, a full queue, or
    /// a record that did not open in its session (datagram carriers drop, they do not close).
    pub dropped_units: Counter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("tether_gateway");
        let m = Metrics {
            connections: Gauge::default(),
            sessions: Gauge::default(),
            handshakes_in_progress: Gauge::default(),
            handshakes: Family::default(),
            closed: Family::default(),
            records_in: Counter::default(),
            records_out: Counter::default(),
            messages_stored: Counter::default(),
            readings_stored: Counter::default(),
            duplicates: Counter::default(),
            commands_sent: Counter::default(),
            ack_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            commit_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            commit_changes: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
            storage_errors: Counter::default(),
            dropped_units: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "TCP connections open", m.connections.clone());
        registry.register("sessions", "Sessions serving a device", m.sessions.clone());
        registry.register(
            "handshakes_in_progress",
            "Handshakes being awaited or computed",
            m.handshakes_in_progress.clone(),
        );
        registry.register(
            "handshakes",
            "Handshakes by result (ok, or the cause of failure)",
            m.handshakes.clone(),
        );
        registry.register("closed", "Connections ended, by reason", m.closed.clone());
        registry.register("records_received", "Records opened", m.records_in.clone());
        registry.register(
            "records_sent",
            "Records sealed and sent",
            m.records_out.clone(),
        );
        registry.register(
            "messages_stored",
            "Messages durably committed",
            m.messages_stored.clone(),
        );
        registry.register(
            "readings_stored",
            "Vital-sign readings durably committed",
            m.readings_stored.clone(),
        );
        registry.register(
            "duplicates",
            "Copies of stored messages dropped",
            m.duplicates.clone(),
        );
        registry.register(
            "commands_sent",
            "Command transmissions",
            m.commands_sent.clone(),
        );
        registry.register(
            "ack_seconds",
            "Seconds from a message's arrival to its acknowledgement (commit included)",
            m.ack_seconds.clone(),
        );
        registry.register(
            "commit_seconds",
            "Seconds per group commit",
            m.commit_seconds.clone(),
        );
        registry.register(
            "commit_changes",
            "Changes per group commit",
            m.commit_changes.clone(),
        );
        registry.register(
            "storage_errors",
            "Commits that failed",
            m.storage_errors.clone(),
        );
        registry.register(
            "relay_dropped_units",
            "Relayed units dropped (no envelope, no session at the index, queue full, or not authentic)",
            m.dropped_units.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Counts one result in a family.
    pub fn count(family: &Family<Cause, Counter>, cause: &str) {
        family
            .get_or_create(&Cause {
                cause: cause.to_owned(),
            })
            .inc();
    }

    /// Records one group commit.
    pub fn observe_commit(&self, took: Duration, changes: &[Change], ok: bool) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_changes.observe(changes.len() as f64);
        if !ok {
            return;
        }
        let (mut messages, mut readings) = (0u64, 0u64);
        for c in changes {
            if let Change::Message { rows, .. } = c {
                messages += 1;
                readings += rows.iter().filter(|r| matches!(r, Row::Reading(_))).count() as u64;
            }
        }
        self.messages_stored.inc_by(messages);
        self.readings_stored.inc_by(readings);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped. Requests are read with a small
/// cap and a deadline; anything else gets 404.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut req = Vec::with_capacity(512);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                    let n = sock.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            let (status, body) = if req.starts_with(b"GET /metrics ") {
                ("200 OK", metrics.encode())
            } else {
                ("404 Not Found", String::from("not found\n"))
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
        });
    }
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
