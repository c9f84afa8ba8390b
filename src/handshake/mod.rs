//! The handshake: authenticate both sides and agree on session keys.
//!
//! Built on snow (Noise revision 34). One [`Handshake`] value drives either role; it is created by
//! the constructor that names the situation ([`Initiator::provisioned`], [`Initiator::enrollment`],
//! [`Initiator::pairing`], [`Initiator::reconnect`], or [`Responder::accept`] on the first message)
//! and consumed by [`Handshake::finish`], which turns it into a [`Session`].
//!
//! ```text
//!   initiator                                   responder
//!   Initiator::provisioned(..) ──── msg 0 ────▶ Responder::accept(..)   (policy checks initiator)
//!   read_message(..)           ◀─── msg 1 ───── write_message(..)       (IK, KK: responder done)
//!   (policy checks responder; IK/KK: done)
//!   XX/XXpsk0: write_message(..) ── msg 2 ────▶ read_message(..)        (policy checks initiator)
//! ```
//!
//! Handshake payloads carry only the [`Identity`] of their sender. There is no early
//! (0-RTT) application data: in `IK` and `KK` the first message could carry data, but that data
//! would be replayable and without forward secrecy, so tether offers no way to send it.
//!
//! A message that fails to parse or authenticate changes nothing: the same handshake can still
//! read the genuine message (a datagram carrier may deliver forgeries). A peer that authenticates
//! but is refused by the [`TrustPolicy`], or that sends a malformed identity, ends the handshake.

pub mod credential;
#[cfg(feature = "std")]
pub mod dh_cache;
/// Without `std` there is no cache: the type exists so that configurations are written the same
/// way in every build (`dh_cache: None`), but it cannot be made.
#[cfg(not(feature = "std"))]
pub mod dh_cache {
    /// Hosted builds only; see the `std` build's documentation.
    #[derive(Debug)]
    pub struct DhCache {
        _none: core::convert::Infallible,
    }
}
pub mod identity;
pub(crate) mod noise_crypto;
pub mod pairing;
pub(crate) mod pattern;
pub mod policy;
pub mod prologue;
pub mod short_code;

use alloc::boxed::Box;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::entropy::{draw, Entropy};
use crate::error::{Error, Local, Malformed, PeerError};
use crate::handshake::identity::{Identity, MAX_IDENTITY_LEN};
use crate::handshake::noise_crypto::{KnownPair, TetherResolver};
use crate::handshake::pairing::PairingCode;
use crate::handshake::pattern::{ChannelKind, Pattern};
use crate::handshake::policy::{PeerInfo, Rejection, TrustPolicy};
use crate::handshake::prologue::Prologue;
use crate::handshake::short_code::CodeKey;
use crate::hygiene::NoiseState;
use crate::keys::{PublicKey, StaticKeypair};
use crate::record::config::SessionConfig;
use crate::record::framing::{Framing, MAX_HANDSHAKE_UNIT};
use crate::record::header::{handshake_byte, parse_handshake_byte};
use crate::record::session::Session;
use crate::suite::Suite;
use crate::time::{Instant, UnixTime};

/// Noise's tag length.
const TAG: usize = 16;
/// X25519 public key length.
const DH: usize = 32;

/// What one side brings to a handshake it initiates.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeConfig<'a> {
    /// The cipher suite to use.
    pub suite: Suite,
    /// The kind of channel, bound into the prologue.
    pub channel: ChannelKind,
    /// How handshake messages and records are framed.
    pub framing: Framing,
    /// Extra application bytes bound into the prologue (at most
    /// [`crate::handshake::prologue::MAX_CONTEXT`]); both sides must pass the same.
    pub context: &'a [u8],
    /// The identity this side proves.
    pub identity: &'a Identity,
    /// This side's static key pair.
    pub static_key: &'a StaticKeypair,
    /// Record-layer settings for the session that follows.
    pub session: SessionConfig,
    /// Remembers the static-static X25519 result per peer, so that a repeat `IK` or `KK`
    /// handshake with the same peer skips it (see [`dh_cache`]; hosted builds only). `None`:
    /// compute it every time.
    pub dh_cache: Option<&'a dh_cache::DhCache>,
}

