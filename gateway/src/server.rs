//! Starting, running and stopping a gateway: the listener with its connection cap, the poller
//! that picks up what the CLI changed (registrations, revocations, queued commands), metrics,
//! and a graceful shutdown that finishes every commit before the process ends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use tether::delivery::MAX_FRAME;
use tether::{DhCache, Identity, SessionConfig};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::accept;
use crate::app::Application;
use crate::audit;
use crate::committer::Committer;
use crate::config::Config;
use crate::keyfile::{self, Keys};
use crate::metrics::{self, Metrics};
use crate::registry::Registry;
use crate::shared::{AuditLimiter, Shared};
use crate::store::{Change, SqliteStorage, Storage, StoreError};

/// The database file inside the data directory.
pub const DB_FILE: &str = "gateway.db";
/// The key file inside the data directory.
pub const KEY_FILE: &str = "gateway.key";

/// Starting the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key file or a socket.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The database.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The configuration.
    #[error("configuration: {0}")]
    Config(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Opens the data directory's key file and database, creating both when absent.
pub fn open_data(data: &Path) -> Result<(Keys, bool, SqliteStorage), StartError> {
    std::fs::create_dir_all(data).map_err(io(format!("creating {}", data.display())))?;
    let key_path = data.join(KEY_FILE);
    let (keys, created) = keyfile::load_or_create(&key_path)
        .map_err(io(format!("key file {}", key_path.display())))?;
    let storage = SqliteStorage::open(&data.join(DB_FILE), keys.audit.clone())?;
    Ok((keys, created, storage))
}

/// A running gateway.
pub struct Running {
    /// Where devices connect.
    pub addr: SocketAddr,
    /// Where metrics are served, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The public key devices pin.
    pub public_key: [u8; 32],
    /// Whether the key was created by this start.
    pub key_created: bool,
    /// The data directory.
    pub data: PathBuf,
    shutdown: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    commit_thread: std::thread::JoinHandle<()>,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
}

impl Running {
    /// Metrics, for tests and the load harness.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the running gateway knows device `id` yet (registrations made by the CLI reach it
    /// at its next poll of the database).
    pub fn knows(&self, id: &[u8]) -> bool {
        self.registry.get(id).is_some()
    }

    /// Stops accepting, lets every connection finish its commits and close its session, then
    /// stops the storage thread once it has applied everything. Loses nothing.
    pub async fn shutdown(self) -> Result<(), StartError> {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
        let thread = self.commit_thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| StartError::Config(format!("storage thread: {e}")))?
            .map_err(|_| StartError::Config("the storage thread panicked".into()))?;
        Ok(())
    }
}

/// Starts a gateway on `data` (created when absent) with `config`, storing in SQLite.
pub async fn start(
    config: Config,
    data: &Path,
    app: Arc<dyn Application>,
) -> Result<Running, StartError> {
    let (keys, key_created, mut storage) = open_data(data)?;
    storage.checkpoint_in_background(&data.join(DB_FILE), Duration::from_millis(500))?;
    start_with(config, data, keys, key_created, storage, app).await
}

