//! The audit trail's chain (21 CFR Part 11): every security event, registration change and
//! command lifecycle step is one row, and each row carries a MAC over its own fields and the
//! previous row's MAC.
//!
//! Keyed rather than a bare hash: anyone who can write the database could recompute a plain
//! hash chain after editing it, but not this one without the audit key, which lives in the
//! gateway's key file, not in the database. What the chain shows: an edited row (its MAC no
//! longer matches), a deleted row (the next row's MAC was made over the deleted one's), rows
//! reordered or renumbered (the row number is inside the MAC). Rows cut from the end are shown
//! by the head row (`audit_head`, written in the same transaction); an attacker who also rolls
//! the head back to an earlier genuine value is caught only against a head recorded elsewhere
//! (the gateway logs it, and `verify` takes one as `--expect-head`).

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a chain MAC.
pub const MAC_LEN: usize = 32;

/// The MAC before the first row.
pub const GENESIS: [u8; MAC_LEN] = [0; MAC_LEN];

/// The key that makes the chain unforgeable without it. Never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        AuditKey(bytes)
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// One row of the trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position: 1 for the first row, each next row one more.
    pub row: i64,
    /// When it was written, in ms since the Unix epoch.
    pub time_ms: i64,
    /// What happened, a dotted name such as `device.registered` or `command.delivered`.
    pub event: String,
    /// The device it concerns, if one.
    pub device: Option<Vec<u8>>,
    /// Details, as text for a reviewer.
    pub detail: String,
}

/// The MAC of `entry` following a row whose MAC was `prev`: HMAC-SHA-256 over `prev`, the row
/// number and time (8 bytes big-endian each), then the event, device and detail, each as a
/// 4-byte big-endian length and the bytes (the device's length is 0xFFFFFFFF when absent), so
/// no two different rows encode the same.
pub fn mac(key: &AuditKey, prev: &[u8; MAC_LEN], entry: &Entry) -> [u8; MAC_LEN] {
    // HMAC pads a key shorter than the hash's block with zeros; doing it here gives the same MAC
    // through the infallible constructor.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&key.0);
    let mut m = <Hmac<Sha256> as KeyInit>::new(&block.into());
    block.zeroize();
    m.update(prev);
    m.update(&entry.row.to_be_bytes());
    m.update(&entry.time_ms.to_be_bytes());
    field(&mut m, Some(entry.event.as_bytes()));
    field(&mut m, entry.device.as_deref());
    field(&mut m, Some(entry.detail.as_bytes()));
    m.finalize().into_bytes().into()
}

fn field(m: &mut Hmac<Sha256>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            m.update(&(b.len() as u32).to_be_bytes());
            m.update(b);
        }
        None => m.update(&u32::MAX.to_be_bytes()),
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Every row checks out; the chain ends at this row and MAC.
    Intact {
        /// Rows checked.
        rows: i64,
        /// The last row's MAC (the head), to record elsewhere.
        head: [u8; MAC_LEN],
    },
    /// A row was expected and another came: rows deleted or renumbered before `row`.
    Missing {
        /// The row number expected.
        expected: i64,
        /// The row number found.
        found: i64,
    },
    /// This row's MAC does not match: it, or a row before it, was edited, deleted or reordered.
    BadMac {
        /// The first row that fails.
        row: i64,
    },
    /// The head does not match the last row: rows were cut from the end (or added without it).
    BadHead {
        /// The last row present.
        last_row: i64,
        /// The row the head names.
        head_row: i64,
    },
    /// The chain is intact but does not reach the head recorded elsewhere.
    NotExpectedHead {
        /// Rows present.
        rows: i64,
    },
}

