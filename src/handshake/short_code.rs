//! Pairing a phone with a device through a short code (six digits) that the device shows or the
//! user enters with a few button presses.
//!
//! A six-digit code has 20 bits: used directly as a Noise PSK, one recorded handshake lets an
//! attacker test every candidate offline in under a second. Instead the code goes into a
//! password-authenticated key exchange, SPAKE2 over edwards25519 (RustCrypto's `spake2`, on the
//! curve library tether already links), and only the exchange's result keys the Noise `XXpsk0`
//! pairing handshake:
//!
//! ```text
//!   phone                                         device (shows the code)
//!   PhonePairing::start(code) ── code msg 0 (X*) ─▶ DevicePairing::respond(..)  (counts an attempt)
//!   PhonePairing::finish(..) ◀── code msg 1 (Y*) ── (device holds its CodeKey)
//!   Initiator::code_pairing(key) ─ XXpsk0 msg 0 ──▶ Responder::accept_code_pairing(key)
//!            ... XXpsk0 messages 1 and 2, as for a QR code ...
//!   (phone: paired once a record from the device opens)   (device: AttemptLimiter::succeeded)
//! ```
//!
//! What an attacker gets (spec/PROTOCOL.md, 4.7.2): one guess per attempt. A passive observer sees
//! two group elements that are uniformly distributed whatever the code, and Noise messages keyed
//! by a value it cannot compute without solving Diffie-Hellman, so nothing to test codes against.
//! An active attacker must commit to one candidate code when it sends its own code message; the
//! Noise message that follows tells it only whether that one candidate was right. The device
//! shows a fresh code for every attempt and an [`AttemptLimiter`] spaces attempts out.
//!
//! The `spake2` crate does not wipe its ephemeral scalar or its copy of the code when it is
//! dropped. Both are worthless once the attempt is over (the code is never used again), and the
//! session keys depend on Noise's ephemeral Diffie-Hellman as well, which is wiped.

use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use rand_core::{CryptoRng, RngCore};
use spake2::{Ed25519Group, Identity as SpakeIdentity, Password, Spake2};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::entropy::{draw, Entropy};
use crate::error::{Error, Local, Malformed, PeerError};
use crate::handshake::noise_crypto::blake2s;
use crate::record::framing::Framing;
use crate::record::header::{code_pairing_byte, parse_code_pairing_byte};
use crate::time::Instant;

/// Digits in a short code.
pub const CODE_DIGITS: usize = 6;
/// Bytes of a code message's body (its first byte and one group element), before any framing.
pub const CODE_MESSAGE_LEN: usize = 1 + ELEMENT_LEN;
/// Bytes of a code message as sent: [`CODE_MESSAGE_LEN`], plus 2 for the stream framing's length.
pub const CODE_UNIT_MAX: usize = 2 + CODE_MESSAGE_LEN;

const ELEMENT_LEN: usize = 32;
/// SPAKE2's identities: fixed per role; the session is bound to the two sides by the Noise
/// handshake that follows.
const PHONE_ID: &[u8] = b"tether-v1 code pairing phone";
const DEVICE_ID: &[u8] = b"tether-v1 code pairing device";
const PSK_LABEL: &[u8] = b"tether-v1 code pairing psk";
/// The side byte `spake2` puts before each element (not sent: the first byte's index says it).
const SIDE_PHONE: u8 = b'A';
const SIDE_DEVICE: u8 = b'B';

/// A short code: six ASCII digits. Used once: the attempt that takes it consumes it, so a code
/// a bystander saw is worthless afterwards. Not `Clone`, wiped on drop, never printed.
#[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ShortCode {
    digits: [u8; CODE_DIGITS],
}

impl ShortCode {
    /// A fresh, uniformly drawn code for the device to show (one per attempt).
    pub fn generate(rng: &mut (impl Entropy + ?Sized)) -> Result<Self, Error> {
        // Rejection sampling: the largest multiple of 10^6 below 2^32 keeps every code equally
        // likely. A draw is rejected with probability below 2^-12.
        const SPACE: u32 = 1_000_000;
        const LIMIT: u32 = u32::MAX - (u32::MAX % SPACE);
        loop {
            let bytes = draw::<4>(rng)?;
            let value = u32::from_le_bytes(*bytes);
            if value < LIMIT {
                let mut n = value % SPACE;
                let mut digits = [0u8; CODE_DIGITS];
                for d in digits.iter_mut().rev() {
                    // n % 10 < 10: the cast cannot truncate.
                    *d = b'0' + (n % 10) as u8;
                    n /= 10;
                }
                return Ok(ShortCode { digits });
            }
        }
    }