/// What a responder accepts and brings.
#[derive(Debug, Clone, Copy)]
pub struct ResponderConfig<'a> {
    /// Suites this responder accepts; the initiator chooses among them.
    pub suites: &'a [Suite],
    /// Patterns this responder accepts.
    pub patterns: &'a [Pattern],
    /// The kind of channel, bound into the prologue.
    pub channel: ChannelKind,
    /// How handshake messages and records are framed.
    pub framing: Framing,
    /// Extra application bytes bound into the prologue.
    pub context: &'a [u8],
    /// The identity this side proves.
    pub identity: &'a Identity,
    /// This side's static key pair.
    pub static_key: &'a StaticKeypair,
    /// Record-layer settings for the session that follows.
    pub session: SessionConfig,
    /// For [`Pattern::Reconnect`]: the initiator's static key, known in advance (for example the
    /// one phone bonded to this device).
    pub known_initiator: Option<PublicKey>,
    /// For [`Pattern::Pairing`]: the code this device shows.
    pub pairing: Option<&'a PairingCode>,
    /// While `pairing` is set, also accept [`Pattern::Enrollment`] and [`Pattern::Provisioned`],
    /// which do not prove knowledge of the code. Leave it `false`: a device showing a code should
    /// answer only the phone that scanned it (and [`Pattern::Reconnect`] from its known peer),
    /// otherwise anyone in radio range can enroll through `XX` and read the identity it sends.
    pub allow_without_code: bool,
    /// As [`HandshakeConfig::dh_cache`]: a server answering many devices keeps one cache for all
    /// of them.
    pub dh_cache: Option<&'a dh_cache::DhCache>,
}

/// The authenticated peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The identity it proved.
    pub identity: Identity,
    /// Its static public key.
    pub static_key: PublicKey,
}

/// A finished handshake.
#[derive(Debug)]
pub struct Established {
    /// The record layer, keyed.
    pub session: Session,
    /// Who is on the other side.
    pub peer: Peer,
    /// The Noise handshake hash: a unique, public name for this session that both sides share
    /// (channel binding for the layers above).
    pub handshake_hash: [u8; 32],
}

/// Starts handshakes as the initiator, one constructor per situation.
#[derive(Debug)]
pub struct Initiator;

impl Initiator {
    /// A provisioned device calling its cloud service, whose static key it pins (Noise `IK`).
    pub fn provisioned(
        config: &HandshakeConfig<'_>,
        cloud_key: &PublicKey,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Handshake::initiate(Pattern::Provisioned, config, Some(cloud_key), None, rng)
    }

    /// First contact or enrollment: the responder's key is not known yet (Noise `XX`). The trust
    /// policy given to [`Handshake::read_message`] decides on the responder.
    pub fn enrollment(
        config: &HandshakeConfig<'_>,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Handshake::initiate(Pattern::Enrollment, config, None, None, rng)
    }

    /// A phone pairing with the device whose QR code it scanned (Noise `XXpsk0`). The handshake
    /// fails unless the device knows the same code and its static key matches the code's
    /// fingerprint.
    pub fn pairing(
        config: &HandshakeConfig<'_>,
        code: &PairingCode,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Handshake::initiate(
            Pattern::Pairing,
            config,
            None,
            Some(PairingSecret::Qr(code)),
            rng,
        )
    }

    /// A phone pairing with a device through a short code, once the code exchange
    /// ([`short_code::PhonePairing`]) has produced `key` (Noise `XXpsk0` keyed by it). The
    /// handshake fails unless the device took part in the same exchange with the same code.
    pub fn code_pairing(
        config: &HandshakeConfig<'_>,
        key: &CodeKey,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Handshake::initiate(
            Pattern::Pairing,
            config,
            None,
            Some(PairingSecret::Code(key)),
            rng,
        )
    }

    /// Reconnect between peers that know each other's static keys (Noise `KK`).
    pub fn reconnect(
        config: &HandshakeConfig<'_>,
        peer_key: &PublicKey,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Handshake::initiate(Pattern::Reconnect, config, Some(peer_key), None, rng)
    }
}

/// Starts handshakes as the responder.
#[derive(Debug)]
pub struct Responder;

impl Responder {
    /// Reads the initiator's first message and, if the suite and pattern it asks for are allowed
    /// and the message authenticates, returns the handshake ready to write its reply. The trust
    /// policy runs here already for patterns whose first message authenticates the initiator (`IK`,
    /// `KK`). On error nothing is created and the message can be dropped.
    pub fn accept(
        config: &ResponderConfig<'_>,
        unit: &[u8],
        policy: &mut (impl TrustPolicy + ?Sized),
        now: UnixTime,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Responder::accept_with(config, None, unit, policy, now, rng)
    }

