//! Therapy commands, signed end to end, and the device's acknowledgements
//! (spec/MESSAGES.md section 5, "Commands").
//!
//! A command changes therapy, so the device trusts no one in between: not the phone that relays
//! it, not the gateway, not the session it arrived on. It acts on a command only after
//! [`CommandVerifier::verify`] succeeds: a COSE_Sign1 ([`crate::message::cose`]) by one of its
//! provisioned command authorities, addressed to this device, inside its validity window, for an
//! operation and parameter values that authority was granted (least privilege, deny by default),
//! and with a command id above the last one accepted (no replay, no reordering). Each check has
//! its own [`CommandRejection`], in a fixed order, and a rejected command changes nothing.
//!
//! Acknowledgements ([`CommandAck`]) go back inside the authenticated session; they are not
//! signed themselves.

use crate::cbor::{encode_into, Enc, EncResult, Reader};
use crate::error::{CommandRejection, Error, Local, Problem, ProblemKind};
use crate::message::cose::{open_signed, AuthorityKey, Signer};
use crate::message::envelope::{encode_message, open_message, Kind};

/// Most parameters one command carries: enough for any real therapy setting, small enough to
/// hold decoded on the stack.
pub const MAX_PARAMS: usize = 8;

/// Longest device id (the same bound as [`crate::Identity`]'s id).
pub const MAX_DEVICE_ID: usize = 32;

/// Most entries a command payload or acknowledgement map may have, unknown optional keys
/// included, so that a decoder's work is bounded.
pub const MAX_MAP_ENTRIES: usize = 16;

/// A command's parameters: up to [`MAX_PARAMS`] `(id, value)` pairs, ids strictly ascending.
/// Values are integers in the operation's own units (for example a basal rate in 0.001 U/h), so
/// every range check is exact. Held inline: decoding copies eight pairs and allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Params {
    len: u8,
    entries: [(u8, i64); MAX_PARAMS],
}

impl Params {
    /// No parameters.
    pub const EMPTY: Params = Params {
        len: 0,
        entries: [(0, 0); MAX_PARAMS],
    };

    /// Parameters from `(id, value)` pairs; fails with [`Local::Config`] if there are more than
    /// [`MAX_PARAMS`] or the ids are not strictly ascending (the one encoding the wire allows).
    pub fn new(pairs: &[(u8, i64)]) -> Result<Self, Error> {
        let mut p = Params::EMPTY;
        for &(id, value) in pairs {
            p.push(id, value).map_err(|()| Local::Config)?;
        }
        Ok(p)
    }

    fn push(&mut self, id: u8, value: i64) -> Result<(), ()> {
        if let Some(&(last, _)) = self.as_slice().last() {
            if id <= last {
                return Err(());
            }
        }
        let slot = self.entries.get_mut(usize::from(self.len)).ok_or(())?;
        *slot = (id, value);
        self.len += 1;
        Ok(())
    }