    /// The code the user typed: exactly six ASCII digits.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let digits: [u8; CODE_DIGITS] = text.try_into().map_err(|_| Malformed::PairingCode)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(Malformed::PairingCode.into());
        }
        Ok(ShortCode { digits })
    }

    /// The digits, to show on the device's display.
    pub fn digits(&self) -> &[u8; CODE_DIGITS] {
        &self.digits
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShortCode(<redacted>)")
    }
}

/// What a short-code exchange yields on both sides when the codes matched: the key for the
/// pairing handshake ([`crate::Initiator::code_pairing`],
/// [`crate::Responder::accept_code_pairing`]). When the codes differ each side still gets a key,
/// but the two keys differ and the handshake fails at its first message.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CodeKey {
    psk: [u8; 32],
}

impl CodeKey {
    /// psk = BLAKE2s(label || SPAKE2 key); the SPAKE2 key is wiped.
    fn from_spake(mut key: alloc::vec::Vec<u8>) -> Self {
        let psk = blake2s(&[PSK_LABEL, &key]);
        key.as_mut_slice().zeroize();
        CodeKey { psk }
    }

    pub(crate) fn psk(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.psk)
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

/// The phone's side of the code exchange: started with the code the user typed, finished with
/// the device's answer.
pub struct PhonePairing {
    /// `None` once the device's answer has been read.
    spake: Option<Spake2<Ed25519Group>>,
    framing: Framing,
}

impl PhonePairing {
    /// Starts an exchange with `code` (consumed) and writes code message 0 into `out`; returns
    /// the exchange and the unit's length.
    pub fn start(
        framing: Framing,
        code: ShortCode,
        rng: &mut (impl Entropy + ?Sized),
        out: &mut [u8],
    ) -> Result<(PhonePairing, usize), Error> {
        let needed = unit_len(framing);
        if out.len() < needed {
            return Err(Local::BufferTooSmall { needed }.into());
        }
        let scalar_bytes = draw::<64>(rng)?;
        let (spake, message) = Spake2::<Ed25519Group>::start_a_with_rng(
            &Password::new(code.digits),
            &SpakeIdentity::new(PHONE_ID),
            &SpakeIdentity::new(DEVICE_ID),
            Preset::new(&scalar_bytes),
        );
        let len = write_unit(framing, 0, &message, out)?;
        Ok((
            PhonePairing {
                spake: Some(spake),
                framing,
            },
            len,
        ))
    }

    /// Reads the device's code message 1 and returns the key for the pairing handshake. A unit
    /// that is not a valid code message 1 changes nothing (spec 4.7.2: the genuine answer can
    /// still come); once an answer is accepted the exchange is spent ([`Local::WrongState`]
    /// after that).
    pub fn finish(&mut self, unit: &[u8]) -> Result<CodeKey, Error> {
        if self.spake.is_none() {
            return Err(Local::WrongState.into());
        }
        // Every check before the exchange is taken: spake2 can refuse nothing they let through.
        let element = read_unit(self.framing, 1, unit)?;
        let spake = self.spake.take().ok_or(Local::WrongState)?;
        let key = spake
            .finish(&with_side(SIDE_DEVICE, element))
            .map_err(|_| PeerError::Authentication)?;
        Ok(CodeKey::from_spake(key))
    }

    /// Whether the device's answer has been accepted.
    pub fn is_spent(&self) -> bool {
        self.spake.is_none()
    }
}

impl fmt::Debug for PhonePairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhonePairing")
            .field("spent", &self.is_spent())
            .field("framing", &self.framing)
            .finish()
    }
}

/// The device's side of the code exchange, holding the code it shows until one attempt takes it.
pub struct DevicePairing {
    code: Option<ShortCode>,
    framing: Framing,
}

impl DevicePairing {
    /// Ready to answer one attempt with `code` (the one on display).
    pub fn new(framing: Framing, code: ShortCode) -> Self {
        DevicePairing {
            code: Some(code),
            framing,
        }
    }

