//! Configuration passed from C, and its owned Rust copy (the C side may free its buffers as soon
//! as an init call returns).

use tether::credential::Credential;
use tether::handshake::{HandshakeConfig, ResponderConfig};
use tether::identity::Identity;
use tether::pairing::PairingCode;
use tether::prologue::MAX_CONTEXT;
use tether::{
    ChannelKind, Framing, KeyUpdatePolicy, Pattern, PublicKey, SessionConfig, StaticKeypair, Suite,
    UnixTime,
};

use zeroize::Zeroizing;

use crate::boundary::{boundary, bytes, key, set};
use crate::status::tether_status::{self, *};

/// The identity this side proves. Pointers are read during the init call only.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tether_identity {
    /// Entity id, 1 to 32 bytes (device serial number, service name).
    pub id: *const u8,
    /// Length of `id`.
    pub id_len: usize,
    /// Model name, UTF-8, up to 32 bytes (not NUL-terminated; may be NULL if 0).
    pub model: *const u8,
    /// Length of `model`.
    pub model_len: usize,
    /// Firmware or software version, UTF-8, up to 16 bytes.
    pub version: *const u8,
    /// Length of `version`.
    pub version_len: usize,
    /// Key id, up to 16 bytes.
    pub key_id: *const u8,
    /// Length of `key_id`.
    pub key_id_len: usize,
    /// Whether the `credential_*` fields hold a manufacturer credential to present.
    pub has_credential: bool,
    /// Credential validity start, seconds since the Unix epoch.
    pub credential_not_before: u64,
    /// Credential validity end (inclusive).
    pub credential_not_after: u64,
    /// Name of the manufacturer key, up to 16 bytes.
    pub credential_issuer: *const u8,
    /// Length of `credential_issuer`.
    pub credential_issuer_len: usize,
    /// The 64-byte Ed25519 signature.
    pub credential_signature: *const u8,
}

/// Everything a handshake needs. Fill it with `tether_config_init` first, then set what applies.
/// Pointers are read during the init call only.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tether_config {
    /// Initiator: suite id, 1 `25519_ChaChaPoly_BLAKE2s` (default), 2 `25519_AESGCM_SHA256`.
    pub suite: u8,
    /// Initiator: pattern id, 1 Provisioned (IK, default), 2 Enrollment (XX), 3 Pairing (XXpsk0),
    /// 4 Reconnect (KK).
    pub pattern: u8,
    /// Channel kind: 1 device-cloud (default), 2 device-phone, 3 relayed, 4 phone-cloud.
    pub channel: u8,
    /// Framing: 1 stream (default), 2 datagram.
    pub framing: u8,
    /// Extra bytes bound into the prologue (at most 64), both sides the same. May be NULL if 0.
    pub context: *const u8,
    /// Length of `context`.
    pub context_len: usize,
    /// This side's 32-byte X25519 static secret. Required.
    pub static_secret: *const u8,
    /// This side's identity.
    pub identity: tether_identity,
    /// 32-byte static key of the peer when known: the responder's for Provisioned and Reconnect
    /// initiators, the initiator's for Reconnect responders. When the platform has no
    /// `check_peer`, the only peer key accepted.
    pub peer_static_key: *const u8,
    /// Pairing code text (`TETHER1:...`) for the Pairing pattern, both sides.
    pub pairing_code: *const u8,
    /// Length of `pairing_code`.
    pub pairing_code_len: usize,
    /// Responder: bit `1 << id` set for each suite id accepted (default: all built in).
    pub allowed_suites: u32,
    /// Responder: bit `1 << id` set for each pattern id accepted. 0 (the default) accepts only
    /// `pattern`: a responder answers exactly the handshake it was configured for.
    pub allowed_patterns: u32,
    /// Responder with a pairing code: also accept Enrollment (XX) and Provisioned (IK), which
    /// do not prove knowledge of the code. false (the default): while a code is set, only Pairing
    /// (and Reconnect from the known `peer_static_key`) are answered, so nobody in radio range
    /// can enroll without having scanned the code.
    pub allow_without_code: bool,
    /// Largest plaintext per record, 1 to `TETHER_MAX_PLAINTEXT` (default 16384). It bounds what
    /// this side seals and what it accepts: both sides must use the same value (a record above
    /// the receiver's maximum is refused with `TETHER_ERR_OVERSIZED`).
    pub max_plaintext: u32,
    /// Anti-replay window in records, 1024 to 65536 (default 1024).
    pub replay_window: u32,
    /// Key update after this many data records (0: never by count; default 2^20).
    pub key_update_records: u64,
    /// Key update after this many plaintext bytes (0: never by bytes; default 2^30).
    pub key_update_bytes: u64,
    /// Key update after this many milliseconds (0: never by time; default one hour).
    pub key_update_interval_ms: u64,
    /// How long to keep the previous receive key for reordered datagrams (default 60000 ms).
    pub previous_key_ms: u64,
}

