//! tether-gateway: the cloud side of tether.
//!
//! A tokio server that accepts device connections (Noise IK over TCP, stream framing, or relayed
//! through a phone as datagram units in relay envelopes on the phone's connection), decides
//! trust against its device registry, stores every message durably before acknowledging it,
//! delivers signed commands and records every security-relevant step in a hash-chained audit
//! trail. The wire protocol is all tether's core: this crate adds I/O, storage and operation.
//!
//! | module | what it owns |
//! |---|---|
//! | [`server`] | start, accept loop with its caps, polling the CLI's changes, graceful stop |
//! | [`accept`] | an accepted connection: a device's own, or a phone's relay connection |
//! | [`connection`] | one device session: deadline, handshake, takeover, serving, close |
//! | [`relay`] | a phone's relay connection: one session per relay index (spec/PROTOCOL.md 3.4) |
//! | [`shared`] | what every connection shares, and the audit of the gateway's own detections |
//! | [`registry`] | registered devices in memory, the trust policy, each device's live state |
//! | [`committer`] | group commits on the storage thread, in order, with backpressure |
//! | [`store`] | the storage trait and its SQLite default |
//! | [`audit`] | the audit chain: MACs and verification |
//! | [`app`] | what to keep of each message (the application's trait) |
//! | [`metrics`] | Prometheus metrics |
//! | [`config`], [`keyfile`] | configuration file, key file |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accept;
pub mod app;
pub mod audit;
pub mod committer;
pub mod config;
pub mod connection;
pub mod keyfile;
pub mod metrics;
pub mod registry;
pub mod relay;
pub mod server;
pub mod shared;
pub mod store;

pub use app::{Application, Decoded, StoreAll};
pub use config::Config;
pub use server::{start, Running};

/// The wall clock in milliseconds since the Unix epoch: what the database and the audit trail
/// record (0 if the clock is before 1970).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