    /// As [`Responder::accept`] for a device that has just answered a short-code exchange
    /// ([`short_code::DevicePairing`]) with `key`: `unit` must be message 0 of the pairing
    /// handshake (`XXpsk0`) keyed by it, and nothing else is accepted. `config.pairing`,
    /// `config.patterns` and `config.allow_without_code` play no part.
    pub fn accept_code_pairing(
        config: &ResponderConfig<'_>,
        key: &CodeKey,
        unit: &[u8],
        policy: &mut (impl TrustPolicy + ?Sized),
        now: UnixTime,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        Responder::accept_with(config, Some(key), unit, policy, now, rng)
    }

    fn accept_with(
        config: &ResponderConfig<'_>,
        code_key: Option<&CodeKey>,
        unit: &[u8],
        policy: &mut (impl TrustPolicy + ?Sized),
        now: UnixTime,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        let body = unframe(config.framing, unit)?;
        let (suite, pattern) = match body {
            [first, suite, pattern, ..] => {
                if parse_handshake_byte(*first)? != 0 {
                    return Err(PeerError::UnexpectedMessage.into());
                }
                (Suite::from_id(*suite)?, Pattern::from_id(*pattern)?)
            }
            _ => return Err(Malformed::Truncated.into()),
        };
        // Before building any Noise state: message 0 of `XX` and `XXpsk0` has a fixed size, and
        // of `IK` and `KK` a bounded one.
        check_noise_len(pattern, 0, body.len().saturating_sub(header_len(0)))?;
        if let Some(key) = code_key {
            if pattern != Pattern::Pairing {
                return Err(PeerError::UnexpectedMessage.into());
            }
            if !config.suites.contains(&suite) {
                return Err(Local::NotAllowed.into());
            }
            let common = Common::responder(config, suite, pattern);
            let mut hs =
                Handshake::build(&common, false, None, Some(PairingSecret::Code(key)), rng)?;
            hs.read_message(unit, policy, now)?;
            return Ok(hs);
        }
        if !config.suites.contains(&suite) || !config.patterns.contains(&pattern) {
            return Err(Local::NotAllowed.into());
        }
        // A code on display means "pair with the phone that scanned it": patterns that do not
        // prove the code are refused unless the configuration asks for them explicitly.
        let unproven = matches!(pattern, Pattern::Enrollment | Pattern::Provisioned);
        if config.pairing.is_some() && unproven && !config.allow_without_code {
            return Err(Local::NotAllowed.into());
        }
        let (remote, code) = match pattern {
            Pattern::Reconnect => (
                Some(config.known_initiator.as_ref().ok_or(Local::NotAllowed)?),
                None,
            ),
            Pattern::Pairing => (
                None,
                Some(PairingSecret::Qr(config.pairing.ok_or(Local::NotAllowed)?)),
            ),
            Pattern::Provisioned | Pattern::Enrollment => (None, None),
        };
        let common = Common::responder(config, suite, pattern);
        let mut hs = Handshake::build(&common, false, remote, code, rng)?;
        hs.read_message(unit, policy, now)?;
        Ok(hs)
    }
}

/// The settings both constructors reduce to.
struct Common<'a> {
    suite: Suite,
    pattern: Pattern,
    channel: ChannelKind,
    framing: Framing,
    context: &'a [u8],
    identity: &'a Identity,
    static_key: &'a StaticKeypair,
    session: SessionConfig,
    // Read only where a cache can exist.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    dh_cache: Option<&'a dh_cache::DhCache>,
}

impl<'a> Common<'a> {
    fn responder(config: &ResponderConfig<'a>, suite: Suite, pattern: Pattern) -> Self {
        Common {
            suite,
            pattern,
            channel: config.channel,
            framing: config.framing,
            context: config.context,
            identity: config.identity,
            static_key: config.static_key,
            session: config.session,
            dh_cache: config.dh_cache,
        }
    }
}

/// Where the pre-shared key of the pairing pattern comes from.
#[derive(Clone, Copy)]
enum PairingSecret<'a> {
    /// A scanned QR code: its secret, and the fingerprint the device's key must match.
    Qr(&'a PairingCode),
    /// A short-code exchange: its key authenticates the device; there is no fingerprint.
    Code(&'a CodeKey),
}

impl PairingSecret<'_> {
    fn psk(self) -> Zeroizing<[u8; 32]> {
        match self {
            PairingSecret::Qr(code) => code.psk(),
            PairingSecret::Code(key) => key.psk(),
        }
    }

    fn fingerprint(self) -> Option<PairingCode> {
        match self {
            PairingSecret::Qr(code) => Some(code.clone()),
            PairingSecret::Code(_) => None,
        }
    }
}