    /// The pairs, ids ascending.
    pub fn as_slice(&self) -> &[(u8, i64)] {
        self.entries.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The value of parameter `id`, if present.
    pub fn get(&self, id: u8) -> Option<i64> {
        self.as_slice()
            .iter()
            .find(|(k, _)| *k == id)
            .map(|&(_, v)| v)
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A therapy command's signed content. Build one and [`Command::encode`] it on the authority side;
/// a device gets one only through [`CommandVerifier::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The device it is for (1..=32 bytes): a command captured for one device is useless on
    /// another.
    pub device_id: &'a [u8],
    /// Strictly increasing per device (>= 1): the replay and reordering check.
    pub command_id: u64,
    /// When the authority issued it, ms since the Unix epoch.
    pub issued_ms: u64,
    /// When it stops being valid (exclusive), ms since the Unix epoch; after `issued_ms`.
    pub expires_ms: u64,
    /// What to do, from the device's operation table (0..=65535).
    pub operation: u16,
    /// The operation's parameters.
    pub params: Params,
}

fn problem(field: &'static str, kind: ProblemKind) -> Problem {
    Problem::new(field, kind)
}

impl<'a> Command<'a> {
    fn check(&self) -> Result<(), Error> {
        if self.device_id.is_empty()
            || self.device_id.len() > MAX_DEVICE_ID
            || self.command_id == 0
            || self.expires_ms <= self.issued_ms
        {
            return Err(Local::Config.into());
        }
        Ok(())
    }

    fn write_payload(&self, e: &mut Enc<'_>) -> EncResult {
        e.map(6)?
            .u8(1)?
            .bytes(self.device_id)?
            .u8(2)?
            .u64(self.command_id)?
            .u8(3)?
            .u64(self.issued_ms)?
            .u8(4)?
            .u64(self.expires_ms)?
            .u8(5)?
            .u16(self.operation)?
            .u8(6)?
            .map(self.params.len() as u64)?;
        for &(id, value) in self.params.as_slice() {
            e.u8(id)?.i64(value)?;
        }
        Ok(())
    }

    /// Writes the payload map (the bytes that get signed) into `out`; returns its length. Fails
    /// with [`Local::Config`] for a device id outside 1..=32 bytes, command id 0, or an expiry
    /// not after issue.
    pub fn encode_payload(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        encode_into(out, |e| self.write_payload(e))
    }

    /// Signs the command with `signer` and writes the whole message `[16, COSE_Sign1]` into
    /// `out`; returns its length.
    pub fn encode(&self, signer: &Signer, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        signer.sign_encoded(Kind::Command, out, |e| self.write_payload(e))
    }

    /// Decodes a payload map strictly. This checks the form only (an expiry not after issue is
    /// left to the verifier, which reports it as [`CommandRejection::NotYetValid`]); use it on
    /// its own only for diagnostics, never to act.
    pub fn decode_payload(bytes: &'a [u8]) -> Result<Self, Error> {
        Ok(Self::decode_problem(bytes)?)
    }

    fn decode_problem(bytes: &'a [u8]) -> Result<Self, Problem> {
        let mut r = Reader::new(bytes);
        let mut m = r.map("command", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "command.device_id")?;
        let device_id = r.bytes("command.device_id", MAX_DEVICE_ID)?;
        if device_id.is_empty() {
            return Err(problem("command.device_id", ProblemKind::OutOfRange));
        }
        m.require(&mut r, 2, "command.id")?;
        let command_id = r.uint_in("command.id", 1, u64::MAX)?;
        m.require(&mut r, 3, "command.issued")?;
        let issued_ms = r.uint("command.issued")?;
        m.require(&mut r, 4, "command.expires")?;
        let expires_ms = r.uint("command.expires")?;
        m.require(&mut r, 5, "command.operation")?;
        let operation = r.uint_in("command.operation", 0, u64::from(u16::MAX))? as u16;
        m.require(&mut r, 6, "command.params")?;
        let n = r.map_len("command.params", MAX_PARAMS)?;
        let mut params = Params::EMPTY;
        for _ in 0..n {
            let id = r.uint_in("command.params.id", 0, u64::from(u8::MAX))? as u8;
            let value = r.int("command.params.value")?;
            params
                .push(id, value)
                .map_err(|()| problem("command.params", ProblemKind::Order))?;
        }
        m.finish(&mut r)?;
        r.finish("command")?;
        Ok(Command {
            device_id,
            command_id,
            issued_ms,
            expires_ms,
            operation,
            params,
        })
    }
}

/// The range one parameter may take under a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamRule {
    /// The parameter's id.
    pub id: u8,
    /// Smallest value allowed (inclusive).
    pub min: i64,
    /// Largest value allowed (inclusive).
    pub max: i64,
    /// When true, a command for this operation without this parameter is refused.
    pub required: bool,
}

/// Permission for one operation with bounded parameters. A parameter with no rule is refused:
/// an authority may set only what it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The operation allowed.
    pub operation: u16,
    /// What each parameter may be.
    pub params: &'a [ParamRule],
}

/// One authority the device takes commands from, and what it may order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandAuthority<'a> {
    /// Its key and kid (kids should be unique in a policy; the first match is used).
    pub key: AuthorityKey,
    /// The operations it may order; anything else is refused.
    pub grants: &'a [Grant<'a>],
}

/// Everything a device checks commands against, provisioned with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandPolicy<'a> {
    /// This device's id: commands for any other id are refused.
    pub device_id: &'a [u8],
    /// Who may command this device.
    pub authorities: &'a [CommandAuthority<'a>],
    /// How far in the future `issued` may lie, for clocks that disagree a little.
    pub max_clock_skew_ms: u64,
}

/// A command that passed every check. Only [`CommandVerifier::verify`] makes one, so holding it
/// is proof that the device may act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedCommand<'a> {
    command: Command<'a>,
    authority: AuthorityKey,
}

impl<'a> VerifiedCommand<'a> {
    /// The command's content.
    pub fn command(&self) -> &Command<'a> {
        &self.command
    }

    /// The authority that signed it (its kid goes into the audit trail).
    pub fn authority(&self) -> &AuthorityKey {
        &self.authority
    }
}

/// The device side: verifies commands and remembers the highest command id accepted.
///
/// The application persists [`CommandVerifier::last_accepted`] after each accepted command
/// (before acting on it) and restores it with [`CommandVerifier::new`] after a reboot, so a
/// command captured before the reboot stays a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandVerifier {
    last_accepted: u64,
}

impl CommandVerifier {
    /// A verifier that accepts only command ids above `last_accepted` (0 for a new device).
    pub fn new(last_accepted: u64) -> Self {
        CommandVerifier { last_accepted }
    }

    /// The highest command id accepted so far: the value to persist.
    pub fn last_accepted(&self) -> u64 {
        self.last_accepted
    }