    /// Whether an attempt has taken the code (the device should show a fresh one).
    pub fn is_spent(&self) -> bool {
        self.code.is_none()
    }

    /// Answers the phone's code message 0: writes code message 1 into `out` and returns the key
    /// for [`crate::Responder::accept_code_pairing`] with the unit's length.
    ///
    /// A malformed message, a full buffer or a refusal by `limiter` change nothing (the code
    /// stays, no attempt is counted). Otherwise the attempt is counted in `limiter` as failed
    /// until [`AttemptLimiter::succeeded`] says otherwise, and the code is spent.
    pub fn respond(
        &mut self,
        limiter: &mut AttemptLimiter,
        now: Instant,
        unit: &[u8],
        rng: &mut (impl Entropy + ?Sized),
        out: &mut [u8],
    ) -> Result<(CodeKey, usize), Error> {
        let code = self.code.as_ref().ok_or(Local::WrongState)?;
        let element = read_unit(self.framing, 0, unit)?;
        let needed = unit_len(self.framing);
        if out.len() < needed {
            return Err(Local::BufferTooSmall { needed }.into());
        }
        limiter.check(now)?;
        let scalar_bytes = draw::<64>(rng)?;
        // From here on the attempt counts and the code is gone, whatever happens.
        limiter.count(now);
        let password = Password::new(code.digits);
        self.code = None;
        let (spake, message) = Spake2::<Ed25519Group>::start_b_with_rng(
            &password,
            &SpakeIdentity::new(PHONE_ID),
            &SpakeIdentity::new(DEVICE_ID),
            Preset::new(&scalar_bytes),
        );
        let key = spake
            .finish(&with_side(SIDE_PHONE, element))
            .map_err(|_| PeerError::Authentication)?;
        let len = write_unit(self.framing, 1, &message, out)?;
        Ok((CodeKey::from_spake(key), len))
    }
}

impl fmt::Debug for DevicePairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicePairing")
            .field("spent", &self.is_spent())
            .field("framing", &self.framing)
            .finish()
    }
}

/// Spaces out pairing attempts on the device (spec/PROTOCOL.md, 4.7.2): the first
/// [`AttemptLimiter::FREE_ATTEMPTS`] attempts may follow each other at once (typing mistakes);
/// after that many consecutive failures each attempt waits twice as long as the one before, from
/// 30 seconds up to an hour. An attempt counts as failed from the moment it starts until the device reports success,
/// so an attacker gains nothing by breaking a connection half-way.
///
/// Keep [`AttemptLimiter::failures`] across reboots (flash) and rebuild with
/// [`AttemptLimiter::restore`]: otherwise power-cycling the device resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimiter {
    failures: u32,
    next_allowed: Instant,
}

impl Default for AttemptLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl AttemptLimiter {
    /// Consecutive failed attempts allowed without waiting.
    pub const FREE_ATTEMPTS: u32 = 3;
    /// The wait after the first attempt beyond the free ones, in milliseconds.
    pub const FIRST_WAIT_MS: u64 = 30_000;
    /// The longest wait between attempts, in milliseconds.
    pub const MAX_WAIT_MS: u64 = 3_600_000;

    /// No failures yet.
    pub const fn new() -> Self {
        AttemptLimiter {
            failures: 0,
            next_allowed: Instant(0),
        }
    }

    /// After a reboot: `failures` as saved, the clock restarted at `now`. The device waits the
    /// full delay for that count before the next attempt, as if the last one had just failed.
    pub fn restore(failures: u32, now: Instant) -> Self {
        AttemptLimiter {
            failures,
            next_allowed: Instant(now.0.saturating_add(Self::wait_after(failures))),
        }
    }

    /// A limiter exactly as [`AttemptLimiter::failures`] and [`AttemptLimiter::next_allowed`]
    /// described it (for a binding that keeps both in a struct of its own; after a reboot use
    /// [`AttemptLimiter::restore`]).
    pub const fn from_parts(failures: u32, next_allowed: Instant) -> Self {
        AttemptLimiter {
            failures,
            next_allowed,
        }
    }

    /// Consecutive attempts that have not succeeded (including one in progress): the value to
    /// keep across reboots.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next attempt is allowed.
    pub fn next_allowed(&self) -> Instant {
        self.next_allowed
    }