/// A handshake in progress, for either role.
pub struct Handshake {
    noise: NoiseState,
    initiator: bool,
    pattern: Pattern,
    suite: Suite,
    channel: ChannelKind,
    framing: Framing,
    session: SessionConfig,
    /// Our encoded identity, sent in our identity message.
    /// Boxed at its exact length: the handshake is moved by value, and a 256-byte array in it
    /// would be copied on the stack each time.
    identity: Box<[u8]>,
    identity_len: usize,
    /// Pairing (initiator): the fingerprint the responder's static key must match.
    expected_fingerprint: Option<PairingCode>,
    /// Index of the next handshake message, written or read.
    next: usize,
    /// Boxed for the same reason (248 bytes on Cortex-M).
    peer: Option<Box<Peer>>,
    failed: bool,
    /// What the Noise state is built from, to rebuild it after a failed read.
    inputs: Inputs,
}

/// Largest message 0 a responder must remember: in the 3-message patterns, the only ones in
/// which a responder reads again, message 0 carries no payload (`XX`: 32 bytes, `XXpsk0`: 48).
const FIRST_CACHE: usize = DH + TAG;

/// Everything that determines the Noise state: the pre-drawn ephemeral entropy, the keys, the
/// prologue, and the one message of the peer that a later read depends on.
///
/// Why: when snow's `read_message` fails it restores its hash and chaining key but not its cipher
/// key and nonce, so after a forged `XX` message 2 the genuine one no longer decrypts. Instead of
/// relying on snow's partial restore, a failed read rebuilds the state from these inputs: the
/// messages this side wrote come out byte for byte the same (their only randomness is the
/// pre-drawn entropy), and the peer's message 0 is replayed from `first`.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Inputs {
    entropy: [u8; 32],
    static_secret: [u8; 32],
    #[zeroize(skip)]
    static_public: [u8; 32],
    psk: Option<[u8; 32]>,
    #[zeroize(skip)]
    remote: Option<PublicKey>,
    #[zeroize(skip)]
    prologue: Prologue,
    first: [u8; FIRST_CACHE],
    first_len: usize,
    /// The link to the static-static cache, when the configuration gave one.
    #[cfg(feature = "std")]
    #[zeroize(skip)]
    memo: Option<alloc::sync::Arc<dh_cache::Memo>>,
}