    /// Verifies an enveloped command (`[16, COSE_Sign1]`) against `policy` at `now_ms`, in this
    /// order: structure (envelope and COSE: [`Error::Malformed`]), then as
    /// [`Error::Command`]: the kid names an authority (`UnknownAuthority`), the signature
    /// (`BadSignature`), the payload (`Malformed`), the device id (`WrongDevice`), issued after
    /// `now + skew` or expiry not after issue (`NotYetValid`), `now >= expires` (`Expired`), the
    /// operation is granted (`OperationNotAllowed`), every parameter has a rule and lies in its
    /// range and every required one is present (`ParameterOutOfRange`), the command id is above
    /// the last accepted (`Replayed`). Only on success does `last_accepted` advance.
    pub fn verify<'a>(
        &mut self,
        policy: &CommandPolicy<'_>,
        message: &'a [u8],
        now_ms: u64,
    ) -> Result<VerifiedCommand<'a>, Error> {
        use CommandRejection as R;
        let sign1 = open_signed(message, Kind::Command)?;
        let authority = policy
            .authorities
            .iter()
            .find(|a| a.key.kid() == sign1.kid)
            .ok_or(R::UnknownAuthority)?;
        if !sign1.verify(authority.key.public()) {
            return Err(R::BadSignature.into());
        }
        let command = Command::decode_problem(sign1.payload).map_err(|_| R::Malformed)?;
        if command.device_id != policy.device_id {
            return Err(R::WrongDevice.into());
        }
        if command.issued_ms > now_ms.saturating_add(policy.max_clock_skew_ms)
            || command.expires_ms <= command.issued_ms
        {
            return Err(R::NotYetValid.into());
        }
        if now_ms >= command.expires_ms {
            return Err(R::Expired.into());
        }
        let grant = authority
            .grants
            .iter()
            .find(|g| g.operation == command.operation)
            .ok_or(R::OperationNotAllowed)?;
        if !params_allowed(&command.params, grant.params) {
            return Err(R::ParameterOutOfRange.into());
        }
        if command.command_id <= self.last_accepted {
            return Err(R::Replayed.into());
        }
        self.last_accepted = command.command_id;
        Ok(VerifiedCommand {
            command,
            authority: authority.key,
        })
    }
}

fn params_allowed(params: &Params, rules: &[ParamRule]) -> bool {
    let each_in_range = params.as_slice().iter().all(|&(id, value)| {
        rules
            .iter()
            .find(|r| r.id == id)
            .is_some_and(|r| r.min <= value && value <= r.max)
    });
    let required_present = rules
        .iter()
        .filter(|r| r.required)
        .all(|r| params.get(r.id).is_some());
    each_in_range && required_present
}

/// The reason code to put in an acknowledgement for any error [`CommandVerifier::verify`]
/// returned: the rejection itself, or [`CommandRejection::Malformed`] for a message that did
/// not even parse.
pub fn rejection_of(err: &Error) -> CommandRejection {
    match err {
        Error::Command(r) => *r,
        _ => CommandRejection::Malformed,
    }
}

fn rejection_from_code(code: u64) -> Option<CommandRejection> {
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
    .find(|r| *r as u64 == code)
}

/// What the device did with a command. The numbers are on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    /// Verified; the device will act on it (1).
    Accepted,
    /// Refused, and why (2, with the [`CommandRejection`] code as reason).
    Rejected(CommandRejection),
    /// Carried out (3).
    Executed,
    /// Accepted but carrying it out failed; the code is the application's own (4).
    Failed(u64),
}

impl AckStatus {
    fn code(&self) -> u8 {
        match self {
            AckStatus::Accepted => 1,
            AckStatus::Rejected(_) => 2,
            AckStatus::Executed => 3,
            AckStatus::Failed(_) => 4,
        }
    }

    fn reason(&self) -> Option<u64> {
        match self {
            AckStatus::Rejected(r) => Some(*r as u64),
            AckStatus::Failed(c) => Some(*c),
            AckStatus::Accepted | AckStatus::Executed => None,
        }
    }
}

/// A device's answer to a command, sent back inside the authenticated session (envelope kind
/// 17), so the authority knows whether therapy changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandAck {
    /// The command's id; 0 only for a command rejected before its payload could be read.
    pub command_id: u64,
    /// What happened.
    pub status: AckStatus,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
}

impl CommandAck {
    /// The acknowledgement for a command `verify` refused: the command id is taken from the
    /// (unverified) payload when it decodes, else 0. The id only helps the authority match the
    /// answer to its request; the device acts on nothing in it.
    pub fn rejected(command_bytes: &[u8], reason: CommandRejection, now_ms: u64) -> Self {
        let command_id = open_signed(command_bytes, Kind::Command)
            .ok()
            .and_then(|s| Command::decode_problem(s.payload).ok())
            .map_or(0, |c| c.command_id);
        CommandAck {
            command_id,
            status: AckStatus::Rejected(reason),
            time_ms: now_ms,
        }
    }