/// Starts a gateway on any storage (`data` is only reported back).
pub async fn start_with<S: Storage>(
    config: Config,
    data: &Path,
    keys: Keys,
    key_created: bool,
    mut storage: S,
    app: Arc<dyn Application>,
) -> Result<Running, StartError> {
    let issuers = config
        .trust
        .issuers
        .iter()
        .map(|i| {
            let bytes: [u8; 32] = audit::unhex(&i.key)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    StartError::Config(format!("issuer {}: key is not 64 hex digits", i.name))
                })?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
                StartError::Config(format!("issuer {}: not an Ed25519 key", i.name))
            })?;
            Ok((i.name.clone().into_bytes(), key))
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let registry = Arc::new(Registry::default());
    registry.apply(storage.devices_changed(0)?);
    let commands = storage.commands_after(0)?;
    let mut last_command = 0;
    for c in commands {
        last_command = last_command.max(c.row);
        if let Some(e) = registry.by_row(c.device) {
            e.offer(c);
        }
    }
    let metrics = Metrics::new();
    let (committer, commit_thread) = Committer::start(
        storage,
        config.storage.max_batch,
        config.storage.queue,
        metrics.clone(),
    )
    .map_err(io("starting the storage thread"))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("listening on {}", config.listen)))?;
    let addr = listener.local_addr().map_err(io("listener address"))?;
    let metrics_listener = match config.metrics {
        Some(a) => Some(
            metrics::bind(a)
                .await
                .map_err(io(format!("metrics on {a}")))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr().map_err(io("metrics address"))?),
        None => None,
    };
    let identity = Identity::new(
        b"tether-gateway",
        "tether-gateway",
        env!("CARGO_PKG_VERSION"),
        b"k1",
    )
    .map_err(|e| StartError::Config(format!("identity: {e}")))?;
    let public_key = *keys.public().as_bytes();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let session_config = SessionConfig {
        max_plaintext: MAX_FRAME,
        ..SessionConfig::default()
    };
    let shared = Arc::new(Shared {
        handshakes: Arc::new(Semaphore::new(config.limits.max_handshakes.max(1))),
        dh_cache: DhCache::new(config.limits.max_connections.max(1024)),
        config,
        identity,
        keys,
        registry,
        issuers,
        committer,
        metrics: metrics.clone(),
        app,
        session_config,
        shutdown: shutdown_rx,
        start: std::time::Instant::now(),
        audit_limiter: AuditLimiter::default(),
    });
    let _ = shared
        .committer
        .apply(vec![Change::Audit {
            event: "gateway.started".into(),
            device: None,
            detail: format!(
                "listening on {addr}, static key {}, {} devices registered",
                audit::hex(&public_key),
                shared.registry.len()
            ),
        }])
        .await;
    let registry = shared.registry.clone();
    let accept = tokio::spawn(accept_loop(
        shared,
        listener,
        metrics_listener,
        last_command,
    ));
    Ok(Running {
        addr,
        metrics_addr,
        public_key,
        key_created,
        data: data.to_owned(),
        shutdown: shutdown_tx,
        accept,
        commit_thread,
        metrics,
        registry,
    })
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    last_command: i64,
) {
    let mut shutdown = shared.shutdown.clone();
    let mut background = JoinSet::new();
    if let Some(l) = metrics_listener {
        background.spawn(metrics::serve(l, shared.metrics.clone()));
    }
    background.spawn(poll(shared.clone(), last_command));
    let slots = Arc::new(Semaphore::new(shared.config.limits.max_connections.max(1)));
    let next_id = AtomicU64::new(1);
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (sock, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: the
                    // listener is fine; wait a little.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let s = shared.clone();
        conns.spawn(async move {
            accept::serve(s, sock, id).await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(
        connections = conns.len(),
        "stopping: finishing open connections"
    );
    while conns.join_next().await.is_some() {}
    background.abort_all();
    while background.join_next().await.is_some() {}
    let _ = shared
        .committer
        .apply(vec![Change::Audit {
            event: "gateway.stopped".into(),
            device: None,
            detail: "graceful shutdown: every connection closed and its commits applied".into(),
        }])
        .await;
    // Dropping the last handle lets the storage thread finish the queue and end.
}

/// Picks up registry changes and queued commands made by the CLI while the gateway runs, and
/// logs the audit head now and then (a copy outside the database).
async fn poll(shared: Arc<Shared>, mut last_command: i64) {
    let every = Duration::from_millis(shared.config.poll_ms.max(50));
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(every).await;
        ticks += 1;
        let version = shared.registry.version();
        let after = last_command;
        let log_head = ticks % (60_000 / every.as_millis().max(1) as u64).max(1) == 0;
        let read = shared
            .committer
            .read(move |s| {
                let head = if log_head { s.audit_head()? } else { None };
                Ok((s.devices_changed(version)?, s.commands_after(after)?, head))
            })
            .await;
        let (devices, commands, head) = match read {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "polling the database failed");
                continue;
            }
        };
        if !devices.is_empty() {
            let r = shared.registry.apply(devices);
            for key in &r.revoked {
                shared.dh_cache.forget(key);
            }
            tracing::info!(
                added = r.added,
                revoked = r.revoked.len(),
                "registry updated"
            );
        }
        for c in commands {
            last_command = last_command.max(c.row);
            if let Some(e) = shared.registry.by_row(c.device) {
                tracing::info!(device = %String::from_utf8_lossy(&e.id), command = c.command_id, "command queued");
                e.offer(c);
            }
        }
        if let Some((row, mac)) = head {
            tracing::info!(head = %format!("{row}:{}", audit::hex(&mac)), "audit head");
        }
    }
}