impl Handshake {
    fn initiate(
        pattern: Pattern,
        config: &HandshakeConfig<'_>,
        remote: Option<&PublicKey>,
        code: Option<PairingSecret<'_>>,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        let common = Common {
            suite: config.suite,
            pattern,
            channel: config.channel,
            framing: config.framing,
            context: config.context,
            identity: config.identity,
            static_key: config.static_key,
            session: config.session,
            dh_cache: config.dh_cache,
        };
        Handshake::build(&common, true, remote, code, rng)
    }

    fn build(
        c: &Common<'_>,
        initiator: bool,
        remote: Option<&PublicKey>,
        code: Option<PairingSecret<'_>>,
        rng: &mut (impl Entropy + ?Sized),
    ) -> Result<Handshake, Error> {
        c.session.validate()?;
        if !c.suite.is_enabled() {
            return Err(Local::NotAllowed.into());
        }
        /// Our identity, encoded and boxed at its exact length. Not inlined: the encoding buffer
        /// is gone from the stack before snow builds its state (the deepest point of a firmware's
        /// handshake).
        #[inline(never)]
        fn encode(identity: &Identity) -> Result<(Box<[u8]>, usize), Error> {
            let mut buf = [0u8; MAX_IDENTITY_LEN];
            let len = identity.encode(&mut buf)?;
            Ok((buf.get(..len).ok_or(Local::Config)?.into(), len))
        }

        let (identity, identity_len) = encode(c.identity)?;
        let prologue = Prologue::new(c.suite, c.pattern, c.channel, c.framing, c.context)?;
        let entropy = draw::<32>(rng)?;
        let inputs = Inputs {
            entropy: *entropy,
            static_secret: *c.static_key.secret_bytes(),
            static_public: *c.static_key.public().as_bytes(),
            psk: code.map(|code| *code.psk()),
            remote: remote.copied(),
            prologue,
            first: [0; FIRST_CACHE],
            first_len: 0,
            #[cfg(feature = "std")]
            memo: c
                .dh_cache
                .map(|cache| dh_cache::Memo::new(cache, c.static_key.public().as_bytes())),
        };
        let noise = new_noise(c.pattern, c.suite, initiator, &inputs)?;
        Ok(Handshake {
            noise,
            initiator,
            pattern: c.pattern,
            suite: c.suite,
            channel: c.channel,
            framing: c.framing,
            session: c.session,
            identity,
            identity_len,
            expected_fingerprint: if initiator {
                code.and_then(PairingSecret::fingerprint)
            } else {
                None
            },
            next: 0,
            peer: None,
            failed: false,
            inputs,
        })
    }

    /// Rebuilds the Noise state as it was before the message now being read: replays this side's
    /// messages (identical bytes) and the peer's cached message 0.
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self) -> Result<(), Error> {
        let mut noise = new_noise(self.pattern, self.suite, self.initiator, &self.inputs)?;
        let mut scratch = Zeroizing::new([0u8; MAX_IDENTITY_LEN + 2 * DH + 3 * TAG]);
        let mut payload = Zeroizing::new([0u8; MAX_IDENTITY_LEN]);
        for index in 0..self.next {
            if (index % 2 == 0) == self.initiator {
                let ours = self
                    .identity
                    .get(..self.payload_len(index))
                    .ok_or(Local::Noise)?;
                noise
                    .write_message(ours, scratch.as_mut())
                    .map_err(map_noise)?;
            } else if index == 0 && self.inputs.first_len > 0 {
                let first = self
                    .inputs
                    .first
                    .get(..self.inputs.first_len)
                    .ok_or(Local::Noise)?;
                noise
                    .read_message(first, payload.as_mut())
                    .map_err(map_noise)?;
            } else {
                return Err(Local::Noise.into());
            }
        }
        self.noise = noise;
        Ok(())
    }

    /// The pattern in use.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The suite in use.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Whether this side writes the next message.
    pub fn is_my_turn(&self) -> bool {
        !self.failed && !self.is_finished() && (self.next % 2 == 0) == self.initiator
    }

    /// Whether every message has been written or read: [`Handshake::finish`] may be called.
    pub fn is_finished(&self) -> bool {
        !self.failed && self.next >= self.pattern.message_count()
    }

    /// Whether the handshake ended in a rejection; it cannot continue.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The authenticated peer, once its identity message has been read and accepted.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_deref()
    }

    /// The exact size of the unit [`Handshake::write_message`] writes next.
    pub fn next_message_len(&self) -> usize {
        unit_len(
            self.framing,
            self.pattern,
            self.next,
            self.payload_len(self.next),
        )
    }

    fn payload_len(&self, index: usize) -> usize {
        if self.pattern.identity_message(self.initiator) == index {
            self.identity_len
        } else {
            0
        }
    }

    /// Writes this side's next handshake message into `out`, framed for the channel, and returns
    /// its length. A too-small `out` is [`Local::BufferTooSmall`] and changes nothing.
    pub fn write_message(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if !self.is_my_turn() {
            return Err(Local::WrongState.into());
        }
        let index = self.next;
        let payload_len = self.payload_len(index);
        let total = unit_len(self.framing, self.pattern, index, payload_len);
        let out = out
            .get_mut(..total)
            .ok_or(Local::BufferTooSmall { needed: total })?;
        let body_len = total - prefix_len(self.framing);
        let (prefix, body) = out.split_at_mut(prefix_len(self.framing));
        if let (Ok(len), [hi, lo]) = (u16::try_from(body_len), prefix) {
            [*hi, *lo] = len.to_be_bytes();
        }
        let header = header_len(index);
        let (head, noise_out) = body.split_at_mut(header);
        let index_byte = u8::try_from(index).map_err(|_| Local::WrongState)?;
        match head {
            [first, suite, pattern] => {
                *first = handshake_byte(index_byte);
                *suite = self.suite.id();
                *pattern = self.pattern.id();
            }
            [first] => *first = handshake_byte(index_byte),
            _ => return Err(Local::WrongState.into()),
        }
        let payload = self.identity.get(..payload_len).ok_or(Local::WrongState)?;
        let written = if self.pattern == Pattern::Enrollment && index == 0 {
            // snow asks for room for a tag even when, as here (`-> e` with no key yet), none is
            // written; give it a scratch buffer rather than ask the caller for unused bytes.
            let mut scratch = [0u8; DH + TAG];
            let written = self
                .noise
                .write_message(payload, &mut scratch)
                .map_err(map_noise)?;
            let produced = scratch.get(..written).ok_or(Local::Noise)?;
            if produced.len() == noise_out.len() {
                noise_out.copy_from_slice(produced);
            }
            written
        } else {
            self.noise
                .write_message(payload, noise_out)
                .map_err(map_noise)?
        };
        if written != noise_out.len() {
            // The size table disagrees with snow: never send a message we did not size.
            self.failed = true;
            return Err(Local::Noise.into());
        }
        self.next += 1;
        Ok(total)
    }

    /// Reads the peer's next handshake message (a whole unit as framed on the wire). When it
    /// carries the peer's identity, `policy` decides on the peer; `now` is the wall-clock time for
    /// credential validity.
    pub fn read_message(
        &mut self,
        unit: &[u8],
        policy: &mut (impl TrustPolicy + ?Sized),
        now: UnixTime,
    ) -> Result<(), Error> {
        if self.failed || self.is_finished() || self.is_my_turn() {
            return Err(Local::WrongState.into());
        }
        let body = unframe(self.framing, unit)?;
        let (first, rest) = body.split_first().ok_or(Malformed::Truncated)?;
        if usize::from(parse_handshake_byte(*first)?) != self.next {
            return Err(PeerError::UnexpectedMessage.into());
        }
        let noise_in = if self.next == 0 {
            // Suite and pattern were checked by `Responder::accept`; they are also bound into the
            // prologue, so a rewritten byte fails authentication below.
            match rest {
                [suite, pattern, noise_in @ ..]
                    if *suite == self.suite.id() && *pattern == self.pattern.id() =>
                {
                    noise_in
                }
                [_, _, ..] => return Err(PeerError::UnexpectedMessage.into()),
                _ => return Err(Malformed::Truncated.into()),
            }
        } else {
            rest
        };
        // Sizes are fixed by the pattern (spec 4.3): refuse anything else before any
        // cryptography, and keep the decryption buffer (on the stack, which firmware counts) small.
        check_noise_len(self.pattern, self.next, noise_in.len())?;
        let mut payload = Zeroizing::new([0u8; MAX_IDENTITY_LEN]);
        let len = match self.noise.read_message(noise_in, payload.as_mut()) {
            Ok(len) => len,
            Err(e) => {
                // Leave no trace of the rejected message (see `Inputs`).
                if let Err(fatal) = self.rebuild() {
                    self.failed = true;
                    return Err(fatal);
                }
                return Err(map_noise_peer(e));
            }
        };
        // Authenticated: from here on, a problem is the peer's fault and ends the handshake.
        if self.next == 0 && !self.initiator {
            if let Some(first) = self.inputs.first.get_mut(..noise_in.len()) {
                first.copy_from_slice(noise_in);
                self.inputs.first_len = noise_in.len();
            }
        }
        self.next += 1;
        let payload = payload.get(..len).ok_or(Local::Noise)?;
        if let Err(e) = self.accept_payload(payload, policy, now) {
            self.failed = true;
            return Err(e);
        }
        Ok(())
    }

    fn accept_payload(
        &mut self,
        payload: &[u8],
        policy: &mut (impl TrustPolicy + ?Sized),
        now: UnixTime,
    ) -> Result<(), Error> {
        let index = self.next - 1;
        if self.pattern.identity_message(!self.initiator) != index {
            return if payload.is_empty() {
                Ok(())
            } else {
                Err(PeerError::UnexpectedMessage.into())
            };
        }
        let identity = Identity::decode(payload)?;
        let static_key: [u8; 32] = self
            .noise
            .get_remote_static()
            .and_then(|k| k.try_into().ok())
            .ok_or(Local::Noise)?;
        let static_key = PublicKey(static_key);
        if let Some(code) = &self.expected_fingerprint {
            if !code.matches(&static_key) {
                return Err(Rejection::KeyMismatch.into());
            }
        }
        policy.check(&PeerInfo {
            identity: &identity,
            static_key: &static_key,
            pattern: self.pattern,
            channel: self.channel,
            now,
        })?;
        self.peer = Some(Box::new(Peer {
            identity,
            static_key,
        }));
        Ok(())
    }

    /// Turns the finished handshake into a session. The handshake's own key material is dropped;
    /// `now` starts the session's key-update clock.
    pub fn finish(mut self, now: Instant) -> Result<Established, Error> {
        if !self.is_finished() || !self.noise.is_handshake_finished() {
            return Err(Local::WrongState.into());
        }
        let peer = *self.peer.take().ok_or(Local::WrongState)?;
        #[cfg(feature = "std")]
        if let Some(memo) = &self.inputs.memo {
            memo.commit(&peer.static_key);
        }
        let mut handshake_hash = [0u8; 32];
        handshake_hash.copy_from_slice(
            self.noise
                .get_handshake_hash()
                .get(..32)
                .ok_or(Local::Noise)?,
        );
        let (mut k1, mut k2) = self.noise.dangerously_get_raw_split();
        let (i_to_r, r_to_i) = (Zeroizing::new(k1), Zeroizing::new(k2));
        k1.zeroize();
        k2.zeroize();
        let (send, recv) = if self.initiator {
            (i_to_r, r_to_i)
        } else {
            (r_to_i, i_to_r)
        };
        let session = Session::new(self.suite, self.framing, self.session, send, recv, now)?;
        Ok(Established {
            session,
            peer,
            handshake_hash,
        })
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("initiator", &self.initiator)
            .field("pattern", &self.pattern)
            .field("suite", &self.suite)
            .field("next", &self.next)
            .field("failed", &self.failed)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A fresh Noise state from `inputs`.
///
/// Its frame holds only snow's `Builder` and the state `Builder::build` returns by value (744
/// bytes on Cortex-M), which is boxed at once; the builder is assembled in `builder`, whose frame
/// (the resolver and each `Result<Builder>` on the way) is gone before snow's build runs, the
/// deepest point of a firmware's handshake.
fn new_noise(
    pattern: Pattern,
    suite: Suite,
    initiator: bool,
    inputs: &Inputs,
) -> Result<NoiseState, Error> {
    #[inline(never)]
    fn builder<'a>(
        pattern: Pattern,
        suite: Suite,
        inputs: &'a Inputs,
    ) -> Result<snow::Builder<'a>, Error> {
        let params = noise_params(pattern, suite);
        let resolver =
            TetherResolver::new(Zeroizing::new(inputs.entropy)).with_known_pair(KnownPair {
                secret: inputs.static_secret,
                public: inputs.static_public,
            });
        #[cfg(feature = "std")]
        let resolver = resolver.with_memo(inputs.memo.clone());
        let resolver = Box::new(resolver);
        // One error conversion for the whole chain.
        let chain = || -> Result<snow::Builder<'a>, snow::Error> {
            let mut builder = snow::Builder::with_resolver(params, resolver)
                .prologue(inputs.prologue.as_bytes())?
                .local_private_key(&inputs.static_secret)?;
            if let Some(key) = &inputs.remote {
                builder = builder.remote_public_key(key.as_bytes())?;
            }
            if let Some(psk) = &inputs.psk {
                builder = builder.psk(0, psk)?;
            }
            Ok(builder)
        };
        chain().map_err(map_noise)
    }

    let builder = builder(pattern, suite, inputs)?;
    let state = if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    };
    // Boxed here, so that callers never hold the state (744 bytes on Cortex-M) on their stack.
    state.map(|s| NoiseState(Box::new(s))).map_err(map_noise)
}

