//! After the run: what the database holds against what each device was told is stored.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::device::Outcome;

/// The counted result.
#[derive(Debug, Default)]
pub struct Checked {
    /// Messages acknowledged to devices.
    pub acknowledged: u64,
    /// Acknowledged messages missing from the database (must be 0).
    pub lost: u64,
    /// Extra copies of a message in the database (must be 0).
    pub duplicates: u64,
    /// Messages stored.
    pub stored: u64,
    /// Readings rows stored.
    pub readings: u64,
    /// Readings rows expected from the messages stored.
    pub readings_expected: u64,
    /// Devices with messages pushed but never acknowledged (must be 0 after the drain).
    pub unacknowledged_devices: u64,
}

/// Compares the database at `db` with the devices' outcomes.
pub fn check(
    db: &Path,
    outcomes: &[Outcome],
    readings_per_message: u64,
) -> Result<Checked, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening {}: {e}", db.display()))?;
    let q = |e: rusqlite::Error| format!("query: {e}");
    let rows: HashMap<Vec<u8>, i64> = conn
        .prepare("SELECT id, row FROM devices")
        .map_err(q)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(q)?
        .collect::<Result<_, _>>()
        .map_err(q)?;
    let mut stmt = conn
        .prepare("SELECT seq, COUNT(*) FROM messages WHERE device = ?1 AND stream = ?2 GROUP BY seq ORDER BY seq")
        .map_err(q)?;
    let mut out = Checked::default();
    for o in outcomes {
        let Some(row) = rows.get(o.id.as_bytes()) else {
            return Err(format!("device {} is not registered", o.id));
        };
        let seqs: Vec<(i64, i64)> = stmt
            .query_map(rusqlite::params![row, &o.stream[..]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(q)?
            .collect::<Result<_, _>>()
            .map_err(q)?;
        out.acknowledged += o.acked;
        let present: std::collections::HashSet<u64> = seqs.iter().map(|(s, _)| *s as u64).collect();
        out.lost += (1..=o.acked).filter(|s| !present.contains(s)).count() as u64;
        out.duplicates += seqs
            .iter()
            .map(|(_, c)| (*c - 1).max(0) as u64)
            .sum::<u64>();
        if o.pushed > o.acked {
            out.unacknowledged_devices += 1;
        }
    }
    // The whole table, not only the streams the devices reported.
    out.duplicates = out.duplicates.max(
        conn.query_row(
            "SELECT COALESCE(SUM(c - 1), 0) FROM (SELECT COUNT(*) AS c FROM messages GROUP BY device, stream, seq)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(q)? as u64,
    );
    out.stored = conn
        .query_row("SELECT COUNT(*) FROM messages WHERE kind = 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(q)? as u64;
    out.readings = conn
        .query_row("SELECT COUNT(*) FROM readings", [], |r| r.get::<_, i64>(0))
        .map_err(q)? as u64;
    out.readings_expected = out.stored * readings_per_message;
    Ok(out)
}
