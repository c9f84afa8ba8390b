//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a committed
//! transaction survives a crash of the process or the machine, and readers (the operator's CLI)
//! never block the gateway's writer.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tether::delivery::{ReceiverState, RECEIVER_STATE_LEN, STREAM_ID_LEN};

use super::{
    Change, CommandStatus, Device, ExportedReading, NewCommand, QueuedCommand, ReadingRow,
    Registration, Row, Storage, StoreError,
};
use crate::audit::{self, AuditKey, Entry, Finding, GENESIS, MAC_LEN};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1), ('registry_version', 0);
CREATE TABLE IF NOT EXISTS devices (
    row INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    static_key BLOB NOT NULL,
    require_credential INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    registered_ms INTEGER NOT NULL,
    out_stream BLOB NOT NULL,
    out_next INTEGER NOT NULL DEFAULT 1,
    out_acked INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_changed ON devices (changed);
CREATE UNIQUE INDEX IF NOT EXISTS devices_by_key ON devices (static_key);
-- Each device's delivery state, written with every message: a narrow table of its own, so a
-- group commit touches few pages (a devices row is ten times wider).
CREATE TABLE IF NOT EXISTS delivery_state (
    device INTEGER PRIMARY KEY REFERENCES devices (row),
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    row INTEGER PRIMARY KEY,
    device INTEGER NOT NULL REFERENCES devices (row),
    stream BLOB NOT NULL,
    seq INTEGER NOT NULL,
    kind INTEGER,
    received_ms INTEGER NOT NULL,
    bytes BLOB NOT NULL
);
-- Not UNIQUE on purpose: exactly-once is the delivery layer's job, and the load and fault
-- checks count copies here to prove it does it.
CREATE INDEX IF NOT EXISTS messages_by_device ON messages (device, stream, seq);
-- Readings point at their message (device and sequence number are there). Message rows only grow,
-- so this index is appended to at its end: an index by device would take a random page per
-- reading, and at tens of thousands of readings per second that is what limits a commit.
CREATE TABLE IF NOT EXISTS readings (
    message INTEGER NOT NULL REFERENCES messages (row),
    time_ms INTEGER NOT NULL,
    mdc INTEGER NOT NULL,
    unit INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_message ON readings (message);
CREATE TABLE IF NOT EXISTS diagnostics (
    device INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    battery_percent INTEGER,
    firmware TEXT,
    uptime_s INTEGER,
    errors INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS security_events (
    device INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    cause INTEGER NOT NULL,
    cause_name TEXT NOT NULL,
    detail INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    row INTEGER PRIMARY KEY,
    device INTEGER NOT NULL REFERENCES devices (row),
    command_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    expires_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (device, command_id),
    UNIQUE (device, seq)
);
CREATE TABLE IF NOT EXISTS audit (
    row INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    device BLOB,
    detail TEXT NOT NULL,
    mac BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    row INTEGER NOT NULL,
    mac BLOB NOT NULL
);
"#;

/// The SQLite storage. One per process; the gateway's committer owns it.
pub struct SqliteStorage {
    conn: Connection,
    audit_key: AuditKey,
    checkpointer: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.checkpointer.take() {
            stop.store(true, std::sync::atomic::Ordering::Release);
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

/// The audit trail's end inside a transaction.
struct Head {
    row: i64,
    mac: [u8; MAC_LEN],
}

impl SqliteStorage {
    /// Opens (or creates) the database at `path`, in WAL mode.
    pub fn open(path: &Path, audit_key: AuditKey) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Index pages of the devices seen recently stay in memory (32 MiB).
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStorage {
            conn,
            audit_key,
            checkpointer: None,
        })
    }

    /// Moves checkpoints off the writer: the writer stops checkpointing on commit, and a thread
    /// of its own copies the WAL into the database every `every` with a passive checkpoint
    /// (which never blocks the writer). Otherwise, one commit in a few hundred would carry a
    /// checkpoint of megabytes and every acknowledgement waiting on it. Stops with the storage.
    pub fn checkpoint_in_background(
        &mut self,
        path: &Path,
        every: Duration,
    ) -> Result<(), StoreError> {
        let reader = Connection::open(path)?;
        reader.busy_timeout(Duration::from_secs(10))?;
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("tether-checkpoint".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Acquire) {
                    std::thread::park_timeout(every);
                    if let Err(e) =
                        reader.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Refused(format!("checkpoint thread: {e}")))?;
        self.checkpointer = Some((stop, handle));
        Ok(())
    }

    /// The connection, for read-only queries of tests and the load checker.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

fn head(tx: &Transaction<'_>) -> Result<Head, StoreError> {
    let got: Option<(i64, Vec<u8>)> = tx
        .query_row("SELECT row, mac FROM audit_head WHERE one = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match got {
        None => Ok(Head {
            row: 0,
            mac: GENESIS,
        }),
        Some((row, mac)) => Ok(Head {
            row,
            mac: mac.try_into().map_err(|_| StoreError::Corrupt {
                table: "audit_head",
                what: "MAC length",
            })?,
        }),
    }
}

fn save_head(tx: &Transaction<'_>, head: &Head) -> Result<(), StoreError> {
    if head.row > 0 {
        tx.prepare_cached("INSERT OR REPLACE INTO audit_head (one, row, mac) VALUES (1, ?1, ?2)")?
            .execute(params![head.row, &head.mac[..]])?;
    }
    Ok(())
}

fn append(
    tx: &Transaction<'_>,
    key: &AuditKey,
    head: &mut Head,
    time_ms: u64,
    event: &str,
    device: Option<&[u8]>,
    detail: &str,
) -> Result<(), StoreError> {
    let entry = Entry {
        row: head.row + 1,
        time_ms: time_ms as i64,
        event: event.to_owned(),
        device: device.map(<[u8]>::to_vec),
        detail: detail.to_owned(),
    };
    let mac = audit::mac(key, &head.mac, &entry);
    tx.prepare_cached(
        "INSERT INTO audit (row, time_ms, event, device, detail, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.row,
        entry.time_ms,
        entry.event,
        entry.device,
        entry.detail,
        &mac[..]
    ])?;
    head.row = entry.row;
    head.mac = mac;
    Ok(())
}

fn bump_registry(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    tx.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'registry_version'",
        [],
    )?;
    Ok(tx.query_row(
        "SELECT value FROM meta WHERE key = 'registry_version'",
        [],
        |r| r.get(0),
    )?)
}

fn device_id(tx: &Transaction<'_>, row: i64) -> Result<Vec<u8>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id FROM devices WHERE row = ?1")?
        .query_row([row], |r| r.get(0))?)
}

fn device_row(conn: &Connection, id: &[u8]) -> Result<i64, StoreError> {
    conn.query_row("SELECT row FROM devices WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::UnknownDevice(String::from_utf8_lossy(id).into_owned()))
}

/// Moves a device's receiver state from `prev` to `then`, or fails if it does not hold `prev`.
fn set_state(
    tx: &Transaction<'_>,
    device: i64,
    prev: &[u8; RECEIVER_STATE_LEN],
    then: &[u8; RECEIVER_STATE_LEN],
) -> Result<(), StoreError> {
    let updated = tx
        .prepare_cached("UPDATE delivery_state SET state = ?1 WHERE device = ?2 AND state = ?3")?
        .execute(params![&then[..], device, &prev[..]])?;
    if updated != 1 {
        return Err(StoreError::Refused(format!(
            "device row {device}: its delivery state is not the one this change follows"
        )));
    }
    Ok(())
}

fn apply_one(
    tx: &Transaction<'_>,
    key: &AuditKey,
    head: &mut Head,
    change: &Change,
    now_ms: u64,
) -> Result<(), StoreError> {
    match change {
        Change::Message {
            device,
            stream,
            seq,
            kind,
            bytes,
            prev,
            then,
            rows,
            received_ms,
        } => {
            set_state(tx, *device, prev, then)?;
            let seq_i = *seq as i64;
            tx.prepare_cached(
                "INSERT INTO messages (device, stream, seq, kind, received_ms, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                device,
                &stream[..],
                seq_i,
                kind.map(|k| k as i64),
                *received_ms as i64,
                bytes
            ])?;
            let message_row = tx.last_insert_rowid();
            let mut dev_id = None;
            for row in rows {
                match row {
                    Row::Reading(r) => {
                        tx.prepare_cached(
                            "INSERT INTO readings (message, time_ms, mdc, unit, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![message_row, r.time_ms as i64, r.mdc, r.unit, r.value])?;
                    }
                    Row::Diagnostics {
                        time_ms,
                        battery_percent,
                        firmware,
                        uptime_s,
                        errors,
                    } => {
                        tx.prepare_cached(
                            "INSERT INTO diagnostics (device, seq, time_ms, battery_percent, firmware, uptime_s, errors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![
                            device,
                            seq_i,
                            *time_ms as i64,
                            battery_percent,
                            firmware,
                            uptime_s.map(|u| u as i64),
                            errors
                        ])?;
                    }
                    Row::SecurityEvent {
                        time_ms,
                        cause,
                        cause_name,
                        detail,
                        count,
                    } => {
                        tx.prepare_cached(
                            "INSERT INTO security_events (device, seq, time_ms, cause, cause_name, detail, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![
                            device,
                            seq_i,
                            *time_ms as i64,
                            *cause as i64,
                            cause_name,
                            *detail as i64,
                            *count as i64
                        ])?;
                        let id = match &dev_id {
                            Some(id) => id,
                            None => dev_id.insert(device_id(tx, *device)?),
                        };
                        append(
                            tx,
                            key,
                            head,
                            now_ms,
                            "security.device_event",
                            Some(id),
                            &format!(
                                "{cause_name} (cause {cause}, detail {detail}) x{count} at {time_ms} ms, message {seq}"
                            ),
                        )?;
                    }
                    Row::CommandAck { command_id, status } => {
                        let id = match &dev_id {
                            Some(id) => id.clone(),
                            None => dev_id.insert(device_id(tx, *device)?).clone(),
                        };
                        let n = tx
                            .prepare_cached(
                                "UPDATE commands SET state = ?1, updated_ms = ?2 WHERE device = ?3 AND command_id = ?4 AND state IN ('queued', 'delivered', 'accepted')",
                            )?
                            .execute(params![status, now_ms as i64, device, *command_id as i64])?;
                        let event = if n == 1 {
                            format!("command.{}", status.split(':').next().unwrap_or(status))
                        } else {
                            "command.ack_unmatched".to_owned()
                        };
                        append(
                            tx,
                            key,
                            head,
                            now_ms,
                            &event,
                            Some(&id),
                            &format!("command {command_id}: {status} (message {seq})"),
                        )?;
                    }
                }
            }
        }
        Change::StreamState {
            device,
            prev,
            state,
        } => set_state(tx, *device, prev, state)?,
        Change::CommandsDelivered { device, through } => {
            let through = *through as i64;
            let id = device_id(tx, *device)?;
            let delivered: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT command_id, seq FROM commands WHERE device = ?1 AND seq <= ?2 AND state = 'queued' ORDER BY seq",
                )?
                .query_map(params![device, through], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            tx.prepare_cached(
                "UPDATE commands SET state = 'delivered', updated_ms = ?1 WHERE device = ?2 AND seq <= ?3 AND state = 'queued'",
            )?
            .execute(params![now_ms as i64, device, through])?;
            tx.prepare_cached("UPDATE devices SET out_acked = MAX(out_acked, ?1) WHERE row = ?2")?
                .execute(params![through, device])?;
            for (command_id, seq) in delivered {
                append(
                    tx,
                    key,
                    head,
                    now_ms,
                    "command.delivered",
                    Some(&id),
                    &format!("command {command_id} (stream number {seq}) acknowledged by the device's delivery layer"),
                )?;
            }
        }
        Change::Audit {
            event,
            device,
            detail,
        } => append(tx, key, head, now_ms, event, device.as_deref(), detail)?,
    }
    Ok(())
}