/// A Noise state that holds no secret (`NN`, nothing written yet), whose bytes overwrite a
/// finished or discarded state (see [`crate::hygiene::NoiseState`]).
#[cfg(feature = "std")]
pub(crate) fn blank_noise_state() -> Option<snow::HandshakeState> {
    use snow::params::{
        BaseChoice, CipherChoice, DHChoice, HandshakeChoice, HandshakeModifierList,
        HandshakePattern, HashChoice, NoiseParams,
    };
    let params = NoiseParams {
        name: "Noise_NN_25519_ChaChaPoly_BLAKE2s".into(),
        base: BaseChoice::Noise,
        handshake: HandshakeChoice {
            pattern: HandshakePattern::NN,
            modifiers: HandshakeModifierList {
                list: alloc::vec::Vec::new(),
            },
        },
        dh: DHChoice::Curve25519,
        cipher: CipherChoice::ChaChaPoly,
        hash: HashChoice::Blake2s,
    };
    let resolver = Box::new(TetherResolver::new(Zeroizing::new([0u8; 32])));
    snow::Builder::with_resolver(params, resolver)
        .build_initiator()
        .ok()
}

/// snow's parameters, built directly rather than parsed from the name: snow's parser knows every
/// pattern and primitive of the Noise specification, and all of that would be linked.
fn noise_params(pattern: Pattern, suite: Suite) -> snow::params::NoiseParams {
    use snow::params::{
        BaseChoice, CipherChoice, DHChoice, HandshakeChoice, HandshakeModifier,
        HandshakeModifierList, HandshakePattern, HashChoice, NoiseParams,
    };
    let (base, modifiers) = match pattern {
        Pattern::Provisioned => (HandshakePattern::IK, alloc::vec::Vec::new()),
        Pattern::Enrollment => (HandshakePattern::XX, alloc::vec::Vec::new()),
        Pattern::Pairing => (HandshakePattern::XX, alloc::vec![HandshakeModifier::Psk(0)]),
        Pattern::Reconnect => (HandshakePattern::KK, alloc::vec::Vec::new()),
    };
    let (cipher, hash) = match suite {
        Suite::ChaChaPolyBlake2s => (CipherChoice::ChaChaPoly, HashChoice::Blake2s),
        Suite::AesGcmSha256 => (CipherChoice::AESGCM, HashChoice::SHA256),
    };
    NoiseParams {
        name: noise_name(pattern, suite),
        base: BaseChoice::Noise,
        handshake: HandshakeChoice {
            pattern: base,
            modifiers: HandshakeModifierList { list: modifiers },
        },
        dh: DHChoice::Curve25519,
        cipher,
        hash,
    }
}

