//! The device registry in memory: who may connect (the trust policy reads it at the handshake)
//! and, per device, the state only its current session may touch.
//!
//! The database is the truth; this is its cache, refreshed from it by the poller (registrations
//! and revocations made by the CLI while the gateway runs). Each device's live state sits behind
//! an async mutex that the session currently serving the device holds for its whole life, so two
//! sessions of one device (a reconnect while the old connection lingers) never interleave their
//! messages: the new one takes over only after the old one has finished its commits (spec 4.10:
//! and only once a record authenticates under the new session).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ed25519_dalek::VerifyingKey;
use tether::delivery::{ReceiverState, STREAM_ID_LEN};
use tether::policy::{PeerInfo, Rejection, TrustPolicy};
use tether::PublicKey;
use tokio::sync::Notify;

use crate::store::{Device, QueuedCommand};

/// A device as the gateway knows it while running.
#[derive(Debug)]
pub struct DeviceEntry {
    /// Its storage row.
    pub row: i64,
    /// Its identity's id.
    pub id: Vec<u8>,
    key: RwLock<[u8; 32]>,
    require_credential: AtomicBool,
    revoked: AtomicBool,
    /// What the serving session owns (see the module doc).
    pub live: Arc<tokio::sync::Mutex<Live>>,
    /// The session serving it now, if any: its number and how to tell it to stop.
    owner: Mutex<Option<(u64, Arc<Notify>)>>,
    /// Commands queued while the gateway runs, waiting for the serving session to take them.
    inbox: Mutex<Vec<QueuedCommand>>,
    /// Woken when the inbox gets a command.
    pub commands_ready: Notify,
}

/// A device's state that only its serving session changes.
#[derive(Debug)]
pub struct Live {
    /// Its message stream's receiver state, as last committed.
    pub receiver: ReceiverState,
    /// The gateway's stream to it.
    pub out_stream: [u8; STREAM_ID_LEN],
    /// The last command number it acknowledged, as last committed.
    pub out_acked: u64,
    /// Commands not yet acknowledged, by stream number.
    pub commands: BTreeMap<u64, QueuedCommand>,
}

impl DeviceEntry {
    fn new(d: &Device) -> Self {
        DeviceEntry {
            row: d.row,
            id: d.id.clone(),
            key: RwLock::new(d.static_key),
            require_credential: AtomicBool::new(d.require_credential),
            revoked: AtomicBool::new(d.revoked),
            live: Arc::new(tokio::sync::Mutex::new(Live {
                receiver: d.receiver,
                out_stream: d.out_stream,
                out_acked: d.out_acked,
                commands: BTreeMap::new(),
            })),
            owner: Mutex::new(None),
            inbox: Mutex::new(Vec::new()),
            commands_ready: Notify::new(),
        }
    }

    /// Whether it is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Its registered static key.
    pub fn static_key(&self) -> PublicKey {
        PublicKey(*self.key.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes session `conn` the one serving this device and tells the previous one to stop.
    pub fn claim(&self, conn: u64, stop: Arc<Notify>) {
        let mut owner = self.owner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, old)) = owner.replace((conn, stop)) {
            old.notify_one();
        }
    }

    /// Session `conn` ends: forgets it if it is still the owner.
    pub fn release(&self, conn: u64) {
        let mut owner = self.owner.lock().unwrap_or_else(|p| p.into_inner());
        if owner.as_ref().is_some_and(|(c, _)| *c == conn) {
            *owner = None;
        }
    }

    /// Tells the serving session, if any, to stop (revocation).
    pub fn stop_owner(&self) {
        let owner = self.owner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, stop)) = owner.as_ref() {
            stop.notify_one();
        }
    }

    /// Hands a newly queued command to the serving session (or the next one).
    pub fn offer(&self, cmd: QueuedCommand) {
        self.inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cmd);
        self.commands_ready.notify_one();
    }

    /// Moves the inbox into `live` (called by the serving session).
    pub fn take_commands(&self, live: &mut Live) {
        let cmds = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        for c in cmds {
            if c.seq > live.out_acked {
                live.commands.insert(c.seq, c);
            }
        }
    }
}

