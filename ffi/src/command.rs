//! Signed therapy commands on the device (spec/messages/signed.md, "Commands"): verify one
//! against the provisioned policy, and acknowledge it.
//!
//! The policy is a tree of C structs the firmware keeps in flash; nothing of it is copied except
//! what the command at hand needs (its authority's key and the grant for its operation), so
//! verifying uses a bounded, small amount of stack whatever the policy's size.

use tether::message::command::{
    rejection_of, AckStatus, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant,
    ParamRule, MAX_DEVICE_ID, MAX_PARAMS,
};
use tether::message::cose::{AuthorityKey, Sign1, MAX_KID};
use tether::message::{Kind, Message};
use tether::CommandRejection;

use crate::boundary::{boundary, bytes, bytes_mut, disjoint, lengths, read, set, Region};
use crate::message::{array_bytes, element, encode_written, id_bytes};
use crate::status::tether_status::{self, *};

/// Most parameters one command carries.
pub const TETHER_COMMAND_MAX_PARAMS: usize = 8;
/// Longest key id (kid) of an authority, in bytes.
pub const TETHER_KID_MAX_LEN: usize = 16;
/// Most parameter rules one grant may have.
pub const TETHER_COMMAND_MAX_RULES: usize = 32;
const _: () = assert!(TETHER_COMMAND_MAX_PARAMS == MAX_PARAMS && TETHER_KID_MAX_LEN == MAX_KID);

/// Acknowledgement status: verified, the device will act on it (`reason` 0).
pub const TETHER_ACK_ACCEPTED: u32 = 1;
/// Acknowledgement status: refused; `reason` is a `TETHER_COMMAND_REASON_*` code.
pub const TETHER_ACK_REJECTED: u32 = 2;
/// Acknowledgement status: carried out (`reason` 0).
pub const TETHER_ACK_EXECUTED: u32 = 3;
/// Acknowledgement status: accepted but carrying it out failed; `reason` is the application's
/// own code.
pub const TETHER_ACK_FAILED: u32 = 4;

/// Rejection reason: the signature does not verify.
pub const TETHER_COMMAND_REASON_BAD_SIGNATURE: u32 = 1;
/// Rejection reason: unknown authority.
pub const TETHER_COMMAND_REASON_UNKNOWN_AUTHORITY: u32 = 2;
/// Rejection reason: addressed to another device.
pub const TETHER_COMMAND_REASON_WRONG_DEVICE: u32 = 3;
/// Rejection reason: expired.
pub const TETHER_COMMAND_REASON_EXPIRED: u32 = 4;
/// Rejection reason: not yet valid.
pub const TETHER_COMMAND_REASON_NOT_YET_VALID: u32 = 5;
/// Rejection reason: operation not allowed for this authority.
pub const TETHER_COMMAND_REASON_OPERATION_NOT_ALLOWED: u32 = 6;
/// Rejection reason: parameter out of range, not granted or missing.
pub const TETHER_COMMAND_REASON_PARAMETER_OUT_OF_RANGE: u32 = 7;
/// Rejection reason: command id not above the last accepted.
pub const TETHER_COMMAND_REASON_REPLAYED: u32 = 8;
/// Rejection reason: malformed (also for a message that is not a command at all).
pub const TETHER_COMMAND_REASON_MALFORMED: u32 = 9;

/// The range one parameter may take under a grant.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_command_rule {
    /// The parameter's id.
    pub id: u8,
    /// Smallest value allowed (inclusive).
    pub min: i64,
    /// Largest value allowed (inclusive).
    pub max: i64,
    /// Non-zero: a command for this operation without this parameter is refused.
    pub required: u8,
}

/// Permission for one operation with bounded parameters. A parameter with no rule is refused
/// (least privilege).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_command_grant {
    /// The operation allowed.
    pub operation: u16,
    /// The rules (NULL only with `n_rules` 0), at most `TETHER_COMMAND_MAX_RULES`.
    pub rules: *const tether_command_rule,
    /// How many rules.
    pub n_rules: usize,
}