/// The Noise protocol name, as in `Noise_IK_25519_ChaChaPoly_BLAKE2s`, put together from its
/// parts (eight whole names would cost a quarter kilobyte of firmware flash).
fn noise_name(pattern: Pattern, suite: Suite) -> alloc::string::String {
    let parts = ["Noise_", pattern.noise_name(), "_", suite.noise_suffix()];
    let mut name = alloc::string::String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        name.push_str(part);
    }
    name
}

/// Bytes the Noise message adds to its payload, per pattern and message index (Noise rev 34:
/// `e` is 32 bytes, an encrypted `s` 48, and every payload once a key exists gets a 16-byte tag).
const fn noise_overhead(pattern: Pattern, index: usize) -> usize {
    match (pattern, index) {
        // IK: -> e, es, s, ss   <- e, ee, se
        (Pattern::Provisioned, 0) => DH + DH + TAG + TAG,
        (Pattern::Provisioned, _) => DH + TAG,
        // XX: -> e   <- e, ee, s, es   -> s, se
        (Pattern::Enrollment, 0) => DH,
        // XXpsk0: -> psk, e (the psk keys the first payload)
        (Pattern::Pairing, 0) => DH + TAG,
        (Pattern::Enrollment | Pattern::Pairing, 1) => DH + DH + TAG + TAG,
        (Pattern::Enrollment | Pattern::Pairing, _) => DH + TAG + TAG,
        // KK: -> e, es, ss   <- e, ee, se
        (Pattern::Reconnect, _) => DH + TAG,
    }
}