    /// Writes the message `[17, ack]` into `out`; returns its length. Command id 0 with any
    /// status but rejected is [`Local::Config`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        if self.command_id == 0 && !matches!(self.status, AckStatus::Rejected(_)) {
            return Err(Local::Config.into());
        }
        let reason = self.status.reason();
        encode_message(Kind::CommandAck, out, |e| {
            e.map(if reason.is_some() { 4 } else { 3 })?
                .u8(1)?
                .u64(self.command_id)?
                .u8(2)?
                .u8(self.status.code())?;
            if let Some(reason) = reason {
                e.u8(3)?.u64(reason)?;
            }
            e.u8(4)?.u64(self.time_ms)?;
            Ok(())
        })
    }

    /// Decodes a message `[17, ack]` strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = open_message(bytes, Kind::CommandAck)?;
        let mut m = r.map("ack", MAX_MAP_ENTRIES)?;
        m.require(&mut r, 1, "ack.command_id")?;
        let command_id = r.uint("ack.command_id")?;
        m.require(&mut r, 2, "ack.status")?;
        let code = r.uint_in("ack.status", 1, 4)?;
        let reason = if m.key(&mut r, 3)? {
            Some(r.uint("ack.reason")?)
        } else {
            None
        };
        let status = match (code, reason) {
            (1, None) => AckStatus::Accepted,
            (3, None) => AckStatus::Executed,
            (2, Some(c)) => AckStatus::Rejected(
                rejection_from_code(c).ok_or(problem("ack.reason", ProblemKind::OutOfRange))?,
            ),
            (4, Some(c)) => AckStatus::Failed(c),
            (2 | 4, None) => return Err(problem("ack.reason", ProblemKind::Missing).into()),
            _ => return Err(problem("ack.reason", ProblemKind::OutOfRange).into()),
        };
        if command_id == 0 && !matches!(status, AckStatus::Rejected(_)) {
            return Err(problem("ack.command_id", ProblemKind::OutOfRange).into());
        }
        m.require(&mut r, 4, "ack.time")?;
        let time_ms = r.uint("ack.time")?;
        m.finish(&mut r)?;
        r.finish("ack")?;
        Ok(CommandAck {
            command_id,
            status,
            time_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Malformed;
    use crate::message::cose::test_keys::{SEED1, SEED2};
    use crate::message::cose::MAX_SIGN1_LEN;
    use crate::message::cose::MAX_SIGNED_PAYLOAD;
    use proptest::prelude::*;
    use std::vec::Vec;

    const DEV: &[u8] = b"SN-0001";
    const NOW: u64 = 1_790_000_000_000;
    const SKEW: u64 = 60_000;
    const BASAL: u16 = 1;
    const BOLUS: u16 = 2;
    const SUSPEND: u16 = 3;
    static BASAL_RULES: [ParamRule; 1] = [ParamRule {
        id: 1,
        min: 0,
        max: 5_000,
        required: true,
    }];
    static BOLUS_RULES: [ParamRule; 2] = [
        ParamRule {
            id: 1,
            min: 1,
            max: 10_000,
            required: true,
        },
        ParamRule {
            id: 2,
            min: 0,
            max: 3_600,
            required: false,
        },
    ];

    fn clinic() -> Signer {
        Signer::from_seed(&SEED1, b"clinic").unwrap()
    }
    fn phone() -> Signer {
        Signer::from_seed(&SEED2, b"phone").unwrap()
    }

    /// The clinic may set basal rates and boluses; the phone app only basal rates.
    fn with_policy<R>(f: impl FnOnce(&CommandPolicy<'_>) -> R) -> R {
        let all = [
            Grant {
                operation: BASAL,
                params: &BASAL_RULES,
            },
            Grant {
                operation: BOLUS,
                params: &BOLUS_RULES,
            },
        ];
        let basal_only = [Grant {
            operation: BASAL,
            params: &BASAL_RULES,
        }];
        let authorities = [
            CommandAuthority {
                key: clinic().authority_key(),
                grants: &all,
            },
            CommandAuthority {
                key: phone().authority_key(),
                grants: &basal_only,
            },
        ];
        f(&CommandPolicy {
            device_id: DEV,
            authorities: &authorities,
            max_clock_skew_ms: SKEW,
        })
    }

    fn cmd() -> Command<'static> {
        Command {
            device_id: DEV,
            command_id: 7,
            issued_ms: NOW - 1_000,
            expires_ms: NOW + 300_000,
            operation: BASAL,
            params: Params::new(&[(1, 1_250)]).unwrap(),
        }
    }

    fn enc(c: &Command<'_>, s: &Signer) -> Vec<u8> {
        let mut out = [0u8; MAX_SIGN1_LEN + 4];
        let n = c.encode(s, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Signs a payload written without the encoder's checks.
    fn enc_raw(c: &Command<'_>, s: &Signer) -> Vec<u8> {
        let mut payload = [0u8; MAX_SIGNED_PAYLOAD];
        let n = encode_into(&mut payload, |e| c.write_payload(e)).unwrap();
        let mut out = [0u8; MAX_SIGN1_LEN + 4];
        let m = s
            .sign_message(Kind::Command, &payload[..n], &mut out)
            .unwrap();
        out[..m].to_vec()
    }

    /// Verifies with last_accepted 5; checks that a failure leaves the verifier unchanged.
    fn verify_at(bytes: &[u8], now: u64) -> Result<Command<'_>, Error> {
        with_policy(|p| {
            let mut v = CommandVerifier::new(5);
            let r = v.verify(p, bytes, now).map(|c| *c.command());
            match r {
                Ok(c) => assert_eq!(v.last_accepted(), c.command_id),
                Err(_) => assert_eq!(v, CommandVerifier::new(5)),
            }
            r
        })
    }

    fn verify(bytes: &[u8]) -> Result<Command<'_>, Error> {
        verify_at(bytes, NOW)
    }

    fn rejected(r: CommandRejection) -> Result<Command<'static>, Error> {
        Err(Error::Command(r))
    }

    #[test]
    fn accepts_then_refuses_the_replay() {
        let bytes = enc(&cmd(), &clinic());
        with_policy(|p| {
            let mut v = CommandVerifier::new(0);
            let ok = v.verify(p, &bytes, NOW).unwrap();
            assert_eq!(ok.command(), &cmd());
            assert_eq!(ok.authority().kid(), b"clinic");
            assert_eq!(v.last_accepted(), 7);
            assert_eq!(
                v.verify(p, &bytes, NOW + 1),
                Err(CommandRejection::Replayed.into())
            );
            assert_eq!(v.last_accepted(), 7);
            // A later command is fine.
            let next = enc(
                &Command {
                    command_id: 8,
                    ..cmd()
                },
                &clinic(),
            );
            assert!(v.verify(p, &next, NOW).is_ok());
            assert_eq!(v.last_accepted(), 8);
        });
    }

    #[test]
    fn replayed_or_reordered_id() {
        for id in [1, 5] {
            let b = enc(
                &Command {
                    command_id: id,
                    ..cmd()
                },
                &clinic(),
            );
            assert_eq!(verify(&b), rejected(CommandRejection::Replayed));
        }
        let b = enc(
            &Command {
                command_id: 6,
                ..cmd()
            },
            &clinic(),
        );
        assert!(verify(&b).is_ok());
    }

    #[test]
    fn unknown_authority() {
        let stranger = Signer::from_seed(&[9; 32], b"stranger").unwrap();
        assert_eq!(
            verify(&enc(&cmd(), &stranger)),
            rejected(CommandRejection::UnknownAuthority)
        );
    }

    #[test]
    fn bad_signature_from_a_key_posing_as_the_clinic() {
        let impostor = Signer::from_seed(&[9; 32], b"clinic").unwrap();
        assert_eq!(
            verify(&enc(&cmd(), &impostor)),
            rejected(CommandRejection::BadSignature)
        );
    }

    #[test]
    fn signed_garbage_is_malformed() {
        let mut out = [0u8; 128];
        for payload in [&b"\xa0"[..], b"\x01", b"", b"\xa1\x01\x40"] {
            let n = clinic()
                .sign_message(Kind::Command, payload, &mut out)
                .unwrap();
            assert_eq!(verify(&out[..n]), rejected(CommandRejection::Malformed));
        }
    }

    #[test]
    fn wrong_device() {
        let b = enc(
            &Command {
                device_id: b"SN-0002",
                ..cmd()
            },
            &clinic(),
        );
        assert_eq!(verify(&b), rejected(CommandRejection::WrongDevice));
    }

    #[test]
    fn not_yet_valid() {
        let c = Command {
            issued_ms: NOW + SKEW + 1,
            expires_ms: NOW + SKEW + 100_000,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::NotYetValid)
        );
        // Exactly at the skew bound it is accepted.
        let c = Command {
            issued_ms: NOW + SKEW,
            ..c
        };
        assert!(verify(&enc(&c, &clinic())).is_ok());
        // An empty validity window (expiry not after issue) is never valid.
        for expires in [NOW - 1_000, NOW - 2_000] {
            let c = Command {
                expires_ms: expires,
                ..cmd()
            };
            assert_eq!(
                verify(&enc_raw(&c, &clinic())),
                rejected(CommandRejection::NotYetValid)
            );
        }
    }

    #[test]
    fn expired() {
        let c = Command {
            expires_ms: NOW,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::Expired)
        );
        let c = Command {
            expires_ms: NOW + 1,
            ..cmd()
        };
        assert!(verify(&enc(&c, &clinic())).is_ok());
    }

    #[test]
    fn operation_not_allowed() {
        let c = Command {
            operation: SUSPEND,
            params: Params::EMPTY,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::OperationNotAllowed)
        );
        // The phone may set a basal rate but not order a bolus.
        let bolus = Command {
            operation: BOLUS,
            params: Params::new(&[(1, 500)]).unwrap(),
            ..cmd()
        };
        assert!(verify(&enc(&bolus, &clinic())).is_ok());
        assert_eq!(
            verify(&enc(&bolus, &phone())),
            rejected(CommandRejection::OperationNotAllowed)
        );
        assert!(verify(&enc(&cmd(), &phone())).is_ok());
    }

    #[test]
    fn parameter_out_of_range_unknown_or_missing() {
        let with = |pairs: &[(u8, i64)], op| Command {
            operation: op,
            params: Params::new(pairs).unwrap(),
            ..cmd()
        };
        for c in [
            with(&[(1, 5_001)], BASAL),
            with(&[(1, -1)], BASAL),
            with(&[(1, i64::MIN)], BASAL),
            with(&[(1, 100), (2, 10)], BASAL), // 2 is not granted for basal
            with(&[], BASAL),                  // 1 is required
            with(&[(2, 10)], BOLUS),           // 1 is required
            with(&[(1, 0)], BOLUS),            // bolus minimum is 1
            with(&[(1, 100), (2, 3_601)], BOLUS),
        ] {
            assert_eq!(
                verify(&enc(&c, &clinic())),
                rejected(CommandRejection::ParameterOutOfRange),
                "{c:?}"
            );
        }
        for c in [
            with(&[(1, 0)], BASAL),
            with(&[(1, 5_000)], BASAL),
            with(&[(1, 1)], BOLUS),
            with(&[(1, 10_000), (2, 3_600)], BOLUS),
        ] {
            assert!(verify(&enc(&c, &clinic())).is_ok(), "{c:?}");
        }
    }

    /// Where the payload starts in an encoded command with a 6-byte kid.
    fn payload_range(b: &[u8]) -> core::ops::Range<usize> {
        let s = open_signed(b, Kind::Command).unwrap();
        let start = s.payload.as_ptr() as usize - b.as_ptr() as usize;
        start..start + s.payload.len()
    }

    #[test]
    fn tampered_bytes() {
        let good = enc(&cmd(), &clinic());
        assert!(verify(&good).is_ok());
        // Every byte of the payload.
        for i in payload_range(&good) {
            let mut b = good.clone();
            b[i] ^= 0x01;
            assert!(verify(&b).is_err(), "payload byte {i}");
            let mut b = good.clone();
            b[i] ^= 0x80;
            assert!(verify(&b).is_err(), "payload byte {i}");
        }
        // A payload byte inside the command id: the structure still parses, the signature fails.
        let r = payload_range(&good);
        let mut b = good.clone();
        b[r.end - 4] ^= 0x01; // inside the parameter value 1250
        assert_eq!(verify(&b), rejected(CommandRejection::BadSignature));
        // The signature.
        let n = good.len();
        for i in [n - 64, n - 33, n - 1] {
            let mut b = good.clone();
            b[i] ^= 0x01;
            assert_eq!(verify(&b), rejected(CommandRejection::BadSignature));
        }
        // The protected header: alg -8 changed to -7.
        let mut b = good.clone();
        assert_eq!(&b[4..8], &[0x43, 0xa1, 0x01, 0x27]);
        b[7] = 0x26;
        assert_eq!(
            verify(&b),
            Err(Problem::new("cose.protected", ProblemKind::OutOfRange).into())
        );
    }

    #[test]
    fn other_algorithm_even_when_properly_signed() {
        // protected {1: -7} (ES256), signed with the clinic's Ed25519 key over its own
        // Sig_structure: well-formed COSE, but not tether's profile.
        let mut payload = [0u8; 256];
        let n = cmd().encode_payload(&mut payload).unwrap();
        let payload = &payload[..n];
        let protected = [0xa1, 0x01, 0x26];
        let mut tbs = std::vec![0x84, 0x6a];
        tbs.extend_from_slice(b"Signature1");
        tbs.extend_from_slice(&[0x43, 0xa1, 0x01, 0x26, 0x40, 0x58, n as u8]);
        tbs.extend_from_slice(payload);
        use ed25519_dalek::Signer as _;
        let sig = ed25519_dalek::SigningKey::from_bytes(&SEED1).sign(&tbs);
        let mut b = std::vec![0x82, 0x10, 0xd2, 0x84, 0x43];
        b.extend_from_slice(&protected);
        b.extend_from_slice(&[0xa1, 0x04, 0x46]);
        b.extend_from_slice(b"clinic");
        b.extend_from_slice(&[0x58, n as u8]);
        b.extend_from_slice(payload);
        b.extend_from_slice(&[0x58, 0x40]);
        b.extend_from_slice(&sig.to_bytes());
        assert_eq!(
            verify(&b),
            Err(Problem::new("cose.protected", ProblemKind::OutOfRange).into())
        );
        // Apart from the algorithm and the signature, these are tether's own bytes, so the
        // rejection above is the algorithm's.
        let good = enc(&cmd(), &clinic());
        let n = good.len();
        assert_eq!(b.len(), n);
        b[7] = 0x27;
        assert_eq!(&b[..n - 64], &good[..n - 64]);
        assert_ne!(&b[n - 64..], &good[n - 64..]);
    }

    #[test]
    fn broken_envelope_is_malformed() {
        let good = enc(&cmd(), &clinic());
        let mut b = good.clone();
        b[1] = 0x11; // kind CommandAck
        assert_eq!(
            verify(&b),
            Err(Problem::new("message.kind", ProblemKind::OutOfRange).into())
        );
        assert!(matches!(
            verify(&good[..good.len() - 1]),
            Err(Error::Malformed(Malformed::Message(_)))
        ));
        assert!(matches!(
            verify(&[]),
            Err(Error::Malformed(Malformed::Message(_)))
        ));
    }

    #[test]
    fn checks_run_in_the_specified_order() {
        // Wrong device and expired: the device check comes first.
        let c = Command {
            device_id: b"other",
            expires_ms: NOW,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::WrongDevice)
        );
        // Not yet valid and not granted: time first.
        let c = Command {
            issued_ms: NOW + SKEW + 1,
            expires_ms: NOW + SKEW + 2,
            operation: SUSPEND,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::NotYetValid)
        );
        // Expired and not granted: expiry first.
        let c = Command {
            expires_ms: NOW,
            operation: SUSPEND,
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::Expired)
        );
        // Replayed and out of range: the parameter first.
        let c = Command {
            command_id: 1,
            params: Params::new(&[(1, 9_999)]).unwrap(),
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &clinic())),
            rejected(CommandRejection::ParameterOutOfRange)
        );
        // Bad signature over a payload for another device: the signature first.
        let impostor = Signer::from_seed(&[9; 32], b"clinic").unwrap();
        let c = Command {
            device_id: b"other",
            ..cmd()
        };
        assert_eq!(
            verify(&enc(&c, &impostor)),
            rejected(CommandRejection::BadSignature)
        );
    }

    #[test]
    fn encoder_refuses_invalid_commands() {
        let mut out = [0u8; 700];
        let cfg: Result<usize, Error> = Err(Error::Local(Local::Config));
        let pcfg: Result<Params, Error> = Err(Error::Local(Local::Config));
        for c in [
            Command {
                command_id: 0,
                ..cmd()
            },
            Command {
                device_id: b"",
                ..cmd()
            },
            Command {
                device_id: &[1; 33],
                ..cmd()
            },
            Command {
                expires_ms: NOW - 1_000,
                ..cmd()
            },
        ] {
            assert_eq!(c.encode(&clinic(), &mut out), cfg);
        }
        assert_eq!(Params::new(&[(2, 0), (1, 0)]), pcfg);
        assert_eq!(Params::new(&[(1, 0), (1, 0)]), pcfg);
        assert_eq!(Params::new(&[(0, 0); 9]), pcfg);
        let nine: Vec<(u8, i64)> = (0..9).map(|i| (i, 0)).collect();
        assert_eq!(Params::new(&nine), pcfg);
        assert_eq!(Params::new(&nine[..8]).unwrap().len(), 8);
        let mut small = [0u8; 20];
        assert!(matches!(
            cmd().encode(&clinic(), &mut small),
            Err(Error::Local(Local::BufferTooSmall { .. }))
        ));
    }

    #[test]
    fn payload_bytes_and_strictness() {
        let mut out = [0u8; 128];
        let c = Command {
            device_id: b"D",
            command_id: 1,
            issued_ms: 10,
            expires_ms: 20,
            operation: 1,
            params: Params::new(&[(1, -2)]).unwrap(),
        };
        let n = c.encode_payload(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            &[0xa6, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa1, 1, 0x21]
        );
        assert_eq!(Command::decode_payload(&out[..n]), Ok(c));
        let bad = |b: &[u8]| match Command::decode_payload(b) {
            Err(Error::Malformed(Malformed::Message(p))) => p,
            other => panic!("{other:?}"),
        };
        // Params out of order.
        assert_eq!(
            bad(&[0xa6, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa2, 2, 0, 1, 0]),
            Problem::new("command.params", ProblemKind::Order)
        );
        // Param id above 255.
        assert_eq!(
            bad(&[0xa6, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa1, 0x19, 1, 0, 0]),
            Problem::new("command.params.id", ProblemKind::OutOfRange)
        );
        // Command id 0.
        assert_eq!(
            bad(&[0xa6, 1, 0x41, b'D', 2, 0, 3, 10, 4, 20, 5, 1, 6, 0xa0]),
            Problem::new("command.id", ProblemKind::OutOfRange)
        );
        // Empty device id.
        assert_eq!(
            bad(&[0xa6, 1, 0x40, 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa0]),
            Problem::new("command.device_id", ProblemKind::OutOfRange)
        );
        // Missing params.
        assert_eq!(
            bad(&[0xa5, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1]),
            Problem::new("command.params", ProblemKind::Missing)
        );
        // Operation above 65535.
        assert_eq!(
            bad(&[0xa6, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 0x1a, 0, 1, 0, 0, 6, 0xa0]),
            Problem::new("command.operation", ProblemKind::OutOfRange)
        );
        // Unknown critical key -1 at the end; unknown optional key 7 is skipped.
        assert_eq!(
            bad(&[0xa7, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa0, 0x20, 0]).kind,
            ProblemKind::UnknownCritical
        );
        assert!(Command::decode_payload(&[
            0xa7, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa0, 7, 0
        ])
        .is_ok());
        // Nine params.
        let mut b = std::vec![0xa6, 1, 0x41, b'D', 2, 1, 3, 10, 4, 20, 5, 1, 6, 0xa9];
        for i in 0..9 {
            b.extend_from_slice(&[i, 0]);
        }
        assert_eq!(
            bad(&b),
            Problem::new("command.params", ProblemKind::TooMany)
        );
    }

    #[test]
    fn ack_bytes_and_round_trip() {
        let mut out = [0u8; 64];
        let ack = CommandAck {
            command_id: 7,
            status: AckStatus::Rejected(CommandRejection::Expired),
            time_ms: 1,
        };
        let n = ack.encode(&mut out).unwrap();
        assert_eq!(&out[..n], &[0x82, 0x11, 0xa4, 1, 7, 2, 2, 3, 4, 4, 1]);
        assert_eq!(CommandAck::decode(&out[..n]), Ok(ack));
        let ack = CommandAck {
            command_id: 7,
            status: AckStatus::Executed,
            time_ms: 1,
        };
        let n = ack.encode(&mut out).unwrap();
        assert_eq!(&out[..n], &[0x82, 0x11, 0xa3, 1, 7, 2, 3, 4, 1]);
        assert_eq!(CommandAck::decode(&out[..n]), Ok(ack));
    }

    #[test]
    fn ack_strictness() {
        let bad = |b: &[u8]| match CommandAck::decode(b) {
            Err(Error::Malformed(Malformed::Message(p))) => p,
            other => panic!("{other:?}"),
        };
        // Rejected without a reason.
        assert_eq!(
            bad(&[0x82, 0x11, 0xa3, 1, 7, 2, 2, 4, 1]),
            Problem::new("ack.reason", ProblemKind::Missing)
        );
        // Accepted with a reason.
        assert_eq!(
            bad(&[0x82, 0x11, 0xa4, 1, 7, 2, 1, 3, 4, 4, 1]),
            Problem::new("ack.reason", ProblemKind::OutOfRange)
        );
        // Unknown rejection code.
        assert_eq!(
            bad(&[0x82, 0x11, 0xa4, 1, 7, 2, 2, 3, 10, 4, 1]),
            Problem::new("ack.reason", ProblemKind::OutOfRange)
        );
        // Unknown status.
        assert_eq!(
            bad(&[0x82, 0x11, 0xa3, 1, 7, 2, 5, 4, 1]),
            Problem::new("ack.status", ProblemKind::OutOfRange)
        );
        // Command id 0 for anything but a rejection.
        assert_eq!(
            bad(&[0x82, 0x11, 0xa3, 1, 0, 2, 1, 4, 1]),
            Problem::new("ack.command_id", ProblemKind::OutOfRange)
        );
        assert!(CommandAck::decode(&[0x82, 0x11, 0xa4, 1, 0, 2, 2, 3, 9, 4, 1]).is_ok());
        // Failed carries any application code.
        assert_eq!(
            CommandAck::decode(&[0x82, 0x11, 0xa4, 1, 7, 2, 4, 3, 0x19, 0x12, 0x34, 4, 1]),
            Ok(CommandAck {
                command_id: 7,
                status: AckStatus::Failed(0x1234),
                time_ms: 1
            })
        );
        let mut out = [0u8; 32];
        let ack = CommandAck {
            command_id: 0,
            status: AckStatus::Accepted,
            time_ms: 1,
        };
        assert_eq!(ack.encode(&mut out), Err(Local::Config.into()));
    }

    #[test]
    fn rejected_ack_takes_the_id_when_it_can() {
        let impostor = Signer::from_seed(&[9; 32], b"clinic").unwrap();
        let b = enc(&cmd(), &impostor);
        let err = with_policy(|p| CommandVerifier::new(0).verify(p, &b, NOW)).unwrap_err();
        let ack = CommandAck::rejected(&b, rejection_of(&err), NOW);
        assert_eq!(
            ack,
            CommandAck {
                command_id: 7,
                status: AckStatus::Rejected(CommandRejection::BadSignature),
                time_ms: NOW
            }
        );
        let err = with_policy(|p| CommandVerifier::new(0).verify(p, &b[..20], NOW)).unwrap_err();
        assert_eq!(rejection_of(&err), CommandRejection::Malformed);
        let ack = CommandAck::rejected(&b[..20], rejection_of(&err), NOW);
        assert_eq!(ack.command_id, 0);
        let mut out = [0u8; 32];
        let n = ack.encode(&mut out).unwrap();
        assert_eq!(CommandAck::decode(&out[..n]), Ok(ack));
    }

    fn any_status() -> impl Strategy<Value = AckStatus> {
        prop_oneof![
            Just(AckStatus::Accepted),
            Just(AckStatus::Executed),
            any::<u64>().prop_map(AckStatus::Failed),
            (1u64..=9).prop_map(|c| AckStatus::Rejected(rejection_from_code(c).unwrap())),
        ]
    }

    proptest! {
        #[test]
        fn payload_round_trip(
            device in proptest::collection::vec(any::<u8>(), 1..=32),
            id in 1u64..,
            issued in 0u64..u64::MAX,
            window in 1u64..,
            operation in any::<u16>(),
            params in proptest::collection::btree_map(any::<u8>(), any::<i64>(), 0..=8),
        ) {
            let pairs: Vec<(u8, i64)> = params.into_iter().collect();
            let c = Command {
                device_id: &device,
                command_id: id,
                issued_ms: issued,
                expires_ms: issued.saturating_add(window),
                operation,
                params: Params::new(&pairs).unwrap(),
            };
            let mut out = [0u8; MAX_SIGNED_PAYLOAD];
            let n = c.encode_payload(&mut out).unwrap();
            prop_assert_eq!(Command::decode_payload(&out[..n]), Ok(c));
            let mut msg = [0u8; MAX_SIGN1_LEN + 4];
            let m = c.encode(&clinic(), &mut msg).unwrap();
            let s = open_signed(&msg[..m], Kind::Command).unwrap();
            prop_assert_eq!(s.payload, &out[..n]);
        }

        #[test]
        fn ack_round_trip(id in 1u64.., status in any_status(), time in any::<u64>()) {
            let ack = CommandAck { command_id: id, status, time_ms: time };
            let mut out = [0u8; 64];
            let n = ack.encode(&mut out).unwrap();
            prop_assert_eq!(CommandAck::decode(&out[..n]), Ok(ack));
            for k in 0..n {
                prop_assert!(CommandAck::decode(&out[..k]).is_err());
            }
        }

        #[test]
        fn any_single_byte_change_is_rejected(at in any::<usize>(), x in 1u8..=255) {
            let good = enc(&cmd(), &clinic());
            let mut b = good.clone();
            let i = at % b.len();
            b[i] ^= x;
            // verify_at also checks that the verifier did not change.
            prop_assert!(verify(&b).is_err());
        }

        #[test]
        fn truncation_is_rejected(params in proptest::collection::btree_map(any::<u8>(), any::<i64>(), 0..=8)) {
            let pairs: Vec<(u8, i64)> = params.into_iter().collect();
            let c = Command { params: Params::new(&pairs).unwrap(), ..cmd() };
            let good = enc(&c, &clinic());
            for n in 0..good.len() {
                prop_assert!(verify(&good[..n]).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = verify(&b);
            let _ = CommandAck::decode(&b);
            let _ = Command::decode_payload(&b);
            let _ = CommandAck::rejected(&b, CommandRejection::Malformed, 0);
        }
    }
}
