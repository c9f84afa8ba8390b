//! Fixtures for the fuzz targets: fixed parties, deterministic entropy, and established sessions.

use rand_core::{CryptoRng, RngCore};
use tether::pairing::PairingCode;
use tether::policy::{PeerInfo, Rejection};
use tether::*;

pub const NOW: UnixTime = UnixTime(1_790_000_000);

/// Deterministic entropy: fuzzing needs reproducible runs. Never use outside tests.
pub struct Counter(pub u8);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.next_byte())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_byte())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.next_byte();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}
impl Counter {
    fn next_byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(31).wrapping_add(7);
        self.0
    }
}

pub fn accept_all(_: &PeerInfo<'_>) -> Result<(), Rejection> {
    Ok(())
}

pub struct Parties {
    pub init_key: StaticKeypair,
    pub init_id: Identity,
    pub resp_key: StaticKeypair,
    pub resp_id: Identity,
    pub code: PairingCode,
}

pub fn parties() -> Parties {
    let resp_key = StaticKeypair::from_secret([2; 32]);
    let code = PairingCode::from_secret([5; 16], &resp_key.public());
    Parties {
        init_key: StaticKeypair::from_secret([1; 32]),
        init_id: Identity::new(b"SN-1", "fuzz", "1", b"k").unwrap(),
        resp_key,
        resp_id: Identity::new(b"cloud", "fuzz", "1", b"k").unwrap(),
        code,
    }
}

impl Parties {
    pub fn initiator_config(&self, suite: Suite, framing: Framing) -> HandshakeConfig<'_> {
        HandshakeConfig {
            suite,
            channel: ChannelKind::DeviceCloud,
            framing,
            context: b"",
            identity: &self.init_id,
            static_key: &self.init_key,
            session: SessionConfig::default(),
        }
    }

    pub fn responder_config(&self, framing: Framing) -> ResponderConfig<'_> {
        ResponderConfig {
            suites: Suite::ENABLED,
            patterns: &Pattern::ALL,
            channel: ChannelKind::DeviceCloud,
            framing,
            context: b"",
            identity: &self.resp_id,
            static_key: &self.resp_key,
            session: SessionConfig::default(),
            known_initiator: Some(self.init_key.public()),
            pairing: Some(&self.code),
            // One configuration answers every pattern, so that the fuzzer reaches them all.
            allow_without_code: true,
        }
    }

    /// A fresh initiator for `pattern` that has not written yet.
    pub fn initiator(&self, pattern: Pattern, suite: Suite, framing: Framing) -> Handshake {
        let cfg = self.initiator_config(suite, framing);
        let rng = &mut Counter(pattern.id());
        match pattern {
            Pattern::Provisioned => Initiator::provisioned(&cfg, &self.resp_key.public(), rng),
            Pattern::Enrollment => Initiator::enrollment(&cfg, rng),
            Pattern::Pairing => Initiator::pairing(&cfg, &self.code, rng),
            _ => Initiator::reconnect(&cfg, &self.resp_key.public(), rng),
        }
        .unwrap()
    }

    /// Two sessions keyed for each other without a handshake (cheap enough for every input).
    pub fn session_pair(suite: Suite, framing: Framing) -> (Session, Session) {
        let (k1, k2) = ([0x11; 32], [0x22; 32]);
        (
            Session::for_fuzzing(suite, framing, k1, k2).unwrap(),
            Session::for_fuzzing(suite, framing, k2, k1).unwrap(),
        )
    }
}