/// Checks the length of the Noise part of message `index` (spec 4.3): exactly the pattern's
/// overhead when the message carries no payload, and at most an identity more when it carries its
/// sender's identity.
fn check_noise_len(pattern: Pattern, index: usize, len: usize) -> Result<(), Error> {
    let min = noise_overhead(pattern, index);
    let sender_is_initiator = index % 2 == 0;
    let max = if pattern.identity_message(sender_is_initiator) == index {
        min + MAX_IDENTITY_LEN
    } else {
        min
    };
    if len > max {
        Err(Malformed::Oversized.into())
    } else if len < min {
        Err(Malformed::Truncated.into())
    } else {
        Ok(())
    }
}

/// The first message also names the suite and pattern.
const fn header_len(index: usize) -> usize {
    if index == 0 {
        3
    } else {
        1
    }
}

const fn prefix_len(framing: Framing) -> usize {
    match framing {
        Framing::Stream => 2,
        Framing::Datagram => 0,
    }
}

/// Exact wire size of a handshake unit.
const fn unit_len(framing: Framing, pattern: Pattern, index: usize, payload: usize) -> usize {
    prefix_len(framing) + header_len(index) + noise_overhead(pattern, index) + payload
}

/// Strips the stream length prefix and bounds the body.
pub(crate) fn unframe(framing: Framing, unit: &[u8]) -> Result<&[u8], Error> {
    let body = match framing {
        Framing::Datagram => unit,
        Framing::Stream => {
            let (len, body) = unit.split_first_chunk::<2>().ok_or(Malformed::Truncated)?;
            if usize::from(u16::from_be_bytes(*len)) != body.len() {
                return Err(Malformed::Length.into());
            }
            body
        }
    };
    if body.len() > MAX_HANDSHAKE_UNIT {
        return Err(Malformed::Oversized.into());
    }
    Ok(body)
}

/// snow errors on our own calls.
fn map_noise(e: snow::Error) -> Error {
    match e {
        snow::Error::Rng => Local::Entropy.into(),
        snow::Error::State(_) => Local::WrongState.into(),
        snow::Error::Dh => Local::BadKey.into(),
        _ => Local::Noise.into(),
    }
}

/// snow errors while reading a peer's message: coarse on purpose.
fn map_noise_peer(e: snow::Error) -> Error {
    match e {
        snow::Error::Input => Malformed::Length.into(),
        snow::Error::State(_) => Local::WrongState.into(),
        _ => PeerError::Authentication.into(),
    }
}