/// Fills `config` with defaults: ChaChaPoly, Provisioned, device-cloud, stream; a responder
/// accepts every suite built in but only the configured pattern, and with a pairing code only
/// Pairing; the default record-layer limits; NULL pointers. Returns `TETHER_OK`, or
/// `TETHER_ERR_NULL` if `config` is NULL.
///
/// # Safety
/// `config` must be NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tether_config_init(config: *mut tether_config) -> tether_status {
    boundary(|| {
        if config.is_null() {
            return TETHER_ERR_NULL;
        }
        let s = SessionConfig::default();
        let none = tether_identity {
            id: core::ptr::null(),
            id_len: 0,
            model: core::ptr::null(),
            model_len: 0,
            version: core::ptr::null(),
            version_len: 0,
            key_id: core::ptr::null(),
            key_id_len: 0,
            has_credential: false,
            credential_not_before: 0,
            credential_not_after: 0,
            credential_issuer: core::ptr::null(),
            credential_issuer_len: 0,
            credential_signature: core::ptr::null(),
        };
        let value = tether_config {
            suite: Suite::ChaChaPolyBlake2s.id(),
            pattern: Pattern::Provisioned.id(),
            channel: ChannelKind::DeviceCloud.id(),
            framing: Framing::Stream as u8,
            context: core::ptr::null(),
            context_len: 0,
            static_secret: core::ptr::null(),
            identity: none,
            peer_static_key: core::ptr::null(),
            pairing_code: core::ptr::null(),
            pairing_code_len: 0,
            allowed_suites: Suite::ENABLED.iter().fold(0, |m, s| m | 1 << s.id()),
            allowed_patterns: 0,
            allow_without_code: false,
            max_plaintext: u32::try_from(s.max_plaintext).unwrap_or(u32::MAX),
            replay_window: s.replay_window,
            key_update_records: s.key_update.records,
            key_update_bytes: s.key_update.bytes,
            key_update_interval_ms: s.key_update.interval_ms,
            previous_key_ms: s.previous_key_ms,
        };
        // SAFETY: checked non-NULL; the caller guarantees validity for writes.
        unsafe { set(config, value) };
        TETHER_OK
    })
}

/// An owned copy of a `tether_config`.
pub(crate) struct OwnedConfig {
    pub suite: Suite,
    pub pattern: Pattern,
    pub channel: ChannelKind,
    pub framing: Framing,
    context: [u8; MAX_CONTEXT],
    context_len: usize,
    pub key: StaticKeypair,
    pub identity: Identity,
    pub peer: Option<PublicKey>,
    pub pairing: Option<PairingCode>,
    suites: [Suite; 2],
    suites_len: usize,
    patterns: [Pattern; 4],
    patterns_len: usize,
    pub session: SessionConfig,
    allow_without_code: bool,
}

fn channel(id: u8) -> Option<ChannelKind> {
    [
        ChannelKind::DeviceCloud,
        ChannelKind::DevicePhone,
        ChannelKind::Relayed,
        ChannelKind::PhoneCloud,
    ]
    .into_iter()
    .find(|c| c.id() == id)
}

pub(crate) fn framing(id: u8) -> Option<Framing> {
    [Framing::Stream, Framing::Datagram]
        .into_iter()
        .find(|f| *f as u8 == id)
}

fn text(ptr: *const u8, len: usize) -> Result<&'static str, tether_status> {
    // SAFETY: the caller of the init function guarantees validity; the borrow does not escape
    // the init call (the result is copied into the owned config).
    let b = unsafe { bytes(ptr, len) }?;
    core::str::from_utf8(b).map_err(|_| TETHER_ERR_BAD_CONFIG)
}

