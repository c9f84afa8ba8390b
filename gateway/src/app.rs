//! The application's part: what to keep of each message a device delivered. The gateway decodes
//! the message by kind and hands it over through [`Application`]; the rows it returns are
//! committed in the same transaction as the message itself and the device's delivery state, and
//! only then acknowledged. [`StoreAll`] (the default) keeps everything.

use tether::message::command::{AckStatus, CommandAck};
use tether::message::decimal::Value;
use tether::message::diagnostics::DiagnosticsReport;
use tether::message::security_event::SecurityEventBatch;
use tether::message::usage::UsageBatch;
use tether::message::vitals::VitalsBatch;
use tether::message::{Kind, Message};

use crate::store::{ReadingRow, Row};

/// A delivered message, decoded by kind.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A vitals batch.
    Vitals(VitalsBatch<'a>),
    /// A usage batch.
    Usage(UsageBatch<'a>),
    /// A diagnostics report.
    Diagnostics(DiagnosticsReport<'a>),
    /// Security events the device recorded.
    SecurityEvents(SecurityEventBatch<'a>),
    /// The device's answer to a command.
    CommandAck(CommandAck),
    /// A kind the gateway does not decode here, or a message that did not decode; it is still
    /// stored as received (and acknowledged: delivery carries what the application cannot use
    /// exactly once too, and the application decides what to log).
    Other {
        /// The kind, if the envelope parsed.
        kind: Option<Kind>,
        /// Why it was not decoded, if it failed.
        error: Option<tether::Error>,
    },
}

impl<'a> Decoded<'a> {
    /// Decodes `bytes` by its envelope's kind.
    pub fn decode(bytes: &'a [u8]) -> Decoded<'a> {
        let kind = match Message::parse(bytes) {
            Ok(m) => m.kind,
            Err(e) => {
                return Decoded::Other {
                    kind: None,
                    error: Some(e),
                }
            }
        };
        let decoded = match kind {
            Kind::Vitals => VitalsBatch::decode(bytes).map(Decoded::Vitals),
            Kind::Usage => UsageBatch::decode(bytes).map(Decoded::Usage),
            Kind::Diagnostics => DiagnosticsReport::decode(bytes).map(Decoded::Diagnostics),
            Kind::SecurityEvents => SecurityEventBatch::decode(bytes).map(Decoded::SecurityEvents),
            Kind::CommandAck => CommandAck::decode(bytes).map(Decoded::CommandAck),
            other => Ok(Decoded::Other {
                kind: Some(other),
                error: None,
            }),
        };
        decoded.unwrap_or_else(|e| Decoded::Other {
            kind: Some(kind),
            error: Some(e),
        })
    }
}

/// Decides what of a message to keep. Runs on the connection's task, before the commit: keep it
/// quick and free of I/O (anything slow belongs after the commit, reading the database).
pub trait Application: Send + Sync + 'static {
    /// Appends the rows to store for message `seq` of device `device`.
    fn rows(&self, device: &[u8], seq: u64, message: &Decoded<'_>, out: &mut Vec<Row>);
}

/// Keeps every reading, diagnostics report, security event and command acknowledgement.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreAll;

/// A value as exact text: the decimal, or the 11073 special value's name.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Number(d) => d.to_string(),
        Value::NaN => "NaN".into(),
        Value::NRes => "NRes".into(),
        Value::PosInf => "+INF".into(),
        Value::NegInf => "-INF".into(),
    }
}

/// A command acknowledgement's state as the command queue shows it.
pub fn ack_state(status: &AckStatus) -> String {
    match status {
        AckStatus::Accepted => "accepted".into(),
        AckStatus::Executed => "executed".into(),
        AckStatus::Rejected(r) => format!("rejected: {r:?}"),
        AckStatus::Failed(code) => format!("failed: {code}"),
    }
}

impl Application for StoreAll {
    fn rows(&self, _device: &[u8], _seq: u64, message: &Decoded<'_>, out: &mut Vec<Row>) {
        match message {
            Decoded::Vitals(batch) => {
                out.reserve(batch.len());
                for r in batch.readings() {
                    let Some(ch) = batch.channels().get(usize::from(r.channel)) else {
                        continue;
                    };
                    out.push(Row::Reading(ReadingRow {
                        time_ms: r.time_ms,
                        mdc: ch.mdc(),
                        unit: ch.unit(),
                        value: value_text(&r.value),
                    }));
                }
            }
            Decoded::Diagnostics(d) => out.push(Row::Diagnostics {
                time_ms: d.time_ms,
                battery_percent: d.battery_percent,
                firmware: d.firmware.map(str::to_owned),
                uptime_s: d.uptime_s,
                errors: d.errors.map_or(0, |e| e.len() as u32),
            }),
            Decoded::SecurityEvents(b) => {
                for e in b.events() {
                    out.push(Row::SecurityEvent {
                        time_ms: e.time_ms,
                        cause: e.cause.to_u64(),
                        cause_name: format!("{:?}", e.cause),
                        detail: e.detail,
                        count: e.count,
                    });
                }
            }
            Decoded::CommandAck(a) => out.push(Row::CommandAck {
                command_id: a.command_id,
                status: ack_state(&a.status),
            }),
            Decoded::Usage(_) | Decoded::Other { .. } => {}
        }
    }
}