    /// The pairing handshake of the last attempt finished: the count starts again from zero.
    pub fn succeeded(&mut self) {
        *self = AttemptLimiter::new();
    }

    /// How long the next attempt waits after `failures` consecutive failures: nothing below
    /// [`AttemptLimiter::FREE_ATTEMPTS`], then 30 s, 60 s, 120 s ... up to an hour.
    pub fn wait_after(failures: u32) -> u64 {
        match failures.checked_sub(Self::FREE_ATTEMPTS) {
            None => 0,
            Some(beyond) => Self::FIRST_WAIT_MS
                .saturating_mul(1 << beyond.min(16))
                .min(Self::MAX_WAIT_MS),
        }
    }

    fn check(&self, now: Instant) -> Result<(), Error> {
        if now < self.next_allowed {
            return Err(Local::RateLimited {
                retry_in_ms: self.next_allowed.since(now),
            }
            .into());
        }
        Ok(())
    }

    fn count(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.next_allowed = Instant(now.0.saturating_add(Self::wait_after(self.failures)));
    }
}

fn unit_len(framing: Framing) -> usize {
    match framing {
        Framing::Datagram => CODE_MESSAGE_LEN,
        Framing::Stream => CODE_UNIT_MAX,
    }
}

/// Frames code message `index` whose `spake2` message (side byte and element) is `message`.
fn write_unit(framing: Framing, index: u8, message: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let element = message.get(1..).ok_or(Local::Noise)?;
    let len = unit_len(framing);
    let unit = out
        .get_mut(..len)
        .ok_or(Local::BufferTooSmall { needed: len })?;
    let body = match framing {
        Framing::Datagram => unit,
        Framing::Stream => {
            let (prefix, body) = unit.split_at_mut(2);
            // CODE_MESSAGE_LEN is 33: the cast cannot truncate.
            prefix.copy_from_slice(&(CODE_MESSAGE_LEN as u16).to_be_bytes());
            body
        }
    };
    let (first, rest) = body.split_first_mut().ok_or(Local::Noise)?;
    *first = code_pairing_byte(index);
    if rest.len() != element.len() {
        return Err(Local::Noise.into());
    }
    rest.copy_from_slice(element);
    Ok(len)
}

/// Checks code message `index` and returns its element: the framing, the first byte, the length,
/// and that the element is the canonical encoding of a point in the prime-order subgroup (so that
/// neither side ever multiplies its secret scalar by a point of small order).
fn read_unit(framing: Framing, index: u8, unit: &[u8]) -> Result<&[u8; ELEMENT_LEN], Error> {
    let body = super::unframe(framing, unit)?;
    let (first, element) = body.split_first().ok_or(Malformed::Truncated)?;
    if parse_code_pairing_byte(*first)? != index {
        return Err(PeerError::UnexpectedMessage.into());
    }
    let element: &[u8; ELEMENT_LEN] = element.try_into().map_err(|_| Malformed::Length)?;
    let point = CompressedEdwardsY(*element)
        .decompress()
        .ok_or(PeerError::Authentication)?;
    if point.compress().as_bytes() != element || !point.is_torsion_free() || point.is_small_order()
    {
        return Err(PeerError::Authentication.into());
    }
    Ok(element)
}

fn with_side(side: u8, element: &[u8; ELEMENT_LEN]) -> [u8; 1 + ELEMENT_LEN] {
    let mut message = [side; 1 + ELEMENT_LEN];
    if let Some(rest) = message.get_mut(1..) {
        rest.copy_from_slice(element);
    }
    message
}

/// Hands `spake2` the 64 bytes drawn (and checked) from the caller's entropy source beforehand,
/// from which it reduces its secret scalar: a failing source is reported as [`Local::Entropy`]
/// instead of reaching a crate that cannot report it, and test vectors fix the scalar.
struct Preset<'a> {
    bytes: &'a [u8; 64],
    taken: usize,
}

impl<'a> Preset<'a> {
    fn new(bytes: &'a [u8; 64]) -> Self {
        Preset { bytes, taken: 0 }
    }
}

impl RngCore for Preset<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    /// Gives out the preset bytes once, then zeros (never reached: `spake2` asks for exactly 64).
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest.iter_mut() {
            *d = self.bytes.get(self.taken).copied().unwrap_or(0);
            self.taken = self.taken.saturating_add(1);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Preset<'_> {}