fn state_of(bytes: Vec<u8>) -> Result<ReceiverState, StoreError> {
    let arr: [u8; RECEIVER_STATE_LEN] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        table: "devices",
        what: "receiver state length",
    })?;
    ReceiverState::from_bytes(&arr).map_err(|_| StoreError::Corrupt {
        table: "devices",
        what: "receiver state",
    })
}

impl Storage for SqliteStorage {
    fn devices_changed(&mut self, after: i64) -> Result<Vec<Device>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.row, d.id, d.static_key, d.require_credential, d.revoked, s.state, d.out_stream, d.out_acked, d.changed FROM devices d JOIN delivery_state s ON s.device = d.row WHERE d.changed > ?1 ORDER BY d.changed",
        )?;
        let raw: Vec<_> = stmt
            .query_map([after], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        raw.into_iter()
            .map(
                |(row, id, key, cred, revoked, state, out, acked, changed)| {
                    Ok(Device {
                        row,
                        id,
                        static_key: key.try_into().map_err(|_| StoreError::Corrupt {
                            table: "devices",
                            what: "static key length",
                        })?,
                        require_credential: cred,
                        revoked,
                        receiver: state_of(state)?,
                        out_stream: <[u8; STREAM_ID_LEN]>::try_from(out).map_err(|_| {
                            StoreError::Corrupt {
                                table: "devices",
                                what: "stream id length",
                            }
                        })?,
                        out_acked: acked as u64,
                        changed,
                    })
                },
            )
            .collect()
    }

    fn commands_after(&mut self, after: i64) -> Result<Vec<QueuedCommand>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.row, c.device, c.command_id, c.seq, c.bytes FROM commands c JOIN devices d ON d.row = c.device WHERE c.row > ?1 AND c.seq > d.out_acked ORDER BY c.row",
        )?;
        let rows = stmt
            .query_map([after], |r| {
                Ok(QueuedCommand {
                    row: r.get(0)?,
                    device: r.get(1)?,
                    command_id: r.get::<_, i64>(2)? as u64,
                    seq: r.get::<_, i64>(3)? as u64,
                    bytes: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn apply(&mut self, changes: &[Change], now_ms: u64) -> Result<(), StoreError> {
        let key = self.audit_key.clone();
        let tx = self.begin()?;
        let mut h = head(&tx)?;
        for change in changes {
            apply_one(&tx, &key, &mut h, change, now_ms)?;
        }
        save_head(&tx, &h)?;
        tx.commit()?;
        Ok(())
    }

    fn register(&mut self, devices: &[Registration], now_ms: u64) -> Result<(), StoreError> {
        let key = self.audit_key.clone();
        let tx = self.begin()?;
        let mut h = head(&tx)?;
        let version = bump_registry(&tx)?;
        for d in devices {
            let exists: Option<i64> = tx
                .query_row("SELECT row FROM devices WHERE id = ?1", [&d.id], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_some() {
                return Err(StoreError::Refused(format!(
                    "device {:?} is already registered",
                    String::from_utf8_lossy(&d.id)
                )));
            }
            // Two devices never share a static key: the handshake would prove either.
            let holder: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT id FROM devices WHERE static_key = ?1",
                    [&d.static_key[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(holder) = holder {
                return Err(StoreError::Refused(format!(
                    "the static key of {:?} is already registered to {:?}",
                    String::from_utf8_lossy(&d.id),
                    String::from_utf8_lossy(&holder)
                )));
            }
            let mut stream = [0u8; STREAM_ID_LEN];
            getrandom::getrandom(&mut stream)
                .map_err(|_| StoreError::Refused("no operating-system randomness".into()))?;
            tx.prepare_cached(
                "INSERT INTO devices (id, static_key, require_credential, registered_ms, out_stream, changed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &d.id,
                &d.static_key[..],
                d.require_credential,
                now_ms as i64,
                &stream[..],
                version
            ])?;
            tx.prepare_cached("INSERT INTO delivery_state (device, state) VALUES (?1, ?2)")?
                .execute(params![
                    tx.last_insert_rowid(),
                    &ReceiverState::NEW.to_bytes()[..]
                ])?;
            append(
                &tx,
                &key,
                &mut h,
                now_ms,
                "device.registered",
                Some(&d.id),
                &format!(
                    "static key {}{}",
                    audit::hex(&d.static_key),
                    if d.require_credential {
                        ", manufacturer credential required"
                    } else {
                        ""
                    }
                ),
            )?;
        }
        save_head(&tx, &h)?;
        tx.commit()?;
        Ok(())
    }

    fn revoke(&mut self, id: &[u8], reason: &str, now_ms: u64) -> Result<(), StoreError> {
        let key = self.audit_key.clone();
        let tx = self.begin()?;
        let row = device_row(&tx, id)?;
        let mut h = head(&tx)?;
        let version = bump_registry(&tx)?;
        tx.execute(
            "UPDATE devices SET revoked = 1, changed = ?1 WHERE row = ?2",
            params![version, row],
        )?;
        append(
            &tx,
            &key,
            &mut h,
            now_ms,
            "device.revoked",
            Some(id),
            reason,
        )?;
        save_head(&tx, &h)?;
        tx.commit()?;
        Ok(())
    }

    fn queue_command(&mut self, cmd: &NewCommand, now_ms: u64) -> Result<u64, StoreError> {
        let key = self.audit_key.clone();
        let tx = self.begin()?;
        let row = device_row(&tx, &cmd.device)?;
        let (next, revoked): (i64, bool) = tx.query_row(
            "SELECT out_next, revoked FROM devices WHERE row = ?1",
            [row],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if revoked {
            return Err(StoreError::Refused("the device is revoked".into()));
        }
        let mut h = head(&tx)?;
        tx.execute(
            "INSERT INTO commands (device, command_id, seq, operation, bytes, expires_ms, state, queued_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7)",
            params![
                row,
                cmd.command_id as i64,
                next,
                cmd.operation,
                &cmd.bytes,
                cmd.expires_ms as i64,
                now_ms as i64
            ],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Refused(format!(
                    "command {} was already queued for this device",
                    cmd.command_id
                ))
            }
            other => other.into(),
        })?;
        tx.execute(
            "UPDATE devices SET out_next = out_next + 1 WHERE row = ?1",
            [row],
        )?;
        append(
            &tx,
            &key,
            &mut h,
            now_ms,
            "command.queued",
            Some(&cmd.device),
            &format!(
                "command {} (operation {}), stream number {next}, {} bytes signed, expires at {} ms",
                cmd.command_id,
                cmd.operation,
                cmd.bytes.len(),
                cmd.expires_ms
            ),
        )?;
        save_head(&tx, &h)?;
        tx.commit()?;
        Ok(next as u64)
    }

    fn next_command_id(&mut self, device: &[u8]) -> Result<u64, StoreError> {
        let row = device_row(&self.conn, device)?;
        let max: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(command_id), 0) FROM commands WHERE device = ?1",
            [row],
            |r| r.get(0),
        )?;
        Ok(max as u64 + 1)
    }

    fn commands(&mut self, device: Option<&[u8]>) -> Result<Vec<CommandStatus>, StoreError> {
        let filter = match device {
            Some(id) => Some(device_row(&self.conn, id)?),
            None => None,
        };
        let mut stmt = self.conn.prepare(
            "SELECT d.id, c.command_id, c.seq, c.state FROM commands c JOIN devices d ON d.row = c.device WHERE ?1 IS NULL OR c.device = ?1 ORDER BY c.row",
        )?;
        let rows = stmt
            .query_map([filter], |r| {
                Ok(CommandStatus {
                    device: r.get(0)?,
                    command_id: r.get::<_, i64>(1)? as u64,
                    seq: r.get::<_, i64>(2)? as u64,
                    state: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn export_readings(
        &mut self,
        device: Option<&[u8]>,
        each: &mut dyn FnMut(ExportedReading) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let filter = match device {
            Some(id) => Some(device_row(&self.conn, id)?),
            None => None,
        };
        let mut stmt = self.conn.prepare(
            "SELECT d.id, m.seq, r.time_ms, r.mdc, r.unit, r.value FROM readings r JOIN messages m ON m.row = r.message JOIN devices d ON d.row = m.device WHERE ?1 IS NULL OR m.device = ?1 ORDER BY r.rowid",
        )?;
        let mut rows = stmt.query([filter])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            each(ExportedReading {
                device: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                reading: ReadingRow {
                    time_ms: r.get::<_, i64>(2)? as u64,
                    mdc: r.get(3)?,
                    unit: r.get(4)?,
                    value: r.get(5)?,
                },
            })?;
            n += 1;
        }
        Ok(n)
    }

    fn verify_audit(
        &mut self,
        expect: Option<(i64, [u8; MAC_LEN])>,
    ) -> Result<Finding, StoreError> {
        // One read transaction, so the rows and the head are from the same moment.
        let tx = self.conn.transaction()?;
        let head_row: Option<(i64, Vec<u8>)> = tx
            .query_row("SELECT row, mac FROM audit_head WHERE one = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let head = match head_row {
            Some((row, mac)) => Some((
                row,
                <[u8; MAC_LEN]>::try_from(mac).map_err(|_| StoreError::Corrupt {
                    table: "audit_head",
                    what: "MAC length",
                })?,
            )),
            None => None,
        };
        let mut stmt =
            tx.prepare("SELECT row, time_ms, event, device, detail, mac FROM audit ORDER BY row")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    Entry {
                        row: r.get(0)?,
                        time_ms: r.get(1)?,
                        event: r.get(2)?,
                        device: r.get(3)?,
                        detail: r.get(4)?,
                    },
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut checked = Vec::with_capacity(rows.len());
        for (entry, mac) in rows {
            // A MAC of the wrong length can only be an edit: give it a value that fails.
            let mac = <[u8; MAC_LEN]>::try_from(mac).unwrap_or([0; MAC_LEN]);
            checked.push((entry, mac));
        }
        Ok(audit::verify(&self.audit_key, checked, head, expect))
    }

    fn audit_head(&mut self) -> Result<Option<(i64, [u8; MAC_LEN])>, StoreError> {
        let tx = self.conn.transaction()?;
        let h = head(&tx)?;
        Ok((h.row > 0).then_some((h.row, h.mac)))
    }

    fn audit_rows(&mut self) -> Result<Vec<Entry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT row, time_ms, event, device, detail FROM audit ORDER BY row")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Entry {
                    row: r.get(0)?,
                    time_ms: r.get(1)?,
                    event: r.get(2)?,
                    device: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