impl OwnedConfig {
    /// Copies and validates a C configuration.
    ///
    /// # Safety
    /// Every non-NULL pointer in `c` must be valid for its length.
    pub(crate) unsafe fn from_c(c: &tether_config) -> Result<Self, tether_status> {
        let bad = TETHER_ERR_BAD_CONFIG;
        let suite = Suite::from_id(c.suite).map_err(|e| match e {
            tether::Error::Local(tether::Local::NotAllowed) => TETHER_ERR_NOT_ALLOWED,
            _ => bad,
        })?;
        let pattern = Pattern::from_id(c.pattern).map_err(|_| bad)?;
        let channel = channel(c.channel).ok_or(bad)?;
        let framing = framing(c.framing).ok_or(bad)?;
        // SAFETY: forwarded from the caller.
        let ctx = unsafe { bytes(c.context, c.context_len) }?;
        let mut context = [0u8; MAX_CONTEXT];
        context
            .get_mut(..ctx.len())
            .ok_or(bad)?
            .copy_from_slice(ctx);
        // SAFETY: forwarded.
        // Zeroizing: no copy of the secret stays behind on the stack.
        let secret = Zeroizing::new(unsafe { key::<32>(c.static_secret) }?);
        let static_key = StaticKeypair::from_secret(*secret);
        let identity = unsafe { identity_from_c(&c.identity) }?;
        // SAFETY: forwarded.
        let peer = if c.peer_static_key.is_null() {
            None
        } else {
            Some(PublicKey(unsafe { key::<32>(c.peer_static_key) }?))
        };
        let pairing = if c.pairing_code.is_null() && c.pairing_code_len == 0 {
            None
        } else {
            // SAFETY: forwarded.
            let t = unsafe { bytes(c.pairing_code, c.pairing_code_len) }?;
            Some(PairingCode::parse(t).map_err(tether_status::from)?)
        };
        let mut suites = [Suite::ChaChaPolyBlake2s; 2];
        let mut suites_len = 0;
        for s in Suite::ENABLED {
            if c.allowed_suites & (1 << s.id()) != 0 {
                *suites.get_mut(suites_len).ok_or(bad)? = *s;
                suites_len += 1;
            }
        }
        let mut patterns = [Pattern::Provisioned; 4];
        let mut patterns_len = 0;
        let allowed = match c.allowed_patterns {
            0 => 1 << pattern.id(),
            mask => mask,
        };
        for p in Pattern::ALL {
            if allowed & (1 << p.id()) != 0 {
                *patterns.get_mut(patterns_len).ok_or(bad)? = p;
                patterns_len += 1;
            }
        }
        let session = SessionConfig {
            max_plaintext: usize::try_from(c.max_plaintext).map_err(|_| bad)?,
            replay_window: c.replay_window,
            key_update: KeyUpdatePolicy {
                records: c.key_update_records,
                bytes: c.key_update_bytes,
                interval_ms: c.key_update_interval_ms,
            },
            previous_key_ms: c.previous_key_ms,
        };
        session.validate().map_err(|_| bad)?;
        Ok(Self {
            suite,
            pattern,
            channel,
            framing,
            context,
            context_len: ctx.len(),
            key: static_key,
            identity,
            peer,
            pairing,
            suites,
            suites_len,
            patterns,
            patterns_len,
            session,
            allow_without_code: c.allow_without_code,
        })
    }

    fn context(&self) -> &[u8] {
        self.context.get(..self.context_len).unwrap_or(&[])
    }

    pub(crate) fn initiator(&self) -> HandshakeConfig<'_> {
        HandshakeConfig {
            suite: self.suite,
            channel: self.channel,
            framing: self.framing,
            context: self.context(),
            identity: &self.identity,
            static_key: &self.key,
            session: self.session,
            dh_cache: None,
        }
    }

    pub(crate) fn responder(&self) -> ResponderConfig<'_> {
        ResponderConfig {
            suites: self.suites.get(..self.suites_len).unwrap_or(&[]),
            patterns: self.patterns.get(..self.patterns_len).unwrap_or(&[]),
            channel: self.channel,
            framing: self.framing,
            context: self.context(),
            identity: &self.identity,
            static_key: &self.key,
            session: self.session,
            known_initiator: self.peer,
            pairing: self.pairing.as_ref(),
            allow_without_code: self.allow_without_code,
            dh_cache: None,
        }
    }
}

/// # Safety
/// Every non-NULL pointer in `i` must be valid for its length.
unsafe fn identity_from_c(i: &tether_identity) -> Result<Identity, tether_status> {
    let bad = TETHER_ERR_BAD_CONFIG;
    // SAFETY: forwarded.
    let id = unsafe { bytes(i.id, i.id_len) }?;
    let key_id = unsafe { bytes(i.key_id, i.key_id_len) }?;
    let model = text(i.model, i.model_len)?;
    let version = text(i.version, i.version_len)?;
    let identity = Identity::new(id, model, version, key_id).map_err(|_| bad)?;
    if !i.has_credential {
        return Ok(identity);
    }
    // SAFETY: forwarded.
    let issuer = unsafe { bytes(i.credential_issuer, i.credential_issuer_len) }?;
    let signature = unsafe { key::<64>(i.credential_signature) }?;
    let credential = Credential::from_parts(
        UnixTime(i.credential_not_before),
        UnixTime(i.credential_not_after),
        issuer,
        signature,
    )
    .map_err(|_| bad)?;
    Ok(identity.with_credential(credential))
}