/// One authority the device takes commands from, and what it may order.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_command_authority {
    /// Its key id, 1..=`TETHER_KID_MAX_LEN` bytes (the first authority with a command's kid is
    /// the one used).
    pub kid: *const u8,
    /// Bytes in `kid`.
    pub kid_len: usize,
    /// Its Ed25519 public key.
    pub public_key: [u8; 32],
    /// The operations it may order (NULL only with `n_grants` 0); anything else is refused.
    pub grants: *const tether_command_grant,
    /// How many grants.
    pub n_grants: usize,
}

/// Everything a device checks commands against, provisioned with it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tether_command_policy {
    /// This device's id (1..=32 bytes): commands for any other id are refused.
    pub device_id: *const u8,
    /// Bytes in `device_id`.
    pub device_id_len: usize,
    /// Who may command this device (NULL only with `n_authorities` 0).
    pub authorities: *const tether_command_authority,
    /// How many authorities.
    pub n_authorities: usize,
    /// How far in the future a command's issue time may lie, for clocks that disagree a little.
    pub max_clock_skew_ms: u64,
}

/// One parameter of a verified command.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct tether_command_param {
    /// The parameter's id.
    pub id: u8,
    /// Its value, in the operation's own units.
    pub value: i64,
}

/// A command that passed every check: the device may act on it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct tether_command {
    /// The command's id (now the last accepted one).
    pub command_id: u64,
    /// What to do.
    pub operation: u16,
    /// When it was issued, ms since the Unix epoch.
    pub issued_ms: u64,
    /// When it expires, ms since the Unix epoch.
    pub expires_ms: u64,
    /// How many entries of `params` are used (ids strictly ascending).
    pub n_params: usize,
    /// The parameters.
    pub params: [tether_command_param; TETHER_COMMAND_MAX_PARAMS],
    /// The key id of the authority that signed it, for the audit trail.
    pub authority_kid: [u8; TETHER_KID_MAX_LEN],
    /// Bytes used in `authority_kid`.
    pub authority_kid_len: usize,
}

/// Checks the whole policy tree's shape (pointers, lengths, kids, keys), so that a bad policy
/// is refused the same way whatever command arrives.
///
/// # Safety
/// The policy's pointers valid for their counts (the caller's contract).
unsafe fn check_policy(p: &tether_command_policy) -> Result<(), tether_status> {
    // SAFETY: forwarded.
    unsafe { id_bytes(p.device_id, p.device_id_len, MAX_DEVICE_ID) }?;
    array_bytes(p.authorities, p.n_authorities)?;
    for i in 0..p.n_authorities {
        // SAFETY: i < n_authorities, checked.
        let a = unsafe { element(p.authorities, i) };
        // SAFETY: forwarded.
        let kid = unsafe { id_bytes(a.kid, a.kid_len, MAX_KID) }?;
        AuthorityKey::from_bytes(kid, &a.public_key).map_err(|_| TETHER_ERR_BAD_KEY)?;
        array_bytes(a.grants, a.n_grants)?;
        for j in 0..a.n_grants {
            // SAFETY: j < n_grants, checked.
            let g = unsafe { element(a.grants, j) };
            array_bytes(g.rules, g.n_rules)?;
            if g.n_rules > TETHER_COMMAND_MAX_RULES {
                return Err(TETHER_ERR_BAD_CONFIG);
            }
        }
    }
    Ok(())
}

/// The rules of the grant a command needs, copied out of C.
struct Selected {
    key: AuthorityKey,
    grant: Option<(u16, [ParamRule; TETHER_COMMAND_MAX_RULES], usize)>,
}

