//! Storage behind a trait, with SQLite as the embedded default ([`SqliteStorage`]).
//!
//! The gateway never writes a row by itself: each connection turns what it received into
//! [`Change`]s, and the committer ([`crate::committer`]) applies many connections' changes in one
//! transaction (a group commit), then tells each connection its changes are durable. Only then
//! is anything acknowledged to a device. A storage must therefore make [`Storage::apply`] atomic
//! and durable: when it returns `Ok`, every change is on disk; when it returns an error, none is.

mod sqlite;

pub use sqlite::SqliteStorage;

use tether::delivery::{ReceiverState, RECEIVER_STATE_LEN, STREAM_ID_LEN};

use crate::audit::{Entry, Finding, MAC_LEN};

/// A storage error: the database failed, or holds something the gateway did not write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine failed (disk full, I/O error, locked too long).
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A row holds a value the gateway never writes (a state of the wrong length, say).
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// The device is not registered.
    #[error("no device {0:?} is registered")]
    UnknownDevice(String),
    /// The request contradicts what is stored (registering an id twice, say).
    #[error("{0}")]
    Refused(String),
}

/// A registered device, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The storage's number for it (stable, used in every other table).
    pub row: i64,
    /// Its identity's id (the serial number it sends in the handshake).
    pub id: Vec<u8>,
    /// Its registered static public key.
    pub static_key: [u8; 32],
    /// Whether it must also present a manufacturer credential.
    pub require_credential: bool,
    /// Revoked: refused at the handshake, and its sessions ended.
    pub revoked: bool,
    /// Where its message stream to the gateway stands (persisted with each message).
    pub receiver: ReceiverState,
    /// The gateway's command stream to it: its id, and the last number it acknowledged.
    pub out_stream: [u8; STREAM_ID_LEN],
    /// The last command sequence number the device acknowledged.
    pub out_acked: u64,
    /// Registry version at which this row last changed.
    pub changed: i64,
}

/// A command queued for a device, as the connection delivering it needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    /// Its row.
    pub row: i64,
    /// The device's row.
    pub device: i64,
    /// The command id inside the signed command.
    pub command_id: u64,
    /// Its number in the gateway's stream to the device.
    pub seq: u64,
    /// The signed command (COSE_Sign1), sent as is.
    pub bytes: Vec<u8>,
}

/// One observation of a vitals batch, as a row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingRow {
    /// When it was taken, ms since the Unix epoch.
    pub time_ms: u64,
    /// IEEE 11073 observation code.
    pub mdc: u32,
    /// IEEE 11073 unit code.
    pub unit: u32,
    /// The value as exact decimal text (`97`, `37.2`) or `NaN`, `NRes`, `+INF`, `-INF`.
    pub value: String,
}

/// What the application keeps of one message, stored with it in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A vital-sign observation.
    Reading(ReadingRow),
    /// A diagnostics report's main fields.
    Diagnostics {
        /// When it was taken.
        time_ms: u64,
        /// Battery charge in %.
        battery_percent: Option<u8>,
        /// Firmware version.
        firmware: Option<String>,
        /// Seconds since start.
        uptime_s: Option<u64>,
        /// The whole report as the device sent it is in `messages`; this is for queries.
        errors: u32,
    },
    /// A security event the device reported (also written to the audit trail).
    SecurityEvent {
        /// When it happened on the device.
        time_ms: u64,
        /// Its cause code (spec/MESSAGES.md).
        cause: u64,
        /// Its cause's name.
        cause_name: String,
        /// The detail code.
        detail: u64,
        /// How many times.
        count: u64,
    },
    /// The device's acknowledgement of a command: executed, or rejected with a reason.
    CommandAck {
        /// The command id.
        command_id: u64,
        /// `executed`, or `rejected: <reason>`.
        status: String,
    },
}

