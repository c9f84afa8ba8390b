//! Fixtures shared by the integration tests: parties with fixed keys, a deterministic entropy
//! source, and a driver that moves handshake messages between two sides.
#![allow(dead_code)]

use rand_core::{CryptoRng, RngCore};
use tether::handshake::Established;
use tether::policy::{PeerInfo, Rejection};
use tether::*;

pub const NOW: UnixTime = UnixTime(1_790_000_000);
pub const T0: Instant = Instant(0);

/// A party: its static key and identity.
pub struct Party {
    pub key: StaticKeypair,
    pub identity: Identity,
}

pub fn party(seed: u8, id: &str, model: &str) -> Party {
    Party {
        key: StaticKeypair::from_secret([seed; 32]),
        identity: Identity::new(id.as_bytes(), model, "1.0.0", &[seed]).unwrap(),
    }
}

pub fn device() -> Party {
    party(1, "SN-0001", "GlucoseMonitor G1")
}
pub fn cloud() -> Party {
    party(2, "ingest.example", "tether-gateway")
}
pub fn phone() -> Party {
    party(3, "phone-app-7", "CompanionApp")
}

/// Entropy that serves the given bytes, then a counter stream. Deterministic for vectors.
pub struct FixedEntropy {
    queue: Vec<u8>,
    next: u8,
}

impl FixedEntropy {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            queue: bytes.to_vec(),
            next: 0,
        }
    }
}

impl RngCore for FixedEntropy {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = if self.queue.is_empty() {
                self.next = self.next.wrapping_add(1);
                self.next
            } else {
                self.queue.remove(0)
            };
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedEntropy {}

pub fn accept_all(_: &PeerInfo<'_>) -> Result<(), Rejection> {
    Ok(())
}

pub fn config<'a>(
    party: &'a Party,
    suite: Suite,
    framing: Framing,
    channel: ChannelKind,
) -> HandshakeConfig<'a> {
    HandshakeConfig {
        suite,
        channel,
        framing,
        context: b"",
        identity: &party.identity,
        static_key: &party.key,
        session: SessionConfig::default(),
        dh_cache: None,
    }
}

pub fn responder_config<'a>(
    party: &'a Party,
    framing: Framing,
    channel: ChannelKind,
) -> ResponderConfig<'a> {
    ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &Pattern::ALL,
        channel,
        framing,
        context: b"",
        identity: &party.identity,
        static_key: &party.key,
        session: SessionConfig::default(),
        known_initiator: None,
        pairing: None,
        allow_without_code: false,
        dh_cache: None,
    }
}

/// Every handshake unit that crossed, in order, with who sent it.
pub type Transcript = Vec<(bool /* from initiator */, Vec<u8>)>;

/// Runs a handshake to completion: `init` has not written anything yet.
pub fn drive(
    mut init: Handshake,
    resp_config: &ResponderConfig<'_>,
    init_policy: &mut dyn TrustPolicy,
    resp_policy: &mut dyn TrustPolicy,
    resp_rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Established, Established, Transcript), Error> {
    let mut transcript = Transcript::new();
    let mut buf = vec![0u8; 2048];
    let n = write(&mut init, &mut buf)?;
    transcript.push((true, buf[..n].to_vec()));
    let mut resp = Responder::accept(resp_config, &buf[..n], resp_policy, NOW, resp_rng)?;
    loop {
        if resp.is_my_turn() {
            let n = write(&mut resp, &mut buf)?;
            transcript.push((false, buf[..n].to_vec()));
            init.read_message(&buf[..n], init_policy, NOW)?;
        } else if init.is_my_turn() {
            let n = write(&mut init, &mut buf)?;
            transcript.push((true, buf[..n].to_vec()));
            resp.read_message(&buf[..n], resp_policy, NOW)?;
        } else {
            break;
        }
    }
    assert!(init.is_finished() && resp.is_finished());
    Ok((init.finish(T0)?, resp.finish(T0)?, transcript))
}

/// Writes the next message, checking that `next_message_len` predicted its size exactly.
pub fn write(hs: &mut Handshake, buf: &mut [u8]) -> Result<usize, Error> {
    let expected = hs.next_message_len();
    let n = hs.write_message(buf)?;
    assert_eq!(
        n, expected,
        "next_message_len disagrees with the written size"
    );
    Ok(n)
}

/// Starts an initiator for `pattern` with the fixed parties: device -> cloud for Provisioned,
/// Enrollment and Reconnect; phone -> device for Pairing.
pub fn initiator_for(
    pattern: Pattern,
    cfg: &HandshakeConfig<'_>,
    responder_key: &PublicKey,
    code: Option<&tether::pairing::PairingCode>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Handshake, Error> {
    match pattern {
        Pattern::Provisioned => Initiator::provisioned(cfg, responder_key, rng),
        Pattern::Enrollment => Initiator::enrollment(cfg, rng),
        Pattern::Pairing => Initiator::pairing(cfg, code.unwrap(), rng),
        Pattern::Reconnect => Initiator::reconnect(cfg, responder_key, rng),
    }
}

/// Compares `vectors` (as pretty JSON) with the checked-in `spec/vectors/<file>`, or writes it
/// there when `TETHER_BLESS` is set (after a deliberate change: then update `spec` in the same
/// commit). `test` names the test binary, for the message.
pub fn match_or_bless(file: &str, vectors: &serde_json::Value, test: &str, spec: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec/vectors")
        .join(file);
    let text = serde_json::to_string_pretty(vectors).unwrap() + "\n";
    if std::env::var_os("TETHER_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    } else {
        assert!(
            std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()),
            "spec/vectors/{file} differs from the implementation (or is missing); if the change is \
             deliberate, run TETHER_BLESS=1 cargo test --test {test} and update {spec}"
        );
    }
}