/// Picks the authority the core would pick (the first with the message's kid) and, of its
/// grants, the one the core would pick (the first for the payload's operation). Reads the
/// message unverified only to choose; the core then verifies everything.
///
/// # Safety
/// As for [`check_policy`], which passed.
unsafe fn select(p: &tether_command_policy, msg: &[u8]) -> Option<Selected> {
    let sign1 = Message::parse(msg)
        .ok()
        .filter(|m| m.kind == Kind::Command)
        .and_then(|m| Sign1::parse(m.body).ok())?;
    let (a, kid) = (0..p.n_authorities).find_map(|i| {
        // SAFETY: i < n_authorities, checked.
        let a = unsafe { element(p.authorities, i) };
        // SAFETY: checked by `check_policy`.
        let kid = unsafe { id_bytes(a.kid, a.kid_len, MAX_KID) }.ok()?;
        (kid == sign1.kid).then_some((a, kid))
    })?;
    let key = AuthorityKey::from_bytes(kid, &a.public_key).ok()?;
    let operation = tether::message::command::Command::decode_payload(sign1.payload)
        .ok()
        .map(|c| c.operation);
    let grant = operation.and_then(|op| {
        let g = (0..a.n_grants)
            // SAFETY: j < n_grants, checked.
            .map(|j| unsafe { element(a.grants, j) })
            .find(|g| g.operation == op)?;
        let mut rules = [ParamRule {
            id: 0,
            min: 0,
            max: 0,
            required: false,
        }; TETHER_COMMAND_MAX_RULES];
        for (k, slot) in rules.iter_mut().take(g.n_rules).enumerate() {
            // SAFETY: k < n_rules, checked.
            let r = unsafe { element(g.rules, k) };
            *slot = ParamRule {
                id: r.id,
                min: r.min,
                max: r.max,
                required: r.required != 0,
            };
        }
        Some((op, rules, g.n_rules))
    });
    Some(Selected { key, grant })
}