/// One atomic piece of work for [`Storage::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A message delivered in order, with its effect and the receiver state after it.
    Message {
        /// The device's row.
        device: i64,
        /// The device's stream and the message's number in it.
        stream: [u8; STREAM_ID_LEN],
        /// Its sequence number.
        seq: u64,
        /// Its message kind (spec/MESSAGES.md), when it parsed.
        kind: Option<u64>,
        /// The encoded message as received.
        bytes: Vec<u8>,
        /// The receiver state the device's row must hold before (a mismatch fails the
        /// change: a job of the same connection before it failed, or another writer moved it).
        prev: [u8; RECEIVER_STATE_LEN],
        /// The receiver state to persist with it.
        then: [u8; RECEIVER_STATE_LEN],
        /// What the application keeps of it.
        rows: Vec<Row>,
        /// When the gateway received it.
        received_ms: u64,
    },
    /// The device's stream changed or skipped ahead (an audit event), with the new state.
    StreamState {
        /// The device's row.
        device: i64,
        /// The state the row must hold before (as for messages).
        prev: [u8; RECEIVER_STATE_LEN],
        /// The new receiver state.
        state: [u8; RECEIVER_STATE_LEN],
    },
    /// The device acknowledged the gateway's stream up to `through`.
    CommandsDelivered {
        /// The device's row.
        device: i64,
        /// The acknowledgement.
        through: u64,
    },
    /// An audit event with no other effect.
    Audit {
        /// The event name.
        event: String,
        /// The device, if one.
        device: Option<Vec<u8>>,
        /// Details.
        detail: String,
    },
}

/// A new device for [`Storage::register`].
#[derive(Debug, Clone)]
pub struct Registration {
    /// Its identity's id.
    pub id: Vec<u8>,
    /// Its static public key.
    pub static_key: [u8; 32],
    /// Whether it must present a manufacturer credential too.
    pub require_credential: bool,
}

/// A command to queue with [`Storage::queue_command`].
#[derive(Debug, Clone)]
pub struct NewCommand {
    /// The device's id.
    pub device: Vec<u8>,
    /// The command id inside `bytes`.
    pub command_id: u64,
    /// Its operation code (for the queue listing).
    pub operation: u16,
    /// The signed command.
    pub bytes: Vec<u8>,
    /// When it expires, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// A command's row for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStatus {
    /// The device's id.
    pub device: Vec<u8>,
    /// The command id.
    pub command_id: u64,
    /// Its number in the stream to the device.
    pub seq: u64,
    /// queued, delivered, executed, rejected: ...
    pub state: String,
}

/// A stored reading, for export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedReading {
    /// The device's id.
    pub device: Vec<u8>,
    /// The message it came in.
    pub seq: u64,
    /// The observation.
    pub reading: ReadingRow,
}

/// What the gateway stores and the operator asks of it.
pub trait Storage: Send + 'static {
    /// Every registered device (at start) or those changed after registry version `after`.
    fn devices_changed(&mut self, after: i64) -> Result<Vec<Device>, StoreError>;
    /// Queued commands with a row number above `after` that the device has not acknowledged.
    fn commands_after(&mut self, after: i64) -> Result<Vec<QueuedCommand>, StoreError>;
    /// Applies changes atomically and durably: all of them, or (on error) none.
    fn apply(&mut self, changes: &[Change], now_ms: u64) -> Result<(), StoreError>;
    /// Registers devices (one transaction; an audit row each).
    fn register(&mut self, devices: &[Registration], now_ms: u64) -> Result<(), StoreError>;
    /// Revokes a device (an audit row).
    fn revoke(&mut self, id: &[u8], reason: &str, now_ms: u64) -> Result<(), StoreError>;
    /// Queues a signed command; returns its sequence number in the stream to the device.
    fn queue_command(&mut self, cmd: &NewCommand, now_ms: u64) -> Result<u64, StoreError>;
    /// The next command id to use for a device (one more than any queued before).
    fn next_command_id(&mut self, device: &[u8]) -> Result<u64, StoreError>;
    /// Commands and their states, oldest first, optionally for one device.
    fn commands(&mut self, device: Option<&[u8]>) -> Result<Vec<CommandStatus>, StoreError>;
    /// Readings, oldest first, optionally for one device, calling `each` per reading.
    fn export_readings(
        &mut self,
        device: Option<&[u8]>,
        each: &mut dyn FnMut(ExportedReading) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;
    /// Walks the audit trail and checks its chain; `expect` is a head recorded elsewhere.
    fn verify_audit(&mut self, expect: Option<(i64, [u8; MAC_LEN])>)
        -> Result<Finding, StoreError>;
    /// The audit trail's head (last row and its MAC), to record outside the database.
    fn audit_head(&mut self) -> Result<Option<(i64, [u8; MAC_LEN])>, StoreError>;
    /// The audit trail's rows, oldest first (for review).
    fn audit_rows(&mut self) -> Result<Vec<Entry>, StoreError>;
}