impl Finding {
    /// Whether the trail is intact.
    pub fn is_intact(&self) -> bool {
        matches!(self, Finding::Intact { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Intact { rows, head } => {
                write!(f, "intact: {rows} rows, head {}", hex(head))
            }
            Finding::Missing { expected, found } => write!(
                f,
                "rows missing or renumbered: expected row {expected}, found row {found}"
            ),
            Finding::BadMac { row } => write!(
                f,
                "row {row} does not verify: it or an earlier row was edited, deleted or reordered"
            ),
            Finding::BadHead { last_row, head_row } => write!(
                f,
                "the head names row {head_row} but the last row is {last_row}: rows cut from the end"
            ),
            Finding::NotExpectedHead { rows } => write!(
                f,
                "the chain ({rows} rows) does not contain the expected head: rows cut from the end"
            ),
        }
    }
}

/// Checks rows given in row order against the chain and the stored head `(row, mac)`;
/// `expect` is a head recorded elsewhere (row, MAC) that must be in the chain.
pub fn verify(
    key: &AuditKey,
    rows: impl IntoIterator<Item = (Entry, [u8; MAC_LEN])>,
    head: Option<(i64, [u8; MAC_LEN])>,
    expect: Option<(i64, [u8; MAC_LEN])>,
) -> Finding {
    let mut prev = GENESIS;
    let mut count = 0i64;
    let mut expect_seen = expect.is_none();
    for (entry, stored) in rows {
        if entry.row != count + 1 {
            return Finding::Missing {
                expected: count + 1,
                found: entry.row,
            };
        }
        let want = mac(key, &prev, &entry);
        if !constant_time_eq(&want, &stored) {
            return Finding::BadMac { row: entry.row };
        }
        if let Some((row, m)) = expect {
            if row == entry.row && constant_time_eq(&m, &want) {
                expect_seen = true;
            }
        }
        prev = want;
        count = entry.row;
    }
    match head {
        Some((row, m)) if row == count && constant_time_eq(&m, &prev) => {}
        None if count == 0 => {}
        Some((row, _)) => {
            return Finding::BadHead {
                last_row: count,
                head_row: row,
            }
        }
        None => {
            return Finding::BadHead {
                last_row: count,
                head_row: 0,
            }
        }
    }
    if !expect_seen {
        return Finding::NotExpectedHead { rows: count };
    }
    Finding::Intact {
        rows: count,
        head: prev,
    }
}

fn constant_time_eq(a: &[u8; MAC_LEN], b: &[u8; MAC_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lower-case hex, for heads and keys shown to an operator.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `ROW:HEX` as printed by `verify`.
pub fn parse_head(s: &str) -> Option<(i64, [u8; MAC_LEN])> {
    let (row, mac) = s.split_once(':')?;
    let row = row.parse().ok()?;
    let bytes = unhex(mac)?;
    Some((row, bytes.try_into().ok()?))
}

/// Parses lower- or upper-case hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &AuditKey, n: i64) -> Vec<(Entry, [u8; MAC_LEN])> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|row| {
                let e = Entry {
                    row,
                    time_ms: 1000 + row,
                    event: "device.registered".into(),
                    device: Some(format!("SN-{row}").into_bytes()),
                    detail: format!("row {row}"),
                };
                let m = mac(key, &prev, &e);
                prev = m;
                (e, m)
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_each_kind_of_tampering_is_found() {
        let key = AuditKey::new([7; 32]);
        let rows = chain(&key, 5);
        let head = Some((5, rows[4].1));
        assert!(verify(&key, rows.clone(), head, None).is_intact());

        let mut edited = rows.clone();
        edited[2].0.detail = "row 3, edited".into();
        assert_eq!(verify(&key, edited, head, None), Finding::BadMac { row: 3 });

        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&key, deleted, head, None),
            Finding::Missing {
                expected: 2,
                found: 3
            }
        );

        // Reordered and renumbered so the numbers still run 1..5: the MACs give it away.
        let mut reordered = rows.clone();
        reordered.swap(1, 2);
        reordered[1].0.row = 2;
        reordered[2].0.row = 3;
        assert_eq!(
            verify(&key, reordered, head, None),
            Finding::BadMac { row: 2 }
        );

        let mut cut = rows.clone();
        cut.pop();
        assert_eq!(
            verify(&key, cut.clone(), head, None),
            Finding::BadHead {
                last_row: 4,
                head_row: 5
            }
        );
        // Head rolled back too: only a head recorded elsewhere shows it.
        let rolled = Some((4, cut[3].1));
        assert!(verify(&key, cut.clone(), rolled, None).is_intact());
        assert_eq!(
            verify(&key, cut, rolled, head),
            Finding::NotExpectedHead { rows: 4 }
        );

        // Without the key, a recomputed chain does not verify.
        let other = AuditKey::new([8; 32]);
        assert_eq!(verify(&other, rows, head, None), Finding::BadMac { row: 1 });
    }

    #[test]
    fn fields_are_length_prefixed() {
        let key = AuditKey::new([1; 32]);
        let a = Entry {
            row: 1,
            time_ms: 0,
            event: "ab".into(),
            device: Some(b"c".to_vec()),
            detail: String::new(),
        };
        let b = Entry {
            event: "a".into(),
            device: Some(b"bc".to_vec()),
            ..a.clone()
        };
        let c = Entry {
            device: None,
            ..a.clone()
        };
        let d = Entry {
            device: Some(Vec::new()),
            ..a.clone()
        };
        let macs = [&a, &b, &c, &d].map(|e| mac(&key, &GENESIS, e));
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(macs[i], macs[j]);
            }
        }
    }

    #[test]
    fn heads_parse_as_printed() {
        let m = [0xab; 32];
        assert_eq!(parse_head(&format!("12:{}", hex(&m))), Some((12, m)));
        assert_eq!(parse_head("12:abc"), None);
        assert_eq!(parse_head("x:00"), None);
    }
}