/// Verifies an enveloped signed command (`[16, COSE_Sign1]`) against `policy` at `now_ms`
/// (ms since the Unix epoch), and the command id against `*last_accepted`. Checks, in order:
/// structure, authority (by kid), signature, payload, device id, validity window, operation,
/// parameters, replay. On success `*out` holds the command, `*last_accepted` is advanced to its
/// id (persist it before acting on the command, so a reboot does not reopen a replay) and
/// `*reason_out` is 0. On a rejection `*reason_out` gets the reason code for the
/// acknowledgement (`TETHER_COMMAND_REASON_*`; `TETHER_COMMAND_REASON_MALFORMED` for a
/// message that does not parse) and nothing else changes: send
/// `tether_command_ack_rejected` with it.
///
/// Returns `TETHER_OK`, or a rejection: `TETHER_ERR_MESSAGE` (not a well-formed signed command
/// message), `TETHER_ERR_COMMAND_UNKNOWN_AUTHORITY`, `TETHER_ERR_COMMAND_BAD_SIGNATURE`,
/// `TETHER_ERR_COMMAND_MALFORMED`, `TETHER_ERR_COMMAND_WRONG_DEVICE`,
/// `TETHER_ERR_COMMAND_NOT_YET_VALID`, `TETHER_ERR_COMMAND_EXPIRED`,
/// `TETHER_ERR_COMMAND_OPERATION_NOT_ALLOWED`, `TETHER_ERR_COMMAND_PARAMETER_OUT_OF_RANGE`,
/// `TETHER_ERR_COMMAND_REPLAYED`; or misuse, where no output is written: `TETHER_ERR_NULL`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (an output overlaps another, `msg` or
/// `*policy`), `TETHER_ERR_BAD_CONFIG` (a device id or kid of 0 or too many bytes, more than
/// `TETHER_COMMAND_MAX_RULES` rules in a grant), `TETHER_ERR_BAD_KEY` (an authority's key is
/// not a valid Ed25519 key).
///
/// # Safety
/// `policy` and everything it points to readable as described there; `last_accepted` readable
/// and writable; `msg` readable for `len` bytes; `out` and `reason_out` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_command_verify(
    policy: *const tether_command_policy,
    last_accepted: *mut u64,
    msg: *const u8,
    len: usize,
    now_ms: u64,
    out: *mut tether_command,
    reason_out: *mut u32,
) -> tether_status {
    boundary(|| {
        if policy.is_null()
            || last_accepted.is_null()
            || out.is_null()
            || reason_out.is_null()
            || (msg.is_null() && len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(msg, len)]) {
            return e;
        }
        let outputs = [
            Region::out(last_accepted),
            Region::out(out),
            Region::out(reason_out),
        ];
        if let Err(e) = disjoint(&outputs, &[Region::of(msg, len), Region::out(policy)]) {
            return e;
        }
        // SAFETY: checked non-NULL; copied out.
        let (p, last) = match unsafe { (read(policy), read(last_accepted)) } {
            (Ok(p), Ok(l)) => (p, l),
            _ => return TETHER_ERR_NULL,
        };
        // SAFETY: the policy's contract.
        if let Err(e) = unsafe { check_policy(&p) } {
            return e;
        }
        // SAFETY: valid by contract; no output overlaps it.
        let msg = match unsafe { bytes(msg, len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        // SAFETY: checked by `check_policy`.
        let device_id = match unsafe { id_bytes(p.device_id, p.device_id_len, MAX_DEVICE_ID) } {
            Ok(d) => d,
            Err(e) => return e,
        };
        // SAFETY: checked by `check_policy`.
        let selected = unsafe { select(&p, msg) };
        let grant_storage;
        let authority_storage;
        let authorities: &[CommandAuthority<'_>] = match &selected {
            Some(s) => {
                grant_storage = s.grant.as_ref().map(|(operation, rules, n)| Grant {
                    operation: *operation,
                    params: rules.get(..*n).unwrap_or(&[]),
                });
                authority_storage = [CommandAuthority {
                    key: s.key,
                    grants: grant_storage.as_slice(),
                }];
                &authority_storage
            }
            None => &[],
        };
        let core_policy = CommandPolicy {
            device_id,
            authorities,
            max_clock_skew_ms: p.max_clock_skew_ms,
        };
        let mut verifier = CommandVerifier::new(last);
        match verifier.verify(&core_policy, msg, now_ms) {
            Ok(v) => {
                let c = v.command();
                let mut result = tether_command {
                    command_id: c.command_id,
                    operation: c.operation,
                    issued_ms: c.issued_ms,
                    expires_ms: c.expires_ms,
                    n_params: c.params.len(),
                    ..tether_command::default()
                };
                for (slot, (id, value)) in result.params.iter_mut().zip(c.params.as_slice()) {
                    *slot = tether_command_param {
                        id: *id,
                        value: *value,
                    };
                }
                let kid = v.authority().kid();
                if let Some(dst) = result.authority_kid.get_mut(..kid.len()) {
                    dst.copy_from_slice(kid);
                }
                result.authority_kid_len = kid.len();
                // SAFETY: checked non-NULL and disjoint.
                unsafe {
                    set(out, result);
                    set(last_accepted, verifier.last_accepted());
                    set(reason_out, 0);
                }
                TETHER_OK
            }
            Err(e) => {
                // SAFETY: checked non-NULL.
                unsafe { set(reason_out, rejection_of(&e) as u32) };
                e.into()
            }
        }
    })
}

/// The rejection with reason code `reason`.
fn rejection(reason: u64) -> Option<CommandRejection> {
    use CommandRejection as R;
    [
        R::BadSignature,
        R::UnknownAuthority,
        R::WrongDevice,
        R::Expired,
        R::NotYetValid,
        R::OperationNotAllowed,
        R::ParameterOutOfRange,
        R::Replayed,
        R::Malformed,
    ]
    .into_iter()
    .find(|r| *r as u64 == reason)
}

/// Encodes `ack` into the caller's buffer, with the usual size and overlap checks.
///
/// # Safety
/// As for the entry points: `out` writable for `out_len`, `written` writable; `input` is the
/// region of any input the caller read.
unsafe fn write_ack(
    ack: Result<CommandAck, tether_status>,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    input: Region,
) -> tether_status {
    if written.is_null() || (out.is_null() && out_len != 0) {
        return TETHER_ERR_NULL;
    }
    if let Err(e) = lengths(&[(out, out_len)]) {
        return e;
    }
    if let Err(e) = disjoint(&[Region::of(out, out_len), Region::out(written)], &[input]) {
        return e;
    }
    let ack = match ack {
        Ok(a) => a,
        Err(e) => return e,
    };
    // SAFETY: checked, disjoint from the input.
    let buf = match unsafe { bytes_mut(out, out_len) } {
        Ok(b) => b,
        Err(e) => return e,
    };
    // SAFETY: `written` checked non-NULL.
    unsafe { encode_written(buf, written, |b| ack.encode(b)) }
}

/// Encodes a command acknowledgement (`[17, ack]`) to send back in the session, so the authority
/// knows whether therapy changed. `status` is a `TETHER_ACK_*` value; `reason` is a
/// `TETHER_COMMAND_REASON_*` code for `TETHER_ACK_REJECTED`, the application's own code for
/// `TETHER_ACK_FAILED`, and 0 otherwise. `time_ms` is now, ms since the Unix epoch.
///
/// Returns `TETHER_OK` with the length in `*written`, or `TETHER_ERR_BUFFER_TOO_SMALL` (the size
/// needed in `*written`; 32 bytes always suffice), `TETHER_ERR_BAD_CONFIG` (an unknown status or
/// reason, a non-zero reason for accepted or executed, or command id 0 for anything but a
/// rejection), `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP`.
///
/// # Safety
/// `out` writable for `out_len` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_command_ack_encode(
    command_id: u64,
    status: u32,
    reason: u64,
    time_ms: u64,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        let status = match (status, reason) {
            (TETHER_ACK_ACCEPTED, 0) => Some(AckStatus::Accepted),
            (TETHER_ACK_EXECUTED, 0) => Some(AckStatus::Executed),
            (TETHER_ACK_REJECTED, r) => rejection(r).map(AckStatus::Rejected),
            (TETHER_ACK_FAILED, r) => Some(AckStatus::Failed(r)),
            _ => None,
        };
        let ack = status
            .map(|status| CommandAck {
                command_id,
                status,
                time_ms,
            })
            .ok_or(TETHER_ERR_BAD_CONFIG);
        // SAFETY: forwarded; no input buffer.
        unsafe { write_ack(ack, out, out_len, written, Region::of(out, 0)) }
    })
}

/// Encodes the acknowledgement for a command `tether_command_verify` refused, with the
/// `*reason_out` it gave: the command id is read from the (unverified) command when it parses,
/// else 0, only so the authority can match the answer to its request.
///
/// Returns as `tether_command_ack_encode`, with `TETHER_ERR_BAD_CONFIG` for a reason outside
/// 1..=9; `out` must not overlap `cmd_msg` either.
///
/// # Safety
/// `cmd_msg` readable for `len` bytes; `out` writable for `out_len` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_command_ack_rejected(
    cmd_msg: *const u8,
    len: usize,
    reason: u32,
    time_ms: u64,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if cmd_msg.is_null() && len != 0 {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(cmd_msg, len)]) {
            return e;
        }
        let input = Region::of(cmd_msg, len);
        // SAFETY: valid by contract; `write_ack` refuses outputs that overlap it before writing.
        let ack = unsafe { bytes(cmd_msg, len) }.and_then(|cmd| {
            rejection(u64::from(reason))
                .map(|r| CommandAck::rejected(cmd, r, time_ms))
                .ok_or(TETHER_ERR_BAD_CONFIG)
        });
        // SAFETY: forwarded.
        unsafe { write_ack(ack, out, out_len, written, input) }
    })
}