/// All registered devices.
#[derive(Debug, Default)]
pub struct Registry {
    by_id: RwLock<HashMap<Vec<u8>, Arc<DeviceEntry>>>,
    by_row: RwLock<HashMap<i64, Arc<DeviceEntry>>>,
    version: AtomicU64,
}

/// What a refresh changed, for the caller to act on.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// Devices added.
    pub added: usize,
    /// Devices revoked now (their sessions were told to stop); their keys, to forget cached
    /// computations.
    pub revoked: Vec<PublicKey>,
}

impl Registry {
    /// The registry version last applied.
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire) as i64
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.by_id.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no device is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies rows read from storage (new devices, revocations).
    pub fn apply(&self, devices: Vec<Device>) -> Refreshed {
        let mut out = Refreshed::default();
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        let mut by_row = self.by_row.write().unwrap_or_else(|p| p.into_inner());
        for d in devices {
            let changed = d.changed.max(0) as u64;
            if self.version.load(Ordering::Acquire) < changed {
                self.version.store(changed, Ordering::Release);
            }
            match by_id.get(&d.id) {
                Some(e) => {
                    *e.key.write().unwrap_or_else(|p| p.into_inner()) = d.static_key;
                    e.require_credential
                        .store(d.require_credential, Ordering::Release);
                    let was = e.revoked.swap(d.revoked, Ordering::AcqRel);
                    if d.revoked && !was {
                        e.stop_owner();
                        out.revoked.push(PublicKey(d.static_key));
                    }
                }
                None => {
                    let e = Arc::new(DeviceEntry::new(&d));
                    by_row.insert(d.row, e.clone());
                    by_id.insert(d.id.clone(), e);
                    out.added += 1;
                }
            }
        }
        out
    }

    /// The device with this id.
    pub fn get(&self, id: &[u8]) -> Option<Arc<DeviceEntry>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The device with this storage row.
    pub fn by_row(&self, row: i64) -> Option<Arc<DeviceEntry>> {
        self.by_row
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&row)
            .cloned()
    }
}

/// The trust decision against the registry: a registered id, not revoked, with its registered
/// key, and a valid manufacturer credential when its registration requires one. Remembers the
/// entry it accepted, for the session.
pub struct RegistryPolicy<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// Credential issuers by name.
    pub issuers: &'a [(Vec<u8>, VerifyingKey)],
    /// The device accepted, once the check passed.
    pub accepted: Option<Arc<DeviceEntry>>,
    /// A registered id that was refused, and why.
    pub refused: Option<(Vec<u8>, Rejection)>,
}

impl TrustPolicy for RegistryPolicy<'_> {
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        let entry = self
            .registry
            .get(peer.identity.id())
            .ok_or(Rejection::UnknownPeer)?;
        let verdict = self.check_registered(&entry, peer);
        match verdict {
            Ok(()) => self.accepted = Some(entry),
            // A registered id refused: worth an audit row (the key proved in the handshake is
            // not the one registered, or the device is revoked, or its credential fails).
            Err(r) => self.refused = Some((entry.id.clone(), r)),
        }
        verdict
    }
}

impl RegistryPolicy<'_> {
    fn check_registered(&self, entry: &DeviceEntry, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        if entry.is_revoked() {
            return Err(Rejection::Revoked);
        }
        if &entry.static_key() != peer.static_key {
            return Err(Rejection::KeyMismatch);
        }
        if entry.require_credential.load(Ordering::Acquire) {
            let credential = peer
                .identity
                .credential()
                .ok_or(Rejection::MissingCredential)?;
            let (_, key) = self
                .issuers
                .iter()
                .find(|(name, _)| name.as_slice() == credential.issuer())
                .ok_or(Rejection::BadCredential)?;
            credential.verify(key, peer.identity.id(), peer.static_key, peer.now)?;
        }
        Ok(())
    }
}
