//! What every connection shares: configuration, keys, the registry, the storage thread's queue,
//! metrics, the application, and the audit of the gateway's own security detections.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use tether::{DhCache, Identity, Instant as TInstant, SessionConfig};
use tokio::sync::{watch, Semaphore};

use crate::app::Application;
use crate::committer::Committer;
use crate::config::Config;
use crate::keyfile::Keys;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::Change;

/// What every connection shares.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The gateway's identity, sent in handshakes.
    pub identity: Identity,
    /// Its keys.
    pub keys: Keys,
    /// Registered devices.
    pub registry: Arc<Registry>,
    /// Manufacturer credential issuers.
    pub issuers: Vec<(Vec<u8>, VerifyingKey)>,
    /// The storage thread's queue.
    pub committer: Committer,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// What to keep of messages.
    pub app: Arc<dyn Application>,
    /// Static-static X25519 results of devices seen before.
    pub dh_cache: DhCache,
    /// Slots for handshakes being computed.
    pub handshakes: Arc<Semaphore>,
    /// The session configuration (plaintexts up to one delivery frame).
    pub session_config: SessionConfig,
    /// Becomes true when the gateway stops.
    pub shutdown: watch::Receiver<bool>,
    pub(crate) start: std::time::Instant,
    pub(crate) audit_limiter: AuditLimiter,
}

impl Shared {
    /// The monotonic clock sessions run on.
    pub fn now(&self) -> TInstant {
        TInstant(self.start.elapsed().as_millis() as u64)
    }

    /// Writes a security event the gateway itself detected about a registered device to the
    /// audit trail, at most once per device and event per `AUDIT_EVERY` (a peer that repeats a
    /// refused handshake must not be able to fill the trail or the disk); the rest are counted
    /// in the metrics only. Does not wait for the commit.
    pub async fn security_event(&self, device: &[u8], event: &'static str, detail: String) {
        {
            let mut seen = self.audit_limiter.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            if seen.len() > 100_000 {
                seen.retain(|_, t| now.duration_since(*t) < AUDIT_EVERY);
            }
            match seen.get(&(device.to_vec(), event)) {
                Some(t) if now.duration_since(*t) < AUDIT_EVERY => return,
                _ => {
                    seen.insert((device.to_vec(), event), now);
                }
            }
        }
        tracing::warn!(device = %String::from_utf8_lossy(device), event, %detail, "security event");
        let _ = self
            .committer
            .apply(vec![Change::Audit {
                event: event.to_owned(),
                device: Some(device.to_vec()),
                detail,
            }])
            .await;
    }
}

/// The shortest time between two audit rows of the same kind for the same device.
pub const AUDIT_EVERY: Duration = Duration::from_secs(60);

/// When each (device, event) was last written to the audit trail.
pub(crate) type AuditLimiter =
    std::sync::Mutex<std::collections::HashMap<(Vec<u8>, &'static str), std::time::Instant>>;
